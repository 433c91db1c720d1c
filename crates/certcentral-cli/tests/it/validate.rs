//! `certcentral validate`: the CLI contract, checked by running the real binary.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

const TODAY: &str = "2026-01-15";

fn seed() -> Value {
    certcentral_testkit::seed_body_without_csr()
}

/// The seed's product, for the seed's body (the default product takes the Secure Email body).
const SEED_PRODUCT: [&str; 2] = ["--product", "client_premium_sha2"];

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut argv = vec!["validate"];
    argv.extend(args);
    run_feeding(&argv, stdin.to_vec())
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn valid_order_from_a_file_exits_0_with_its_warning() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("order.json");
    std::fs::write(&file, seed().to_string()).unwrap();
    let output = run(
        &[
            SEED_PRODUCT[0],
            SEED_PRODUCT[1],
            "--today",
            TODAY,
            file.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = stdout(&output);
    assert!(
        text.lines()
            .any(|l| l.starts_with("/certificate/csr: no CSR") && l.ends_with("(csr_missing)")),
        "{text}"
    );
    // The seed's product is deprecated since 2025 (a warning naming the replacement) and
    // DigiCert now wants the common name indicator (a warning): the seed's body stays valid.
    assert!(
        text.lines()
            .any(|l| l.starts_with("(root): `client_premium_sha2`")
                && l.contains("`secure_email_sponsor`")
                && l.ends_with("(product_deprecated)")),
        "{text}"
    );
    assert!(text.contains("(common_name_indicator_missing)"), "{text}");
    assert!(text.contains("valid: 0 errors, 3 warnings"), "{text}");
}

#[test]
fn invalid_order_exits_1_and_lists_every_violation_as_path_message_code() {
    let mut order = seed();
    order["auto_renew"] = json!(100);
    order["certificate"]["emails"] = json!(["locke.cole@example.com", "nope"]);
    let output = run(
        &[SEED_PRODUCT[0], SEED_PRODUCT[1], "--today", TODAY, "-"],
        order.to_string().as_bytes(),
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let text = stdout(&output);
    assert!(
        text.contains(
            "/certificate/emails/1: must be an email address like `name@example.com`: a dot-atom local part of at most 64 characters, and a domain of two or more letter-digit-hyphen labels (`xn--` labels allowed) whose last label has a letter (no IP addresses); found `nope` (a string) (invalid_value)"
        ),
        "{text}"
    );
    assert!(
        text.contains("/auto_renew: must be an integer from 0 to 99; found 100 (invalid_value)"),
        "{text}"
    );
    assert!(text.contains("invalid: 2 errors, 3 warnings"), "{text}");
}

#[test]
fn json_output_is_exactly_one_object_of_the_documented_shape() {
    let mut order = seed();
    order["validity_years"] = json!(3);
    let output = run(
        &[
            "--json",
            "--today",
            TODAY,
            "--product",
            "client_authentication_plus",
            "-",
        ],
        order.to_string().as_bytes(),
    );
    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(
        report,
        json!({
            "valid": false,
            "errors": [{
                "path": "/validity_years",
                "code": "invalid_value",
                "message": "must be one of: 1, 2 (required unless `custom_expiration_date`, `validity_days` or `order_validity` is given); found 3"
            }],
            "warnings": [{
                "path": "/certificate/csr",
                "code": "csr_missing",
                "message": "no CSR: the recipient must generate the key in a browser, so the order cannot complete through the API alone"
            }]
        })
    );

    let output = run(
        &["--json", SEED_PRODUCT[0], SEED_PRODUCT[1], "-"],
        seed().to_string().as_bytes(),
    );
    assert_eq!(output.status.code(), Some(0));
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["valid"], json!(true));
    assert_eq!(report.as_object().unwrap().len(), 3);
}

#[test]
fn malformed_json_exits_1_with_line_and_column() {
    let output = run(&["--json", "-"], b"{\n  \"certificate\": }");
    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["valid"], json!(false));
    assert_eq!(report["errors"][0]["path"], json!(""));
    assert_eq!(report["errors"][0]["code"], json!("bad_request_format"));
    let message = report["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("line 2 column"), "{message}");

    let output = run(&["-"], b"not json");
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).starts_with("errors:\n(root): the body is not valid JSON"));
}

