//! `certcentral validate`: check an order body without sending it.

use crate::exit;

/// Arguments of `certcentral validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The order body to check (JSON), or `-` for standard input.
    pub file: String,
}

/// Runs the command and returns the exit code.
pub fn run(args: Args) -> u8 {
    let _ = args;
    exit::USAGE
}
