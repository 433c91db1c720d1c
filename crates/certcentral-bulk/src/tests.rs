//! Engine tests against an in-memory fake of the API (the end-to-end tests against the
//! sandbox over HTTP are in `tests/it/bulk.rs`).

use std::collections::{BTreeSet, VecDeque};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use certcentral_types::{
    OrderBody, OrderCertificate, OrderInfo, OrderStatus, ProductId, ProductRef, StatusChange,
};
use chrono::{DateTime, NaiveDate, Utc};

use super::api::{ApiFailure, BulkApi, Placed, RevokeOutcome};
use super::*;
use certcentral_client::RetryPolicy;
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
    renewal_of: Option<i64>,
    /// `Some(request id)`: a revoke request exists; `Some(0)`: revoked at once.
    revoked: Option<i64>,
}

#[derive(Default)]
struct Fake {
    orders: Mutex<Vec<FakeOrder>>,
    script: Mutex<VecDeque<Option<Script>>>,
    fail_lookups: bool,
    /// Every call fails to connect.
    unreachable: bool,
    /// Every order POST answers 429 (no `Retry-After`).
    rate_limited: bool,
    /// Each order POST: when it arrived (tokio's clock) and the patience left it was given.
    patiences: Mutex<Vec<(tokio::time::Instant, Duration)>>,
    /// Order POSTs attempted.
    attempts: std::sync::atomic::AtomicUsize,
    /// Orders for this common name get a certificate for another public key than their CSR's.
    foreign_key: Option<&'static str>,
    /// Certificate downloads.
    downloads: std::sync::atomic::AtomicUsize,
    /// Certificates end this many days after they are downloaded (default 365).
    valid_days: Mutex<Option<i64>>,
    /// Revocations sent (answered or not).
    revocations: std::sync::atomic::AtomicUsize,
    /// The next revocation is processed but its answer lost.
    drop_revocation: std::sync::atomic::AtomicBool,
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
        info.renewal_of_order_id = o.renewal_of;
        match o.revoked {
            Some(0) => info.status = Some(OrderStatus::Revoked),
            Some(id) => {
                info.requests = vec![
                    serde_json::from_value(
                        serde_json::json!({"id": id, "type": "revoke", "status": "pending"}),
                    )
                    .unwrap(),
                ]
            }
            None => {}
        }
        info
    }

    fn renewals(&self) -> Vec<(i64, i64)> {
        self.orders
            .lock()
            .unwrap()
            .iter()
            .filter_map(|o| Some((o.renewal_of?, o.id)))
            .collect()
    }

    fn create(&self, product: ProductId, request: &OrderBody) -> i64 {
        let mut orders = self.orders.lock().unwrap();
        let id = 100 + orders.len() as i64;
        orders.push(FakeOrder {
            id,
            product,
            common_name: request.subject_name(),
            emails: request.emails().to_vec(),
            csr: request.csr().map(str::to_owned),
            created: Utc::now(),
            renewal_of: match request {
                OrderBody::ClientCertificate(r) => r.renewal_of_order_id,
                OrderBody::SecureEmail(r) => r.renewal_of_order_id,
            }
            .and_then(|id| i64::try_from(id.get()).ok()),
            revoked: None,
        });
        id
    }
}

