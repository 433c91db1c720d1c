//! `certcentral bulk`: order certificates for a whole roster, crash-safe, never twice, at the
//! rate limit.
//!
//! The pieces, in the order a run uses them:
//!
//! - [`roster`]: streams CSV (with a header) or JSON Lines rows;
//! - [`spec`]: validates each row into an order ([`spec::RowSpec`]) with its stable identity
//!   ([`spec::row_key`]);
//! - [`journal`]: the SQLite journal (WAL, `synchronous=FULL`, exclusive lock) where the
//!   intent to order is committed **before** each POST; the roster is staged in it so memory
//!   stays bounded;
//! - [`Plan`]: what a run would do (the `--dry-run` output);
//! - [`exec`]: reconciliation of unknown outcomes, the POST stream, `status-changes` polling
//!   and parallel downloads, through the [`api::BulkApi`] trait (implemented for
//!   [`certcentral_client::Client`]);
//! - [`report`]: one line per roster row, CSV or JSON;
//! - [`revoke`]: `--revoke-removed`, the orders of people no longer on the roster.
//!
//! The yearly cycle: a first run orders the roster; a run with `--renew-within` also renews,
//! once, every finished row whose certificate ends within the window (a renewal is a paid
//! order placed exactly like a first one: journaled first, reconciled, rate-limited, counted
//! by `--max-new-orders`); a run with `--revoke-removed` revokes the leavers.

// The module documentation describes the engine's internals (the journal's format and state
// machine, the roster reader) for its maintainers, linking crate-private items: read it with
// `cargo doc --document-private-items`, where every link resolves.
#![allow(rustdoc::private_intra_doc_links)]

pub mod api;
pub(crate) mod client_api;
pub mod exec;
pub mod journal;
pub mod progress;
pub(crate) mod report;
pub mod revoke;
pub mod roster;
pub(crate) mod seen;
pub mod spec;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use api::BulkApi;
use certcentral_keys::{files, keys};
use exec::{ExecOptions, RunStats, Stopped};
use journal::{Journal, ReportLine, RowState};
use progress::{Progress, ProgressMode};
use roster::{RosterReader, RosterRow, RowError};
use spec::RowSpec;

/// How many invalid rows are kept for display (all are counted and in the report).
pub(crate) const SHOWN_INVALID: usize = 50;

/// Default journal file name inside `--out`.
pub const DEFAULT_JOURNAL: &str = "certcentral-journal.sqlite";

/// Errors that stop a bulk run before or outside per-row processing.
#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    /// Bad arguments or input (exit 2).
    #[error("{0}")]
    Usage(String),
    /// Invalid rows with `--strict` (exit 2): nothing was ordered.
    #[error("{count} invalid roster row(s); nothing was ordered (fix them, or use --no-strict to order the valid rows):\n{}", render_errors(.shown, *.count))]
    InvalidRows {
        /// How many rows are invalid.
        count: u64,
        /// The first problems.
        shown: Vec<RowError>,
    },
    /// Another run holds the journal (exit 2).
    #[error("journal {0} is in use by another certcentral bulk run; wait for it to finish")]
    Locked(String),
    /// The journal failed (exit 1).
    #[error("journal: {0}")]
    Journal(String),
    /// A file could not be written (exit 1).
    #[error("{0}")]
    Io(String),
}

fn render_errors(shown: &[RowError], count: u64) -> String {
    let mut out = shown
        .iter()
        .map(|e| format!("  {e}"))
        .collect::<Vec<_>>()
        .join("\n");
    if count > shown.len() as u64 {
        out.push_str(&format!(
            "\n  … and more ({} problem(s) shown; see --report for every row)",
            shown.len()
        ));
    }
    out
}

impl BulkError {
    /// How the run ended: [`Verdict::Usage`] or [`Verdict::Failed`].
    pub fn verdict(&self) -> Verdict {
        match self {
            Self::Usage(_) | Self::InvalidRows { .. } | Self::Locked(_) => Verdict::Usage,
            Self::Journal(_) | Self::Io(_) => Verdict::Failed,
        }
    }
}

