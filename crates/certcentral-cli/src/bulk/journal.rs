//! The journal: a SQLite file (WAL) that records, per roster row, the intent to order
//! **before** the order POST (synced to disk, `synchronous=FULL`), then the order id and
//! request ids right after it, then status changes and downloaded files.
//!
//! One connection holds an exclusive lock for the whole run, so a second run on the same
//! journal is refused. The roster of the current run is staged in a temporary table (on
//! disk, not in memory) and every pass over it is a paged query, so memory stays bounded
//! whatever the roster's size.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

use super::BulkError;
use super::roster::RowError;
use super::spec::RowSpec;

/// Schema version written to `PRAGMA user_version`.
pub const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS rows (
    row_key TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    row_number INTEGER NOT NULL,
    product TEXT NOT NULL,
    common_name TEXT NOT NULL,
    emails TEXT NOT NULL,
    name TEXT NOT NULL,
    intent_at TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    order_id INTEGER,
    request_ids TEXT,
    request_status TEXT,
    order_status TEXT,
    certificate_id INTEGER,
    key_file TEXT,
    csr_file TEXT,
    csr TEXT,
    certificate_file TEXT,
    error TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rows_order_id ON rows(order_id);
CREATE INDEX IF NOT EXISTS rows_name ON rows(name);
";

/// SQL: the state of a staged row `r` joined with its journal row `j`: the journal's, or
/// `possible_duplicate` for a row held back and not ordered.
const STATE: &str =
    "CASE WHEN r.held IS NOT NULL AND (j.state IS NULL OR j.state IN ('new','retry','post_failed'))
     THEN 'possible_duplicate' ELSE j.state END";

/// Where a journaled row stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowState {
    /// Not in the journal yet (or its earlier POST provably created nothing): to be ordered.
    New,
    /// Intent recorded, POST outcome not recorded: must be reconciled before re-ordering.
    Intent,
    /// POST outcome unknown and reconciliation could not settle it.
    Unknown,
    /// Ordered: order id known; certificate not downloaded yet.
    Ordered,
    /// Certificate downloaded.
    Done,
    /// The order ended without a certificate (rejected, canceled, …).
    Failed,
    /// The server refused the order POST (nothing was ordered); a rerun tries again.
    Refused,
    /// A new row with an email address of a row already ordered (or of an earlier row of
    /// the roster): held back, not ordered, unless `--allow-similar`. Never stored in the
    /// journal: decided afresh on every run.
    PossibleDuplicate,
}

impl RowState {
    /// The text stored in the journal.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Intent => "intent",
            Self::Unknown => "unknown",
            Self::Ordered => "ordered",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Refused => "refused",
            Self::PossibleDuplicate => "possible_duplicate",
        }
    }

    fn parse(s: Option<&str>) -> Self {
        match s {
            None | Some("new") | Some("retry") => Self::New,
            Some("post_failed") => Self::Refused,
            Some("intent") => Self::Intent,
            Some("unknown") => Self::Unknown,
            Some("ordered") => Self::Ordered,
            Some("done") => Self::Done,
            Some("possible_duplicate") => Self::PossibleDuplicate,
            _ => Self::Failed,
        }
    }
}

/// One journal change. Changes are applied in order, in one transaction per commit.
#[derive(Clone, Debug, PartialEq)]
pub enum Update {
    /// About to POST the order for this row (committed durably before the POST).
    Intent {
        /// The row.
        spec: RowSpec,
        /// Key file that will be written, if any.
        key_file: Option<String>,
        /// CSR file.
        csr_file: Option<String>,
        /// The CSR sent (public), so a retry after a crash reuses the key already on disk.
        csr: Option<String>,
    },
    /// The POST answered: the order exists.
    Ordered {
        /// Row key.
        key: String,
        /// Order id.
        order_id: i64,
        /// Request ids, `;`-joined.
        request_ids: String,
        /// First request's status.
        request_status: Option<String>,
        /// Order status, when known.
        order_status: Option<String>,
        /// Certificate id, when the request is approved.
        certificate_id: Option<i64>,
    },
    /// The POST outcome is unknown (and stays so until reconciled).
    Unknown {
        /// Row key.
        key: String,
        /// What happened.
        error: String,
    },
    /// The server refused the order (no order exists); the row may be ordered again later.
    Refused {
        /// Row key.
        key: String,
        /// The server's errors.
        error: String,
    },
    /// Reconciliation found no order: the row is back to "to be ordered".
    Retry {
        /// Row key.
        key: String,
    },
    /// An order's status changed.
    Status {
        /// Order id.
        order_id: i64,
        /// New status.
        order_status: String,
        /// Certificate id, when known.
        certificate_id: Option<i64>,
        /// When the status is final without a certificate: why.
        failed: Option<String>,
    },
    /// The certificate was written to disk.
    Downloaded {
        /// Row key.
        key: String,
        /// The file.
        file: String,
    },
}

