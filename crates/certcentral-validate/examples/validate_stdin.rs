//! Validates an order body read from standard input, using only `certcentral-validate`.
//!
//! ```sh
//! cargo run -p certcentral-validate --example validate_stdin < order.json
//! cargo run -p certcentral-validate --example validate_stdin -- client_email_security_plus < order.json
//! ```
//!
//! Prints every error and warning as `path: message (code)`; exits 0 when the order is
//! acceptable, 1 when it is not, 2 when standard input cannot be read or the product is unknown.

use std::io::Read;
use std::process::ExitCode;

use certcentral_validate::types::{ProductId, WireEnum};
use certcentral_validate::{Context, validate_json};

fn main() -> ExitCode {
    let product = match std::env::args().nth(1) {
        None => certcentral_validate::types::catalog::DEFAULT_PRODUCT,
        Some(id) => match id.parse::<ProductId>() {
            Ok(product) => product,
            Err(_) => {
                eprintln!("unknown product {id:?}; allowed: {}", ProductId::allowed());
                return ExitCode::from(2);
            }
        },
    };
    let mut body = Vec::new();
    if let Err(err) = std::io::stdin().read_to_end(&mut body) {
        eprintln!("cannot read standard input: {err}");
        return ExitCode::from(2);
    }
    let report = validate_json(&body, &Context::new(product));
    for error in &report.errors {
        println!("error: {error}");
    }
    for warning in &report.warnings {
        println!("warning: {warning}");
    }
    if report.is_valid() {
        println!("valid");
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
