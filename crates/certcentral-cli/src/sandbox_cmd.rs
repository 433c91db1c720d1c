//! `certcentral sandbox`: run the local CertCentral API emulator in the foreground.
//!
//! The first line on stdout is the base URL (`http://127.0.0.1:PORT/services/v2`), flushed
//! at once so scripts can read it. The API key comes from `--api-key-file FILE` (or
//! `DIGICERT_API_KEY_FILE`) or the `DIGICERT_API_KEY` environment variable; with neither, a
//! random key is generated and printed once on stderr. Runs until Ctrl-C (or SIGTERM).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use certcentral_cli::commands::parse_duration;
use certcentral_cli::credentials::{self, API_KEY_FILE_ENV, CredentialError};
use certcentral_cli::logging::{self, Level};
use certcentral_cli::{CliError, Output, exit};
use certcentral_sandbox::{Approval, EmailValidation, FaultKind, KeyRole, RateLimit, Sandbox};
use secrecy::ExposeSecret;

/// Arguments of `certcentral sandbox`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on; port 0 picks a free port. Loopback addresses only (plain HTTP).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// File holding the API key clients must send (default: DIGICERT_API_KEY, else random).
    #[arg(long, value_name = "FILE", env = API_KEY_FILE_ENV, hide_env_values = true)]
    pub api_key_file: Option<PathBuf>,
    /// Rate limit per API key: real (100 per 5 s and 1000 per 3 min), off, or scale=F
    /// (both windows divided by F).
    #[arg(long, value_name = "real|off|scale=F", default_value = "real", value_parser = parse_option::<RateLimit>)]
    pub rate_limit: RateLimit,
    /// auto: approve every new request at once; manual: requests stay pending unless the order
    /// sets skip_approval or PUT /request/{id}/status approves them.
    #[arg(long, value_name = "auto|manual", default_value = "manual", value_parser = parse_option::<Approval>)]
    pub approval: Approval,
    /// Time from approval to issuance (e.g. 0, 500ms, 5s, 1m).
    #[arg(long, value_name = "DURATION", default_value = "0", value_parser = parse_duration)]
    pub issue_delay: Duration,
    /// auto: the email addresses of S/MIME orders are validated at once; manual: they stay
    /// unvalidated (and the order pending) until POST /_sandbox/orders/{id}/validate-emails.
    #[arg(long, value_name = "auto|manual", default_value = "auto", value_parser = parse_option::<EmailValidation>)]
    pub email_validation: EmailValidation,
    /// The 201 of an order issued at once already carries certificate_chain (leaf,
    /// intermediate, root), so no download is needed.
    #[arg(long)]
    pub chain_in_response: bool,
    /// Inject a fault with probability P (repeatable): error_5xx=P, rate_limit=P,
    /// drop_after_commit=P, html_error=P, latency_ms=MS (always) or latency_ms=MS@P.
    #[arg(long = "fault", value_name = "KIND=P", value_parser = parse_fault)]
    pub faults: Vec<(FaultKind, f64)>,
    /// Seed of the fault random number generator (same seed, same request order: same faults).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
    /// What the API key may do: administrator (skip_approval on a revoke revokes at once)
    /// or user (revoke requests always wait for approval).
    #[arg(long, value_name = "administrator|user", default_value = "administrator", value_parser = parse_option::<KeyRole>)]
    pub key_role: KeyRole,
    /// Start the sandbox clock at this time (RFC 3339, e.g. 2027-11-01T00:00:00Z) instead of
    /// now; it can be moved later with POST /_sandbox/clock.
    #[arg(long, value_name = "TIME")]
    pub now: Option<chrono::DateTime<chrono::Utc>>,
    /// Keep the CA, orders, requests, certificates and clock in this SQLite file (created
    /// 0600), so a sandbox started again on it serves what this one left. One sandbox per file
    /// at a time. Without it this server keeps everything in memory only (unlike --sandbox on
    /// the other commands, which uses a per-user state file): each run starts empty. Give the
    /// per-user file (~/.local/share/certcentral/sandbox.sqlite3) to serve what --sandbox
    /// commands left; they then wait until this server stops.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// With --state: start from an empty state (new test CA, no orders; ids keep increasing).
    #[arg(long, requires = "state")]
    pub reset: bool,
}