#[test]
fn today_drives_the_date_rules() {
    let mut order = seed();
    order["custom_expiration_date"] = json!("2026-06-01");
    let body = order.to_string();
    assert_eq!(
        run(
            &[
                SEED_PRODUCT[0],
                SEED_PRODUCT[1],
                "--today",
                "2026-01-15",
                "-"
            ],
            body.as_bytes()
        )
        .status
        .code(),
        Some(0)
    );
    assert_eq!(
        run(
            &[
                SEED_PRODUCT[0],
                SEED_PRODUCT[1],
                "--today",
                "2026-06-02",
                "-"
            ],
            body.as_bytes()
        )
        .status
        .code(),
        Some(1)
    );
    assert_eq!(
        run(
            &[
                SEED_PRODUCT[0],
                SEED_PRODUCT[1],
                "--today",
                "2024-02-30",
                "-"
            ],
            body.as_bytes()
        )
        .status
        .code(),
        Some(2)
    );
}

#[test]
fn every_product_is_accepted_and_an_unknown_one_is_a_usage_error() {
    for product in [
        "client_premium_sha2",
        "client_email_security_plus",
        "client_authentication_plus",
        "client_digital_signature_plus_sha2",
    ] {
        let output = run(&["--product", product, "-"], seed().to_string().as_bytes());
        assert_eq!(output.status.code(), Some(0), "{product}");
    }
    let output = run(
        &["--product", "ssl_basic", "-"],
        seed().to_string().as_bytes(),
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("ssl_basic"), "{stderr}");
    assert!(
        stderr.contains("client_premium_sha2")
            && stderr.contains("client_email_security_plus")
            && stderr.contains("client_authentication_plus")
            && stderr.contains("client_digital_signature_plus_sha2"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn missing_file_and_missing_argument_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.json");
    let output = run(&[missing.to_str().unwrap()], b"");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("absent.json"), "{stderr}");
    assert!(output.stdout.is_empty());

    assert_eq!(run(&[], b"").status.code(), Some(2));
}

/// Runs `certcentral ARGS` with `stdin` fed from a thread (write errors ignored: the command
/// may stop reading early).
fn run_feeding(args: &[&str], stdin: Vec<u8>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_certcentral"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let output = child.wait_with_output().unwrap();
    let _ = feeder.join();
    output
}

/// Order bodies are bounded (1 MiB): a larger input, from stdin, a file or `/dev/zero`,
/// fails fast with a clear usage error instead of growing without limit.
#[test]
fn oversized_input_is_refused_with_a_clear_error() {
    let output = run_feeding(&["validate", "-"], vec![b'['; 2 * 1024 * 1024]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("standard input is larger than 1024 KiB"),
        "{stderr}"
    );

    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.json");
    std::fs::write(&big, vec![b' '; 1024 * 1024 + 1]).unwrap();
    let output = run(&[big.to_str().unwrap()], b"");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("larger than 1024 KiB"));

    #[cfg(unix)]
    {
        let output = run(&["/dev/zero"], b"");
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("larger than 1024 KiB"));
    }
}

/// `--json` keeps its promise for inputs that cannot be read: exactly one JSON object on
/// stdout (the error), whether the flag is the command's or the global one.
#[test]
fn unreadable_input_with_json_prints_one_error_object() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.json");
    let folder = dir.path().to_str().unwrap().to_string();
    let mut cases = vec![
        vec!["validate", "--json", missing.to_str().unwrap()],
        vec!["--json", "validate", missing.to_str().unwrap()],
        vec!["validate", "--json", folder.as_str()],
    ];
    if cfg!(unix) {
        cases.push(vec!["validate", "--json", "/dev/zero"]);
    }
    for args in cases {
        let output = run_feeding(&args, Vec::new());
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        let json: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: stdout is not one JSON value ({e}): {output:?}"));
        assert_eq!(json["error"]["kind"], "usage", "{args:?}");
        assert_eq!(json["error"]["exit_code"], 2, "{args:?}");
        assert!(
            json["error"]["message"]
                .as_str()
                .unwrap()
                .contains("cannot read")
                || json["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("larger than"),
            "{args:?}: {json}"
        );
    }
}

