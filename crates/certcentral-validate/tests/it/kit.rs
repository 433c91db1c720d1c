//! The test kit: the seed order, edit helpers and the catalogue of example orders (one per
//! rule), shared by the catalogue snapshot and the cross-language agreement test.

#![allow(dead_code)]

use certcentral_types::ProductId;
use certcentral_validate::Context;
use chrono::NaiveDate;
use serde_json::{Value, json};

pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

pub fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 15).unwrap()
}

pub fn ctx() -> Context {
    Context::new(ProductId::ClientPremiumSha2).with_today(today())
}

/// The seed's example body, with a real CSR in place of `<csr>`.
pub fn seed() -> Value {
    certcentral_testkit::seed_body(&fixture("rsa2048.csr"))
}

pub fn with(edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut doc = seed();
    edit(&mut doc);
    serde_json::to_vec(&doc).unwrap()
}

pub fn remove(path: &'static str) -> impl FnOnce(&mut Value) {
    move |doc| {
        let (parent, key) = path.rsplit_once('/').unwrap();
        doc.pointer_mut(parent)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .remove(key);
    }
}

pub fn set(path: &'static str, value: Value) -> impl FnOnce(&mut Value) {
    move |doc| {
        let (parent, key) = path.rsplit_once('/').unwrap();
        match doc.pointer_mut(parent).unwrap() {
            Value::Object(map) => {
                map.insert(key.to_owned(), value);
            }
            Value::Array(items) => items[key.parse::<usize>().unwrap()] = value,
            _ => panic!("{path}"),
        }
    }
}

/// (name, body, expected error code at expected path; `None` for a valid order).
/// The (path, code) an invalid entry must report.
pub type Expected = Option<(&'static str, &'static str)>;

