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
//!   One violation per path and code: a member two rules need is missing once, with both
//!   reasons; a value that breaks two rules of the same code is one message saying both.
//! - Errors block the order; warnings (`report.warnings`) do not.
//!
//! # Rules
//!
//! The rules are the schema `schema/order-request.schema.json`, embedded and run by the
//! `jsonschema` crate (default features off: no HTTP or file resolving), so the schema's
//! verdict and this crate's agree by construction. No rule is written here:
//!
//! 1. **Standard keywords** — required and unknown members, types, enums, ranges
//!    (`auto_renew` 0–99, positive ids), `minItems`, string lengths, the name pattern (no
//!    control or bidirectional-override characters, no padding), the email grammar
//!    (`pattern`, see [`is_valid_email`]), `format: date`, "`validity_years` or
//!    `custom_expiration_date`" (`anyOf`) and `auto_renew` only with `balance` payment
//!    (`if`/`then`).
//! 2. **Custom keywords** declared in the schema and implemented once here (documented in
//!    `schema/README.md`): `x-plain-integer` (integers written as integers, not `1.0`),
//!    `x-max-days-ahead` (`custom_expiration_date` from today to 824 days after it),
//!    `x-unique-ignoring-case` (no duplicate email) and `x-csr` (a PEM `CERTIFICATE REQUEST`
//!    whose self-signature verifies, with a key the schema lists; feature `csr`).
//! 3. **The body itself** — malformed JSON gives a single `bad_request_format` violation at
//!    path `""` with the parser's line and column; a member written twice in one object is
//!    an error at its path; a leading UTF-8 byte order mark is skipped; bodies over
//!    [`MAX_ORDER_BODY_BYTES`] are refused.
//!
//! Warnings: a CSR's public key is all DigiCert uses (`csr_public_key_only`), no CSR means
//! the order cannot complete through the API alone (`csr_missing`), `custom_expiration_date`
//! overrides `validity_years` (`validity_years_overridden`).
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
//! let paths: Vec<&str> = report.errors.iter().map(|v| &*v.path).collect();
//! assert_eq!(paths, [
//!     "/certificate/emails/2",
//!     "/certificate/emails/1",
//!     "/certificate/signature_hash",
//!     "/organization/id",
//!     "/validity_years",
//!     "/auto_renew",
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
//! - `clap`: [`fields::OrderFields`] derives `clap::Args` (the order's fields as flags, as
//!   `certcentral order` takes them, with their help and value parsers).

#![deny(missing_docs)]

use certcentral_types::{OrderRequest, ProductId};
use chrono::NaiveDate;
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;

#[cfg(feature = "csr")]
mod csr;
mod describe;
mod email;
mod engine;
pub mod fields;
mod parse;
mod report;
mod unknown;

#[cfg(feature = "csr")]
pub use csr::{CsrError, CsrInfo, KeyAlgorithm, inspect_csr};
pub use email::is_valid_email;

/// The typed bodies this crate validates (`certcentral-types`), re-exported so one dependency
/// is enough to validate orders.
pub use certcentral_types as types;

use report::Origin;

/// Largest order body [`validate_json`] reads, in bytes (1 MiB); a larger body is refused
/// with a `bad_request_format` violation before it is parsed.
pub const MAX_ORDER_BODY_BYTES: usize = 1024 * 1024;

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
    /// Warning: `custom_expiration_date` overrides `validity_days`.
    pub const VALIDITY_DAYS_OVERRIDDEN: &str = "validity_days_overridden";
    /// Warning: the product is deprecated; the message names its replacement. A deprecated
    /// product is never refused by certcentral.
    pub const PRODUCT_DEPRECATED: &str = "product_deprecated";
    /// Warning (with unknown members and products allowed): the product id is not in the
    /// catalog; the order is sent to it as given. Without the allowance it is an error.
    pub const UNKNOWN_PRODUCT: &str = "unknown_product";
}

