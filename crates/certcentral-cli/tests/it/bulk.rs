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
        certcentral_cli::bulk::journal::Journal::open(&out.join("certcentral-journal.sqlite"))
            .unwrap();
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
    for name in [
        "locke-cole",
        "terra-branford",
        "edgar",
        "celes-chere",
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