pub fn orders() -> Vec<(&'static str, Vec<u8>, Expected)> {
    let date = |days: u64| {
        today()
            .checked_add_days(chrono::Days::new(days))
            .unwrap()
            .to_string()
    };
    let past = today().pred_opt().unwrap().to_string();
    vec![
        // valid orders
        ("seed_example", with(|_| {}), None),
        (
            "valid_without_csr",
            with(remove("/certificate/csr")),
            None,
        ),
        (
            "valid_custom_date_overrides_validity_years",
            with(set("/custom_expiration_date", json!(date(824)))),
            None,
        ),
        (
            "valid_custom_date_today_only",
            with(|doc| {
                remove("/validity_years")(doc);
                set("/custom_expiration_date", json!(today().to_string()))(doc);
            }),
            None,
        ),
        // malformed input
        (
            "malformed_json",
            br#"{"certificate": {"common_name": "Lock Cole",}"#.to_vec(),
            Some(("", "bad_request_format")),
        ),
        ("body_not_an_object", b"[]".to_vec(), Some(("", "invalid_value"))),
        // required members
        (
            "missing_certificate",
            with(remove("/certificate")),
            Some(("/certificate", "required_param")),
        ),
        (
            "missing_organization",
            with(remove("/organization")),
            Some(("/organization", "required_param")),
        ),
        (
            "missing_validity",
            with(remove("/validity_years")),
            Some(("/validity_years", "required_param")),
        ),
        (
            "missing_common_name",
            with(remove("/certificate/common_name")),
            Some(("/certificate/common_name", "required_param")),
        ),
        (
            "missing_emails",
            with(remove("/certificate/emails")),
            Some(("/certificate/emails", "required_param")),
        ),
        (
            "missing_signature_hash",
            with(remove("/certificate/signature_hash")),
            Some(("/certificate/signature_hash", "required_param")),
        ),
        (
            "missing_organization_id",
            with(remove("/organization/id")),
            Some(("/organization/id", "required_param")),
        ),
        (
            "custom_field_missing_value",
            with(set(
                "/custom_fields",
                json!([{"metadata_id": 7}]),
            )),
            Some(("/custom_fields/0/value", "required_param")),
        ),
        // unknown members
        (
            "unknown_top_level_field",
            with(set("/validity_year", json!(1))),
            Some(("/validity_year", "unknown_param")),
        ),
        (
            "unknown_certificate_field",
            with(set("/certificate/email", json!("locke.cole@example.com"))),
            Some(("/certificate/email", "unknown_param")),
        ),
        (
            "unknown_container_field",
            with(set("/container/name", json!("Finance"))),
            Some(("/container/name", "unknown_param")),
        ),
        // types, lengths, enums, ranges
        (
            "null_container",
            with(set("/container", Value::Null)),
            Some(("/container", "invalid_value")),
        ),
        (
            "empty_common_name",
            with(set("/certificate/common_name", json!(""))),
            Some(("/certificate/common_name", "invalid_value")),
        ),
        (
            "common_name_too_long",
            with(set("/certificate/common_name", json!("x".repeat(65)))),
            Some(("/certificate/common_name", "invalid_value")),
        ),
        (
            "common_name_not_a_string",
            with(set("/certificate/common_name", json!(42))),
            Some(("/certificate/common_name", "invalid_value")),
        ),
        (
            "emails_empty",
            with(set("/certificate/emails", json!([]))),
            Some(("/certificate/emails", "invalid_value")),
        ),
        (
            "emails_not_an_array",
            with(set("/certificate/emails", json!("locke.cole@example.com"))),
            Some(("/certificate/emails", "invalid_value")),
        ),
        (
            "email_bad_syntax",
            with(set(
                "/certificate/emails",
                json!(["locke.cole@example.com", "locke..cole@example"]),
            )),
            Some(("/certificate/emails/1", "invalid_value")),
        ),
        (
            "email_not_a_string",
            with(set("/certificate/emails/0", json!(7))),
            Some(("/certificate/emails/0", "invalid_value")),
        ),
        (
            "signature_hash_not_allowed",
            with(set("/certificate/signature_hash", json!("sha1"))),
            Some(("/certificate/signature_hash", "invalid_value")),
        ),
        (
            "organization_unit_empty",
            with(set("/certificate/organization_units", json!(["Accounting", ""]))),
            Some(("/certificate/organization_units/1", "invalid_value")),
        ),
        (
            "organization_unit_too_long",
            with(set("/certificate/organization_units/0", json!("é".repeat(65)))),
            Some(("/certificate/organization_units/0", "invalid_value")),
        ),
        (
            "organization_id_zero",
            with(set("/organization/id", json!(0))),
            Some(("/organization/id", "invalid_value")),
        ),
        (
            "organization_id_string",
            with(set("/organization/id", json!("112233"))),
            Some(("/organization/id", "invalid_value")),
        ),
        (
            "container_id_negative",
            with(set("/container/id", json!(-5))),
            Some(("/container/id", "invalid_value")),
        ),
        (
            "validity_years_3",
            with(set("/validity_years", json!(3))),
            Some(("/validity_years", "invalid_value")),
        ),
        (
            "validity_years_written_as_float",
            with(set("/validity_years", json!(1.0))),
            Some(("/validity_years", "invalid_value")),
        ),
        (
            "auto_renew_above_99",
            with(set("/auto_renew", json!(100))),
            Some(("/auto_renew", "invalid_value")),
        ),
        (
            "auto_renew_negative",
            with(set("/auto_renew", json!(-1))),
            Some(("/auto_renew", "invalid_value")),
        ),
        (
            "renewal_of_order_id_zero",
            with(set("/renewal_of_order_id", json!(0))),
            Some(("/renewal_of_order_id", "invalid_value")),
        ),
        (
            "skip_approval_string",
            with(set("/skip_approval", json!("true"))),
            Some(("/skip_approval", "invalid_value")),
        ),
        (
            "payment_method_unknown",
            with(set("/payment_method", json!("cash"))),
            Some(("/payment_method", "invalid_value")),
        ),
        (
            "custom_fields_not_an_array",
            with(set("/custom_fields", json!({"metadata_id": 1, "value": "x"}))),
            Some(("/custom_fields", "invalid_value")),
        ),
        (
            "custom_field_metadata_id_zero",
            with(set("/custom_fields", json!([{"metadata_id": 0, "value": "x"}]))),
            Some(("/custom_fields/0/metadata_id", "invalid_value")),
        ),
        (
            "csr_not_a_string",
            with(set("/certificate/csr", json!(["-----BEGIN"]))),
            Some(("/certificate/csr", "invalid_value")),
        ),
        // dates
        (
            "custom_expiration_date_not_a_calendar_date",
            with(set("/custom_expiration_date", json!("2026-02-30"))),
            Some(("/custom_expiration_date", "invalid_value")),
        ),
        (
            "custom_expiration_date_in_the_past",
            with(set("/custom_expiration_date", json!(past))),
            Some(("/custom_expiration_date", "invalid_value")),
        ),
        (
            "custom_expiration_date_825_days_ahead",
            with(set("/custom_expiration_date", json!(date(825)))),
            Some(("/custom_expiration_date", "invalid_value")),
        ),
        // payment
        (
            "auto_renew_with_card",
            with(|doc| {
                set("/auto_renew", json!(2))(doc);
                set("/payment_method", json!("card"))(doc);
            }),
            Some(("/auto_renew", "invalid_value")),
        ),
        // duplicates
        (
            "duplicate_emails_case_insensitive",
            with(set(
                "/certificate/emails",
                json!(["locke.cole@example.com", "Locke.Cole@Example.COM"]),
            )),
            Some(("/certificate/emails/1", "invalid_value")),
        ),
        // CSR content
        (
            "csr_placeholder",
            with(set("/certificate/csr", json!("<csr>"))),
            Some(("/certificate/csr", "csr_invalid_cannot_parse")),
        ),
        (
            "csr_wrong_pem_label",
            with(set(
                "/certificate/csr",
                json!(fixture("rsa2048.csr").replace("CERTIFICATE REQUEST", "CERTIFICATE")),
            )),
            Some(("/certificate/csr", "csr_invalid_cannot_parse")),
        ),
        (
            "csr_bad_signature",
            with(set("/certificate/csr", json!(fixture("rsa2048-bad-signature.csr")))),
            Some(("/certificate/csr", "csr_invalid_signature")),
        ),
        (
            "csr_rsa_1024",
            with(set("/certificate/csr", json!(fixture("rsa1024.csr")))),
            Some(("/certificate/csr", "csr_unsupported_key")),
        ),
        (
            "csr_ecdsa_p521",
            with(set("/certificate/csr", json!(fixture("secp521r1.csr")))),
            Some(("/certificate/csr", "csr_unsupported_key")),
        ),
        (
            "csr_ed25519",
            with(set("/certificate/csr", json!(fixture("ed25519.csr")))),
            Some(("/certificate/csr", "csr_unsupported_key")),
        ),
        // names (schema pattern): controls, bidi overrides, blank or padded
        (
            "common_name_with_nul",
            with(set("/certificate/common_name", json!("Lock\u{0}Cole"))),
            Some(("/certificate/common_name", "invalid_value")),
        ),
        (
            "common_name_with_newline",
            with(set("/certificate/common_name", json!("Lock\nCole"))),
            Some(("/certificate/common_name", "invalid_value")),
        ),
        (
            "common_name_with_rtl_override",
            with(set("/certificate/common_name", json!("\u{202e}eloC kcoL"))),
            Some(("/certificate/common_name", "invalid_value")),
        ),
        (
            "common_name_blank",
            with(set("/certificate/common_name", json!("   "))),
            Some(("/certificate/common_name", "invalid_value")),
        ),
        (
            "organization_unit_padded",
            with(set("/certificate/organization_units/0", json!(" Accounting"))),
            Some(("/certificate/organization_units/0", "invalid_value")),
        ),
        (
            "organization_unit_with_c1_control",
            with(set("/certificate/organization_units/0", json!("Account\u{85}ing"))),
            Some(("/certificate/organization_units/0", "invalid_value")),
        ),
        (
            "valid_name_with_accents_and_inner_spaces",
            with(set("/certificate/common_name", json!("Locke  Colé-Ñúñez"))),
            None,
        ),
        // email grammar (schema pattern)
        (
            "valid_email_punycode_domain",
            with(set(
                "/certificate/emails",
                json!(["a@xn--bcher-kva.com", "b@example.xn--p1ai"]),
            )),
            None,
        ),
        (
            "email_with_space",
            with(set("/certificate/emails/0", json!("locke cole@example.com"))),
            Some(("/certificate/emails/0", "invalid_value")),
        ),
        (
            "email_ip_address_domain",
            with(set("/certificate/emails/0", json!("a@1.2.3.4"))),
            Some(("/certificate/emails/0", "invalid_value")),
        ),
        (
            "email_domain_literal",
            with(set("/certificate/emails/0", json!("a@[192.0.2.1]"))),
            Some(("/certificate/emails/0", "invalid_value")),
        ),
        (
            "email_single_label_domain",
            with(set("/certificate/emails/0", json!("a@localhost"))),
            Some(("/certificate/emails/0", "invalid_value")),
        ),
        // the body itself
        (
            "duplicate_json_member",
            {
                let mut body = with(set("/validity_years", json!(2)));
                let at = body.len() - 1;
                body.splice(at..at, br#","validity_years":1"#.iter().copied());
                body
            },
            Some(("/validity_years", "invalid_value")),
        ),
        (
            "valid_with_byte_order_mark",
            [b"\xEF\xBB\xBF".as_slice(), &with(|_| {})].concat(),
            None,
        ),
        // all at once
        (
            "many_violations_at_once",
            br#"{"certificate": {"common_name": "", "emails": ["a@b.example", "A@B.example", "x"],
                "signature_hash": "md5", "extra": 1}, "organization": {"id": -1},
                "auto_renew": 5, "payment_method": "card", "custom_expiration_date": "2020-01-01"}"#
                .to_vec(),
            Some(("/certificate/common_name", "invalid_value")),
        ),
    ]
}