/// How a run ended, in the terms of the command's exit codes (`certcentral` maps each
/// verdict to its documented exit code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every row issued (or, without `wait`, every row ordered); a dry run that found rows
    /// to order.
    Done,
    /// Nothing succeeded: every row failed or was invalid (or the run could not finish).
    Failed,
    /// Bad arguments or input, invalid rows with `strict`, or the journal is in use.
    Usage,
    /// Some rows still pending: rerun to resume.
    Pending,
    /// Some outcome is unknown: an order may exist.
    Unknown,
    /// Some rows failed or were held back, others succeeded.
    Partial,
    /// Stopped by Ctrl-C after journaling the request in flight.
    Interrupted,
}

/// Everything a bulk run needs besides the API.
#[derive(Clone, Debug)]
pub struct BulkConfig {
    /// The roster file.
    pub roster: PathBuf,
    /// The journal file (default `<out>/certcentral-journal.sqlite`).
    pub journal: PathBuf,
    /// Refuse to start when any row is invalid.
    pub strict: bool,
    /// Print the plan only.
    pub dry_run: bool,
    /// Write a report here (`.json` → JSON, `.csv` → CSV).
    pub report: Option<PathBuf>,
    /// Order new rows even when they share an email address with a row already ordered
    /// (otherwise held back as [`RowState::PossibleDuplicate`]).
    pub allow_similar: bool,
    /// Progress display.
    pub progress: ProgressMode,
    /// Interval of plain progress lines.
    pub progress_interval: std::time::Duration,
    /// Where plain progress lines go.
    pub progress_sink: progress::LineSink,
    /// Execution settings.
    pub exec: ExecOptions,
    /// `--revoke-removed`: revoke the orders of people no longer on the roster.
    pub revoke: Option<revoke::RevokeOptions>,
}

/// What a run would do (and, after a run, what remains).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Rows in the roster.
    pub rows: u64,
    /// Valid rows.
    pub valid: u64,
    /// Invalid rows.
    pub invalid: u64,
    /// Paid orders that would be placed now (after `--max-new-orders`).
    pub new_orders: u64,
    /// Rows to order left for a later run by `--max-new-orders`.
    pub capped: u64,
    /// Rows whose earlier POST outcome is unknown: looked up before anything is re-ordered.
    pub reconcile: u64,
    /// Rows with an order to follow (no certificate yet).
    pub follow: u64,
    /// Rows already finished (certificate downloaded): skipped.
    pub done: u64,
    /// Rows whose order ended without a certificate: skipped.
    pub failed: u64,
    /// Rows the server refused earlier: ordered again.
    pub refused: u64,
    /// New rows held back because they share an email address with a row already ordered
    /// (see `--allow-similar`): not ordered.
    pub possible_duplicates: u64,
    /// Renewals (paid orders) that would be placed now for finished rows whose certificate
    /// ends within `--renew-within` (after `--max-new-orders`, which first orders use first).
    pub renewals: u64,
    /// Certificates of people no longer on the roster to revoke (`--revoke-removed`).
    pub revocations: u64,
}

/// The result of a run.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    /// The plan computed before running.
    pub plan: Plan,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Row counts by state after the run.
    pub states: Vec<(RowState, u64)>,
    /// What the run did.
    pub stats: RunStats,
    /// The first invalid rows (all are in the report).
    pub invalid_rows: Vec<RowError>,
    /// The first rows that need attention (refused, failed, unknown, possible duplicate),
    /// with why (all are in the report).
    pub problems: Vec<ReportLine>,
    /// Why the run stopped early, if it did (Ctrl-C, API unreachable).
    pub stopped: Option<Stopped>,
    /// The journal file.
    pub journal: Option<PathBuf>,
    /// The report file, when written.
    pub report: Option<PathBuf>,
    /// Why the report could not be written (the run's results are in the journal).
    pub report_error: Option<String>,
    /// `--revoke-removed`: each revocation (in a dry run: each one that would be sent).
    pub revocations: Vec<revoke::RevokeLine>,
    /// `--renew-within` in a dry run: the first [`SHOWN_INVALID`] rows that would be renewed
    /// (`plan.renewals` counts them all; the report lists every row's `valid_till`).
    pub to_renew: Vec<ToRenew>,
    /// How the run ended.
    pub verdict: Verdict,
}

