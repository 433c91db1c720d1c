//! `certcentral`: order DigiCert CertCentral client certificates from the command line.
//!
//! The binary is thin: argument handling and output. The logic lives in the library crates.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod exit;
mod validate_cmd;

/// Order, follow, approve and download DigiCert CertCentral client certificates.
#[derive(Debug, Parser)]
#[command(name = "certcentral", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check an order body against every documented constraint, without sending it.
    Validate(validate_cmd::Args),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() { exit::USAGE } else { exit::OK };
            let _ = err.print();
            return ExitCode::from(code);
        }
    };
    let code = match cli.command {
        Command::Validate(args) => validate_cmd::run(args),
    };
    ExitCode::from(code)
}
