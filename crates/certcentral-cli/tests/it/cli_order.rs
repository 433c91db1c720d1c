//! `certcentral order` end to end: the real binary against a sandbox on 127.0.0.1.

use crate::cli_support::*;
use certcentral_sandbox::{Approval, FaultKind, RateLimit, Sandbox};

fn auto() -> Env {
    Env::start(
        Sandbox::builder()
            .approval(Approval::Auto)
            .rate_limit(RateLimit::Off),
    )
}

fn manual() -> Env {
    Env::start(
        Sandbox::builder()
            .approval(Approval::Manual)
            .rate_limit(RateLimit::Off),
    )
}

/// The README's main command, read from README.md ("Two commands for a fresh machine") and
/// run exactly as written (default RSA 2048 key, `--sandbox`), with its `--out` moved into a
/// temporary directory.
#[test]
fn readme_main_command_with_embedded_sandbox() {
    let readme = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"),
    )
    .unwrap();
    let section = readme
        .split("## Two commands for a fresh machine")
        .nth(1)
        .expect("README.md has the section");
    let line = section
        .lines()
        .find(|l| l.starts_with("cargo run ") && l.contains(" -- order "))
        .expect("the main command in a code block");
    let words: Vec<&str> = line.split_whitespace().collect();
    let args = &words[words.iter().position(|w| *w == "--").unwrap() + 1..];
    assert_eq!(args[..2], ["order", "--sandbox"], "{line}");
    assert!(args.contains(&"--wait"), "{line}");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("certs");
    let out_arg = format!("{}/", out.display());
    let mut run_args: Vec<&str> = Vec::new();
    let mut words = args.iter();
    while let Some(word) = words.next() {
        run_args.push(word);
        if *word == "--out" {
            words.next().expect("--out DIR");
            run_args.push(&out_arg);
        }
    }
    assert!(run_args.contains(&out_arg.as_str()), "{line}: --out DIR");
    let run = run_bare(&run_args);
    assert_eq!(run.code, 0, "{run:?}");

    let key = out.join("locke-cole.key");
    #[cfg(unix)]
    assert_eq!(mode(&key), 0o600);
    let key_pem = std::fs::read_to_string(&key).unwrap();
    assert!(key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    let csr_pem = std::fs::read_to_string(out.join("locke-cole.csr")).unwrap();
    let crt_pem = std::fs::read_to_string(out.join("locke-cole.crt")).unwrap();

    // The certificate is for our key: leaf key == CSR key == private key's public key.
    assert_eq!(leaf_spki(&crt_pem), csr_spki(&csr_pem));
    assert_eq!(csr_spki(&csr_pem), key_spki(&key_pem));
    let blocks = pem::parse_many(&crt_pem).unwrap();
    assert!(blocks.len() >= 2, "leaf and chain expected");
    let (_, leaf) = x509_parser::parse_x509_certificate(blocks[0].contents()).unwrap();
    assert!(
        leaf.subject().to_string().contains("Locke Cole"),
        "{}",
        leaf.subject()
    );

    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("locke-cole.order.json")).unwrap()).unwrap();
    assert_eq!(record["status"], "issued");
    assert!(record["order_id"].as_i64().unwrap() > 0);
    assert!(record["certificate_id"].as_i64().is_some());
    assert!(run.stdout.contains("locke-cole.crt"), "{run:?}");
    // Not a terminal: no spinner frames or carriage returns.
    assert!(!run.stderr.contains('\r'), "{run:?}");
}

