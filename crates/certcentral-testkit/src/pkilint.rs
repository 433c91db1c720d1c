//! Lints certificates with DigiCert's pkilint (`lint_cabf_smime_cert lint -d`), an oracle for
//! the sandbox's S/MIME certificates that nobody here wrote.

use std::path::{Path, PathBuf};

/// The pkilint executable (`lint_cabf_smime_cert`) named by `CERTCENTRAL_PKILINT`. Unset or
/// empty: panics in CI (`CI=true`), else prints a note and returns `None` (skip).
pub fn executable() -> Option<PathBuf> {
    match std::env::var_os("CERTCENTRAL_PKILINT") {
        Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => panic!(
            "CERTCENTRAL_PKILINT is not set: CI must lint the sandbox's S/MIME certificates \
             (install pkilint in a venv and point CERTCENTRAL_PKILINT at its \
             lint_cabf_smime_cert)"
        ),
        _ => {
            eprintln!(
                "note: pkilint test skipped: set CERTCENTRAL_PKILINT to the path of pkilint's \
                 lint_cabf_smime_cert to run it"
            );
            None
        }
    }
}

/// Lints one DER certificate (written to `dir`); returns its ERROR and FATAL findings, or an
/// empty string.
fn lint(exe: &Path, dir: &Path, name: &str, der: &[u8]) -> String {
    let path = dir.join(format!("{name}.der"));
    if let Err(err) = std::fs::write(&path, der) {
        return format!("cannot write {}: {err}", path.display());
    }
    let output = match std::process::Command::new(exe)
        .args(["lint", "-d", "-s", "ERROR", "--document-format", "DER"])
        .arg(&path)
        .output()
    {
        Ok(output) => output,
        Err(err) => return format!("cannot run {}: {err}", exe.display()),
    };
    let report = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    if output.status.success() && report.trim().is_empty() {
        String::new()
    } else {
        format!("{}: {report}", output.status)
    }
}

/// Lints many certificates in one Python process: pkilint's own `lint` command, called once
/// per file, so the interpreter and pkilint's modules load once instead of once per
/// certificate. Prints `=== INDEX CODE` before each report.
const BATCH: &str = r#"
import contextlib, io, sys
from pkilint.bin.lint_cabf_smime_cert import main
for index, path in enumerate(sys.argv[1:]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            code = main(["lint", "-d", "-s", "ERROR", "--document-format", "DER", path])
        except SystemExit as exit:
            code = exit.code
        except Exception as error:
            print(f"{type(error).__name__}: {error}")
            code = 2
    sys.stdout.write(f"=== {index} {code}\n{out.getvalue()}")
"#;

/// The Python interpreter of a pip-installed `lint_cabf_smime_cert` script (its `#!` line).
fn interpreter(exe: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(exe).ok()?;
    let first = text.lines().next()?.strip_prefix("#!")?.trim();
    let python = PathBuf::from(first.split_whitespace().next()?);
    python.is_file().then_some(python)
}

/// Lints every `(name, DER)` in one pkilint process when the executable is a pip script (else
/// one process per certificate); returns `name: findings` for each certificate with an ERROR or
/// FATAL finding (or that pkilint refused).
pub fn lint_all(exe: &Path, certs: &[(String, Vec<u8>)]) -> Vec<String> {
    if certs.is_empty() {
        return Vec::new();
    }
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(err) => return vec![format!("cannot create a temporary directory: {err}")],
    };
    let Some(python) = interpreter(exe) else {
        return certs
            .iter()
            .map(|(name, der)| (name, lint(exe, dir.path(), name, der)))
            .filter(|(_, report)| !report.is_empty())
            .map(|(name, report)| format!("{name}: {report}"))
            .collect();
    };
    let mut paths = Vec::with_capacity(certs.len());
    for (index, (_, der)) in certs.iter().enumerate() {
        let path = dir.path().join(format!("{index}.der"));
        if let Err(err) = std::fs::write(&path, der) {
            return vec![format!("cannot write {}: {err}", path.display())];
        }
        paths.push(path);
    }
    let output = match std::process::Command::new(&python)
        .args(["-c", BATCH])
        .args(&paths)
        .output()
    {
        Ok(output) => output,
        Err(err) => return vec![format!("cannot run {}: {err}", python.display())],
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut reports = vec![None; certs.len()];
    for block in stdout.split("=== ").skip(1) {
        let (head, body) = block.split_once('\n').unwrap_or((block, ""));
        let mut fields = head.split_whitespace();
        let index: Option<usize> = fields.next().and_then(|i| i.parse().ok());
        let code = fields.next().unwrap_or("?");
        if let Some(slot) = index.and_then(|i| reports.get_mut(i)) {
            *slot = Some(
                (code == "0" && body.trim().is_empty())
                    .then(String::new)
                    .unwrap_or_else(|| format!("exit {code}: {}", body.trim())),
            );
        }
    }
    certs
        .iter()
        .zip(reports)
        .filter_map(|((name, _), report)| match report {
            Some(report) if report.is_empty() => None,
            Some(report) => Some(format!("{name}: {report}")),
            None => Some(format!(
                "{name}: no pkilint report ({}; stderr: {})",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The oracle can fail: a certificate without an S/MIME policy (pkilint cannot tell its
    /// type) and a broken DER are both reported, each under its own name.
    #[test]
    fn findings_are_reported_per_certificate() {
        let Some(exe) = executable() else { return };
        let key = crate::p256_key();
        let plain = rcgen::CertificateParams::new(vec!["example.com".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap()
            .der()
            .to_vec();
        let certs = [
            ("plain".to_string(), plain),
            ("garbage".to_string(), b"not a certificate".to_vec()),
        ];
        let failures = lint_all(&exe, &certs);
        assert_eq!(failures.len(), 2, "{failures:?}");
        assert!(failures[0].starts_with("plain: "), "{failures:?}");
        assert!(failures[1].starts_with("garbage: "), "{failures:?}");
    }
}
