//! The client tests' helpers, on the workspace test kit.

use certcentral_sandbox::SandboxBuilder;

pub use certcentral_testkit::client::{
    client_builder, client_for, fast_poll, fast_retry, order_request, wait_issued,
};
pub use certcentral_testkit::{API_KEY as KEY, start};

/// A fresh P-256 CSR (PEM).
pub fn csr() -> String {
    certcentral_testkit::csr().1
}

/// The kit's sandbox with a fixed fault seed.
pub fn sandbox() -> SandboxBuilder {
    certcentral_testkit::sandbox().seed(7)
}