/// A row a `--renew-within` run would renew (the dry run's list).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ToRenew {
    /// 1-based data row number.
    pub row: u64,
    /// Common name.
    pub common_name: String,
    /// Emails.
    pub emails: Vec<String>,
    /// The order to renew.
    pub order_id: Option<i64>,
    /// When its certificate ends (RFC 3339, UTC).
    pub valid_till: Option<String>,
}

/// The first `limit` rows a `--renew-within` run ending at `until` would renew.
fn to_renew(journal: &Journal, until: i64, limit: usize) -> Result<Vec<ToRenew>, BulkError> {
    Ok(journal
        .page(journal::Class::Renew { until }, 0, limit)?
        .into_iter()
        .map(|e| ToRenew {
            row: e.spec.row,
            common_name: e.spec.common_name,
            emails: e.spec.emails,
            order_id: e.order_id,
            valid_till: e.valid_till,
        })
        .collect())
}

/// A staged roster: the open journal and the validation results.
#[derive(Debug)]
pub(crate) struct Staged {
    /// The journal (locked).
    pub journal: Journal,
    /// Valid rows.
    pub valid: u64,
    /// Invalid rows.
    pub invalid: u64,
    /// The first problems.
    pub shown: Vec<RowError>,
}

/// Rows per staging transaction.
const BATCH: usize = 512;

/// Rows per message between [`stage`]'s threads: small, so the messages in flight (at most
/// [`AHEAD`] per checking thread) hold little memory.
const CHUNK: usize = 64;

/// Checked chunks a checking thread may have waiting for the staging thread: enough that
/// the checking threads keep working while a [`BATCH`] is staged (≈ 4 × 64 rows each).
const AHEAD: usize = 4;

/// How many threads check rows in [`stage`] (one per core, at most 4: the staging thread and
/// the CSV reader take little of a core each).
fn checkers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 4))
}

/// A valid row ready to stage, with its spec's JSON text (serialized by the thread that
/// checked it, so the staging thread only inserts it).
struct Ready {
    spec: RowSpec,
    json: String,
}

impl journal::Staging for Ready {
    fn spec(&self) -> &RowSpec {
        &self.spec
    }

    fn json(&self) -> serde_json::Result<std::borrow::Cow<'_, str>> {
        Ok(std::borrow::Cow::Borrowed(&self.json))
    }
}

/// A roster row read and checked by [`stage`]'s checking threads.
enum Checked {
    /// Ready to stage.
    Valid(Ready),
    /// Invalid: every problem found, with what the row says (for the report).
    Invalid {
        common_name: String,
        emails: Vec<String>,
        errors: Vec<RowError>,
    },
}

/// Validates one row read from the roster.
fn check(
    row: RosterRow,
    defaults: &spec::OrderDefaults,
    roster_dir: &Path,
) -> Result<Checked, BulkError> {
    let raw = match row {
        RosterRow::Read(raw) => *raw,
        RosterRow::Unreadable(e) => {
            return Ok(Checked::Invalid {
                common_name: String::new(),
                emails: Vec::new(),
                errors: vec![e],
            });
        }
    };
    let common_name = raw.display_name();
    let emails = raw.emails.clone();
    Ok(match RowSpec::build(raw, defaults, roster_dir) {
        Ok(spec) => {
            let json =
                serde_json::to_string(&spec).map_err(|e| BulkError::Journal(e.to_string()))?;
            Checked::Valid(Ready { spec, json })
        }
        Err(errors) => Checked::Invalid {
            common_name,
            emails,
            errors,
        },
    })
}

