//! Following orders: batched `status-changes` polls (one order-info call each for orders
//! older than its window) and certificate downloads, at most `download_concurrency` at
//! once, each in a task of its own: a download waiting for a permit never holds up the
//! POST stream.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use certcentral_client::WaitOutcome;
use certcentral_types::catalog::STATUS_CHANGES_MAX_MINUTES;
use certcentral_types::{OrderStatus, RequestStatus, StatusChange};
use chrono::Utc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::post::replace_public;
use super::{Pages, Shared, blocking, lock, parse_time};
use crate::BulkError;
use crate::api::BulkApi;
use crate::journal::{Class, Journal, RowState, SentKey, Update};
use crate::keys::{self, ExpectedKey, KeyError};

/// A finished download: row key, and the file written or why not.
type DownloadDone = (String, Result<String, NotWritten>);

/// Why a download wrote no certificate.
#[derive(Debug)]
enum NotWritten {
    /// A failure that may pass (network, disk): the download is tried again.
    Retry(String),
    /// Final for the row (its certificate carries another public key, or the key it must
    /// carry is unknown): the row is journaled as failed, nothing is retried.
    Failed(String),
}

/// One certificate to download (or, with `chain`, already in hand: checked and written).
pub(super) struct Download {
    /// The row's key.
    pub(super) key: String,
    /// The row's output name.
    pub(super) name: String,
    pub(super) order_id: i64,
    /// Certificate id.
    pub(super) cert: i64,
    /// The chain a `201` carried: nothing is downloaded.
    pub(super) chain: Option<String>,
}

/// The downloads in flight.
pub(super) struct Downloads {
    set: JoinSet<DownloadDone>,
    permits: Arc<Semaphore>,
    in_flight: HashSet<String>,
}

impl Downloads {
    pub(super) fn new(concurrency: usize) -> Self {
        Self {
            set: JoinSet::new(),
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            in_flight: HashSet::new(),
        }
    }

    /// Starts downloading `d` (once per row at a time) in a task of its own, which first
    /// waits for one of the permits: this never waits, so the POST stream goes on while
    /// downloads queue.
    pub(super) fn start<A: BulkApi>(&mut self, shared: &Arc<Shared<A>>, mut d: Download) {
        if !self.in_flight.insert(d.key.clone()) {
            return;
        }
        let permits = Arc::clone(&self.permits);
        let shared = Arc::clone(shared);
        self.set.spawn(async move {
            let Ok(_permit) = permits.acquire_owned().await else {
                return (d.key, Err(NotWritten::Retry("downloads closed".into())));
            };
            let chain = d.chain.take();
            let result = fetch(&shared, &d, chain).await;
            if let Err(NotWritten::Failed(reason)) = &result {
                // Final: the row fails (once), so it is neither downloaded nor written again.
                let failed = Update::Status {
                    order_id: d.order_id,
                    order_status: OrderStatus::Issued.as_str().to_owned(),
                    certificate_id: Some(d.cert),
                    failed: Some(reason.clone()),
                };
                if let Err(e) = shared.journal(move |j| j.commit([failed])).await {
                    return (d.key, Err(NotWritten::Retry(e.to_string())));
                }
            }
            (d.key, result)
        });
    }

    /// Takes the downloads that ended, without waiting.
    pub(super) fn reap(&mut self) {
        while let Some(done) = self.set.try_join_next() {
            self.finish(done);
        }
    }

    /// Waits for every download in flight.
    pub(super) async fn join_all(&mut self) {
        while let Some(done) = self.set.join_next().await {
            self.finish(done);
        }
    }

    fn finish(&mut self, done: Result<DownloadDone, tokio::task::JoinError>) {
        if let Ok((key, result)) = done {
            match result {
                Ok(_) => {}
                Err(NotWritten::Retry(e)) => {
                    tracing::debug!(row = %key, error = %e, "download failed; will retry");
                }
                Err(NotWritten::Failed(e)) => {
                    tracing::warn!(row = %key, error = %e, "certificate not written");
                }
            }
            self.in_flight.remove(&key);
        }
    }
}

