//! `certcentral bulk` end to end: the real binary against the in-process sandbox over HTTP
//! on 127.0.0.1, with scaled rate limits.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use certcentral_sandbox::{Approval, FaultKind, RateLimit, RunningSandbox};

use crate::cli_support::bulk_command;

async fn sandbox(scale: f64, faults: &[(FaultKind, f64)]) -> RunningSandbox {
    sandbox_at("127.0.0.1:0", scale, faults).await
}

/// A sandbox listening on `addr` (e.g. a port a test closed first).
async fn sandbox_at(addr: &str, scale: f64, faults: &[(FaultKind, f64)]) -> RunningSandbox {
    let mut builder = certcentral_testkit::sandbox()
        .rate_limit(RateLimit::Scaled(scale))
        .approval(Approval::Auto)
        .seed(7);
    for (kind, p) in faults {
        builder = builder.fault(*kind, *p);
    }
    builder.start(addr.parse().unwrap()).await.unwrap()
}

fn roster(dir: &Path, rows: usize) -> PathBuf {
    crate::cli_support::roster(dir, rows, true)
}

fn command(
    sandbox: &RunningSandbox,
    roster: &Path,
    out: &Path,
    scale: f64,
    extra: &[&str],
) -> Command {
    command_at(sandbox.base_url(), roster, out, scale, extra)
}

/// [`command`] against any base URL.
fn command_at(base_url: &str, roster: &Path, out: &Path, scale: f64, extra: &[&str]) -> Command {
    let mut cmd = bulk_command(base_url, roster, out);
    cmd.args(["--rate-limit", &format!("scale={scale}")])
        .args(["--poll-interval", "100ms", "--progress-interval", "1s"])
        .args(extra);
    cmd
}

async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Orders per common name in the sandbox.
fn per_name(sandbox: &RunningSandbox) -> BTreeMap<String, usize> {
    let mut map = BTreeMap::new();
    for o in sandbox.orders() {
        *map.entry(o.common_name).or_insert(0) += 1;
    }
    map
}

fn assert_one_order_per_row(sandbox: &RunningSandbox, rows: usize) {
    let map = per_name(sandbox);
    let twice: Vec<_> = map.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "ordered more than once: {twice:?}");
    assert_eq!(map.len(), rows, "every row has an order");
    assert_eq!(sandbox.order_count(), rows);
}

