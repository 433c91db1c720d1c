//! The order POST stream: keys and CSRs prepared ahead on a blocking thread, then one POST
//! at a time, each after its intent is durably journaled and its key is on disk.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use certcentral_client::RetryPolicy;
use certcentral_types::OrderBody;
use tokio::sync::mpsc;

use super::follow::{Download, Downloads, poll};
use super::{ExecOptions, Shared, blocking, lock};
use crate::api::{ApiFailure, BulkApi, Placed};
use crate::journal::{Class, Entry, RowState, Update};
use crate::keys;
use crate::{BulkError, files};

/// A row that cannot be ordered (its CSR or key cannot be prepared), and why.
struct Unprepared {
    entry: Entry,
    reason: String,
}

/// What the key preparer hands to the POST stream.
type PrepItem = Result<Prepared, Box<Unprepared>>;

/// A row ready to POST: the key (not yet written) and the CSR.
struct Prepared {
    entry: Entry,
    key_pem: Option<secrecy::SecretString>,
    csr: String,
    key_file: Option<PathBuf>,
    csr_file: Option<PathBuf>,
}

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
            let page = lock(&shared.journal).page(class, after, super::Pages::SIZE)?;
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

/// Writes the generated key (mode 0600, never over an existing file), synced: blocking, run
/// on the blocking pool.
fn write_key(p: &Prepared) -> Result<(), String> {
    use secrecy::ExposeSecret;
    if let (Some(key), Some(path)) = (&p.key_pem, &p.key_file) {
        files::create_private(path, key.expose_secret().as_bytes()).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Writes the CSR beside the key, synced (on the blocking pool, beside the intent and the
/// key: it needs neither, and the journal holds the CSR sent).
async fn write_csr(path: Option<PathBuf>, csr: String) -> Result<Result<(), String>, BulkError> {
    match path {
        Some(path) => blocking(move || replace_public(&path, csr.as_bytes())).await,
        None => Ok(Ok(())),
    }
}

/// Writes a public file atomically, replacing an earlier version.
pub(super) fn replace_public(path: &Path, bytes: &[u8]) -> Result<(), String> {
    files::replace(path, bytes).map_err(|e| e.to_string())
}

/// Orders every row of `class` (one POST at a time, through the limiter), polling and
/// starting downloads meanwhile. Returns how many POSTs were sent.
pub(super) async fn post_stream<A: BulkApi>(
    shared: &Arc<Shared<A>>,
    class: Class,
    downloads: &mut Downloads,
    last_poll: &mut Instant,
) -> Result<u64, BulkError> {
    let (mut rx, producer) = spawn_preparer(shared, class);
    let mut posted = 0u64;
    let mut unsettled = Unsettled::default();
    loop {
        let item = match rx.try_recv() {
            Ok(item) => item,
            Err(mpsc::error::TryRecvError::Empty) => {
                // No intent follows at once: the order placed is journaled alone.
                unsettled.settle(shared, downloads).await?;
                match rx.recv().await {
                    Some(item) => item,
                    None => break,
                }
            }
            Err(mpsc::error::TryRecvError::Disconnected) => break,
        };
        if shared.must_stop() {
            break;
        }
        let prepared = match item {
            Ok(p) => p,
            Err(failed) => {
                refuse_unprepared(shared, *failed).await?;
                continue;
            }
        };
        if capped(shared) {
            break;
        }
        posted += 1;
        post_one(shared, prepared, downloads, &mut unsettled).await?;
        if last_poll.elapsed() >= shared.opts.poll_interval {
            unsettled.settle(shared, downloads).await?;
            poll(shared, downloads).await?;
            *last_poll = Instant::now();
        }
        downloads.reap();
        shared.tick(false).await;
    }
    unsettled.settle(shared, downloads).await?;
    // Stops the preparer (it may have a few keys ready that are simply dropped).
    drop(rx);
    producer
        .await
        .map_err(|e| BulkError::Journal(format!("internal: key preparation stopped: {e}")))??;
    shared.journal(|j| j.flush()).await?;
    // Rows left because of --max-new-orders.
    if shared.opts.max_new_orders.is_some() {
        let capped = shared.count(&[RowState::New]).await?;
        shared.stat(|s| s.capped = capped);
    }
    Ok(posted)
}

/// An order placed whose ids are not journaled yet, and its certificate to download once
/// they are.
struct Placing {
    ordered: Update,
    download: Option<Download>,
}

/// The order the POST stream placed last, until its ids are journaled: in one transaction
/// with the next row's intent, before that row's POST (one hand-off to the blocking pool per
/// POST instead of two), or alone when no intent follows at once (no key ready, a poll due,
/// the end of the stream). A crash before leaves the row's intent, which reconciliation
/// resolves to the order, as for a crash right after the answer.
#[derive(Default)]
struct Unsettled(Option<Placing>);

impl Unsettled {
    /// Journals the order placed, if any, and starts its download.
    async fn settle<A: BulkApi>(
        &mut self,
        shared: &Arc<Shared<A>>,
        downloads: &mut Downloads,
    ) -> Result<(), BulkError> {
        let Some(Placing { ordered, download }) = self.0.take() else {
            return Ok(());
        };
        shared.journal(move |j| j.commit([ordered])).await?;
        if let Some(d) = download {
            downloads.start(shared, d);
        }
        Ok(())
    }
}

/// Whether `--max-new-orders` is reached: it counts every order this run may have created
/// (answered or not).
fn capped<A>(shared: &Shared<A>) -> bool {
    let placed = {
        let st = shared.stats.lock().unwrap_or_else(|p| p.into_inner());
        st.new_orders + st.unknown
    };
    shared.opts.max_new_orders.is_some_and(|max| placed >= max)
}

/// Journals a row whose key or CSR could not be prepared: nothing was sent.
async fn refuse_unprepared<A>(shared: &Shared<A>, failed: Unprepared) -> Result<(), BulkError> {
    let Unprepared { entry, reason: msg } = failed;
    if let Some(old) = entry.renews() {
        // A renewal not prepared: nothing was sent, the row keeps its state.
        return shared
            .refuse(vec![Update::Note {
                key: entry.spec.key.clone(),
                error: format!("the renewal of order {old} was not sent: {msg}"),
            }])
            .await;
    }
    refuse_first_order(shared, &entry, msg).await
}

/// Journals a first order refused before it was sent (intent and refusal in one commit).
async fn refuse_first_order<A>(
    shared: &Shared<A>,
    entry: &Entry,
    error: String,
) -> Result<(), BulkError> {
    shared
        .refuse(vec![
            Update::Intent {
                spec: entry.spec.clone(),
                key_file: None,
                csr_file: None,
                csr: None,
            },
            Update::Refused {
                key: entry.spec.key.clone(),
                error,
            },
        ])
        .await
}

/// Places the order of one prepared row: 1. the intent, durably journaled (with the ids of
/// the order placed before it, see [`Unsettled`]); 2. the key on disk; 3. the POST (see
/// [`Posting`]). Each step is done before the next starts; 1 and 2 in one hand-off to the
/// blocking pool (the journal's lock is held for the commit only), the CSR file written
/// meanwhile in another.
async fn post_one<A: BulkApi>(
    shared: &Arc<Shared<A>>,
    p: Prepared,
    downloads: &mut Downloads,
    unsettled: &mut Unsettled,
) -> Result<(), BulkError> {
    let Some((product, request, intent)) = order_for(shared, &p).await? else {
        return Ok(());
    };
    let key = p.entry.spec.key.clone();
    let (name, renewal) = (p.entry.name.clone(), p.entry.renews());
    let (before, download) = match unsettled.0.take() {
        Some(Placing { ordered, download }) => (Some(ordered), download),
        None => (None, None),
    };
    let journal = Arc::clone(&shared.journal);
    let csr = write_csr(p.csr_file.clone(), p.csr.clone());
    let intent_and_key = blocking(move || {
        // 1. Intent, synced to disk, before anything is sent.
        lock(&journal).commit_durable(before.into_iter().chain([intent]))?;
        // 2. The key on disk before the order exists, so a paid certificate always has its
        // key (after the intent: a key the journal does not know is never reused).
        Ok::<_, BulkError>(write_key(&p))
    });
    let (written, csr_written) = tokio::join!(intent_and_key, csr);
    let written = written??.and(csr_written?);
    if let Some(d) = download {
        downloads.start(shared, d);
    }
    if let Err(msg) = written {
        return shared
            .refuse(vec![Update::Refused { key, error: msg }])
            .await;
    }
    // 3. The POST; retried only while provably not processed.
    let posting = Posting {
        shared,
        key,
        name,
        renewal,
        product,
        request,
    };
    unsettled.0 = posting.send().await?;
    Ok(())
}

/// What is sent for a prepared row: product, body and the intent to journal first. `None`
/// when it cannot be built (journaled: nothing is sent).
async fn order_for<A: BulkApi>(
    shared: &Arc<Shared<A>>,
    p: &Prepared,
) -> Result<Option<(String, OrderBody, Update)>, BulkError> {
    if let Some(old) = p.entry.renews() {
        return renewal_order(shared, p, old).await;
    }
    let request = match p
        .entry
        .spec
        .order_request(&shared.opts.defaults, Some(&p.csr))
    {
        Ok(r) => r,
        Err(msg) => {
            refuse_first_order(shared, &p.entry, msg).await?;
            return Ok(None);
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
    Ok(Some((
        p.entry.spec.product_name().to_owned(),
        request,
        intent,
    )))
}

/// The renewal of order `old` for the prepared row `p`: its body from the API's order info
/// (the original's product and details, `renewal_of_order_id` set, the row's new CSR) and
/// the intent to journal before it is sent. `None` when it cannot be built: nothing was
/// sent, the row keeps its state and the reason (a rerun tries again).
async fn renewal_order<A: BulkApi>(
    shared: &Arc<Shared<A>>,
    p: &Prepared,
    old: i64,
) -> Result<Option<(String, OrderBody, Update)>, BulkError> {
    let answer = shared.api.renewal_request(old, &p.csr).await;
    shared.observe(&answer);
    let (product, mut request) = match answer {
        Ok(order) => order,
        Err(e) => {
            let note = Update::Note {
                key: p.entry.spec.key.clone(),
                error: format!("the renewal of order {old} was not sent: {e}"),
            };
            shared.journal(move |j| j.commit([note])).await?;
            shared.stat(|s| s.refused += 1);
            return Ok(None);
        }
    };
    if shared.opts.defaults.skip_approval {
        match &mut request {
            OrderBody::ClientCertificate(r) => r.skip_approval = true,
            OrderBody::SecureEmail(r) => r.skip_approval = true,
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

/// The attempts of one order POST so far, under one retry policy: the API's (the client's),
/// with the row's patience as its deadline.
struct Attempts {
    count: u32,
    /// When the first attempt started (tokio's clock: tests run it paused).
    started: tokio::time::Instant,
    policy: RetryPolicy,
}

impl Attempts {
    fn new(policy: RetryPolicy, patience: Duration) -> Self {
        Self {
            count: 0,
            started: tokio::time::Instant::now(),
            policy: RetryPolicy {
                deadline: patience,
                ..policy
            },
        }
    }

    /// What is left of the patience: the deadline of the next call's own retries.
    fn left(&self) -> Duration {
        self.policy.deadline.saturating_sub(self.started.elapsed())
    }
}

/// One order POST whose intent is journaled and whose key is on disk: sent, and retried
/// only while provably not processed, within the patience.
struct Posting<'a, A> {
    shared: &'a Arc<Shared<A>>,
    key: String,
    /// The row's output name (for the certificate).
    name: String,
    /// The order this one renews.
    renewal: Option<i64>,
    product: String,
    request: OrderBody,
}

impl<A: BulkApi> Posting<'_, A> {
    /// Sends the POST and journals its outcome. Provably not processed (429, no connection),
    /// it is sent again after the policy's wait while the patience lasts: no attempt, the
    /// API's own retries included, starts after it.
    async fn send(self) -> Result<Option<Placing>, BulkError> {
        let opts = &self.shared.opts;
        let mut attempts =
            Attempts::new(self.shared.api.retry_policy(), opts.not_processed_patience);
        loop {
            attempts.count += 1;
            let left = attempts.left();
            let answer = self
                .shared
                .api
                .order(&self.product, &self.request, left)
                .await;
            self.shared.observe(&answer);
            let (retry_after, message) = match answer {
                Ok(placed) => return Ok(Some(self.placed(placed))),
                Err(ApiFailure::NotProcessed {
                    retry_after,
                    message,
                }) => (retry_after, message),
                // Could not connect: provably not sent, like a 429 (and counted by `observe`).
                Err(ApiFailure::Unreachable { message }) => (None, message),
                Err(ApiFailure::Refused { message }) => {
                    let refused = Update::Refused {
                        key: self.key,
                        error: message,
                    };
                    return self.shared.refuse(vec![refused]).await.map(|()| None);
                }
                Err(ApiFailure::Unknown { message }) => {
                    return self.unknown(message).await.map(|()| None);
                }
            };
            let Some(wait) = self.retry_wait(&attempts, retry_after, message).await? else {
                return Ok(None);
            };
            self.shared.stat(|s| s.not_processed_retries += 1);
            self.shared.opts.stop.sleep(wait).await;
        }
    }

    /// The order exists: its ids are to be journaled (see [`Unsettled`]), then its
    /// certificate downloaded (or taken from a `201` carrying the chain: no download request
    /// is spent).
    fn placed(self, placed: Placed) -> Placing {
        self.shared.stat(|s| {
            s.new_orders += 1;
            s.renewals += u64::from(self.renewal.is_some());
        });
        if self.renewal.is_some() {
            self.shared.progress.renewed();
        }
        let ordered = Update::Ordered {
            key: self.key.clone(),
            order_id: placed.order_id,
            request_ids: placed.request_ids,
            request_status: placed.request_status,
            order_status: None,
            certificate_id: placed.certificate_id,
        };
        let download = placed.certificate_id.map(|cert| Download {
            key: self.key,
            name: self.name,
            order_id: placed.order_id,
            cert,
            chain: placed.chain,
        });
        Placing { ordered, download }
    }

    /// The outcome is unknown: journaled for reconciliation, never sent again blindly.
    async fn unknown(self, message: String) -> Result<(), BulkError> {
        self.shared.stat(|s| s.unknown += 1);
        let unknown = Update::Unknown {
            key: self.key,
            error: format!("order POST outcome unknown: {message}"),
        };
        self.shared.journal(move |j| j.commit([unknown])).await
    }

    /// How long to wait before the next attempt of a POST provably not processed; `None`
    /// when there is none (stopping, the server asks for longer than the policy waits, or the
    /// attempt would start after the patience: journaled, nothing was ordered).
    async fn retry_wait(
        &self,
        attempts: &Attempts,
        retry_after: Option<Duration>,
        message: String,
    ) -> Result<Option<Duration>, BulkError> {
        let key = self.key.clone();
        if self.shared.must_stop() {
            // Provably not sent: back to "to be ordered"; the rerun reuses the key already
            // on disk (its CSR is in the journal).
            self.shared
                .journal(move |j| j.commit([Update::Retry { key }]))
                .await?;
            return Ok(None);
        }
        // The server's Retry-After, or the backoff: the client's rule.
        let policy = &attempts.policy;
        let elapsed = attempts.started.elapsed();
        let why = match policy.not_processed_wait(attempts.count, retry_after) {
            Some(wait) if policy.starts_in_time(elapsed, wait) => return Ok(Some(wait)),
            Some(_) => format!(
                "the next would start after the {}s patience",
                policy.deadline.as_secs()
            ),
            None => format!(
                "the server asks to wait longer than {}s",
                policy.max_retry_after.as_secs()
            ),
        };
        // Nothing was ordered: back to "to be ordered" for the next run.
        let error = format!(
            "not sent after {} attempt(s) in {}s ({why}): {message}",
            attempts.count,
            elapsed.as_secs(),
        );
        self.shared
            .refuse(vec![Update::Refused { key, error }])
            .await?;
        Ok(None)
    }
}
