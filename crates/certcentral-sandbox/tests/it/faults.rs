//! Rate limits and injected faults over real HTTP.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{Api, builder, codes, csr, seed_body, start};
use certcentral_sandbox::{FaultKind, RateLimit};
use serde_json::Value;

const LIMIT_BODY: &str = r#"{"errors":[{"code":"request_limit_exceeded","message":"Service unavailable, please limit request volume"}]}"#;

async fn get_status(api: &Api, path: &str) -> (u16, String) {
    let response = api.get(path).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn the_101st_request_in_a_window_gets_429() {
    // Windows divided by 0.5: 100 per 10 s, so the test does not race the clock.
    let sandbox = start(builder().rate_limit(RateLimit::Scaled(0.5))).await;
    let api = Api::new(&sandbox);
    for _ in 0..100 {
        assert_eq!(
            get_status(&api, "/product/client_premium_sha2").await.0,
            200
        );
    }
    let (status, body) = get_status(&api, "/product/client_premium_sha2").await;
    assert_eq!(status, 429);
    assert_eq!(body, LIMIT_BODY);
    assert_eq!(
        (sandbox.stats().count(200), sandbox.stats().count(429)),
        (100, 1)
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_scaled_window_rolls_over() {
    // 100 per second (scale 5): hammer until limited, then wait for the window to roll. The
    // window is long enough that an unoptimized build on a busy machine still fills it.
    let sandbox = start(builder().rate_limit(RateLimit::Scaled(5.0))).await;
    let api = Arc::new(Api::new(&sandbox));
    let mut limited = false;
    'outer: for _ in 0..100 {
        let batch: Vec<_> = (0..32)
            .map(|_| {
                let api = api.clone();
                tokio::spawn(
                    async move { get_status(&api, "/product/client_premium_sha2").await.0 },
                )
            })
            .collect();
        for task in batch {
            if task.await.unwrap() == 429 {
                limited = true;
                break 'outer;
            }
        }
    }
    assert!(limited, "never rate limited");
    let mut recovered = false;
    for _ in 0..400 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if get_status(&api, "/product/client_premium_sha2").await.0 == 200 {
            recovered = true;
            break;
        }
    }
    assert!(recovered, "the window never rolled over");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn error_5xx_fault_answers_500_json_before_processing() {
    let sandbox = start(builder().fault(FaultKind::Error5xx, 1.0)).await;
    let api = Api::new(&sandbox);
    let (_key, csr) = csr();
    let (status, body) = api.order("client_premium_sha2", &seed_body(&csr)).await;
    assert_eq!(status, 500);
    assert_eq!(codes(&body), ["internal_error"]);
    assert_eq!(sandbox.order_count(), 0);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn rate_limit_fault_answers_429_before_processing() {
    let sandbox = start(builder().fault(FaultKind::RateLimit, 1.0)).await;
    let api = Api::new(&sandbox);
    let (_key, csr) = csr();
    let response = api
        .post("/order/certificate/client_premium_sha2", &seed_body(&csr))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.text().await.unwrap(), LIMIT_BODY);
    assert_eq!(sandbox.order_count(), 0);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn html_error_fault_answers_503_with_a_non_json_page() {
    let sandbox = start(builder().fault(FaultKind::HtmlError, 1.0)).await;
    let api = Api::new(&sandbox);
    let response = api
        .get("/product/client_premium_sha2")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let text = response.text().await.unwrap();
    assert!(text.contains("<html>"));
    assert!(serde_json::from_str::<Value>(&text).is_err());
    sandbox.shutdown().await;
}

#[tokio::test]
async fn latency_fault_delays_then_processes() {
    let sandbox = start(builder().fault(FaultKind::Latency(Duration::from_millis(60)), 1.0)).await;
    let api = Api::new(&sandbox);
    let started = Instant::now();
    let (status, _) = get_status(&api, "/product/client_premium_sha2").await;
    assert_eq!(status, 200);
    // A lower bound only: the sleep cannot be shorter.
    assert!(started.elapsed() >= Duration::from_millis(60));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn drop_after_commit_creates_the_order_and_closes_without_response() {
    let sandbox = start(builder().fault(FaultKind::DropAfterCommit, 1.0)).await;
    let api = Api::new(&sandbox);
    let (_key, csr) = csr();
    let result = api
        .post("/order/certificate/client_premium_sha2", &seed_body(&csr))
        .send()
        .await;
    let err = result.expect_err("a dropped connection must not look like a response");
    assert!(err.status().is_none(), "{err:?}");
    assert!(
        err.is_request() || err.is_connect() || err.is_body(),
        "{err:?}"
    );
    // The order exists: a retry would buy a second certificate.
    assert_eq!(sandbox.order_count(), 1);
    let stats = sandbox.stats();
    assert_eq!((stats.dropped, stats.count(201)), (1, 0));
    // Other requests are unaffected (the fault applies to order POSTs only).
    let (status, _) = get_status(&api, "/order/certificate").await;
    assert_eq!(status, 200);
    sandbox.shutdown().await;
}

/// The statuses of `n` sequential GETs.
async fn statuses(seed: u64, n: usize) -> Vec<u16> {
    let sandbox = start(builder().fault(FaultKind::Error5xx, 0.3).seed(seed)).await;
    let api = Api::new(&sandbox);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(get_status(&api, "/product/client_premium_sha2").await.0);
    }
    sandbox.shutdown().await;
    out
}

#[tokio::test]
async fn faults_follow_the_seed() {
    let a = statuses(42, 40).await;
    let b = statuses(42, 40).await;
    let c = statuses(43, 40).await;
    assert_eq!(a, b);
    assert_ne!(a, c);
    let failures = a.iter().filter(|s| **s == 500).count();
    assert!((3..=25).contains(&failures), "{failures} of 40");
    assert!(a.iter().all(|s| *s == 200 || *s == 500));
}