/// Downloads the certificate of `d` and writes `NAME.crt`, once it is checked to carry the
/// row's public key (issue 11, item 2): a certificate for another key, or a row whose key
/// is unknown, is [`NotWritten::Failed`] and nothing is written. With `given` (the chain a
/// `201` carried) nothing is downloaded: it is checked and written the same way. The file
/// work runs on the blocking pool.
async fn fetch<A: BulkApi>(
    shared: &Shared<A>,
    d: &Download,
    given: Option<String>,
) -> Result<String, NotWritten> {
    let expected = expected_for(shared, d).await?;
    let bytes = match given {
        Some(chain) => chain.into_bytes(),
        None => {
            let answer = shared.api.download(d.cert).await;
            shared.observe(&answer);
            answer.map_err(|e| NotWritten::Retry(e.to_string()))?
        }
    };
    let journal = Arc::clone(&shared.journal);
    let path = shared.opts.out_dir.join(format!("{}.crt", d.name));
    let (key, order_id) = (d.key.clone(), d.order_id);
    let file = blocking(move || {
        check_chain(&bytes, &expected, order_id)?;
        write_certificate(&journal, key, &path, &bytes)
    })
    .await
    .map_err(|e| NotWritten::Retry(e.to_string()))??;
    shared.stat(|s| s.downloaded += 1);
    Ok(file)
}

/// The keys `d`'s certificate must carry ([`expected_keys`]), read on the blocking pool.
async fn expected_for<A>(
    shared: &Shared<A>,
    d: &Download,
) -> Result<Vec<(String, ExpectedKey)>, NotWritten> {
    let journal = Arc::clone(&shared.journal);
    let out_dir = shared.opts.out_dir.clone();
    let (key, name, order_id) = (d.key.clone(), d.name.clone(), d.order_id);
    blocking(move || {
        let sent = lock(&journal)
            .sent_key(&key)
            .map_err(|e| NotWritten::Retry(e.to_string()))?
            .unwrap_or_default();
        expected_keys(&sent, &out_dir, &name).map_err(|why| {
            NotWritten::Failed(format!(
                "the certificate for order {order_id} cannot be checked against the row's key: \
                 {why}; nothing was written"
            ))
        })
    })
    .await
    .map_err(|e| NotWritten::Retry(e.to_string()))?
}

/// Checks that the certificate `bytes` of order `order_id` carries every `expected` key.
fn check_chain(
    bytes: &[u8],
    expected: &[(String, ExpectedKey)],
    order_id: i64,
) -> Result<(), NotWritten> {
    let chain = String::from_utf8_lossy(bytes);
    for (file, expected) in expected {
        match keys::check_certificate_key(&chain, expected) {
            Ok(()) => {}
            Err(KeyError::Mismatch {
                subject, serial, ..
            }) => {
                return Err(NotWritten::Failed(format!(
                    "certificate for order {order_id} carries another public key than {file}: \
                     it was issued to {subject} (serial {serial}); nothing was written"
                )));
            }
            // Not a certificate (e.g. a truncated answer): downloaded again.
            Err(e) => return Err(NotWritten::Retry(e.to_string())),
        }
    }
    Ok(())
}

/// Writes the checked certificate to `path` and journals it for row `key` (blocking).
fn write_certificate(
    journal: &std::sync::Mutex<Journal>,
    key: String,
    path: &Path,
    bytes: &[u8],
) -> Result<String, NotWritten> {
    replace_public(path, bytes).map_err(NotWritten::Retry)?;
    let file = path.display().to_string();
    // When it ends (for `--renew-within`) and its serial (for `--revoke-removed`).
    let summary = keys::describe_certificate(&String::from_utf8_lossy(bytes)).ok();
    lock(journal)
        .commit([Update::Downloaded {
            key,
            file: file.clone(),
            valid_till: summary
                .as_ref()
                .map(|s| s.not_after.clone())
                .filter(|t| !t.is_empty()),
            serial: summary.map(|s| s.serial_hex),
        }])
        .map_err(|e| NotWritten::Retry(e.to_string()))?;
    Ok(file)
}

