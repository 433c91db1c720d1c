//! The other commands and the global behaviour of the `certcentral` binary.

mod cli_support;

use certcentral_sandbox::{Approval, RateLimit, Sandbox};
use cli_support::*;

/// Plain http to anything but loopback is refused before any key is read or sent.
#[test]
fn base_url_http_to_non_loopback_is_refused() {
    let mut cmd = bare();
    cmd.env("DIGICERT_API_KEY", KEY).args([
        "status",
        "1",
        "--base-url",
        "http://example.com/services/v2",
    ]);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("loopback"), "{stderr}");
    assert!(!stderr.contains(KEY));

    let run = run_bare(&[
        "status",
        "1",
        "--sandbox",
        "--base-url",
        "https://www.digicert.com/services/v2",
    ]);
    assert_eq!(run.code, 2, "{run:?}");
}

/// The exit-code table is in `--help`; env values are never shown.
#[test]
fn help_documents_exit_codes_and_hides_env_values() {
    let run = run_bare(&["--help"]);
    assert_eq!(run.code, 0);
    for line in [
        "Exit codes:",
        "3  still pending",
        "4  outcome unknown",
        "5  bulk only: some rows failed, others succeeded",
        "DIGICERT_API_KEY",
    ] {
        assert!(run.stdout.contains(line), "{line}: {run:?}");
    }
    let out = bare()
        .env("DIGICERT_API_KEY_FILE", "/very/secret/location")
        .args(["order", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--api-key-file"), "{help}");
    assert!(help.contains("Exit codes:"), "{help}");
    assert!(!help.contains("/very/secret/location"), "{help}");
    // There is no flag that takes the key itself.
    let run = run_bare(&["status", "1", "--api-key", "x"]);
    assert_eq!(run.code, 2);
}

/// `certcentral sandbox --help` names the env variable but never shows its value.
#[test]
fn sandbox_help_hides_the_api_key_file_env_value() {
    let out = bare()
        .env("DIGICERT_API_KEY_FILE", "/secret/path")
        .args(["sandbox", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--api-key-file"), "{help}");
    assert!(help.contains("DIGICERT_API_KEY_FILE"), "{help}");
    assert!(!help.contains("/secret/path"), "{help}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("/secret/path"));
}

/// reject and cancel, with text and JSON output.
#[test]
fn reject_and_cancel() {
    let env = Env::start(
        Sandbox::builder()
            .approval(Approval::Manual)
            .rate_limit(RateLimit::Off),
    );
    let dir = env.dir.path().display().to_string();
    let order = |name: &str| {
        let run = env.run(&[
            "--json",
            "order",
            "--key-type",
            "p256",
            "--name",
            name,
            "--out",
            &dir,
            "--common-name",
            "Terra Branford",
            "--email",
            "terra@example.com",
            "--org-id",
            "112233",
        ]);
        assert_eq!(run.code, 0, "{run:?}");
        let json = run.json();
        assert_eq!(json["requests"][0]["status"], "pending");
        (
            json["order_id"].as_i64().unwrap(),
            json["requests"][0]["id"].as_i64().unwrap(),
        )
    };
    let (first, first_request) = order("first");
    let run = env.run(&[
        "reject",
        &first_request.to_string(),
        "--comment",
        "not today",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("rejected"), "{run:?}");
    assert_eq!(
        env.run(&["--json", "status", &first.to_string()]).json()["status"],
        "rejected"
    );

    let (second, _) = order("second");
    let run = env.run(&[
        "--json",
        "cancel",
        &second.to_string(),
        "--note",
        "duplicate",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["status"], "canceled");
    assert_eq!(
        env.run(&["--json", "status", &second.to_string()]).json()["status"],
        "canceled"
    );

    // An unknown order: exit 1 with DigiCert's code.
    let run = env.run(&["--json", "status", "987654"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.json()["error"]["errors"][0]["code"], "not_found|order");
}

/// products and product, against the embedded sandbox.
#[test]
fn products_and_product() {
    let run = run_bare(&["--json", "products", "--sandbox"]);
    assert_eq!(run.code, 0, "{run:?}");
    let json = run.json();
    let ids: Vec<&str> = json["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "client_premium_sha2",
            "client_email_security_plus",
            "client_authentication_plus",
            "client_digital_signature_plus_sha2"
        ]
    );

    let run = run_bare(&["product", "client_authentication_plus", "--sandbox"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.starts_with("client_authentication_plus"),
        "{run:?}"
    );
    let run = run_bare(&["product", "ssl_plus", "--sandbox"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("client_premium_sha2"), "{run:?}");
}