/// Any existing output file stops the command before anything is ordered or written.
#[test]
fn refuses_to_overwrite_before_ordering() {
    let env = auto();
    std::fs::write(env.path("locke-cole.crt"), "old").unwrap();
    let dir = env.dir.path().display().to_string();
    let mut args = vec!["order", "--key-type", "p256", "--wait", "--out", &dir];
    args.extend(LOCKE);
    let run = env.run(&args);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("refusing to overwrite") && run.stderr.contains("locke-cole.crt"),
        "{run:?}"
    );
    assert_eq!(env.sandbox.order_count(), 0);
    assert!(!env.path("locke-cole.key").exists());
    assert_eq!(
        std::fs::read_to_string(env.path("locke-cole.crt")).unwrap(),
        "old"
    );

    // The key file alone blocks too, and is never touched.
    std::fs::remove_file(env.path("locke-cole.crt")).unwrap();
    std::fs::write(env.path("locke-cole.key"), "mine").unwrap();
    let run = env.run(&args);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(
        std::fs::read_to_string(env.path("locke-cole.key")).unwrap(),
        "mine"
    );
    assert_eq!(env.sandbox.order_count(), 0);
}

/// DigiCert's documented example body (with its `<csr>` placeholder), from a file and from
/// standard input.
#[test]
fn order_file_with_the_seed_example() {
    let env = manual();
    let seed = r#"{
"certificate": {
"common_name": "Lock Cole",
"emails": [
"locke.cole@example.com"
],
"signature_hash": "sha256",
"organization_units": [
"Accounting"
],
"csr": "<csr>"
},
"skip_approval": true,
"organization": {
"id": 112233
},
"container": {
"id": 445566
},
"validity_years": 1,
"payment_method": "balance"
}"#;
    let file = env.path("seed.json");
    std::fs::write(&file, seed).unwrap();
    let dir = env.dir.path().display().to_string();
    let run = env.run(&[
        "order",
        "--product",
        "client_premium_sha2",
        "--order-file",
        file.to_str().unwrap(),
        "--key-type",
        "p256",
        "--wait",
        "--out",
        &dir,
        "--json",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let json = run.json();
    assert_eq!(json["status"], "issued");
    assert!(env.path("lock-cole.crt").exists());
    let orders = env.sandbox.orders();
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].organization_units, ["Accounting"]);
    assert!(orders[0].has_csr);

    // Flags and --order-file are exclusive.
    let run = env.run(&["order", "--order-file", "x.json", "--common-name", "A"]);
    assert_eq!(run.code, 2, "{run:?}");

    // Standard input, dry run: the body printed is the seed with a real CSR.
    let mut cmd = env.cmd();
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd.args([
        "order",
        "--product",
        "client_premium_sha2",
        "--order-file",
        "-",
        "--key-type",
        "p256",
        "--dry-run",
        "--base-url",
        env.sandbox.base_url(),
    ]);
    let mut child = cmd.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(seed.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(body["certificate"]["common_name"], "Lock Cole");
    assert!(
        body["certificate"]["csr"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE REQUEST-----")
    );
    assert_eq!(env.sandbox.order_count(), 1);
}

/// `--dry-run` prints the exact body and sends nothing (no request at all), writes nothing.
#[test]
fn dry_run_sends_nothing() {
    let env = auto();
    let dir = env.dir.path().join("out");
    let dir_arg = dir.display().to_string();
    let mut args = vec![
        "order",
        "--dry-run",
        "--key-type",
        "p256",
        "--out",
        &dir_arg,
    ];
    args.extend(LOCKE);
    let run = env.run(&args);
    assert_eq!(run.code, 0, "{run:?}");
    let body: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(body["certificate"]["emails"][0], "locke.cole@example.com");
    assert_eq!(body["certificate"]["individual"]["first_name"], "Locke");
    assert_eq!(
        body["certificate"]["common_name_indicator"],
        "given_name_surname"
    );
    assert_eq!(body["organization"]["id"], 112233);
    assert_eq!(body["validity_years"], 1);
    assert!(!run.stdout.contains(KEY) && !run.stderr.contains(KEY));
    assert_eq!(env.sandbox.order_count(), 0);
    assert_eq!(env.sandbox.stats().total, 0);
    assert!(!dir.exists(), "dry run wrote files");

    // An invalid order: exit 1, every violation listed, nothing sent.
    let run = env.run(&[
        "order",
        "--dry-run",
        "--key-type",
        "p256",
        "--product",
        "client_premium_sha2",
        "--common-name",
        "A",
        "--email",
        "not-an-email",
        "--email",
        "x@example.com",
        "--org-id",
        "1",
        "--auto-renew",
        "3",
        "--payment-method",
        "card",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("/certificate/emails/0"), "{run:?}");
    assert!(run.stderr.contains("/auto_renew"), "{run:?}");
    assert_eq!(env.sandbox.stats().total, 0);
}

/// A wrong API key: exit 1 with DigiCert's error code, as text and as JSON.
#[test]
fn wrong_api_key_prints_digicert_code() {
    let env = auto();
    let dir = env.dir.path().display().to_string();
    let mut cmd = bare();
    cmd.env("DIGICERT_API_KEY", "wrong-key");
    let mut args = vec!["order", "--key-type", "p256", "--out", &dir, "--json"];
    args.extend(LOCKE);
    let run = env.run_with(cmd, &args);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("access_denied|access_denied_invalid_key"),
        "{run:?}"
    );
    let json = run.json();
    assert_eq!(json["error"]["exit_code"], 1);
    assert_eq!(json["error"]["http_status"], 403);
    assert_eq!(
        json["error"]["errors"][0]["code"],
        "access_denied|access_denied_invalid_key"
    );
    assert_eq!(env.sandbox.order_count(), 0);

    // No key at all: a usage error saying where the key comes from.
    let run = env.run_with(bare(), &["status", "1"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("DIGICERT_API_KEY"), "{run:?}");
}

/// The API key appears nowhere in the output, even at -vvv, on success and on failure, from
/// the environment or from a file.
#[test]
fn api_key_never_printed_at_trace_level() {
    let env = auto();
    let dir = env.dir.path().display().to_string();
    let mut args = vec![
        "-vvv",
        "order",
        "--key-type",
        "p256",
        "--wait",
        "--p12",
        "--out",
        &dir,
    ];
    args.extend(LOCKE);
    let run = env.run(&args);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("TRACE") || run.stderr.contains("DEBUG"),
        "expected verbose logs: {run:?}"
    );
    for run in [
        run,
        env.run(&["-vvv", "status", "999999"]),
        env.run(&["-vvv", "--log-format", "json", "status", "1"]),
    ] {
        assert!(!run.stdout.contains(KEY), "key in stdout: {run:?}");
        assert!(!run.stderr.contains(KEY), "key in stderr: {run:?}");
    }
    let key_file = env.path("api-key");
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    let order_id = env.sandbox.orders()[0].id.to_string();
    let run = env.run_with(
        bare(),
        &[
            "-vvv",
            "status",
            &order_id,
            "--api-key-file",
            key_file.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        !run.stdout.contains(KEY) && !run.stderr.contains(KEY),
        "{run:?}"
    );
}

/// `--json` prints one JSON object with the documented fields; `--p12` writes a PKCS#12 that
/// opens with the generated password.
#[test]
fn json_output_and_p12() {
    let env = auto();
    let dir = env.dir.path().display().to_string();
    let mut args = vec![
        "--json",
        "order",
        "--key-type",
        "p256",
        "--wait",
        "--p12",
        "--out",
        &dir,
    ];
    args.extend(LOCKE);
    let run = env.run(&args);
    assert_eq!(run.code, 0, "{run:?}");
    let json = run.json();
    assert!(json["order_id"].as_i64().unwrap() > 0);
    assert!(json["requests"][0]["id"].as_i64().is_some());
    assert_eq!(json["requests"][0]["status"], "approved");
    assert!(json["certificate_id"].as_i64().is_some());
    assert_eq!(json["status"], "issued");
    for file in ["key", "csr", "order", "certificate", "p12", "p12_password"] {
        assert!(
            json["files"][file].is_string(),
            "files.{file} missing: {json}"
        );
    }
    #[cfg(unix)]
    {
        assert_eq!(mode(&env.path("locke-cole.p12")), 0o600);
        assert_eq!(mode(&env.path("locke-cole.p12.pass")), 0o600);
    }
    let password = std::fs::read_to_string(env.path("locke-cole.p12.pass")).unwrap();
    let password = password.trim_end();
    assert!(password.len() >= 20);
    let store = p12_keystore::KeyStore::from_pkcs12(
        &std::fs::read(env.path("locke-cole.p12")).unwrap(),
        password,
    )
    .unwrap();
    let (_, chain) = store.private_key_chain().unwrap();
    assert!(!chain.chain().is_empty());

    // A password file is used as is and no .p12.pass is written.
    let pass = env.path("pw");
    std::fs::write(&pass, "correct horse battery staple\n").unwrap();
    let run = env.run(&[
        "order",
        "--key-type",
        "p256",
        "--wait",
        "--p12",
        "--p12-password-file",
        pass.to_str().unwrap(),
        "--name",
        "second",
        "--out",
        &dir,
        "--first-name",
        "Celes",
        "--last-name",
        "Chere",
        "--email",
        "celes@example.com",
        "--org-id",
        "112233",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!env.path("second.p12.pass").exists());
    assert!(
        p12_keystore::KeyStore::from_pkcs12(
            &std::fs::read(env.path("second.p12")).unwrap(),
            "correct horse battery staple"
        )
        .is_ok()
    );
}

/// Manual approval and a short `--timeout`: exit 3 with how to resume; then status,
/// approve, resume and download complete the round trip.
#[test]
fn pending_at_timeout_then_status_approve_resume_download() {
    let env = manual();
    let dir = env.dir.path().display().to_string();
    let mut args = vec![
        "--json",
        "order",
        "--key-type",
        "p256",
        "--wait",
        "--timeout",
        "1s",
        "--out",
        &dir,
    ];
    args.extend(LOCKE);
    let run = env.run(&args);
    assert_eq!(run.code, 3, "{run:?}");
    let order_id = env.sandbox.orders()[0].id;
    let json = run.json();
    assert_eq!(json["error"]["kind"], "pending");
    assert_eq!(json["error"]["exit_code"], 3);
    assert_eq!(json["error"]["order_id"], order_id);
    assert!(
        run.stderr
            .contains(&format!("certcentral status {order_id}")),
        "{run:?}"
    );
    assert!(run.stderr.contains("--resume"), "{run:?}");
    let record_path = env.path("locke-cole.order.json");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record_path).unwrap()).unwrap();
    assert_eq!(record["order_id"], order_id);
    let request_id = record["requests"][0]["id"].as_i64().unwrap();

    let status = env.run(&["--json", "status", &order_id.to_string()]);
    assert_eq!(status.code, 0, "{status:?}");
    assert_eq!(status.json()["status"], "needs_approval");
    let text = env.run(&["status", &order_id.to_string()]);
    assert!(
        text.stdout.contains(&format!("request {request_id}")),
        "{text:?}"
    );

    let approve = env.run(&["approve", &request_id.to_string(), "--comment", "ok"]);
    assert_eq!(approve.code, 0, "{approve:?}");

    // What a crash between writing and renaming the record used to leave behind: it must not
    // block the resume (temporary files have fresh random names).
    let stale = env.path("locke-cole.order.json.tmp");
    std::fs::write(&stale, b"{\"partial").unwrap();

    let resume = env.run(&[
        "order",
        "--resume",
        record_path.to_str().unwrap(),
        "--wait",
        "--json",
    ]);
    assert_eq!(resume.code, 0, "{resume:?}");
    assert!(!resume.stderr.contains("warning"), "{resume:?}");
    assert_eq!(resume.json()["status"], "issued");
    let crt = std::fs::read_to_string(env.path("locke-cole.crt")).unwrap();
    let csr = std::fs::read_to_string(env.path("locke-cole.csr")).unwrap();
    assert_eq!(leaf_spki(&crt), csr_spki(&csr));

    let file = env.path("download.pem");
    let download = env.run(&[
        "download",
        &order_id.to_string(),
        "--format",
        "pem_nointermediate",
        "--out",
        file.to_str().unwrap(),
    ]);
    assert_eq!(download.code, 0, "{download:?}");
    let leaf = std::fs::read_to_string(&file).unwrap();
    assert_eq!(pem::parse_many(&leaf).unwrap().len(), 1);
    assert_eq!(leaf_spki(&leaf), csr_spki(&csr));
    // Never overwritten.
    let again = env.run(&[
        "download",
        &order_id.to_string(),
        "--out",
        file.to_str().unwrap(),
    ]);
    assert_eq!(again.code, 2, "{again:?}");
    // To stdout, by certificate id.
    let cert_id = env.sandbox.orders()[0].certificate_id.unwrap();
    let stdout = env.run(&["download", "--certificate-id", &cert_id.to_string()]);
    assert_eq!(stdout.code, 0, "{stdout:?}");
    assert!(
        stdout.stdout.starts_with("-----BEGIN CERTIFICATE-----"),
        "{stdout:?}"
    );
    assert_eq!(env.sandbox.order_count(), 1);
}

/// The connection drops after the sandbox created the order: exit 4, the message says the
/// order may exist and how to check, and the order is not sent twice. The check finds it,
/// writes its record, and `--resume` then gets its certificate.
#[test]
fn outcome_unknown_when_connection_drops_after_commit() {
    let env = Env::start(
        Sandbox::builder()
            .approval(Approval::Auto)
            .rate_limit(RateLimit::Off)
            .fault(FaultKind::DropAfterCommit, 1.0),
    );
    let dir = env.dir.path().display().to_string();
    let mut args = vec!["order", "--key-type", "p256", "--wait", "--out", &dir];
    args.extend(LOCKE);
    let run = env.run(&args);
    assert_eq!(run.code, 4, "{run:?}");
    assert_eq!(
        env.sandbox.order_count(),
        1,
        "the order POST must not be retried"
    );
    assert!(run.stderr.contains("may"), "{run:?}");
    assert!(
        run.stderr.contains("certcentral orders --common-name"),
        "{run:?}"
    );
    let order_id = env.sandbox.orders()[0].id;
    assert!(
        run.stderr
            .contains(&format!("certcentral status {order_id}")),
        "reconciliation should find it: {run:?}"
    );
    // The key was written before ordering, so the order (if it exists) has its key.
    assert!(env.path("locke-cole.key").exists());
    // The check found exactly one order: its record is written and the message says how to
    // continue.
    let record = env.path("locke-cole.order.json");
    let resume = format!("certcentral order --resume {} --wait", record.display());
    assert!(run.stderr.contains(&resume), "{run:?}");
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    assert_eq!(saved["order_id"], order_id);

    let run = env.run(&["--json", "orders", "--common-name", "Locke Cole"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["orders"][0]["id"], order_id);

    // The resume gets the certificate for the order's key, without ordering again.
    let run = env.run(&["order", "--resume", record.to_str().unwrap(), "--wait"]);
    assert_eq!(run.code, 0, "{run:?}");
    let crt = std::fs::read_to_string(env.path("locke-cole.crt")).unwrap();
    let key = std::fs::read_to_string(env.path("locke-cole.key")).unwrap();
    assert_eq!(leaf_spki(&crt), key_spki(&key));
    assert_eq!(env.sandbox.order_count(), 1);
}

/// `--csr FILE` orders with an existing CSR: no key is generated or written, the certificate
/// carries the CSR's key; `--p12` is refused (no key) and a bad `--name` is a usage error.
#[test]
fn existing_csr_is_used_and_no_key_is_written() {
    let env = auto();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "anything");
    let csr = params.serialize_request(&key).unwrap().pem().unwrap();
    let csr_file = env.path("mine.csr");
    std::fs::write(&csr_file, &csr).unwrap();
    let dir = env.dir.path().join("out").display().to_string();
    let mut args = vec![
        "order",
        "--csr",
        csr_file.to_str().unwrap(),
        "--wait",
        "--out",
        &dir,
    ];
    args.extend(LOCKE);
    let run = env.run(&args);
    assert_eq!(run.code, 0, "{run:?}");
    let out = env.dir.path().join("out");
    assert!(!out.join("locke-cole.key").exists());
    assert!(!out.join("locke-cole.csr").exists());
    let crt = std::fs::read_to_string(out.join("locke-cole.crt")).unwrap();
    assert_eq!(leaf_spki(&crt), key_spki(&key.serialize_pem()));

    let mut args = vec![
        "order",
        "--csr",
        csr_file.to_str().unwrap(),
        "--wait",
        "--p12",
        "--name",
        "other",
        "--out",
        &dir,
    ];
    args.extend(LOCKE);
    let run = env.run(&args);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("--p12 needs the private key"),
        "{run:?}"
    );

    let mut args = vec![
        "order",
        "--key-type",
        "p256",
        "--name",
        "../escape",
        "--out",
        &dir,
    ];
    args.extend(LOCKE);
    let run = env.run(&args);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("invalid --name"), "{run:?}");
    assert_eq!(env.sandbox.order_count(), 1);
}

