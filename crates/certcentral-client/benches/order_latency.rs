//! Per-order latency of `Client::order_client_certificate` against the in-process sandbox
//! (rate limit off), versus raw reqwest posting the same bytes, interleaved in the same run.
//!
//! `cargo bench -p certcentral-client --bench order_latency [-- ITERATIONS]`
//!
//! Two bodies: with a CSR (the client verifies the CSR's signature while validating; the
//! sandbox does too, for both sides) and without one. The ratio is of medians.

use std::time::{Duration, Instant};

use certcentral_client::{Client, RateLimits};
use certcentral_sandbox::{RateLimit, Sandbox};
use certcentral_types::{OrderRequest, ProductId};
use rcgen::{CertificateParams, KeyPair};
use secrecy::SecretString;

const PRODUCT: ProductId = ProductId::ClientPremiumSha2;

fn request(with_csr: bool) -> OrderRequest {
    let mut body = serde_json::json!({
        "certificate": {
            "common_name": "Lock Cole",
            "emails": ["locke.cole@example.com"],
            "signature_hash": "sha256",
            "organization_units": ["Accounting"],
        },
        "organization": {"id": 112233},
        "container": {"id": 445566},
        "validity_years": 1,
        "payment_method": "balance"
    });
    if with_csr {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let csr = CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .serialize_request(&key)
            .unwrap()
            .pem()
            .unwrap();
        body["certificate"]["csr"] = csr.into();
    }
    serde_json::from_value(body).unwrap()
}

fn stats(samples: &mut [Duration]) -> (f64, f64, f64) {
    samples.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let median = us(samples[samples.len() / 2]);
    let p90 = us(samples[samples.len() * 9 / 10]);
    let mean = samples.iter().map(|d| us(*d)).sum::<f64>() / samples.len() as f64;
    (median, p90, mean)
}

fn main() {
    let iterations: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let sandbox = Sandbox::builder()
            .api_key("bench-key")
            .rate_limit(RateLimit::Off)
            .start("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let client = Client::builder()
            .api_key(SecretString::from("bench-key"))
            .base_url(sandbox.base_url())
            .rate_limits(RateLimits::off())
            .build()
            .unwrap();
        let raw = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        // The same reqwest settings the client uses (timeouts, user agent, no proxy), to split
        // the overhead between reqwest configuration and the client's own work.
        let configured = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(certcentral_client::USER_AGENT)
            .connect_timeout(certcentral_client::DEFAULT_CONNECT_TIMEOUT)
            .timeout(certcentral_client::DEFAULT_TIMEOUT)
            .no_proxy()
            .build()
            .unwrap();
        let url = format!("{}/order/certificate/{PRODUCT}", sandbox.base_url());

        println!("iterations per series: {iterations} (interleaved, after 50 warm-up rounds)");
        println!(
            "| body | client median µs | raw median µs | client / raw | raw (client's reqwest settings) median µs | client / that | client p90 | raw p90 |"
        );
        println!("|---|---|---|---|---|---|---|---|");
        for with_csr in [true, false] {
            let request = request(with_csr);
            let bytes = serde_json::to_vec(&request).unwrap();
            let mut samples: [Vec<Duration>; 3] = Default::default();
            for i in 0..iterations + 50 {
                // Rotate which side goes first to cancel drift.
                for k in 0..3 {
                    let side = (i + k) % 3;
                    let start = Instant::now();
                    if side == 0 {
                        let order = client
                            .order_client_certificate(PRODUCT, &request)
                            .await
                            .unwrap();
                        std::hint::black_box(order.id());
                    } else {
                        let http = if side == 1 { &raw } else { &configured };
                        let mut post = http
                            .post(&url)
                            .header("X-DC-DEVKEY", "bench-key")
                            .header("Content-Type", "application/json");
                        if side == 2 {
                            post = post.header("Accept", "application/json");
                        }
                        let response = post.body(bytes.clone()).send().await.unwrap();
                        assert_eq!(response.status().as_u16(), 201);
                        std::hint::black_box(response.bytes().await.unwrap());
                    }
                    let elapsed = start.elapsed();
                    if i >= 50 {
                        samples[side].push(elapsed);
                    }
                }
            }
            let [mut c, mut r, mut rc] = samples;
            let (cm, cp, _) = stats(&mut c);
            let (rm, rp, _) = stats(&mut r);
            let (rcm, _, _) = stats(&mut rc);
            println!(
                "| {} | {cm:.0} | {rm:.0} | {:.3} | {rcm:.0} | {:.3} | {cp:.0} | {rp:.0} |",
                if with_csr { "with CSR (P-256)" } else { "without CSR" },
                cm / rm,
                cm / rcm
            );
        }

        // Where the client's extra time goes: local validation alone.
        for with_csr in [true, false] {
            let request = request(with_csr);
            let ctx = certcentral_validate::Context::new(PRODUCT);
            let n = 2000;
            let start = Instant::now();
            for _ in 0..n {
                std::hint::black_box(certcentral_validate::validate(&request, &ctx));
            }
            println!(
                "validate() alone, {}: {:.1} µs per order",
                if with_csr { "with CSR" } else { "without CSR" },
                start.elapsed().as_secs_f64() * 1e6 / n as f64
            );
        }
        sandbox.shutdown().await;
    });
}
