//! The state file: older files still open (and are migrated), orders keep their own shape,
//! a reset keeps the id counters, the file is private.

use crate::api::issued_order;
use crate::common::{Api, builder, csr, start};
use certcentral_types::{OrderInfo, OrderStatus};
use serde_json::{Value, json};

/// A state file as the sandbox wrote it before Secure Email orders were kept in their own
/// shape (order 100001: `secure_email_sponsor` for Locke Cole, issued; order 100002:
/// `client_premium_sha2` for Terra Branford, revoked), rebuilt from its rows.
fn state_file_v1(dir: &std::path::Path) -> std::path::PathBuf {
    let rows: serde_json::Map<String, Value> =
        serde_json::from_str(include_str!("../fixtures/state-v1.json")).unwrap();
    let path = dir.join("state-v1.sqlite3");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE sandbox_state (name TEXT PRIMARY KEY, json TEXT NOT NULL);")
        .unwrap();
    for (name, value) in rows {
        conn.execute(
            "INSERT INTO sandbox_state (name, json) VALUES (?1, ?2)",
            rusqlite::params![name, value.to_string()],
        )
        .unwrap();
    }
    path
}

async fn info(api: &Api, order_id: i64) -> (OrderInfo, Value) {
    let (status, body) = api
        .send(api.get(&format!("/order/certificate/{order_id}")))
        .await;
    assert_eq!(status, 200, "{body}");
    (serde_json::from_value(body.clone()).unwrap(), body)
}

#[tokio::test]
async fn a_state_file_written_before_secure_email_bodies_still_opens() {
    let dir = tempfile::tempdir().unwrap();
    let path = state_file_v1(dir.path());
    let sandbox = start(builder().state_file(&path)).await;
    let api = Api::new(&sandbox);

    // The Secure Email order, stored in the seed's shape, is back in its own.
    let (locke, raw) = info(&api, 100_001).await;
    assert_eq!(locke.status, Some(OrderStatus::Issued));
    let cert = &raw["certificate"];
    assert_eq!(cert["common_name"], "Locke Cole");
    assert_eq!(cert["common_name_indicator"], "given_name_surname");
    assert_eq!(
        cert["individual"],
        json!({"first_name": "Locke", "last_name": "Cole"})
    );
    assert_eq!(
        cert["usage_designation"],
        json!({"primary_usage": "dual_use"})
    );
    assert_eq!(cert["profile_type"], "strict");
    assert_eq!(raw["organization"]["id"], 112_233);
    assert_eq!(cert["id"], 300_001);

    // The legacy order is as it was: revoked, its common name kept.
    let (terra, raw) = info(&api, 100_002).await;
    assert_eq!(terra.status, Some(OrderStatus::Revoked));
    assert_eq!(raw["certificate"]["common_name"], "Terra Branford");
    assert!(raw["certificate"].get("usage_designation").is_none());

    // Its certificate downloads, and new orders continue after the stored ids.
    let download = api
        .get("/certificate/300001/download/format/pem_all")
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    assert!(download.text().await.unwrap().contains("BEGIN CERTIFICATE"));
    let (_key, csr) = csr();
    let (status, created) = api
        .order("client_premium_sha2", &certcentral_testkit::seed_body(&csr))
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["id"], 100_003);
    drop(api);
    sandbox.shutdown().await;

    // The migrated order is written back in its own shape and reads the same again.
    let again = start(builder().state_file(&path)).await;
    let api = Api::new(&again);
    let (_, raw_again) = info(&api, 100_001).await;
    assert_eq!(raw_again["certificate"], cert.clone());
    drop(api);
    again.shutdown().await;
}

/// Order info of a Secure Email order returns what was ordered: indicator, person, usage,
/// profile; a mailbox order without organization has none.
#[tokio::test]
async fn secure_email_order_info_returns_what_was_ordered() {
    let sandbox = start(builder().approval(certcentral_sandbox::Approval::Auto)).await;
    let api = Api::new(&sandbox);
    let (_key, csr) = csr();
    let sponsor = json!({
        "certificate": {
            "emails": ["setzer@example.com"],
            "csr": csr,
            "signature_hash": "sha256",
            "common_name_indicator": "pseudonym",
            "individual": {"pseudonym": "Blackjack"},
            "usage_designation": {"primary_usage": "signing", "additional_usages": ["non_repudiation"]},
            "profile_type": "multipurpose"
        },
        "organization": {"id": 112233},
        "validity_years": 2,
        "payment_method": "balance"
    });
    let (status, created) = api.order("secure_email_sponsor", &sponsor).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    let (_, raw) = info(&api, id).await;
    let cert = &raw["certificate"];
    assert_eq!(cert["common_name"], "Blackjack");
    assert_eq!(cert["common_name_indicator"], "pseudonym");
    assert_eq!(cert["individual"], json!({"pseudonym": "Blackjack"}));
    assert_eq!(
        cert["usage_designation"],
        json!({"primary_usage": "signing", "additional_usages": ["non_repudiation"]})
    );
    assert_eq!(cert["profile_type"], "multipurpose");
    assert!(cert.get("common_name").is_some());
    assert_eq!(raw["organization"]["id"], 112_233);
    assert_eq!(raw["validity_years"], 2);

    let (_key, csr) = crate::common::csr();
    let mailbox = json!({
        "certificate": {
            "emails": ["relm@example.com"],
            "csr": csr,
            "signature_hash": "sha256",
            "usage_designation": {"primary_usage": "dual_use"}
        },
        "validity_years": 1
    });
    let (status, created) = api.order("secure_email_mailbox", &mailbox).await;
    assert_eq!(status, 201, "{created}");
    let (_, raw) = info(&api, created["id"].as_i64().unwrap()).await;
    assert!(raw.get("organization").is_none(), "{raw}");
    assert_eq!(raw["certificate"]["common_name"], "relm@example.com");
    assert!(raw["certificate"].get("profile_type").is_none(), "{raw}");
    drop(api);
    sandbox.shutdown().await;
}