/// What a validation run knows beyond the order itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
    /// The product being ordered (the `product_name_id` path parameter). It selects the body
    /// (its catalog request profile: the seed's body or the Secure Email body) and the
    /// product's own rules (its catalog `rules`: required and forbidden members, warnings),
    /// all in the schema; see [`product_schema`].
    pub product: ProductId,
    /// "Today" in UTC, for date rules. [`Context::new`] reads the system clock.
    pub today: NaiveDate,
    /// The escape hatch for what DigiCert adds before certcentral does: members the schema
    /// does not know become `unknown_param` warnings instead of errors (the body is then sent
    /// as given). Off by default. Also needed by [`Context::unknown_product`].
    pub allow_unknown: bool,
    /// A product id the catalog does not know (DigiCert added it before certcentral did):
    /// the order is for it, and [`Context::product`] is not used. It has no rules here, so the
    /// body is checked as a body certcentral knows, without any product's rules: the Secure
    /// Email body when it has `certificate.usage_designation`, else the seed's body
    /// ([`body_kind`]). With [`Context::allow_unknown`] an `unknown_product` warning (path
    /// `""`) names the catalog's ids and the body checked; without it the order is refused
    /// with an `unknown_product` error. `None` (the default): the order is for `product`.
    pub unknown_product: Option<String>,
}

impl Context {
    /// A context for `product`, with today's UTC date from the system clock.
    pub fn new(product: ProductId) -> Self {
        Self {
            product,
            today: chrono::Utc::now().date_naive(),
            allow_unknown: false,
            unknown_product: None,
        }
    }

    /// A context for the product named `product_name_id` (the order's path parameter): the
    /// catalog product of that id, or, for an id the catalog does not know,
    /// [`Context::unknown_product`] (refused unless [`Context::allow_unknown`] is set too).
    pub fn for_product_id(product_name_id: &str) -> Self {
        match product_name_id.parse::<ProductId>() {
            Ok(product) => Self::new(product),
            Err(_) => Self {
                unknown_product: Some(product_name_id.to_owned()),
                ..Self::new(certcentral_types::catalog::DEFAULT_PRODUCT)
            },
        }
    }

    /// The product id the order goes to: [`Context::unknown_product`] or the product's id.
    pub fn product_name_id(&self) -> &str {
        self.unknown_product
            .as_deref()
            .unwrap_or(self.product.as_str())
    }

    /// The same context with an injected "today".
    pub fn with_today(mut self, today: NaiveDate) -> Self {
        self.today = today;
        self
    }

    /// The same context with unknown members as warnings ([`Context::allow_unknown`]).
    pub fn with_allow_unknown(mut self, allow: bool) -> Self {
        self.allow_unknown = allow;
        self
    }
}

pub use engine::{MemberRule, member_rule, product_schema};

/// One problem found in an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// JSON Pointer (RFC 6901) to the offending value; for a missing member, the member's path.
    pub path: Cow<'static, str>,
    /// Stable machine code, in DigiCert's vocabulary where it fits (`required_param`,
    /// `invalid_value`, `unknown_param`, `bad_request_format`, `csr_invalid_cannot_parse`, …).
    /// All codes are listed in [`codes`].
    pub code: Cow<'static, str>,
    /// What is wrong and what is allowed, for people.
    pub message: Cow<'static, str>,
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
                &*self.code,
                codes::REQUIRED_PARAM | codes::INVALID_VALUE | codes::UNKNOWN_PARAM
            )
        {
            self.code.clone().into_owned()
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

fn bad_request_format(message: String) -> Report {
    Report {
        errors: vec![Violation {
            path: Cow::Borrowed(""),
            code: Cow::Borrowed(codes::BAD_REQUEST_FORMAT),
            message: message.into(),
        }],
        warnings: Vec::new(),
    }
}

/// Validates raw JSON bytes as an order body: every rule, every violation. A leading UTF-8
/// byte order mark is skipped; a member written twice in one object is an error at its path.
pub fn validate_json(bytes: &[u8], ctx: &Context) -> Report {
    if bytes.len() > MAX_ORDER_BODY_BYTES {
        return bad_request_format(format!(
            "the body is {} bytes; at most {MAX_ORDER_BODY_BYTES} bytes (1 MiB) are accepted",
            bytes.len()
        ));
    }
    match parse::parse(bytes) {
        Ok(parsed) => {
            let mut report = validate_value(&parsed.doc, ctx);
            if !parsed.duplicates.is_empty() {
                let mut errors: Vec<Violation> = parsed
                    .duplicates
                    .into_iter()
                    .map(|path| {
                        let name = path.rsplit('/').next().unwrap_or_default().to_owned();
                        Violation {
                            message: format!(
                                "`{}` is given more than once in the same object; give each member once",
                                name.replace("~1", "/").replace("~0", "~").escape_debug()
                            )
                            .into(),
                            path: path.into(),
                            code: Cow::Borrowed(codes::INVALID_VALUE),
                        }
                    })
                    .collect();
                errors.append(&mut report.errors);
                report.errors = errors;
            }
            report
        }
        Err(err) => bad_request_format(format!(
            "the body is not valid JSON: {err} (a JSON object is expected)"
        )),
    }
}

/// Validates an already parsed JSON document as an order body.
pub fn validate_value(doc: &Value, ctx: &Context) -> Report {
    validate_doc(doc, ctx, Pass::One)
}

/// How [`checked`] asks the engine for errors.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// One pass collecting every error (none for a valid order): for bodies as received,
    /// which are often invalid.
    One,
    /// The engine's verdict first (its cheapest pass), the errors only when it is no: for
    /// bodies that certcentral's own builders made, which are valid unless their input was.
    VerdictFirst,
}

