//! The executor: reconciles unknown outcomes, streams order POSTs one at a time (intent
//! committed before each), follows orders through batched `status-changes` polls and
//! downloads certificates in parallel. Every request goes through the API's rate limiter.

mod follow;
mod post;
mod reconcile;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use super::BulkError;
use super::api::{ApiFailure, BulkApi};
use super::journal::{Class, Entry, Journal, RowState, Update};
use super::progress::Progress;
use super::spec::OrderDefaults;
use crate::files;
use crate::keys::KeyType;
use follow::{Downloads, follow};
use post::post_stream;
pub use post::renewal_name;
use reconcile::Reconciler;

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
    /// connection): a wall-clock bound counted from the row's first attempt. No attempt
    /// starts after it, the API's own retries included: each call gets what is left of the
    /// patience as its deadline ([`BulkApi::order`]; the client's per-call
    /// `RetryPolicy::deadline`), and the waits between calls follow the same policy
    /// (`Retry-After`, else the backoff). Only the attempt in flight at that moment is
    /// answered, so a row waits at most the patience plus one request (bounded by the
    /// client's timeout); then it is refused, nothing ordered, and a rerun orders it.
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

/// Runs blocking work (fsync'd journal commits, SQLite reads, file writes) on tokio's
/// blocking pool, so the two runtime workers keep sending requests meanwhile. A panic in
/// `f` is passed on as it is.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, BulkError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        if e.is_panic() {
            std::panic::resume_unwind(e.into_panic());
        }
        BulkError::Io(format!("internal: blocking task stopped: {e}"))
    })
}

impl<A> Shared<A> {
    fn new(api: Arc<A>, journal: Journal, opts: ExecOptions, progress: Progress) -> Self {
        Self {
            api,
            journal: Arc::new(Mutex::new(journal)),
            opts,
            stats: Mutex::new(RunStats::default()),
            progress,
            unreachable: AtomicU32::new(0),
            stopped: Mutex::new(None),
        }
    }

    /// Runs `f` on the journal on a blocking thread (see [`blocking`]): every journal access
    /// of the async engine goes through here, so no runtime worker ever waits for SQLite,
    /// an fsync or the journal's lock. Awaiting it orders it before whatever follows (the
    /// intent is durable before its POST is sent).
    async fn journal<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Journal) -> Result<T, BulkError> + Send + 'static,
    ) -> Result<T, BulkError> {
        let journal = Arc::clone(&self.journal);
        blocking(move || f(&mut lock(&journal))).await?
    }

    fn stat(&self, f: impl FnOnce(&mut RunStats)) {
        let mut s = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s);
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
    async fn refuse(&self, updates: Vec<Update>) -> Result<(), BulkError> {
        self.journal(move |j| j.commit(updates)).await?;
        self.stat(|s| s.refused += 1);
        Ok(())
    }

    /// Rows in any of `states`.
    async fn count(&self, states: &[RowState]) -> Result<u64, BulkError> {
        let counts = self.journal(|j| j.counts()).await?;
        Ok(counts
            .iter()
            .filter(|(s, _)| states.contains(s))
            .map(|(_, n)| *n)
            .sum())
    }
}

impl<A: BulkApi> Shared<A> {
    /// Updates the progress display (it reads the journal's counts: on a blocking thread),
    /// when it is due: nothing is handed off otherwise.
    async fn tick(self: &Arc<Self>, force: bool) {
        if !force && !self.progress.due() {
            return;
        }
        let shared = Arc::clone(self);
        let shown = blocking(move || shared.progress.update(&lock(&shared.journal), force));
        // Only a display: a failure to show it is not the run's.
        let _ = shown.await;
    }
}

/// The journal's rows of one [`Class`], a page at a time, each read on a blocking thread.
struct Pages {
    class: Class,
    after: u64,
}

impl Pages {
    /// Rows read at once.
    const SIZE: usize = 64;

    fn new(class: Class) -> Self {
        Self { class, after: 0 }
    }

    /// The next page; `None` after the last.
    async fn next<A>(&mut self, shared: &Shared<A>) -> Result<Option<Vec<Entry>>, BulkError> {
        let (class, after) = (self.class, self.after);
        let page = shared
            .journal(move |j| j.page(class, after, Self::SIZE))
            .await?;
        Ok(page.last().map(|last| last.spec.row).map(|row| {
            self.after = row;
            page
        }))
    }
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
    drive(Arc::new(Shared::new(api, journal, opts, progress))).await
}

/// Runs the engine on `shared` and takes the journal back at the end.
async fn drive<A: BulkApi>(shared: Arc<Shared<A>>) -> Result<Executed, BulkError> {
    let result = run(&shared).await;
    shared.must_stop();
    let stopped = shared
        .stopped
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    shared.journal(|j| j.flush()).await?;
    shared.tick(true).await;
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
        Reconciler::new(shared, &mut ambiguous).run().await?;
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
        let unknown_left = shared.count(&[RowState::Intent, RowState::Unknown]).await?;
        if posted == 0 || unknown_left as usize <= ambiguous.len() {
            break;
        }
    }
    follow(shared, &mut downloads, &mut last_poll).await
}

/// A time the journal recorded (RFC 3339, written by [`Journal`]); server times are parsed
/// by the client only.
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Records the end of validity of finished rows whose journal lacks it (written before
/// version 3 recorded it at download): one order-info call each, through the limiter.
async fn lookup_expiry<A: BulkApi>(shared: &Arc<Shared<A>>) -> Result<(), BulkError> {
    let mut pages = Pages::new(Class::NoExpiry);
    while let Some(page) = pages.next(shared).await? {
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
                let update = Update::Expiry {
                    key: entry.spec.key.clone(),
                    valid_till,
                    serial: cert.serial_number,
                };
                shared.journal(move |j| j.commit([update])).await?;
                shared.stat(|s| s.expiry_lookups += 1);
            }
        }
    }
    Ok(())
}