fn report(path: &Path) -> Vec<serde_json::Value> {
    serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(path).unwrap())
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_rows_end_to_end_then_rerun_orders_nothing() {
    let scale = 50.0;
    let sb = sandbox(scale, &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let roster = roster(dir.path(), 200);
    let out = dir.path().join("certs");
    let report_path = dir.path().join("report.json");
    let o = run(command(
        &sb,
        &roster,
        &out,
        scale,
        &[
            "--wait",
            "--timeout",
            "60s",
            "--report",
            report_path.to_str().unwrap(),
        ],
    ))
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_one_order_per_row(&sb, 200);
    // Not a TTY: plain progress lines, no bar.
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("bulk: ") && stderr.contains("rows"),
        "{stderr}"
    );

    let lines = report(&report_path);
    assert_eq!(lines.len(), 200);
    for line in &lines {
        assert_eq!(line["state"], "done", "{line}");
        assert!(line["order_id"].is_i64());
    }
    // Key (0600), CSR and a real certificate over the key, for the ordered person.
    let key = out.join("person-17.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let csr = std::fs::read_to_string(out.join("person-17.csr")).unwrap();
    let csr_info = certcentral_validate::inspect_csr(&csr).unwrap();
    let crt = std::fs::read(out.join("person-17.crt")).unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(&crt).unwrap();
    let cert = pem.parse_x509().unwrap();
    let cn: Vec<_> = cert
        .subject()
        .iter_common_name()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(cn, vec!["Person 17".to_owned()]);
    assert_eq!(cert.public_key().raw, csr_info.spki_der.as_slice());

    // Rerun: nothing new, everything already finished.
    let again = run(command(&sb, &roster, &out, scale, &["--wait", "--json"])).await;
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    let summary: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(summary["plan"]["new_orders"], 0);
    assert_eq!(summary["plan"]["done"], 200);
    assert_eq!(sb.order_count(), 200);
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_never_orders_twice() {
    use rand::RngExt;
    // Slow enough (about 40 requests/s) for the kills to land mid-run.
    let scale = 2.0;
    let sb = sandbox(scale, &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let rows = 60;
    let roster = roster(dir.path(), rows);
    let out = dir.path().join("certs");
    let mut rng = rand::rng();
    for _ in 0..5 {
        let mut cmd = command(&sb, &roster, &out, scale, &["--wait"]);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let delay = Duration::from_millis(rng.random_range(50..2500));
        tokio::task::spawn_blocking(move || {
            let mut child = cmd.spawn().unwrap();
            std::thread::sleep(delay);
            // SIGKILL: no cleanup at all.
            let _ = child.kill();
            child.wait().unwrap();
        })
        .await
        .unwrap();
        eprintln!(
            "killed after {delay:?}: {} order(s) so far",
            sb.order_count()
        );
        // Never more than one order per person at any point.
        assert!(
            per_name(&sb).values().all(|n| *n == 1),
            "{:?}",
            per_name(&sb)
        );
    }
    let report_path = dir.path().join("report.json");
    let o = run(command(
        &sb,
        &roster,
        &out,
        scale,
        &["--wait", "--report", report_path.to_str().unwrap()],
    ))
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_one_order_per_row(&sb, rows);
    let lines = report(&report_path);
    assert!(lines.iter().all(|l| l["state"] == "done"), "{lines:?}");
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_leave_exactly_one_order_per_row_and_no_row_lost() {
    let scale = 50.0;
    let sb = sandbox(
        scale,
        &[
            (FaultKind::DropAfterCommit, 0.15),
            (FaultKind::Error5xx, 0.1),
            (FaultKind::RateLimit, 0.1),
        ],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let rows = 80;
    let roster = roster(dir.path(), rows);
    let out = dir.path().join("certs");
    let report_path = dir.path().join("report.json");
    // Faults can leave a lookup failing (exit 4) or a row pending; rerunning settles it.
    let mut codes = Vec::new();
    for _ in 0..4 {
        let o = run(command(
            &sb,
            &roster,
            &out,
            scale,
            &[
                "--wait",
                "--timeout",
                "30s",
                "--report",
                report_path.to_str().unwrap(),
            ],
        ))
        .await;
        codes.push(o.status.code());
        assert!(per_name(&sb).values().all(|n| *n == 1), "{}", text(&o));
        if o.status.code() == Some(0) {
            break;
        }
    }
    eprintln!("exit codes {codes:?}, sandbox stats {:?}", sb.stats());
    assert_eq!(codes.last(), Some(&Some(0)), "exit codes {codes:?}");
    assert_one_order_per_row(&sb, rows);
    let lines = report(&report_path);
    assert_eq!(lines.len(), rows);
    assert!(lines.iter().all(|l| l["state"] == "done"), "{lines:?}");
    let stats = sb.stats();
    assert!(
        stats.dropped > 0,
        "the drop_after_commit fault fired: {stats:?}"
    );
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_and_max_new_orders_are_respected() {
    let scale = 50.0;
    let sb = sandbox(scale, &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let roster = roster(dir.path(), 12);
    let out = dir.path().join("certs");
    let o = run(command(
        &sb,
        &roster,
        &out,
        scale,
        &["--dry-run", "--json", "--max-new-orders", "5"],
    ))
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(plan["plan"]["new_orders"], 5);
    assert_eq!(plan["plan"]["capped"], 7);
    assert_eq!(sb.order_count(), 0);
    assert_eq!(sb.stats().total, 0, "a dry run sends nothing");

    let o = run(command(
        &sb,
        &roster,
        &out,
        scale,
        &["--max-new-orders", "5"],
    ))
    .await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert_eq!(sb.order_count(), 5);
    let o = run(command(&sb, &roster, &out, scale, &["--dry-run"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("paid orders to place: 7"),
        "{}",
        text(&o)
    );
    assert_eq!(sb.order_count(), 5);
    let o = run(command(&sb, &roster, &out, scale, &["--wait"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_one_order_per_row(&sb, 12);
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_rows_are_reported_with_row_numbers_and_nothing_is_ordered() {
    let scale = 50.0;
    let sb = sandbox(scale, &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let roster = dir.path().join("roster.csv");
    std::fs::write(
        &roster,
        "common_name,emails,validity_years\nGood Row,good@example.com,1\nBad Email,not-an-email,1\n,missing@example.com,1\nBad Years,years@example.com,5\n",
    )
    .unwrap();
    let out = dir.path().join("certs");
    let o = run(command(&sb, &roster, &out, scale, &[])).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("3 invalid roster row(s)"), "{stderr}");
    assert!(stderr.contains("row 2 (line 3), column emails"), "{stderr}");
    assert!(
        stderr.contains("row 3 (line 4), column common_name"),
        "{stderr}"
    );
    assert!(
        stderr.contains("row 4 (line 5), column validity_years"),
        "{stderr}"
    );
    assert_eq!(sb.order_count(), 0);

    // --no-strict orders the valid row and reports the others: partial failure.
    let report_path = dir.path().join("report.csv");
    let o = run(command(
        &sb,
        &roster,
        &out,
        scale,
        &[
            "--no-strict",
            "--wait",
            "--report",
            report_path.to_str().unwrap(),
        ],
    ))
    .await;
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    assert_eq!(sb.order_count(), 1);
    let report = std::fs::read_to_string(&report_path).unwrap();
    let states: Vec<&str> = report
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap())
        .collect();
    assert_eq!(
        states,
        vec!["done", "invalid", "invalid", "invalid"],
        "{report}"
    );
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_on_the_same_journal_is_refused() {
    let scale = 50.0;
    let sb = sandbox(scale, &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let roster = roster(dir.path(), 3);
    let out = dir.path().join("certs");
    std::fs::create_dir_all(&out).unwrap();
    let held =
        certcentral_bulk::journal::Journal::open(&out.join("certcentral-journal.sqlite")).unwrap();
    let o = run(command(&sb, &roster, &out, scale, &[])).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("in use by another certcentral bulk run"),
        "{}",
        text(&o)
    );
    assert_eq!(sb.order_count(), 0);
    drop(held);
    let o = run(command(&sb, &roster, &out, scale, &["--wait"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let names: BTreeSet<_> = sb.orders().into_iter().map(|o| o.common_name).collect();
    assert_eq!(names.len(), 3);
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_roster_runs_against_the_embedded_sandbox() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/roster.csv");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("certs");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_certcentral"));
    cmd.arg("bulk")
        .arg(&example)
        .args([
            "--sandbox",
            "--org-id",
            "112233",
            "--skip-approval",
            "--wait",
            "--json",
        ])
        .arg("--out")
        .arg(&out)
        .env_remove("DIGICERT_API_KEY")
        .env_remove("DIGICERT_API_KEY_FILE")
        .env(
            certcentral_cli::connect::SANDBOX_STATE_ENV,
            dir.path().join("sandbox.sqlite3"),
        )
        .stdin(Stdio::null());
    let o = run(cmd).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["plan"]["new_orders"], 5, "{summary}");
    assert_eq!(summary["states"]["done"], 5, "{summary}");
    // The default product (Secure Email, the person's names or pseudonym), a mailbox row
    // (named after its address) and a legacy row with its common name.
    for name in [
        "locke-cole",
        "terra-branford",
        "moogle",
        "celes-chere-example-com",
        "sabin-figaro",
    ] {
        assert!(out.join(format!("{name}.crt")).exists(), "{name}.crt");
        assert!(out.join(format!("{name}.key")).exists(), "{name}.key");
    }
}

fn stdout_json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

/// Sends SIGINT (what Ctrl-C sends) to a running child.
fn interrupt(child: &std::process::Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_replaces_only_an_earlier_report() {
    let scale = 50.0;
    let sb = sandbox(scale, &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let roster = roster(dir.path(), 2);
    let out = dir.path().join("certs");
    let report_path = dir.path().join("report.csv");
    let arg = |p: &Path| p.to_str().unwrap().to_owned();
    let o = run(command(
        &sb,
        &roster,
        &out,
        scale,
        &["--wait", "--report", &arg(&report_path)],
    ))
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(sb.order_count(), 2);
    // Its own earlier report: replaced.
    let o = run(command(
        &sb,
        &roster,
        &out,
        scale,
        &["--report", &arg(&report_path)],
    ))
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        std::fs::read_to_string(&report_path)
            .unwrap()
            .starts_with("row,row_id,state,")
    );

    // Never a key, a file that is not a report, the roster, the journal, or a link.
    let key = out.join("person-0.key");
    let key_before = std::fs::read(&key).unwrap();
    let not_a_report = dir.path().join("notes.csv");
    std::fs::write(&not_a_report, "name,phone\nrob,123\n").unwrap();
    let target = dir.path().join("target.csv");
    std::fs::write(&target, "precious\n").unwrap();
    let link = dir.path().join("link.csv");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let journal = out.join("certcentral-journal.sqlite");
    let journal_before = std::fs::read(&journal).unwrap();
    for (path, why) in [
        (&key, "must end in .csv or .json"),
        (&not_a_report, "not a report certcentral wrote"),
        (&roster, "is the roster"),
        (&journal, "must end in .csv or .json"),
        (&link, "symbolic link"),
    ] {
        let o = run(command(
            &sb,
            &roster,
            &out,
            scale,
            &["--report", &arg(path)],
        ))
        .await;
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(why),
            "{}",
            text(&o)
        );
    }
    let json_journal = dir.path().join("journal.json");
    let o = run(command(
        &sb,
        &roster,
        &out,
        scale,
        &[
            "--journal",
            &arg(&json_journal),
            "--report",
            &arg(&json_journal),
        ],
    ))
    .await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is the journal"),
        "{}",
        text(&o)
    );
    assert!(!json_journal.exists());
    assert_eq!(std::fs::read(&key).unwrap(), key_before);
    assert_eq!(
        std::fs::read_to_string(&not_a_report).unwrap(),
        "name,phone\nrob,123\n"
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read(&journal).unwrap(), journal_before);
    assert!(
        std::fs::read_to_string(&roster)
            .unwrap()
            .starts_with("common_name,")
    );
    assert_eq!(sb.order_count(), 2);
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_paths_are_checked_before_the_first_paid_call() {
    let scale = 50.0;
    let sb = sandbox(scale, &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let roster = roster(dir.path(), 2);
    let out = dir.path().join("certs");
    let arg = |p: &Path| p.to_str().unwrap().to_owned();
    let afile = dir.path().join("afile");
    std::fs::write(&afile, "x").unwrap();
    let folder = dir.path().join("folder");
    std::fs::create_dir(&folder).unwrap();
    let corrupt = dir.path().join("corrupt.sqlite");
    std::fs::write(&corrupt, vec![b'x'; 4096]).unwrap();
    let cases: Vec<(PathBuf, Vec<String>, String)> = vec![
        (
            out.clone(),
            vec![
                "--report".into(),
                arg(&dir.path().join("missing/report.csv")),
            ],
            "does not exist".into(),
        ),
        (afile.clone(), vec![], "is a file, not a folder".into()),
        (
            out.clone(),
            vec!["--journal".into(), arg(&folder)],
            format!("journal {}: is a folder", folder.display()),
        ),
        (
            out.clone(),
            vec!["--journal".into(), arg(&corrupt)],
            format!(
                "journal {}: not a certcentral journal, or damaged",
                corrupt.display()
            ),
        ),
    ];
    for (out, extra, why) in cases {
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let o = run(command(&sb, &roster, &out, scale, &extra)).await;
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(&why),
            "{why}\n{}",
            text(&o)
        );
        assert_eq!(sb.order_count(), 0, "nothing ordered: {}", text(&o));
    }
    assert_eq!(std::fs::read(&corrupt).unwrap(), vec![b'x'; 4096]);
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_api_stops_the_run_and_a_rerun_resumes() {
    let scale = 50.0;
    // A port nothing listens on.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rows = 10;
    let roster = roster(dir.path(), rows);
    let out = dir.path().join("certs");
    let base_url = format!("http://{addr}/services/v2");
    let o = run(command_at(&base_url, &roster, &out, scale, &[])).await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("the API is unreachable (3 calls in a row could not connect")
            && stdout.contains("Rerun the same command"),
        "{}",
        text(&o)
    );
    // The journal is consistent: every row is still to be ordered, none unknown.
    let o = run(command_at(
        &base_url,
        &roster,
        &out,
        scale,
        &["--dry-run", "--json"],
    ))
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let plan = stdout_json(&o);
    assert_eq!(plan["plan"]["new_orders"], rows, "{plan}");
    assert_eq!(plan["plan"]["reconcile"], 0, "{plan}");
    // The server is back: the rerun orders every row once.
    let sb = sandbox_at(&addr.to_string(), scale, &[]).await;
    let o = run(command(&sb, &roster, &out, scale, &["--wait"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_one_order_per_row(&sb, rows);
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_cleanly_and_a_rerun_resumes() {
    let scale = 2.0;
    // Every request takes a while, so the run is mid-way when interrupted.
    let sb = sandbox(
        scale,
        &[(FaultKind::Latency(Duration::from_millis(100)), 1.0)],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let rows = 40;
    let roster = roster(dir.path(), rows);
    let out = dir.path().join("certs");
    let mut cmd = command(&sb, &roster, &out, scale, &["--wait"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    // Mid-run (or, if the run ended on its own, the exit code check below fails).
    while sb.order_count() < 3 && child.try_wait().unwrap().is_none() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    interrupt(&child);
    let o = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("interrupted") && stdout.contains("rerun the same command to resume"),
        "{}",
        text(&o)
    );
    let ordered = sb.order_count();
    assert!(ordered < rows, "stopped mid-run: {ordered}");
    assert!(per_name(&sb).values().all(|n| *n == 1));
    let o = run(command(&sb, &roster, &out, scale, &["--wait"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_one_order_per_row(&sb, rows);
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_sharing_an_email_with_an_ordered_row_is_held_back() {
    let scale = 50.0;
    let sb = sandbox(scale, &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let roster = roster(dir.path(), 2);
    let out = dir.path().join("certs");
    let o = run(command(&sb, &roster, &out, scale, &["--wait"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // The same person, written differently, with one more address (no id column): a new
    // identity with its own file names.
    let text_before = std::fs::read_to_string(&roster).unwrap();
    std::fs::write(
        &roster,
        text_before.replace(
            "Person 0,person0@example.com;p0@example.org",
            "Person Zero,person0@example.com;p0@example.org;person.zero@example.net",
        ),
    )
    .unwrap();
    let report_path = dir.path().join("report.csv");
    let o = run(command(
        &sb,
        &roster,
        &out,
        scale,
        &[
            "--wait",
            "--json",
            "--report",
            report_path.to_str().unwrap(),
        ],
    ))
    .await;
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    let summary = stdout_json(&o);
    assert_eq!(summary["states"]["possible_duplicate"], 1, "{summary}");
    assert_eq!(summary["plan"]["possible_duplicates"], 1, "{summary}");
    assert_eq!(summary["stats"]["new_orders"], 0, "{summary}");
    let why = summary["problems"][0]["error"].as_str().unwrap();
    assert!(
        why.contains("possible duplicate: p0@example.org belongs to 'Person 0'"),
        "{why}"
    );
    assert_eq!(sb.order_count(), 2);
    let report = std::fs::read_to_string(&report_path).unwrap();
    assert!(
        report
            .lines()
            .nth(1)
            .unwrap()
            .contains(",possible_duplicate,"),
        "{report}"
    );
    // Asked for: ordered.
    let o = run(command(
        &sb,
        &roster,
        &out,
        scale,
        &["--wait", "--allow-similar"],
    ))
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(sb.order_count(), 3);
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locally_refused_row_shows_why_and_is_counted() {
    let scale = 50.0;
    let sb = sandbox(scale, &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let roster = roster(dir.path(), 2);
    let out = dir.path().join("certs");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("person-1.key"), "someone else's key").unwrap();
    let o = run(command(&sb, &roster, &out, scale, &["--wait"])).await;
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("refused: row 2 (Person 1): key file") && stdout.contains("already exists"),
        "{}",
        text(&o)
    );
    assert!(!stdout.contains("(--report FILE)"), "{}", text(&o));
    assert!(
        stdout.contains("rerun with --report FILE.csv"),
        "{}",
        text(&o)
    );
    let o = run(command(&sb, &roster, &out, scale, &["--wait", "--json"])).await;
    let summary = stdout_json(&o);
    assert_eq!(summary["stats"]["refused"], 1, "{summary}");
    assert_eq!(summary["states"]["refused"], 1, "{summary}");
    assert_eq!(
        std::fs::read_to_string(out.join("person-1.key")).unwrap(),
        "someone else's key"
    );
    assert_eq!(sb.order_count(), 1);
    sb.shutdown().await;
}

/// A roster mixing a legacy row (with a common name) and Secure Email rows (names, a
/// pseudonym, a mailbox, an organization): each certificate's subject is the one its product
/// and indicator call for, and a rerun orders nothing (every row keeps its identity).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_roster_mixing_legacy_and_secure_email_rows() {
    let scale = 50.0;
    let sb = sandbox(scale, &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let roster = dir.path().join("mixed.csv");
    std::fs::write(
        &roster,
        "product,common_name,first_name,last_name,pseudonym,usage,profile,emails,organization_units\n\
         client_premium_sha2,Edgar Figaro,,,,,,edgar@example.com,Management\n\
         secure_email_sponsor,,Locke,Cole,,signing,strict,locke@example.com,\n\
         secure_email_sponsor,,,,Mog,,,mog@example.com,\n\
         secure_email_mailbox,,,,,,,terra@example.com,\n\
         secure_email_organization,,,,,,multipurpose,celes@example.org,\n",
    )
    .unwrap();
    let out = dir.path().join("certs");
    let o = run(command(&sb, &roster, &out, scale, &["--wait", "--json"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let summary = stdout_json(&o);
    assert_eq!(summary["states"]["done"], 5, "{summary}");
    let subject = |name: &str| {
        let chain = std::fs::read_to_string(out.join(format!("{name}.crt")))
            .unwrap_or_else(|e| panic!("{name}.crt: {e}"));
        certcentral_testkit::leaf_subject(&chain)
    };
    let has = |subject: &[(String, String)], oid: &str| -> Vec<String> {
        subject
            .iter()
            .filter(|(o, _)| o == oid)
            .map(|(_, v)| v.clone())
            .collect()
    };
    const CN: &str = "2.5.4.3";
    const O: &str = "2.5.4.10";
    const GIVEN_NAME: &str = "2.5.4.42";
    const SURNAME: &str = "2.5.4.4";
    const PSEUDONYM: &str = "2.5.4.65";
    let edgar = subject("edgar-figaro");
    assert_eq!(has(&edgar, CN), ["Edgar Figaro"], "{edgar:?}");
    let locke = subject("locke-cole");
    assert_eq!(has(&locke, GIVEN_NAME), ["Locke"], "{locke:?}");
    assert_eq!(has(&locke, SURNAME), ["Cole"], "{locke:?}");
    assert_eq!(has(&locke, CN), ["Locke Cole"], "{locke:?}");
    assert_eq!(has(&locke, O).len(), 1, "sponsor-validated: O; {locke:?}");
    let mog = subject("mog");
    assert_eq!(has(&mog, PSEUDONYM), ["Mog"], "{mog:?}");
    assert_eq!(has(&mog, CN), ["Mog"], "{mog:?}");
    assert!(has(&mog, GIVEN_NAME).is_empty(), "{mog:?}");
    let terra = subject("terra-example-com");
    assert_eq!(has(&terra, CN), ["terra@example.com"], "{terra:?}");
    assert!(
        has(&terra, O).is_empty(),
        "mailbox-validated: no O; {terra:?}"
    );
    let celes = subject("celes-example-org");
    assert_eq!(has(&celes, CN), ["celes@example.org"], "{celes:?}");
    assert_eq!(has(&celes, O).len(), 1, "{celes:?}");
    let products: BTreeSet<String> = sb.orders().iter().map(|o| o.product.to_string()).collect();
    assert_eq!(products.len(), 4, "{products:?}");

    let o = run(command(&sb, &roster, &out, scale, &["--wait", "--json"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let again = stdout_json(&o);
    assert_eq!(again["plan"]["new_orders"], 0, "{again}");
    assert_eq!(sb.order_count(), 5);
    sb.shutdown().await;
}

/// A `201` that carries `certificate_chain` (the sandbox's `--chain-in-response`): bulk writes
/// each certificate from it, checked against the row's key, and spends no download request —
/// one request per certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_in_the_201_spends_no_download_request() {
    let rows = 6;
    let sb = certcentral_testkit::sandbox()
        .rate_limit(RateLimit::Off)
        .approval(Approval::Auto)
        .chain_in_response(true)
        .start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let roster = roster(dir.path(), rows);
    let out = dir.path().join("certs");
    let mut cmd = bulk_command(sb.base_url(), &roster, &out);
    cmd.args(["--rate-limit", "off"]).args([
        "--poll-interval",
        "1h",
        "--wait",
        "--timeout",
        "30s",
        "--json",
    ]);
    let o = run(cmd).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let summary = stdout_json(&o);
    assert_eq!(summary["states"]["done"], rows, "{summary}");
    let stats = sb.stats();
    assert_eq!(stats.count(201), rows as u64, "{stats:?}");
    assert_eq!(
        stats.total, rows as u64,
        "one request per certificate: {stats:?}"
    );
    for i in 0..rows {
        let chain = std::fs::read_to_string(out.join(format!("person-{i}.crt"))).unwrap();
        let key = std::fs::read_to_string(out.join(format!("person-{i}.key"))).unwrap();
        assert_eq!(
            certcentral_testkit::leaf_spki(&chain),
            certcentral_testkit::key_spki(&key)
        );
    }
    sb.shutdown().await;
}

/// `bulk --allow-unknown`: a product id the catalog does not know is an invalid row without
/// it (nothing sent); with it the row is built as a `--product` row and sent to that id as
/// given, and the server's refusal is the row's error while the other rows are ordered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_unknown_sends_an_unknown_product_as_given() {
    let scale = 50.0;
    let sb = sandbox(scale, &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let roster = dir.path().join("future.csv");
    std::fs::write(
        &roster,
        "product,common_name,emails\n\
         client_premium_sha3,Edgar Figaro,edgar@example.com\n\
         ,Locke Cole,locke@example.com\n",
    )
    .unwrap();
    let out = dir.path().join("certs");
    let o = run(command(&sb, &roster, &out, scale, &["--json"])).await;
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("unknown product 'client_premium_sha3'"),
        "{}",
        text(&o)
    );
    assert_eq!(sb.stats().total, 0, "nothing sent");

    let o = run(command(
        &sb,
        &roster,
        &out,
        scale,
        &["--allow-unknown", "--wait", "--json"],
    ))
    .await;
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("unknown_product"),
        "{}",
        text(&o)
    );
    let summary = stdout_json(&o);
    assert_eq!(summary["states"]["done"], 1, "{summary}");
    assert_eq!(summary["states"]["refused"], 1, "{summary}");
    let problem = &summary["problems"][0];
    assert_eq!(problem["row"], 1, "{summary}");
    assert!(
        problem["error"]
            .as_str()
            .is_some_and(|e| e.contains("http 4")),
        "the server's answer: {summary}"
    );
    assert_eq!(sb.order_count(), 1);
    sb.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// The yearly cycle: --renew-within and --revoke-removed

/// Every order of the sandbox as its API lists them (one call): id → (common name, status,
/// renewal_of_order_id).
async fn listed(sb: &RunningSandbox) -> BTreeMap<i64, (String, String, Option<i64>)> {
    let api = certcentral_testkit::Api::new(sb);
    let (status, body) = api.send(api.get("/order/certificate?limit=1000")).await;
    assert_eq!(status, 200, "{body}");
    body["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["id"].as_i64().unwrap(),
                (
                    o["certificate"]["common_name"].as_str().unwrap().to_owned(),
                    o["status"].as_str().unwrap().to_owned(),
                    o["renewal_of_order_id"].as_i64(),
                ),
            )
        })
        .collect()
}

/// The serials (upper-case hex) the sandbox's CRL lists.
async fn crl_serials(sb: &RunningSandbox) -> BTreeSet<String> {
    let der = certcentral_testkit::http()
        .get(format!("http://{}/_sandbox/crl", sb.addr()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let (_, crl) = <x509_parser::revocation_list::CertificateRevocationList as
        x509_parser::prelude::FromDer<_>>::from_der(&der)
    .unwrap();
    crl.iter_revoked_certificates()
        .map(|r| r.raw_serial_as_string().replace(':', "").to_uppercase())
        .collect()
}

/// Runs `cmd` until it exits 0 (at most `tries` times); returns the exit codes.
async fn until_ok(tries: usize, mut cmd: impl FnMut() -> Command) -> Vec<Option<i32>> {
    let mut codes = Vec::new();
    for _ in 0..tries {
        let o = run(cmd()).await;
        codes.push(o.status.code());
        if o.status.code() == Some(0) {
            break;
        }
    }
    codes
}

/// The yearly cycle on a 200-row roster whose first 120 certificates end within 30 days,
/// against a sandbox that loses answers (`drop_after_commit`) and whose clock then moves
/// ten days on: `--renew-within 30d`, with SIGKILLs of the binary, renews exactly the 120,
/// each once; then `--revoke-removed` revokes exactly the leavers (and, for the renewed ones,
/// the order renewed), refuses without `--yes` and over `--max-revocations`, sends nothing in
/// a dry run, and the CRL lists their serials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yearly_cycle_renews_expiring_rows_once_and_revokes_the_leavers() {
    use rand::RngExt;
    let scale = 20.0;
    let sb = sandbox(scale, &[(FaultKind::DropAfterCommit, 0.1)]).await;
    let dir = tempfile::tempdir().unwrap();
    let roster = crate::cli_support::roster_expiring(dir.path(), 0..200, 120);
    let out = dir.path().join("certs");
    let codes = until_ok(4, || command(&sb, &roster, &out, scale, &["--wait"])).await;
    assert_eq!(codes.last(), Some(&Some(0)), "exit codes {codes:?}");
    assert_one_order_per_row(&sb, 200);
    let first: BTreeMap<i64, String> = listed(&sb)
        .await
        .into_iter()
        .map(|(id, (cn, _, _))| (id, cn))
        .collect();
    let expiring: BTreeSet<i64> = first
        .iter()
        .filter(|(_, cn)| cn["Person ".len()..].parse::<usize>().unwrap() < 120)
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(expiring.len(), 120);

    // Ten days later (the server's clock; renewals are dated then).
    sb.set_now(chrono::Utc::now() + chrono::Duration::days(10));
    let renew = ["--renew-within", "30d"];
    fn with<'a>(renew: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        [renew, extra].concat()
    }
    let o = run(command(
        &sb,
        &roster,
        &out,
        scale,
        &with(&renew, &["--dry-run", "--json"]),
    ))
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let plan = stdout_json(&o);
    assert_eq!(plan["plan"]["renewals"], 120, "{plan}");
    // The dry run lists the first 50 (the report has every row's valid_till).
    let shown = plan["to_renew"].as_array().unwrap();
    assert_eq!(shown.len(), 50, "{plan}");
    assert!(expiring.contains(&shown[0]["order_id"].as_i64().unwrap()));
    assert_eq!(plan["plan"]["new_orders"], 0, "{plan}");
    assert_eq!(sb.order_count(), 200, "a dry run orders nothing");

    // Killed runs pace themselves slower than the sandbox allows (about 20 requests/s),
    // so the kills land mid-run.
    let mut rng = rand::rng();
    for _ in 0..3 {
        let mut cmd = command(&sb, &roster, &out, 1.0, &with(&renew, &["--wait"]));
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let delay = Duration::from_millis(rng.random_range(200..1200));
        tokio::task::spawn_blocking(move || {
            let mut child = cmd.spawn().unwrap();
            std::thread::sleep(delay);
            let _ = child.kill();
            child.wait().unwrap();
        })
        .await
        .unwrap();
        eprintln!("killed after {delay:?}: {} order(s)", sb.order_count());
    }
    let report_path = dir.path().join("report.json");
    let report_arg = ["--report", report_path.to_str().unwrap()];
    let codes = until_ok(4, || {
        command(
            &sb,
            &roster,
            &out,
            scale,
            &with(&renew, &[&["--wait"][..], &report_arg].concat()),
        )
    })
    .await;
    assert_eq!(codes.last(), Some(&Some(0)), "exit codes {codes:?}");
    assert!(sb.stats().dropped > 0, "the fault fired: {:?}", sb.stats());
    // Exactly one renewal per expiring order, none for the others.
    let all = listed(&sb).await;
    let mut renewed: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (id, (cn, _, of)) in &all {
        if let Some(of) = of {
            assert_eq!(
                first.get(of),
                Some(cn),
                "order {id} renews {of}, same person"
            );
            renewed.entry(*of).or_default().push(*id);
        }
    }
    let twice: Vec<_> = renewed.iter().filter(|(_, v)| v.len() > 1).collect();
    assert!(twice.is_empty(), "renewed more than once: {twice:?}");
    assert_eq!(renewed.keys().copied().collect::<BTreeSet<_>>(), expiring);
    assert_eq!(all.len(), 320);
    let lines = report(&report_path);
    assert_eq!(lines.len(), 200);
    assert!(lines.iter().all(|l| l["state"] == "done"), "{lines:?}");
    let line = lines.iter().find(|l| l["row"] == 1).unwrap();
    let old = line["renewal_of_order_id"].as_i64().unwrap();
    assert!(expiring.contains(&old), "{line}");
    // The renewal's files beside the first certificate's.
    assert!(out.join("person-0.crt").exists());
    assert!(out.join(format!("person-0-renewal-{old}.key")).exists());
    assert!(out.join(format!("person-0-renewal-{old}.crt")).exists());
    // The same command again renews nothing.
    let o = run(command(
        &sb,
        &roster,
        &out,
        scale,
        &with(&renew, &["--json"]),
    ))
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(stdout_json(&o)["plan"]["renewals"], 0);
    assert_eq!(sb.order_count(), 320);

    // Ten people left: five renewed (0..5), five not (195..200).
    let roster = crate::cli_support::roster_expiring(dir.path(), 5..195, 120);
    let leavers: BTreeSet<String> = (0..5)
        .chain(195..200)
        .map(|i| format!("Person {i}"))
        .collect();
    let before = sb.stats().total;
    let o = run(command(&sb, &roster, &out, scale, &["--revoke-removed"])).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("would revoke 10"), "{}", text(&o));
    let capped = ["--revoke-removed", "--yes", "--max-revocations", "9"];
    let o = run(command(&sb, &roster, &out, scale, &capped)).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--max-revocations 9"), "{}", text(&o));
    let dry = ["--revoke-removed", "--dry-run", "--json"];
    let o = run(command(&sb, &roster, &out, scale, &dry)).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let listed_names: BTreeSet<String> = stdout_json(&o)["revocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["common_name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed_names, leavers);
    assert_eq!(sb.stats().total, before, "nothing was sent");

    // Revoked at once (--skip-approval on the sandbox's administrator key), answers lost
    // now and then: each revocation looked up, none sent twice.
    let yes = ["--revoke-removed", "--yes", "--json"];
    let o = run(command(&sb, &roster, &out, scale, &yes)).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let done = stdout_json(&o);
    let revocations = done["revocations"].as_array().unwrap();
    assert_eq!(revocations.len(), 10, "{done}");
    assert!(
        revocations.iter().all(|l| l["result"] == "revoked"),
        "{done}"
    );
    let serials: BTreeSet<String> = revocations
        .iter()
        .map(|l| l["serial"].as_str().unwrap().to_owned())
        .collect();
    let revoked: BTreeSet<String> = listed(&sb)
        .await
        .into_values()
        .filter(|(_, status, _)| status == "revoked")
        .map(|(cn, _, _)| cn)
        .collect();
    assert_eq!(revoked, leavers, "exactly the leavers' orders are revoked");
    // The five renewed leavers' first orders too: their certificates were still valid.
    let renewed_too = revocations
        .iter()
        .filter(|l| {
            l["renewed_order"]
                .as_str()
                .is_some_and(|r| r.ends_with(": revoked"))
        })
        .count();
    assert_eq!(renewed_too, 5, "{done}");
    let crl = crl_serials(&sb).await;
    assert!(
        crl.is_superset(&serials),
        "the CRL lists the revoked serials"
    );
    assert_eq!(crl.len(), 15, "{crl:?}");
    // Again: nothing left to revoke, nothing sent.
    let before = sb.stats().total;
    let o = run(command(&sb, &roster, &out, scale, &yes)).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(stdout_json(&o)["revocations"].as_array().unwrap().len(), 0);
    assert_eq!(sb.order_count(), 320);
    assert_eq!(sb.stats().total, before, "nothing sent");
    sb.shutdown().await;
}

/// Runs `cmd` with its stdout closed before it prints (`certcentral bulk … | head -1` with a
/// reader already gone): returns the exit code and stderr.
fn run_with_stdout_closed(mut cmd: Command) -> (Option<i32>, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn a_closed_stdout_is_no_panic() {
    let dir = tempfile::tempdir().unwrap();
    let roster = roster(dir.path(), 3);
    let out = dir.path().join("certs");
    // The summary, as text and as JSON (a dry run: nothing is sent).
    for extra in [&["--dry-run"][..], &["--dry-run", "--json"][..]] {
        let mut cmd = bulk_command("http://127.0.0.1:9", &roster, &out);
        cmd.args(extra);
        let (code, stderr) = run_with_stdout_closed(cmd);
        assert!(!stderr.contains("panicked"), "{extra:?}: {stderr}");
        assert_eq!(code, Some(0), "{extra:?}: {stderr}");
    }
    // A usage error's JSON object.
    let mut cmd = bulk_command("http://127.0.0.1:9", &roster, &out);
    cmd.args(["--json", "--no-such-flag"]);
    let (code, stderr) = run_with_stdout_closed(cmd);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(code, Some(2), "{stderr}");
}