/// [`validate_value`] with the engine asked as `pass` says.
fn validate_doc(doc: &Value, ctx: &Context, pass: Pass) -> Report {
    if let Some(id) = &ctx.unknown_product {
        return unknown::check(doc, id, ctx);
    }
    engine::with_validator(ctx.today, ctx.product, |compiled| {
        checked(
            doc,
            ctx,
            &compiled.validator,
            &compiled.root,
            Some(compiled),
            pass,
        )
    })
}

/// Which typed body `doc` is validated as under `ctx` (and so which [`types::OrderBody`] to
/// read it into): the product's request profile, or for [`Context::unknown_product`] the
/// Secure Email body when `doc` has `certificate.usage_designation`, else the seed's body.
pub fn body_kind(doc: &Value, ctx: &Context) -> certcentral_types::catalog::BodyKind {
    match ctx.unknown_product {
        Some(_) => unknown::body_for(doc),
        None => ctx.product.spec().profile.body,
    }
}

/// The report of `doc` checked with `validator` (whose body schema is at `root` in the
/// schema file): every error, then the warnings: the body's, the `product`'s own (deprecated,
/// its rule set's `x-warnings`), and the unknown members when [`Context::allow_unknown`]
/// turns them into warnings.
pub(crate) fn checked(
    doc: &Value,
    ctx: &Context,
    validator: &jsonschema::Validator,
    root: &str,
    product: Option<&engine::ProductValidator>,
    pass: Pass,
) -> Report {
    // `Pass::One`: the engine collects every error (none for a valid order); an `is_valid`
    // pass first would walk an invalid order twice.
    let mut errors = if pass == Pass::VerdictFirst && validator.is_valid(doc) {
        Vec::new()
    } else {
        report::violations(doc, root, validator.iter_errors(doc), |_| true)
    };
    let mut warnings = Vec::new();
    if ctx.allow_unknown {
        let (unknown, rest): (Vec<Violation>, Vec<Violation>) = errors
            .into_iter()
            .partition(|v| v.code == codes::UNKNOWN_PARAM);
        errors = rest;
        warnings.extend(unknown.into_iter().map(|mut v| {
            v.message
                .to_mut()
                .push_str("; sent as given because unknown members are allowed (--allow-unknown)");
            v
        }));
    }
    let mut all = self::warnings(doc, &errors);
    if let Some(product) = product {
        product_warnings(doc, product, &mut all);
    }
    all.append(&mut warnings);
    Report {
        errors,
        warnings: all,
    }
}

/// Validates a typed order of the seed's body. Gives the same report as [`validate_json`]
/// on the order's JSON.
pub fn validate(order: &OrderRequest, ctx: &Context) -> Report {
    match serde_json::to_value(order) {
        Ok(doc) => validate_value(&doc, ctx),
        Err(err) => bad_request_format(format!("the order cannot be serialized: {err}")),
    }
}

