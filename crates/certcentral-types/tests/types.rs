//! The generated types against the contract: the schema is a valid 2020-12 schema, the seed's
//! example round-trips, responses parse leniently and requests strictly.

use certcentral_types::{
    ErrorBody, OrderInfo, OrderRequest, OrderResponse, OrderStatus, PaymentMethod, ProductId,
    RequestStatus, ValidityYears, schema,
};
use serde_json::{Value, json};

const SEED_ORDER: &str = include_str!("fixtures/seed-order.json");

fn schemas() -> Vec<(&'static str, Value)> {
    [
        ("order-request", schema::ORDER_REQUEST),
        ("order-response", schema::ORDER_RESPONSE),
        ("error", schema::ERROR),
        ("lifecycle-request", schema::LIFECYCLE_REQUEST),
    ]
    .into_iter()
    .map(|(name, text)| (name, serde_json::from_str(text).expect("schema is JSON")))
    .collect()
}

#[test]
fn schemas_are_valid_against_the_2020_12_metaschema() {
    for (name, schema) in schemas() {
        assert_eq!(
            schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{name} must declare draft 2020-12"
        );
        if let Err(err) = jsonschema::meta::validate(&schema) {
            panic!("{name} is not a valid JSON Schema: {err}");
        }
        jsonschema::validator_for(&schema)
            .unwrap_or_else(|err| panic!("{name} does not compile: {err}"));
    }
}

/// Every `$ref` is local (`#/$defs/...`) and resolves.
#[test]
fn schema_refs_are_local_and_resolve() {
    fn walk(value: &Value, defs: &Value, name: &str) {
        match value {
            Value::Object(map) => {
                if let Some(target) = map.get("$ref") {
                    let target = target.as_str().expect("$ref is a string");
                    let def = target
                        .strip_prefix("#/$defs/")
                        .unwrap_or_else(|| panic!("{name}: non-local $ref {target}"));
                    assert!(
                        defs.get(def).is_some(),
                        "{name}: $ref {target} does not resolve"
                    );
                }
                map.values().for_each(|v| walk(v, defs, name));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, defs, name)),
            _ => {}
        }
    }
    for (name, schema) in schemas() {
        walk(&schema, &schema["$defs"], name);
    }
}

/// Every property in every schema carries an English description (they become doc comments).
#[test]
fn every_property_is_described() {
    fn walk(value: &Value, at: &str, missing: &mut Vec<String>) {
        let Value::Object(map) = value else { return };
        // Rule sets (`"x-rules": true`) are no types: their members restate no description.
        if map.get("x-rules") == Some(&Value::Bool(true)) {
            return;
        }
        if let Some(Value::Object(props)) = map.get("properties") {
            for (key, prop) in props {
                if prop
                    .get("description")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    missing.push(format!("{at}/properties/{key}"));
                }
            }
        }
        for (key, child) in map {
            match child {
                Value::Object(_) => walk(child, &format!("{at}/{key}"), missing),
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        walk(item, &format!("{at}/{key}/{i}"), missing);
                    }
                }
                _ => {}
            }
        }
    }
    for (name, schema) in schemas() {
        let mut missing = Vec::new();
        walk(&schema, name, &mut missing);
        assert!(
            missing.is_empty(),
            "properties without description: {missing:?}"
        );
    }
}

#[test]
fn seed_example_round_trips() {
    let order: OrderRequest = serde_json::from_str(SEED_ORDER).expect("seed example parses");
    assert_eq!(
        order.certificate.common_name.as_ref().map(|n| n.as_str()),
        Some("Lock Cole")
    );
    assert_eq!(order.payment_method, PaymentMethod::Balance);
    assert_eq!(order.validity_years.as_ref().map(|v| **v), Some(1));
    assert!(order.skip_approval);
    let back = serde_json::to_value(&order).expect("serializes");
    let original: Value = serde_json::from_str(SEED_ORDER).expect("JSON");
    assert_eq!(back, original, "round trip changed the body");
    insta::assert_json_snapshot!("seed_order", back, {
        ".certificate.csr" => "[csr]"
    });
}

#[test]
fn seed_example_is_valid_against_the_schema() {
    let schema: Value = serde_json::from_str(schema::ORDER_REQUEST).expect("schema");
    let validator = jsonschema::validator_for(&schema).expect("compiles");
    let seed: Value = serde_json::from_str(SEED_ORDER).expect("JSON");
    assert!(validator.is_valid(&seed));
}

#[test]
fn defaults_apply_and_are_explicit_on_the_wire() {
    let order: OrderRequest = serde_json::from_value(json!({
        "certificate": {"common_name": "A", "emails": ["a@example.com"], "signature_hash": "sha256"},
        "organization": {"id": 1},
        "validity_years": 2
    }))
    .expect("minimal order parses");
    assert_eq!(order.payment_method, PaymentMethod::Balance);
    assert!(!order.skip_approval);
    insta::assert_json_snapshot!("minimal_order_serialized", order);
}