/// A row of the current roster with what the journal knows about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The validated roster row.
    pub spec: RowSpec,
    /// Journal state.
    pub state: RowState,
    /// Output name recorded in the journal (wins over the roster's, files exist under it).
    pub name: String,
    /// When the last intent was recorded (RFC 3339).
    pub intent_at: Option<String>,
    /// Order id.
    pub order_id: Option<i64>,
    /// Request ids, `;`-joined.
    pub request_ids: Option<String>,
    /// Request status.
    pub request_status: Option<String>,
    /// Order status.
    pub order_status: Option<String>,
    /// Certificate id.
    pub certificate_id: Option<i64>,
    /// Key file.
    pub key_file: Option<String>,
    /// The CSR recorded with the last intent.
    pub csr: Option<String>,
    /// Certificate file.
    pub certificate_file: Option<String>,
    /// Last error.
    pub error: Option<String>,
}

/// One line of the run report.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ReportLine {
    /// 1-based data row number.
    pub row: u64,
    /// Stable row identity (empty for an invalid row).
    pub row_id: String,
    /// Row state: `new`, `intent`, `unknown`, `ordered`, `done`, `failed`, `refused`,
    /// `possible_duplicate`, `invalid`.
    pub state: String,
    /// Common name.
    pub common_name: String,
    /// Emails, `;`-joined.
    pub emails: String,
    /// Order id.
    pub order_id: Option<i64>,
    /// Request ids, `;`-joined.
    pub request_ids: Option<String>,
    /// Request status.
    pub request_status: Option<String>,
    /// Order status.
    pub order_status: Option<String>,
    /// Certificate id.
    pub certificate_id: Option<i64>,
    /// Private key file.
    pub key_file: Option<String>,
    /// Certificate file.
    pub certificate_file: Option<String>,
    /// What went wrong.
    pub error: Option<String>,
}

/// Which roster rows a paged query returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Every row.
    All,
    /// Rows to be ordered.
    New,
    /// Rows whose POST outcome must be reconciled.
    Reconcile,
    /// Rows that reconciliation proved were never ordered.
    Retry,
    /// Rows with an order but no downloaded certificate.
    Follow,
    /// Rows with an order and no certificate id yet.
    Pending,
}

