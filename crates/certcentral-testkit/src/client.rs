//! The certcentral client against a test sandbox: fast retries and polling, the seed's
//! example order as a typed request, waiting for issuance.

use std::time::Duration;

use certcentral_client::{Client, ClientBuilder, Order, PollPolicy, RateLimits, RetryPolicy};
use certcentral_sandbox::RunningSandbox;
use certcentral_types::OrderRequest;
use secrecy::SecretString;

/// Fast retries for tests (bounded, tiny delays).
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_retry_after: Duration::from_secs(2),
        deadline: Duration::from_secs(10),
    }
}

/// Fast polling for tests (a generous deadline: the machine may be busy compiling).
pub fn fast_poll() -> PollPolicy {
    PollPolicy {
        initial_interval: Duration::from_millis(5),
        max_interval: Duration::from_millis(50),
        multiplier: 2.0,
        deadline: Duration::from_secs(20),
    }
}

/// A client builder for `sandbox`: its key and URL, no client-side rate limit, fast retries.
/// Tests add what they exercise (a timeout, another retry policy).
pub fn client_builder(sandbox: &RunningSandbox) -> ClientBuilder {
    Client::builder()
        .api_key(SecretString::from(sandbox.api_key().to_string()))
        .base_url(sandbox.base_url())
        .rate_limits(RateLimits::off())
        .retry_policy(fast_retry())
}

/// [`client_builder`], built.
pub fn client_for(sandbox: &RunningSandbox) -> Client {
    client_builder(sandbox).build().unwrap()
}

/// The seed's example order for `common_name` and `email` with `csr`, typed.
pub fn order_request_with(
    common_name: &str,
    email: &str,
    csr: &str,
    skip_approval: bool,
) -> OrderRequest {
    let mut body = crate::order_body(common_name, email, csr);
    body["skip_approval"] = skip_approval.into();
    serde_json::from_value(body).unwrap()
}

/// The seed's example order for `common_name` and `email`, typed, with a fresh CSR.
pub fn order_request(common_name: &str, email: &str, skip_approval: bool) -> OrderRequest {
    order_request_with(common_name, email, &crate::csr().1, skip_approval)
}

/// Follows `order` with [`fast_poll`] and asserts that it ends issued.
pub async fn wait_issued(order: &mut Order) {
    let outcome = order.wait_until_issued(&fast_poll()).await.unwrap();
    assert!(outcome.is_issued(), "expected issued, got {outcome:?}");
}
