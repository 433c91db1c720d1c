//! Engine tests against an in-memory fake of the API (the end-to-end tests against the
//! sandbox over HTTP are in `tests/it/bulk.rs`).

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use certcentral_types::{
    OrderCertificate, OrderInfo, OrderRequest, OrderStatus, ProductId, ProductRef, StatusChange,
};
use chrono::{DateTime, NaiveDate, Utc};

use super::api::{ApiFailure, BulkApi, Placed};
use super::*;
use certcentral_keys::keys::KeyType;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Script {
    /// Creates the order, then loses the answer.
    DropAfterCommit,
    /// Fails before processing with an ambiguous error (like a 5xx).
    FailUnknown,
    /// 429.
    RateLimited,
    /// 429 with a Retry-After of an hour (the client's retries exhausted).
    SlowDown,
    /// 400.
    Refuse,
}

#[derive(Clone, Debug)]
struct FakeOrder {
    id: i64,
    product: ProductId,
    common_name: String,
    emails: Vec<String>,
    csr: Option<String>,
    created: DateTime<Utc>,
}

#[derive(Default)]
struct Fake {
    orders: Mutex<Vec<FakeOrder>>,
    script: Mutex<VecDeque<Option<Script>>>,
    fail_lookups: bool,
    /// Every call fails to connect.
    unreachable: bool,
    /// Order POSTs attempted.
    attempts: std::sync::atomic::AtomicUsize,
    /// Orders for this common name get a certificate for another public key than their CSR's.
    foreign_key: Option<&'static str>,
    /// Certificate downloads.
    downloads: std::sync::atomic::AtomicUsize,
}

fn unreachable<T>() -> Result<T, ApiFailure> {
    Err(ApiFailure::Unreachable {
        message: "could not connect: connection refused".into(),
    })
}

impl Fake {
    fn count(&self) -> usize {
        self.orders.lock().unwrap().len()
    }

    fn info(o: &FakeOrder) -> OrderInfo {
        let mut info: OrderInfo = serde_json::from_value(serde_json::json!({"id": o.id})).unwrap();
        info.status = Some(OrderStatus::Issued);
        info.date_created = Some(o.created.to_rfc3339());
        info.product = Some(ProductRef {
            name_id: Some(o.product.to_string()),
            ..ProductRef::default()
        });
        info.certificate = Some(OrderCertificate {
            id: Some(o.id + 1000),
            common_name: Some(o.common_name.clone()),
            emails: o.emails.clone(),
            csr: o.csr.clone(),
            ..OrderCertificate::default()
        });
        info
    }

    fn create(&self, product: ProductId, request: &OrderRequest) -> i64 {
        let mut orders = self.orders.lock().unwrap();
        let id = 100 + orders.len() as i64;
        orders.push(FakeOrder {
            id,
            product,
            common_name: certcentral_types::OrderBody::ClientCertificate(request.clone())
                .subject_name(),
            emails: request.certificate.emails.clone(),
            csr: request.certificate.csr.clone(),
            created: Utc::now(),
        });
        id
    }
}

impl BulkApi for Fake {
    async fn order(
        &self,
        product: ProductId,
        request: &OrderRequest,
    ) -> Result<Placed, ApiFailure> {
        self.attempts
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if self.unreachable {
            return unreachable();
        }
        let step = self.script.lock().unwrap().pop_front().flatten();
        match step {
            Some(Script::DropAfterCommit) => {
                self.create(product, request);
                Err(ApiFailure::Unknown {
                    message: "connection closed".into(),
                })
            }
            Some(Script::FailUnknown) => Err(ApiFailure::Unknown {
                message: "http 503".into(),
            }),
            Some(Script::RateLimited) => Err(ApiFailure::NotProcessed {
                retry_after: Some(Duration::from_millis(1)),
                message: "429".into(),
            }),
            Some(Script::SlowDown) => Err(ApiFailure::NotProcessed {
                retry_after: Some(Duration::from_secs(3600)),
                message: "429".into(),
            }),
            Some(Script::Refuse) => Err(ApiFailure::Refused {
                message: "invalid_value:organization.id".into(),
            }),
            None => {
                let id = self.create(product, request);
                Ok(Placed {
                    order_id: id,
                    request_ids: vec![id + 5000],
                    request_status: Some("approved".into()),
                    certificate_id: Some(id + 1000),
                })
            }
        }
    }

