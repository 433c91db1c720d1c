//! A catalogue of orders, one per rule, and the seed example (`crate::kit::orders`): their reports
//! are snapshotted (`snapshots/catalogue__catalogue.snap`), and each entry asserts the code it
//! is about.

#![cfg(feature = "csr")]

use crate::kit::{ctx, orders, remove, set, today, with};
use certcentral_types::OrderRequest;
use certcentral_validate::{Report, validate, validate_json};
use serde_json::{Value, json};

#[derive(serde::Serialize)]
struct Entry {
    name: &'static str,
    valid: bool,
    report: Report,
}

#[test]
fn catalogue() {
    let entries = orders();
    let invalid = entries.iter().filter(|(_, _, e)| e.is_some()).count();
    assert!(invalid >= 30, "only {invalid} invalid orders");

    let mut snapshot = Vec::new();
    for (name, body, expected) in entries {
        let report = validate_json(&body, &ctx());
        assert_expected(name, &report, expected);
        snapshot.push(Entry {
            name,
            valid: report.is_valid(),
            report,
        });
    }
    insta::assert_yaml_snapshot!(snapshot);
}

/// A valid report for `None`; else an invalid one holding the expected (path, code). Either
/// way, at most one error per path and code (a member two rules need is missing once).
fn assert_expected(name: &str, report: &Report, expected: crate::kit::Expected) {
    for (i, v) in report.errors.iter().enumerate() {
        assert!(
            !report.errors[..i]
                .iter()
                .any(|w| w.path == v.path && w.code == v.code),
            "{name}: {} at {:?} reported twice: {:#?}",
            v.code,
            v.path,
            report.errors
        );
    }
    match expected {
        None => assert!(report.is_valid(), "{name}: {:#?}", report.errors),
        Some((path, code)) => assert!(
            report
                .errors
                .iter()
                .any(|v| v.path == path && v.code == code),
            "{name}: expected {code} at {path:?}, got {:#?}",
            report.errors
        ),
    }
}

/// `validate` on a typed order and `validate_json` on its JSON give the same report.
#[test]
fn typed_and_json_reports_agree() {
    let mut checked = 0;
    for (name, body, _) in orders() {
        // Only bodies the typed order can hold (serde rejects structural errors itself).
        let Ok(order) = serde_json::from_slice::<OrderRequest>(&body) else {
            continue;
        };
        // Skip bodies the typed order cannot represent exactly (`"container": null` reads
        // as an absent container): they are not the same order.
        let mut input: Value = serde_json::from_slice(&body).unwrap();
        let defaults = input.as_object_mut().unwrap();
        defaults.entry("payment_method").or_insert(json!("balance"));
        defaults.entry("skip_approval").or_insert(json!(false));
        if serde_json::to_value(&order).unwrap() != input {
            continue;
        }
        let from_json = validate_json(&body, &ctx());
        let from_typed = validate(&order, &ctx());
        assert_eq!(from_typed, from_json, "{name}");
        checked += 1;
    }
    assert!(checked >= 12, "only {checked} typed orders");
}

#[test]
fn report_serializes_to_the_documented_shape() {
    let report = validate_json(&with(set("/auto_renew", json!(100))), &ctx());
    let value = serde_json::to_value(&report).unwrap();
    assert_eq!(
        value["errors"][0],
        json!({
            "path": "/auto_renew",
            "code": "invalid_value",
            "message": "must be an integer from 0 to 99; found 100"
        })
    );
    assert_eq!(report.errors[0].digicert_code(), "invalid_value:auto_renew");
    assert_eq!(
        value["warnings"][0]["code"],
        json!("csr_public_key_only"),
        "{value}"
    );
}

#[test]
fn malformed_json_reports_line_and_column() {
    let report = validate_json(b"{\n  \"certificate\": ,\n}", &ctx());
    assert_eq!(report.errors.len(), 1);
    let error = &report.errors[0];
    assert_eq!((&*error.path, &*error.code), ("", "bad_request_format"));
    assert!(error.message.contains("line 2 column"), "{}", error.message);
    assert_eq!(error.digicert_code(), "bad_request_format");
}

#[test]
fn digicert_codes_name_the_field() {
    let report = validate_json(&with(remove("/certificate/signature_hash")), &ctx());
    assert_eq!(
        report.errors[0].digicert_code(),
        "required_param:certificate.signature_hash"
    );
    let report = validate_json(&with(set("/certificate/emails/0", json!("x"))), &ctx());
    assert_eq!(
        report.errors[0].digicert_code(),
        "invalid_value:certificate.emails"
    );
}