/// The public keys a row's certificate must carry, each with the file it comes from (for
/// messages): the private key written for the row, when it is on disk, and the CSR sent with
/// the order (journaled with the intent, whether generated or the row's own CSR file). A
/// journal without either (an older one) falls back on the key or CSR beside the output.
/// `Err` says why none can be determined: the certificate must then not be written.
fn expected_keys(
    sent: &SentKey,
    out_dir: &Path,
    name: &str,
) -> Result<Vec<(String, ExpectedKey)>, String> {
    let mut expected = Vec::new();
    if let Some(key_file) = &sent.key_file {
        let path = Path::new(key_file);
        if path.symlink_metadata().is_ok() {
            let key = ExpectedKey::from_file(path).map_err(|e| e.to_string())?;
            expected.push((key_file.clone(), key));
        }
    }
    if let Some(csr) = &sent.csr {
        let file = sent
            .csr_file
            .clone()
            .unwrap_or_else(|| "the CSR sent with the order".to_owned());
        let key = ExpectedKey::from_pem(csr, format!("the CSR sent ({file})"))
            .map_err(|e| e.to_string())?;
        expected.push((file, key));
    }
    if expected.is_empty() {
        match ExpectedKey::beside(out_dir, name).map_err(|e| e.to_string())? {
            Some(key) => expected.push((key.source.clone(), key)),
            None => {
                return Err(format!(
                    "the journal records no key or CSR for it, and neither {name}.key nor \
                     {name}.csr is in {}",
                    out_dir.display()
                ));
            }
        }
    }
    Ok(expected)
}

/// What an order's state means for its row, by the client's rule
/// ([`WaitOutcome::from_status`]): why it ended without a certificate, and whether it is
/// issued. Not settled (or an outcome this version does not know): still followed.
fn settled<'a>(
    order_id: i64,
    status: Option<&OrderStatus>,
    certificate_id: Option<i64>,
    requests: impl IntoIterator<Item = Option<&'a RequestStatus>>,
) -> (Option<String>, bool) {
    match WaitOutcome::from_status(order_id, status, certificate_id, requests) {
        Some(WaitOutcome::Issued { .. }) => (None, true),
        Some(WaitOutcome::Rejected { .. }) => (Some("order rejected".to_owned()), false),
        Some(WaitOutcome::Canceled { .. }) => (Some("order canceled".to_owned()), false),
        Some(WaitOutcome::Ended { status, .. }) => (Some(format!("order {status}")), false),
        _ => (None, false),
    }
}

/// What one poll found: the orders that changed, and the certificates to download.
#[derive(Default)]
struct Changes {
    changed: u64,
    downloads: Vec<Download>,
}

impl Changes {
    /// Records the state of order `order_id` of row `(key, name)`: the journal update to
    /// make, and a download when it is issued.
    fn record<'a>(
        &mut self,
        (key, name): (String, String),
        order_id: i64,
        (status, cert): (Option<&OrderStatus>, Option<i64>),
        requests: impl IntoIterator<Item = Option<&'a RequestStatus>>,
    ) -> Update {
        let (failed, issued) = settled(order_id, status, cert, requests);
        self.changed += 1;
        if issued && let Some(cert) = cert {
            self.downloads.push(Download {
                key,
                name,
                order_id,
                cert,
                chain: None,
            });
        }
        Update::Status {
            order_id,
            order_status: status.map(|s| s.as_str().to_owned()).unwrap_or_default(),
            certificate_id: cert,
            failed,
        }
    }

    /// Applies a `status-changes` answer to the journal (blocking: one commit).
    fn apply(journal: &mut Journal, answer: Vec<StatusChange>) -> Result<Self, BulkError> {
        let mut changes = Self::default();
        for c in answer {
            let Some((key, name, state)) = journal.by_order(c.order_id)? else {
                continue;
            };
            if state != RowState::Ordered {
                continue;
            }
            let update = changes.record(
                (key, name),
                c.order_id,
                (c.status.as_ref(), c.certificate_id),
                std::iter::empty(),
            );
            journal.defer(update);
        }
        journal.flush()?;
        Ok(changes)
    }
}