    async fn status_changes(&self, _minutes: u32) -> Result<Vec<StatusChange>, ApiFailure> {
        if self.unreachable {
            return unreachable();
        }
        Ok(self
            .orders
            .lock()
            .unwrap()
            .iter()
            .map(|o| StatusChange {
                order_id: o.id,
                certificate_id: Some(o.id + 1000),
                status: Some(OrderStatus::Issued),
            })
            .collect())
    }

    async fn order_info(&self, order_id: i64) -> Result<OrderInfo, ApiFailure> {
        let orders = self.orders.lock().unwrap();
        orders
            .iter()
            .find(|o| o.id == order_id)
            .map(Fake::info)
            .ok_or(ApiFailure::Refused {
                message: "not_found|order".into(),
            })
    }

    async fn find_recent_orders(
        &self,
        product: ProductId,
        common_name: &str,
        _emails: &[String],
        since: DateTime<Utc>,
    ) -> Result<Vec<OrderInfo>, ApiFailure> {
        if self.fail_lookups {
            return Err(ApiFailure::Unknown {
                message: "http 503".into(),
            });
        }
        Ok(self
            .orders
            .lock()
            .unwrap()
            .iter()
            // Like the client: created no earlier than `since` less its clock-skew allowance.
            .filter(|o| {
                o.product == product
                    && o.common_name == common_name
                    && o.created >= since - certcentral_client::CLOCK_SKEW_ALLOWANCE
            })
            .map(Fake::info)
            .collect())
    }

    async fn download(&self, certificate_id: i64) -> Result<Vec<u8>, ApiFailure> {
        self.downloads
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        // A real certificate for the order's CSR: downloads are checked against the row's key.
        let (common_name, csr) = self
            .orders
            .lock()
            .unwrap()
            .iter()
            .find(|o| o.id + 1000 == certificate_id)
            .and_then(|o| Some((o.common_name.clone(), o.csr.clone()?)))
            .expect("a CSR for every downloaded order");
        let new_key = || rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let issuer = rcgen::Issuer::new(rcgen::CertificateParams::default(), new_key());
        let request = rcgen::CertificateSigningRequestParams::from_pem(&csr).unwrap();
        let cert = if self.foreign_key == Some(common_name.as_str()) {
            // The same subject, another public key.
            request.params.signed_by(&new_key(), &issuer)
        } else {
            request.signed_by(&issuer)
        };
        Ok(cert.unwrap().pem().into_bytes())
    }
}

fn roster(dir: &Path, rows: usize) -> std::path::PathBuf {
    let path = dir.join("roster.csv");
    let mut text = String::from("common_name,emails,organization_units\n");
    for i in 0..rows {
        text.push_str(&format!("Person {i},person{i}@example.com,Staff\n"));
    }
    std::fs::write(&path, text).unwrap();
    path
}

fn config(dir: &Path, roster: std::path::PathBuf) -> BulkConfig {
    let out = dir.join("out");
    BulkConfig {
        roster,
        journal: out.join(DEFAULT_JOURNAL),
        strict: true,
        dry_run: false,
        report: None,
        allow_similar: false,
        progress: ProgressMode::Quiet,
        progress_interval: Duration::from_secs(60),
        progress_sink: progress::LineSink::default(),
        exec: ExecOptions {
            defaults: spec::OrderDefaults {
                product: ProductId::ClientPremiumSha2,
                org_id: 112233,
                container_id: None,
                skip_approval: true,
                payment_method: None,
                validity_years: 1,
                today: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            },
            out_dir: out,
            key_type: KeyType::P256,
            max_new_orders: None,
            wait: true,
            timeout: Duration::from_secs(30),
            poll_interval: Duration::from_millis(10),
            download_concurrency: 4,
            not_processed_patience: Duration::from_secs(10),
            stop: exec::StopHandle::default(),
        },
    }
}

fn state(outcome: &Outcome, s: RowState) -> u64 {
    outcome
        .states
        .iter()
        .find(|(x, _)| *x == s)
        .map_or(0, |(_, n)| *n)
}

