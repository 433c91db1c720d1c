//! The executor: reconciles unknown outcomes, streams order POSTs one at a time (intent
//! committed before each), follows orders through batched `status-changes` polls and
//! downloads certificates in parallel. Every request goes through the API's rate limiter.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use certcentral_client::{RetryPolicy, WaitOutcome};
use certcentral_types::catalog::STATUS_CHANGES_MAX_MINUTES;
use certcentral_types::{OrderInfo, OrderStatus, RequestStatus};
use chrono::{DateTime, Utc};
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::task::JoinSet;

use super::BulkError;
use super::api::{ApiFailure, BulkApi};
use super::journal::{Class, Entry, Journal, RowState, SentKey, Update};
use super::progress::Progress;
use super::spec::OrderDefaults;
use crate::files;
use crate::keys::{self, ExpectedKey, KeyError, KeyType};

/// Consecutive API calls that could not connect (each after the client's own retries)
/// before a run stops: the API is taken to be unreachable, and the run ends cleanly with
/// exit code 3 (rerun to resume) instead of going on row by row.
pub const UNREACHABLE_LIMIT: u32 = 3;

/// Asks a running engine to stop at its next safe point: the request in flight is
/// answered and journaled first, nothing new is sent. Cloned handles share one flag
/// (`certcentral bulk` sets it on Ctrl-C).
#[derive(Clone, Debug, Default)]
pub struct StopHandle {
    inner: Arc<StopInner>,
}

#[derive(Debug, Default)]
struct StopInner {
    interrupted: AtomicBool,
    notify: Notify,
}

impl StopHandle {
    /// Asks the run to stop (Ctrl-C).
    pub fn interrupt(&self) {
        self.inner.interrupted.store(true, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    /// Whether [`StopHandle::interrupt`] was called.
    pub fn is_interrupted(&self) -> bool {
        self.inner.interrupted.load(Ordering::SeqCst)
    }

    /// Sleeps `d`, or less when interrupted meanwhile.
    async fn sleep(&self, d: Duration) {
        let notified = self.inner.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.is_interrupted() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = notified => {}
        }
    }
}

/// Why a run stopped before its end.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "reason", content = "message")]
pub enum Stopped {
    /// Interrupted (Ctrl-C): exit code 130.
    Interrupted,
    /// [`UNREACHABLE_LIMIT`] API calls in a row could not connect (the last error).
    Unreachable(String),
}

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
    /// How long to keep retrying an order POST that was provably not processed (429s, no
    /// connection): a wall-clock bound on the waits between attempts; no attempt starts
    /// after it. An attempt in flight is answered, with the client's own retries, which the
    /// CLI bounds by the same duration (`RetryPolicy::deadline` of the client it builds), so
    /// a row waits at most twice the patience plus one request timeout.
    pub not_processed_patience: Duration,
    /// Stops the run early (Ctrl-C).
    pub stop: StopHandle,
    /// `--renew-within`: renew every finished row whose certificate ends at or before this
    /// time (Unix seconds, UTC; the run's start plus the window).
    pub renew_until: Option<i64>,
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
    /// Rows refused in this run: by the server (a definite refusal, nothing ordered) or
    /// locally (key file in the way, unreadable CSR, ...).
    pub refused: u64,
    /// Order POSTs whose outcome was unknown.
    pub unknown: u64,
    /// Order POSTs retried because they were provably not processed (e.g. 429).
    pub not_processed_retries: u64,
    /// New rows not ordered because of `--max-new-orders`.
    pub capped: u64,
    /// `status-changes` polls.
    pub polls: u64,
    /// Renewal orders placed (also counted in `new_orders`).
    pub renewals: u64,
    /// Rows whose certificate's end of validity was looked up in the API (journals written
    /// before it was recorded at download).
    pub expiry_lookups: u64,
}

struct Shared<A> {
    api: Arc<A>,
    journal: Arc<Mutex<Journal>>,
    opts: ExecOptions,
    stats: Mutex<RunStats>,
    progress: Progress,
    /// API calls in a row that could not connect.
    unreachable: AtomicU32,
    /// Set when the run must stop early.
    stopped: Mutex<Option<Stopped>>,
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