impl BulkApi for Fake {
    /// Short backoffs (the client's policy otherwise): at most 1 s between attempts.
    fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(1),
            ..RetryPolicy::default()
        }
    }

    async fn order(
        &self,
        product: &str,
        request: &OrderBody,
        patience: Duration,
    ) -> Result<Placed, ApiFailure> {
        self.attempts
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.patiences
            .lock()
            .unwrap()
            .push((tokio::time::Instant::now(), patience));
        let Ok(product) = product.parse::<ProductId>() else {
            return Err(ApiFailure::Refused {
                message: format!("http 400: invalid_product: {product}"),
            });
        };
        if self.unreachable {
            return unreachable();
        }
        if self.rate_limited {
            return Err(ApiFailure::NotProcessed {
                retry_after: None,
                message: "http 429: request_limit_exceeded".into(),
            });
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
                    chain: None,
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
        product: &str,
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
                o.product.as_str() == product
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
        let mut request = request;
        let days = self.valid_days.lock().unwrap().unwrap_or(365);
        let end = (Utc::now() + chrono::Duration::days(days)).date_naive();
        request.params.not_after = rcgen::date_time_ymd(
            chrono::Datelike::year(&end),
            chrono::Datelike::month(&end) as u8,
            chrono::Datelike::day(&end) as u8,
        );
        let cert = if self.foreign_key == Some(common_name.as_str()) {
            // The same subject, another public key.
            request.params.signed_by(&new_key(), &issuer)
        } else {
            request.signed_by(&issuer)
        };
        Ok(cert.unwrap().pem().into_bytes())
    }

    async fn renewal_request(
        &self,
        order_id: i64,
        csr: &str,
    ) -> Result<(ProductId, OrderBody), ApiFailure> {
        let orders = self.orders.lock().unwrap();
        let o = orders
            .iter()
            .find(|o| o.id == order_id)
            .ok_or(ApiFailure::Refused {
                message: "not_found|order".into(),
            })?;
        let request = serde_json::from_value(serde_json::json!({
            "certificate": {"common_name": o.common_name, "emails": o.emails, "csr": csr,
                            "signature_hash": "sha256"},
            "organization": {"id": 112233},
            "validity_years": 1,
            "renewal_of_order_id": o.id,
        }))
        .unwrap();
        Ok((o.product, OrderBody::ClientCertificate(request)))
    }

    async fn revoke_order(
        &self,
        order_id: i64,
        _comment: &str,
        skip_approval: bool,
    ) -> Result<RevokeOutcome, ApiFailure> {
        use std::sync::atomic::Ordering::SeqCst;
        let n = self.revocations.fetch_add(1, SeqCst) as i64;
        let mut orders = self.orders.lock().unwrap();
        let o = orders
            .iter_mut()
            .find(|o| o.id == order_id)
            .ok_or(ApiFailure::Refused {
                message: "not_found|order".into(),
            })?;
        if o.revoked.is_some() {
            return Err(ApiFailure::Refused {
                message: "order already revoked or a revoke request is pending".into(),
            });
        }
        let outcome = if skip_approval {
            o.revoked = Some(0);
            RevokeOutcome::Revoked
        } else {
            o.revoked = Some(9000 + n);
            RevokeOutcome::Requested(Some(9000 + n))
        };
        if self.drop_revocation.swap(false, SeqCst) {
            return Err(ApiFailure::Unknown {
                message: "connection closed".into(),
            });
        }
        Ok(outcome)
    }
}

pub(crate) fn roster(dir: &Path, rows: usize) -> std::path::PathBuf {
    let path = dir.join("roster.csv");
    let mut text = String::from("common_name,emails,organization_units\n");
    for i in 0..rows {
        text.push_str(&format!("Person {i},person{i}@example.com,Staff\n"));
    }
    std::fs::write(&path, text).unwrap();
    path
}

pub(crate) fn config(dir: &Path, roster: std::path::PathBuf) -> BulkConfig {
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
                allow_unknown: false,
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
            renew_until: None,
        },
        revoke: None,
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
    let extra = cfg
        .exec
        .defaults
        .clone()
        .into_request_for_test("Person 0", "person0@example.com");
    fake.create(ProductId::ClientPremiumSha2, &extra);
    let outcome = run(fake.clone(), &cfg).await.unwrap();
    assert_eq!(outcome.verdict, Verdict::Unknown, "{outcome:?}");
    assert_eq!(fake.count(), 3);
    assert_eq!(outcome.stats.reconciled_ambiguous, 1);
    assert_eq!(outcome.stats.reconciled_found, 1);
}

