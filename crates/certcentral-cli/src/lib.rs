//! The library behind the `certcentral` command: every piece a subcommand needs, reusable by
//! other subcommands (`bulk`, `sandbox`) so they behave the same way.
//!
//! - [`keys`], [`files`]: local key pairs, CSRs and output files (the `certcentral-keys`
//!   crate).
//! - [`credentials`]: the API key (environment or file, never a flag value) and `--base-url`
//!   checks.
//! - [`connect`]: the shared API flags (`--sandbox`, `--region`, `--base-url`,
//!   `--api-key-file`) and building a [`certcentral_client::Client`] from them, starting the
//!   embedded sandbox when asked.
//! - [`request`]: the order body from flags or a JSON file, typed and validated.
//! - [`p12`]: PKCS#12 files and their passwords.
//! - [`record`]: the `<name>.order.json` record that lets later commands resume.
//! - [`output`], [`error`], [`exit`], [`logging`]: text or JSON output, the error type, exit
//!   codes, and `tracing` setup.
//! - [`commands`]: the subcommands themselves (`order`, `status`, `approve`, ...).
//! - [`bulk`]: the crash-safe roster engine behind `certcentral bulk` (the `certcentral-bulk`
//!   crate); `bulk_cmd` in the binary is its argument handling and output.
//!
//! ```
//! use certcentral_cli::{files, keys};
//!
//! // A key pair and a CSR made locally, as `certcentral order` does.
//! let emails = vec!["locke.cole@example.com".to_string()];
//! let made = keys::generate(keys::KeyType::P256, "Locke Cole", &emails).unwrap();
//! assert!(made.csr_pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
//! // Output files are named after the person.
//! assert_eq!(files::derive_name("Locke Cole").as_deref(), Some("locke-cole"));
//! ```

#![deny(missing_docs)]

pub mod commands;
pub mod connect;
pub mod credentials;
pub mod error;
pub mod exit;
pub mod interrupt;
pub mod logging;
pub mod output;
pub mod p12;
pub mod record;
pub mod request;

pub use certcentral_bulk as bulk;
pub use certcentral_keys::{files, keys};
pub use error::CliError;
pub use output::{Output, Report};
