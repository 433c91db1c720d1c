//! Benchmarks of `certcentral bulk` (ignored by default; run in release):
//!
//! ```text
//! cargo test --release -p certcentral-cli --test it bulk_bench -- --ignored --nocapture --test-threads 1
//! ```
//!
//! - `throughput`: a 1,000-row roster against the sandbox at `Scaled(F)` rate limits; the
//!   achieved request rate divided by the best rate the two windows allow for the same number
//!   of requests (computed by simulating the greedy schedule), and the number of 429s.
//! - `renewal_throughput`: the same ratio for `--renew-within` renewing a 1,000-row roster
//!   (order info, order POST and download per renewal), and the number of 429s.
//! - `memory`: peak resident memory (`/usr/bin/time -f %M`) of the real binary for 10,000 and
//!   100,000-row rosters, dry run and real (rate limits off), with the 10,000-row figure as
//!   the baseline.
//!
//! `BULK_BENCH_BIN=PATH` runs another `certcentral` binary (e.g. a baseline build copied
//! aside) instead of this build's, to compare both in one session.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use certcentral_sandbox::{Approval, RateLimit, RunningSandbox};

use crate::cli_support::bulk_command;

async fn sandbox(limit: RateLimit) -> RunningSandbox {
    certcentral_testkit::sandbox()
        .rate_limit(limit)
        .approval(Approval::Auto)
        .seed(1)
        .start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn roster(dir: &Path, rows: usize) -> PathBuf {
    crate::cli_support::roster(dir, rows, false)
}

/// The shortest time in which `n` requests fit the documented windows scaled by `f`
/// (100 per 5 s and 1000 per 180 s, divided by `f`), starting from empty windows: the greedy
/// schedule (send each request as early as both windows allow) is optimal.
fn min_time(n: usize, f: f64) -> Duration {
    let windows = [(100usize, 5.0 / f), (1000usize, 180.0 / f)];
    let mut all: Vec<f64> = Vec::with_capacity(n);
    let mut t = 0.0f64;
    for _ in 0..n {
        for (max, period) in windows {
            if all.len() >= max {
                // The request `max` back must have left the window.
                t = t.max(all[all.len() - max] + period);
            }
        }
        all.push(t);
    }
    Duration::from_secs_f64(all.last().copied().unwrap_or(0.0))
}

fn bulk(sb: &RunningSandbox, roster: &Path, out: &Path, limits: &str, extra: &[&str]) -> Command {
    let mut cmd = with_program(bulk_command(sb.base_url(), roster, out));
    cmd.arg("-q")
        .args(["--rate-limit", limits, "--poll-interval", "200ms"])
        .args(extra);
    cmd
}

/// `cmd` run by the binary named in `BULK_BENCH_BIN` when set (a baseline build kept aside,
/// measured in the same session as this one), with the same arguments and environment.
fn with_program(cmd: Command) -> Command {
    let Some(program) = std::env::var_os("BULK_BENCH_BIN") else {
        return cmd;
    };
    let mut other = Command::new(program);
    other.args(cmd.get_args());
    for (name, value) in cmd.get_envs() {
        match value {
            Some(value) => other.env(name, value),
            None => other.env_remove(name),
        };
    }
    other
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
async fn throughput() {
    let rows = 1000;
    let scales: Vec<f64> = std::env::var("BULK_BENCH_SCALES")
        .ok()
        .map(|s| s.split(',').filter_map(|f| f.parse().ok()).collect())
        .unwrap_or_else(|| vec![20.0]);
    println!(
        "| F | rows | requests | 429s | time (s) | best time (s) | achieved req/s | bound req/s | ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for f in scales {
        let sb = sandbox(RateLimit::Scaled(f)).await;
        let dir = tempfile::tempdir().unwrap();
        let roster = roster(dir.path(), rows);
        let out = dir.path().join("out");
        let mut cmd = bulk(&sb, &roster, &out, &format!("scale={f}"), &["--wait"]);
        let start = Instant::now();
        let status = tokio::task::spawn_blocking(move || cmd.status().unwrap())
            .await
            .unwrap();
        let elapsed = start.elapsed();
        assert_eq!(status.code(), Some(0));
        assert_eq!(sb.order_count(), rows);
        let stats = sb.stats();
        let n = stats.total as usize;
        let best = min_time(n, f);
        let achieved = n as f64 / elapsed.as_secs_f64();
        let bound = n as f64 / best.as_secs_f64();
        println!(
            "| {f} | {rows} | {n} | {} | {:.2} | {:.2} | {achieved:.1} | {bound:.1} | {:.3} |",
            stats.count(429),
            elapsed.as_secs_f64(),
            best.as_secs_f64(),
            achieved / bound
        );
        sb.shutdown().await;
    }
}

/// Renewals at the rate limit: a 1,000-row roster ordered (every certificate ending in 20
/// days), the windows left to empty, then `--renew-within 30d` timed: each renewal is three
/// requests (order info, order POST, download). Same ratio as `throughput`: the best time the
/// windows allow for the run's requests divided by the time taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
async fn renewal_throughput() {
    let rows = 1000;
    let f: f64 = std::env::var("BULK_BENCH_SCALES")
        .ok()
        .and_then(|s| s.split(',').next()?.parse().ok())
        .unwrap_or(20.0);
    let sb = sandbox(RateLimit::Scaled(f)).await;
    let dir = tempfile::tempdir().unwrap();
    let roster = crate::cli_support::roster_expiring(dir.path(), 0..rows, rows);
    let out = dir.path().join("out");
    let limits = format!("scale={f}");
    let mut cmd = bulk(&sb, &roster, &out, &limits, &["--wait"]);
    let status = tokio::task::spawn_blocking(move || cmd.status().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(sb.order_count(), rows);
    // Both windows empty again.
    tokio::time::sleep(Duration::from_secs_f64(180.0 / f + 0.5)).await;
    let before = sb.stats();
    let mut cmd = bulk(
        &sb,
        &roster,
        &out,
        &limits,
        &["--wait", "--renew-within", "30d"],
    );
    let start = Instant::now();
    let status = tokio::task::spawn_blocking(move || cmd.status().unwrap())
        .await
        .unwrap();
    let elapsed = start.elapsed();
    assert_eq!(status.code(), Some(0));
    assert_eq!(sb.order_count(), 2 * rows, "one renewal per row");
    let after = sb.stats();
    let n = (after.total - before.total) as usize;
    let throttled = after.count(429) - before.count(429);
    let best = min_time(n, f);
    let per_hour = |t: Duration| rows as f64 / t.as_secs_f64() * 3600.0;
    println!(
        "| F | renewals | requests | 429s | time (s) | best time (s) | achieved renewals/h | bound renewals/h | ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {f} | {rows} | {n} | {throttled} | {:.2} | {:.2} | {:.0} | {:.0} | {:.3} |",
        elapsed.as_secs_f64(),
        best.as_secs_f64(),
        per_hour(elapsed),
        per_hour(best),
        best.as_secs_f64() / elapsed.as_secs_f64()
    );
    sb.shutdown().await;
}

fn peak_kb(cmd: Command) -> (u64, Duration, Option<i32>) {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("time.txt");
    let program = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
    let envs: Vec<_> = cmd
        .get_envs()
        .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned())))
        .collect();
    let start = Instant::now();
    let status = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&report)
        .arg(program)
        .args(args)
        .envs(envs)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    let elapsed = start.elapsed();
    let text = std::fs::read_to_string(&report).unwrap();
    let kb = text
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .next_back()
        .unwrap();
    (kb, elapsed, status.code())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