/// `--approve` approves the pending request of a manual-approval account, then `--wait`
/// gets the certificate; with automatic approval there is nothing to approve.
#[test]
fn approve_then_wait() {
    let env = manual();
    let dir = env.dir.path().display().to_string();
    let mut args = vec![
        "order",
        "--key-type",
        "p256",
        "--approve",
        "--wait",
        "--timeout",
        "30s",
        "--out",
        &dir,
    ];
    args.extend(LOCKE);
    let run = env.run(&args);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("approved: order"), "{run:?}");
    assert!(env.path("locke-cole.crt").exists());

    let env = auto();
    let dir = env.dir.path().display().to_string();
    let mut args = vec![
        "order",
        "--key-type",
        "p256",
        "--approve",
        "--wait",
        "--out",
        &dir,
    ];
    args.extend(LOCKE);
    let run = env.run(&args);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("needs no approval"), "{run:?}");
}

const CROSS: [&str; 8] = [
    "--product",
    "client_premium_sha2",
    "--common-name",
    "Cross Two",
    "--email",
    "cross.two@example.com",
    "--org-id",
    "112233",
];

/// Resuming a record against another endpoint, where an order of the same id belongs to
/// someone else: a usage error (exit 2) without `--allow-other-endpoint`; with it, the
/// certificate's key is checked and nothing is written (exit 1, naming what was found).
/// `download --key` makes the same check.
#[test]
fn resume_never_writes_someone_elses_certificate() {
    let ours = auto();
    let theirs = auto();
    // Alice's order on the other endpoint, issued.
    let alice_dir = theirs.dir.path().display().to_string();
    let alice = theirs.run(&[
        "order",
        "--key-type",
        "p256",
        "--product",
        "client_premium_sha2",
        "--common-name",
        "Alice Adams",
        "--email",
        "alice.adams@example.com",
        "--org-id",
        "112233",
        "--wait",
        "--out",
        &alice_dir,
    ]);
    assert_eq!(alice.code, 0, "{alice:?}");
    // Cross Two's order on our endpoint, not followed.
    let dir = ours.dir.path().display().to_string();
    let mut args = vec!["order", "--key-type", "p256", "--out", &dir];
    args.extend(CROSS);
    let placed = ours.run(&args);
    assert_eq!(placed.code, 0, "{placed:?}");
    let order_id = ours.sandbox.orders()[0].id;
    assert_eq!(order_id, theirs.sandbox.orders()[0].id, "same id on both");
    let record = ours.path("cross-two.order.json");
    let record_arg = record.to_str().unwrap();
    let record_before = std::fs::read(&record).unwrap();

    let run = theirs.run(&["order", "--resume", record_arg, "--wait", "--p12"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--allow-other-endpoint"), "{run:?}");
    assert!(!ours.path("cross-two.crt").exists());

    let run = theirs.run(&[
        "order",
        "--resume",
        record_arg,
        "--wait",
        "--p12",
        "--allow-other-endpoint",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("CN=Alice Adams"), "{run:?}");
    assert!(run.stderr.contains("nothing was written"), "{run:?}");
    assert!(run.stderr.contains("cross-two.key"), "{run:?}");
    for file in ["cross-two.crt", "cross-two.p12", "cross-two.p12.pass"] {
        assert!(!ours.path(file).exists(), "{file} written: {run:?}");
    }
    assert_eq!(
        std::fs::read(&record).unwrap(),
        record_before,
        "record changed"
    );

    // download --key: the same check.
    let key = ours.path("cross-two.key");
    let file = ours.path("alice.pem");
    let run = theirs.run(&[
        "download",
        &order_id.to_string(),
        "--key",
        key.to_str().unwrap(),
        "--out",
        file.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("CN=Alice Adams"), "{run:?}");
    assert!(!file.exists());
    let run = ours.run(&[
        "download",
        &order_id.to_string(),
        "--key",
        ours.path("cross-two.csr").to_str().unwrap(),
        "--out",
        file.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(file.exists());

    // Against its own endpoint the resume works, and the PKCS#12 pairs the right key.
    let run = ours.run(&["order", "--resume", record_arg, "--wait", "--p12"]);
    assert_eq!(run.code, 0, "{run:?}");
    let crt = std::fs::read_to_string(ours.path("cross-two.crt")).unwrap();
    let key_pem = std::fs::read_to_string(&key).unwrap();
    assert_eq!(leaf_spki(&crt), key_spki(&key_pem));
}

/// `order --sandbox` without `--wait` does not suggest `status` or `--resume` (the embedded
/// sandbox forgets the order): it says so and how to get a certificate.
#[test]
fn embedded_sandbox_without_wait_says_the_order_is_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().display().to_string();
    let mut args = vec!["order", "--sandbox", "--key-type", "p256", "--out", &out];
    args.extend(LOCKE);
    let run = run_bare(&args);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stdout.contains("certcentral status"), "{run:?}");
    assert!(!run.stdout.contains("--resume"), "{run:?}");
    assert!(run.stdout.contains("forgets it"), "{run:?}");
    assert!(run.stdout.contains("--wait"), "{run:?}");
}

/// `--order-file /dev/zero` fails fast with a clear message; nothing is ordered.
#[cfg(unix)]
#[test]
fn endless_order_file_is_refused() {
    let env = auto();
    let run = env.run(&["order", "--order-file", "/dev/zero", "--wait"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("larger than 1024 KiB"), "{run:?}");
    assert_eq!(env.sandbox.order_count(), 0);
}

/// `--allow-unknown`: an order file with a member certcentral does not know is refused
/// before any request without it; with it the member is an `unknown_param` warning and the
/// body is sent as written (the sandbox, which knows no more than certcentral, refuses it:
/// its error is reported cleanly).
#[test]
fn allow_unknown_sends_an_order_file_with_unknown_members_as_written() {
    let env = auto();
    let mut body = certcentral_testkit::seed_body_without_csr();
    body["certificate"]["future_member"] = serde_json::json!("added by DigiCert");
    let file = env.path("future.json");
    std::fs::write(&file, body.to_string()).unwrap();
    let dir = env.dir.path().display().to_string();
    let order = |extra: &[&str]| {
        let mut args = vec![
            "order",
            "--product",
            "client_premium_sha2",
            "--order-file",
            file.to_str().unwrap(),
            "--key-type",
            "p256",
            "--out",
            &dir,
        ];
        args.extend(extra);
        env.run(&args)
    };
    let run = order(&[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("unknown_param:certificate.future_member"),
        "{run:?}"
    );
    assert_eq!(env.sandbox.stats().total, 0, "nothing sent");

    let run = order(&["--allow-unknown", "--dry-run", "--name", "preview"]);
    assert_eq!(run.code, 0, "{run:?}");
    let shown: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(shown["certificate"]["future_member"], "added by DigiCert");
    assert!(
        shown["certificate"]["csr"]
            .as_str()
            .is_some_and(|c| c.starts_with("-----BEGIN CERTIFICATE REQUEST-----")),
        "{shown}"
    );
    assert!(run.stderr.contains("unknown_param"), "{run:?}");
    assert_eq!(env.sandbox.stats().total, 0, "a dry run sends nothing");

    let run = order(&["--allow-unknown"]);
    assert_eq!(env.sandbox.stats().total, 1, "sent once: {run:?}");
    assert_eq!(env.sandbox.stats().count(400), 1, "{run:?}");
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("the API answered with an error (HTTP 400)")
            && run.stderr.contains("future_member"),
        "{run:?}"
    );
    assert_eq!(env.sandbox.order_count(), 0);
}

/// `order --product ID` for an id the catalog does not know: without `--allow-unknown` the
/// usage error `--product` always gave; with it but without `--order-file` a usage error
/// (flags cannot know the body); both before any request. With both, the file is sent as
/// written to `POST /order/certificate/ID` exactly once: the sandbox, which knows no more
/// products than certcentral, refuses it (404 naming the id, so the path was the id's), and
/// that answer is reported cleanly, not retried, and no order record is written.
#[test]
fn allow_unknown_orders_a_product_the_catalog_does_not_know_once() {
    let env = auto();
    let mut body = certcentral_testkit::secure_email_body_without_csr();
    body["certificate"]["individual_validation"] = serde_json::json!({"id_document": "passport"});
    let file = env.path("individual.json");
    std::fs::write(&file, body.to_string()).unwrap();
    let dir = env.dir.path().display().to_string();
    let base = [
        "order",
        "--product",
        "secure_email_individual",
        "--key-type",
        "p256",
        "--out",
        &dir,
    ];
    let order = |extra: &[&str]| env.run(&[&base[..], extra].concat());

    let run = order(&["--order-file", file.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .starts_with("error: invalid value 'secure_email_individual' for '--product <ID>'")
            && run.stderr.contains("secure_email_sponsor"),
        "{run:?}"
    );

    let run = order(&["--allow-unknown", "--email", "locke.cole@example.com"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains(
            "--product secure_email_individual is not in the catalog, so certcentral cannot know which body it takes from flags: give the whole body with --order-file FILE"
        ),
        "{run:?}"
    );
    assert_eq!(env.sandbox.stats().total, 0, "nothing sent: {run:?}");

    let run = order(&[
        "--allow-unknown",
        "--order-file",
        file.to_str().unwrap(),
        "--dry-run",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let shown: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        shown["certificate"]["individual_validation"]["id_document"], "passport",
        "as written: {shown}"
    );
    assert!(
        run.stderr
            .contains("`secure_email_individual` is not a product certcentral knows")
            && run.stderr.contains("checked as the `secure_email` body"),
        "{run:?}"
    );
    assert_eq!(env.sandbox.stats().total, 0, "a dry run sends nothing");

    let run = order(&["--allow-unknown", "--order-file", file.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{run:?}");
    let stats = env.sandbox.stats();
    assert_eq!(stats.total, 1, "one POST, never retried: {run:?}");
    assert_eq!(stats.count(404), 1, "{run:?}");
    assert!(
        run.stderr.contains("unknown_product")
            && run.stderr.contains("unknown_param")
            && run
                .stderr
                .contains("the API answered with an error (HTTP 404)")
            && run.stderr.contains(
                r#"product "secure_email_individual" is not a client certificate product"#
            ),
        "{run:?}"
    );
    assert_eq!(env.sandbox.order_count(), 0);
    let records: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".order.json"))
        .collect();
    assert!(records.is_empty(), "no order, no record: {records:?}");
}
