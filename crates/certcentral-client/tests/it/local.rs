//! Transport behaviours against a tiny scripted local server (redirects, timeouts, retry rules,
//! headers) that the sandbox does not produce on purpose.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use certcentral_client::{Client, Error, RateLimits, RetryPolicy, TransportKind, USER_AGENT};
use certcentral_types::{DownloadFormat, ProductId};
use secrecy::SecretString;

/// What the server answers to the n-th request (0-based).
#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    delay: Duration,
}

fn reply(status: u16, body: &str) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: body.to_string(),
        delay: Duration::ZERO,
    }
}

/// A 429 with `Retry-After: retry_after`.
fn rate_limited(retry_after: &str) -> Reply {
    Reply {
        headers: vec![("retry-after", retry_after.into())],
        ..reply(
            429,
            r#"{"errors":[{"code":"request_limit_exceeded","message":"x"}]}"#,
        )
    }
}

type Script = Arc<dyn Fn(usize) -> Reply + Send + Sync>;

#[derive(Clone)]
struct Server {
    script: Script,
    seen: Arc<Mutex<Vec<(String, String, HeaderMap)>>>,
}

async fn handle(State(server): State<Server>, request: Request) -> Response {
    let n = {
        let mut seen = server.seen.lock().unwrap();
        seen.push((
            request.method().to_string(),
            request.uri().to_string(),
            request.headers().clone(),
        ));
        seen.len() - 1
    };
    let r = (server.script)(n);
    if !r.delay.is_zero() {
        tokio::time::sleep(r.delay).await;
    }
    let mut builder = Response::builder().status(StatusCode::from_u16(r.status).unwrap());
    for (name, value) in r.headers {
        builder = builder.header(name, value);
    }
    builder.body(Body::from(r.body)).unwrap()
}

/// Starts the scripted server; returns its base URL and the log of requests.
async fn serve(
    script: impl Fn(usize) -> Reply + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<(String, String, HeaderMap)>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let server = Server {
        script: Arc::new(script),
        seen: Arc::default(),
    };
    let seen = server.seen.clone();
    let app = Router::new().fallback(handle).with_state(server);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/services/v2"), seen)
}

fn client(base: &str) -> Client {
    Client::builder()
        .api_key(SecretString::from(KEY))
        .base_url(base)
        .rate_limits(RateLimits::off())
        .retry_policy(fast_retry())
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap()
}

/// A client for `base` retrying by `retry` (the default timeouts: tests on a paused clock).
fn client_retrying(base: &str, retry: RetryPolicy) -> Client {
    Client::builder()
        .api_key(SecretString::from(KEY))
        .base_url(base)
        .rate_limits(RateLimits::off())
        .retry_policy(retry)
        .build()
        .unwrap()
}

const ORDER_OK: &str =
    r#"{"id": 11, "requests": [{"id": 12, "status": "on_hold"}], "surprise": true}"#;

#[tokio::test]
async fn redirects_are_not_followed() {
    let (target, target_seen) = serve(|_| reply(200, "{}")).await;
    let location = format!("{target}/order/certificate/1");
    let (base, seen) = serve(move |_| Reply {
        headers: vec![("location", location.clone())],
        ..reply(302, "")
    })
    .await;
    let err = client(&base).order_info(1).await.unwrap_err();
    assert!(matches!(err, Error::Decode { status: 302, .. }), "{err:?}");
    assert_eq!(seen.lock().unwrap().len(), 1, "a 3xx is not retried");
    assert!(
        target_seen.lock().unwrap().is_empty(),
        "the redirect was followed"
    );
}

