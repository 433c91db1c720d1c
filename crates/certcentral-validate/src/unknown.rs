//! Orders for a product id the catalog does not know ([`Context::unknown_product`]): DigiCert
//! added the product before certcentral did.
//!
//! Such a product has no rules here, so its body is checked as a body certcentral knows,
//! without any product's rule set ([`body_for`]): the **Secure Email body** when the document
//! has `certificate.usage_designation` (the one member only that body has, and requires),
//! else the **seed's body**. The rule is a function of the document alone, so the same body
//! is always checked the same way, and the `unknown_product` warning names the body and why.
//! (Trying the other body when the first one fails was rejected: the seed's body would take a
//! Secure Email body with a wrong `usage_designation` as an unknown member, hiding the error.)
//! Unknown members are warnings as for any product ([`Context::allow_unknown`], which unknown
//! products need).

use std::sync::{Arc, Mutex};

use certcentral_types::catalog::{
    BodyKind, PROFILE_CLIENT_CERTIFICATE, PROFILE_SECURE_EMAIL, RequestProfile,
};
use certcentral_types::{ProductId, WireEnum};
use chrono::NaiveDate;
use jsonschema::Validator;
use serde_json::{Map, Value, json};

use crate::{Context, Report, codes, engine, warning};

/// The request profile of `kind`.
fn profile(kind: BodyKind) -> &'static RequestProfile {
    match kind {
        BodyKind::ClientCertificate => &PROFILE_CLIENT_CERTIFICATE,
        BodyKind::SecureEmail => &PROFILE_SECURE_EMAIL,
    }
}

/// The JSON Pointer, in the schema file, of `kind`'s body schema.
pub(crate) fn root(kind: BodyKind) -> String {
    profile(kind)
        .root
        .map_or_else(String::new, |root| format!("/$defs/{root}"))
}

/// The body schema of `kind` alone (no product's rule set): the schema file, whose root is
/// the seed's body, or a document pointing at the profile's `$defs` entry.
fn body_schema(kind: BodyKind) -> Value {
    match profile(kind).root {
        None => engine::SCHEMA.clone(),
        Some(root) => {
            let mut doc = Map::new();
            for key in ["$schema", "$id", "$defs"] {
                if let Some(value) = engine::SCHEMA.get(key) {
                    doc.insert(key.to_owned(), value.clone());
                }
            }
            doc.insert(
                "allOf".to_owned(),
                json!([{"$ref": format!("#/$defs/{root}")}]),
            );
            Value::Object(doc)
        }
    }
}

/// Compiled body validators, one per (`today`, body) seen recently.
#[allow(clippy::type_complexity)]
static CACHE: Mutex<Vec<(NaiveDate, BodyKind, Arc<Validator>)>> = Mutex::new(Vec::new());

/// The validator of `kind`'s body with `today` as the date rule's reference.
pub(crate) fn validator(today: NaiveDate, kind: BodyKind) -> Arc<Validator> {
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, _, compiled)) = cache.iter().find(|(d, k, _)| *d == today && *k == kind) {
        return Arc::clone(compiled);
    }
    let compiled = Arc::new(engine::build(&body_schema(kind), today));
    if cache.len() >= 8 {
        cache.remove(0);
    }
    cache.push((today, kind, Arc::clone(&compiled)));
    compiled
}

/// Whether `id` has the shape of a product id (`letters, digits, `_` and `-`): anything else
/// cannot be put in the order's path.
fn is_product_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The known body an order for a product the catalog does not know is checked as: the
/// Secure Email body when `doc` has `certificate.usage_designation`, else the seed's body.
pub(crate) fn body_for(doc: &Value) -> BodyKind {
    if doc.pointer("/certificate/usage_designation").is_some() {
        BodyKind::SecureEmail
    } else {
        BodyKind::ClientCertificate
    }
}

