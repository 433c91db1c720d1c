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

/// Lints every `(name, DER)` (four at a time); returns `name: findings` for each certificate
/// with an ERROR or FATAL finding (or that pkilint refused).
pub fn lint_all(exe: &Path, certs: &[(String, Vec<u8>)]) -> Vec<String> {
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(err) => return vec![format!("cannot create a temporary directory: {err}")],
    };
    if certs.is_empty() {
        return Vec::new();
    }
    std::thread::scope(|scope| {
        let workers: Vec<_> = certs
            .chunks(certs.len().div_ceil(4))
            .map(|chunk| {
                let dir = dir.path();
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|(name, der)| (name, lint(exe, dir, name, der)))
                        .filter(|(_, report)| !report.is_empty())
                        .map(|(name, report)| format!("{name}: {report}"))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| match worker.join() {
                Ok(failures) => failures,
                Err(_) => vec!["a lint worker panicked".to_string()],
            })
            .collect()
    })
}