#[tokio::test]
async fn orders_every_row_once_and_rerun_orders_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), roster(dir.path(), 12));
    cfg.report = Some(dir.path().join("report.json"));
    let fake = Arc::new(Fake::default());
    let outcome = run(fake.clone(), &cfg).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::Done, "{outcome:?}");
    assert_eq!(fake.count(), 12);
    assert_eq!(state(&outcome, RowState::Done), 12);
    assert_eq!(outcome.plan.new_orders, 12);
    // Files: key 0600, CSR, certificate.
    let key = dir.path().join("out/person-3.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(dir.path().join("out/person-3.csr").exists());
    assert!(
        std::fs::read_to_string(dir.path().join("out/person-3.crt"))
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report.as_array().unwrap().len(), 12);
    assert_eq!(report[0]["state"], "done");
    assert!(report[0]["order_id"].is_i64());

    // Rerun with the roster reordered and re-cased: nothing new.
    let mut text = String::from("emails,common_name\n");
    for i in (0..12).rev() {
        text.push_str(&format!("PERSON{i}@example.com,  person {i}\n"));
    }
    std::fs::write(&cfg.roster, text).unwrap();
    let again = run(fake.clone(), &cfg).await.unwrap();
    assert_eq!(fake.count(), 12);
    assert_eq!(again.plan.new_orders, 0);
    assert_eq!(again.plan.done, 12);
    assert_eq!(again.verdict, Verdict::Done);
}

#[tokio::test]
async fn unknown_outcomes_are_reconciled_not_reordered() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), roster(dir.path(), 10));
    let fake = Arc::new(Fake::default());
    {
        let mut script = fake.script.lock().unwrap();
        script.extend([
            Some(Script::DropAfterCommit),
            None,
            Some(Script::FailUnknown),
            Some(Script::RateLimited),
            Some(Script::RateLimited),
            None,
            Some(Script::DropAfterCommit),
        ]);
    }
    let outcome = run(fake.clone(), &cfg).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::Done, "{outcome:?}");
    // Exactly one order per row: dropped answers were found, the 503 proved absent and
    // was ordered once more, the 429s were retried.
    assert_eq!(fake.count(), 10);
    let orders = fake.orders.lock().unwrap().clone();
    let mut names: Vec<_> = orders.iter().map(|o| o.common_name.clone()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 10);
    assert_eq!(outcome.stats.reconciled_found, 2);
    assert_eq!(outcome.stats.reconciled_absent, 1);
    assert_eq!(outcome.stats.not_processed_retries, 2);
}

#[tokio::test]
async fn ambiguous_reconciliation_is_reported_and_never_reordered() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), roster(dir.path(), 3));
    let fake = Arc::new(Fake {
        fail_lookups: true,
        ..Fake::default()
    });
    fake.script
        .lock()
        .unwrap()
        .push_back(Some(Script::DropAfterCommit));
    let outcome = run(fake.clone(), &cfg).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::Unknown);
    assert_eq!(fake.count(), 3);
    assert_eq!(state(&outcome, RowState::Unknown), 1);
    // A rerun with lookups still failing still does not re-order.
    let again = run(fake.clone(), &cfg).await.unwrap();
    assert_eq!(again.verdict, Verdict::Unknown);
    assert_eq!(fake.count(), 3);
}

#[tokio::test]
async fn two_matching_orders_are_ambiguous() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), roster(dir.path(), 2));
    let fake = Arc::new(Fake::default());
    fake.script
        .lock()
        .unwrap()
        .extend([Some(Script::DropAfterCommit), Some(Script::DropAfterCommit)]);
    // Someone ordered "Person 0" by hand meanwhile, without a CSR shown.
    let mut extra: OrderRequest = cfg
        .exec
        .defaults
        .clone()
        .into_request_for_test("Person 0", "person0@example.com");
    extra.certificate.csr = None;
    fake.create(ProductId::ClientPremiumSha2, &extra);
    let outcome = run(fake.clone(), &cfg).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::Unknown, "{outcome:?}");
    assert_eq!(fake.count(), 3);
    assert_eq!(outcome.stats.reconciled_ambiguous, 1);
    assert_eq!(outcome.stats.reconciled_found, 1);
}

impl spec::OrderDefaults {
    fn into_request_for_test(self, cn: &str, email: &str) -> OrderRequest {
        let raw = roster::RawRow {
            row: 1,
            line: 2,
            common_name: Some(cn.into()),
            emails: vec![email.into()],
            ..roster::RawRow::default()
        };
        let spec = RowSpec::build(raw, &self, Path::new(".")).unwrap();
        spec.order_request(&self, None).unwrap()
    }
}

