//! The sandbox tests' view of the workspace test kit.

pub use certcentral_testkit::{API_KEY as KEY, Api, codes, csr, http, seed_body, start};

use certcentral_sandbox::{Approval, SandboxBuilder};

/// The builder these tests start from: the kit's (test key, no rate limit), manual approval.
pub fn builder() -> SandboxBuilder {
    certcentral_testkit::sandbox().approval(Approval::Manual)
}
