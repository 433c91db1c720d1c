//! `certcentral`: order DigiCert CertCentral client certificates from the command line.
//!
//! The binary is thin: argument parsing and dispatch. The logic lives in the
//! `certcentral_cli` library (and the other crates of the workspace).

use std::io::Write;
use std::process::ExitCode;

use certcentral_cli::commands::{after_issuance, lifecycle, order};
use certcentral_cli::logging::{self, LogFormat};
use certcentral_cli::{Output, exit};
use certcentral_types::RequestDecision;
use clap::{ArgAction, Parser, Subcommand};

mod bulk_cmd;
#[cfg(feature = "sandbox")]
mod sandbox_cmd;
/// `certcentral sandbox` in a build without the embedded sandbox: says how to get it.
#[cfg(not(feature = "sandbox"))]
mod sandbox_cmd {
    /// Whatever arguments were given (this build cannot run a sandbox).
    #[derive(Debug, clap::Args)]
    pub struct Args {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        rest: Vec<String>,
    }

    /// What `certcentral sandbox --help` says in this build.
    pub const AFTER_HELP: &str = certcentral_cli::connect::NO_SANDBOX;

    /// Refuses: exit 2 with how to get a build with the sandbox.
    pub fn run(_args: Args, out: &certcentral_cli::Output) -> u8 {
        out.fail(&certcentral_cli::CliError::usage(
            certcentral_cli::connect::NO_SANDBOX,
        ))
    }
}
mod schema_cmd;
mod validate_cmd;

/// Credentials note shown before the exit-code table in `--help`.
const CREDENTIALS_HELP: &str = "\
Credentials: the API key is read from the DIGICERT_API_KEY environment variable, or from the
file given by --api-key-file FILE (or DIGICERT_API_KEY_FILE); never from a command-line value.
--sandbox needs no key: it runs a local emulator of the API inside this process.";

/// `--help` epilogue of `certcentral` and `certcentral order`: credentials, then the exit-code
/// table ([`exit::help`], rendered from the one table [`exit::CODES`]).
fn after_help() -> String {
    format!("{CREDENTIALS_HELP}\n\n{}", exit::help())
}

/// `--help` epilogue of `certcentral sandbox`: how to use it, then the exit-code table.
fn sandbox_after_help() -> String {
    format!("{}\n\n{}", sandbox_cmd::AFTER_HELP, exit::help())
}

/// `--help` epilogue of `certcentral bulk`: the roster notes, then the exit-code table with the
/// meanings for a roster.
fn bulk_after_help() -> String {
    format!("{}\n\n{}", bulk_cmd::AFTER_HELP, exit::bulk_help())
}

/// The async runtime every API command runs on: two worker threads, I/O and timers.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

