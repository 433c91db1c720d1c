//! The executor: reconciles unknown outcomes, streams order POSTs one at a time (intent
//! committed before each), follows orders through batched `status-changes` polls and
//! downloads certificates in parallel. Every request goes through the API's rate limiter.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use certcentral_types::OrderInfo;
use certcentral_types::catalog::STATUS_CHANGES_MAX_MINUTES;
use chrono::{DateTime, Utc};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use super::BulkError;
use super::api::{ApiFailure, BulkApi};
use super::journal::{Class, Entry, Journal, RowState, Update};
use super::progress::Progress;
use super::spec::{OrderDefaults, row_key};
use crate::files;
use crate::keys::{self, KeyType};

/// How a run behaves.
#[derive(Clone, Debug)]
pub struct ExecOptions {
    /// Order-wide settings.
    pub defaults: OrderDefaults,
    /// Folder for keys, CSRs and certificates.
    pub out_dir: PathBuf,
    /// Key type for generated keys.
    pub key_type: KeyType,
    /// At most this many new paid orders in this run.
    pub max_new_orders: Option<u64>,
    /// Follow orders until issued (or `timeout`).
    pub wait: bool,
    /// How long `wait` follows.
    pub timeout: Duration,
    /// Time between `status-changes` polls.
    pub poll_interval: Duration,
    /// Downloads in flight at once.
    pub download_concurrency: usize,
    /// How long to keep retrying an order POST that was provably not processed (429s).
    pub not_processed_patience: Duration,
}

/// What one run did (the journal holds the per-row truth).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RunStats {
    /// New paid orders placed.
    pub new_orders: u64,
    /// Rows with an unknown outcome whose order was found by reconciliation.
    pub reconciled_found: u64,
    /// Rows with an unknown outcome for which reconciliation proved no order exists.
    pub reconciled_absent: u64,
    /// Rows whose reconciliation was ambiguous or failed (left as outcome unknown).
    pub reconciled_ambiguous: u64,
    /// Certificates downloaded.
    pub downloaded: u64,
    /// Order POSTs answered with a definite refusal.
    pub refused: u64,
    /// Order POSTs whose outcome was unknown.
    pub unknown: u64,
    /// Order POSTs retried because they were provably not processed (e.g. 429).
    pub not_processed_retries: u64,
    /// New rows not ordered because of `--max-new-orders`.
    pub capped: u64,
    /// `status-changes` polls.
    pub polls: u64,
}

struct Shared<A> {
    api: Arc<A>,
    journal: Arc<Mutex<Journal>>,
    opts: ExecOptions,
    stats: Mutex<RunStats>,
    progress: Progress,
}

fn lock(journal: &Mutex<Journal>) -> MutexGuard<'_, Journal> {
    journal
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<A> Shared<A> {
    fn stat(&self, f: impl FnOnce(&mut RunStats)) {
        let mut s = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s);
    }

    fn tick(&self, force: bool) {
        let j = lock(&self.journal);
        self.progress.update(&j, force);
    }
}

/// A row that cannot be ordered (its CSR or key cannot be prepared), and why.
struct Unprepared {
    entry: Entry,
    reason: String,
}

/// What the key preparer hands to the POST stream.
type PrepItem = Result<Prepared, Box<Unprepared>>;

/// A finished download: row key, and the file written or the error.
type DownloadDone = (String, Result<String, String>);

/// A row ready to POST: the key (not yet written) and the CSR.
struct Prepared {
    entry: Entry,
    key_pem: Option<secrecy::SecretString>,
    csr: String,
    key_file: Option<PathBuf>,
    csr_file: Option<PathBuf>,
}

/// Runs the staged roster against `api`. Returns the journal (for the summary and report)
/// and the run's statistics.
pub async fn execute<A: BulkApi>(
    api: Arc<A>,
    journal: Journal,
    opts: ExecOptions,
    progress: Progress,
) -> Result<(Journal, RunStats), BulkError> {
    files::ensure_dir(&opts.out_dir).map_err(|e| BulkError::Io(e.to_string()))?;
    let shared = Arc::new(Shared {
        api,
        journal: Arc::new(Mutex::new(journal)),
        opts,
        stats: Mutex::new(RunStats::default()),
        progress,
    });
    let result = run(&shared).await;
    lock(&shared.journal).flush()?;
    shared.tick(true);
    result?;
    let stats = shared
        .stats
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let shared = Arc::try_unwrap(shared)
        .map_err(|_| BulkError::Journal("internal: journal still shared at the end".into()))?;
    shared.progress.finish();
    let journal = Arc::try_unwrap(shared.journal)
        .map_err(|_| BulkError::Journal("internal: journal still shared at the end".into()))?
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    Ok((journal, stats))
}