/// One `status-changes` poll covering every order still waiting; starts downloads for
/// issued ones. Returns how many waiting orders changed.
pub(super) async fn poll<A: BulkApi>(
    shared: &Arc<Shared<A>>,
    downloads: &mut Downloads,
) -> Result<u64, BulkError> {
    let oldest = shared.journal(|j| j.oldest_pending()).await?;
    let Some(oldest) = oldest.as_deref().and_then(parse_time) else {
        return Ok(0);
    };
    let age = (Utc::now() - oldest).num_seconds().max(0) as u64;
    let minutes = (age / 60 + 2).min(u64::from(STATUS_CHANGES_MAX_MINUTES)) as u32;
    shared.stat(|s| s.polls += 1);
    let answer = shared.api.status_changes(minutes).await;
    shared.observe(&answer);
    let answer = match answer {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "status-changes poll failed; will retry");
            return Ok(0);
        }
    };
    let mut changes = shared.journal(move |j| Changes::apply(j, answer)).await?;
    // Orders older than the longest status-changes window (7 days): one GET each.
    if age > u64::from(STATUS_CHANGES_MAX_MINUTES) * 60 - 120 {
        poll_each(shared, &mut changes).await?;
    }
    for d in changes.downloads {
        downloads.start(shared, d);
    }
    Ok(changes.changed)
}

/// Looks up every order still waiting with one order-info call each (those older than the
/// `status-changes` window); the updates are journaled in one commit at the end.
async fn poll_each<A: BulkApi>(
    shared: &Arc<Shared<A>>,
    changes: &mut Changes,
) -> Result<(), BulkError> {
    let mut updates = Vec::new();
    let mut pages = Pages::new(Class::Pending);
    'pages: while !shared.must_stop()
        && let Some(page) = pages.next(shared).await?
    {
        for entry in page {
            let Some(order_id) = entry.order_id else {
                continue;
            };
            if shared.must_stop() {
                break 'pages;
            }
            let answer = shared.api.order_info(order_id).await;
            shared.observe(&answer);
            if let Ok(info) = answer {
                updates.push(changes.record(
                    (entry.spec.key.clone(), entry.name.clone()),
                    order_id,
                    (
                        info.status.as_ref(),
                        info.certificate.as_ref().and_then(|c| c.id),
                    ),
                    info.requests.iter().map(|r| r.status.as_ref()),
                ));
            }
        }
    }
    shared
        .journal(move |j| {
            for u in updates {
                j.defer(u);
            }
            j.flush()
        })
        .await
}

/// Downloads every certificate whose id is known and not yet on disk.
async fn download_known<A: BulkApi>(
    shared: &Arc<Shared<A>>,
    downloads: &mut Downloads,
) -> Result<u64, BulkError> {
    let mut started = 0;
    let mut pages = Pages::new(Class::Follow);
    while let Some(page) = pages.next(shared).await? {
        for entry in page {
            let status_ok = entry
                .order_status
                .as_deref()
                .is_none_or(|s| OrderStatus::from(s) == OrderStatus::Issued);
            if let (Some(order_id), Some(cert), true) =
                (entry.order_id, entry.certificate_id, status_ok)
            {
                let d = Download {
                    key: entry.spec.key.clone(),
                    name: entry.name.clone(),
                    order_id,
                    cert,
                    chain: None,
                };
                downloads.start(shared, d);
                started += 1;
            }
        }
    }
    Ok(started)
}

