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
    let catalog: Vec<&str> = certcentral_types::ProductId::ALL
        .iter()
        .map(|p| p.as_str())
        .collect();
    assert_eq!(ids, catalog);
    for seed in [
        "client_premium_sha2",
        "client_email_security_plus",
        "client_authentication_plus",
        "client_digital_signature_plus_sha2",
    ] {
        assert!(ids.contains(&seed), "{seed}");
    }
    // Each product says whether it is current, and a deprecated one names its replacement.
    for product in json["products"].as_array().unwrap() {
        match product["status"].as_str() {
            Some("current") => assert!(product.get("replacement").is_none(), "{product}"),
            Some("deprecated") => {
                assert_eq!(product["deprecated_on"], "2025-07-10", "{product}");
                assert!(
                    product["replacement"]
                        .as_str()
                        .unwrap()
                        .starts_with("secure_email_")
                );
            }
            other => panic!("status {other:?} in {product}"),
        }
    }
    let run = run_bare(&["products", "--sandbox"]);
    assert!(
        run.stdout.contains(
            "status               deprecated since 2025-07-10; order secure_email_sponsor instead"
        ),
        "{run:?}"
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

/// Every stderr line is one JSON object (with `"level"` and `"fields"."message"`).
fn assert_json_lines(stderr: &str) -> Vec<serde_json::Value> {
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("stderr line is not JSON ({e}): {line:?}\n{stderr}"))
        })
        .collect();
    for line in &lines {
        assert!(line["level"].is_string(), "{line}");
        assert!(line["fields"]["message"].is_string(), "{line}");
    }
    lines
}

/// Usage errors keep clap's detail (the bad value and the argument) in the `--json` object,
/// and `--log-format json` makes the stderr line JSON too.
#[test]
fn usage_errors_keep_the_detail_in_json() {
    let run = run_bare(&["--json", "status", "abc"]);
    assert_eq!(run.code, 2, "{run:?}");
    let json = run.json();
    let message = json["error"]["message"].as_str().unwrap();
    assert!(message.contains("'abc'"), "{json}");
    assert!(message.contains("<ORDER_ID>"), "{json}");
    assert_eq!(json["error"]["kind"], "usage");
    assert_eq!(json["error"]["value"], "abc");
    assert!(run.stderr.contains("'abc'"), "{run:?}");

    let run = run_bare(&["--log-format", "json", "status", "abc"]);
    assert_eq!(run.code, 2, "{run:?}");
    let lines = assert_json_lines(&run.stderr);
    assert_eq!(lines.len(), 1, "{run:?}");
    assert_eq!(lines[0]["level"], "ERROR");
    assert!(
        lines[0]["fields"]["message"]
            .as_str()
            .unwrap()
            .contains("'abc'"),
        "{run:?}"
    );
}

/// With `--log-format json`, progress lines, warnings and errors on stderr are all JSON.
#[test]
fn log_format_json_makes_every_stderr_line_json() {
    let order = ["order", "--sandbox", "--key-type", "p256"];
    let mut args = vec!["--log-format", "json"];
    args.extend(order);
    args.extend(LOCKE);
    args.push("--dry-run");
    let run = run_bare(&args);
    assert_eq!(run.code, 0, "{run:?}");
    assert_json_lines(&run.stderr);

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().display().to_string();
    let mut args = vec!["--log-format=json", "-v"];
    args.extend(order);
    args.extend(LOCKE);
    args.extend(["--wait", "--approve", "--out", &out]);
    let run = run_bare(&args);
    assert_eq!(run.code, 0, "{run:?}");
    let lines = assert_json_lines(&run.stderr);
    assert!(
        lines.iter().any(|l| l["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("ordered: order"))),
        "{run:?}"
    );

    let env = Env::start(Sandbox::builder().rate_limit(RateLimit::Off));
    let run = env.run(&["--log-format", "json", "status", "424242"]);
    assert_eq!(run.code, 1, "{run:?}");
    let lines = assert_json_lines(&run.stderr);
    let error = lines
        .iter()
        .find(|l| l["level"] == "ERROR")
        .expect("an error line");
    assert_eq!(error["fields"]["error"]["exit_code"], 1, "{run:?}");
    assert_eq!(error["fields"]["error"]["http_status"], 404, "{run:?}");
}

/// `certcentral --json sandbox` prints one JSON object (the base URL) instead of a plain URL.
#[test]
fn sandbox_json_prints_one_object() {
    use std::io::BufRead;
    let mut child = bare()
        .args(["--json", "sandbox", "--approval", "auto"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    let url = json["base_url"].as_str().unwrap();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/services/v2"),
        "{json}"
    );
    assert_eq!(json["api_key_generated"], true);

    // An error is one JSON object too.
    let run = run_bare(&["--json", "sandbox", "--listen", "0.0.0.0:0"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.json()["error"]["kind"], "usage");
}

/// An API key file readable by group or others gets a warning (as ssh gives for keys); a
/// 0600 file does not, and the key itself is never shown.
#[cfg(unix)]
#[test]
fn api_key_file_readable_by_others_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::start(Sandbox::builder().rate_limit(RateLimit::Off));
    let key_file = env.path("api.key");
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let args = ["products", "--api-key-file", key_file.to_str().unwrap()];
    let run = env.run_with(bare(), &args);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains("accessible by group or others (mode 0644)")
            && run.stderr.contains("chmod 600"),
        "{run:?}"
    );
    assert!(!run.stderr.contains(KEY), "{run:?}");

    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let run = env.run_with(bare(), &args);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stderr.contains("accessible"), "{run:?}");
}