#[tokio::test]
async fn headers_user_agent_and_key() {
    let (base, seen) =
        serve(|_| reply(200, r#"{"name_id": "client_premium_sha2", "new": 1}"#)).await;
    let info = client(&base)
        .product_info(ProductId::ClientPremiumSha2)
        .await
        .unwrap();
    assert_eq!(info.name_id, "client_premium_sha2");
    let seen = seen.lock().unwrap();
    let (method, uri, headers) = &seen[0];
    assert_eq!(method, "GET");
    assert_eq!(uri, "/services/v2/product/client_premium_sha2");
    assert_eq!(headers["user-agent"], USER_AGENT);
    assert!(USER_AGENT.starts_with("certcentral/"));
    assert_eq!(headers["x-dc-devkey"], KEY);
    assert_eq!(headers["accept"], "application/json");
}

#[tokio::test]
async fn order_post_is_retried_on_429_then_lenient_response_kept() {
    let (base, seen) = serve(|n| match n {
        0 | 1 => Reply {
            headers: vec![("retry-after", "0".into())],
            ..reply(
                429,
                r#"{"errors":[{"code":"request_limit_exceeded","message":"slow down"}]}"#,
            )
        },
        _ => reply(201, ORDER_OK),
    })
    .await;
    let order = client(&base)
        .order_client_certificate(
            ProductId::ClientPremiumSha2,
            &order_request("A", "a@example.com", false),
        )
        .await
        .unwrap();
    assert_eq!(order.id(), 11);
    assert_eq!(
        order.requests()[0].status,
        Some(certcentral_types::RequestStatus::Other("on_hold".into()))
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    assert!(
        seen.iter()
            .all(|(m, u, _)| m == "POST"
                && u == "/services/v2/order/certificate/client_premium_sha2")
    );
}

#[tokio::test]
async fn certificate_chain_is_exposed_when_the_server_sends_it() {
    let (base, seen) = serve(|_| {
        reply(
            201,
            r#"{"id": 5, "certificate_id": 6, "requests": [{"id": 7, "status": "approved"}],
                "certificate_chain": [
                    {"subject_common_name": "Lock Cole", "pem": "-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----"},
                    {"subject_common_name": "Test CA", "pem": "-----BEGIN CERTIFICATE-----\nB\n-----END CERTIFICATE-----", "extra": 1}
                ]}"#,
        )
    })
    .await;
    let mut order = client(&base)
        .order_client_certificate(
            ProductId::ClientPremiumSha2,
            &order_request("Lock Cole", "locke.cole@example.com", true),
        )
        .await
        .unwrap();
    assert_eq!(order.certificate_id(), Some(6));
    // Issued at once: waiting and downloading (PEM) spend no request.
    let outcome = order
        .wait_until_issued(&certcentral_client::PollPolicy::default())
        .await
        .unwrap();
    assert!(outcome.is_issued(), "{outcome:?}");
    let pem = order.download(DownloadFormat::PemAll).await.unwrap();
    assert_eq!(
        String::from_utf8(pem).unwrap(),
        "-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nB\n-----END CERTIFICATE-----\n"
    );
    let leaf = order
        .download(DownloadFormat::PemNointermediate)
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8(leaf).unwrap(),
        "-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n"
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "only the order POST was sent"
    );
    let names: Vec<_> = order
        .certificate_chain()
        .iter()
        .map(|c| c.subject_common_name.as_deref().unwrap())
        .collect();
    assert_eq!(names, vec!["Lock Cole", "Test CA"]);
    assert!(
        order.certificate_chain()[1]
            .pem
            .as_deref()
            .unwrap()
            .contains("\nB\n")
    );
}

#[tokio::test]
async fn long_retry_after_is_returned_not_slept() {
    let (base, seen) = serve(|_| rate_limited("3600")).await;
    let err = client(&base).order_info(1).await.unwrap_err();
    assert!(
        matches!(err, Error::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(3600)),
        "{err:?}"
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
}

/// The retry deadline bounds a call in wall-clock time across its attempts and `Retry-After`
/// waits: the wait that would cross it is not slept, the 429 is returned. Paused clock: the
/// waits take no real time and the instants are exact.
#[tokio::test(start_paused = true)]
async fn retry_deadline_bounds_a_post_answered_429() {
    let (base, seen) = serve(|_| rate_limited("10")).await;
    let client = client_retrying(
        &base,
        RetryPolicy {
            // Attempts and Retry-After alone would allow 100 x 10 s.
            max_attempts: 100,
            max_retry_after: Duration::from_secs(60),
            deadline: Duration::from_secs(35),
            ..fast_retry()
        },
    );
    let start = tokio::time::Instant::now();
    let err = client
        .order_client_certificate(
            ProductId::ClientPremiumSha2,
            &order_request("A", "a@example.com", false),
        )
        .await
        .unwrap_err();
    let elapsed = start.elapsed();
    assert!(
        matches!(err, Error::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(10)),
        "{err:?}"
    );
    // Attempts at 0, 10, 20 and 30 s; the next would start at 40 s, after the deadline.
    assert_eq!(seen.lock().unwrap().len(), 4);
    assert!(
        elapsed >= Duration::from_secs(30) && elapsed <= Duration::from_secs(35),
        "{elapsed:?}"
    );
}

/// A per-call policy ([`Client::with_retry_policy`]) rules the calls made through it, with
/// the client's connection and limiter; the client it came from keeps its own. Paused clock,
/// as above.
#[tokio::test(start_paused = true)]
async fn a_per_call_policy_rules_the_calls_made_with_it() {
    let (base, seen) = serve(|_| rate_limited("10")).await;
    // Its own policy waits at most 2 s for a Retry-After: the 429 ends the call at once.
    let client = client_retrying(&base, fast_retry());
    let order = || order_request("A", "a@example.com", false);
    let err = client
        .order_client_certificate(ProductId::ClientPremiumSha2, &order())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RateLimited { .. }), "{err:?}");
    assert_eq!(seen.lock().unwrap().len(), 1);
    let patient = client.with_retry_policy(RetryPolicy {
        max_attempts: 100,
        max_retry_after: Duration::from_secs(60),
        deadline: Duration::from_secs(15),
        ..fast_retry()
    });
    assert_eq!(client.retry_policy(), &fast_retry());
    let start = tokio::time::Instant::now();
    let err = patient
        .order_client_certificate(ProductId::ClientPremiumSha2, &order())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RateLimited { .. }), "{err:?}");
    // Attempts at 0 and 10 s; the next would start at 20 s, after the 15 s deadline.
    assert_eq!(seen.lock().unwrap().len(), 3);
    assert_eq!(start.elapsed(), Duration::from_secs(10));
}

