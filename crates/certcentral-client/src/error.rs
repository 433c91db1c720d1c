//! The client's error type.

use std::fmt;
use std::time::Duration;

use certcentral_validate::Report;
use chrono::{DateTime, Utc};

/// How many characters of an unexpected body [`Error::Decode`] keeps.
pub const SNIPPET_CHARS: usize = 200;

/// One error reported by the server (`{"errors": [{"code", "message"}]}`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ApiError {
    /// Machine code: `category|detail` (e.g. `not_found|order`) or `category:field.path`
    /// (e.g. `required_param:certificate.common_name`).
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

impl From<certcentral_types::ApiErrorEntry> for ApiError {
    fn from(entry: certcentral_types::ApiErrorEntry) -> Self {
        Self {
            code: entry.code,
            message: entry.message,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// What went wrong below HTTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportKind {
    /// The connection could not be established (refused, DNS, TLS handshake, connect
    /// timeout): the request provably never reached the server.
    Connect,
    /// The request timed out after it may have been sent.
    Timeout,
    /// The connection failed while sending the request or reading the response (reset,
    /// closed early, protocol error): the request may have reached the server.
    Interrupted,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "could not connect",
            Self::Timeout => "timed out",
            Self::Interrupted => "connection interrupted",
        })
    }
}

/// A failure below HTTP: no (complete) response was received.
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct TransportError {
    kind: TransportKind,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl TransportError {
    pub(crate) fn new(
        kind: TransportKind,
        message: impl Into<String>,
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            kind,
            message: message.into(),
            source,
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> TransportKind {
        self.kind
    }

    /// Whether the request may have reached the server (false only for connect failures).
    pub fn maybe_reached_server(&self) -> bool {
        self.kind != TransportKind::Connect
    }
}

/// An order POST whose outcome is unknown: it was sent and no usable answer came back, so the
/// order may or may not exist. Check with [`crate::Client::find_recent_orders`] before ordering
/// again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownOutcome {
    /// The product id the order was sent for (`product_name_id`): a catalog id, or one the
    /// catalog does not know (an order sent as given, [`crate::Client::order_as_given`]);
    /// empty when unknown (matches any product).
    pub product: String,
    /// The certificate's common name.
    pub common_name: String,
    /// The certificate's email addresses.
    pub emails: Vec<String>,
    /// When the (last) POST was sent, from the local clock.
    pub sent_at: DateTime<Utc>,
    /// The HTTP status, when a response arrived that did not settle the outcome (5xx, or a
    /// success whose body could not be read).
    pub status: Option<u16>,
    /// What happened, for people.
    pub cause: String,
}

/// Every error of the client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The order failed validation; nothing was sent.
    #[error("the order is invalid ({} error(s)): {}", .0.errors.len(), summarize_report(.0))]
    Invalid(Report),
    /// The server answered with an error status and an error body; every error is kept.
    #[error("api error (http {status}): {}", summarize_api(.errors))]
    Api {
        /// HTTP status.
        status: u16,
        /// Every error the server reported.
        errors: Vec<ApiError>,
    },
    /// The server kept answering 429 `request_limit_exceeded` after the allowed retries.
    #[error("rate limited by the server{}", retry_after_text(.retry_after))]
    RateLimited {
        /// The server's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// The order POST was sent and no usable response arrived: the order may exist.
    #[error(
        "the outcome of the order is unknown ({}; {} for {:?}, sent at {}): the order may exist; \
         look it up with find_recent_orders before ordering again",
        .0.cause, .0.product, .0.common_name, .0.sent_at.to_rfc3339()
    )]
    OutcomeUnknown(Box<UnknownOutcome>),
    /// No response: connection, timeout or protocol failure.
    #[error("transport error: {0}")]
    Transport(#[from] TransportError),
    /// A body that is not the expected JSON (an HTML error page, a truncated body).
    #[error("unexpected response body (http {status}): {snippet}")]
    Decode {
        /// HTTP status.
        status: u16,
        /// The start of the body, at most [`SNIPPET_CHARS`] characters, control characters
        /// replaced and the API key redacted.
        snippet: String,
    },
    /// A bad argument or client configuration (base URL, API key, page size…).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl Error {
    /// Whether trying the same call again later may succeed. `OutcomeUnknown` is not: reconcile
    /// first.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::RateLimited { .. } => true,
            Self::Api { status, .. } | Self::Decode { status, .. } => *status >= 500,
            Self::Transport(err) => matches!(
                err.kind(),
                TransportKind::Connect | TransportKind::Timeout | TransportKind::Interrupted
            ),
            Self::Invalid(_) | Self::OutcomeUnknown(_) | Self::InvalidArgument(_) => false,
        }
    }

    /// The HTTP status of the response behind the error, if one arrived.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } | Self::Decode { status, .. } => Some(*status),
            Self::RateLimited { .. } => Some(429),
            Self::OutcomeUnknown(unknown) => unknown.status,
            Self::Invalid(_) | Self::Transport(_) | Self::InvalidArgument(_) => None,
        }
    }

    /// The server's error codes (empty unless [`Error::Api`]).
    pub fn api_codes(&self) -> Vec<&str> {
        match self {
            Self::Api { errors, .. } => errors.iter().map(|e| e.code.as_str()).collect(),
            _ => Vec::new(),
        }
    }
}

