//! The embedded sandbox remembers: the per-user state file (XDG), `--sandbox-state`,
//! `:memory:`, `--sandbox-reset`, concurrent commands, and the README's walk-through run line
//! by line.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::cli_support::*;
use x509_parser::prelude::FromDer;

/// Runs `cmd` with `args`.
fn run_in(mut cmd: Command, args: &[&str]) -> Run {
    let out = cmd.args(args).output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `order --sandbox` (legacy flags, P-256, no wait) for `name` into `out`.
fn order_args<'a>(out: &'a str, name: &'a str, email: &'a str) -> Vec<&'a str> {
    vec![
        "order",
        "--sandbox",
        "--product",
        "client_premium_sha2",
        "--key-type",
        "p256",
        "--out",
        out,
        "--common-name",
        name,
        "--email",
        email,
        "--org-id",
        "112233",
    ]
}

/// The order id of an `--json order` run.
fn order_id(run: &Run) -> i64 {
    assert_eq!(run.code, 0, "{run:?}");
    run.json()["order_id"].as_i64().unwrap()
}

#[cfg(unix)]
#[test]
fn sandbox_remembers_by_default_in_the_users_data_directory() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("certs");
    let out_s = out.display().to_string();
    let state = default_state_file(home.path());

    let run = run_in(
        remembering(home.path()),
        &order_args(&out_s, "Locke Cole", "locke.cole@example.com"),
    );
    assert_eq!(run.code, 0, "{run:?}");
    // It does not forget, so it says how to look the order up: with --sandbox.
    assert!(!run.stdout.contains("forgets"), "{run:?}");
    assert!(
        run.stdout.contains("`certcentral status 100001 --sandbox`"),
        "{run:?}"
    );
    assert!(run.stdout.contains("keeps the order"), "{run:?}");
    assert_eq!(mode(&state), 0o600);
    for dir in [".local", ".local/share", ".local/share/certcentral"] {
        assert_eq!(mode(&home.path().join(dir)), 0o700, "{dir}");
    }

    let status = run_in(
        remembering(home.path()),
        &["--json", "status", "100001", "--sandbox"],
    );
    assert_eq!(status.code, 0, "{status:?}");
    assert_eq!(status.json()["status"], "issued");

    // Ids keep increasing across commands, and across a reset.
    let second = order_id(&run_in(
        remembering(home.path()),
        &[
            &["--json"][..],
            &order_args(&out_s, "Terra Branford", "terra@example.com"),
        ]
        .concat(),
    ));
    assert_eq!(second, 100_002);
    let reset = run_in(
        remembering(home.path()),
        &["status", "100001", "--sandbox", "--sandbox-reset"],
    );
    assert_eq!(reset.code, 1, "{reset:?}");
    assert!(reset.stderr.contains("does not exist"), "{reset:?}");
    let third = order_id(&run_in(
        remembering(home.path()),
        &[
            &["--json"][..],
            &order_args(&out_s, "Celes Chere", "celes@example.com"),
        ]
        .concat(),
    ));
    assert!(third > second, "{third} after {second}");
}

/// `XDG_DATA_HOME` (absolute) names the data directory; a relative one is ignored.
#[test]
fn sandbox_state_follows_xdg_data_home() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let out_s = home.path().join("certs").display().to_string();
    let mut cmd = remembering(home.path());
    cmd.env("XDG_DATA_HOME", &data);
    let run = run_in(
        cmd,
        &order_args(&out_s, "Locke Cole", "locke.cole@example.com"),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(data.join("certcentral/sandbox.sqlite3").is_file());
    assert!(!default_state_file(home.path()).exists());

    let mut cmd = remembering(home.path());
    cmd.env("XDG_DATA_HOME", "relative/data")
        .current_dir(home.path());
    let run = run_in(cmd, &["status", "100001", "--sandbox"]);
    assert_eq!(run.code, 1, "a fresh file under HOME: {run:?}");
    assert!(default_state_file(home.path()).is_file());
    assert!(!home.path().join("relative").exists());
}

/// `--sandbox-state :memory:` and a user without a home forget, and say so; nothing is
/// written.
#[test]
fn sandbox_in_memory_forgets_and_says_so() {
    let home = tempfile::tempdir().unwrap();
    let out_s = home.path().join("certs").display().to_string();
    let mut args = order_args(&out_s, "Locke Cole", "locke.cole@example.com");
    args.extend(["--sandbox-state", ":memory:"]);
    let run = run_in(remembering(home.path()), &args);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("forgets it"), "{run:?}");
    assert!(!run.stdout.contains("certcentral status"), "{run:?}");
    assert!(!home.path().join(".local").exists());

    let mut cmd = remembering(home.path());
    cmd.env_remove("HOME");
    let run = run_in(
        cmd,
        &order_args(&out_s, "Terra Branford", "terra@example.com"),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("neither HOME nor XDG_DATA_HOME"),
        "{run:?}"
    );
    assert!(run.stdout.contains("forgets it"), "{run:?}");
    assert!(!home.path().join(".local").exists());
}