/// A batch of rows as read, or the error that ends the roster.
type Read = Result<Vec<RosterRow>, BulkError>;
/// A batch of rows checked, or the error that ends the run.
type Done = Result<Vec<Checked>, BulkError>;

/// Reads the roster, [`CHUNK`] rows per message, handing them to the checking threads
/// in turn (batch `k` to `checkers[k % n]`). Stops after the first error that stops the run,
/// or when a checking thread is gone.
fn read_rows(reader: RosterReader, checkers: &[std::sync::mpsc::SyncSender<Read>]) {
    let mut turn = checkers.iter().cycle();
    let mut send = |message: Read| turn.next().is_some_and(|c| c.send(message).is_ok());
    let mut chunk = Vec::with_capacity(CHUNK);
    for next in reader {
        match next {
            Err(e) => {
                send(Err(e));
                return;
            }
            Ok(row) => chunk.push(row),
        }
        if chunk.len() >= CHUNK
            && !send(Ok(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK))))
        {
            return;
        }
    }
    send(Ok(chunk));
}

/// Checks the batches `read` receives, in order, sending each one's result to `done`.
fn check_rows(
    read: std::sync::mpsc::Receiver<Read>,
    defaults: &spec::OrderDefaults,
    roster_dir: &Path,
    done: &std::sync::mpsc::SyncSender<Done>,
) {
    for batch in read {
        let checked = batch.and_then(|rows| {
            rows.into_iter()
                .map(|row| check(row, defaults, roster_dir))
                .collect()
        });
        if done.send(checked).is_err() {
            return;
        }
    }
}

/// Reads and validates the roster, streaming, and stages the valid rows in `journal`.
///
/// A reader thread reads the CSV and hands batches of rows in turn to the checking threads
/// (one per core: the schema engine, the row's identity and staging text), while this
/// thread stages the checked batches in the journal (SQLite), taking them from the checking
/// threads in the same turn, so rows are staged in roster order, exactly as one thread
/// would. Every channel holds at most a few chunks, so memory stays bounded.
pub(crate) fn stage(mut journal: Journal, config: &BulkConfig) -> Result<Staged, BulkError> {
    let reader = RosterReader::open(&config.roster)?;
    let roster_dir = config
        .roster
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut tally = Tally {
        allow_similar: config.allow_similar,
        batch: Vec::with_capacity(BATCH),
        ..Tally::default()
    };
    std::thread::scope(|scope| -> Result<(), BulkError> {
        let defaults = &config.exec.defaults;
        let roster_dir = roster_dir.as_path();
        let mut to_check = Vec::new();
        let mut results = Vec::new();
        for _ in 0..checkers() {
            let (send_read, read) = std::sync::mpsc::sync_channel(1);
            let (done, receive) = std::sync::mpsc::sync_channel(AHEAD);
            scope.spawn(move || check_rows(read, defaults, roster_dir, &done));
            to_check.push(send_read);
            results.push(receive);
        }
        scope.spawn(move || read_rows(reader, &to_check));
        // Returning early drops the receivers: every thread stops at its next send. After
        // the last batch, the next checking thread in turn ends without a result.
        for receive in results.iter().cycle() {
            let Ok(message) = receive.recv() else { break };
            for checked in message? {
                tally.add(&mut journal, checked)?;
            }
        }
        Ok(())
    })?;
    tally.flush(&mut journal)?;
    tally.finish(&mut journal)?;
    Ok(Staged {
        journal,
        valid: tally.valid,
        invalid: tally.invalid + tally.invalid_rows.len() as u64,
        shown: tally.shown,
    })
}

/// What [`stage`] has seen so far, and the valid rows not staged yet.
#[derive(Default)]
struct Tally {
    allow_similar: bool,
    batch: Vec<Ready>,
    valid: u64,
    /// Rows invalid as read.
    invalid: u64,
    /// Rows refused when staged (same identity or output name as another row).
    invalid_rows: std::collections::BTreeSet<u64>,
    shown: Vec<RowError>,
}

