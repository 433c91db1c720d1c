//! `certcentral validate`: check an order body without sending it.
//!
//! Exit codes: 0 valid (warnings allowed), 1 invalid (including malformed JSON), 2 usage or
//! I/O error. Text output lists each violation as `path: message (code)` (`(root)` for the
//! whole document); `--json` prints exactly one object
//! `{"valid": bool, "errors": [{"path","code","message"}], "warnings": [...]}`.

use std::io::Write;

use certcentral_types::catalog::DEFAULT_PRODUCT;
use certcentral_validate::{Report, Violation, validate_json};
use chrono::NaiveDate;

use certcentral_cli::request::Source;
use certcentral_cli::{Output, logging};

use crate::exit;
use certcentral_cli::request::{ProductChoice, ProductChoiceParser};

/// Arguments of `certcentral validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The product the order is for (it selects the rules that apply). An id the catalog
    /// does not know needs --allow-unknown.
    #[arg(
        long,
        value_name = "ID",
        default_value_t = ProductChoice::Catalog(DEFAULT_PRODUCT),
        value_parser = ProductChoiceParser
    )]
    pub product: ProductChoice,
    /// "Today" for date rules (UTC), default: the system clock.
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_today)]
    pub today: Option<NaiveDate>,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// What DigiCert added before certcentral did: members the schema does not know are
    /// `unknown_param` warnings instead of errors, and a --product id the catalog does not
    /// know is an `unknown_product` warning: the body is then checked as the Secure Email
    /// body when it has certificate.usage_designation, else as the seed's body, without any
    /// product's rules.
    #[arg(long)]
    pub allow_unknown: bool,
    /// The order body to check (JSON), or `-` for standard input.
    #[arg(value_name = "FILE|-")]
    pub file: String,
}

fn parse_today(s: &str) -> Result<NaiveDate, String> {
    let strict = s.len() == 10 && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-';
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .filter(|_| strict)
        .ok_or_else(|| format!("`{s}` is not a calendar date in the form YYYY-MM-DD"))
}

/// The `--json` output: exactly these three members.
#[derive(serde::Serialize)]
struct JsonReport<'a> {
    valid: bool,
    errors: &'a [Violation],
    warnings: &'a [Violation],
}

/// Runs the command and returns the exit code. With `--json` (the command's or the global
/// one) every outcome is exactly one JSON object on stdout: the report, or for an input that
/// cannot be read (missing, a folder, larger than 1 MiB) the error object.
pub fn run(args: Args, out: &Output) -> u8 {
    let out = Output {
        json: out.json || args.json,
        ..*out
    };
    let bytes = match Source::parse(&args.file).read() {
        Ok(bytes) => bytes,
        Err(err) => return out.fail(&err),
    };
    let mut ctx = args
        .product
        .context()
        .with_allow_unknown(args.allow_unknown);
    if let Some(today) = args.today {
        ctx = ctx.with_today(today);
    }
    let report = validate_json(&bytes, &ctx);
    let printed = if out.json {
        print_json(&report)
    } else {
        print_text(&report)
    };
    if let Err(err) = printed {
        if err.kind() != std::io::ErrorKind::BrokenPipe {
            let message = format!("error: cannot write the report: {err}");
            logging::stderr_line(logging::Level::Error, &message, &message, None);
        }
        return exit::USAGE;
    }
    if report.is_valid() {
        exit::OK
    } else {
        exit::FAILED
    }
}

fn print_json(report: &Report) -> std::io::Result<()> {
    let out = JsonReport {
        valid: report.is_valid(),
        errors: &report.errors,
        warnings: &report.warnings,
    };
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer(&mut stdout, &out)?;
    writeln!(stdout)?;
    stdout.flush()
}

fn print_text(report: &Report) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    if !report.errors.is_empty() {
        writeln!(stdout, "errors:")?;
        for violation in &report.errors {
            writeln!(stdout, "{violation}")?;
        }
    }
    if !report.warnings.is_empty() {
        writeln!(stdout, "warnings:")?;
        for violation in &report.warnings {
            writeln!(stdout, "{violation}")?;
        }
    }
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let summary = format!(
        "{}, {}",
        plural(report.errors.len(), "error"),
        plural(report.warnings.len(), "warning")
    );
    if report.is_valid() {
        writeln!(stdout, "valid: {summary}")?;
    } else {
        writeln!(stdout, "invalid: {summary}")?;
    }
    stdout.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn today_is_strict() {
        assert_eq!(
            parse_today("2026-02-28"),
            Ok(NaiveDate::from_ymd_opt(2026, 2, 28).unwrap())
        );
        for bad in ["2026-02-30", "2026-2-28", "26-02-28", "tomorrow", ""] {
            assert!(parse_today(bad).is_err(), "{bad}");
        }
    }
}
