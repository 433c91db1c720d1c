//! Every constraint of a DigiCert CertCentral client-certificate order, checked before any
//! paid call, with **all** violations reported at once.
//!
//! - [`validate_json`] checks raw bytes (a web form backend, an API emulator);
//!   [`validate`] checks a typed [`OrderRequest`] (a client about to send it). Both give the
//!   same [`Report`] for the same order.
//! - Every [`Violation`] carries a JSON Pointer `path` (RFC 6901, e.g.
//!   `/certificate/emails/1`; for a missing member, the member's path), a stable `code` in
//!   DigiCert's vocabulary (see [`codes`]) and a `message` saying what is allowed.
//!   [`Violation::digicert_code`] gives the code as DigiCert's API would (`invalid_value:auto_renew`).
//! - Errors block the order; warnings (`report.warnings`) do not.
//!
//! # Rules
//!
//! 1. **Structure** — exactly the JSON Schema in `schema/order-request.schema.json`: required
//!    and unknown members, types, enums, integer ranges (`auto_renew` 0–99, positive ids),
//!    `minItems`, string lengths, `format: date` and `format: email` (see [`is_valid_email`]
//!    for the accepted subset). A property test keeps this verdict equal to the `jsonschema`
//!    crate's on the schema file; [`schema_violations`] exposes that verdict alone.
//! 2. **Beyond the schema** — integers written as floats (`1.0`); `custom_expiration_date` not
//!    before today and strictly less than the product's window after it (the request
//!    profile's `custom_expiration_days_below` in `certcentral_types::catalog`; warning when it overrides
//!    `validity_years`); `auto_renew > 0` only with `balance` payment; no duplicate email
//!    (case-insensitive); the `csr`, when given, must be a PEM `CERTIFICATE REQUEST` whose
//!    self-signature verifies, with an RSA 2048/3072/4096 or ECDSA P-256/P-384 key (feature
//!    `csr`; warning that only its public key is used); without a `csr`, a warning that the
//!    order cannot complete through the API alone.
//! 3. **Malformed JSON** — a single `bad_request_format` violation at path `""` with the
//!    parser's line and column.
//!
//! # Example
//!
//! ```
//! use certcentral_types::ProductId;
//! use certcentral_validate::{validate_json, Context};
//! use chrono::NaiveDate;
//!
//! let ctx = Context::new(ProductId::ClientPremiumSha2)
//!     .with_today(NaiveDate::from_ymd_opt(2026, 1, 15).unwrap());
//! let report = validate_json(br#"{
//!     "certificate": {
//!         "common_name": "Lock Cole",
//!         "emails": ["locke.cole@example.com", "LOCKE.COLE@example.com", "not-an-email"],
//!         "signature_hash": "sha1"
//!     },
//!     "organization": {"id": 0},
//!     "validity_years": 3,
//!     "auto_renew": 1,
//!     "payment_method": "card"
//! }"#, &ctx);
//!
//! assert!(!report.is_valid());
//! let paths: Vec<&str> = report.errors.iter().map(|v| v.path.as_str()).collect();
//! assert_eq!(paths, [
//!     "/certificate/emails/2",
//!     "/certificate/signature_hash",
//!     "/organization/id",
//!     "/validity_years",
//!     "/auto_renew",
//!     "/certificate/emails/1",
//! ]);
//! assert_eq!(report.errors[0].digicert_code(), "invalid_value:certificate.emails");
//! // No CSR: the order cannot complete through the API alone.
//! assert_eq!(report.warnings[0].code, "csr_missing");
//! ```
//!
//! # Features
//!
//! - `csr` (default): parse and verify CSRs with `x509-parser` (see [`inspect_csr`]). Without
//!   it a CSR is only checked to be a string, and a `csr_not_checked` warning says so.

#![deny(missing_docs)]

use certcentral_types::{OrderRequest, PaymentMethod, ProductId, WireEnum};
use chrono::NaiveDate;
use serde::Serialize;
use serde_json::Value;