fn seed_with(edit: impl FnOnce(&mut Value)) -> Result<OrderRequest, serde_json::Error> {
    let mut seed: Value = serde_json::from_str(SEED_ORDER).expect("JSON");
    edit(&mut seed);
    serde_json::from_value(seed)
}

#[test]
fn rejects_an_unknown_request_field() {
    let err = seed_with(|v| {
        let validity = v["validity_years"].take();
        v.as_object_mut().unwrap().remove("validity_years");
        v["validity_year"] = validity;
    })
    .unwrap_err();
    assert!(err.to_string().contains("validity_year"), "{err}");
    let err = seed_with(|v| v["certificate"]["organisation_units"] = json!(["x"])).unwrap_err();
    assert!(err.to_string().contains("organisation_units"), "{err}");
}

#[test]
fn rejects_sha1() {
    let err = seed_with(|v| v["certificate"]["signature_hash"] = json!("sha1")).unwrap_err();
    assert!(err.to_string().contains("sha1"), "{err}");
}

#[test]
fn rejects_validity_years_3() {
    assert!(seed_with(|v| v["validity_years"] = json!(3)).is_err());
    assert!(ValidityYears::try_from(3_i64).is_err());
    assert!(ValidityYears::try_from(2_i64).is_ok());
}

#[test]
fn rejects_unknown_payment_method() {
    let err = seed_with(|v| v["payment_method"] = json!("bitcoin")).unwrap_err();
    assert!(err.to_string().contains("bitcoin"), "{err}");
}

#[test]
fn rejects_impossible_dates() {
    assert!(seed_with(|v| v["custom_expiration_date"] = json!("2027-02-30")).is_err());
    assert!(seed_with(|v| v["custom_expiration_date"] = json!("2027-13-01")).is_err());
    let ok = seed_with(|v| v["custom_expiration_date"] = json!("2028-02-29")).expect("leap day");
    assert_eq!(
        ok.custom_expiration_date.map(|d| d.to_string()).as_deref(),
        Some("2028-02-29")
    );
}

#[test]
fn rejects_bad_lengths_and_ids() {
    assert!(seed_with(|v| v["certificate"]["common_name"] = json!("")).is_err());
    assert!(seed_with(|v| v["certificate"]["common_name"] = json!("x".repeat(65))).is_err());
    assert!(seed_with(|v| v["certificate"]["common_name"] = json!("x".repeat(64))).is_ok());
    assert!(seed_with(|v| v["certificate"]["organization_units"] = json!([""])).is_err());
    assert!(seed_with(|v| v["organization"]["id"] = json!(0)).is_err());
    assert!(seed_with(|v| v["organization"]["id"] = json!(-4)).is_err());
}

/// The schema's name `pattern` (issue 11 item 3) is checked by the generated newtypes too.
#[test]
fn rejects_names_with_controls_bidi_overrides_or_padding() {
    for bad in [
        "Lock\u{0}Cole",
        "Lock\nCole",
        "\u{202e}eloC kcoL",
        "Lock\u{2066}Cole",
        "Lock\u{85}",
        "   ",
        " Lock",
        "Lock ",
    ] {
        assert!(
            seed_with(|v| v["certificate"]["common_name"] = json!(bad)).is_err(),
            "{bad:?}"
        );
        assert!(
            seed_with(|v| v["certificate"]["organization_units"] = json!([bad])).is_err(),
            "{bad:?}"
        );
    }
    assert!(seed_with(|v| v["certificate"]["common_name"] = json!("Locke  Colé-Núñez")).is_ok());
}

