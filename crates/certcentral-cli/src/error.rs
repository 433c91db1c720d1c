//! The one error type of every command, mapped to an exit code and rendered as text or JSON.

use certcentral_keys::files::FileError;
use certcentral_keys::keys::KeyError;
use certcentral_types::ApiErrorEntry;
use certcentral_validate::Violation;
use serde_json::{Value, json};

use crate::exit;

/// Why a command did not complete. Each variant has its own exit code ([`CliError::exit_code`]).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad arguments or input, or an output file that already exists: exit 2.
    #[error("{0}")]
    Usage(String),
    /// The operation failed (API error, invalid order, I/O error): exit 1.
    #[error("{}", .0.message)]
    Failed(Box<Failure>),
    /// The order exists but was not issued before the timeout: exit 3.
    #[error("{message}")]
    Pending {
        /// The order's id.
        order_id: i64,
        /// What happened and how to resume.
        message: String,
    },
    /// The request may or may not have reached DigiCert: exit 4.
    #[error("{message}")]
    Unknown {
        /// What happened and how to check.
        message: String,
    },
    /// Interrupted (Ctrl-C) after the request in flight was answered and recorded: exit 130.
    #[error("{message}")]
    Interrupted {
        /// What was recorded and how to resume.
        message: String,
    },
}

/// Details of a failure (exit 1).
#[derive(Debug, Default)]
pub struct Failure {
    /// One line saying what failed.
    pub message: String,
    /// HTTP status of the API answer, when there was one.
    pub http_status: Option<u16>,
    /// Every entry of DigiCert's `errors` array, in order.
    pub api_errors: Vec<ApiErrorEntry>,
    /// Local validation errors (the order was not sent).
    pub violations: Vec<Violation>,
}

impl CliError {
    /// A failure with only a message.
    pub fn failed(message: impl Into<String>) -> Self {
        CliError::Failed(Box::new(Failure {
            message: message.into(),
            ..Failure::default()
        }))
    }

    /// A usage error.
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::Usage(message.into())
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => exit::USAGE,
            CliError::Failed(_) => exit::FAILED,
            CliError::Pending { .. } => exit::PENDING,
            CliError::Unknown { .. } => exit::UNKNOWN,
            CliError::Interrupted { .. } => exit::INTERRUPTED,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            CliError::Usage(_) => "usage",
            CliError::Failed(_) => "failed",
            CliError::Pending { .. } => "pending",
            CliError::Unknown { .. } => "unknown",
            CliError::Interrupted { .. } => "interrupted",
        }
    }

    /// Human-readable report: `error: ...` then one indented line per API error
    /// (`code: message`) or validation violation (`path: code: message`).
    pub fn render(&self) -> String {
        let label = match self {
            CliError::Pending { .. } => "pending",
            CliError::Unknown { .. } => "outcome unknown",
            CliError::Interrupted { .. } => "interrupted",
            _ => "error",
        };
        let mut out = format!("{label}: {self}");
        if let CliError::Failed(f) = self {
            for e in &f.api_errors {
                out.push_str(&format!("\n  {}: {}", e.code, e.message));
            }
            for v in &f.violations {
                let path = if v.path.is_empty() { "(body)" } else { &v.path };
                out.push_str(&format!("\n  {path}: {}: {}", v.digicert_code(), v.message));
            }
        }
        out
    }

    /// The error as one JSON object: `{"error": {"kind", "exit_code", "message", ...}}`.
    pub fn to_json(&self) -> Value {
        let mut error = json!({
            "kind": self.kind(),
            "exit_code": self.exit_code(),
            "message": self.to_string(),
        });
        match self {
            CliError::Failed(f) => {
                error["http_status"] = json!(f.http_status);
                error["errors"] = json!(f.api_errors);
                if !f.violations.is_empty() {
                    error["violations"] = json!(f.violations);
                }
            }
            CliError::Pending { order_id, .. } => error["order_id"] = json!(order_id),
            CliError::Usage(_) | CliError::Unknown { .. } | CliError::Interrupted { .. } => {}
        }
        json!({ "error": error })
    }
}

impl From<FileError> for CliError {
    fn from(e: FileError) -> Self {
        match e {
            FileError::Exists(_) => CliError::Usage(e.to_string()),
            FileError::Io { .. } => CliError::failed(e.to_string()),
        }
    }
}

impl From<certcentral_bulk::BulkError> for CliError {
    fn from(e: certcentral_bulk::BulkError) -> Self {
        match e.verdict() {
            certcentral_bulk::Verdict::Usage => CliError::Usage(e.to_string()),
            _ => CliError::failed(e.to_string()),
        }
    }
}

impl From<crate::credentials::CredentialError> for CliError {
    fn from(e: crate::credentials::CredentialError) -> Self {
        CliError::Usage(e.to_string())
    }
}

impl From<KeyError> for CliError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Subject(_) | KeyError::Unreadable(_) => CliError::Usage(e.to_string()),
            KeyError::Crypto(_) | KeyError::Certificate(_) | KeyError::Mismatch { .. } => {
                CliError::failed(e.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_api_error() {
        let err = CliError::Failed(Box::new(Failure {
            message: "DigiCert refused the order (HTTP 400)".into(),
            http_status: Some(400),
            api_errors: vec![
                ApiErrorEntry {
                    code: "invalid_value:validity_years".into(),
                    message: "Validity years must be 1 or 2.".into(),
                },
                ApiErrorEntry {
                    code: "required_param:certificate.emails".into(),
                    message: "Emails are required.".into(),
                },
            ],
            violations: vec![],
        }));
        assert_eq!(err.exit_code(), 1);
        insta::assert_snapshot!(err.render(), @r"
        error: DigiCert refused the order (HTTP 400)
          invalid_value:validity_years: Validity years must be 1 or 2.
          required_param:certificate.emails: Emails are required.
        ");
        insta::assert_json_snapshot!(err.to_json(), @r#"
        {
          "error": {
            "errors": [
              {
                "code": "invalid_value:validity_years",
                "message": "Validity years must be 1 or 2."
              },
              {
                "code": "required_param:certificate.emails",
                "message": "Emails are required."
              }
            ],
            "exit_code": 1,
            "http_status": 400,
            "kind": "failed",
            "message": "DigiCert refused the order (HTTP 400)"
          }
        }
        "#);
    }

    #[test]
    fn exit_codes() {
        assert_eq!(CliError::usage("x").exit_code(), exit::USAGE);
        assert_eq!(
            CliError::Pending {
                order_id: 1,
                message: "m".into()
            }
            .exit_code(),
            exit::PENDING
        );
        assert_eq!(
            CliError::Unknown {
                message: "m".into()
            }
            .exit_code(),
            exit::UNKNOWN
        );
        assert_eq!(
            CliError::Pending {
                order_id: 7,
                message: "m".into()
            }
            .to_json()["error"]["order_id"],
            7
        );
    }
}
