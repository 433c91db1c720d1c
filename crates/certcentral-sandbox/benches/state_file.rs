//! What a state file costs per request, against the in-memory sandbox measured in the same
//! run: an order POST (issues a certificate) and an order GET, with N orders already in the
//! store, and the time to start again on a file holding them.
//!
//! `cargo bench -p certcentral-sandbox --bench state_file` prints a Markdown table (N = 100
//! and 1,000; 10 rounds of 10 requests, alternating between the two sandboxes; one client,
//! rate limit off). Without `--bench`
//! (as under `cargo test --all-targets`) it runs a tiny smoke pass instead.

use std::path::Path;
use std::time::{Duration, Instant};

use certcentral_sandbox::RunningSandbox;
use certcentral_testkit::API_KEY;
use serde_json::Value;

async fn start(state: Option<&Path>) -> RunningSandbox {
    let mut builder = certcentral_testkit::sandbox();
    if let Some(path) = state {
        builder = builder.state_file(path);
    }
    certcentral_testkit::start(builder).await
}

/// Places `count` orders one after the other; the id of the last one and the mean time per
/// request.
async fn place(
    client: &reqwest::Client,
    sandbox: &RunningSandbox,
    payload: &[u8],
    count: usize,
) -> (i64, Duration) {
    let url = format!(
        "{}/order/certificate/client_premium_sha2",
        sandbox.base_url()
    );
    let started = Instant::now();
    let mut last = 0;
    for _ in 0..count {
        let response = client
            .post(&url)
            .header("X-DC-DEVKEY", API_KEY)
            .header("content-type", "application/json")
            .body(payload.to_vec())
            .send()
            .await
            .expect("send");
        assert_eq!(response.status().as_u16(), 201);
        let created: Value = response.json().await.expect("json");
        last = created["id"].as_i64().expect("id");
    }
    (last, started.elapsed() / count as u32)
}

/// Reads order `id` `count` times; the mean time per request.
async fn read(
    client: &reqwest::Client,
    sandbox: &RunningSandbox,
    id: i64,
    count: usize,
) -> Duration {
    let url = format!("{}/order/certificate/{id}", sandbox.base_url());
    let started = Instant::now();
    for _ in 0..count {
        let response = client
            .get(&url)
            .header("X-DC-DEVKEY", API_KEY)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status().as_u16(), 200);
        let _ = response.bytes().await.expect("body");
    }
    started.elapsed() / count as u32
}

/// Per-request times of the in-memory sandbox and of the one with a state file, both holding
/// `existing` orders: `rounds` rounds of `per` requests each, alternating between the two
/// (so that a change in the machine's load hits both alike), summed.
struct Pair {
    memory: Duration,
    file: Duration,
}

struct Sample {
    post: Pair,
    get: Pair,
    /// Starting again on the file.
    restart: Duration,
}

async fn measure(
    path: &Path,
    existing: usize,
    rounds: usize,
    per: usize,
    payload: &[u8],
) -> Sample {
    let client = reqwest::Client::new();
    let memory = start(None).await;
    let file = start(Some(path)).await;
    let (last_memory, _) = place(&client, &memory, payload, existing).await;
    let (last_file, _) = place(&client, &file, payload, existing).await;
    let mut post = Pair {
        memory: Duration::ZERO,
        file: Duration::ZERO,
    };
    let mut get = Pair {
        memory: Duration::ZERO,
        file: Duration::ZERO,
    };
    for _ in 0..rounds {
        post.memory += place(&client, &memory, payload, per).await.1 / rounds as u32;
        post.file += place(&client, &file, payload, per).await.1 / rounds as u32;
        get.memory += read(&client, &memory, last_memory, per).await / rounds as u32;
        get.file += read(&client, &file, last_file, per).await / rounds as u32;
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), memory.shutdown()).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), file.shutdown()).await;
    let started = Instant::now();
    let again = start(Some(path)).await;
    let restart = started.elapsed();
    assert_eq!(again.order_count(), existing + rounds * per);
    let _ = tokio::time::timeout(Duration::from_secs(10), again.shutdown()).await;
    Sample { post, get, restart }
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let runtime = certcentral_testkit::runtime(2);
    let (_key, csr) = certcentral_testkit::csr();
    let payload = serde_json::to_vec(&certcentral_testkit::seed_body(&csr)).expect("json");
    let (sizes, rounds, per): (&[usize], usize, usize) = if full {
        (&[100, 1000], 10, 10)
    } else {
        (&[5], 1, 3)
    };
    let dir = tempfile::tempdir().expect("tempdir");
    runtime.block_on(async {
        // Warm-up: connections, allocator, caches.
        measure(&dir.path().join("warm-up.sqlite3"), per, 1, per, &payload).await;
        println!("| N existing orders | request | in memory (ms) | state file (ms) | ratio |");
        println!("|---:|---|---:|---:|---:|");
        let mut restarts = Vec::new();
        for &n in sizes {
            let path = dir.path().join(format!("state-{n}.sqlite3"));
            let sample = measure(&path, n, rounds, per, &payload).await;
            for (name, pair) in [
                ("order POST (issues)", &sample.post),
                ("order GET", &sample.get),
            ] {
                println!(
                    "| {n} | {name} | {} | {} | {:.2} |",
                    ms(pair.memory),
                    ms(pair.file),
                    pair.file.as_secs_f64() / pair.memory.as_secs_f64()
                );
            }
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            restarts.push((n + rounds * per, sample.restart, size));
        }
        println!("\n| orders in the file | start on it (ms) | file size (KiB) |");
        println!("|---:|---:|---:|");
        for (n, restart, size) in restarts {
            println!("| {n} | {} | {} |", ms(restart), size / 1024);
        }
        println!(
            "\n{rounds} rounds of {per} requests per measurement, alternating in memory / state \
             file; one client, rate limit off"
        );
    });
}