#[tokio::test]
async fn order_post_timeout_is_outcome_unknown_and_sent_once() {
    let (base, seen) = serve(|_| Reply {
        delay: Duration::from_secs(5),
        ..reply(201, ORDER_OK)
    })
    .await;
    let err = client(&base)
        .order_client_certificate(
            ProductId::ClientPremiumSha2,
            &order_request("A", "a@example.com", false),
        )
        .await
        .unwrap_err();
    let Error::OutcomeUnknown(unknown) = &err else {
        panic!("expected OutcomeUnknown, got {err:?}");
    };
    assert!(
        unknown.cause.contains("no response arrived"),
        "{}",
        unknown.cause
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "a POST that may have arrived is never retried"
    );
}

#[tokio::test]
async fn read_timeouts_are_retried_to_the_bound() {
    let (base, seen) = serve(|_| Reply {
        delay: Duration::from_secs(5),
        ..reply(200, "{}")
    })
    .await;
    let err = client(&base).order_info(1).await.unwrap_err();
    assert!(
        matches!(&err, Error::Transport(t) if t.kind() == TransportKind::Timeout),
        "{err:?}"
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        fast_retry().max_attempts as usize
    );
}

#[tokio::test]
async fn order_post_success_with_unreadable_body_is_outcome_unknown() {
    let (base, _) = serve(|_| reply(201, "<html>created</html>")).await;
    let err = client(&base)
        .order_client_certificate(
            ProductId::ClientPremiumSha2,
            &order_request("A", "a@example.com", false),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::OutcomeUnknown(u) if u.status == Some(201)),
        "{err:?}"
    );
}

#[tokio::test]
async fn connect_refused_is_retried_even_for_the_post() {
    // A port with nothing listening: every attempt is refused before anything is sent.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let base = format!("http://{addr}/services/v2");
    let err = client(&base)
        .order_client_certificate(
            ProductId::ClientPremiumSha2,
            &order_request("A", "a@example.com", false),
        )
        .await
        .unwrap_err();
    let Error::Transport(t) = &err else {
        panic!("expected a transport error, got {err:?}");
    };
    assert_eq!(t.kind(), TransportKind::Connect);
    assert!(!t.maybe_reached_server());
    assert!(err.is_retryable());
}

#[tokio::test]
async fn plain_http_to_a_remote_host_is_refused() {
    let err = Client::builder()
        .api_key(SecretString::from(KEY))
        .base_url("http://www.digicert.com/services/v2")
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)));
    assert!(err.to_string().contains("use https"), "{err}");
}

#[tokio::test]
async fn decode_snippet_never_carries_the_key() {
    let (base, _) = serve(|_| reply(500, &format!("<html>debug: X-DC-DEVKEY={KEY}</html>"))).await;
    let err = client(&base).order_info(1).await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains(KEY), "{text}");
    assert!(text.contains("[redacted]"));
}