/// What `certcentral sandbox --help` says after the options (before the exit codes).
pub const AFTER_HELP: &str = "\
The first stdout line is the base URL, e.g. http://127.0.0.1:8080/services/v2.
Send the API key in the X-DC-DEVKEY header. Inspection (no key): GET /_sandbox/orders,
GET /_sandbox/stats, GET /_sandbox/crl (the revoked serials, DER, signed by the test CA) and
GET|POST /_sandbox/clock (e.g. {\"advance_days\": 335}). Stop with Ctrl-C.

Example:
  DIGICERT_API_KEY=test-key certcentral sandbox --listen 127.0.0.1:8080 --approval auto";

/// Parses a sandbox option (`RateLimit`, `Approval`, `EmailValidation`, `KeyRole`) with the
/// sandbox's own `FromStr`, whose error says what is allowed.
fn parse_option<T>(text: &str) -> Result<T, String>
where
    T: std::str::FromStr<Err = certcentral_sandbox::SandboxError>,
{
    text.parse()
        .map_err(|e: certcentral_sandbox::SandboxError| e.to_string())
}

fn parse_fault(text: &str) -> Result<(FaultKind, f64), String> {
    certcentral_sandbox::parse_fault(text).map_err(|e| e.to_string())
}

/// Runs the sandbox until Ctrl-C; returns the exit code.
pub fn run(args: Args, output: &Output) -> u8 {
    run_with(args, output.json, std::io::stdout(), wait_for_stop())
}

/// Reports `err` (as JSON on `out` too with `--json`) and returns its exit code.
fn fail(out: &mut impl Write, json: bool, err: CliError) -> u8 {
    Output { json, quiet: false }.fail_to(out, &err)
}

/// A status line on stderr (text, or a JSON log line).
fn note(message: &str, extra: Option<&serde_json::Value>) {
    let text = format!("certcentral sandbox: {message}");
    logging::stderr_line(Level::Info, &text, message, extra);
}

/// Runs the sandbox, writing the base URL line to `out` (with `json`, the object
/// `{"base_url": ..., "api_key_generated": bool}`), until `stop` completes.
fn run_with(args: Args, json: bool, mut out: impl Write, stop: impl Future<Output = ()>) -> u8 {
    if !args.listen.ip().is_loopback() {
        let err = CliError::usage(format!(
            "--listen {}: the sandbox serves plain HTTP and listens on loopback addresses only (127.0.0.0/8 or [::1])",
            args.listen
        ));
        return fail(&mut out, json, err);
    }
    let key = match credentials::load_api_key(args.api_key_file.as_deref()) {
        Ok(key) => Some(key),
        Err(CredentialError::Missing) => None,
        Err(err) => return fail(&mut out, json, err.into()),
    };
    let runtime = match crate::runtime() {
        Ok(runtime) => runtime,
        Err(err) => {
            let err = CliError::failed(format!("cannot start the async runtime: {err}"));
            return fail(&mut out, json, err);
        }
    };
    runtime.block_on(async move {
        let mut builder = Sandbox::builder()
            .rate_limit(args.rate_limit)
            .approval(args.approval)
            .issue_delay(args.issue_delay)
            .email_validation(args.email_validation)
            .chain_in_response(args.chain_in_response)
            .seed(args.seed)
            .key_role(args.key_role);
        if let Some(path) = &args.state {
            builder = builder.state_file(path).reset_state(args.reset);
        }
        if let Some(now) = args.now {
            builder = builder.now(now);
        }
        if let Some(key) = &key {
            builder = builder.api_key(key.expose_secret());
        }
        for (kind, probability) in args.faults {
            builder = builder.fault(kind, probability);
        }
        let sandbox = match builder.start(args.listen).await {
            Ok(sandbox) => sandbox,
            Err(err) => return fail(&mut out, json, CliError::failed(err.to_string())),
        };
        let line = if json {
            serde_json::json!({
                "base_url": sandbox.base_url(),
                "api_key_generated": key.is_none(),
            })
            .to_string()
        } else {
            sandbox.base_url().to_string()
        };
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            let message = "error: cannot write the base URL to stdout";
            logging::stderr_line(Level::Error, message, message, None);
            return exit::FAILED;
        }
        if key.is_none() {
            note(
                &format!(
                    "no API key given (--api-key-file or DIGICERT_API_KEY); generated key: {}",
                    sandbox.api_key()
                ),
                Some(&serde_json::json!({ "api_key": sandbox.api_key() })),
            );
        }
        note(
            &format!("serving {} (Ctrl-C to stop)", sandbox.base_url()),
            Some(&serde_json::json!({ "base_url": sandbox.base_url() })),
        );
        stop.await;
        sandbox.shutdown().await;
        note("stopped", None);
        exit::OK
    })
}

/// Ctrl-C, or SIGTERM on Unix.
async fn wait_for_stop() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse(argv: &[&str]) -> Result<Args, clap::Error> {
        Cli::try_parse_from(std::iter::once("sandbox").chain(argv.iter().copied())).map(|c| c.args)
    }

    #[test]
    fn defaults() {
        let args = parse(&[]).unwrap();
        assert_eq!(args.listen, "127.0.0.1:0".parse().unwrap());
        assert_eq!(args.rate_limit, RateLimit::Real);
        assert_eq!(args.approval, Approval::Manual);
        assert_eq!(args.issue_delay, Duration::ZERO);
        assert_eq!(args.email_validation, EmailValidation::Auto);
        assert!(!args.chain_in_response);
        assert!(args.faults.is_empty());
        assert_eq!(args.seed, 0);
    }

    #[test]
    fn every_option() {
        let args = parse(&[
            "--listen",
            "127.0.0.1:8080",
            "--rate-limit",
            "scale=60",
            "--approval",
            "auto",
            "--issue-delay",
            "1.5s",
            "--email-validation",
            "manual",
            "--chain-in-response",
            "--fault",
            "error_5xx=0.1",
            "--fault",
            "latency_ms=200@0.5",
            "--seed",
            "7",
        ])
        .unwrap();
        assert_eq!(args.rate_limit, RateLimit::Scaled(60.0));
        assert_eq!(args.approval, Approval::Auto);
        assert_eq!(args.issue_delay, Duration::from_millis(1500));
        assert_eq!(args.email_validation, EmailValidation::Manual);
        assert!(args.chain_in_response);
        assert_eq!(
            args.faults,
            [
                (FaultKind::Error5xx, 0.1),
                (FaultKind::Latency(Duration::from_millis(200)), 0.5)
            ]
        );
        assert_eq!(args.seed, 7);
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for argv in [
            &["--rate-limit", "fast"][..],
            &["--approval", "yes"],
            &["--email-validation", "later"],
            &["--issue-delay", "soon"],
            &["--fault", "error_5xx=2"],
            &["--fault", "meteor=0.1"],
            &["--api-key", "secret"],
        ] {
            assert!(parse(argv).is_err(), "{argv:?}");
        }
    }

    /// Sends each written line to the test.
    struct Lines(std::sync::mpsc::Sender<String>, Vec<u8>);

    impl Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.1.extend_from_slice(buf);
            while let Some(end) = self.1.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.1.drain(..=end).collect();
                let _ = self
                    .0
                    .send(String::from_utf8_lossy(&line).trim_end().to_string());
            }
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A plain HTTP/1.1 GET; returns the status line.
    fn get(addr: &str, path: &str, key: &str) -> String {
        use std::io::{BufRead, BufReader};
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nX-DC-DEVKEY: {key}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut status = String::new();
        BufReader::new(stream).read_line(&mut status).unwrap();
        status.trim_end().to_string()
    }

    #[test]
    fn prints_the_base_url_first_and_serves_with_the_file_key() {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("key");
        std::fs::write(&key_file, "file-key\n").unwrap();
        let args = parse(&[
            "--api-key-file",
            key_file.to_str().unwrap(),
            "--approval",
            "auto",
        ])
        .unwrap();
        let (line_tx, line_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = std::thread::spawn(move || {
            run_with(args, false, Lines(line_tx, Vec::new()), async {
                let _ = stop_rx.await;
            })
        });
        let url = line_rx.recv_timeout(Duration::from_secs(30)).unwrap();
        let addr = url
            .strip_prefix("http://")
            .and_then(|rest| rest.strip_suffix("/services/v2"))
            .unwrap_or_else(|| panic!("unexpected first line {url:?}"))
            .to_string();
        let product = "/services/v2/product/client_premium_sha2";
        assert!(get(&addr, product, "file-key").contains(" 200 "));
        assert!(get(&addr, product, "wrong").contains(" 403 "));
        stop_tx.send(()).unwrap();
        assert_eq!(server.join().unwrap(), exit::OK);
        assert!(std::net::TcpStream::connect(&addr).is_err());
    }

    #[test]
    fn an_empty_key_file_is_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("key");
        std::fs::write(&key_file, "\n").unwrap();
        let args = parse(&["--api-key-file", key_file.to_str().unwrap()]).unwrap();
        assert_eq!(
            run_with(args, false, std::io::sink(), async {}),
            exit::USAGE
        );
        // With --json the error is one JSON object on stdout.
        let args = parse(&["--api-key-file", key_file.to_str().unwrap()]).unwrap();
        let mut out = Vec::new();
        assert_eq!(run_with(args, true, &mut out, async {}), exit::USAGE);
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(json["error"]["kind"], "usage");
    }

    /// `--state FILE` locks the file while the sandbox runs (a second one fails, exit 1);
    /// `--reset` needs `--state`.
    #[test]
    fn a_state_file_serves_one_sandbox_at_a_time() {
        assert!(parse(&["--reset"]).is_err());
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.sqlite");
        let state_arg = state.to_str().unwrap().to_string();
        let args = parse(&["--state", &state_arg, "--approval", "auto"]).unwrap();
        let (line_tx, line_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = std::thread::spawn(move || {
            run_with(args, false, Lines(line_tx, Vec::new()), async {
                let _ = stop_rx.await;
            })
        });
        let url = line_rx.recv_timeout(Duration::from_secs(30)).unwrap();
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        let second = parse(&["--state", &state_arg]).unwrap();
        let mut out = Vec::new();
        assert_eq!(run_with(second, true, &mut out, async {}), exit::FAILED);
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let message = json["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(message.contains("another sandbox"), "{json}");
        stop_tx.send(()).unwrap();
        assert_eq!(server.join().unwrap(), exit::OK);
        assert!(state.exists());
        // Once it stopped, the file can be reset and served again.
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        stop_tx.send(()).unwrap();
        let again = parse(&["--state", &state_arg, "--reset"]).unwrap();
        assert_eq!(
            run_with(again, false, std::io::sink(), async {
                let _ = stop_rx.await;
            }),
            exit::OK
        );
    }

    #[test]
    fn non_loopback_listen_is_refused() {
        let args = parse(&["--listen", "0.0.0.0:0"]).unwrap();
        assert_eq!(run(args, &Output::default()), exit::USAGE);
    }
}
