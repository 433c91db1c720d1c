//! What a state file costs per request, against the in-memory sandbox measured in the same
//! run: an order POST (issues a certificate) and an order GET, with N orders already in the
//! store, and the time to start again on a file holding them.
//!
//! `cargo bench -p certcentral-sandbox --bench state_file` prints a Markdown table (N = 100
//! and 1,000; 50 requests per measurement, one client, rate limit off). Without `--bench`
//! (as under `cargo test --all-targets`) it runs a tiny smoke pass instead.

use std::path::Path;
use std::time::{Duration, Instant};

use certcentral_sandbox::{RateLimit, RunningSandbox, Sandbox};
use rcgen::{CertificateParams, KeyPair};
use serde_json::{Value, json};

const KEY: &str = "bench-key";

fn body(csr: &str) -> Value {
    json!({
        "certificate": {
            "common_name": "Lock Cole",
            "emails": ["locke.cole@example.com"],
            "signature_hash": "sha256",
            "organization_units": ["Accounting"],
            "csr": csr
        },
        "skip_approval": true,
        "organization": {"id": 112233},
        "container": {"id": 445566},
        "validity_years": 1,
        "payment_method": "balance"
    })
}

async fn start(state: Option<&Path>) -> RunningSandbox {
    let mut builder = Sandbox::builder().api_key(KEY).rate_limit(RateLimit::Off);
    if let Some(path) = state {
        builder = builder.state_file(path);
    }
    builder
        .start("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("sandbox")
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
            .header("X-DC-DEVKEY", KEY)
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
            .header("X-DC-DEVKEY", KEY)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status().as_u16(), 200);
        let _ = response.bytes().await.expect("body");
    }
    started.elapsed() / count as u32
}

/// One measurement: per-request times of POST and GET with `existing` orders stored, and
/// (with a state file) the time to start again on it.
struct Sample {
    post: Duration,
    get: Duration,
    restart: Option<Duration>,
}

async fn measure(state: Option<&Path>, existing: usize, per: usize, payload: &[u8]) -> Sample {
    let client = reqwest::Client::new();
    let sandbox = start(state).await;
    let (last, _) = place(&client, &sandbox, payload, existing).await;
    let (_, post) = place(&client, &sandbox, payload, per).await;
    let get = read(&client, &sandbox, last, per).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), sandbox.shutdown()).await;
    let restart = match state {
        None => None,
        Some(path) => {
            let started = Instant::now();
            let again = start(Some(path)).await;
            let took = started.elapsed();
            assert_eq!(again.order_count(), existing + per);
            let _ = tokio::time::timeout(Duration::from_secs(10), again.shutdown()).await;
            Some(took)
        }
    };
    Sample { post, get, restart }
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let csr = CertificateParams::new(Vec::<String>::new())
        .expect("params")
        .serialize_request(&key)
        .expect("csr")
        .pem()
        .expect("pem");
    let payload = serde_json::to_vec(&body(&csr)).expect("json");
    let (sizes, per): (&[usize], usize) = if full { (&[100, 1000], 50) } else { (&[5], 3) };
    let dir = tempfile::tempdir().expect("tempdir");
    runtime.block_on(async {
        // Warm-up: connections, allocator, caches.
        measure(None, per, per, &payload).await;
        println!("| N existing orders | request | in memory (ms) | state file (ms) | ratio |");
        println!("|---:|---|---:|---:|---:|");
        let mut restarts = Vec::new();
        for &n in sizes {
            let memory = measure(None, n, per, &payload).await;
            let path = dir.path().join(format!("state-{n}.sqlite3"));
            let file = measure(Some(&path), n, per, &payload).await;
            for (name, m, f) in [
                ("order POST (issues)", memory.post, file.post),
                ("order GET", memory.get, file.get),
            ] {
                println!(
                    "| {n} | {name} | {} | {} | {:.2} |",
                    ms(m),
                    ms(f),
                    f.as_secs_f64() / m.as_secs_f64()
                );
            }
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            restarts.push((n + per, file.restart, size));
        }
        println!("\n| orders in the file | start on it (ms) | file size (KiB) |");
        println!("|---:|---:|---:|");
        for (n, restart, size) in restarts {
            println!(
                "| {n} | {} | {} |",
                restart.map(ms).unwrap_or_default(),
                size / 1024
            );
        }
        println!("\n{per} requests per measurement, one client, rate limit off");
    });
}
