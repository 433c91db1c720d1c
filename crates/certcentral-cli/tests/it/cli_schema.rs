//! `certcentral schema`: prints the bundled JSON Schema byte for byte, so tools in other
//! languages validate with the same rules.

use std::process::Command;

fn schema(which: Option<&str>) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_certcentral"));
    cmd.arg("schema");
    if let Some(which) = which {
        cmd.arg(which);
    }
    let out = cmd.output().expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).expect("utf-8"),
        String::from_utf8(out.stderr).expect("utf-8"),
    )
}

#[test]
fn prints_each_bundled_schema_exactly() {
    let cases = [
        (
            Some("request"),
            certcentral_types::schema::ORDER_REQUEST,
            "OrderRequest",
        ),
        (
            None,
            certcentral_types::schema::ORDER_REQUEST,
            "OrderRequest",
        ),
        (
            Some("response"),
            certcentral_types::schema::ORDER_RESPONSE,
            "OrderResponse",
        ),
        (Some("error"), certcentral_types::schema::ERROR, "ErrorBody"),
    ];
    for (which, expected, title) in cases {
        let (code, stdout, stderr) = schema(which);
        assert_eq!(code, 0, "{which:?}: {stderr}");
        assert_eq!(
            stdout, expected,
            "{which:?} differs from the bundled schema"
        );
        let parsed: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
        assert_eq!(parsed["title"], title);
        assert_eq!(
            parsed["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
    }
}

#[test]
fn unknown_schema_is_a_usage_error() {
    let (code, stdout, stderr) = schema(Some("invoice"));
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("request") && stderr.contains("response"),
        "{stderr}"
    );
}

/// `schema request --product ID` prints the product's own schema: the document certcentral
/// validates with (body plus the product's rules).
#[test]
fn prints_a_products_schema() {
    let out = Command::new(env!("CARGO_BIN_EXE_certcentral"))
        .args(["schema", "request", "--product", "secure_email_sponsor"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        printed,
        certcentral_validate::product_schema(certcentral_types::ProductId::SecureEmailSponsor)
    );
    assert_eq!(printed["title"], "SecureEmailOrderRequest");
    let out = Command::new(env!("CARGO_BIN_EXE_certcentral"))
        .args(["schema", "error", "--product", "secure_email_sponsor"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
}