/// A reset empties the file under its lock (new CA, no orders) but ids keep increasing; a new
/// file is private to its owner (it holds the CA key).
#[tokio::test]
async fn a_reset_starts_empty_but_never_reuses_an_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sandbox.sqlite3");
    let first = start(builder().state_file(&path)).await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let api = Api::new(&first);
    let (first_id, _) = issued_order(&api).await;
    let root = first.root_ca_pem();
    drop(api);
    first.shutdown().await;

    let second = start(builder().state_file(&path).reset_state(true)).await;
    assert_eq!(second.order_count(), 0);
    assert_ne!(second.root_ca_pem(), root, "a new CA");
    let api = Api::new(&second);
    let (status, _) = api
        .send(api.get(&format!("/order/certificate/{first_id}")))
        .await;
    assert_eq!(status, 404);
    let (_key, csr) = crate::common::csr();
    let (status, created) = api
        .order("client_premium_sha2", &certcentral_testkit::seed_body(&csr))
        .await;
    assert_eq!(status, 201, "{created}");
    assert!(created["id"].as_i64().unwrap() > first_id, "{created}");
    assert!(created["requests"][0]["id"].as_i64().unwrap() > 200_001);
    drop(api);
    second.shutdown().await;
}

/// A file that is no SQLite database is refused with a clear error, and a reset replaces it.
#[tokio::test]
async fn a_damaged_state_file_is_refused_and_a_reset_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sandbox.sqlite3");
    std::fs::write(
        &path,
        "this is no database, but long enough to have a header ......",
    )
    .unwrap();
    let err = builder()
        .state_file(&path)
        .start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("is not a sandbox state file"),
        "{err}"
    );
    let sandbox = start(builder().state_file(&path).reset_state(true)).await;
    assert_eq!(sandbox.order_count(), 0);
    sandbox.shutdown().await;
    let again = start(builder().state_file(&path)).await;
    again.shutdown().await;
}

/// What SQLite keeps of a state file on disk: the file and its write-ahead log (what a killed
/// sandbox leaves behind).
fn stored_bytes(path: &std::path::Path) -> (Vec<u8>, Vec<u8>) {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    (
        std::fs::read(path).unwrap(),
        std::fs::read(wal).unwrap_or_default(),
    )
}