#[cfg(feature = "csr")]
mod csr;
mod email;
mod fast;
mod pointer;
mod schema;

#[cfg(feature = "csr")]
pub use csr::{CsrError, CsrInfo, KeyAlgorithm, inspect_csr};
pub use email::is_valid_email;

/// The typed bodies this crate validates (`certcentral-types`), re-exported so one dependency
/// is enough to validate orders.
pub use certcentral_types as types;

use pointer::Ptr;

/// The stable violation codes. Field-level codes come from DigiCert's vocabulary
/// (`required_param`, `invalid_value`, `unknown_param`, `bad_request_format`,
/// `csr_invalid_cannot_parse`); the others are certcentral's own, named in the same style.
pub mod codes {
    /// Malformed JSON (error, path `""`).
    pub const BAD_REQUEST_FORMAT: &str = "bad_request_format";
    /// A required member is missing (error, path of the missing member).
    pub const REQUIRED_PARAM: &str = "required_param";
    /// A value has the wrong type, is out of range, not allowed, or breaks a rule (error).
    pub const INVALID_VALUE: &str = "invalid_value";
    /// A member the API does not know (error).
    pub const UNKNOWN_PARAM: &str = "unknown_param";
    /// The CSR is not a single PEM `CERTIFICATE REQUEST` or does not parse (error).
    pub const CSR_INVALID_CANNOT_PARSE: &str = "csr_invalid_cannot_parse";
    /// The CSR's self-signature does not verify (error).
    pub const CSR_INVALID_SIGNATURE: &str = "csr_invalid_signature";
    /// The CSR's key is not RSA 2048/3072/4096 or ECDSA P-256/P-384 (error).
    pub const CSR_UNSUPPORTED_KEY: &str = "csr_unsupported_key";
    /// Warning: DigiCert uses only the CSR's public key; the subject comes from the body.
    pub const CSR_PUBLIC_KEY_ONLY: &str = "csr_public_key_only";
    /// Warning: no CSR, so the key is generated in a browser and the order cannot complete
    /// through the API alone.
    pub const CSR_MISSING: &str = "csr_missing";
    /// Warning: built without the `csr` feature, so the CSR was not checked.
    pub const CSR_NOT_CHECKED: &str = "csr_not_checked";
    /// Warning: `custom_expiration_date` overrides `validity_years`.
    pub const VALIDITY_YEARS_OVERRIDDEN: &str = "validity_years_overridden";
}

/// Longest custom validity of the seed products: `custom_expiration_date` must be strictly
/// less than this many days after today. The rule applied is the one of
/// [`Context::product`]'s request profile (`certcentral_types::catalog`).
pub const MAX_CUSTOM_EXPIRATION_DAYS: u64 =
    certcentral_types::catalog::PROFILE_CLIENT_CERTIFICATE.custom_expiration_days_below;

/// What a validation run knows beyond the order itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
    /// The product being ordered (the `client_certificate_id` path parameter). Its catalog
    /// entry ([`ProductId::spec`]) selects the rules beyond the schema (the custom-expiration
    /// window of its request profile); the four seed products share one profile.
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
    /// All codes are listed in [`codes`].
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
                codes::REQUIRED_PARAM | codes::INVALID_VALUE | codes::UNKNOWN_PARAM
            )
        {
            self.code.clone()
        } else {
            format!("{}:{dotted}", self.code)
        }
    }
}

impl std::fmt::Display for Violation {
    /// `path: message (code)`, the CLI's text format (`(root)` for the empty path).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = if self.path.is_empty() {
            "(root)"
        } else {
            &self.path
        };
        write!(f, "{path}: {} ({})", self.message, self.code)
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

/// Which family a rule belongs to: the JSON Schema's, or the ones it cannot express.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rule {
    Schema,
    Extra,
}