async fn run<A: BulkApi>(shared: &Arc<Shared<A>>) -> Result<(), BulkError> {
    let mut downloads = Downloads::new(shared.opts.download_concurrency);
    let mut ambiguous: HashSet<String> = HashSet::new();
    let mut last_poll = Instant::now();
    // Reconcile, order; then reconcile what this run left unknown and order what proved absent.
    for round in 0..3 {
        reconcile(shared, &mut ambiguous).await?;
        // The first round orders every row to order; later ones only rows that
        // reconciliation proved were never ordered (rows refused in this run wait for a rerun).
        let class = if round == 0 { Class::New } else { Class::Retry };
        let posted = post_stream(shared, class, &mut downloads, &mut last_poll).await?;
        let unknown_left = count(shared, &[RowState::Intent, RowState::Unknown])?;
        if posted == 0 || unknown_left as usize <= ambiguous.len() {
            break;
        }
    }
    follow(shared, &mut downloads, &mut last_poll).await
}

fn count<A>(shared: &Shared<A>, states: &[RowState]) -> Result<u64, BulkError> {
    let counts = lock(&shared.journal).counts()?;
    Ok(counts
        .iter()
        .filter(|(s, _)| states.contains(s))
        .map(|(_, n)| *n)
        .sum())
}

// ---------------------------------------------------------------------------------------
// Reconciliation

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
                .ok()
                .map(|n| n.and_utc())
        })
}