impl spec::OrderDefaults {
    fn into_request_for_test(self, cn: &str, email: &str) -> OrderBody {
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

/// A roster of many chunks, checked on several threads, is staged in roster order: every
/// invalid row, repeated person and possible duplicate is found at its row and names the
/// earlier row it repeats, exactly as one thread reading row by row would.
#[test]
fn rows_checked_on_several_threads_are_staged_in_roster_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roster.csv");
    let rows = 1000;
    let mut text = String::from("common_name,emails\n");
    // (common name, emails) per row; the expected state and error, one thread's way.
    let mut expected: Vec<(&str, Option<String>)> = Vec::new();
    let mut people = std::collections::HashMap::new();
    let mut holders = std::collections::HashMap::new();
    for i in 1..=rows {
        let (name, emails) = match i {
            _ if i % 97 == 0 => (format!("Person {i}"), vec!["not-an-email".to_owned()]),
            _ if i % 89 == 0 => (
                format!("Person {}", i - 50),
                vec![format!("person{}@example.com", i - 50)],
            ),
            _ if i % 101 == 0 => (
                format!("Person {i}"),
                vec![
                    format!("person{i}@example.com"),
                    format!("person{}@example.com", i - 70),
                ],
            ),
            _ => (
                format!("Person {i}"),
                vec![format!("person{i}@example.com")],
            ),
        };
        text.push_str(&format!("{name},{}\n", emails.join(";")));
        if i % 97 == 0 {
            expected.push(("invalid", Some("column emails".to_owned())));
            continue;
        }
        if let Some(first) = people.get(&name) {
            expected.push(("invalid", Some(format!("same person as row {first}"))));
            continue;
        }
        people.insert(name, i);
        let mut sorted = emails.clone();
        sorted.sort();
        let held = sorted.iter().find_map(|e| holders.get(e).copied());
        for e in sorted {
            holders.entry(e).or_insert(i);
        }
        expected.push(match held {
            Some(row) => ("possible_duplicate", Some(format!("also in row {row}"))),
            None => ("new", None),
        });
    }
    std::fs::write(&path, text).unwrap();
    let mut cfg = config(dir.path(), path);
    cfg.dry_run = true;
    cfg.strict = false;
    cfg.report = Some(dir.path().join("report.json"));
    let outcome = dry_run(&cfg).unwrap();
    let report = std::fs::read_to_string(dir.path().join("report.json")).unwrap();
    let lines: Vec<serde_json::Value> = report
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l.trim_end_matches(',')).unwrap())
        .collect();
    assert_eq!(lines.len(), rows as usize);
    for (i, (line, (state, error))) in lines.iter().zip(&expected).enumerate() {
        assert_eq!(line["row"], i as u64 + 1, "{line}");
        assert_eq!(line["state"], *state, "{line}");
        if let Some(error) = error {
            let text = line["error"].as_str().unwrap_or_default();
            assert!(text.contains(error.as_str()), "{line}: {error}");
        }
    }
    let invalid = expected.iter().filter(|(s, _)| *s == "invalid").count() as u64;
    assert_eq!(outcome.plan.invalid, invalid);
    assert_eq!(
        outcome.plan.possible_duplicates,
        expected
            .iter()
            .filter(|(s, _)| *s == "possible_duplicate")
            .count() as u64
    );
    let shown: BTreeSet<u64> = outcome.invalid_rows.iter().map(|e| e.row).collect();
    let rows: BTreeSet<u64> = (1..=rows)
        .filter(|i| expected[*i as usize - 1].0 == "invalid")
        .collect();
    assert_eq!(shown, rows);
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

/// The patience is a wall-clock bound on a POST never processed: every call gets what is
/// left of it (the API's own retries end there too), and the last attempt starts within it,
/// less than one wait (at most 1 s with the fake's policy) before it. Paused clock: the
/// waits take no real time and the instants are exact.
#[tokio::test(start_paused = true)]
async fn patience_is_a_wall_clock_bound_for_a_post_never_processed() {
    let patience = Duration::from_secs(60);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), roster(dir.path(), 1));
    cfg.exec.not_processed_patience = patience;
    let fake = Arc::new(Fake {
        rate_limited: true,
        ..Fake::default()
    });
    let start = tokio::time::Instant::now();
    let outcome = run(fake.clone(), &cfg).await.unwrap();
    let elapsed = start.elapsed();
    assert!(
        elapsed <= patience && elapsed >= patience - Duration::from_secs(1),
        "{elapsed:?}"
    );
    assert_eq!(fake.count(), 0);
    assert_eq!(state(&outcome, RowState::Refused), 1, "{outcome:?}");
    let calls = fake.patiences.lock().unwrap().clone();
    assert!(calls.len() > 5, "{calls:?}");
    assert_eq!(outcome.stats.not_processed_retries, calls.len() as u64 - 1);
    for (at, left) in &calls {
        // What is left of the patience, to the instant.
        assert_eq!(at.duration_since(start) + *left, patience, "{calls:?}");
    }
    assert!(
        outcome.problems[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("after the 60s patience")),
        "{outcome:?}"
    );
}