/// Validates a typed order body of any request profile (the seed's body or the Secure Email
/// body). Gives the same report as [`validate_json`] on the body's JSON.
///
/// The body comes from a builder, so it is valid unless its input was: the engine gives
/// its verdict first and walks the body again for the errors only when it is no.
pub fn validate_body(body: &certcentral_types::OrderBody, ctx: &Context) -> Report {
    match serde_json::to_value(body) {
        Ok(doc) => validate_doc(&doc, ctx, Pass::VerdictFirst),
        Err(err) => bad_request_format(format!("the order cannot be serialized: {err}")),
    }
}

/// The warning that `product` is deprecated (naming the replacement), if it is.
pub(crate) fn deprecation(product: ProductId) -> Option<Violation> {
    let spec = product.spec();
    let certcentral_types::catalog::Status::Deprecated { since, replacement } = spec.status else {
        return None;
    };
    // The text depends on the product alone: made once per product and kept for the
    // process (a handful of catalog entries), so a warning copies a pointer, not the text.
    static TEXTS: std::sync::Mutex<Vec<(ProductId, &'static str)>> =
        std::sync::Mutex::new(Vec::new());
    let mut texts = TEXTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let text = match texts.iter().find(|(p, _)| *p == product) {
        Some((_, text)) => *text,
        None => {
            let text: &'static str = Box::leak(
                format!(
                    "`{}` ({}) is deprecated since {since}: DigiCert replaced it with `{}` ({}), which takes the Secure Email body; certcentral still sends this order, but DigiCert may refuse it",
                    product.as_str(),
                    spec.name,
                    replacement.as_str(),
                    replacement.spec().name
                )
                .into_boxed_str(),
            );
            texts.push((product, text));
            text
        }
    };
    Some(warning("", codes::PRODUCT_DEPRECATED, text))
}

/// Appends the warnings that come from the product: deprecated (computed with the
/// validator), and the `x-warnings` of its rule set in the schema.
fn product_warnings(doc: &Value, compiled: &engine::ProductValidator, out: &mut Vec<Violation>) {
    out.extend(compiled.deprecated.clone());
    for rule in &compiled.warnings {
        if rule.when.is_valid(doc) {
            out.push(warning(rule.path, rule.code, rule.message));
        }
    }
}

/// The violations of the standard JSON Schema keywords of `product`'s schema
/// ([`product_schema`]) alone: what a validator that ignores the schema's custom keywords
/// reports (Python's `jsonschema` with its format checker, for example), with paths and
/// messages. Use [`validate_value`] for the full check.
pub fn schema_violations(doc: &Value, product: ProductId) -> Vec<Violation> {
    let compiled = engine::validator(chrono::Utc::now().date_naive(), product);
    report::violations(
        doc,
        &compiled.root,
        compiled.validator.iter_errors(doc),
        |origin| origin == Origin::Standard,
    )
}

fn warning(
    path: &'static str,
    code: &'static str,
    message: impl Into<Cow<'static, str>>,
) -> Violation {
    Violation {
        path: Cow::Borrowed(path),
        code: Cow::Borrowed(code),
        message: message.into(),
    }
}

