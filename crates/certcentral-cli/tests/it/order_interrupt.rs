//! Ctrl-C (SIGINT) during `certcentral order --wait`: the real binary against a sandbox on
//! 127.0.0.1 stops cleanly (record written, how to resume, exit 130), and resuming orders
//! nothing twice.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::cli_support::*;
use certcentral_sandbox::{Approval, RateLimit, Sandbox};

#[test]
fn ctrl_c_while_waiting_writes_the_record_and_exits_130() {
    let env = Env::start(
        Sandbox::builder()
            .approval(Approval::Manual)
            .rate_limit(RateLimit::Off),
    );
    let dir = env.dir.path().display().to_string();
    let mut cmd = env.cmd();
    cmd.args([
        "order",
        "--key-type",
        "p256",
        "--wait",
        "--timeout",
        "5m",
        "--out",
        &dir,
        "--base-url",
        env.sandbox.base_url(),
    ])
    .args(LOCKE)
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    // Waiting: the order exists and its record is on disk.
    let record_path = env.path("locke-cole.order.json");
    let started = Instant::now();
    while std::fs::read(&record_path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_none()
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no order record"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let order_id = env.sandbox.orders()[0].id;
    assert!(
        stderr.contains(&format!(
            "interrupted while waiting: order {order_id} exists"
        )) && stderr.contains("--resume"),
        "{stderr}"
    );
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record_path).unwrap()).unwrap();
    assert_eq!(record["order_id"], order_id);
    let request_id = record["requests"][0]["id"].as_i64().unwrap();

    let approve = env.run(&["approve", &request_id.to_string(), "--comment", "ok"]);
    assert_eq!(approve.code, 0, "{approve:?}");
    let resume = env.run(&["order", "--resume", record_path.to_str().unwrap(), "--wait"]);
    assert_eq!(resume.code, 0, "{resume:?}");
    assert_eq!(env.sandbox.order_count(), 1);
    assert!(env.path("locke-cole.crt").exists());
}