/// Violations collected during one run, errors tagged with their rule family.
#[derive(Default)]
pub(crate) struct Findings {
    pub(crate) errors: Vec<(Rule, Violation)>,
    pub(crate) warnings: Vec<Violation>,
}

impl Findings {
    pub(crate) fn error(&mut self, rule: Rule, path: &Ptr<'_>, code: &str, message: String) {
        self.errors.push((
            rule,
            Violation {
                path: path.render(),
                code: code.to_owned(),
                message,
            },
        ));
    }

    fn warning(&mut self, path: &Ptr<'_>, code: &str, message: String) {
        self.warnings.push(Violation {
            path: path.render(),
            code: code.to_owned(),
            message,
        });
    }

    pub(crate) fn into_report(self) -> Report {
        Report {
            errors: self.errors.into_iter().map(|(_, v)| v).collect(),
            warnings: self.warnings,
        }
    }
}

/// Validates raw JSON bytes as an order body: every rule, every violation.
pub fn validate_json(bytes: &[u8], ctx: &Context) -> Report {
    if let Some(report) = fast::try_validate(bytes, ctx) {
        return report;
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(doc) => validate_value(&doc, ctx),
        Err(err) => Report {
            errors: vec![Violation {
                path: String::new(),
                code: codes::BAD_REQUEST_FORMAT.to_owned(),
                message: format!("the body is not valid JSON: {err} (a JSON object is expected)"),
            }],
            warnings: Vec::new(),
        },
    }
}

/// Validates an already parsed JSON document as an order body.
pub fn validate_value(doc: &Value, ctx: &Context) -> Report {
    let mut findings = Findings::default();
    schema::check_order(doc, &mut findings);
    if let Some(order) = doc.as_object() {
        check_rules(&facts_from_value(order), ctx, &mut findings);
    }
    findings.into_report()
}

/// Validates a typed order. Gives the same report as [`validate_json`] on the order's JSON.
pub fn validate(order: &OrderRequest, ctx: &Context) -> Report {
    match serde_json::to_vec(order) {
        Ok(bytes) => validate_json(&bytes, ctx),
        Err(err) => Report {
            errors: vec![Violation {
                path: String::new(),
                code: codes::BAD_REQUEST_FORMAT.to_owned(),
                message: format!("the order cannot be serialized: {err}"),
            }],
            warnings: Vec::new(),
        },
    }
}

/// The violations of the JSON Schema `schema/order-request.schema.json` alone, i.e. the
/// verdict the `jsonschema` crate gives (formats on), with paths and messages. The rules the
/// schema cannot express (dates against today, payment, duplicates, CSR content, integers
/// written as floats) are not included: use [`validate_value`] for the full check.
pub fn schema_violations(doc: &Value) -> Vec<Violation> {
    schema::schema_only(doc)
}

/// What the rules beyond the schema look at, extracted from either parse.
pub(crate) struct Facts<'a> {
    /// `custom_expiration_date`, when it is a valid `format: date`.
    pub(crate) date: Option<NaiveDate>,
    /// Whether `validity_years` is present.
    pub(crate) has_validity_years: bool,
    /// `auto_renew` as written, when it is an integer > 0.
    pub(crate) auto_renew_positive: Option<String>,
    /// The effective payment method (`balance` when absent), when it is a string.
    pub(crate) payment: Option<&'a str>,
    /// Whether `certificate` is an object.
    pub(crate) certificate: bool,
    /// The emails that are strings, with their index.
    pub(crate) emails: Vec<(usize, &'a str)>,
    /// The `csr` member.
    pub(crate) csr: CsrField<'a>,
}

/// The `csr` member of the certificate.
pub(crate) enum CsrField<'a> {
    Absent,
    Text(&'a str),
    NotText,
}

