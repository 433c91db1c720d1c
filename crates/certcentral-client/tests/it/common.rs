//! The client tests' helpers, on the workspace test kit.

use std::time::Duration;

use certcentral_client::{Client, PollPolicy, RateLimits, RetryPolicy};
use certcentral_sandbox::SandboxBuilder;
use certcentral_types::OrderRequest;
use secrecy::SecretString;

pub use certcentral_testkit::{API_KEY as KEY, start};

/// A fresh P-256 CSR (PEM).
pub fn csr() -> String {
    certcentral_testkit::csr().1
}

/// The seed's example order for `common_name` / `email`, with a real CSR.
pub fn order_request(common_name: &str, email: &str, skip_approval: bool) -> OrderRequest {
    let mut body = certcentral_testkit::order_body(common_name, email, &csr());
    body["skip_approval"] = skip_approval.into();
    serde_json::from_value(body).unwrap()
}

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

/// Fast polling for tests.
pub fn fast_poll() -> PollPolicy {
    PollPolicy {
        initial_interval: Duration::from_millis(5),
        max_interval: Duration::from_millis(50),
        multiplier: 2.0,
        deadline: Duration::from_secs(10),
    }
}

/// The kit's sandbox with a fixed fault seed.
pub fn sandbox() -> SandboxBuilder {
    certcentral_testkit::sandbox().seed(7)
}

/// A client for `sandbox`: its key, no client-side rate limit, fast retries.
pub fn client_for(sandbox: &certcentral_sandbox::RunningSandbox) -> Client {
    Client::builder()
        .api_key(SecretString::from(sandbox.api_key().to_string()))
        .base_url(sandbox.base_url())
        .rate_limits(RateLimits::off())
        .retry_policy(fast_retry())
        .build()
        .unwrap()
}