/// Order, follow, approve and download DigiCert CertCentral client certificates.
#[derive(Debug, Parser)]
#[command(name = "certcentral", version, about, long_about = None, after_help = after_help())]
struct Cli {
    /// More logs on stderr: -v info, -vv debug, -vvv trace.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    verbose: u8,
    /// Fewer messages: -q errors only, -qq no logs.
    #[arg(short, long, action = ArgAction::Count, global = true, conflicts_with = "verbose")]
    quiet: u8,
    /// Print exactly one JSON object on stdout (errors too).
    #[arg(long, global = true)]
    json: bool,
    /// Log format on stderr.
    #[arg(long, value_enum, value_name = "FORMAT", global = true, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a key and CSR locally and order a client certificate (--wait to get it).
    #[command(after_help = after_help())]
    Order(Box<order::Args>),
    /// Show an order's status, certificate and requests.
    #[command(after_help = exit::help())]
    Status(lifecycle::StatusArgs),
    /// Approve a pending request.
    #[command(after_help = exit::help())]
    Approve(lifecycle::DecisionArgs),
    /// Reject a pending request.
    #[command(after_help = exit::help())]
    Reject(lifecycle::DecisionArgs),
    /// Cancel a pending order.
    #[command(after_help = exit::help())]
    Cancel(lifecycle::CancelArgs),
    /// Download an issued certificate.
    #[command(after_help = exit::help())]
    Download(lifecycle::DownloadArgs),
    /// List recent orders for a common name (e.g. after an unknown outcome).
    #[command(after_help = exit::help())]
    Orders(lifecycle::OrdersArgs),
    /// Certificates that expire within a window (default 30 days), soonest first.
    #[command(after_help = exit::help())]
    Expiring(after_issuance::ExpiringArgs),
    /// Revoke a certificate or every certificate of an order (shows what, asks first).
    #[command(after_help = exit::help())]
    Revoke(after_issuance::RevokeArgs),
    /// Renew an order: a new paid order with the same product and details and a new key.
    #[command(after_help = exit::help())]
    Renew(after_issuance::RenewArgs),
    /// Reissue an order's certificate with a new key (same order, not paid).
    #[command(after_help = exit::help())]
    Reissue(after_issuance::ReissueArgs),
    /// Show every product of the catalog: its status (a deprecated one names its replacement) and its settings.
    #[command(after_help = exit::help())]
    Products(lifecycle::ProductsArgs),
    /// Show one product's settings.
    #[command(after_help = exit::help())]
    Product(lifecycle::ProductArgs),
    /// Order certificates for a whole roster (CSV or JSON Lines): journaled, crash-safe,
    /// never twice, at the rate limit.
    #[command(after_help = bulk_after_help())]
    Bulk(Box<bulk_cmd::Args>),
    /// Check an order body against every documented constraint, without sending it.
    #[command(after_help = exit::help())]
    Validate(validate_cmd::Args),
    /// Print the bundled JSON Schema of the request, response or error body.
    #[command(after_help = exit::help())]
    Schema(schema_cmd::Args),
    /// Run a local emulator of the CertCentral API (prints its base URL, runs until Ctrl-C).
    #[command(after_help = sandbox_after_help())]
    Sandbox(sandbox_cmd::Args),
}

fn main() -> ExitCode {
    logging::set_format(logging::format_in_args(std::env::args_os()));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return ExitCode::from(arguments_error(&err)),
    };
    if let Some(err) = unknown_product_refusal(&cli.command) {
        return ExitCode::from(arguments_error(&err));
    }
    let verbosity = (cli.verbose.min(10) as i8) - (cli.quiet.min(10) as i8);
    logging::init(verbosity, cli.log_format);
    let out = Output {
        json: cli.json,
        quiet: cli.quiet > 0,
    };
    let code = match cli.command {
        Command::Validate(args) => validate_cmd::run(args, &out),
        Command::Schema(args) => schema_cmd::run(args),
        Command::Sandbox(args) => sandbox_cmd::run(args, &out),
        Command::Bulk(args) => bulk_cmd::run(*args, &out),
        command => {
            let runtime = match runtime() {
                Ok(rt) => rt,
                Err(e) => {
                    let err = certcentral_cli::CliError::failed(format!(
                        "cannot start the async runtime: {e}"
                    ));
                    return ExitCode::from(out.fail(&err));
                }
            };
            let result = runtime.block_on(async {
                match command {
                    Command::Order(args) => order::run(*args, &out).await,
                    Command::Status(args) => lifecycle::status(args).await,
                    Command::Approve(args) => {
                        lifecycle::decide(args, RequestDecision::Approved).await
                    }
                    Command::Reject(args) => {
                        lifecycle::decide(args, RequestDecision::Rejected).await
                    }
                    Command::Cancel(args) => lifecycle::cancel(args).await,
                    Command::Download(args) => lifecycle::download(args, out.json).await,
                    Command::Orders(args) => lifecycle::orders(args).await,
                    Command::Expiring(args) => after_issuance::expiring(args).await,
                    Command::Revoke(args) => after_issuance::revoke(args, &out).await,
                    Command::Reissue(args) => after_issuance::reissue(args, &out).await,
                    Command::Renew(args) => after_issuance::renew(args, &out).await,
                    Command::Products(args) => lifecycle::products(args).await,
                    Command::Product(args) => lifecycle::product(args).await,
                    Command::Validate(_)
                    | Command::Schema(_)
                    | Command::Bulk(_)
                    | Command::Sandbox(_) => Err(certcentral_cli::CliError::usage(
                        "unreachable command dispatch",
                    )),
                }
            });
            out.finish(result)
        }
    };
    ExitCode::from(code)
}