fn normalize_pem(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Whether `info` can be the order placed for `entry` (same person, same product, placed
/// after the intent, same CSR when the server shows it).
fn matches(entry: &Entry, info: &OrderInfo, since: DateTime<Utc>) -> bool {
    if let Some(product) = info.product.as_ref().and_then(|p| p.name_id.as_deref())
        && product != entry.spec.product.to_string()
    {
        return false;
    }
    if let Some(cert) = &info.certificate {
        if let Some(cn) = &cert.common_name {
            let theirs = row_key(None, entry.spec.product, cn, &cert.emails);
            let ours = row_key(
                None,
                entry.spec.product,
                &entry.spec.common_name,
                &entry.spec.emails,
            );
            let same_cn = theirs.split('|').nth(1) == ours.split('|').nth(1);
            if !same_cn {
                return false;
            }
            if !cert.emails.is_empty() && theirs != ours {
                return false;
            }
        }
        if let (Some(theirs), Some(ours)) = (&cert.csr, &entry.csr)
            && normalize_pem(theirs) != normalize_pem(ours)
        {
            return false;
        }
    }
    if let Some(created) = info.date_created.as_deref().and_then(parse_time)
        && created < since
    {
        return false;
    }
    true
}

async fn reconcile<A: BulkApi>(
    shared: &Arc<Shared<A>>,
    ambiguous: &mut HashSet<String>,
) -> Result<(), BulkError> {
    let mut after = 0;
    loop {
        let page = lock(&shared.journal).page(Class::Reconcile, after, 64)?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = last.spec.row;
        for entry in page {
            if ambiguous.contains(&entry.spec.key) {
                continue;
            }
            let intent = entry.intent_at.as_deref().and_then(parse_time);
            // Created no earlier than a little before the intent (clock skew allowance).
            let since = intent.unwrap_or_else(Utc::now) - chrono::Duration::minutes(5);
            let found = shared
                .api
                .find_recent_orders(
                    entry.spec.product,
                    &entry.spec.common_name,
                    &entry.spec.emails,
                    since,
                )
                .await;
            let update = match found {
                Err(e) => {
                    ambiguous.insert(entry.spec.key.clone());
                    shared.stat(|s| s.reconciled_ambiguous += 1);
                    Update::Unknown {
                        key: entry.spec.key.clone(),
                        error: format!(
                            "the order POST outcome is unknown and looking it up failed ({e}); not ordered again"
                        ),
                    }
                }
                Ok(orders) => {
                    let mut candidates = Vec::new();
                    {
                        let j = lock(&shared.journal);
                        for info in orders {
                            if matches(&entry, &info, since) && !j.order_known(info.id)? {
                                candidates.push(info);
                            }
                        }
                    }
                    match candidates.len() {
                        0 => {
                            shared.stat(|s| s.reconciled_absent += 1);
                            Update::Retry {
                                key: entry.spec.key.clone(),
                            }
                        }
                        1 => {
                            let info = &candidates[0];
                            shared.stat(|s| s.reconciled_found += 1);
                            Update::Ordered {
                                key: entry.spec.key.clone(),
                                order_id: info.id,
                                request_ids: info
                                    .requests
                                    .iter()
                                    .map(|r| r.id.to_string())
                                    .collect::<Vec<_>>()
                                    .join(";"),
                                request_status: info
                                    .requests
                                    .first()
                                    .and_then(|r| r.status.as_ref())
                                    .map(|s| s.as_str().to_owned()),
                                order_status: info.status.as_ref().map(|s| s.as_str().to_owned()),
                                certificate_id: info.certificate.as_ref().and_then(|c| c.id),
                            }
                        }
                        n => {
                            ambiguous.insert(entry.spec.key.clone());
                            shared.stat(|s| s.reconciled_ambiguous += 1);
                            let ids = candidates
                                .iter()
                                .map(|o| o.id.to_string())
                                .collect::<Vec<_>>()
                                .join(", ");
                            Update::Unknown {
                                key: entry.spec.key.clone(),
                                error: format!(
                                    "the order POST outcome is unknown and {n} matching orders exist ({ids}); not ordered again: check them in CertCentral"
                                ),
                            }
                        }
                    }
                }
            };
            lock(&shared.journal).commit([update])?;
        }
        shared.tick(false);
    }
}

// ---------------------------------------------------------------------------------------
// Order POST stream

/// Generates keys and CSRs ahead of the POST stream on a blocking thread, so key generation
/// (slow for RSA) overlaps the rate-limited POSTs.
fn spawn_preparer<A: BulkApi>(
    shared: &Arc<Shared<A>>,
    class: Class,
) -> (
    mpsc::Receiver<PrepItem>,
    tokio::task::JoinHandle<Result<(), BulkError>>,
) {
    let (tx, rx) = mpsc::channel(4);
    let shared = Arc::clone(shared);
    let handle = tokio::task::spawn_blocking(move || {
        let mut after = 0;
        loop {
            let page = lock(&shared.journal).page(class, after, 64)?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            after = last.spec.row;
            for entry in page {
                let item = prepare(&shared.opts, entry);
                if tx.blocking_send(item).is_err() {
                    return Ok(());
                }
            }
        }
    });
    (rx, handle)
}

fn prepare(opts: &ExecOptions, entry: Entry) -> PrepItem {
    if let Some(path) = &entry.spec.csr {
        return match std::fs::read_to_string(path) {
            Ok(csr) => Ok(Prepared {
                entry,
                key_pem: None,
                csr,
                key_file: None,
                csr_file: None,
            }),
            Err(e) => {
                let msg = format!("cannot read the CSR {}: {e}", path.display());
                Err(Box::new(Unprepared { entry, reason: msg }))
            }
        };
    }
    let paths = files::OrderFiles::new(&opts.out_dir, &entry.name);
    if paths.key.symlink_metadata().is_ok() {
        // A key from an earlier attempt of this very row (intent recorded with its CSR):
        // reuse it. Any other existing key file is never touched.
        return match entry.csr.clone() {
            Some(csr) => Ok(Prepared {
                entry,
                key_pem: None,
                csr,
                key_file: Some(paths.key),
                csr_file: Some(paths.csr),
            }),
            None => {
                let msg = format!(
                    "key file {} already exists and was not written by this journal; move it away or set another name",
                    paths.key.display()
                );
                Err(Box::new(Unprepared { entry, reason: msg }))
            }
        };
    }
    match keys::generate(opts.key_type, &entry.spec.common_name, &entry.spec.emails) {
        Ok(k) => Ok(Prepared {
            entry,
            key_pem: Some(k.private_key_pem),
            csr: k.csr_pem,
            key_file: Some(paths.key),
            csr_file: Some(paths.csr),
        }),
        Err(e) => {
            let msg = e.to_string();
            Err(Box::new(Unprepared { entry, reason: msg }))
        }
    }
}

fn write_key_files(p: &Prepared) -> Result<(), String> {
    use secrecy::ExposeSecret;
    if let (Some(key), Some(path)) = (&p.key_pem, &p.key_file) {
        files::create_private(path, key.expose_secret().as_bytes()).map_err(|e| e.to_string())?;
    }
    if let Some(path) = &p.csr_file {
        replace_public(path, p.csr.as_bytes())?;
    }
    Ok(())
}

/// Writes a public file atomically, replacing an earlier version (and a stale temp file).
fn replace_public(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let _ = std::fs::remove_file(PathBuf::from(tmp));
    files::replace(path, bytes).map_err(|e| e.to_string())
}

async fn post_stream<A: BulkApi>(
    shared: &Arc<Shared<A>>,
    class: Class,
    downloads: &mut Downloads,
    last_poll: &mut Instant,
) -> Result<u64, BulkError> {
    let (mut rx, producer) = spawn_preparer(shared, class);
    let mut posted = 0u64;
    while let Some(item) = rx.recv().await {
        let prepared = match item {
            Ok(p) => p,
            Err(failed) => {
                let Unprepared { entry, reason: msg } = *failed;
                let mut j = lock(&shared.journal);
                j.commit([
                    Update::Intent {
                        spec: entry.spec.clone(),
                        key_file: None,
                        csr_file: None,
                        csr: None,
                    },
                    Update::Refused {
                        key: entry.spec.key.clone(),
                        error: msg,
                    },
                ])?;
                continue;
            }
        };
        // --max-new-orders counts every order this run may have created (answered or not).
        let placed = {
            let st = shared.stats.lock().unwrap_or_else(|p| p.into_inner());
            st.new_orders + st.unknown
        };
        if shared.opts.max_new_orders.is_some_and(|max| placed >= max) {
            break;
        }
        posted += 1;
        post_one(shared, prepared, downloads).await?;
        if last_poll.elapsed() >= shared.opts.poll_interval {
            poll(shared, downloads).await?;
            *last_poll = Instant::now();
        }
        downloads.reap(shared);
        shared.tick(false);
    }
    // Stops the preparer (it may have a few keys ready that are simply dropped).
    drop(rx);
    producer
        .await
        .map_err(|e| BulkError::Journal(format!("internal: key preparation stopped: {e}")))??;
    lock(&shared.journal).flush()?;
    // Rows left because of --max-new-orders.
    if shared.opts.max_new_orders.is_some() {
        let capped = count(shared, &[RowState::New])?;
        shared.stat(|s| s.capped = capped);
    }
    Ok(posted)
}

async fn post_one<A: BulkApi>(
    shared: &Arc<Shared<A>>,
    p: Prepared,
    downloads: &mut Downloads,
) -> Result<(), BulkError> {
    let key = p.entry.spec.key.clone();
    let request = match p
        .entry
        .spec
        .order_request(&shared.opts.defaults, Some(&p.csr))
    {
        Ok(r) => r,
        Err(msg) => {
            lock(&shared.journal).commit([
                Update::Intent {
                    spec: p.entry.spec.clone(),
                    key_file: None,
                    csr_file: None,
                    csr: None,
                },
                Update::Refused { key, error: msg },
            ])?;
            return Ok(());
        }
    };
    // 1. Intent, synced to disk, before anything is sent.
    lock(&shared.journal).commit_durable([Update::Intent {
        spec: p.entry.spec.clone(),
        key_file: p.key_file.as_ref().map(|f| f.display().to_string()),
        csr_file: p.csr_file.as_ref().map(|f| f.display().to_string()),
        csr: Some(p.csr.clone()),
    }])?;
    // 2. The key on disk before the order exists, so a paid certificate always has its key.
    if let Err(msg) = write_key_files(&p) {
        lock(&shared.journal).commit([Update::Refused { key, error: msg }])?;
        return Ok(());
    }
    // 3. The POST; retried only while provably not processed.
    let started = Instant::now();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        match shared.api.order(p.entry.spec.product, &request).await {
            Ok(placed) => {
                shared.stat(|s| s.new_orders += 1);
                // 4. Order id and request ids recorded right away (a crash before this line
                // leaves the intent, which reconciliation resolves to this order).
                lock(&shared.journal).commit([Update::Ordered {
                    key: key.clone(),
                    order_id: placed.order_id,
                    request_ids: placed
                        .request_ids
                        .iter()
                        .map(|id| id.to_string())
                        .collect::<Vec<_>>()
                        .join(";"),
                    request_status: placed.request_status.clone(),
                    order_status: None,
                    certificate_id: placed.certificate_id,
                }])?;
                if let Some(cert) = placed.certificate_id {
                    downloads
                        .start(shared, key, p.entry.name.clone(), cert)
                        .await;
                }
                return Ok(());
            }
            Err(ApiFailure::NotProcessed {
                retry_after,
                message,
            }) => {
                if started.elapsed() >= shared.opts.not_processed_patience {
                    // Nothing was ordered: back to "to be ordered" for the next run.
                    lock(&shared.journal).commit([Update::Refused {
                        key,
                        error: format!("not sent after {attempt} attempts: {message}"),
                    }])?;
                    return Ok(());
                }
                shared.stat(|s| s.not_processed_retries += 1);
                let backoff = Duration::from_millis(100u64.saturating_mul(1 << attempt.min(8)));
                tokio::time::sleep(retry_after.unwrap_or(backoff).min(Duration::from_secs(30)))
                    .await;
            }
            Err(ApiFailure::Refused { message }) => {
                shared.stat(|s| s.refused += 1);
                lock(&shared.journal).commit([Update::Refused {
                    key,
                    error: message,
                }])?;
                return Ok(());
            }
            Err(ApiFailure::Unknown { message }) => {
                shared.stat(|s| s.unknown += 1);
                lock(&shared.journal).commit([Update::Unknown {
                    key,
                    error: format!("order POST outcome unknown: {message}"),
                }])?;
                return Ok(());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Following: status-changes polls and downloads

struct Downloads {
    set: JoinSet<DownloadDone>,
    permits: Arc<Semaphore>,
    in_flight: HashSet<String>,
}

impl Downloads {
    fn new(concurrency: usize) -> Self {
        Self {
            set: JoinSet::new(),
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            in_flight: HashSet::new(),
        }
    }

    async fn start<A: BulkApi>(
        &mut self,
        shared: &Arc<Shared<A>>,
        key: String,
        name: String,
        cert: i64,
    ) {
        if !self.in_flight.insert(key.clone()) {
            return;
        }
        let Ok(permit) = Arc::clone(&self.permits).acquire_owned().await else {
            return;
        };
        let shared = Arc::clone(shared);
        self.set.spawn(async move {
            let _permit = permit;
            let result = match shared.api.download(cert).await {
                Ok(bytes) => {
                    let path = shared.opts.out_dir.join(format!("{name}.crt"));
                    match replace_public(&path, &bytes) {
                        Ok(()) => {
                            let file = path.display().to_string();
                            if let Err(e) = lock(&shared.journal).commit([Update::Downloaded {
                                key: key.clone(),
                                file: file.clone(),
                            }]) {
                                return (key, Err(e.to_string()));
                            }
                            shared.stat(|s| s.downloaded += 1);
                            Ok(file)
                        }
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e.to_string()),
            };
            (key, result)
        });
    }

    fn reap<A>(&mut self, shared: &Shared<A>) {
        while let Some(done) = self.set.try_join_next() {
            self.finish(shared, done);
        }
    }

    async fn join_all<A>(&mut self, shared: &Shared<A>) {
        while let Some(done) = self.set.join_next().await {
            self.finish(shared, done);
        }
    }

    fn finish<A>(
        &mut self,
        _shared: &Shared<A>,
        done: Result<DownloadDone, tokio::task::JoinError>,
    ) {
        if let Ok((key, result)) = done {
            if let Err(e) = result {
                tracing::debug!(row = %key, error = %e, "download failed; will retry");
            }
            self.in_flight.remove(&key);
        }
    }
}

const FINAL_WITHOUT_CERT: [&str; 4] = ["rejected", "canceled", "revoked", "expired"];

/// One `status-changes` poll covering every order still waiting; starts downloads for
/// issued ones. Returns how many waiting orders changed.
async fn poll<A: BulkApi>(
    shared: &Arc<Shared<A>>,
    downloads: &mut Downloads,
) -> Result<u64, BulkError> {
    let oldest = lock(&shared.journal).oldest_pending()?;
    let Some(oldest) = oldest.as_deref().and_then(parse_time) else {
        return Ok(0);
    };
    let age = (Utc::now() - oldest).num_seconds().max(0) as u64;
    let minutes = (age / 60 + 2).min(u64::from(STATUS_CHANGES_MAX_MINUTES)) as u32;
    shared.stat(|s| s.polls += 1);
    let changes = match shared.api.status_changes(minutes).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "status-changes poll failed; will retry");
            return Ok(0);
        }
    };
    let mut changed = 0;
    let mut to_download = Vec::new();
    {
        let mut j = lock(&shared.journal);
        for c in changes {
            let Some((key, name, state)) = j.by_order(c.order_id)? else {
                continue;
            };
            if state != RowState::Ordered {
                continue;
            }
            let status = c
                .status
                .as_ref()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default();
            let failed = FINAL_WITHOUT_CERT
                .contains(&status.as_str())
                .then(|| format!("order {status}"));
            changed += 1;
            j.defer(Update::Status {
                order_id: c.order_id,
                order_status: status.clone(),
                certificate_id: c.certificate_id,
                failed,
            });
            if status == "issued"
                && let Some(cert) = c.certificate_id
            {
                to_download.push((key, name, cert));
            }
        }
        j.flush()?;
    }
    // Orders older than the longest status-changes window (7 days): one GET each.
    if age > u64::from(STATUS_CHANGES_MAX_MINUTES) * 60 - 120 {
        let mut after = 0;
        loop {
            let page = lock(&shared.journal).page(Class::Pending, after, 64)?;
            let Some(last) = page.last() else { break };
            after = last.spec.row;
            for entry in page {
                let Some(order_id) = entry.order_id else {
                    continue;
                };
                if let Ok(info) = shared.api.order_info(order_id).await {
                    let status = info
                        .status
                        .as_ref()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default();
                    let cert = info.certificate.as_ref().and_then(|c| c.id);
                    let failed = FINAL_WITHOUT_CERT
                        .contains(&status.as_str())
                        .then(|| format!("order {status}"));
                    lock(&shared.journal).defer(Update::Status {
                        order_id,
                        order_status: status.clone(),
                        certificate_id: cert,
                        failed,
                    });
                    if status == "issued"
                        && let Some(cert) = cert
                    {
                        to_download.push((entry.spec.key.clone(), entry.name.clone(), cert));
                    }
                    changed += 1;
                }
            }
        }
        lock(&shared.journal).flush()?;
    }
    for (key, name, cert) in to_download {
        downloads.start(shared, key, name, cert).await;
    }
    Ok(changed)
}

/// Downloads every certificate whose id is known and not yet on disk.
async fn download_known<A: BulkApi>(
    shared: &Arc<Shared<A>>,
    downloads: &mut Downloads,
) -> Result<u64, BulkError> {
    let mut after = 0;
    let mut started = 0;
    loop {
        let page = lock(&shared.journal).page(Class::Follow, after, 64)?;
        let Some(last) = page.last() else { break };
        after = last.spec.row;
        for entry in page {
            let status_ok = matches!(entry.order_status.as_deref(), None | Some("issued"));
            if let (Some(cert), true) = (entry.certificate_id, status_ok) {
                downloads
                    .start(shared, entry.spec.key.clone(), entry.name.clone(), cert)
                    .await;
                started += 1;
            }
        }
    }
    Ok(started)
}

async fn follow<A: BulkApi>(
    shared: &Arc<Shared<A>>,
    downloads: &mut Downloads,
    last_poll: &mut Instant,
) -> Result<(), BulkError> {
    let start = Instant::now();
    let mut rounds = 0u32;
    loop {
        downloads.join_all(shared).await;
        lock(&shared.journal).flush()?;
        download_known(shared, downloads).await?;
        downloads.join_all(shared).await;
        lock(&shared.journal).flush()?;
        shared.tick(false);
        let waiting = count(shared, &[RowState::Ordered])?;
        if waiting == 0 {
            return Ok(());
        }
        if !shared.opts.wait && rounds >= 1 {
            return Ok(());
        }
        if shared.opts.wait && start.elapsed() >= shared.opts.timeout {
            return Ok(());
        }
        let since_poll = last_poll.elapsed();
        if rounds > 0 && since_poll < shared.opts.poll_interval {
            let mut nap = shared.opts.poll_interval - since_poll;
            if shared.opts.wait {
                nap = nap.min(shared.opts.timeout.saturating_sub(start.elapsed()));
            }
            tokio::time::sleep(nap).await;
        }
        poll(shared, downloads).await?;
        *last_poll = Instant::now();
        rounds += 1;
    }
}