async fn memory() {
    let sizes: Vec<usize> = std::env::var("BULK_BENCH_ROWS")
        .ok()
        .map(|s| s.split(',').filter_map(|f| f.parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000]);
    // Keys, certificates and the journal on tmpfs when available: the disk is not what is
    // measured here.
    let base = if Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm").unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    println!("| rows | mode | peak RSS (MiB) | vs 10,000 rows same mode | time (s) | exit |");
    println!("|---|---|---|---|---|---|");
    let mut baseline: [Option<u64>; 2] = [None, None];
    for rows in sizes {
        let dir = base.path().join(format!("r{rows}"));
        std::fs::create_dir_all(&dir).unwrap();
        let roster = roster(&dir, rows);
        let sb = sandbox(RateLimit::Off).await;
        for (i, mode) in ["dry run", "real"].into_iter().enumerate() {
            let out = dir.join("out");
            let extra: &[&str] = if i == 0 { &["--dry-run"] } else { &[] };
            let cmd = bulk(&sb, &roster, &out, "off", extra);
            let (kb, elapsed, code) = tokio::task::spawn_blocking(move || peak_kb(cmd))
                .await
                .unwrap();
            if i == 1 {
                assert_eq!(sb.order_count(), rows);
            }
            let base_kb = *baseline[i].get_or_insert(kb);
            println!(
                "| {rows} | {mode} | {:.1} | {:.2} | {:.1} | {code:?} |",
                kb as f64 / 1024.0,
                kb as f64 / base_kb as f64,
                elapsed.as_secs_f64()
            );
        }
        sb.shutdown().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn min_time_matches_the_windows() {
    // 100 requests fit at once; the 101st waits one short window.
    assert_eq!(min_time(100, 1.0), Duration::ZERO);
    assert_eq!(min_time(101, 1.0), Duration::from_secs(5));
    // 1000 requests: 9 short windows; the 1001st waits for the long window.
    assert_eq!(min_time(1000, 1.0), Duration::from_secs(45));
    assert_eq!(min_time(1001, 1.0), Duration::from_secs(180));
    assert_eq!(min_time(1001, 10.0), Duration::from_secs(18));
}