/// A Secure Email body validates for its product; `--allow-unknown` turns a member the schema
/// does not know into a warning.
#[test]
fn secure_email_body_and_allow_unknown() {
    let body = json!({
        "certificate": {
            "emails": ["locke.cole@example.com"],
            "signature_hash": "sha256",
            "common_name_indicator": "given_name_surname",
            "individual": {"first_name": "Locke", "last_name": "Cole"},
            "usage_designation": {"primary_usage": "signing"},
            "profile_type": "strict",
            "new_member": true
        },
        "organization": {"id": 112233},
        "validity_years": 1
    });
    let args = ["--json", "--product", "secure_email_sponsor", "-"];
    let output = run(&args, body.to_string().as_bytes());
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["errors"][0]["code"], "unknown_param");
    let output = run(
        &[
            "--json",
            "--allow-unknown",
            "--product",
            "secure_email_sponsor",
            "-",
        ],
        body.to_string().as_bytes(),
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert!(
        report["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["code"] == "unknown_param" && w["path"] == "/certificate/new_member"),
        "{report}"
    );
}

/// A product id DigiCert added before certcentral did (`secure_email_individual`, the SBR's
/// individual-validated type): refused as always without `--allow-unknown` (exit 2, the
/// catalog's ids); with it an `unknown_product` warning naming the catalog's ids and the body
/// it was checked as, unknown members warnings too, and the body's own rules still errors.
#[test]
fn allow_unknown_takes_a_product_the_catalog_does_not_know() {
    let mut body = certcentral_testkit::secure_email_body_without_csr();
    body["certificate"]["individual_validation"] = json!({"id_document": "passport"});
    let body = body.to_string();
    let unknown = ["--product", "secure_email_individual", "--today", TODAY];

    let output = run(&[&unknown[..], &["-"]].concat(), body.as_bytes());
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    assert!(
        stderr.starts_with("error: invalid value 'secure_email_individual' for '--product <ID>'"),
        "{stderr}"
    );
    for product in certcentral_types::ProductId::ALL {
        assert!(stderr.contains(product.as_str()), "{stderr}");
    }
    assert!(output.stdout.is_empty());

    let output = run(
        &[&unknown[..], &["--allow-unknown", "-"]].concat(),
        body.as_bytes(),
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    insta::assert_snapshot!("unknown_product_report", stdout(&output));

    // The body's own rules still apply: a bad usage is an error, with the same warning.
    let mut broken = certcentral_testkit::secure_email_body_without_csr();
    broken["certificate"]["usage_designation"]["primary_usage"] = json!("everything");
    let output = run(
        &[&unknown[..], &["--allow-unknown", "--json", "-"]].concat(),
        broken.to_string().as_bytes(),
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(
        report["errors"][0]["path"], "/certificate/usage_designation/primary_usage",
        "{report}"
    );
    assert_eq!(report["warnings"][0]["code"], "unknown_product", "{report}");
    assert_eq!(report["warnings"][0]["path"], "", "{report}");

    // A body without `usage_designation` is checked as the seed's: the seed's example fits.
    let output = run(
        &[&unknown[..], &["--allow-unknown", "--json", "-"]].concat(),
        seed().to_string().as_bytes(),
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let message = report["warnings"][0]["message"].as_str().unwrap();
    assert!(
        message.contains(
            "checked as the `client_certificate` body (it has no `certificate.usage_designation`)"
        ),
        "{report}"
    );
}
