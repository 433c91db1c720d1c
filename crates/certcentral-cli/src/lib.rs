//! The library behind the `certcentral` command: every piece a subcommand needs, reusable by
//! other subcommands (`bulk`, `sandbox`) so they behave the same way.
//!
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
//!
//! Local key pairs, CSRs and output files are the `certcentral-keys` crate, and the
//! crash-safe roster engine behind `certcentral bulk` is the `certcentral-bulk` crate
//! (`bulk_cmd` in the binary is its argument handling and output): the CLI names them
//! directly and re-exports neither.

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

pub use error::CliError;
pub use output::{Output, Report};