/// Every certificate of an order, downloaded with its chain.
async fn pem_all(api: &Api, certificate_id: i64) -> String {
    let response = api
        .get(&format!(
            "/certificate/{certificate_id}/download/format/pem_all"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// A request that changes nothing writes nothing to the state file (neither the file nor its
/// log changes); one that changes something is written before it is answered.
#[tokio::test]
async fn a_request_that_only_reads_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sandbox.sqlite3");
    let sandbox = start(builder().state_file(&path)).await;
    let api = Api::new(&sandbox);
    let (order_id, certificate_id) = issued_order(&api).await;
    let before = stored_bytes(&path);
    for read in [
        format!("/order/certificate/{order_id}"),
        "/order/certificate".to_owned(),
        "/order/certificate/status-changes".to_owned(),
        format!("/order/certificate/{order_id}/email-validation"),
        "/report/order/expiring".to_owned(),
        "/product/client_premium_sha2".to_owned(),
        "/order/certificate/999999".to_owned(),
    ] {
        let (status, body) = api.send(api.get(&read)).await;
        assert!(status == 200 || status == 404, "{read}: {status} {body}");
    }
    pem_all(&api, certificate_id).await;
    assert!(
        stored_bytes(&path) == before,
        "a read changed the state file"
    );

    // The check can fail: a change is on disk once it is answered.
    let (status, _) = api
        .revoke_at_once(&format!("/order/certificate/{order_id}"))
        .await;
    assert_eq!(status, 204);
    assert!(
        stored_bytes(&path) != before,
        "the revocation was not written"
    );
    drop(api);
    sandbox.shutdown().await;
}

/// A sandbox killed without shutting down (its files copied as they are while it runs) loses
/// nothing it answered: orders, a reissue, a revocation, certificates byte for byte, ids.
#[tokio::test]
async fn a_killed_sandbox_loses_nothing_it_answered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sandbox.sqlite3");
    let sandbox = start(builder().state_file(&path)).await;
    let api = Api::new(&sandbox);
    let (kept, kept_cert) = issued_order(&api).await;
    let (revoked, revoked_cert) = issued_order(&api).await;
    let (status, _) = api
        .revoke_at_once(&format!("/order/certificate/{revoked}"))
        .await;
    assert_eq!(status, 204);
    let (_key, new_csr) = csr();
    let (status, reissue) = api
        .send(api.post(
            &format!("/order/certificate/{kept}/reissue"),
            &json!({"certificate": {"csr": new_csr}, "skip_approval": true}),
        ))
        .await;
    assert_eq!(status, 201, "{reissue}");
    let (kept_info, _) = info(&api, kept).await;
    let reissued_cert = kept_info.certificate.unwrap().id.unwrap();
    let mut certificates = Vec::new();
    for id in [kept_cert, revoked_cert, reissued_cert] {
        certificates.push((id, pem_all(&api, id).await));
    }
    let (_, kept_raw) = info(&api, kept).await;
    let (_, revoked_raw) = info(&api, revoked).await;

    // The log holds what the file holds: it is private too.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let wal = dir.path().join("sandbox.sqlite3-wal");
        let mode = std::fs::metadata(wal).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    // What a SIGKILL leaves: the file and its log as they are, the sandbox still running.
    let copy = tempfile::tempdir().unwrap();
    let copied = copy.path().join("sandbox.sqlite3");
    let (file, wal) = stored_bytes(&path);
    std::fs::write(&copied, file).unwrap();
    std::fs::write(copy.path().join("sandbox.sqlite3-wal"), wal).unwrap();
    drop(api);
    sandbox.shutdown().await;

    let again = start(builder().state_file(&copied)).await;
    let api = Api::new(&again);
    assert_eq!(again.order_count(), 2);
    assert_eq!(info(&api, kept).await.1, kept_raw);
    assert_eq!(info(&api, revoked).await.1, revoked_raw);
    for (id, pem) in certificates {
        assert_eq!(pem_all(&api, id).await, pem, "certificate {id}");
    }
    let (next, _) = issued_order(&api).await;
    assert_eq!(next, revoked + 1);
    drop(api);
    again.shutdown().await;
}

/// A file of the first layout (the whole store in one `store` row) is converted when opened,
/// before any request: one row per order and revoke request, the counters in their own row,
/// the DER as base64 (the same bytes), `user_version` 2.
#[tokio::test]
async fn the_first_layout_is_converted_when_opened() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let path = state_file_v1(dir.path());
    let rows: serde_json::Map<String, Value> =
        serde_json::from_str(include_str!("../fixtures/state-v1.json")).unwrap();
    let v1_store: Value = match &rows["store"] {
        Value::String(text) => serde_json::from_str(text).unwrap(),
        other => other.clone(),
    };
    let sandbox = start(builder().state_file(&path)).await;
    sandbox.shutdown().await;

    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, 2);
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sandbox_state ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(names, ["ca", "clock", "counters"]);
    let counters: Value = serde_json::from_str(
        &conn
            .query_row(
                "SELECT json FROM sandbox_state WHERE name = 'counters'",
                [],
                |row| row.get::<_, String>(0),
            )
            .unwrap(),
    )
    .unwrap();
    assert_eq!(counters["next_order"], v1_store["next_order"]);
    assert_eq!(counters["next_certificate"], v1_store["next_certificate"]);
    let revokes: i64 = conn
        .query_row("SELECT count(*) FROM revoke_requests", [], |row| row.get(0))
        .unwrap();
    assert_eq!(revokes, 1);
    let orders: Vec<(i64, String)> = conn
        .prepare("SELECT id, json FROM orders ORDER BY id")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        orders.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        [100_001, 100_002]
    );
    for (id, json) in orders {
        let order: Value = serde_json::from_str(&json).unwrap();
        let der = order["issued"]["der"].as_str().expect("DER as base64");
        let der = base64::engine::general_purpose::STANDARD
            .decode(der)
            .unwrap();
        let v1_der: Vec<u8> =
            serde_json::from_value(v1_store["orders"][id.to_string()]["issued"]["der"].clone())
                .unwrap();
        assert_eq!(der, v1_der, "order {id}");
    }
}

/// A reset of a file of the first layout keeps its id counters too.
#[tokio::test]
async fn a_reset_of_the_first_layout_keeps_its_counters() {
    let dir = tempfile::tempdir().unwrap();
    let path = state_file_v1(dir.path());
    let sandbox = start(builder().state_file(&path).reset_state(true)).await;
    assert_eq!(sandbox.order_count(), 0);
    let api = Api::new(&sandbox);
    let (order_id, certificate_id) = issued_order(&api).await;
    assert_eq!((order_id, certificate_id), (100_003, 300_003));
    drop(api);
    sandbox.shutdown().await;
}

/// A file written by a newer sandbox (a later layout) is refused, not rewritten.
#[tokio::test]
async fn a_state_file_of_a_newer_layout_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sandbox.sqlite3");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 3;")
        .unwrap();
    let err = builder()
        .state_file(&path)
        .start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("newer sandbox"), "{err}");
    let version: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, 3);
}