impl Tally {
    /// Takes one checked row: an invalid one is recorded at once, valid ones are staged
    /// `BATCH` at a time.
    fn add(&mut self, journal: &mut Journal, checked: Checked) -> Result<(), BulkError> {
        match checked {
            Checked::Valid(ready) => {
                self.batch.push(ready);
                if self.batch.len() >= BATCH {
                    self.flush(journal)?;
                }
            }
            Checked::Invalid {
                common_name,
                emails,
                errors,
            } => {
                self.invalid += 1;
                for e in errors {
                    journal.record_invalid(&e, &common_name, &emails)?;
                    self.show(e);
                }
            }
        }
        Ok(())
    }

    /// Ends staging ([`Journal::finish_staging`]): the rows refused for repeating an
    /// earlier row are invalid. The problems shown are then the first ones in roster order.
    fn finish(&mut self, journal: &mut Journal) -> Result<(), BulkError> {
        for refused in journal.finish_staging(self.allow_similar)? {
            self.refuse(
                journal,
                refused.error,
                &refused.common_name,
                &refused.emails,
            )?;
            self.valid = self.valid.saturating_sub(1);
        }
        self.keep_first_shown();
        Ok(())
    }

    /// Records a valid row refused when staged as invalid (for the report), and shows it.
    fn refuse(
        &mut self,
        journal: &mut Journal,
        e: RowError,
        common_name: &str,
        emails: &[String],
    ) -> Result<(), BulkError> {
        journal.record_invalid(&e, common_name, emails)?;
        self.invalid_rows.insert(e.row);
        self.show(e);
        Ok(())
    }

    /// Keeps `e` among the problems shown: the first [`SHOWN_INVALID`] in roster order,
    /// whichever arrives first (refusals come after the rows read later than them).
    fn show(&mut self, e: RowError) {
        self.shown.push(e);
        if self.shown.len() >= 2 * SHOWN_INVALID {
            self.keep_first_shown();
        }
    }

    /// Trims the problems shown to the first [`SHOWN_INVALID`] in roster order (stable: a
    /// row's problems keep their order).
    fn keep_first_shown(&mut self) {
        self.shown.sort_by_key(|e| e.row);
        self.shown.truncate(SHOWN_INVALID);
    }

    /// Stages the pending valid rows.
    fn flush(&mut self, journal: &mut Journal) -> Result<(), BulkError> {
        let errors = journal.stage_batch(&self.batch, self.allow_similar)?;
        self.valid += (self.batch.len() - errors.len()) as u64;
        let batch = std::mem::take(&mut self.batch);
        for e in errors {
            if let Some(Ready { spec, .. }) = batch.iter().find(|r| r.spec.row == e.row) {
                self.refuse(journal, e, &spec.common_name, &spec.emails)?;
            }
        }
        self.batch = batch;
        self.batch.clear();
        Ok(())
    }
}

/// The plan for a staged roster whose rows are in the states `counts`, with `renewable`
/// finished rows whose certificate ends within `--renew-within`.
fn plan_from(
    staged: &Staged,
    counts: &[(RowState, u64)],
    max_new_orders: Option<u64>,
    renewable: u64,
) -> Plan {
    let get = |s: RowState| counts.iter().find(|(x, _)| *x == s).map_or(0, |(_, n)| *n);
    let to_order = get(RowState::New) + get(RowState::Refused);
    let new_orders = max_new_orders.map_or(to_order, |m| to_order.min(m));
    let renewals = max_new_orders.map_or(renewable, |m| renewable.min(m - new_orders));
    Plan {
        rows: staged.valid + staged.invalid,
        valid: staged.valid,
        invalid: staged.invalid,
        new_orders,
        renewals,
        revocations: 0,
        capped: to_order + renewable - new_orders - renewals,
        reconcile: get(RowState::Intent) + get(RowState::Unknown),
        follow: get(RowState::Ordered),
        done: get(RowState::Done),
        failed: get(RowState::Failed),
        refused: get(RowState::Refused),
        possible_duplicates: get(RowState::PossibleDuplicate),
    }
}