#[tokio::test]
async fn max_new_orders_and_dry_run_are_respected() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), roster(dir.path(), 8));
    let fake = Arc::new(Fake::default());
    cfg.dry_run = true;
    let plan = dry_run(&cfg).unwrap();
    assert_eq!(plan.plan.new_orders, 8);
    assert_eq!(fake.count(), 0);
    assert!(
        !cfg.journal.exists(),
        "a dry run without a journal creates none"
    );
    cfg.dry_run = false;
    cfg.exec.max_new_orders = Some(3);
    let outcome = run(fake.clone(), &cfg).await.unwrap();
    assert_eq!(fake.count(), 3);
    assert_eq!(outcome.plan.capped, 5);
    assert_eq!(outcome.verdict, Verdict::Pending);
    cfg.dry_run = true;
    let plan = dry_run(&cfg).unwrap();
    assert_eq!(
        (plan.plan.new_orders, plan.plan.capped, plan.plan.done),
        (3, 2, 3)
    );
    cfg.dry_run = false;
    cfg.exec.max_new_orders = None;
    let outcome = run(fake.clone(), &cfg).await.unwrap();
    assert_eq!(fake.count(), 8);
    assert_eq!(outcome.verdict, Verdict::Done);
}

#[tokio::test]
async fn invalid_rows_stop_a_strict_run_and_are_reported_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roster.csv");
    std::fs::write(
        &path,
        "common_name,emails,validity_years\nA,a@example.com,1\nB,not-an-email,1\nC,c@example.com,7\nD,d@example.com,\nA,A@example.com,2\n",
    )
    .unwrap();
    let mut cfg = config(dir.path(), path);
    let fake = Arc::new(Fake::default());
    let err = run(fake.clone(), &cfg).await.unwrap_err();
    let BulkError::InvalidRows { count, shown } = &err else {
        panic!("{err}")
    };
    assert_eq!(*count, 3);
    let at: Vec<(u64, &str)> = shown.iter().map(|e| (e.row, e.column.as_str())).collect();
    assert_eq!(
        at,
        vec![(2, "emails"), (3, "validity_years"), (5, "common_name")]
    );
    assert_eq!(err.verdict(), Verdict::Usage);
    assert_eq!(fake.count(), 0);

    cfg.strict = false;
    cfg.report = Some(dir.path().join("report.csv"));
    let outcome = run(fake.clone(), &cfg).await.unwrap();
    assert_eq!(fake.count(), 2);
    assert_eq!(outcome.verdict, Verdict::Partial);
    let report = std::fs::read_to_string(dir.path().join("report.csv")).unwrap();
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines.len(), 6, "{report}");
    assert!(lines[0].starts_with("row,row_id,state,common_name,emails,order_id"));
    assert!(
        lines[2].starts_with("2,,invalid,B,not-an-email"),
        "{report}"
    );
    assert!(lines[5].contains("same person as row 1"), "{report}");
}

#[tokio::test]
async fn refused_orders_fail_the_row_and_are_retried_later() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), roster(dir.path(), 2));
    let fake = Arc::new(Fake::default());
    fake.script
        .lock()
        .unwrap()
        .extend([Some(Script::Refuse), Some(Script::Refuse)]);
    let outcome = run(fake.clone(), &cfg).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::Failed);
    assert_eq!(fake.count(), 0);
    // The rerun orders them (nothing was created), reusing the keys already on disk.
    let again = run(fake.clone(), &cfg).await.unwrap();
    assert_eq!(again.verdict, Verdict::Done);
    assert_eq!(fake.count(), 2);
}

#[test]
fn verdicts_follow_the_documented_precedence() {
    use RowState::*;
    assert_eq!(verdict(&[(Done, 3)], 0, true), Verdict::Done);
    assert_eq!(verdict(&[(Ordered, 3)], 0, false), Verdict::Done);
    assert_eq!(verdict(&[(Ordered, 3)], 0, true), Verdict::Pending);
    assert_eq!(verdict(&[(Done, 3), (New, 1)], 0, false), Verdict::Pending);
    assert_eq!(
        verdict(&[(Done, 3), (Failed, 1)], 0, true),
        Verdict::Partial
    );
    assert_eq!(verdict(&[(Done, 3)], 1, true), Verdict::Partial);
    assert_eq!(verdict(&[(Refused, 3)], 0, true), Verdict::Failed);
    assert_eq!(
        verdict(&[(Done, 3), (Unknown, 1), (Failed, 1)], 0, true),
        Verdict::Unknown
    );
    assert_eq!(verdict(&[(Intent, 1)], 0, true), Verdict::Unknown);
}