/// The report of `doc` as an order for the unknown product `id`.
pub(crate) fn check(doc: &Value, id: &str, ctx: &Context) -> Report {
    let kind = body_for(doc);
    let refused = |message: String| Report {
        errors: vec![warning("", codes::UNKNOWN_PRODUCT, message)],
        warnings: Vec::new(),
    };
    if !is_product_id(id) {
        return refused(format!(
            "{:?} is not a product id (1 to 100 letters, digits, `_` or `-`); catalog products: {}",
            id,
            ProductId::allowed()
        ));
    }
    if !ctx.allow_unknown {
        return refused(format!(
            "`{id}` is not a product certcentral knows (catalog: {}); allow unknown products and members (--allow-unknown) to send the order to it as given",
            ProductId::allowed()
        ));
    }
    let why = match kind {
        BodyKind::SecureEmail => "it has `certificate.usage_designation`",
        BodyKind::ClientCertificate => "it has no `certificate.usage_designation`",
    };
    let unknown = warning(
        "",
        codes::UNKNOWN_PRODUCT,
        format!(
            "`{id}` is not a product certcentral knows (catalog: {}); the body was checked as the `{}` body ({why}) without any product's rules, and is sent to `POST /order/certificate/{id}` as given because unknown products are allowed (--allow-unknown)",
            ProductId::allowed(),
            profile(kind).id,
        ),
    );
    // First: what the rest of the report is about.
    let mut report = crate::checked(
        doc,
        ctx,
        &validator(ctx.today, kind),
        &root(kind),
        None,
        crate::Pass::One,
    );
    report.warnings.insert(0, unknown);
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context::for_product_id("secure_email_individual")
            .with_today(NaiveDate::from_ymd_opt(2026, 1, 15).unwrap_or_default())
            .with_allow_unknown(true)
    }

    fn secure_email() -> Value {
        json!({"certificate": {"emails": ["a@example.com"], "signature_hash": "sha256",
            "usage_designation": {"primary_usage": "signing"}}, "validity_years": 1})
    }

    fn seed() -> Value {
        json!({"certificate": {"common_name": "A B", "emails": ["a@example.com"],
            "signature_hash": "sha256"}, "organization": {"id": 1}, "validity_years": 1})
    }

    #[test]
    fn the_body_is_the_one_the_document_has_the_members_of() {
        let report = check(&secure_email(), "secure_email_individual", &ctx());
        assert!(report.is_valid(), "{report:?}");
        assert_eq!(body_for(&secure_email()), BodyKind::SecureEmail);
        assert_eq!(report.warnings[0].code, codes::UNKNOWN_PRODUCT);
        assert!(
            report.warnings[0].message.contains("`secure_email` body")
                && report.warnings[0]
                    .message
                    .contains("POST /order/certificate/secure_email_individual")
                && report.warnings[0].message.contains("secure_email_sponsor"),
            "{report:?}"
        );
        assert!(check(&seed(), "x", &ctx()).is_valid());
        assert_eq!(body_for(&seed()), BodyKind::ClientCertificate);
        // No product's rules: the seed's body without a common name (as class1_smime) fits.
        let mut no_cn = seed();
        no_cn["certificate"]
            .as_object_mut()
            .unwrap()
            .remove("common_name");
        assert!(check(&no_cn, "x", &ctx()).is_valid());
    }

    /// The body's own rules still apply, and members of the other body are unknown members.
    #[test]
    fn the_chosen_body_is_checked_whole() {
        let mut doc = secure_email();
        doc["certificate"]["usage_designation"]["primary_usage"] = json!("everything");
        doc["certificate"]["common_name"] = json!("A B");
        let report = check(&doc, "x", &ctx());
        assert!(!report.is_valid());
        assert_eq!(
            report.errors[0].path,
            "/certificate/usage_designation/primary_usage"
        );
        assert!(
            report
                .warnings
                .iter()
                .any(|w| w.code == codes::UNKNOWN_PARAM && w.path == "/certificate/common_name"),
            "{report:?}"
        );
        // A Secure Email body without its usage is checked as the seed's: `organization` is
        // required there, and the warning says why that body.
        let mut doc = secure_email();
        doc["certificate"]
            .as_object_mut()
            .unwrap()
            .remove("usage_designation");
        let report = check(&doc, "x", &ctx());
        assert_eq!(report.errors[0].path, "/organization", "{report:?}");
        assert!(
            report.warnings[0]
                .message
                .contains("it has no `certificate.usage_designation`"),
            "{report:?}"
        );
    }

    #[test]
    fn without_the_allowance_or_with_a_bad_id_it_is_an_error() {
        let strict = ctx().with_allow_unknown(false);
        let report = check(&secure_email(), "secure_email_individual", &strict);
        assert_eq!(report.errors.len(), 1);
        assert_eq!(report.errors[0].code, codes::UNKNOWN_PRODUCT);
        assert!(report.errors[0].message.contains("--allow-unknown"));
        for bad in ["", "a/b", "a?b", "a b"] {
            let report = check(&secure_email(), bad, &ctx());
            assert_eq!(report.errors[0].code, codes::UNKNOWN_PRODUCT, "{bad}");
        }
    }
}