/// The verdict for the final row states: unknown when some outcome is unknown; failed when
/// rows failed (or were held back as possible duplicates) and none succeeded; partial when
/// some failed and others succeeded; pending when some are still pending (not issued with
/// `wait`, or not ordered yet because of `--max-new-orders`); done otherwise.
pub(crate) fn verdict(states: &[(RowState, u64)], invalid: u64, wait: bool) -> Verdict {
    let get = |s: RowState| states.iter().find(|(x, _)| *x == s).map_or(0, |(_, n)| *n);
    let unknown = get(RowState::Intent) + get(RowState::Unknown);
    let failures =
        get(RowState::Failed) + get(RowState::Refused) + get(RowState::PossibleDuplicate) + invalid;
    let successes = get(RowState::Done) + get(RowState::Ordered);
    let pending = get(RowState::New) + if wait { get(RowState::Ordered) } else { 0 };
    if unknown > 0 {
        Verdict::Unknown
    } else if failures > 0 && successes == 0 {
        Verdict::Failed
    } else if failures > 0 {
        Verdict::Partial
    } else if pending > 0 {
        Verdict::Pending
    } else {
        Verdict::Done
    }
}

/// The verdict of a run that stopped early: interrupted; when the API became unreachable,
/// unknown if some outcome is unknown, pending otherwise (rerun to resume).
pub(crate) fn stopped_verdict(stopped: &Stopped, states: &[(RowState, u64)]) -> Verdict {
    let get = |s: RowState| states.iter().find(|(x, _)| *x == s).map_or(0, |(_, n)| *n);
    match stopped {
        Stopped::Interrupted => Verdict::Interrupted,
        Stopped::Unreachable(_) if get(RowState::Intent) + get(RowState::Unknown) > 0 => {
            Verdict::Unknown
        }
        Stopped::Unreachable(_) => Verdict::Pending,
    }
}

/// Checks every output path before anything is read, written or ordered: `--out` is a
/// folder (or can be created), the journal is not a folder, the report can be written
/// there without replacing anything but an earlier report ([`report::check_target`]).
pub(crate) fn check_outputs(config: &BulkConfig) -> Result<(), BulkError> {
    let out = &config.exec.out_dir;
    match std::fs::metadata(out) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(BulkError::Usage(format!(
                "--out {}: is a file, not a folder; give a folder for the keys, CSRs and certificates (it is created when missing)",
                out.display()
            )));
        }
        Err(_) if config.dry_run => {}
        Err(_) => files::ensure_dir(out).map_err(|e| {
            BulkError::Usage(format!(
                "--out {}: cannot create the folder: {e}",
                out.display()
            ))
        })?,
    }
    let journal = &config.journal;
    if std::fs::metadata(journal).is_ok_and(|m| m.is_dir()) {
        return Err(BulkError::Usage(format!(
            "journal {}: is a folder; pass --journal with a file path (e.g. {})",
            journal.display(),
            journal.join(DEFAULT_JOURNAL).display()
        )));
    }
    if let Some(dir) = journal.parent().filter(|d| !d.as_os_str().is_empty())
        && std::fs::metadata(dir).is_ok_and(|m| !m.is_dir())
    {
        return Err(BulkError::Usage(format!(
            "journal {}: {} is a file, not a folder",
            journal.display(),
            dir.display()
        )));
    }
    if let Some(path) = &config.report {
        report::check_target(path, &config.roster, journal)?;
    }
    Ok(())
}