    /// Counts connection failures: [`UNREACHABLE_LIMIT`] in a row stop the run; any answer
    /// from the server resets the count.
    fn observe<T>(&self, result: &Result<T, ApiFailure>) {
        match result {
            Err(ApiFailure::Unreachable { message }) => {
                let n = self.unreachable.fetch_add(1, Ordering::SeqCst) + 1;
                if n >= UNREACHABLE_LIMIT {
                    let mut stopped = self.stopped.lock().unwrap_or_else(|p| p.into_inner());
                    if stopped.is_none() {
                        *stopped = Some(Stopped::Unreachable(message.clone()));
                    }
                }
            }
            _ => self.unreachable.store(0, Ordering::SeqCst),
        }
    }

    /// Whether the run must stop now (interrupted, or the API is unreachable).
    fn must_stop(&self) -> bool {
        if self.opts.stop.is_interrupted() {
            let mut stopped = self.stopped.lock().unwrap_or_else(|p| p.into_inner());
            if stopped.is_none() {
                *stopped = Some(Stopped::Interrupted);
            }
            return true;
        }
        self.stopped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Marks a row refused (nothing ordered) and counts it.
    fn refuse(&self, updates: impl IntoIterator<Item = Update>) -> Result<(), BulkError> {
        lock(&self.journal).commit(updates)?;
        self.stat(|s| s.refused += 1);
        Ok(())
    }
}

/// A row that cannot be ordered (its CSR or key cannot be prepared), and why.
struct Unprepared {
    entry: Entry,
    reason: String,
}

/// What the key preparer hands to the POST stream.
type PrepItem = Result<Prepared, Box<Unprepared>>;

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

/// A row ready to POST: the key (not yet written) and the CSR.
struct Prepared {
    entry: Entry,
    key_pem: Option<secrecy::SecretString>,
    csr: String,
    key_file: Option<PathBuf>,
    csr_file: Option<PathBuf>,
}

/// What [`execute`] hands back: the journal (for the summary and report), the run's
/// statistics, and why it stopped early, if it did.
pub type Executed = (Journal, RunStats, Option<Stopped>);

/// Runs the staged roster against `api`.
pub async fn execute<A: BulkApi>(
    api: Arc<A>,
    journal: Journal,
    opts: ExecOptions,
    progress: Progress,
) -> Result<Executed, BulkError> {
    files::ensure_dir(&opts.out_dir).map_err(|e| BulkError::Io(e.to_string()))?;
    let shared = Arc::new(Shared {
        api,
        journal: Arc::new(Mutex::new(journal)),
        opts,
        stats: Mutex::new(RunStats::default()),
        progress,
        unreachable: AtomicU32::new(0),
        stopped: Mutex::new(None),
    });
    let result = run(&shared).await;
    shared.must_stop();
    let stopped = shared
        .stopped
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
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
    Ok((journal, stats, stopped))
}

async fn run<A: BulkApi>(shared: &Arc<Shared<A>>) -> Result<(), BulkError> {
    let mut downloads = Downloads::new(shared.opts.download_concurrency);
    let mut ambiguous: HashSet<String> = HashSet::new();
    let mut last_poll = Instant::now();
    // Reconcile, order; then reconcile what this run left unknown and order what proved absent.
    if shared.opts.renew_until.is_some() {
        lookup_expiry(shared).await?;
    }
    for round in 0..3 {
        reconcile(shared, &mut ambiguous).await?;
        if shared.must_stop() {
            break;
        }
        // The first round orders every row to order, then renews the expiring ones; later
        // ones only rows that reconciliation proved were never ordered (rows refused in this
        // run wait for a rerun).
        let class = if round == 0 { Class::New } else { Class::Retry };
        let mut posted = post_stream(shared, class, &mut downloads, &mut last_poll).await?;
        if let (0, Some(until)) = (round, shared.opts.renew_until)
            && !shared.must_stop()
        {
            let renew = Class::Renew { until };
            posted += post_stream(shared, renew, &mut downloads, &mut last_poll).await?;
        }
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

/// A time the journal recorded (RFC 3339, written by [`Journal`]); server times are parsed
/// by the client only.
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn normalize_pem(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Whether `info`, a candidate the client's [`certcentral_client::Client::find_recent_orders`]
/// matched (product, common name, emails, creation time: the client's one rule), can be the
/// order placed for `entry`: it also carries the CSR recorded with the intent, when the
/// server shows one (the client does not know the CSR).
fn same_csr(entry: &Entry, info: &OrderInfo) -> bool {
    match (
        info.certificate.as_ref().and_then(|c| c.csr.as_ref()),
        &entry.csr,
    ) {
        (Some(theirs), Some(ours)) => normalize_pem(theirs) == normalize_pem(ours),
        _ => true,
    }
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
            if shared.must_stop() {
                return Ok(());
            }
            if ambiguous.contains(&entry.spec.key) {
                continue;
            }
            // Created no earlier than the intent: the client allows for clock skew
            // (`CLOCK_SKEW_ALLOWANCE`), once.
            let since = entry
                .intent_at
                .as_deref()
                .and_then(parse_time)
                .unwrap_or_else(Utc::now);
            // Look for exactly what the order POST carried (the roster's spelling may have
            // changed since; the identity ignores case and spacing, the server does not).
            let (common_name, emails) = entry
                .sent
                .clone()
                .unwrap_or_else(|| (entry.spec.common_name.clone(), entry.spec.emails.clone()));
            let found = shared
                .api
                .find_recent_orders(
                    entry
                        .sent_product
                        .as_deref()
                        .unwrap_or(entry.spec.product_name()),
                    &common_name,
                    &emails,
                    since,
                )
                .await;
            shared.observe(&found);
            if matches!(found, Err(ApiFailure::Unreachable { .. })) && shared.must_stop() {
                // Left as it was (outcome unknown): the next run looks it up again.
                return Ok(());
            }
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
                            if same_csr(&entry, &info) && !j.order_known(info.id)? {
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
                                request_ids: info.requests.iter().map(|r| r.id).collect(),
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
            for mut entry in page {
                if matches!(class, Class::Renew { .. }) {
                    // A renewal: new files under a new name, never the first certificate's.
                    if let Some(old) = entry.order_id {
                        entry.name = renewal_name(&entry.name, old);
                    }
                    entry.csr = None;
                }
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

/// The output name of the renewal of order `old` of a row named `name`:
/// `<first name>-renewal-<old>` (the suffix of an earlier renewal replaced), so the renewal's
/// key, CSR and certificate never replace the first certificate's files.
pub fn renewal_name(name: &str, old: i64) -> String {
    let base = match name.rfind("-renewal-") {
        Some(at) if name[at + 9..].bytes().all(|b| b.is_ascii_digit()) && at + 9 < name.len() => {
            &name[..at]
        }
        _ => name,
    };
    format!("{base}-renewal-{old}")
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

/// Writes a public file atomically, replacing an earlier version.
fn replace_public(path: &Path, bytes: &[u8]) -> Result<(), String> {
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
        if shared.must_stop() {
            break;
        }
        let prepared = match item {
            Ok(p) => p,
            Err(failed) => {
                let Unprepared { entry, reason: msg } = *failed;
                if let Some(old) = entry.renews() {
                    // A renewal not prepared: nothing was sent, the row keeps its state.
                    shared.refuse([Update::Note {
                        key: entry.spec.key.clone(),
                        error: format!("the renewal of order {old} was not sent: {msg}"),
                    }])?;
                    continue;
                }
                shared.refuse([
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
    let renewal = p.entry.renews();
    let (product, request, intent) = match renewal {
        Some(old) => match renewal_order(shared, &p, old).await? {
            Some(order) => order,
            None => return Ok(()),
        },
        None => {
            let request = match p
                .entry
                .spec
                .order_request(&shared.opts.defaults, Some(&p.csr))
            {
                Ok(r) => r,
                Err(msg) => {
                    shared.refuse([
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
            let intent = Update::Intent {
                spec: p.entry.spec.clone(),
                key_file: p.key_file.as_ref().map(|f| f.display().to_string()),
                // The CSR file sent: written beside the key, or the row's own.
                csr_file: p
                    .csr_file
                    .as_ref()
                    .or(p.entry.spec.csr.as_ref())
                    .map(|f| f.display().to_string()),
                csr: Some(p.csr.clone()),
            };
            (p.entry.spec.product_name().to_owned(), request, intent)
        }
    };
    // 1. Intent, synced to disk, before anything is sent.
    lock(&shared.journal).commit_durable([intent])?;
    // 2. The key on disk before the order exists, so a paid certificate always has its key.
    if let Err(msg) = write_key_files(&p) {
        shared.refuse([Update::Refused { key, error: msg }])?;
        return Ok(());
    }
    // 3. The POST; retried only while provably not processed.
    let started = Instant::now();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let answer = shared.api.order(&product, &request).await;
        shared.observe(&answer);
        match answer {
            Ok(placed) => {
                shared.stat(|s| {
                    s.new_orders += 1;
                    s.renewals += u64::from(renewal.is_some());
                });
                if renewal.is_some() {
                    shared.progress.renewed();
                }
                // 4. Order id and request ids recorded right away (a crash before this line
                // leaves the intent, which reconciliation resolves to this order).
                lock(&shared.journal).commit([Update::Ordered {
                    key: key.clone(),
                    order_id: placed.order_id,
                    request_ids: placed.request_ids.clone(),
                    request_status: placed.request_status.clone(),
                    order_status: None,
                    certificate_id: placed.certificate_id,
                }])?;
                // A `201` carrying the chain: the certificate is taken from it (checked like
                // a download), and no download request is spent.
                if let Some(cert) = placed.certificate_id {
                    downloads
                        .start_with(
                            shared,
                            (key, p.entry.name.clone()),
                            placed.order_id,
                            cert,
                            placed.chain,
                        )
                        .await;
                }
                return Ok(());
            }
            // Could not connect: provably not sent, like a 429 (and counted by `observe`).
            Err(failure @ (ApiFailure::NotProcessed { .. } | ApiFailure::Unreachable { .. })) => {
                let (retry_after, message) = match failure {
                    ApiFailure::NotProcessed {
                        retry_after,
                        message,
                    } => (retry_after, message),
                    ApiFailure::Unreachable { message }
                    | ApiFailure::Refused { message }
                    | ApiFailure::Unknown { message } => (None, message),
                };
                if shared.must_stop() {
                    // Provably not sent: back to "to be ordered"; the rerun reuses the key
                    // already on disk (its CSR is in the journal).
                    lock(&shared.journal).commit([Update::Retry { key }])?;
                    return Ok(());
                }
                // The server's Retry-After, or the client's backoff: one retry policy.
                let wait = retry_after
                    .unwrap_or_else(|| RetryPolicy::default().backoff(attempt))
                    .min(Duration::from_secs(30));
                let left = shared
                    .opts
                    .not_processed_patience
                    .saturating_sub(started.elapsed());
                if wait >= left {
                    // Nothing was ordered: back to "to be ordered" for the next run.
                    shared.refuse([Update::Refused {
                        key,
                        error: format!(
                            "not sent after {attempt} attempt(s) in {}s (the next would start after the {}s patience): {message}",
                            started.elapsed().as_secs(),
                            shared.opts.not_processed_patience.as_secs()
                        ),
                    }])?;
                    return Ok(());
                }
                shared.stat(|s| s.not_processed_retries += 1);
                shared.opts.stop.sleep(wait).await;
            }
            Err(ApiFailure::Refused { message }) => {
                shared.refuse([Update::Refused {
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

/// The renewal of order `old` for the prepared row `p`: its body from the API's order info
/// (the original's product and details, `renewal_of_order_id` set, the row's new CSR) and
/// the intent to journal before it is sent. `None` when it cannot be built: nothing was
/// sent, the row keeps its state and the reason (a rerun tries again).
async fn renewal_order<A: BulkApi>(
    shared: &Arc<Shared<A>>,
    p: &Prepared,
    old: i64,
) -> Result<Option<(String, certcentral_types::OrderBody, Update)>, BulkError> {
    let answer = shared.api.renewal_request(old, &p.csr).await;
    shared.observe(&answer);
    let (product, mut request) = match answer {
        Ok(order) => order,
        Err(e) => {
            lock(&shared.journal).commit([Update::Note {
                key: p.entry.spec.key.clone(),
                error: format!("the renewal of order {old} was not sent: {e}"),
            }])?;
            shared.stat(|s| s.refused += 1);
            return Ok(None);
        }
    };
    if shared.opts.defaults.skip_approval {
        match &mut request {
            certcentral_types::OrderBody::ClientCertificate(r) => r.skip_approval = true,
            certcentral_types::OrderBody::SecureEmail(r) => r.skip_approval = true,
        }
    }
    let intent = Update::RenewalIntent {
        key: p.entry.spec.key.clone(),
        renewal_of: old,
        name: p.entry.name.clone(),
        product: product.to_string(),
        common_name: request.subject_name(),
        emails: request.emails().to_vec(),
        key_file: p.key_file.as_ref().map(|f| f.display().to_string()),
        csr_file: p.csr_file.as_ref().map(|f| f.display().to_string()),
        csr: Some(p.csr.clone()),
    };
    Ok(Some((product.as_str().to_owned(), request, intent)))
}

/// Records the end of validity of finished rows whose journal lacks it (written before
/// version 3 recorded it at download): one order-info call each, through the limiter.
async fn lookup_expiry<A: BulkApi>(shared: &Arc<Shared<A>>) -> Result<(), BulkError> {
    let mut after = 0;
    loop {
        let page = lock(&shared.journal).page(Class::NoExpiry, after, 64)?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = last.spec.row;
        for entry in page {
            let Some(order_id) = entry.order_id else {
                continue;
            };
            if shared.must_stop() {
                return Ok(());
            }
            let answer = shared.api.order_info(order_id).await;
            shared.observe(&answer);
            let info = match answer {
                Ok(info) => info,
                Err(e) => {
                    tracing::warn!(order_id, error = %e, "cannot look up when the certificate ends");
                    continue;
                }
            };
            let cert = info.certificate.unwrap_or_default();
            let valid_till = cert
                .valid_till
                .as_deref()
                .and_then(certcentral_client::parse_server_time)
                .map(super::journal::stamp);
            if let Some(valid_till) = valid_till {
                lock(&shared.journal).commit([Update::Expiry {
                    key: entry.spec.key.clone(),
                    valid_till,
                    serial: cert.serial_number,
                }])?;
                shared.stat(|s| s.expiry_lookups += 1);
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
        order_id: i64,
        cert: i64,
    ) {
        self.start_with(shared, (key, name), order_id, cert, None)
            .await;
    }

    /// [`Downloads::start`], with the certificate already in hand when `chain` is given
    /// (then nothing is downloaded unless it cannot be written).
    async fn start_with<A: BulkApi>(
        &mut self,
        shared: &Arc<Shared<A>>,
        (key, name): (String, String),
        order_id: i64,
        cert: i64,
        chain: Option<String>,
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
            let result = fetch(&shared, &key, &name, (order_id, cert), chain).await;
            if let Err(NotWritten::Failed(reason)) = &result {
                // Final: the row fails (once), so it is neither downloaded nor written again.
                let failed = lock(&shared.journal).commit([Update::Status {
                    order_id,
                    order_status: OrderStatus::Issued.as_str().to_owned(),
                    certificate_id: Some(cert),
                    failed: Some(reason.clone()),
                }]);
                if let Err(e) = failed {
                    return (key, Err(NotWritten::Retry(e.to_string())));
                }
            }
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

/// Downloads the certificate of row `key` (order `order_id`) and writes `NAME.crt`, once it
/// is checked to carry the row's public key (issue 11, item 2): a certificate for another
/// key, or a row whose key is unknown, is [`NotWritten::Failed`] and nothing is written.
/// With `given` (the chain a `201` carried) nothing is downloaded: it is checked and written
/// the same way.
async fn fetch<A: BulkApi>(
    shared: &Shared<A>,
    key: &str,
    name: &str,
    (order_id, cert): (i64, i64),
    given: Option<String>,
) -> Result<String, NotWritten> {
    let sent = lock(&shared.journal)
        .sent_key(key)
        .map_err(|e| NotWritten::Retry(e.to_string()))?
        .unwrap_or_default();
    let expected = expected_keys(&sent, &shared.opts.out_dir, name).map_err(|why| {
        NotWritten::Failed(format!(
            "the certificate for order {order_id} cannot be checked against the row's key: \
             {why}; nothing was written"
        ))
    })?;
    let bytes = match given {
        Some(chain) => chain.into_bytes(),
        None => {
            let answer = shared.api.download(cert).await;
            shared.observe(&answer);
            answer.map_err(|e| NotWritten::Retry(e.to_string()))?
        }
    };
    let chain = String::from_utf8_lossy(&bytes);
    for (file, expected) in &expected {
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
    let path = shared.opts.out_dir.join(format!("{name}.crt"));
    replace_public(&path, &bytes).map_err(NotWritten::Retry)?;
    let file = path.display().to_string();
    // When it ends (for `--renew-within`) and its serial (for `--revoke-removed`).
    let summary = keys::describe_certificate(&chain).ok();
    lock(&shared.journal)
        .commit([Update::Downloaded {
            key: key.to_owned(),
            file: file.clone(),
            valid_till: summary
                .as_ref()
                .map(|s| s.not_after.clone())
                .filter(|t| !t.is_empty()),
            serial: summary.map(|s| s.serial_hex),
        }])
        .map_err(|e| NotWritten::Retry(e.to_string()))?;
    shared.stat(|s| s.downloaded += 1);
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
    let answer = shared.api.status_changes(minutes).await;
    shared.observe(&answer);
    let changes = match answer {
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
            let (failed, issued) = settled(
                c.order_id,
                c.status.as_ref(),
                c.certificate_id,
                std::iter::empty(),
            );
            changed += 1;
            j.defer(Update::Status {
                order_id: c.order_id,
                order_status: c
                    .status
                    .as_ref()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                certificate_id: c.certificate_id,
                failed,
            });
            if issued && let Some(cert) = c.certificate_id {
                to_download.push((key, name, c.order_id, cert));
            }
        }
        j.flush()?;
    }
    // Orders older than the longest status-changes window (7 days): one GET each.
    if age > u64::from(STATUS_CHANGES_MAX_MINUTES) * 60 - 120 {
        let mut after = 0;
        loop {
            if shared.must_stop() {
                break;
            }
            let page = lock(&shared.journal).page(Class::Pending, after, 64)?;
            let Some(last) = page.last() else { break };
            after = last.spec.row;
            for entry in page {
                let Some(order_id) = entry.order_id else {
                    continue;
                };
                if shared.must_stop() {
                    break;
                }
                let answer = shared.api.order_info(order_id).await;
                shared.observe(&answer);
                if let Ok(info) = answer {
                    let cert = info.certificate.as_ref().and_then(|c| c.id);
                    let (failed, issued) = settled(
                        order_id,
                        info.status.as_ref(),
                        cert,
                        info.requests.iter().map(|r| r.status.as_ref()),
                    );
                    lock(&shared.journal).defer(Update::Status {
                        order_id,
                        order_status: info
                            .status
                            .as_ref()
                            .map(|s| s.as_str().to_owned())
                            .unwrap_or_default(),
                        certificate_id: cert,
                        failed,
                    });
                    if issued && let Some(cert) = cert {
                        to_download.push((
                            entry.spec.key.clone(),
                            entry.name.clone(),
                            order_id,
                            cert,
                        ));
                    }
                    changed += 1;
                }
            }
        }
        lock(&shared.journal).flush()?;
    }
    for (key, name, order_id, cert) in to_download {
        downloads.start(shared, key, name, order_id, cert).await;
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
            let status_ok = entry
                .order_status
                .as_deref()
                .is_none_or(|s| OrderStatus::from(s) == OrderStatus::Issued);
            if let (Some(order_id), Some(cert), true) =
                (entry.order_id, entry.certificate_id, status_ok)
            {
                downloads
                    .start(
                        shared,
                        entry.spec.key.clone(),
                        entry.name.clone(),
                        order_id,
                        cert,
                    )
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
        if shared.must_stop() {
            return Ok(());
        }
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