#[tokio::test]
async fn an_unreachable_api_stops_the_run_after_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), roster(dir.path(), 20));
    let fake = Arc::new(Fake {
        unreachable: true,
        ..Fake::default()
    });
    let outcome = run(fake.clone(), &cfg).await.unwrap();
    assert!(
        matches!(outcome.stopped, Some(exec::Stopped::Unreachable(_))),
        "{outcome:?}"
    );
    assert_eq!(outcome.verdict, Verdict::Pending);
    assert_eq!(
        fake.attempts.load(std::sync::atomic::Ordering::SeqCst),
        exec::UNREACHABLE_LIMIT as usize
    );
    // Nothing was sent: every row is still to be ordered, none refused or unknown.
    assert_eq!(state(&outcome, RowState::New), 20, "{outcome:?}");
    // The API is back: the rerun orders every row once, reusing the first row's key.
    let fake = Arc::new(Fake::default());
    let again = run(fake.clone(), &cfg).await.unwrap();
    assert_eq!(again.verdict, Verdict::Done, "{again:?}");
    assert_eq!(fake.count(), 20);
}

#[tokio::test]
async fn an_interrupted_run_sends_nothing_more_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), roster(dir.path(), 5));
    cfg.exec.stop.interrupt();
    let fake = Arc::new(Fake::default());
    let outcome = run(fake.clone(), &cfg).await.unwrap();
    assert_eq!(outcome.stopped, Some(exec::Stopped::Interrupted));
    assert_eq!(outcome.verdict, Verdict::Interrupted);
    assert_eq!(fake.count(), 0);
}

#[tokio::test]
async fn rows_sharing_an_email_are_held_back_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roster.csv");
    std::fs::write(
        &path,
        "common_name,emails\nRob Roy,rob@example.com\nRobert Roy,rob@example.com;roy@example.com\nAnn,ann@example.com\n",
    )
    .unwrap();
    let mut cfg = config(dir.path(), path);
    let fake = Arc::new(Fake::default());
    let outcome = run(fake.clone(), &cfg).await.unwrap();
    assert_eq!(fake.count(), 2);
    assert_eq!(state(&outcome, RowState::PossibleDuplicate), 1);
    assert_eq!(outcome.plan.possible_duplicates, 1);
    assert_eq!(outcome.verdict, Verdict::Partial);
    assert_eq!(outcome.problems.len(), 1);
    assert_eq!(outcome.problems[0].row, 2);
    assert!(
        outcome.problems[0]
            .error
            .as_deref()
            .unwrap()
            .contains("rob@example.com is also in row 1"),
        "{:?}",
        outcome.problems
    );
    cfg.allow_similar = true;
    let again = run(fake.clone(), &cfg).await.unwrap();
    assert_eq!(fake.count(), 3);
    assert_eq!(again.verdict, Verdict::Done);
}

#[tokio::test]
async fn reconciliation_looks_for_what_was_sent_not_the_rosters_new_spelling() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), roster(dir.path(), 1));
    let fake = Arc::new(Fake {
        fail_lookups: true,
        ..Fake::default()
    });
    fake.script
        .lock()
        .unwrap()
        .push_back(Some(Script::DropAfterCommit));
    let first = run(fake.clone(), &cfg).await.unwrap();
    assert_eq!(state(&first, RowState::Unknown), 1, "{first:?}");
    // The same person (same identity), spelled otherwise: the order was placed as
    // "Person 0", and the lookup (exact common name, like the server's) must find it.
    std::fs::write(
        &cfg.roster,
        "common_name,emails,organization_units\nPERSON  0,Person0@example.com,Staff\n",
    )
    .unwrap();
    let fake2 = Arc::new(Fake {
        orders: Mutex::new(fake.orders.lock().unwrap().clone()),
        ..Fake::default()
    });
    let again = run(fake2.clone(), &cfg).await.unwrap();
    assert_eq!(again.stats.reconciled_found, 1, "{again:?}");
    assert_eq!(again.stats.new_orders, 0);
    assert_eq!(fake2.count(), 1);
}

#[tokio::test]
async fn patience_bounds_the_wait_for_a_post_not_processed() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), roster(dir.path(), 1));
    cfg.exec.not_processed_patience = Duration::from_secs(5);
    let fake = Arc::new(Fake::default());
    fake.script
        .lock()
        .unwrap()
        .extend([Some(Script::SlowDown), Some(Script::SlowDown)]);
    // A hang guard, not a timing check: waiting out the Retry-After (capped at 30 s) past
    // the 5 s patience would trip it.
    let outcome = tokio::time::timeout(Duration::from_secs(20), run(fake.clone(), &cfg))
        .await
        .expect("the wait went past the patience")
        .unwrap();
    // The next attempt could only start after the patience: none is made, nothing ordered,
    // and the row is refused (a rerun orders it).
    assert_eq!(fake.attempts.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(fake.count(), 0);
    assert_eq!(outcome.stats.not_processed_retries, 0);
    assert_eq!(state(&outcome, RowState::Refused), 1, "{outcome:?}");
    assert!(
        outcome.problems[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("not sent after 1 attempt(s)")),
        "{outcome:?}"
    );
}