fn facts_from_value(order: &serde_json::Map<String, Value>) -> Facts<'_> {
    let certificate = order.get("certificate").and_then(Value::as_object);
    Facts {
        date: order
            .get("custom_expiration_date")
            .and_then(Value::as_str)
            .and_then(schema::parse_date),
        has_validity_years: order.contains_key("validity_years"),
        auto_renew_positive: order.get("auto_renew").and_then(positive_integer),
        payment: match order.get("payment_method") {
            None => Some(PaymentMethod::Balance.as_str()),
            Some(value) => value.as_str(),
        },
        certificate: certificate.is_some(),
        emails: certificate
            .and_then(|c| c.get("emails"))
            .and_then(Value::as_array)
            .map(|emails| {
                emails
                    .iter()
                    .enumerate()
                    .filter_map(|(i, e)| e.as_str().map(|e| (i, e)))
                    .collect()
            })
            .unwrap_or_default(),
        csr: match certificate.and_then(|c| c.get("csr")) {
            None => CsrField::Absent,
            Some(Value::String(pem)) => CsrField::Text(pem),
            Some(_) => CsrField::NotText,
        },
    }
}

/// The rules JSON Schema cannot express. Each looks only at values that passed the schema
/// rules, so a wrong type is reported once.
pub(crate) fn check_rules(facts: &Facts<'_>, ctx: &Context, findings: &mut Findings) {
    let root = Ptr::ROOT;

    // custom_expiration_date: not in the past, strictly less than the product's window after
    // today.
    let window = ctx.product.spec().profile.custom_expiration_days_below;
    if let Some(date) = facts.date {
        let path = root.key("custom_expiration_date");
        let limit = ctx.today.checked_add_days(chrono::Days::new(window));
        if date < ctx.today {
            findings.error(
                Rule::Extra,
                &path,
                codes::INVALID_VALUE,
                format!(
                    "{date} is in the past; must be from {} (today, UTC) to {} (less than {window} days after today)",
                    ctx.today,
                    last_allowed(ctx.today, window),
                ),
            );
        } else if limit.is_none_or(|limit| date >= limit) {
            findings.error(
                Rule::Extra,
                &path,
                codes::INVALID_VALUE,
                format!(
                    "{date} is too far in the future; must be less than {window} days after today ({}), i.e. {} at the latest",
                    ctx.today,
                    last_allowed(ctx.today, window),
                ),
            );
        }
        if facts.has_validity_years {
            findings.warning(
                &root.key("validity_years"),
                codes::VALIDITY_YEARS_OVERRIDDEN,
                "`custom_expiration_date` is given, so it sets the end date and `validity_years` is ignored".to_owned(),
            );
        }
    }

    // auto_renew > 0 only with balance payment (the default).
    if let (Some(renewals), Some(payment)) = (&facts.auto_renew_positive, facts.payment)
        && payment != PaymentMethod::Balance.as_str()
        && PaymentMethod::from_wire(payment).is_some()
    {
        findings.error(
            Rule::Extra,
            &root.key("auto_renew"),
            codes::INVALID_VALUE,
            format!(
                "auto_renew is {renewals} but payment_method is `{payment}`: only orders paid from the account balance can auto-renew; set auto_renew to 0 or payment_method to `balance`"
            ),
        );
    }

    if !facts.certificate {
        return;
    }
    let cert_path = root.key("certificate");
    check_duplicate_emails(&facts.emails, &cert_path, findings);

    let csr_path = cert_path.key("csr");
    match facts.csr {
        CsrField::Absent => findings.warning(
            &csr_path,
            codes::CSR_MISSING,
            "no CSR: the recipient must generate the key in a browser, so the order cannot complete through the API alone".to_owned(),
        ),
        CsrField::Text(pem) => check_csr(pem, &csr_path, findings),
        CsrField::NotText => {}
    }
}

fn last_allowed(today: NaiveDate, window: u64) -> String {
    today
        .checked_add_days(chrono::Days::new(window.saturating_sub(1)))
        .map_or_else(|| "(out of calendar range)".to_owned(), |d| d.to_string())
}

