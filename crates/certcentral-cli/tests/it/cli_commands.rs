//! The other commands and the global behaviour of the `certcentral` binary.

use crate::cli_support::*;
use certcentral_sandbox::{Approval, RateLimit, Sandbox};

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
            "--product",
            "client_premium_sha2",
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

// ---------------------------------------------------------------- after issuance

/// Orders an issued certificate through the CLI (`--skip-approval` is not needed: the test
/// sandboxes of this block approve automatically); returns (order id, certificate id).
fn issued_order(env: &Env, name: &str, common_name: &str, email: &str) -> (i64, i64) {
    let dir = env.dir.path().display().to_string();
    let run = env.run(&[
        "--json",
        "order",
        "--key-type",
        "p256",
        "--name",
        name,
        "--out",
        &dir,
        "--product",
        "client_premium_sha2",
        "--common-name",
        common_name,
        "--email",
        email,
        "--org-id",
        "112233",
        "--wait",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let json = run.json();
    let order_id = json["order_id"].as_i64().unwrap();
    let status = env.run(&["--json", "status", &order_id.to_string()]).json();
    assert_eq!(status["status"], "issued", "{status}");
    (order_id, status["certificate"]["id"].as_i64().unwrap())
}

/// The body of a plain HTTP/1.0 GET (the sandbox's inspection routes need no key).
fn http_get_body(addr: std::net::SocketAddr, path: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let start = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response")
        + 4;
    assert!(response.starts_with(b"HTTP/1.0 200") || response.starts_with(b"HTTP/1.1 200"));
    response[start..].to_vec()
}

fn auto_env(role: certcentral_sandbox::KeyRole) -> Env {
    Env::start(
        Sandbox::builder()
            .approval(Approval::Auto)
            .rate_limit(RateLimit::Off)
            .key_role(role),
    )
}

/// Revoke shows what it revokes, refuses without a terminal and without --yes (exit 2,
/// nothing sent), has a dry run, and revokes with --yes.
#[test]
fn revoke_confirms_shows_and_revokes() {
    let env = auto_env(certcentral_sandbox::KeyRole::Administrator);
    let (order_id, cert_id) = issued_order(&env, "terra", "Terra Branford", "terra@example.com");
    let order = order_id.to_string();
    let cert = cert_id.to_string();

    let run = env.run(&["revoke", "--order-id", &order]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--yes"), "{run:?}");
    assert!(
        run.stderr.contains("Terra Branford"),
        "shown first: {run:?}"
    );
    assert_eq!(
        env.run(&["--json", "status", &order]).json()["status"],
        "issued"
    );

    let run = env.run(&["--json", "revoke", "--certificate-id", &cert, "--dry-run"]);
    assert_eq!(run.code, 0, "{run:?}");
    let json = run.json();
    assert_eq!(json["dry_run"], true);
    assert_eq!(
        json["target"]["certificate"]["common_name"],
        "Terra Branford"
    );
    assert_eq!(
        json["target"]["certificate"]["emails"][0],
        "terra@example.com"
    );
    let serial = json["target"]["certificate"]["serial_hex"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!serial.is_empty());

    let run = env.run(&[
        "--json",
        "revoke",
        "--order-id",
        &order,
        "--yes",
        "--skip-approval",
        "--comment",
        "left the company",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["outcome"], "revoked");
    assert_eq!(
        env.run(&["--json", "status", &order]).json()["status"],
        "revoked"
    );
    // The CRL lists the serial (openssl reads it when installed).
    let crl = http_get_body(env.sandbox.addr(), "/_sandbox/crl");
    let (_, parsed) = <x509_parser::revocation_list::CertificateRevocationList as
        x509_parser::prelude::FromDer<_>>::from_der(&crl)
    .unwrap();
    let listed: Vec<String> = parsed
        .iter_revoked_certificates()
        .map(|r| r.raw_serial_as_string().replace(':', "").to_uppercase())
        .collect();
    assert_eq!(listed, [serial]);
    // Twice is DigiCert's error, exit 1.
    let run = env.run(&["revoke", "--order-id", &order, "--yes"]);
    assert_eq!(run.code, 1, "{run:?}");
}

/// Without skip_approval (or with a user's key) the revoke is a request that `approve` approves.
#[test]
fn revoke_request_is_approved_with_approve() {
    let env = auto_env(certcentral_sandbox::KeyRole::User);
    let (order_id, _) = issued_order(&env, "celes", "Celes Chere", "celes@example.com");
    let order = order_id.to_string();
    let run = env.run(&[
        "--json",
        "revoke",
        "--order-id",
        &order,
        "--yes",
        "--skip-approval",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let json = run.json();
    assert_eq!(json["outcome"], "requested");
    assert_eq!(json["request"]["status"], "pending");
    let request = json["request"]["id"].as_i64().unwrap().to_string();
    assert_eq!(
        env.run(&["--json", "status", &order]).json()["status"],
        "issued"
    );
    let run = env.run(&["approve", &request]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        env.run(&["--json", "status", &order]).json()["status"],
        "revoked"
    );
}

/// `expiring` lists what ends within the window by the given day; `reissue` writes a new key
/// (0600) and the certificate carrying it, and refuses to overwrite.
#[test]
fn expiring_with_a_moved_clock_and_reissue() {
    let env = auto_env(certcentral_sandbox::KeyRole::Administrator);
    let (first, _) = issued_order(&env, "sabin", "Sabin Figaro", "sabin@example.com");
    let (second, first_cert) = issued_order(&env, "edgar", "Edgar Figaro", "edgar@example.com");
    let run = env.run(&["--json", "expiring", "--within", "30d"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["orders"], serde_json::json!([]));

    let later = env.sandbox.now() + chrono::Duration::days(340);
    env.sandbox.set_now(later);
    let today = later.date_naive().to_string();
    let run = env.run(&["--json", "expiring", "--within", "30d", "--today", &today]);
    assert_eq!(run.code, 0, "{run:?}");
    let json = run.json();
    let ids: Vec<i64> = json["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["order_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [first, second]);
    assert_eq!(json["orders"][1]["common_name"], "Edgar Figaro");
    assert!(json["orders"][1]["days_remaining"].as_i64().unwrap() <= 30);
    let run = env.run(&["expiring", "--within", "30d", "--today", &today]);
    assert!(run.stdout.contains("Edgar Figaro"), "{run:?}");

    let out = env.path("reissued");
    let out_s = out.display().to_string();
    let run = env.run(&[
        "--json",
        "reissue",
        &second.to_string(),
        "--key-type",
        "p256",
        "--out",
        &out_s,
        "--wait",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let json = run.json();
    assert_ne!(json["certificate_id"].as_i64(), Some(first_cert));
    let key = out.join(format!("edgar-figaro-reissue-{second}.key"));
    assert_eq!(mode(&key) & 0o777, 0o600);
    let crt =
        std::fs::read_to_string(out.join(format!("edgar-figaro-reissue-{second}.crt"))).unwrap();
    assert_eq!(
        leaf_spki(&crt),
        key_spki(&std::fs::read_to_string(&key).unwrap())
    );
    // The key is never overwritten: a second reissue into the same directory is refused first.
    let before = env.sandbox.orders();
    let run = env.run(&["reissue", &second.to_string(), "--out", &out_s]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(env.sandbox.orders(), before);
}

/// `renew` places one new order with the original's details and a new key, linked to the
/// original; the record says which order it renews; a dry run sends nothing.
#[test]
fn renew_places_a_linked_order_with_a_new_key() {
    let env = auto_env(certcentral_sandbox::KeyRole::Administrator);
    let (old, _) = issued_order(&env, "locke", "Locke Cole", "locke.cole@example.com");
    let out = env.path("renewed");
    let out_s = out.display().to_string();

    let run = env.run(&[
        "--json",
        "renew",
        &old.to_string(),
        "--dry-run",
        "--out",
        &out_s,
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let body = run.json();
    assert_eq!(body["renewal_of_order_id"], old);
    assert_eq!(body["certificate"]["common_name"], "Locke Cole");
    assert_eq!(env.sandbox.order_count(), 1, "a dry run sends nothing");

    let record = env.path("locke.order.json").display().to_string();
    let run = env.run(&[
        "--json",
        "renew",
        "--order-record",
        &record,
        "--key-type",
        "p256",
        "--out",
        &out_s,
        "--wait",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let json = run.json();
    let new = json["order_id"].as_i64().unwrap();
    assert_ne!(new, old);
    assert_eq!(env.sandbox.order_count(), 2);
    let stem = format!("locke-cole-renewal-{old}");
    let key = out.join(format!("{stem}.key"));
    assert_eq!(mode(&key) & 0o777, 0o600);
    let crt = std::fs::read_to_string(out.join(format!("{stem}.crt"))).unwrap();
    assert_eq!(
        leaf_spki(&crt),
        key_spki(&std::fs::read_to_string(&key).unwrap())
    );
    let saved: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join(format!("{stem}.order.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(saved["renewal_of_order_id"], old);
    let status = env.run(&["--json", "status", &old.to_string()]).json();
    assert_eq!(status["is_renewed"], true);
    let status = env.run(&["--json", "status", &new.to_string()]).json();
    assert_eq!(status["renewal_of_order_id"], old);

    // The new key is never overwritten: the same renewal again is refused before ordering.
    let run = env.run(&["renew", &old.to_string(), "--out", &out_s]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(env.sandbox.order_count(), 2);
}

/// `--sandbox --sandbox-state FILE` remembers across commands: order, then status, renew and
/// revoke in later commands; `--sandbox-reset` starts empty.
#[test]
fn sandbox_state_file_remembers_across_commands() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("sandbox.sqlite");
    let state_s = state.display().to_string();
    let out_s = dir.path().display().to_string();
    let sandbox = |args: &[&str]| {
        let mut cmd = bare();
        cmd.env(certcentral_cli::connect::SANDBOX_STATE_ENV, &state_s)
            .args(args)
            .arg("--sandbox");
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let json = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap();
    let (code, stdout, stderr) = sandbox(&[
        "--json",
        "order",
        "--key-type",
        "p256",
        "--out",
        &out_s,
        "--product",
        "client_premium_sha2",
        "--common-name",
        "Locke Cole",
        "--email",
        "locke.cole@example.com",
        "--org-id",
        "112233",
        "--wait",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let order_id = json(&stdout)["order_id"].as_i64().unwrap().to_string();
    let (code, stdout, stderr) = sandbox(&["--json", "status", &order_id]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(json(&stdout)["status"], "issued");
    let (code, stdout, stderr) = sandbox(&[
        "--json",
        "renew",
        &order_id,
        "--key-type",
        "p256",
        "--out",
        &out_s,
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, stdout, stderr) = sandbox(&[
        "--json",
        "revoke",
        "--order-id",
        &order_id,
        "--yes",
        "--skip-approval",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (_, stdout, _) = sandbox(&["--json", "status", &order_id]);
    assert_eq!(json(&stdout)["status"], "revoked");
    assert_eq!(json(&stdout)["is_renewed"], true);
    let (code, stdout, stderr) = sandbox(&["--json", "status", &order_id, "--sandbox-reset"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
}

/// Commands running at the same time on one state file wait for each other: every order is
/// kept, with distinct ids.
#[test]
fn concurrent_sandbox_commands_on_one_state_file_stay_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("sandbox.sqlite");
    let children: Vec<_> = (0..4)
        .map(|i| {
            let mut cmd = bare();
            cmd.env(certcentral_cli::connect::SANDBOX_STATE_ENV, &state)
                .args([
                    "--json",
                    "order",
                    "--sandbox",
                    "--key-type",
                    "p256",
                    "--out",
                ])
                .arg(dir.path())
                .args([
                    "--product",
                    "client_premium_sha2",
                    "--common-name",
                    &format!("User {i}"),
                    "--email",
                    &format!("user{i}@example.com"),
                    "--org-id",
                    "112233",
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    let mut ids = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        ids.push(json["order_id"].as_i64().unwrap());
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 4, "{ids:?}");
    for id in ids {
        let out = bare()
            .env(certcentral_cli::connect::SANDBOX_STATE_ENV, &state)
            .args(["--json", "status", &id.to_string(), "--sandbox"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
    }
}
