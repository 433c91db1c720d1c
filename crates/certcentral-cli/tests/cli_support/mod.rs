//! Shared helpers of the `cli_*` tests: an in-process sandbox on 127.0.0.1 and the real
//! `certcentral` binary run against it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use certcentral_sandbox::{RunningSandbox, SandboxBuilder};

/// The API key the test sandboxes accept.
pub const KEY: &str = "cli-test-key-7f3a9c2e51d84b6f";

/// The order flags of the README's example person.
pub const LOCKE: [&str; 6] = [
    "--common-name",
    "Locke Cole",
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
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let sandbox = rt
            .block_on(builder.api_key(KEY).start("127.0.0.1:0".parse().unwrap()))
            .unwrap();
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

/// The binary with a clean environment (no API key variables), stdin closed.
pub fn bare() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_certcentral"));
    cmd.env_remove("DIGICERT_API_KEY")
        .env_remove("DIGICERT_API_KEY_FILE")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    cmd
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

/// The SubjectPublicKeyInfo (DER) of the first certificate in a PEM chain.
pub fn leaf_spki(chain_pem: &str) -> Vec<u8> {
    let blocks = pem::parse_many(chain_pem).unwrap();
    let leaf = blocks
        .iter()
        .find(|b| b.tag() == "CERTIFICATE")
        .expect("a certificate");
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.contents()).unwrap();
    cert.public_key().raw.to_vec()
}

/// The SubjectPublicKeyInfo (DER) of a PEM CSR.
pub fn csr_spki(csr_pem: &str) -> Vec<u8> {
    use x509_parser::prelude::FromDer;
    let block = pem::parse(csr_pem).unwrap();
    let (_, csr) =
        x509_parser::certification_request::X509CertificationRequest::from_der(block.contents())
            .unwrap();
    csr.certification_request_info.subject_pki.raw.to_vec()
}

/// The SubjectPublicKeyInfo (DER) of a PKCS#8 PEM private key, via rcgen.
pub fn key_spki(key_pem: &str) -> Vec<u8> {
    use rcgen::PublicKeyData;
    let key = rcgen::KeyPair::from_pem(key_pem).unwrap();
    key.subject_public_key_info()
}