/// The row's own CSR, in a folder other than `--out` (nothing beside the output).
fn own_csr_roster(dir: &Path) -> std::path::PathBuf {
    let csrs = dir.join("elsewhere");
    std::fs::create_dir_all(&csrs).unwrap();
    let emails = vec!["person0@example.com".to_owned()];
    let k = certcentral_keys::keys::generate(KeyType::P256, "Person 0", &emails).unwrap();
    std::fs::write(csrs.join("person0.csr"), &k.csr_pem).unwrap();
    let path = dir.join("roster.csv");
    std::fs::write(
        &path,
        "common_name,emails,csr\nPerson 0,person0@example.com,elsewhere/person0.csr\n",
    )
    .unwrap();
    path
}

#[tokio::test]
async fn a_certificate_for_another_key_fails_the_row_once_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), roster(dir.path(), 2));
    cfg.report = Some(dir.path().join("report.json"));
    let fake = Arc::new(Fake {
        foreign_key: Some("Person 0"),
        ..Fake::default()
    });
    let outcome = run(fake.clone(), &cfg).await.unwrap();
    // One row done, one failed: exit 5.
    assert_eq!(outcome.verdict, Verdict::Partial, "{outcome:?}");
    assert_eq!(state(&outcome, RowState::Failed), 1, "{outcome:?}");
    assert_eq!(state(&outcome, RowState::Done), 1, "{outcome:?}");
    // Downloaded once each: the mismatch is final, not retried until the timeout.
    assert_eq!(fake.downloads.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert!(!dir.path().join("out/person-0.crt").exists());
    assert!(!dir.path().join("out/person-0.crt.tmp").exists());
    assert!(dir.path().join("out/person-1.crt").exists());
    // The key is kept; the reason is in the summary and the report.
    assert!(dir.path().join("out/person-0.key").exists());
    let reason = outcome.problems[0].error.as_deref().unwrap_or_default();
    let key_file = dir.path().join("out/person-0.key");
    assert!(
        reason.starts_with(&format!(
            "certificate for order 100 carries another public key than {}: it was issued to CN=Person 0",
            key_file.display()
        )),
        "{reason}"
    );
    assert!(reason.ends_with("nothing was written"), "{reason}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report[0]["state"], "failed");
    assert_eq!(report[0]["error"], reason);
    // Final: a rerun neither orders nor downloads it again.
    let again = run(fake.clone(), &cfg).await.unwrap();
    assert_eq!(again.verdict, Verdict::Partial);
    assert_eq!(fake.count(), 2);
    assert_eq!(fake.downloads.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert!(!dir.path().join("out/person-0.crt").exists());
}

#[tokio::test]
async fn a_row_with_its_own_csr_elsewhere_is_checked() {
    // The matching certificate is written.
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), own_csr_roster(dir.path()));
    let fake = Arc::new(Fake::default());
    let outcome = run(fake.clone(), &cfg).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::Done, "{outcome:?}");
    assert!(dir.path().join("out/person-0.crt").exists());
    assert!(!dir.path().join("out/person-0.key").exists());

    // Another key: checked against the CSR sent (nothing beside the output), the row fails,
    // nothing is written, and with nothing done the run exits 1.
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), own_csr_roster(dir.path()));
    let fake = Arc::new(Fake {
        foreign_key: Some("Person 0"),
        ..Fake::default()
    });
    let outcome = run(fake.clone(), &cfg).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::Failed, "{outcome:?}");
    assert_eq!(state(&outcome, RowState::Failed), 1, "{outcome:?}");
    assert_eq!(fake.downloads.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert!(!dir.path().join("out/person-0.crt").exists());
    let reason = outcome.problems[0].error.as_deref().unwrap_or_default();
    let csr_file = dir.path().join("elsewhere/person0.csr");
    assert!(
        reason.starts_with(&format!(
            "certificate for order 100 carries another public key than {}:",
            csr_file.display()
        )),
        "{reason}"
    );
}