#[test]
fn date_window_edges() {
    let at = |days: i64| {
        let date = today() + chrono::Duration::days(days);
        validate_json(
            &with(set("/custom_expiration_date", json!(date.to_string()))),
            &ctx(),
        )
    };
    assert!(at(0).is_valid());
    assert!(at(824).is_valid());
    assert!(!at(825).is_valid());
    assert!(!at(-1).is_valid());
    // The overriding date yields a warning on validity_years.
    assert!(
        at(10)
            .warnings
            .iter()
            .any(|w| w.path == "/validity_years" && w.code == "validity_years_overridden")
    );
}

#[test]
fn auto_renew_rules_follow_payment_method() {
    let order = |renew: i64, payment: Option<&str>| {
        validate_json(
            &with(|doc| {
                set("/auto_renew", json!(renew))(doc);
                match payment {
                    Some(p) => set("/payment_method", json!(p))(doc),
                    None => remove("/payment_method")(doc),
                }
            }),
            &ctx(),
        )
        .is_valid()
    };
    assert!(order(99, Some("balance")));
    assert!(order(3, None), "balance is the default");
    assert!(order(0, Some("card")));
    assert!(!order(1, Some("card")));
    assert!(!order(1, Some("profile")));
}

#[derive(serde::Serialize)]
struct ProductEntry {
    name: &'static str,
    product: &'static str,
    allow_unknown: bool,
    valid: bool,
    report: Report,
}

/// Each product's rules (the catalog selects them from the schema): a valid body and each
/// rule broken, snapshotted (`snapshots/catalogue__per_product.snap`).
#[test]
fn per_product() {
    let mut snapshot = Vec::new();
    let mut products = std::collections::BTreeSet::new();
    for (name, product, allow_unknown, body, expected) in crate::kit::product_orders() {
        let ctx = ctx_for(product).with_allow_unknown(allow_unknown);
        let report = validate_json(&body, &ctx);
        assert_expected(name, &report, expected);
        // Deprecated products warn and name their replacement; current ones do not.
        let deprecated = report
            .warnings
            .iter()
            .find(|w| w.code == "product_deprecated");
        match product.spec().status {
            certcentral_types::catalog::Status::Deprecated { replacement, .. } => assert!(
                deprecated.is_some_and(|w| w.message.contains(replacement.as_str())),
                "{name}: {:#?}",
                report.warnings
            ),
            certcentral_types::catalog::Status::Current => assert!(deprecated.is_none()),
        }
        products.insert(product);
        snapshot.push(ProductEntry {
            name,
            product: product.as_str(),
            allow_unknown,
            valid: report.is_valid(),
            report,
        });
    }
    assert_eq!(
        products.len(),
        certcentral_types::ProductId::ALL.len(),
        "every catalog product has cases"
    );
    insta::assert_yaml_snapshot!(snapshot);
}

/// The seed's three S/MIME ids accept the seed's example as is, with a warning that DigiCert
/// now requires the indicator; given the indicator, the warning goes away.
#[test]
fn the_seed_ids_warn_about_the_missing_indicator() {
    use certcentral_types::ProductId as P;
    for product in [
        P::ClientPremiumSha2,
        P::ClientEmailSecurityPlus,
        P::ClientDigitalSignaturePlusSha2,
    ] {
        let report = validate_json(&with(|_| {}), &ctx_for(product));
        assert!(report.is_valid(), "{product}: {:#?}", report.errors);
        assert!(
            report
                .warnings
                .iter()
                .any(|w| w.code == "common_name_indicator_missing"
                    && w.path == "/certificate/common_name_indicator"),
            "{product}: {:#?}",
            report.warnings
        );
        let report = validate_json(
            &serde_json::to_vec(&crate::kit::seed_with_indicator()).unwrap(),
            &ctx_for(product),
        );
        assert!(report.is_valid());
        assert!(
            !report
                .warnings
                .iter()
                .any(|w| w.code == "common_name_indicator_missing")
        );
    }
    let report = validate_json(&with(|_| {}), &ctx_for(P::ClientAuthenticationPlus));
    assert!(
        report
            .warnings
            .iter()
            .all(|w| w.code != "common_name_indicator_missing")
    );
}

/// A typed Secure Email body gives the same report as its JSON.
#[test]
fn typed_secure_email_body_agrees_with_its_json() {
    let doc = crate::kit::secure_email();
    let body = certcentral_types::OrderBody::from_value(
        certcentral_types::catalog::BodyKind::SecureEmail,
        doc.clone(),
    )
    .unwrap();
    let ctx = ctx_for(certcentral_types::ProductId::SecureEmailSponsor);
    let typed = certcentral_validate::validate_body(&body, &ctx);
    let mut input = doc;
    input["payment_method"] = json!("balance");
    let json = validate_json(&serde_json::to_vec(&input).unwrap(), &ctx);
    assert!(typed.is_valid(), "{:#?}", typed.errors);
    assert_eq!(typed, json);
}

fn ctx_for(product: certcentral_types::ProductId) -> certcentral_validate::Context {
    certcentral_validate::Context::new(product).with_today(today())
}