/// The same bound with the real client against the sandbox answering 429 to everything: the
/// client's own retries (10 attempts per call, which alone would outlast the patience)
/// end with the patience left, so the row gives up within the patience, not twice it.
#[tokio::test(start_paused = true)]
async fn patience_bounds_the_clients_own_retries_too() {
    use certcentral_client::{Client, RateLimits};
    let patience = Duration::from_secs(30);
    let sandbox = certcentral_testkit::sandbox()
        .fault(certcentral_sandbox::FaultKind::RateLimit, 1.0)
        .seed(1);
    let sandbox = certcentral_testkit::start(sandbox).await;
    let client = Client::builder()
        .api_key(secrecy::SecretString::from(certcentral_testkit::API_KEY))
        .base_url(sandbox.base_url())
        .rate_limits(RateLimits::off())
        .retry_policy(RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(60),
            // As the CLI builds it.
            deadline: patience,
        })
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), roster(dir.path(), 1));
    cfg.exec.not_processed_patience = patience;
    let start = tokio::time::Instant::now();
    let outcome = run(Arc::new(client), &cfg).await.unwrap();
    let elapsed = start.elapsed();
    assert!(
        elapsed <= patience && elapsed >= patience - Duration::from_secs(1),
        "{elapsed:?}"
    );
    assert_eq!(state(&outcome, RowState::Refused), 1, "{outcome:?}");
    assert_eq!(sandbox.order_count(), 0);
    // More attempts than one call makes: calls were repeated, each within the patience.
    let attempts = sandbox.stats().count(429);
    assert!(attempts > 10, "{attempts} attempts");
    sandbox.shutdown().await;
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

/// The end of a `--renew-within` window `days` from now (Unix seconds).
fn within_days(days: i64) -> Option<i64> {
    Some((Utc::now() + chrono::Duration::days(days)).timestamp())
}

#[tokio::test]
async fn renew_within_renews_each_expiring_row_once_with_new_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), roster(dir.path(), 10));
    let fake = Arc::new(Fake::default());
    // Six certificates end in 20 days, four in 300.
    *fake.valid_days.lock().unwrap() = Some(20);
    cfg.exec.max_new_orders = Some(6);
    let first = run(fake.clone(), &cfg).await.unwrap();
    assert_eq!(first.verdict, Verdict::Pending, "{first:?}");
    *fake.valid_days.lock().unwrap() = Some(300);
    cfg.exec.max_new_orders = None;
    let second = run(fake.clone(), &cfg).await.unwrap();
    assert_eq!(second.verdict, Verdict::Done, "{second:?}");
    assert_eq!(fake.count(), 10);
    let first_key = std::fs::read(dir.path().join("out/person-0.key")).unwrap();

    // A year later: renewals end in 385 days. The first renewal's answer is lost.
    *fake.valid_days.lock().unwrap() = Some(385);
    fake.script
        .lock()
        .unwrap()
        .push_back(Some(Script::DropAfterCommit));
    cfg.exec.renew_until = within_days(30);
    let (_, plan, _) = prepare(&cfg).unwrap();
    assert_eq!(plan.renewals, 6, "{plan:?}");
    cfg.dry_run = true;
    let dry = run(fake.clone(), &cfg).await.unwrap();
    assert_eq!(dry.to_renew.len(), 6, "{dry:?}");
    assert_eq!(dry.to_renew[0].order_id, Some(100));
    assert!(dry.to_renew[0].valid_till.is_some());
    assert_eq!(fake.count(), 10, "a dry run orders nothing");
    cfg.dry_run = false;
    let renewed = run(fake.clone(), &cfg).await.unwrap();
    assert_eq!(renewed.verdict, Verdict::Done, "{renewed:?}");
    assert_eq!(renewed.stats.renewals, 5, "one was reconciled: {renewed:?}");
    assert_eq!(renewed.stats.reconciled_found, 1, "{renewed:?}");
    let renewals = fake.renewals();
    assert_eq!(renewals.len(), 6, "{renewals:?}");
    let renewed_orders: BTreeSet<i64> = renewals.iter().map(|(old, _)| *old).collect();
    assert_eq!(renewed_orders.len(), 6, "each expiring order renewed once");
    assert!(renewed_orders.iter().all(|id| (100..106).contains(id)));
    // New key, CSR and certificate beside the first ones, which are untouched.
    let (old, new) = renewals[0];
    let name = format!("person-0-renewal-{old}");
    assert!(dir.path().join(format!("out/{name}.key")).exists());
    assert!(dir.path().join(format!("out/{name}.crt")).exists());
    assert_eq!(
        std::fs::read(dir.path().join("out/person-0.key")).unwrap(),
        first_key
    );
    assert!(new > 109);
    assert_eq!(state(&renewed, RowState::Done), 10);

    // Rerunning the same command renews nothing.
    let again = run(fake.clone(), &cfg).await.unwrap();
    assert_eq!(again.plan.renewals, 0, "{again:?}");
    assert_eq!(again.verdict, Verdict::Done);
    assert_eq!(fake.count(), 16);
    // A later year renews the renewal, under the row's first name.
    assert_eq!(exec::renewal_name(&name, 120), "person-0-renewal-120");
}