/// The contract's Secure Email example (sponsor-validated, given name and surname, signing
/// key; the test kit's), with a real CSR.
pub fn secure_email() -> Value {
    let mut body = certcentral_testkit::secure_email_body_without_csr();
    body["certificate"]["csr"] = json!(fixture("rsa2048.csr"));
    body
}

/// `base` edited by `edit`, as bytes.
pub fn edited(base: Value, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut doc = base;
    edit(&mut doc);
    serde_json::to_vec(&doc).unwrap()
}

/// The seed's body with the 2025 members the current legacy ids require.
pub fn seed_with_indicator() -> Value {
    let mut doc = seed();
    doc["certificate"]["common_name_indicator"] = json!("given_name_surname");
    doc["certificate"]["individual"] = json!({"first_name": "Locke", "last_name": "Cole"});
    doc
}

/// Per-product cases: (name, product, allow unknown members, body, expected error).
pub fn product_orders() -> Vec<(&'static str, ProductId, bool, Vec<u8>, Expected)> {
    use ProductId as P;
    let date = |days: u64| {
        today()
            .checked_add_days(chrono::Days::new(days))
            .unwrap()
            .to_string()
    };
    let se = secure_email;
    vec![
        // secure_email_sponsor
        (
            "sponsor_contract_example",
            P::SecureEmailSponsor,
            false,
            edited(se(), |_| {}),
            None,
        ),
        (
            "sponsor_pseudonym",
            P::SecureEmailSponsor,
            false,
            edited(se(), |d| {
                set("/certificate/common_name_indicator", json!("pseudonym"))(d);
                set("/certificate/individual", json!({"pseudonym": "Locke"}))(d);
            }),
            None,
        ),
        (
            "sponsor_email_address_dual_use_multipurpose",
            P::SecureEmailSponsor,
            false,
            edited(se(), |d| {
                set("/certificate/common_name_indicator", json!("email_address"))(d);
                set(
                    "/certificate/usage_designation",
                    json!({"primary_usage": "dual_use", "additional_usages": ["non_repudiation", "client_auth"]}),
                )(d);
                set("/certificate/profile_type", json!("multipurpose"))(d);
            }),
            None,
        ),
        (
            "sponsor_low_confidence_members",
            P::SecureEmailSponsor,
            false,
            edited(se(), |d| {
                set("/comments", json!("for the approver"))(d);
                set("/disable_renewal_notifications", json!(true))(d);
                set(
                    "/subject",
                    json!({"include_email": true, "include_given_name_surname": true, "include_pseudonym": false}),
                )(d);
                set("/dcv_method", json!("email"))(d);
                set("/certificate/ca_cert_id", json!("5A2B9F"))(d);
            }),
            None,
        ),
        (
            "sponsor_missing_organization",
            P::SecureEmailSponsor,
            false,
            edited(se(), remove("/organization")),
            Some(("/organization", "required_param")),
        ),
        (
            "sponsor_missing_indicator",
            P::SecureEmailSponsor,
            false,
            edited(se(), remove("/certificate/common_name_indicator")),
            Some(("/certificate/common_name_indicator", "required_param")),
        ),
        (
            "sponsor_missing_individual",
            P::SecureEmailSponsor,
            false,
            edited(se(), remove("/certificate/individual")),
            Some(("/certificate/individual", "required_param")),
        ),
        (
            "sponsor_given_name_surname_without_last_name",
            P::SecureEmailSponsor,
            false,
            edited(se(), remove("/certificate/individual/last_name")),
            Some(("/certificate/individual/last_name", "required_param")),
        ),
        (
            // The certificate must still name the person (SBR), whatever the indicator.
            "sponsor_organization_name_without_the_person",
            P::SecureEmailSponsor,
            false,
            edited(se(), |d| {
                set(
                    "/certificate/common_name_indicator",
                    json!("organization_name"),
                )(d);
                set("/certificate/individual", json!({}))(d);
            }),
            Some(("/certificate/individual/first_name", "required_param")),
        ),
        (
            "sponsor_pseudonym_without_pseudonym",
            P::SecureEmailSponsor,
            false,
            edited(
                se(),
                set("/certificate/common_name_indicator", json!("pseudonym")),
            ),
            Some(("/certificate/individual/pseudonym", "required_param")),
        ),
        (
            "sponsor_with_common_name",
            P::SecureEmailSponsor,
            false,
            edited(se(), set("/certificate/common_name", json!("Locke Cole"))),
            Some(("/certificate/common_name", "unknown_param")),
        ),
        (
            "sponsor_missing_usage_designation",
            P::SecureEmailSponsor,
            false,
            edited(se(), remove("/certificate/usage_designation")),
            Some(("/certificate/usage_designation", "required_param")),
        ),
        (
            "sponsor_missing_primary_usage",
            P::SecureEmailSponsor,
            false,
            edited(se(), set("/certificate/usage_designation", json!({}))),
            Some((
                "/certificate/usage_designation/primary_usage",
                "required_param",
            )),
        ),
        (
            "sponsor_primary_usage_unknown",
            P::SecureEmailSponsor,
            false,
            edited(
                se(),
                set(
                    "/certificate/usage_designation/primary_usage",
                    json!("encryption"),
                ),
            ),
            Some((
                "/certificate/usage_designation/primary_usage",
                "invalid_value",
            )),
        ),
        (
            "sponsor_profile_type_unknown",
            P::SecureEmailSponsor,
            false,
            edited(se(), set("/certificate/profile_type", json!("legacy"))),
            Some(("/certificate/profile_type", "invalid_value")),
        ),
        (
            "sponsor_indicator_unknown",
            P::SecureEmailSponsor,
            false,
            edited(
                se(),
                set("/certificate/common_name_indicator", json!("common_name")),
            ),
            Some(("/certificate/common_name_indicator", "invalid_value")),
        ),
        (
            "sponsor_first_name_with_newline",
            P::SecureEmailSponsor,
            false,
            edited(
                se(),
                set("/certificate/individual/first_name", json!("Locke\nCole")),
            ),
            Some(("/certificate/individual/first_name", "invalid_value")),
        ),
        (
            "sponsor_custom_expiration_date_825_days_ahead",
            P::SecureEmailSponsor,
            false,
            edited(se(), |d| {
                remove("/validity_years")(d);
                set("/custom_expiration_date", json!(date(825)))(d);
            }),
            Some(("/custom_expiration_date", "invalid_value")),
        ),
        (
            "sponsor_missing_validity",
            P::SecureEmailSponsor,
            false,
            edited(se(), remove("/validity_years")),
            Some(("/validity_years", "required_param")),
        ),
        (
            "sponsor_auto_renew_is_not_a_secure_email_member",
            P::SecureEmailSponsor,
            false,
            edited(se(), set("/auto_renew", json!(1))),
            Some(("/auto_renew", "unknown_param")),
        ),
        (
            "sponsor_unknown_member_allowed",
            P::SecureEmailSponsor,
            true,
            edited(se(), set("/certificate/new_field", json!("x"))),
            None,
        ),
        // secure_email_mailbox
        (
            "mailbox_minimal",
            P::SecureEmailMailbox,
            false,
            edited(se(), |d| {
                remove("/organization")(d);
                remove("/certificate/common_name_indicator")(d);
                remove("/certificate/individual")(d);
            }),
            None,
        ),
        (
            "mailbox_with_common_name",
            P::SecureEmailMailbox,
            false,
            edited(se(), set("/certificate/common_name", json!("Locke Cole"))),
            Some(("/certificate/common_name", "unknown_param")),
        ),
        (
            "mailbox_missing_emails",
            P::SecureEmailMailbox,
            false,
            edited(se(), remove("/certificate/emails")),
            Some(("/certificate/emails", "required_param")),
        ),
        // secure_email_organization
        (
            "organization_organization_name",
            P::SecureEmailOrganization,
            false,
            edited(se(), |d| {
                set(
                    "/certificate/common_name_indicator",
                    json!("organization_name"),
                )(d);
                remove("/certificate/individual")(d);
            }),
            None,
        ),
        (
            "organization_missing_organization",
            P::SecureEmailOrganization,
            false,
            edited(se(), remove("/organization")),
            Some(("/organization", "required_param")),
        ),
        (
            "organization_missing_indicator",
            P::SecureEmailOrganization,
            false,
            edited(se(), remove("/certificate/common_name_indicator")),
            Some(("/certificate/common_name_indicator", "required_param")),
        ),
        // legacy, current spellings
        (
            "client_premium_with_indicator",
            P::ClientPremium,
            false,
            edited(seed_with_indicator(), |_| {}),
            None,
        ),
        (
            "client_premium_seed_body_without_indicator",
            P::ClientPremium,
            false,
            edited(seed(), |_| {}),
            Some(("/certificate/common_name_indicator", "required_param")),
        ),
        (
            "client_premium_pseudonym_without_pseudonym",
            P::ClientPremium,
            false,
            edited(
                seed_with_indicator(),
                set("/certificate/common_name_indicator", json!("pseudonym")),
            ),
            Some(("/certificate/individual/pseudonym", "required_param")),
        ),
        (
            "client_premium_email_address_indicator",
            P::ClientPremium,
            false,
            edited(
                seed_with_indicator(),
                set("/certificate/common_name_indicator", json!("email_address")),
            ),
            Some(("/certificate/common_name_indicator", "invalid_value")),
        ),
        (
            "client_digital_signature_plus_without_indicator",
            P::ClientDigitalSignaturePlus,
            false,
            edited(seed(), |_| {}),
            Some(("/certificate/common_name_indicator", "required_param")),
        ),
        // legacy, the seed's ids
        (
            "client_email_security_plus_seed_body",
            P::ClientEmailSecurityPlus,
            false,
            edited(seed(), |_| {}),
            None,
        ),
        (
            "client_premium_sha2_with_indicator",
            P::ClientPremiumSha2,
            false,
            edited(seed_with_indicator(), |_| {}),
            None,
        ),
        (
            "client_digital_signature_plus_sha2_seed_body",
            P::ClientDigitalSignaturePlusSha2,
            false,
            edited(seed(), |_| {}),
            None,
        ),
        (
            "client_authentication_plus_seed_body",
            P::ClientAuthenticationPlus,
            false,
            edited(seed(), |_| {}),
            None,
        ),
        (
            "client_authentication_plus_missing_common_name",
            P::ClientAuthenticationPlus,
            false,
            edited(seed(), remove("/certificate/common_name")),
            Some(("/certificate/common_name", "required_param")),
        ),
        // class1_smime
        (
            "class1_smime_without_common_name",
            P::Class1Smime,
            false,
            edited(seed(), remove("/certificate/common_name")),
            None,
        ),
        (
            "class1_smime_with_common_name",
            P::Class1Smime,
            false,
            edited(seed(), |_| {}),
            Some(("/certificate/common_name", "invalid_value")),
        ),
        // the legacy body's 2025 members
        (
            "legacy_validity_days",
            P::ClientPremium,
            false,
            edited(seed_with_indicator(), |d| {
                remove("/validity_years")(d);
                set("/validity_days", json!(824))(d);
            }),
            None,
        ),
        (
            "legacy_validity_days_825",
            P::ClientPremium,
            false,
            edited(seed_with_indicator(), set("/validity_days", json!(825))),
            Some(("/validity_days", "invalid_value")),
        ),
        (
            "legacy_date_overrides_days_and_years",
            P::ClientPremium,
            false,
            edited(seed_with_indicator(), |d| {
                set("/validity_days", json!(30))(d);
                set("/custom_expiration_date", json!(date(10)))(d);
            }),
            None,
        ),
        (
            "legacy_order_validity_and_organization_contact",
            P::ClientPremium,
            false,
            edited(seed_with_indicator(), |d| {
                remove("/validity_years")(d);
                set("/order_validity", json!({"years": 2}))(d);
                set(
                    "/organization_contact",
                    json!({"first_name": "Terra", "anything": [1, 2]}),
                )(d);
            }),
            None,
        ),
        (
            "legacy_unknown_member_refused",
            P::ClientPremiumSha2,
            false,
            edited(seed(), set("/certificate/future_member", json!(1))),
            Some(("/certificate/future_member", "unknown_param")),
        ),
        (
            "legacy_unknown_member_allowed",
            P::ClientPremiumSha2,
            true,
            edited(seed(), set("/certificate/future_member", json!(1))),
            None,
        ),
    ]
}