/// `validate` and `order` take a `--product` id the catalog does not know only with
/// `--allow-unknown`; without it, the usage error `--product` always gave (the catalog's ids).
fn unknown_product_refusal(command: &Command) -> Option<clap::Error> {
    use clap::CommandFactory;
    let (name, product) = match command {
        Command::Validate(args) if !args.allow_unknown => ("validate", &args.product),
        Command::Order(args) if !args.allow_unknown => ("order", &args.product),
        _ => return None,
    };
    if !matches!(product, certcentral_cli::request::ProductChoice::Unknown(_)) {
        return None;
    }
    let mut cli = Cli::command();
    cli.build();
    product.refusal(cli.find_subcommand(name)?)
}

/// Reports an argument error (or prints `--help` / `--version`) and returns the exit code.
/// Usage errors keep clap's whole message (which value, which argument); with `--json` they
/// are also one JSON object on stdout, and with `--log-format json` the stderr line is JSON.
fn arguments_error(err: &clap::Error) -> u8 {
    use clap::error::ContextKind;
    if !err.use_stderr() {
        let _ = err.print();
        return exit::OK;
    }
    let rendered = err.render().to_string();
    let first = rendered.split("\n\n").next().unwrap_or_default().trim();
    let message = first.strip_prefix("error: ").unwrap_or(first).to_string();
    let usage = certcentral_cli::CliError::usage(message.clone());
    let mut json = usage.to_json();
    for (name, kind) in [
        ("argument", ContextKind::InvalidArg),
        ("value", ContextKind::InvalidValue),
    ] {
        if let Some(value) = err.get(kind) {
            json["error"][name] = serde_json::Value::String(value.to_string());
        }
    }
    if std::env::args_os().any(|a| a == "--json") {
        // Keep the promise of `--json`: one JSON object on stdout, errors too.
        let _ = writeln!(std::io::stdout().lock(), "{json}");
    }
    if logging::format_in_args(std::env::args_os()) == LogFormat::Json {
        logging::stderr_line(logging::Level::Error, &rendered, &message, Some(&json));
    } else {
        let _ = err.print();
    }
    exit::USAGE
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every flag of every subcommand, with the path of subcommand names leading to it.
    fn all_args(
        cmd: &clap::Command,
        path: &str,
        out: &mut Vec<(String, clap::Command, clap::Arg)>,
    ) {
        for arg in cmd.get_arguments() {
            out.push((path.to_string(), cmd.clone(), arg.clone()));
        }
        for sub in cmd.get_subcommands() {
            all_args(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_command_help_ends_with_the_exit_code_table() {
        let mut cli = Cli::command();
        cli.build();
        let mut count = 0;
        for sub in cli.get_subcommands().filter(|s| s.get_name() != "help") {
            let after = sub
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            let table = if sub.get_name() == "bulk" {
                exit::bulk_help()
            } else {
                exit::help()
            };
            assert!(
                after.ends_with(&table),
                "{} --help: {after}",
                sub.get_name()
            );
            count += 1;
        }
        assert!(count >= 10, "only {count} subcommands");
    }

    #[test]
    fn every_duration_flag_takes_decimals_seconds_and_milliseconds() {
        let mut cli = Cli::command();
        cli.build();
        let mut args = Vec::new();
        all_args(&cli, "certcentral", &mut args);
        let durations: Vec<_> = args
            .iter()
            .filter(|(_, _, arg)| {
                arg.get_value_names()
                    .is_some_and(|names| names.iter().any(|n| n.as_str() == "DURATION"))
            })
            .collect();
        assert!(
            durations.len() >= 5,
            "found only {} DURATION flags",
            durations.len()
        );
        for (path, _, arg) in durations {
            let long = arg.get_long().expect("duration flags are long flags");
            let duration =
                clap::builder::ValueParser::new(certcentral_cli::commands::parse_duration);
            assert!(
                arg.get_value_parser().type_id() == duration.type_id(),
                "{path} --{long} is not parsed into a Duration"
            );
            for text in ["1.5m", "90s", "500ms"] {
                let mut argv: Vec<String> = path.split(' ').map(str::to_string).collect();
                argv.extend([format!("--{long}"), text.to_string()]);
                if let Err(err) = Cli::command().try_get_matches_from(&argv) {
                    // Other required arguments may be missing; the value itself must parse.
                    assert!(
                        !matches!(
                            err.kind(),
                            clap::error::ErrorKind::ValueValidation
                                | clap::error::ErrorKind::InvalidValue
                        ),
                        "{argv:?}: {err}"
                    );
                }
            }
        }
    }
}