/// A damaged state file: the error says how to start afresh, and `--sandbox-reset` does.
#[test]
fn a_damaged_state_file_says_how_to_start_afresh() {
    let home = tempfile::tempdir().unwrap();
    let state = default_state_file(home.path());
    std::fs::create_dir_all(state.parent().unwrap()).unwrap();
    std::fs::write(
        &state,
        "not a database, not a database, not a database, not a database",
    )
    .unwrap();
    let run = run_in(remembering(home.path()), &["status", "100001", "--sandbox"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("is not a sandbox state file"),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("--sandbox-reset starts afresh"),
        "{run:?}"
    );
    let run = run_in(
        remembering(home.path()),
        &["status", "100001", "--sandbox", "--sandbox-reset"],
    );
    assert!(run.stderr.contains("does not exist"), "{run:?}");
}

/// Two commands at once on the default file: both orders are kept, with distinct ids.
#[test]
fn two_commands_at_once_on_the_default_state_file() {
    let home = tempfile::tempdir().unwrap();
    let out_s = home.path().join("certs").display().to_string();
    let children: Vec<_> = ["one", "two"]
        .iter()
        .map(|name| {
            let mut cmd = remembering(home.path());
            cmd.args(["--json"])
                .args(order_args(
                    &out_s,
                    &format!("User {name}"),
                    &format!("{name}@example.com"),
                ))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    let mut ids: Vec<i64> = children
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().unwrap();
            order_id(&Run {
                code: out.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            })
        })
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, [100_001, 100_002]);
    let list = run_in(
        remembering(home.path()),
        &["--json", "expiring", "--within", "400d", "--sandbox"],
    );
    assert_eq!(list.code, 0, "{list:?}");
    assert_eq!(list.stdout.matches("\"order_id\"").count(), 2, "{list:?}");
}

/// The command lines of the README's walk-through (its first `sh` block after the heading).
fn walk_through() -> Vec<Vec<String>> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let section = readme
        .split("### Walk-through: order, status, expiring, renew, revoke")
        .nth(1)
        .expect("the README has the walk-through");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a sh block");
    block
        .lines()
        .map(|line| {
            let words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
            assert_eq!(words[0], "certcentral", "{line}");
            assert!(!line.contains(['"', '\'', '$']), "plain words only: {line}");
            words[1..].to_vec()
        })
        .collect()
}

/// The README's walk-through, each line a separate process on a fresh state file: every
/// step does what the README says, and the CRL lists the revoked serial.
#[test]
fn readme_walk_through_runs_as_written() {
    let lines = walk_through();
    let verbs: Vec<&str> = lines.iter().map(|l| l[0].as_str()).collect();
    assert_eq!(
        verbs,
        [
            "order", "status", "expiring", "renew", "status", "revoke", "status"
        ]
    );
    let home = tempfile::tempdir().unwrap();
    let step = |i: usize| {
        let mut cmd = remembering(home.path());
        cmd.current_dir(home.path()).arg("--json");
        let args: Vec<&str> = lines[i].iter().map(String::as_str).collect();
        let run = run_in(cmd, &args);
        assert_eq!(run.code, 0, "{:?}: {run:?}", lines[i]);
        run.json()
    };
    let certs = home.path().join("certs");

    let order = step(0);
    assert_eq!(order["order_id"], 100_001, "{order}");
    assert!(certs.join("locke-cole.crt").is_file());

    let status = step(1);
    assert_eq!(status["status"], "issued", "{status}");
    assert_eq!(status["product"]["name_id"], "secure_email_sponsor");
    let serial = status["certificate"]["serial_number"]
        .as_str()
        .unwrap()
        .to_owned();

    let expiring = step(2);
    assert!(expiring.to_string().contains("100001"), "{expiring}");

    let renew = step(3);
    assert_eq!(renew["order_id"], 100_002, "{renew}");
    assert!(certs.join("locke-cole-renewal-100001.key").is_file());
    assert!(certs.join("locke-cole-renewal-100001.crt").is_file());
    let renewal = step(4);
    assert_eq!(renewal["status"], "issued", "{renewal}");
    assert_eq!(renewal["renewal_of_order_id"], 100_001);
    let cert = &renewal["certificate"];
    assert_eq!(cert["common_name"], "Locke Cole");
    assert_eq!(cert["individual"]["first_name"], "Locke");
    assert_eq!(cert["usage_designation"]["primary_usage"], "dual_use");

    step(5);
    let revoked = step(6);
    assert_eq!(revoked["status"], "revoked", "{revoked}");
    assert_eq!(revoked["is_renewed"], true);

    // The same state served by a sandbox: its CRL lists the revoked serial.
    let (rt, sandbox) = certcentral_testkit::start_blocking(
        certcentral_testkit::sandbox().state_file(default_state_file(home.path())),
    );
    let origin = sandbox
        .base_url()
        .trim_end_matches("/services/v2")
        .to_owned();
    let der = rt.block_on(async {
        let response = certcentral_testkit::http()
            .get(format!("{origin}/_sandbox/crl"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap()
    });
    let (_, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(&der).unwrap();
    let listed: Vec<String> = crl
        .iter_revoked_certificates()
        .map(|r| r.raw_serial_as_string().replace(':', "").to_uppercase())
        .collect();
    assert!(
        listed
            .iter()
            .any(|s| s.trim_start_matches('0') == serial.trim_start_matches('0')),
        "{serial} in {listed:?}"
    );
    rt.block_on(sandbox.shutdown());
}
