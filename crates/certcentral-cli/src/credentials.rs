//! The API key and the endpoint.
//!
//! The API key is read from the `DIGICERT_API_KEY` environment variable or from a file
//! (`--api-key-file FILE` or `DIGICERT_API_KEY_FILE`), never from a command-line value (other
//! users of the machine can read a process's arguments). It is held in a
//! [`secrecy::SecretString`] from the moment it is read, so it cannot be printed by accident.

use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use url::Url;

/// Environment variable holding the API key itself.
pub const API_KEY_ENV: &str = "DIGICERT_API_KEY";
/// Environment variable naming a file that holds the API key.
pub const API_KEY_FILE_ENV: &str = "DIGICERT_API_KEY_FILE";

/// Why the API key or endpoint cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// No API key was given.
    #[error(
        "no API key: set {API_KEY_ENV}, or put the key in a file and pass --api-key-file FILE (or set {API_KEY_FILE_ENV}); try --sandbox to use the built-in emulator"
    )]
    Missing,
    /// The key file cannot be read or is empty.
    #[error("API key file {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong (never the file's content).
        reason: String,
    },
    /// The base URL is not acceptable.
    #[error("invalid --base-url {url:?}: {reason}")]
    BaseUrl {
        /// The URL as given.
        url: String,
        /// What is wrong and what is allowed.
        reason: String,
    },
}

/// Loads the API key: from `file` when given (the `--api-key-file` flag or
/// `DIGICERT_API_KEY_FILE`), else from `DIGICERT_API_KEY`. Surrounding whitespace (a
/// trailing newline) is removed.
pub fn load_api_key(file: Option<&Path>) -> Result<SecretString, CredentialError> {
    if let Some(path) = file {
        let text =
            certcentral_keys::files::read_secret(path).map_err(|e| CredentialError::File {
                path: path.to_path_buf(),
                reason: e.kind().to_string(),
            })?;
        if let Some(warning) = loose_permissions(path) {
            tracing::warn!("{warning}");
        }
        return non_empty(&text).ok_or_else(|| CredentialError::File {
            path: path.to_path_buf(),
            reason: "the file is empty".into(),
        });
    }
    match std::env::var(API_KEY_ENV) {
        Ok(value) => {
            let value = SecretString::from(value);
            non_empty(value.expose_secret()).ok_or(CredentialError::Missing)
        }
        Err(_) => Err(CredentialError::Missing),
    }
}

/// A warning when the key file is readable or writable by group or others (as ssh says for
/// private keys), `None` when only its owner has access (or off Unix).
pub fn loose_permissions(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then(|| {
            format!(
                "API key file {} is accessible by group or others (mode {mode:04o}): other users \
                 of this machine may use your DigiCert account; run `chmod 600 {}`",
                path.display(),
                path.display()
            )
        })
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

fn non_empty(text: &str) -> Option<SecretString> {
    let trimmed = text.trim();
    (!trimmed.is_empty()).then(|| SecretString::from(trimmed))
}

/// The DigiCert region whose API to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum RegionArg {
    /// `https://www.digicert.com/services/v2`
    #[default]
    Us,
    /// `https://certcentral.digicert.eu/services/v2`
    Eu,
}

/// Checks a `--base-url` with the client's rule ([`certcentral_client::check_base_url`]): an
/// absolute `https` URL, or `http` only to a loopback address (`127.0.0.0/8`, `::1`,
/// `localhost`), so the API key is never sent in clear over a network; no credentials, query or
/// fragment.
pub fn check_base_url(raw: &str) -> Result<Url, CredentialError> {
    certcentral_client::check_base_url(raw).map_err(|err| CredentialError::BaseUrl {
        url: raw.to_string(),
        reason: err.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert!(check_base_url("https://www.digicert.com/services/v2").is_ok());
        assert!(check_base_url("http://127.0.0.1:8080/services/v2").is_ok());
        assert!(check_base_url("http://[::1]:8080/services/v2").is_ok());
        assert!(check_base_url("http://localhost:1/services/v2").is_ok());
        let err = check_base_url("http://example.com/services/v2").unwrap_err();
        assert!(
            err.to_string().contains("allowed only to loopback"),
            "{err}"
        );
        assert!(check_base_url("ftp://127.0.0.1/").is_err());
        assert!(check_base_url("https://user:pw@example.com/").is_err());
        assert!(check_base_url("example.com").is_err());
        // The client's rule, whole: no query or fragment either.
        assert!(check_base_url("https://example.com/services/v2?x=1").is_err());
        assert!(check_base_url("https://example.com/services/v2#top").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn loose_key_file_permissions_are_reported() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "abc123\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(loose_permissions(&path), None);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let warning = loose_permissions(&path).unwrap();
        assert!(warning.contains("mode 0644"), "{warning}");
        assert!(warning.contains("chmod 600"), "{warning}");
        assert!(!warning.contains("abc123"), "{warning}");
    }

    #[test]
    fn key_file_is_trimmed_and_never_echoed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "  abc123\n").unwrap();
        assert_eq!(load_api_key(Some(&path)).unwrap().expose_secret(), "abc123");
        std::fs::write(&path, "\n").unwrap();
        let err = load_api_key(Some(&path)).unwrap_err();
        assert!(err.to_string().ends_with("the file is empty"), "{err}");
        let err = load_api_key(Some(&dir.path().join("missing"))).unwrap_err();
        assert!(err.to_string().contains("not found"), "{err}");
    }
}
