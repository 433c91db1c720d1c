//! Shared helpers of the `cli_*` tests: an in-process sandbox on 127.0.0.1 and the real
//! `certcentral` binary run against it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use certcentral_sandbox::{RunningSandbox, SandboxBuilder};

/// The API key the test sandboxes accept.
pub use certcentral_testkit::API_KEY as KEY;
pub use certcentral_testkit::{csr_spki, key_spki, leaf_spki};

/// The order flags of the README's example person (the README's main command: the default
/// product, `secure_email_sponsor`, with the person's names).
pub const LOCKE: [&str; 8] = [
    "--first-name",
    "Locke",
    "--last-name",
    "Cole",
    "--email",
    "locke.cole@example.com",
    "--org-id",
    "112233",
];

pub struct Env {
    pub sandbox: RunningSandbox,
    pub dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Self {
        Self {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// stdout as exactly one JSON object.
    pub fn json(&self) -> serde_json::Value {
        let value: serde_json::Value = serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON value ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        });
        assert!(value.is_object(), "not an object: {value}");
        value
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Env {
    /// Starts `builder` (with [`KEY`]) on 127.0.0.1 port 0.
    pub fn start(builder: SandboxBuilder) -> Self {
        let (rt, sandbox) = certcentral_testkit::start_blocking(builder.api_key(KEY));
        Self {
            sandbox,
            dir: tempfile::tempdir().unwrap(),
            rt,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A command for the binary with the sandbox's base URL and API key (environment).
    pub fn cmd(&self) -> Command {
        let mut cmd = bare();
        cmd.env("DIGICERT_API_KEY", KEY);
        cmd
    }

    /// Runs `certcentral ARGS... --base-url SANDBOX` with the test key.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(self.cmd(), args)
    }

    pub fn run_with(&self, mut cmd: Command, args: &[&str]) -> Run {
        cmd.args(args).args(["--base-url", self.sandbox.base_url()]);
        Run::from(cmd.output().unwrap())
    }
}

/// The binary with a clean environment (no API key variables), stdin closed. `--sandbox`
/// keeps its state in memory (`--sandbox-state :memory:`, forgotten when the command ends),
/// and the per-user data directory points into the temporary directory (never created unless
/// a test removes the `:memory:`): a test never writes into the real user's home. Tests of a
/// remembering sandbox use [`remembering`].
pub fn bare() -> Command {
    let data_home =
        std::env::temp_dir().join(format!("certcentral-tests-{}-data", std::process::id()));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_certcentral"));
    cmd.env_remove("DIGICERT_API_KEY")
        .env_remove("DIGICERT_API_KEY_FILE")
        .env_remove("RUST_LOG")
        .env(
            SANDBOX_STATE_ENV,
            certcentral_cli::connect::SANDBOX_IN_MEMORY,
        )
        .env("XDG_DATA_HOME", data_home)
        .stdin(Stdio::null());
    cmd
}

/// The environment variable naming the embedded sandbox's state file.
pub use certcentral_cli::connect::SANDBOX_STATE_ENV;

/// [`bare`] whose `--sandbox` remembers between commands in the per-user default file of a
/// user whose home (and `XDG_DATA_HOME`) is `home`: `home/.local/share/certcentral/sandbox.sqlite3`.
pub fn remembering(home: &Path) -> Command {
    let mut cmd = bare();
    cmd.env_remove(SANDBOX_STATE_ENV)
        .env_remove("XDG_DATA_HOME")
        .env("HOME", home);
    cmd
}

/// The state file [`remembering`] commands use.
pub fn default_state_file(home: &Path) -> PathBuf {
    home.join(".local/share/certcentral/sandbox.sqlite3")
}

/// Runs the binary without a sandbox of the test's own (e.g. with `--sandbox`).
pub fn run_bare(args: &[&str]) -> Run {
    Run::from(bare().args(args).output().unwrap())
}

#[cfg(unix)]
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A bulk roster of `rows` people (`Person {i}`, `person{i}@example.com`, OU `Staff`), with a
/// second address `p{i}@example.org` each when `two_emails`.
pub fn roster(dir: &Path, rows: usize, two_emails: bool) -> PathBuf {
    let path = dir.join("roster.csv");
    let mut text = String::with_capacity(rows * 64);
    text.push_str("common_name,emails,organization_units\n");
    for i in 0..rows {
        let second = if two_emails {
            format!(";p{i}@example.org")
        } else {
            String::new()
        };
        text.push_str(&format!("Person {i},person{i}@example.com{second},Staff\n"));
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// `certcentral bulk ROSTER --out OUT` against `base_url` with the test key (environment),
/// organization 112233, skip approval and P-256 keys; the caller adds rate-limit and timing
/// flags.
pub fn bulk_command(base_url: &str, roster: &Path, out: &Path) -> Command {
    let mut cmd = bare();
    cmd.arg("bulk")
        .arg(roster)
        .args(["--base-url", base_url])
        .args([
            // The rows of [`roster`] carry a common name and an OU: the seed's product.
            "--product",
            "client_premium_sha2",
            "--org-id",
            "112233",
            "--skip-approval",
            "--key-type",
            "p256",
        ])
        .arg("--out")
        .arg(out)
        .env("DIGICERT_API_KEY", KEY);
    cmd
}

/// A roster like [`roster`] (two emails each) of `Person {i}` for each `i` of `people`; the
/// certificates of people below `expiring` end 20 days from today
/// (`custom_expiration_date`), the others' after the default validity: the roster of a
/// `--renew-within 30d` run.
pub fn roster_expiring(
    dir: &Path,
    people: impl Iterator<Item = usize>,
    expiring: usize,
) -> PathBuf {
    let path = dir.join("roster.csv");
    let soon = (chrono::Utc::now() + chrono::Duration::days(20)).date_naive();
    let mut text = String::from("common_name,emails,organization_units,custom_expiration_date\n");
    for i in people {
        let end = if i < expiring {
            soon.to_string()
        } else {
            String::new()
        };
        text.push_str(&format!(
            "Person {i},person{i}@example.com;p{i}@example.org,Staff,{end}\n"
        ));
    }
    std::fs::write(&path, text).unwrap();
    path
}