#[test]
fn product_ids_are_the_four_products() {
    let ids: Vec<String> = [
        ProductId::ClientPremiumSha2,
        ProductId::ClientEmailSecurityPlus,
        ProductId::ClientAuthenticationPlus,
        ProductId::ClientDigitalSignaturePlusSha2,
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    insta::assert_json_snapshot!("product_ids", ids);
    assert!("client_premium_sha1".parse::<ProductId>().is_err());
    assert_eq!(
        "client_authentication_plus".parse::<ProductId>().ok(),
        Some(ProductId::ClientAuthenticationPlus)
    );
}

/// The catalog keeps the four seed products as the seed documents them (now deprecated,
/// each naming its replacement), and adds the contract's 2025 products.
#[test]
fn catalog_holds_the_seed_products_and_limits() {
    use certcentral_types::catalog::{self, BodyKind, Family, Status};
    let products: Vec<(&str, &str, Family)> = catalog::PRODUCTS
        .iter()
        .map(|p| (p.id.as_str(), p.name, p.family))
        .collect();
    for seed in [
        (
            "client_premium_sha2",
            "Client Certificate: Premium",
            Family::Smime,
        ),
        (
            "client_email_security_plus",
            "Client Certificate: Email Security Plus",
            Family::Smime,
        ),
        (
            "client_authentication_plus",
            "Client Certificate: Authentication Plus",
            Family::ClientAuthentication,
        ),
        (
            "client_digital_signature_plus_sha2",
            "Client Certificate: Digital Signature Plus",
            Family::DocumentSigning,
        ),
    ] {
        assert!(products.contains(&seed), "{seed:?}");
    }
    for (i, product) in ProductId::ALL.iter().enumerate() {
        let spec = product.spec();
        assert_eq!(spec, &catalog::PRODUCTS[i]);
        let secure_email = product.as_str().starts_with("secure_email_");
        assert_eq!(
            spec.profile.body,
            if secure_email {
                BodyKind::SecureEmail
            } else {
                BodyKind::ClientCertificate
            }
        );
        match spec.status {
            Status::Current => assert!(
                secure_email || *product == ProductId::ClientAuthenticationPlus,
                "{product}"
            ),
            Status::Deprecated { since, replacement } => {
                assert_eq!(since, "2025-07-10");
                assert_eq!(replacement.spec().status, Status::Current);
            }
        }
        assert_eq!(spec.profile.validity_years, [1, 2]);
        assert_eq!(spec.profile.custom_expiration_days_below, 825);
        assert_eq!(
            spec.profile.key_policy.allowed(),
            "RSA 2048, 3072, 4096, ECDSA P-256, P-384"
        );
        assert_eq!(product.as_str().parse::<ProductId>().ok(), Some(*product));
    }
    assert_eq!(catalog::DEFAULT_PRODUCT, ProductId::SecureEmailSponsor);
    let windows: Vec<(u32, u64)> = catalog::RATE_LIMITS
        .iter()
        .map(|w| (w.requests, w.period.as_secs()))
        .collect();
    assert_eq!(windows, [(100, 5), (1000, 180)]);
    assert_eq!(catalog::STATUS_CHANGES_MAX_MINUTES, 7 * 24 * 60);
    assert_eq!(
        catalog::signature_hash_name(certcentral_types::SignatureHash::Sha256),
        "SHA-256"
    );
    // The bundled catalog is the one the module was generated from.
    let bundled: Value = serde_json::from_str(certcentral_types::schema::CATALOG).unwrap();
    assert_eq!(
        bundled["products"].as_array().map(Vec::len),
        Some(ProductId::ALL.len())
    );
}

#[test]
fn seed_response_stages_deserialize() {
    let stages = [
        json!({"id": 112233, "requests": [{"id": 113, "status": "pending"}]}),
        json!({"id": 112233, "requests": [{"id": 113, "status": "submitted"}]}),
        json!({"id": 112233, "requests": [{"id": 113, "status": "approved"}], "certificate_id": 113}),
    ];
    let parsed: Vec<OrderResponse> = stages
        .iter()
        .map(|stage| serde_json::from_value(stage.clone()).expect("stage parses"))
        .collect();
    assert_eq!(parsed[0].requests[0].status, Some(RequestStatus::Pending));
    assert_eq!(parsed[1].requests[0].status, Some(RequestStatus::Submitted));
    assert_eq!(parsed[2].requests[0].status, Some(RequestStatus::Approved));
    assert_eq!(parsed[2].certificate_id, Some(113));
    insta::assert_debug_snapshot!("seed_response_stages", parsed);
    for (stage, original) in parsed.iter().zip(&stages) {
        assert_eq!(&serde_json::to_value(stage).expect("serializes"), original);
    }
}

#[test]
fn response_keeps_unknown_status_and_ignores_unknown_fields() {
    let response: OrderResponse = serde_json::from_value(json!({
        "id": 9,
        "requests": [{"id": 10, "status": "on_hold", "reason": "new field"}],
        "certificate_id": 11,
        "certificate_chain": [{"subject_common_name": "Lock Cole", "pem": "-----BEGIN CERTIFICATE-----"}],
        "brand_new_field": {"nested": true}
    }))
    .expect("lenient parse");
    assert_eq!(
        response.requests[0].status,
        Some(RequestStatus::Other("on_hold".to_string()))
    );
    assert_eq!(response.certificate_chain.len(), 1);
    let back = serde_json::to_value(&response).expect("serializes");
    assert_eq!(
        back["requests"][0]["status"], "on_hold",
        "unknown status kept on the way out"
    );

    let info: OrderInfo = serde_json::from_value(json!({
        "id": 1, "status": "awaiting_dcv", "certificate": {"common_name": "x", "future": 1},
        "requests": [{"id": 2, "status": "approved", "type": "new_request"}]
    }))
    .expect("order info parses");
    assert_eq!(info.status, Some(OrderStatus::Other("awaiting_dcv".into())));
    assert!(!info.status.as_ref().is_some_and(OrderStatus::is_known));
    assert_eq!(
        OrderStatus::from("waiting_pickup"),
        OrderStatus::WaitingPickup
    );
    assert_eq!(OrderStatus::WaitingPickup.to_string(), "waiting_pickup");
}

#[test]
fn error_body_keeps_every_entry() {
    let body: ErrorBody = serde_json::from_value(json!({
        "errors": [
            {"code": "required_param:certificate.signature_hash", "message": "Missing signature hash."},
            {"code": "invalid_value:validity_years", "message": "Invalid validity."}
        ]
    }))
    .expect("error body parses");
    assert_eq!(body.errors.len(), 2);
    insta::assert_json_snapshot!("error_body", body);
}