/// A value that passed the schema's integer rule and is > 0, as written.
fn positive_integer(value: &Value) -> Option<String> {
    let Value::Number(n) = value else {
        return None;
    };
    let positive = match (n.as_i64(), n.as_u64(), n.as_f64()) {
        (Some(i), _, _) => i > 0,
        (None, Some(u), _) => u > 0,
        (None, None, Some(f)) => f > 0.0 && f.fract() == 0.0,
        _ => false,
    };
    positive.then(|| n.to_string())
}

fn check_duplicate_emails(emails: &[(usize, &str)], cert_path: &Ptr<'_>, findings: &mut Findings) {
    if emails.len() < 2 {
        return;
    }
    let emails_path = cert_path.key("emails");
    let mut seen: std::collections::HashMap<String, usize> =
        std::collections::HashMap::with_capacity(emails.len());
    for &(i, email) in emails {
        match seen.entry(email.to_lowercase()) {
            std::collections::hash_map::Entry::Occupied(first) => findings.error(
                Rule::Extra,
                &emails_path.index(i),
                codes::INVALID_VALUE,
                format!(
                    "`{}` duplicates /certificate/emails/{} (emails compare case-insensitively); list each address once",
                    email.escape_debug(),
                    first.get()
                ),
            ),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(i);
            }
        }
    }
}

#[cfg(feature = "csr")]
fn check_csr(pem: &str, path: &Ptr<'_>, findings: &mut Findings) {
    match inspect_csr(pem) {
        Ok(info) => findings.warning(
            path,
            codes::CSR_PUBLIC_KEY_ONLY,
            format!(
                "DigiCert uses only the CSR's public key ({}); the subject and every other detail come from the order body",
                info.key
            ),
        ),
        Err(err) => findings.error(Rule::Extra, path, err.code(), err.to_string()),
    }
}

#[cfg(not(feature = "csr"))]
fn check_csr(_pem: &str, path: &Ptr<'_>, findings: &mut Findings) {
    findings.warning(
        path,
        codes::CSR_NOT_CHECKED,
        "the CSR was not checked (certcentral-validate built without the `csr` feature); DigiCert uses only its public key".to_owned(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context::new(ProductId::ClientPremiumSha2)
            .with_today(NaiveDate::from_ymd_opt(2026, 1, 15).unwrap_or_default())
    }

    const WITH_PLACEHOLDER_CSR: &[u8] = br#"{"certificate": {"common_name": "A",
        "emails": ["a@b.co"], "signature_hash": "sha256", "csr": "<csr>"},
        "organization": {"id": 1}, "validity_years": 1}"#;

    #[cfg(feature = "csr")]
    #[test]
    fn csr_content_is_checked() {
        let report = validate_json(WITH_PLACEHOLDER_CSR, &ctx());
        assert_eq!(report.errors.len(), 1);
        assert_eq!(report.errors[0].code, codes::CSR_INVALID_CANNOT_PARSE);
    }

    #[cfg(not(feature = "csr"))]
    #[test]
    fn without_the_feature_the_csr_is_not_checked_and_says_so() {
        let report = validate_json(WITH_PLACEHOLDER_CSR, &ctx());
        assert!(report.is_valid());
        assert_eq!(report.warnings.len(), 1);
        assert_eq!(report.warnings[0].code, codes::CSR_NOT_CHECKED);
        assert_eq!(report.warnings[0].path, "/certificate/csr");
    }

    #[test]
    fn violations_display_as_path_message_code() {
        let v = Violation {
            path: String::new(),
            code: codes::BAD_REQUEST_FORMAT.to_owned(),
            message: "x".to_owned(),
        };
        assert_eq!(v.to_string(), "(root): x (bad_request_format)");
        let v = Violation {
            path: "/auto_renew".to_owned(),
            code: codes::INVALID_VALUE.to_owned(),
            message: "y".to_owned(),
        };
        assert_eq!(v.to_string(), "/auto_renew: y (invalid_value)");
    }
}
