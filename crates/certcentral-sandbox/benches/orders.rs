//! Orders per second the sandbox sustains on loopback (rate limit off), with 1 and 16
//! concurrent clients, against a baseline measured in the same run: an authenticated GET of
//! a trivial route (`GET /product/{id}`).
//!
//! `cargo bench -p certcentral-sandbox --bench orders` prints a Markdown table. Without
//! `--bench` (as under `cargo test --all-targets`) it runs a tiny smoke pass instead.
//!
//! Scenarios:
//! - `get_product`: baseline, no state change.
//! - `order_no_csr`: order POST without CSR (validation + state; nothing to sign).
//! - `order_csr`: the seed's body with a P-256 CSR and `skip_approval` (validation, CSR
//!   verification and a real certificate signed by the test CA on every order).

use std::sync::Arc;
use std::time::{Duration, Instant};

use certcentral_testkit::API_KEY;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Scenario {
    GetProduct,
    OrderNoCsr,
    OrderCsr,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Self::GetProduct => "get_product (baseline)",
            Self::OrderNoCsr => "order_no_csr",
            Self::OrderCsr => "order_csr (issues a certificate)",
        }
    }
}

/// Runs `total` requests of `scenario` with `clients` concurrent clients; requests/second.
async fn run(base: &str, scenario: Scenario, clients: usize, total: usize, csr: &str) -> f64 {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .expect("client");
    let payload = Arc::new(
        serde_json::to_vec(&match scenario {
            Scenario::OrderCsr => certcentral_testkit::seed_body(csr),
            _ => certcentral_testkit::seed_body_without_csr(),
        })
        .expect("json"),
    );
    let per_client = total / clients;
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let client = client.clone();
            let payload = payload.clone();
            let base = base.to_string();
            tokio::spawn(async move {
                for _ in 0..per_client {
                    let request = match scenario {
                        Scenario::GetProduct => {
                            client.get(format!("{base}/product/client_premium_sha2"))
                        }
                        _ => client
                            .post(format!("{base}/order/certificate/client_premium_sha2"))
                            .header("content-type", "application/json")
                            .body(payload.as_ref().clone()),
                    };
                    let response = request
                        .header("X-DC-DEVKEY", API_KEY)
                        .send()
                        .await
                        .expect("send");
                    let status = response.status().as_u16();
                    let _ = response.bytes().await.expect("body");
                    assert!(status == 200 || status == 201, "status {status}");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    (per_client * clients) as f64 / started.elapsed().as_secs_f64()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let runtime = certcentral_testkit::runtime(2);
    runtime.block_on(async {
        let sandbox = certcentral_testkit::start(certcentral_testkit::sandbox()).await;
        let (_key, csr) = certcentral_testkit::csr();
        let (total, repeats) = if full { (2000, 3) } else { (32, 1) };
        // Warm-up: connections, allocator, caches.
        run(
            sandbox.base_url(),
            Scenario::GetProduct,
            16,
            total / 4,
            &csr,
        )
        .await;

        let mut rows = Vec::new();
        for clients in [1usize, 16] {
            let mut baseline = 0.0;
            for scenario in [
                Scenario::GetProduct,
                Scenario::OrderNoCsr,
                Scenario::OrderCsr,
            ] {
                let mut samples = Vec::new();
                for _ in 0..repeats {
                    samples.push(run(sandbox.base_url(), scenario, clients, total, &csr).await);
                }
                let rate = median(samples);
                if scenario == Scenario::GetProduct {
                    baseline = rate;
                }
                rows.push((clients, scenario, rate, rate / baseline));
            }
        }
        println!("| clients | scenario | requests/s | ratio to baseline |");
        println!("|---:|---|---:|---:|");
        for (clients, scenario, rate, ratio) in rows {
            println!(
                "| {clients} | {} | {rate:.0} | {ratio:.2} |",
                scenario.name()
            );
        }
        println!(
            "\n{} orders created; {} requests per measurement, median of {repeats}",
            sandbox.order_count(),
            total
        );
        let shutdown = sandbox.shutdown();
        let _ = tokio::time::timeout(Duration::from_secs(10), shutdown).await;
    });
}