/// The first `limit` rows that need attention (refused, failed, outcome unknown, possible
/// duplicate), with their errors, of a journal whose roster rows are in the states `counts`.
fn problems_in(
    journal: &Journal,
    counts: &[(RowState, u64)],
    limit: usize,
) -> Result<Vec<ReportLine>, BulkError> {
    const PROBLEMS: [RowState; 4] = [
        RowState::Refused,
        RowState::Failed,
        RowState::Unknown,
        RowState::PossibleDuplicate,
    ];
    let mut out = Vec::new();
    // Paging the whole report costs more than linear time on a large roster: when no row is
    // in a problem state (the usual dry run or clean run), there is nothing to page for.
    let mut left: u64 = counts
        .iter()
        .filter(|(state, _)| PROBLEMS.contains(state))
        .map(|(_, n)| n)
        .sum();
    let mut after = 0;
    while out.len() < limit && left > 0 {
        let page = journal.report_page(after, 512)?;
        let Some(last) = page.last() else { break };
        after = last.row;
        let found: Vec<ReportLine> = page
            .into_iter()
            .filter(|l| PROBLEMS.iter().any(|s| s.as_str() == l.state))
            .collect();
        left = left.saturating_sub(found.len() as u64);
        out.extend(
            found
                .into_iter()
                .filter(|l| l.error.is_some())
                .take(limit - out.len()),
        );
    }
    Ok(out)
}

fn open_journal(config: &BulkConfig) -> Result<Journal, BulkError> {
    if config.dry_run {
        if config.journal.exists() {
            Journal::open(&config.journal)
        } else {
            Journal::open_temporary()
        }
    } else {
        if let Some(dir) = config
            .journal
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            files::ensure_dir(dir).map_err(|e| BulkError::Io(e.to_string()))?;
        }
        Journal::open(&config.journal)
    }
}

/// Row counts by state ([`Journal::counts`]).
type Counts = Vec<(RowState, u64)>;

/// Validates and stages the roster and returns the plan, without touching the API (the
/// `--dry-run` path, and the first step of [`run`]), with the staged rows' counts by state
/// (each count is a pass over the whole roster, so it is done once).
fn prepare(config: &BulkConfig) -> Result<(Staged, Plan, Counts), BulkError> {
    let journal = open_journal(config)?;
    let staged = stage(journal, config)?;
    if config.strict && staged.invalid > 0 {
        return Err(BulkError::InvalidRows {
            count: staged.invalid,
            shown: staged.shown,
        });
    }
    let counts = staged.journal.counts()?;
    let renewable = match config.exec.renew_until {
        Some(until) => staged.journal.count_renewals(until)?,
        None => 0,
    };
    let plan = plan_from(&staged, &counts, config.exec.max_new_orders, renewable);
    Ok((staged, plan, counts))
}

/// Plans a bulk order without an API (`--dry-run`): stages and validates the roster and
/// says what a run would do (orders, renewals, revocations); nothing is sent.
pub fn dry_run(config: &BulkConfig) -> Result<Outcome, BulkError> {
    check_outputs(config)?;
    let (staged, mut plan, counts) = prepare(config)?;
    let removed = removed_rows(config, &staged, &mut plan)?;
    let verdict = if staged.invalid > 0 && plan.valid == 0 {
        Verdict::Failed
    } else {
        Verdict::Done
    };
    let revocations = removed
        .map(|(_, removed)| revoke::planned(removed))
        .unwrap_or_default();
    let to_renew = match config.exec.renew_until {
        Some(until) => to_renew(&staged.journal, until, SHOWN_INVALID)?,
        None => Vec::new(),
    };
    // Nothing ran: the states are the plan's.
    let ran = Ran {
        journal: staged.journal,
        states: counts,
        stats: RunStats::default(),
        stopped: None,
        revocations,
        to_renew,
        verdict,
    };
    conclude(config, plan, staged.shown, ran)
}