#[tokio::test]
async fn revoke_removed_is_guarded_and_never_sent_twice() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), roster(dir.path(), 6));
    let fake = Arc::new(Fake::default());
    let first = run(fake.clone(), &cfg).await.unwrap();
    assert_eq!(first.verdict, Verdict::Done, "{first:?}");
    // Two people left.
    roster(dir.path(), 4);
    let revoking = |yes: bool, max: u64| {
        Some(revoke::RevokeOptions {
            yes,
            max,
            skip_approval: false,
        })
    };
    cfg.revoke = revoking(false, 10);
    let err = run(fake.clone(), &cfg).await.unwrap_err();
    assert!(
        matches!(&err, BulkError::Usage(m) if m.contains("would revoke 2")),
        "{err}"
    );
    assert_eq!(err.verdict(), Verdict::Usage);
    cfg.revoke = revoking(true, 1);
    let err = run(fake.clone(), &cfg).await.unwrap_err();
    assert!(
        matches!(&err, BulkError::Usage(m) if m.contains("--max-revocations 1")),
        "{err}"
    );
    cfg.dry_run = true;
    cfg.revoke = revoking(false, 10);
    let dry = run(fake.clone(), &cfg).await.unwrap();
    assert_eq!(dry.revocations.len(), 2);
    assert_eq!(dry.plan.revocations, 2);
    assert_eq!(dry.revocations[0].row.common_name, "Person 4");
    assert!(dry.revocations[0].row.serial.is_some());
    assert_eq!(
        fake.revocations.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "nothing sent before --yes"
    );

    // The first revocation's answer is lost: the order info shows the request, so it is
    // settled, not sent again.
    cfg.dry_run = false;
    cfg.revoke = revoking(true, 10);
    fake.drop_revocation
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let done = run(fake.clone(), &cfg).await.unwrap();
    assert_eq!(done.verdict, Verdict::Done, "{done:?}");
    assert_eq!(done.revocations.len(), 2);
    assert!(
        done.revocations
            .iter()
            .all(|l| l.result == RowState::RevokeRequested && l.request_id.is_some()),
        "{:?}",
        done.revocations
    );
    assert_eq!(
        fake.revocations.load(std::sync::atomic::Ordering::SeqCst),
        2
    );
    assert_eq!(
        fake.count(),
        6,
        "the rows still on the roster were not ordered again"
    );
    let again = run(fake.clone(), &cfg).await.unwrap();
    assert!(again.revocations.is_empty());
    assert_eq!(
        fake.revocations.load(std::sync::atomic::Ordering::SeqCst),
        2
    );
}