/// Follows the orders placed until every one is settled (with `wait`, up to its timeout;
/// without, one poll), downloading certificates as they are issued.
pub(super) async fn follow<A: BulkApi>(
    shared: &Arc<Shared<A>>,
    downloads: &mut Downloads,
    last_poll: &mut Instant,
) -> Result<(), BulkError> {
    let start = Instant::now();
    let mut rounds = 0u32;
    loop {
        downloads.join_all().await;
        shared.journal(|j| j.flush()).await?;
        if shared.must_stop() {
            return Ok(());
        }
        download_known(shared, downloads).await?;
        downloads.join_all().await;
        shared.journal(|j| j.flush()).await?;
        shared.tick(false).await;
        let waiting = shared.count(&[RowState::Ordered]).await?;
        if waiting == 0
            || (!shared.opts.wait && rounds >= 1)
            || (shared.opts.wait && start.elapsed() >= shared.opts.timeout)
        {
            return Ok(());
        }
        let since_poll = last_poll.elapsed();
        if rounds > 0 && since_poll < shared.opts.poll_interval {
            let mut nap = shared.opts.poll_interval - since_poll;
            if shared.opts.wait {
                nap = nap.min(shared.opts.timeout.saturating_sub(start.elapsed()));
            }
            shared.opts.stop.sleep(nap).await;
            if shared.must_stop() {
                return Ok(());
            }
        }
        poll(shared, downloads).await?;
        *last_poll = Instant::now();
        rounds += 1;
    }
}

#[cfg(test)]
mod settled_tests {
    use super::*;

    #[test]
    fn final_statuses_follow_the_clients_rule() {
        let none = || std::iter::empty::<Option<&RequestStatus>>();
        assert_eq!(
            settled(1, Some(&OrderStatus::Issued), Some(9), none()),
            (None, true)
        );
        assert_eq!(
            settled(1, Some(&OrderStatus::Rejected), None, none()),
            (Some("order rejected".to_owned()), false)
        );
        assert_eq!(
            settled(1, Some(&OrderStatus::Expired), None, none()),
            (Some("order expired".to_owned()), false)
        );
        assert_eq!(
            settled(1, Some(&OrderStatus::Pending), None, none()),
            (None, false)
        );
        assert_eq!(
            settled(1, Some(&OrderStatus::from("on_hold")), None, none()),
            (None, false)
        );
        // Every request rejected: the order is over, whatever its own status says.
        let rejected = RequestStatus::Rejected;
        assert_eq!(
            settled(
                1,
                Some(&OrderStatus::Pending),
                None,
                [Some(&rejected), Some(&rejected)]
            ),
            (Some("order rejected".to_owned()), false)
        );
    }
}

#[cfg(test)]
mod expected_key_tests {
    use super::*;
    use crate::keys::KeyType;

    #[test]
    fn a_row_without_a_known_key_cannot_be_checked() {
        let dir = tempfile::tempdir().unwrap();
        let err = expected_keys(&SentKey::default(), dir.path(), "row").unwrap_err();
        assert!(err.contains("neither row.key nor row.csr"), "{err}");

        // The CSR sent wins over nothing beside the output; a key file gone from disk is
        // skipped (the CSR still tells the key).
        let k = keys::generate(KeyType::P256, "Row", &[]).unwrap();
        let sent = SentKey {
            key_file: Some(dir.path().join("gone.key").display().to_string()),
            csr_file: Some("elsewhere/row.csr".into()),
            csr: Some(k.csr_pem.clone()),
        };
        let found = expected_keys(&sent, dir.path(), "row").unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "elsewhere/row.csr");
        assert_eq!(found[0].1.spki_der, k.public_key_der);

        // A key file on disk that is not a key: nothing can be confirmed.
        std::fs::write(dir.path().join("gone.key"), "not a key").unwrap();
        assert!(expected_keys(&sent, dir.path(), "row").is_err());
    }
}