/// `--revoke-removed`: the journaled rows no longer on the roster, checked against the
/// guards (refused, exit 2, before anything is ordered or sent) and counted in the plan.
fn removed_rows<'c>(
    config: &'c BulkConfig,
    staged: &Staged,
    plan: &mut Plan,
) -> Result<Option<(&'c revoke::RevokeOptions, Vec<journal::Removed>)>, BulkError> {
    let Some(opts) = &config.revoke else {
        return Ok(None);
    };
    let removed = staged.journal.removed()?;
    revoke::check(&removed, opts, staged.invalid, config.dry_run)?;
    plan.revocations = removed.len() as u64;
    Ok(Some((opts, removed)))
}

/// Runs a whole bulk order through `api`: first orders, renewals (`--renew-within`), then
/// revocations (`--revoke-removed`). With `config.dry_run`, only plans it, as [`dry_run`].
pub async fn run<A: BulkApi>(api: Arc<A>, config: &BulkConfig) -> Result<Outcome, BulkError> {
    if config.dry_run {
        return dry_run(config);
    }
    check_outputs(config)?;
    let (staged, mut plan, _) = prepare(config)?;
    let removed = removed_rows(config, &staged, &mut plan)?;
    let progress = Progress::new(
        config.progress,
        plan.valid + plan.renewals,
        config.progress_interval,
        config.progress_sink.clone(),
    );
    let (mut journal, stats, stopped) = exec::execute(
        Arc::clone(&api),
        staged.journal,
        config.exec.clone(),
        progress,
    )
    .await?;
    let mut revocations = Vec::new();
    if let (Some((opts, removed)), None) = (removed, &stopped) {
        revocations =
            revoke::revoke_all(&*api, &mut journal, removed, opts, &config.exec.stop).await?;
    }
    let states = journal.counts()?;
    let mut verdict = match &stopped {
        Some(s) => stopped_verdict(s, &states),
        None => verdict(&states, staged.invalid, config.exec.wait),
    };
    if verdict == Verdict::Done && revocations.iter().any(|l| l.error.is_some()) {
        verdict = Verdict::Partial;
    }
    // Renewals left (--max-new-orders, or not sent this time): rerun to continue.
    if let (Verdict::Done, Some(until)) = (verdict, config.exec.renew_until)
        && journal.count_renewals(until)? > 0
    {
        verdict = Verdict::Pending;
    }
    let ran = Ran {
        journal,
        states,
        stats,
        stopped,
        revocations,
        to_renew: Vec::new(),
        verdict,
    };
    conclude(config, plan, staged.shown, ran)
}

/// What a run (or a dry run) left behind, before the report is written.
struct Ran {
    journal: Journal,
    states: Counts,
    stats: RunStats,
    stopped: Option<Stopped>,
    revocations: Vec<revoke::RevokeLine>,
    to_renew: Vec<ToRenew>,
    verdict: Verdict,
}

/// Writes the report (when asked) and assembles the [`Outcome`].
fn conclude(
    config: &BulkConfig,
    plan: Plan,
    invalid_rows: Vec<RowError>,
    ran: Ran,
) -> Result<Outcome, BulkError> {
    let Ran {
        journal,
        states,
        stats,
        stopped,
        revocations,
        to_renew,
        mut verdict,
    } = ran;
    // A report that cannot be written does not lose the summary (the journal holds every
    // row's state; a rerun with another --report writes it without ordering anything).
    let (report, report_error) = match &config.report {
        Some(path) => match report::write(&journal, path) {
            Ok(_) => (Some(path.clone()), None),
            Err(e) => {
                if verdict == Verdict::Done {
                    verdict = Verdict::Failed;
                }
                (None, Some(e.to_string()))
            }
        },
        None => (None, None),
    };
    Ok(Outcome {
        problems: problems_in(&journal, &states, SHOWN_INVALID)?,
        states,
        plan,
        dry_run: config.dry_run,
        stats,
        invalid_rows,
        stopped,
        journal: journal.path().map(Path::to_path_buf),
        report,
        report_error,
        revocations,
        to_renew,
        verdict,
    })
}

#[cfg(test)]
mod tests;