#[tokio::test]
async fn a_revocation_journaled_before_a_crash_is_looked_up_not_resent() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), roster(dir.path(), 3));
    let fake = Arc::new(Fake::default());
    run(fake.clone(), &cfg).await.unwrap();
    roster(dir.path(), 2);
    // A run journaled the revocation of the leaver, sent it, and died before recording it.
    let (order_id, key) = {
        let mut j = journal::Journal::open(&cfg.journal).unwrap();
        let removed = j.removed().unwrap();
        assert_eq!(
            removed.len(),
            3,
            "nothing staged: every row counts as removed"
        );
        let leaver = removed
            .into_iter()
            .find(|r| r.common_name == "Person 2")
            .unwrap();
        j.commit_durable([journal::Update::RevokeIntent {
            key: leaver.row_id.clone(),
        }])
        .unwrap();
        (leaver.order_id, leaver.row_id)
    };
    fake.revoke_order(order_id, "x", true).await.unwrap();
    let sent = fake.revocations.load(std::sync::atomic::Ordering::SeqCst);
    cfg.revoke = Some(revoke::RevokeOptions {
        yes: true,
        max: 10,
        skip_approval: true,
    });
    let outcome = run(fake.clone(), &cfg).await.unwrap();
    assert_eq!(outcome.revocations.len(), 1, "{outcome:?}");
    assert_eq!(outcome.revocations[0].result, RowState::Revoked);
    assert_eq!(outcome.revocations[0].row.row_id, key);
    assert_eq!(
        fake.revocations.load(std::sync::atomic::Ordering::SeqCst),
        sent,
        "not sent again"
    );
}

#[tokio::test]
async fn renewals_count_toward_max_new_orders_and_the_rest_waits_for_a_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), roster(dir.path(), 5));
    let fake = Arc::new(Fake::default());
    *fake.valid_days.lock().unwrap() = Some(10);
    run(fake.clone(), &cfg).await.unwrap();
    // Two new rows and five renewals, three orders allowed: the new rows first.
    roster(dir.path(), 7);
    cfg.exec.renew_until = within_days(30);
    cfg.exec.max_new_orders = Some(3);
    *fake.valid_days.lock().unwrap() = Some(400);
    let (_, plan, _) = prepare(&cfg).unwrap();
    assert_eq!(
        (plan.new_orders, plan.renewals, plan.capped),
        (2, 1, 4),
        "{plan:?}"
    );
    let outcome = run(fake.clone(), &cfg).await.unwrap();
    assert_eq!(outcome.stats.new_orders, 3, "{outcome:?}");
    assert_eq!(outcome.stats.renewals, 1, "{outcome:?}");
    assert_eq!(outcome.verdict, Verdict::Pending, "{outcome:?}");
    cfg.exec.max_new_orders = None;
    let rest = run(fake.clone(), &cfg).await.unwrap();
    assert_eq!(rest.stats.renewals, 4, "{rest:?}");
    assert_eq!(rest.verdict, Verdict::Done, "{rest:?}");
    assert_eq!(fake.renewals().len(), 5);
}

#[test]
fn problems_shown_are_the_first_in_roster_order_whatever_arrives_first() {
    let mut tally = Tally::default();
    let error = |row: u64, reason: &str| RowError {
        row,
        line: row + 1,
        column: "emails".into(),
        reason: reason.into(),
    };
    // Rows read late first (as a refusal found at the end of staging arrives after them),
    // two problems for row 7.
    for row in (1..=3 * SHOWN_INVALID as u64).rev() {
        tally.show(error(row, "late"));
    }
    tally.show(error(7, "second"));
    tally.keep_first_shown();
    let rows: Vec<u64> = tally.shown.iter().map(|e| e.row).collect();
    let mut expected: Vec<u64> = (1..=SHOWN_INVALID as u64 - 1).collect();
    expected.insert(7, 7);
    assert_eq!(rows, expected);
    assert_eq!(tally.shown[6].reason, "late");
    assert_eq!(tally.shown[7].reason, "second");
}