/// The warnings about an order: facts worth knowing that do not block it.
fn warnings(doc: &Value, errors: &[Violation]) -> Vec<Violation> {
    let mut warnings = Vec::with_capacity(4);
    let failed = |path: &str| errors.iter().any(|e| e.path == path);
    // The members these warnings look at, in one pass over the body's members (a handful)
    // rather than a search of the map for each.
    let (mut date, mut days, mut years, mut certificate) = (None, None, None, None);
    for (name, value) in doc.as_object().into_iter().flatten() {
        match name.as_str() {
            "custom_expiration_date" => date = Some(value),
            "validity_days" => days = Some(value),
            "validity_years" => years = Some(value),
            "certificate" => certificate = Some(value),
            _ => {}
        }
    }
    let given_days = days.is_some();
    let date = date
        .and_then(Value::as_str)
        .and_then(engine::parse_date)
        .is_some();
    let days = days.is_some_and(Value::is_u64);
    if (date || days) && years.is_some() {
        let by = if date {
            "`custom_expiration_date` is given, so it sets the end date"
        } else {
            "`validity_days` is given, so it sets the validity"
        };
        warnings.push(warning(
            "/validity_years",
            codes::VALIDITY_YEARS_OVERRIDDEN,
            format!("{by} and `validity_years` is ignored"),
        ));
    }
    if date && given_days {
        warnings.push(warning(
            "/validity_days",
            codes::VALIDITY_DAYS_OVERRIDDEN,
            "`custom_expiration_date` is given, so it sets the end date and `validity_days` is ignored",
        ));
    }
    let Some(certificate) = certificate.and_then(Value::as_object) else {
        return warnings;
    };
    match certificate.get("csr") {
        None => warnings.push(warning(
            "/certificate/csr",
            codes::CSR_MISSING,
            "no CSR: the recipient must generate the key in a browser, so the order cannot complete through the API alone",
        )),
        Some(Value::String(pem)) if !failed("/certificate/csr") => {
            if let Some(w) = csr_warning(pem) {
                warnings.push(w);
            }
        }
        Some(_) => {}
    }
    warnings
}

#[cfg(feature = "csr")]
fn csr_warning(pem: &str) -> Option<Violation> {
    let key = csr::key_of(pem)?;
    Some(warning(
        "/certificate/csr",
        codes::CSR_PUBLIC_KEY_ONLY,
        format!(
            "DigiCert uses only the CSR's public key ({}); the subject and every other detail come from the order body",
            key
        ),
    ))
}

#[cfg(not(feature = "csr"))]
fn csr_warning(_pem: &str) -> Option<Violation> {
    Some(warning(
        "/certificate/csr",
        codes::CSR_NOT_CHECKED,
        "the CSR was not checked (certcentral-validate built without the `csr` feature); DigiCert uses only its public key",
    ))
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
    fn oversized_bodies_are_refused_before_parsing() {
        let body = vec![b' '; MAX_ORDER_BODY_BYTES + 1];
        let report = validate_json(&body, &ctx());
        assert_eq!(report.errors.len(), 1);
        assert_eq!(report.errors[0].code, codes::BAD_REQUEST_FORMAT);
        assert!(
            report.errors[0].message.contains("1048577 bytes"),
            "{report:?}"
        );
    }

    #[test]
    fn member_rules_come_from_the_product_schema() {
        use certcentral_types::ProductId as P;
        assert_eq!(
            member_rule(P::ClientAuthenticationPlus, "/certificate/common_name"),
            MemberRule::Required
        );
        assert!(matches!(
            member_rule(P::Class1Smime, "/certificate/common_name"),
            MemberRule::Forbidden(reason) if reason.contains("first email address")
        ));
        assert!(matches!(
            member_rule(P::SecureEmailSponsor, "/certificate/common_name"),
            MemberRule::Forbidden(reason) if reason.contains("SecureEmailOrderRequest")
        ));
        assert_eq!(
            member_rule(P::SecureEmailSponsor, "/certificate/individual"),
            MemberRule::Required
        );
        assert_eq!(
            member_rule(P::SecureEmailMailbox, "/certificate/individual"),
            MemberRule::Optional
        );
        assert_eq!(
            member_rule(P::SecureEmailSponsor, "/organization"),
            MemberRule::Required
        );
        assert_eq!(
            member_rule(P::ClientPremium, "/certificate/common_name_indicator"),
            MemberRule::Required
        );
    }

    #[test]
    fn violations_display_as_path_message_code() {
        let v = Violation {
            path: "".into(),
            code: codes::BAD_REQUEST_FORMAT.into(),
            message: "x".into(),
        };
        assert_eq!(v.to_string(), "(root): x (bad_request_format)");
        let v = Violation {
            path: "/auto_renew".into(),
            code: codes::INVALID_VALUE.into(),
            message: "y".into(),
        };
        assert_eq!(v.to_string(), "/auto_renew: y (invalid_value)");
    }
}
