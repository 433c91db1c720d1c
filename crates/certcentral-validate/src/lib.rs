//! Every constraint of a CertCentral client-certificate order, checked before any paid call.
//!
//! NOTE: this is the public API skeleton; the rules are being filled in (issue 3).

#![deny(missing_docs)]

use certcentral_types::{OrderRequest, ProductId};
use chrono::NaiveDate;
use serde::Serialize;

/// What a validation run knows beyond the order itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
    /// The product being ordered (the `client_certificate_id` path parameter).
    pub product: ProductId,
    /// "Today" in UTC, for date rules. [`Context::new`] reads the system clock.
    pub today: NaiveDate,
}

impl Context {
    /// A context for `product`, with today's UTC date from the system clock.
    pub fn new(product: ProductId) -> Self {
        Self {
            product,
            today: chrono::Utc::now().date_naive(),
        }
    }

    /// The same context with an injected "today".
    pub fn with_today(mut self, today: NaiveDate) -> Self {
        self.today = today;
        self
    }
}

/// One problem found in an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// JSON Pointer (RFC 6901) to the offending value; for a missing member, the member's path.
    pub path: String,
    /// Stable machine code, in DigiCert's vocabulary where it fits (`required_param`,
    /// `invalid_value`, `unknown_param`, `bad_request_format`, `csr_invalid_cannot_parse`, …).
    pub code: String,
    /// What is wrong and what is allowed, for people.
    pub message: String,
}

impl Violation {
    /// The code as DigiCert's API would report it: `code:dotted.path` for field errors
    /// (`required_param:certificate.common_name`), the bare code otherwise.
    pub fn digicert_code(&self) -> String {
        let dotted = self
            .path
            .trim_start_matches('/')
            .split('/')
            .filter(|segment| !segment.is_empty() && !segment.bytes().all(|b| b.is_ascii_digit()))
            .collect::<Vec<_>>()
            .join(".");
        if dotted.is_empty()
            || !matches!(
                self.code.as_str(),
                "required_param" | "invalid_value" | "unknown_param"
            )
        {
            self.code.clone()
        } else {
            format!("{}:{dotted}", self.code)
        }
    }
}

/// Every error and warning found in one order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Problems that make the order unacceptable.
    pub errors: Vec<Violation>,
    /// Facts worth knowing that do not block the order.
    pub warnings: Vec<Violation>,
}

impl Report {
    /// Whether the order is acceptable (no errors; warnings allowed).
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Validates raw JSON bytes as an order body.
pub fn validate_json(bytes: &[u8], ctx: &Context) -> Report {
    let _ = ctx;
    let mut report = Report::default();
    if let Err(err) = serde_json::from_slice::<serde_json::Value>(bytes) {
        report.errors.push(Violation {
            path: String::new(),
            code: "bad_request_format".into(),
            message: format!("the body is not valid JSON: {err}"),
        });
    }
    report
}

/// Validates a typed order.
pub fn validate(order: &OrderRequest, ctx: &Context) -> Report {
    match serde_json::to_vec(order) {
        Ok(bytes) => validate_json(&bytes, ctx),
        Err(err) => Report {
            errors: vec![Violation {
                path: String::new(),
                code: "bad_request_format".into(),
                message: format!("the order cannot be serialized: {err}"),
            }],
            warnings: Vec::new(),
        },
    }
}
