//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::time::Duration;

use certcentral_client::{Client, PollPolicy, RateLimits, RetryPolicy};
use certcentral_sandbox::{RunningSandbox, SandboxBuilder};
use certcentral_types::OrderRequest;
use rcgen::{CertificateParams, KeyPair};
use secrecy::SecretString;

pub const KEY: &str = "test-key-7c1f0e9a";

/// A fresh P-256 CSR (PEM).
pub fn csr() -> String {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .serialize_request(&key)
        .unwrap()
        .pem()
        .unwrap()
}

/// The seed's example order for `common_name` / `email`, with a real CSR.
pub fn order_request(common_name: &str, email: &str, skip_approval: bool) -> OrderRequest {
    serde_json::from_value(serde_json::json!({
        "certificate": {
            "common_name": common_name,
            "emails": [email],
            "signature_hash": "sha256",
            "organization_units": ["Accounting"],
            "csr": csr(),
        },
        "skip_approval": skip_approval,
        "organization": {"id": 112233},
        "container": {"id": 445566},
        "validity_years": 1,
        "payment_method": "balance"
    }))
    .unwrap()
}

/// Fast retries for tests (bounded, tiny delays).
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_retry_after: Duration::from_secs(2),
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

pub fn sandbox() -> SandboxBuilder {
    certcentral_sandbox::Sandbox::builder()
        .api_key(KEY)
        .rate_limit(certcentral_sandbox::RateLimit::Off)
        .seed(7)
}

pub async fn start(builder: SandboxBuilder) -> RunningSandbox {
    builder.start("127.0.0.1:0".parse().unwrap()).await.unwrap()
}

pub fn client_for(sandbox: &RunningSandbox) -> Client {
    Client::builder()
        .api_key(SecretString::from(sandbox.api_key().to_string()))
        .base_url(sandbox.base_url())
        .rate_limits(RateLimits::off())
        .retry_policy(fast_retry())
        .build()
        .unwrap()
}