/// The open journal (holding the run lock).
pub struct Journal {
    conn: Connection,
    path: Option<PathBuf>,
    pending: Vec<Update>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish()
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

impl Journal {
    /// Opens (creating if needed) the journal at `path` and takes its exclusive lock.
    /// Refused with [`BulkError::Locked`] while another run holds it.
    pub fn open(path: &Path) -> Result<Self, BulkError> {
        let jerr = |e: rusqlite::Error| {
            if is_busy(&e) {
                BulkError::Locked(path.display().to_string())
            } else if matches!(
                e.sqlite_error_code(),
                Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)
            ) {
                BulkError::Usage(format!(
                    "journal {}: not a certcentral journal, or damaged ({e}); if it is the journal of earlier runs, restore it from a backup (it records what was ordered), otherwise move it away or pass another --journal",
                    path.display()
                ))
            } else {
                BulkError::Journal(format!("{}: {e}", path.display()))
            }
        };
        let conn = Connection::open(path).map_err(jerr)?;
        conn.busy_timeout(std::time::Duration::ZERO).map_err(jerr)?;
        // Exclusive locking mode first: the lock is then held from the first write until the
        // connection closes (or the process dies), and WAL needs no shared memory.
        conn.query_row("PRAGMA locking_mode=EXCLUSIVE", [], |_| Ok(()))
            .map_err(jerr)?;
        conn.execute_batch("BEGIN EXCLUSIVE; COMMIT;")
            .map_err(jerr)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(jerr)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(BulkError::Journal(format!(
                "{}: cannot switch to WAL mode (got {mode})",
                path.display()
            )));
        }
        let mut journal = Self {
            conn,
            path: Some(path.to_owned()),
            pending: Vec::new(),
        };
        journal.init().map_err(jerr)?;
        Ok(journal)
    }

    /// A throw-away journal (a private temporary database), for a dry run with no journal.
    pub fn open_temporary() -> Result<Self, BulkError> {
        let conn = Connection::open("").map_err(|e| BulkError::Journal(e.to_string()))?;
        let mut journal = Self {
            conn,
            path: None,
            pending: Vec::new(),
        };
        journal
            .init()
            .map_err(|e| BulkError::Journal(e.to_string()))?;
        Ok(journal)
    }

    fn init(&mut self) -> rusqlite::Result<()> {
        self.conn
            .execute_batch("PRAGMA synchronous=FULL; PRAGMA temp_store=FILE;")?;
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(rusqlite::Error::InvalidParameterName(format!(
                "journal schema version {version} is newer than this certcentral supports ({SCHEMA_VERSION})"
            )));
        }
        let tx = self.conn.transaction()?;
        tx.execute_batch(SCHEMA)?;
        tx.execute_batch(&format!("PRAGMA user_version={SCHEMA_VERSION}"))?;
        tx.commit()?;
        self.conn.execute_batch(
            "DROP TABLE IF EXISTS temp.roster;
             CREATE TEMP TABLE roster (
                 row_key TEXT PRIMARY KEY,
                 row_number INTEGER NOT NULL,
                 name TEXT NOT NULL UNIQUE,
                 spec TEXT NOT NULL,
                 held TEXT
             );
             CREATE INDEX temp.roster_row ON roster(row_number);
             DROP TABLE IF EXISTS temp.known_emails;
             CREATE TEMP TABLE known_emails (email TEXT NOT NULL, row_key TEXT NOT NULL);
             CREATE INDEX temp.known_emails_email ON known_emails(email);
             DROP TABLE IF EXISTS temp.roster_emails;
             CREATE TEMP TABLE roster_emails (
                 email TEXT PRIMARY KEY,
                 row_key TEXT NOT NULL,
                 row_number INTEGER NOT NULL
             );
             DROP TABLE IF EXISTS temp.invalid;
             CREATE TEMP TABLE invalid (
                 row_number INTEGER PRIMARY KEY,
                 common_name TEXT NOT NULL,
                 emails TEXT NOT NULL,
                 error TEXT NOT NULL
             );",
        )?;
        self.index_emails()
    }

    /// Fills `temp.known_emails`: every email of a journaled row with an order (or whose
    /// order may exist), for the possible-duplicate check of [`Journal::stage`].
    fn index_emails(&mut self) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut rows = tx.prepare(
                "SELECT row_key, emails FROM main.rows WHERE state NOT IN ('new','retry','post_failed')",
            )?;
            let mut insert =
                tx.prepare("INSERT INTO temp.known_emails (email, row_key) VALUES (?1, ?2)")?;
            let mut it = rows.query([])?;
            while let Some(row) = it.next()? {
                let key: String = row.get(0)?;
                let emails: String = row.get(1)?;
                let emails: Vec<String> = emails.split(';').map(str::to_owned).collect();
                for email in lowercase_emails(&emails) {
                    insert.execute(params![email, key])?;
                }
            }
        }
        tx.commit()
    }

    /// The journal file, `None` for a temporary one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn err(&self, e: rusqlite::Error) -> BulkError {
        let path = self
            .path
            .as_ref()
            .map_or_else(|| "journal".to_owned(), |p| p.display().to_string());
        BulkError::Journal(format!("{path}: {e}"))
    }

    /// Stages a batch of valid roster rows (one transaction). A row whose identity or output
    /// name repeats an earlier row, or whose name belongs to another journaled row, comes
    /// back as an error instead.
    ///
    /// Unless `allow_similar`, a row still to be ordered that shares an email address with
    /// a row already ordered (any journaled row with an order, or whose order may exist) or
    /// with an earlier row of this roster is held back as
    /// [`RowState::PossibleDuplicate`]: the same person with one more address would
    /// otherwise be a second paid order.
    pub fn stage(
        &mut self,
        rows: &[RowSpec],
        allow_similar: bool,
    ) -> Result<Vec<RowError>, BulkError> {
        let mut errors = Vec::new();
        let tx = self
            .conn
            .transaction()
            .map_err(|e| BulkError::Journal(e.to_string()))?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO temp.roster (row_key, row_number, name, spec) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(|e| BulkError::Journal(e.to_string()))?;
            let mut by_key = tx
                .prepare_cached("SELECT row_number FROM temp.roster WHERE row_key = ?1")
                .map_err(|e| BulkError::Journal(e.to_string()))?;
            let mut by_name = tx
                .prepare_cached("SELECT row_number FROM temp.roster WHERE name = ?1")
                .map_err(|e| BulkError::Journal(e.to_string()))?;
            let mut journal_name = tx
                .prepare_cached(
                    "SELECT name FROM main.rows WHERE row_key = ?1 UNION ALL
                     SELECT '' FROM main.rows WHERE name = ?2 AND row_key <> ?1 LIMIT 1",
                )
                .map_err(|e| BulkError::Journal(e.to_string()))?;
            for spec in rows {
                let error = |column: &str, reason: String| RowError {
                    row: spec.row,
                    line: spec.line,
                    column: column.into(),
                    reason,
                };
                // The journal's name wins for a known row (its files exist under that name).
                let recorded: Option<String> = journal_name
                    .query_row(params![spec.key, spec.name], |r| r.get(0))
                    .optional()
                    .map_err(|e| BulkError::Journal(e.to_string()))?;
                let mut spec = spec.clone();
                match recorded.as_deref() {
                    Some("") => {
                        errors.push(error(
                            "name",
                            format!(
                                "output name '{}' belongs to another row ordered in an earlier run; choose another name",
                                spec.name
                            ),
                        ));
                        continue;
                    }
                    Some(name) => spec.name = name.to_owned(),
                    None => {}
                }
                let text =
                    serde_json::to_string(&spec).map_err(|e| BulkError::Journal(e.to_string()))?;
                match insert.execute(params![spec.key, spec.row as i64, spec.name, text]) {
                    Ok(_) => hold_if_similar(&tx, &spec, allow_similar)
                        .map_err(|e| BulkError::Journal(e.to_string()))?,
                    Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
                        let same_key: Option<i64> = by_key
                            .query_row(params![spec.key], |r| r.get(0))
                            .optional()
                            .map_err(|e| BulkError::Journal(e.to_string()))?;
                        if let Some(other) = same_key {
                            errors.push(error(
                                "common_name",
                                format!(
                                    "same person as row {other} (identity: product, common name and emails, or the id column); each person is ordered once"
                                ),
                            ));
                        } else {
                            let other: Option<i64> = by_name
                                .query_row(params![spec.name], |r| r.get(0))
                                .optional()
                                .map_err(|e| BulkError::Journal(e.to_string()))?;
                            errors.push(error(
                                "name",
                                format!(
                                    "output name '{}' is also used by row {}; set a distinct name",
                                    spec.name,
                                    other.unwrap_or_default()
                                ),
                            ));
                        }
                    }
                    Err(e) => return Err(BulkError::Journal(e.to_string())),
                }
            }
        }
        tx.commit().map_err(|e| BulkError::Journal(e.to_string()))?;
        Ok(errors)
    }

    /// Up to `limit` roster rows of `class` after data row `after`, in roster order.
    pub fn page(&self, class: Class, after: u64, limit: usize) -> Result<Vec<Entry>, BulkError> {
        let filter = match class {
            Class::All => "1",
            Class::New => {
                "(j.state IS NULL OR j.state IN ('new','retry','post_failed')) AND r.held IS NULL"
            }
            Class::Reconcile => "j.state IN ('intent','unknown')",
            Class::Retry => "j.state = 'retry' AND r.held IS NULL",
            Class::Follow => "j.state = 'ordered'",
            Class::Pending => "j.state = 'ordered' AND j.certificate_id IS NULL",
        };
        let sql = format!(
            "SELECT r.spec, {STATE}, j.name, j.intent_at, j.order_id, j.request_ids, j.request_status,
                    j.order_status, j.certificate_id, j.key_file, j.certificate_file,
                    coalesce(r.held, j.error), j.csr
             FROM temp.roster r LEFT JOIN main.rows j ON j.row_key = r.row_key
             WHERE r.row_number > ?1 AND {filter} ORDER BY r.row_number LIMIT ?2"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![after as i64, limit as i64], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, Option<String>>(7)?,
                    r.get::<_, Option<i64>>(8)?,
                    r.get::<_, Option<String>>(9)?,
                    r.get::<_, Option<String>>(10)?,
                    r.get::<_, Option<String>>(11)?,
                    r.get::<_, Option<String>>(12)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (
                spec,
                state,
                name,
                intent_at,
                order_id,
                request_ids,
                request_status,
                order_status,
                certificate_id,
                key_file,
                certificate_file,
                error,
                csr,
            ) = row.map_err(|e| self.err(e))?;
            let spec: RowSpec = serde_json::from_str(&spec)
                .map_err(|e| BulkError::Journal(format!("staged row: {e}")))?;
            out.push(Entry {
                name: name.unwrap_or_else(|| spec.name.clone()),
                spec,
                state: RowState::parse(state.as_deref()),
                intent_at,
                order_id,
                request_ids,
                request_status,
                order_status,
                certificate_id,
                key_file,
                csr,
                certificate_file,
                error,
            });
        }
        Ok(out)
    }

    /// Every row of `class`, page by page (bounded memory): calls `f` for each.
    pub fn for_each(
        &self,
        class: Class,
        mut f: impl FnMut(Entry) -> Result<(), BulkError>,
    ) -> Result<(), BulkError> {
        let mut after = 0;
        loop {
            let page = self.page(class, after, 512)?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            after = last.spec.row;
            for entry in page {
                f(entry)?;
            }
        }
    }

    /// Counts of the current roster's rows by journal state.
    pub fn counts(&self) -> Result<Vec<(RowState, u64)>, BulkError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {STATE} AS s, count(*) FROM temp.roster r
                     LEFT JOIN main.rows j ON j.row_key = r.row_key GROUP BY s"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, Option<String>>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(|e| self.err(e))?;
        let mut out: Vec<(RowState, u64)> = Vec::new();
        for row in rows {
            let (state, n) = row.map_err(|e| self.err(e))?;
            let state = RowState::parse(state.as_deref());
            match out.iter_mut().find(|(s, _)| *s == state) {
                Some((_, c)) => *c += n as u64,
                None => out.push((state, n as u64)),
            }
        }
        Ok(out)
    }

    /// The row key, name and state of the roster row holding `order_id`.
    pub fn by_order(&self, order_id: i64) -> Result<Option<(String, String, RowState)>, BulkError> {
        self.conn
            .prepare_cached("SELECT row_key, name, state FROM main.rows WHERE order_id = ?1")
            .and_then(|mut s| {
                s.query_row(params![order_id], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        RowState::parse(r.get::<_, Option<String>>(2)?.as_deref()),
                    ))
                })
                .optional()
            })
            .map_err(|e| self.err(e))
    }

    /// Whether some journaled row already holds `order_id`.
    pub fn order_known(&self, order_id: i64) -> Result<bool, BulkError> {
        Ok(self.by_order(order_id)?.is_some())
    }

    /// Queues `update` for the next commit (batches status updates of one poll).
    pub fn defer(&mut self, update: Update) {
        self.pending.push(update);
    }

    /// Number of queued updates.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Applies the queued updates and `updates` in one transaction, written to the WAL at
    /// once: it survives the process being killed (SIGKILL) at any later point, and survives
    /// power loss from the next [`Journal::commit_durable`] on (which syncs the whole WAL).
    pub fn commit(&mut self, updates: impl IntoIterator<Item = Update>) -> Result<(), BulkError> {
        self.commit_with(updates, false)
    }

    /// Like [`Journal::commit`], and synced to disk (`synchronous=FULL`) before returning:
    /// used for the intent committed before every order POST.
    pub fn commit_durable(
        &mut self,
        updates: impl IntoIterator<Item = Update>,
    ) -> Result<(), BulkError> {
        self.commit_with(updates, true)
    }

    fn commit_with(
        &mut self,
        updates: impl IntoIterator<Item = Update>,
        durable: bool,
    ) -> Result<(), BulkError> {
        let mut all = std::mem::take(&mut self.pending);
        all.extend(updates);
        if all.is_empty() {
            return Ok(());
        }
        let result = (|| -> rusqlite::Result<()> {
            if durable {
                self.conn.execute_batch("PRAGMA synchronous=FULL")?;
            }
            let tx = self.conn.transaction()?;
            let at = now();
            for u in &all {
                apply(&tx, u, &at)?;
            }
            tx.commit()?;
            if durable {
                self.conn.execute_batch("PRAGMA synchronous=NORMAL")?;
            }
            Ok(())
        })();
        result.map_err(|e| self.err(e))
    }

    /// Records an invalid roster row (for the report), keeping every error of the row.
    pub fn record_invalid(
        &mut self,
        error: &RowError,
        common_name: &str,
        emails: &[String],
    ) -> Result<(), BulkError> {
        self.conn
            .prepare_cached(
                "INSERT INTO temp.invalid (row_number, common_name, emails, error) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(row_number) DO UPDATE SET error = error || '; ' || excluded.error",
            )
            .and_then(|mut s| {
                s.execute(params![
                    error.row as i64,
                    common_name,
                    emails.join(";"),
                    format!("column {}: {}", error.column, error.reason)
                ])
            })
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// When the oldest order still waiting for a certificate was placed (RFC 3339).
    pub fn oldest_pending(&self) -> Result<Option<String>, BulkError> {
        self.conn
            .query_row(
                "SELECT min(j.intent_at) FROM temp.roster r JOIN main.rows j ON j.row_key = r.row_key
                 WHERE j.state = 'ordered'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// Report lines for every roster row (valid or not) after data row `after`, in roster order.
    pub fn report_page(&self, after: u64, limit: usize) -> Result<Vec<ReportLine>, BulkError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                &format!(
                    "SELECT * FROM (
                   SELECT r.row_number AS n, r.row_key, {STATE}, r.spec, j.order_id, j.request_ids,
                          j.request_status, j.order_status, j.certificate_id, j.key_file,
                          j.certificate_file, coalesce(r.held, j.error), NULL AS cn, NULL AS emails
                   FROM temp.roster r LEFT JOIN main.rows j ON j.row_key = r.row_key
                   UNION ALL
                   SELECT i.row_number AS n, NULL, 'invalid', NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                          NULL, i.error, i.common_name, i.emails
                   FROM temp.invalid i
                 ) WHERE n > ?1 ORDER BY n LIMIT ?2"
                ),
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![after as i64, limit as i64], |r| {
                let spec: Option<String> = r.get(3)?;
                let spec: Option<RowSpec> = spec.and_then(|s| serde_json::from_str(&s).ok());
                let state: Option<String> = r.get(2)?;
                Ok(ReportLine {
                    row: r.get::<_, i64>(0)? as u64,
                    row_id: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                    state: match state.as_deref() {
                        Some("invalid") => "invalid".to_owned(),
                        other => RowState::parse(other).as_str().to_owned(),
                    },
                    common_name: spec
                        .as_ref()
                        .map(|s| s.common_name.clone())
                        .or(r.get(12)?)
                        .unwrap_or_default(),
                    emails: spec
                        .as_ref()
                        .map(|s| s.emails.join(";"))
                        .or(r.get(13)?)
                        .unwrap_or_default(),
                    order_id: r.get(4)?,
                    request_ids: r.get(5)?,
                    request_status: r.get(6)?,
                    order_status: r.get(7)?,
                    certificate_id: r.get(8)?,
                    key_file: r.get(9)?,
                    certificate_file: r.get(10)?,
                    error: r.get(11)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Commits queued updates (if any).
    pub fn flush(&mut self) -> Result<(), BulkError> {
        self.commit(Vec::new())
    }
}

fn lowercase_emails(emails: &[String]) -> Vec<String> {
    let mut out: Vec<String> = emails
        .iter()
        .map(|e| e.trim().to_lowercase())
        .filter(|e| !e.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Holds `spec` back (sets `temp.roster.held`) when it is still to be ordered and one of
/// its emails belongs to another row already ordered, or to an earlier row of the roster;
/// then records its emails for the rows after it.
fn hold_if_similar(
    tx: &rusqlite::Transaction<'_>,
    spec: &RowSpec,
    allow_similar: bool,
) -> rusqlite::Result<()> {
    let emails = lowercase_emails(&spec.emails);
    let state: Option<String> = tx
        .prepare_cached("SELECT state FROM main.rows WHERE row_key = ?1")?
        .query_row(params![spec.key], |r| r.get(0))
        .optional()?;
    let to_order = matches!(
        state.as_deref(),
        None | Some("new" | "retry" | "post_failed")
    );
    if to_order && !allow_similar {
        let mut reason = None;
        for email in &emails {
            // Rows of earlier runs with an order (or one that may exist).
            let ordered: Option<(String, Option<i64>)> = tx
                .prepare_cached(
                    "SELECT j.common_name, j.order_id FROM temp.known_emails k
                     JOIN main.rows j ON j.row_key = k.row_key
                     WHERE k.email = ?1 AND k.row_key <> ?2 LIMIT 1",
                )?
                .query_row(params![email, spec.key], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            if let Some((cn, order_id)) = ordered {
                let order = order_id.map_or_else(
                    || "an order whose outcome is not settled".to_owned(),
                    |id| format!("order {id}"),
                );
                reason = Some(format!(
                    "possible duplicate: {email} belongs to '{cn}', already ordered ({order}); not ordered: check it, then rerun with --allow-similar to order it anyway"
                ));
                break;
            }
            let earlier: Option<i64> = tx
                .prepare_cached(
                    "SELECT row_number FROM temp.roster_emails WHERE email = ?1 AND row_key <> ?2",
                )?
                .query_row(params![email, spec.key], |r| r.get(0))
                .optional()?;
            if let Some(row) = earlier {
                reason = Some(format!(
                    "possible duplicate: {email} is also in row {row}; not ordered: check it, then rerun with --allow-similar to order it anyway"
                ));
                break;
            }
        }
        if let Some(reason) = reason {
            tx.prepare_cached("UPDATE temp.roster SET held = ?2 WHERE row_key = ?1")?
                .execute(params![spec.key, reason])?;
        }
    }
    for email in &emails {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO temp.roster_emails (email, row_key, row_number) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![email, spec.key, spec.row as i64])?;
    }
    Ok(())
}

fn apply(tx: &rusqlite::Transaction<'_>, u: &Update, at: &str) -> rusqlite::Result<()> {
    match u {
        Update::Intent {
            spec,
            key_file,
            csr_file,
            csr,
        } => {
            tx.prepare_cached(
                "INSERT INTO rows (row_key, state, row_number, product, common_name, emails, name,
                                   intent_at, attempts, key_file, csr_file, csr, updated_at)
                 VALUES (?1, 'intent', ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?9, ?10, ?7)
                 ON CONFLICT(row_key) DO UPDATE SET state = 'intent', intent_at = ?7,
                     attempts = attempts + 1, error = NULL, row_number = ?2,
                     key_file = ?8, csr_file = ?9, csr = ?10, updated_at = ?7",
            )?
            .execute(params![
                spec.key,
                spec.row as i64,
                spec.product.to_string(),
                spec.common_name,
                spec.emails.join(";"),
                spec.name,
                at,
                key_file,
                csr_file,
                csr
            ])?;
        }
        Update::Ordered {
            key,
            order_id,
            request_ids,
            request_status,
            order_status,
            certificate_id,
        } => {
            tx.prepare_cached(
                "UPDATE rows SET state = 'ordered', order_id = ?2, request_ids = ?3,
                     request_status = ?4, order_status = coalesce(?5, order_status),
                     certificate_id = ?6, error = NULL, updated_at = ?7 WHERE row_key = ?1",
            )?
            .execute(params![
                key,
                order_id,
                request_ids,
                request_status,
                order_status,
                certificate_id,
                at
            ])?;
        }
        Update::Unknown { key, error } => {
            tx.prepare_cached(
                "UPDATE rows SET state = 'unknown', error = ?2, updated_at = ?3 WHERE row_key = ?1",
            )?
            .execute(params![key, error, at])?;
        }
        Update::Refused { key, error } => {
            tx.prepare_cached(
                "UPDATE rows SET state = 'post_failed', error = ?2, updated_at = ?3 WHERE row_key = ?1",
            )?
            .execute(params![key, error, at])?;
        }
        Update::Retry { key } => {
            tx.prepare_cached(
                "UPDATE rows SET state = 'retry', error = NULL, updated_at = ?2 WHERE row_key = ?1",
            )?
            .execute(params![key, at])?;
        }
        Update::Status {
            order_id,
            order_status,
            certificate_id,
            failed,
        } => {
            tx.prepare_cached(
                "UPDATE rows SET order_status = ?2, certificate_id = coalesce(?3, certificate_id),
                     state = CASE WHEN ?4 IS NOT NULL AND state = 'ordered' THEN 'failed' ELSE state END,
                     error = coalesce(?4, error), updated_at = ?5
                 WHERE order_id = ?1",
            )?
            .execute(params![order_id, order_status, certificate_id, failed, at])?;
        }
        Update::Downloaded { key, file } => {
            tx.prepare_cached(
                "UPDATE rows SET state = 'done', certificate_file = ?2, order_status = coalesce(order_status, 'issued'),
                     error = NULL, updated_at = ?3 WHERE row_key = ?1",
            )?
            .execute(params![key, file, at])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use certcentral_types::ProductId;

    fn spec(row: u64, cn: &str) -> RowSpec {
        let emails = vec![format!("{}@example.com", cn.to_lowercase())];
        RowSpec {
            key: super::super::spec::row_key(None, ProductId::ClientPremiumSha2, cn, &emails),
            row,
            line: row + 1,
            product: ProductId::ClientPremiumSha2,
            common_name: cn.into(),
            emails,
            organization_units: vec![],
            validity_years: Some(1),
            custom_expiration_date: None,
            csr: None,
            name: cn.to_lowercase(),
        }
    }

    #[test]
    fn second_open_is_refused_while_locked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.sqlite");
        let first = Journal::open(&path).unwrap();
        assert!(matches!(Journal::open(&path), Err(BulkError::Locked(_))));
        drop(first);
        Journal::open(&path).unwrap();
    }

    #[test]
    fn states_survive_reopen_and_duplicates_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.sqlite");
        {
            let mut j = Journal::open(&path).unwrap();
            let errors = j
                .stage(&[spec(1, "A"), spec(2, "B"), spec(3, "A")], false)
                .unwrap();
            assert_eq!(errors.len(), 1);
            assert_eq!(errors[0].row, 3);
            assert!(
                errors[0].reason.contains("same person as row 1"),
                "{}",
                errors[0]
            );
            j.commit([Update::Intent {
                spec: spec(1, "A"),
                key_file: None,
                csr_file: None,
                csr: None,
            }])
            .unwrap();
            j.defer(Update::Ordered {
                key: spec(1, "A").key,
                order_id: 77,
                request_ids: "5".into(),
                request_status: Some("approved".into()),
                order_status: None,
                certificate_id: Some(9),
            });
            j.commit([Update::Intent {
                spec: spec(2, "B"),
                key_file: None,
                csr_file: None,
                csr: None,
            }])
            .unwrap();
        }
        let mut j = Journal::open(&path).unwrap();
        // Reordered roster: identities, not positions, matter.
        assert!(
            j.stage(&[spec(1, "B"), spec(2, "A"), spec(3, "C")], false)
                .unwrap()
                .is_empty()
        );
        let all = j.page(Class::All, 0, 10).unwrap();
        let states: Vec<_> = all
            .iter()
            .map(|e| (e.spec.common_name.as_str(), e.state))
            .collect();
        assert_eq!(
            states,
            vec![
                ("B", RowState::Intent),
                ("A", RowState::Ordered),
                ("C", RowState::New)
            ]
        );
        assert_eq!(all[1].order_id, Some(77));
        assert_eq!(j.page(Class::Reconcile, 0, 10).unwrap().len(), 1);
        assert_eq!(j.page(Class::New, 0, 10).unwrap().len(), 1);
        assert_eq!(j.by_order(77).unwrap().unwrap().2, RowState::Ordered);
        j.commit([Update::Status {
            order_id: 77,
            order_status: "rejected".into(),
            certificate_id: None,
            failed: Some("rejected".into()),
        }])
        .unwrap();
        assert_eq!(j.by_order(77).unwrap().unwrap().2, RowState::Failed);
    }

    #[test]
    fn name_of_another_journaled_row_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.sqlite");
        let mut j = Journal::open(&path).unwrap();
        j.stage(&[spec(1, "A")], false).unwrap();
        j.commit([Update::Intent {
            spec: spec(1, "A"),
            key_file: None,
            csr_file: None,
            csr: None,
        }])
        .unwrap();
        drop(j);
        let mut j = Journal::open(&path).unwrap();
        let mut other = spec(1, "Z");
        other.name = "a".into();
        let errors = j.stage(&[other], false).unwrap();
        assert_eq!(errors[0].column, "name");
    }
}