fn summarize_report(report: &Report) -> String {
    report
        .errors
        .iter()
        .map(|v| {
            if v.path.is_empty() {
                format!("{}: {}", v.code, v.message)
            } else {
                format!("{} {}: {}", v.path, v.code, v.message)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn summarize_api(errors: &[ApiError]) -> String {
    if errors.is_empty() {
        return "no error details".to_string();
    }
    errors
        .iter()
        .map(ApiError::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn retry_after_text(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!(" (retry after {} s)", d.as_secs_f64().ceil()),
        None => String::new(),
    }
}

/// The start of a body for an error message: lossy UTF-8, at most [`SNIPPET_CHARS`]
/// characters, control characters replaced by spaces, and `secret` (the API key) redacted.
pub(crate) fn snippet(body: &[u8], secret: &str) -> String {
    let text = String::from_utf8_lossy(body);
    let text = if secret.is_empty() {
        text.into_owned()
    } else {
        text.replace(secret, "[redacted]")
    };
    let mut out: String = text
        .chars()
        .take(SNIPPET_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > SNIPPET_CHARS {
        out.push('…');
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_truncates_and_redacts() {
        let body = format!("<html>key=SECRETKEY {}</html>", "x".repeat(500));
        let s = snippet(body.as_bytes(), "SECRETKEY");
        assert!(!s.contains("SECRETKEY"));
        assert!(s.contains("[redacted]"));
        assert_eq!(s.chars().count(), SNIPPET_CHARS + 1);
        assert!(s.ends_with('…'));
        assert_eq!(snippet(b"a\nb\r\n", "k"), "a b");
        assert_eq!(snippet(&[0xff, b'a'], "k"), "\u{fffd}a");
    }

    #[test]
    fn messages_snapshot() {
        let report = Report {
            errors: vec![certcentral_validate::Violation {
                path: "/certificate/emails/0".into(),
                code: "invalid_value".into(),
                message: "\"x\" is not an email address".into(),
            }],
            warnings: Vec::new(),
        };
        let sent_at = DateTime::parse_from_rfc3339("2026-11-28T20:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let errors = [
            Error::Invalid(report),
            Error::Api {
                status: 400,
                errors: vec![
                    ApiError {
                        code: "required_param:certificate.common_name".into(),
                        message: "common name is required".into(),
                    },
                    ApiError {
                        code: "invalid_value:validity_years".into(),
                        message: "validity must be 1 or 2".into(),
                    },
                ],
            },
            Error::Api {
                status: 502,
                errors: Vec::new(),
            },
            Error::RateLimited { retry_after: None },
            Error::OutcomeUnknown(Box::new(UnknownOutcome {
                product: certcentral_types::ProductId::ClientPremiumSha2.to_string(),
                common_name: "Lock Cole".into(),
                emails: vec!["locke.cole@example.com".into()],
                sent_at,
                status: None,
                cause: "the request was sent and no response arrived: connection reset".into(),
            })),
            Error::Transport(TransportError::new(
                TransportKind::Timeout,
                "operation timed out",
                None,
            )),
            Error::Decode {
                status: 503,
                snippet: "<html><body>Service Unavailable</body></html>".into(),
            },
            Error::InvalidArgument("the api key is empty".into()),
        ];
        let text: Vec<String> = errors
            .iter()
            .map(|e| format!("[{:?} retryable={}] {e}", e.status(), e.is_retryable()))
            .collect();
        insta::assert_snapshot!(text.join("\n"));
    }

    #[test]
    fn helpers() {
        let api = Error::Api {
            status: 404,
            errors: vec![ApiError {
                code: "not_found|order".into(),
                message: "no such order".into(),
            }],
        };
        assert_eq!(api.status(), Some(404));
        assert!(!api.is_retryable());
        assert_eq!(api.api_codes(), vec!["not_found|order"]);
        assert_eq!(
            api.to_string(),
            "api error (http 404): not_found|order: no such order"
        );
        let limited = Error::RateLimited {
            retry_after: Some(Duration::from_secs(3)),
        };
        assert!(limited.is_retryable());
        assert_eq!(limited.status(), Some(429));
        assert_eq!(
            limited.to_string(),
            "rate limited by the server (retry after 3 s)"
        );
        let decode = Error::Decode {
            status: 503,
            snippet: "<html>".into(),
        };
        assert!(decode.is_retryable());
        let connect =
            Error::Transport(TransportError::new(TransportKind::Connect, "refused", None));
        assert!(connect.is_retryable());
        assert_eq!(connect.status(), None);
        assert_eq!(
            connect.to_string(),
            "transport error: could not connect: refused"
        );
    }
}
