//! The journal: a SQLite file (WAL) that records, per roster row, the intent to order
//! **before** the order POST (synced to disk, `synchronous=FULL`), then the order id and
//! request ids right after it, then status changes and downloaded files.
//!
//! One connection holds an exclusive lock for the whole run, so a second run on the same
//! journal is refused. The roster of the current run is staged in a temporary table (on
//! disk, not in memory) and every pass over it is a paged query, so memory stays bounded
//! whatever the roster's size.
//!
//! # Format (schema version 3, `PRAGMA user_version`)
//!
//! One table, `rows`, one line per roster row ever ordered (or about to be):
//!
//! - `row_key`: the row's identity, [`super::spec::row_key`]: `id:<id>`, or `h:` and a
//!   digest (SHA-256, 128 bits, hex) of the canonical JSON array
//!   `["<product>","<common name>",["<email>",…]]` (normalized) — for a row without a common
//!   name, its person (`{"first_name",…}`) in its place ([`super::spec::person_key`]);
//! - `state`: a stored [`RowState`], exactly its text ([`RowState::as_str`]), enforced by a
//!   `CHECK` constraint: `new`, `intent`, `unknown`, `ordered`, `done`, `failed`, `refused`
//!   and, since version 3, `revoke_pending`, `revoked`, `revoke_requested`
//!   (`possible_duplicate` is never stored: it is decided afresh on every run);
//! - `product`, `common_name`, `emails` (a JSON array of strings): as the last intent's order
//!   POST carried them (reconciliation looks for exactly these); `name`: the output name of
//!   the first intent (files exist under it); `request_ids`: a JSON array of integers;
//! - `intent_at`, `attempts`, `order_id`, `request_status`, `order_status`, `certificate_id`,
//!   `key_file`, `csr_file`, `csr`, `certificate_file`, `error`, `updated_at`;
//! - since version 3: `valid_till` (the current certificate's end, RFC 3339 UTC to the
//!   second, so it compares as text; read from the certificate at download, or from the order
//!   info for rows journaled before), `serial` (hex), `renewal_of` (the order the row's latest
//!   order renews) and `revoke_request_id` (a revoke request waiting for approval).
//!
//! A renewal (`--renew-within`) reuses the row's line: [`Update::RenewalIntent`] records
//! `renewal_of` = the current `order_id`, the renewal's output name
//! (`<first name>-renewal-<old order id>`), the new key's CSR and what the renewal carries,
//! in state `intent`, before the POST; the row keeps the old `order_id` until the renewal is
//! answered, so reconciliation never takes the old order for the renewal
//! ([`Journal::order_known`] also knows `renewal_of`). A row to be ordered (`new`, `refused`)
//! that holds an order id is the renewal of that order ([`Entry::renews`]): it is sent again
//! as a renewal, never as a first order. After the renewal's certificate is downloaded the
//! row is `done` with the new certificate's `valid_till`, so it is not renewed again until
//! that one nears its end.
//!
//! Text that is not a state is an error naming the row, never a guess.
//!
//! # State machine
//!
//! ```text
//!     done ─RenewalIntent (--renew-within)─▶ intent   (then as below, as a renewal)
//!     done ─RevokeIntent (--revoke-removed)─▶ revoke_pending ─RevokeDone─▶ revoked | revoke_requested
//!  (no line) ─Intent─▶ intent ─Ordered─▶ ordered ─Downloaded─▶ done
//!      new   ─Intent─▶   │  │               │
//!  refused   ─Intent─▶   │  │               └─Status (final, no certificate)─▶ failed
//!                        │  ├─Unknown─▶ unknown ─(reconciled: found, Ordered)─▶ ordered
//!                        │  └─Refused─▶ refused
//!  intent, unknown ─Retry (reconciled: no order; or provably not sent)─▶ new
//! ```
//!
//! `new` and `refused` rows (and rows with no line) are ordered again ([`Update::Intent`]);
//! `intent` and `unknown` rows are reconciled against the server before anything is
//! ordered; a row to order that shares an email with an ordered row is reported as
//! `possible_duplicate` and not ordered (unless `--allow-similar`).
//!
//! `revoke_pending` rows are looked up in the order info before anything is sent again
//! (see [`super::revoke`]); `revoked` and `revoke_requested` rows are final, and their emails
//! do not make a new row a possible duplicate.
//!
//! # Migration from version 2
//!
//! Opening a version-2 journal copies its lines into the version-3 table (SQLite cannot
//! change a `CHECK` constraint in place) in one transaction; the new columns start empty.
//!
//! # Migration from version 1
//!
//! Version 1 stored `retry` (now `new`) and `post_failed` (now `refused`), `;`-joined emails
//! and request ids, and row keys `<product>|<common name>|<emails>` (ambiguous when a name
//! holds `|`). Opening a version-1 journal rewrites it in one transaction: every key is
//! recomputed from the line's own product, common name and emails, after checking that the
//! old key is exactly what version 1 derived from them (so each line keeps its identity);
//! `id:` keys are kept. An unknown state, an unparsable request id or a key that does not
//! match its columns stops the migration with an error naming the row, and leaves the file
//! untouched.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

use super::BulkError;
use super::roster::RowError;
use super::seen::Seen;
use super::spec::{RowSpec, identity_key, normalize_common_name, normalize_emails};

/// Schema version written to `PRAGMA user_version`.
pub(crate) const SCHEMA_VERSION: i64 = 3;

/// The `rows` table of schema version 3 (`{STORED}`: the stored states, quoted).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS rows (
    row_key TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ({STORED})),
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
    updated_at TEXT NOT NULL,
    valid_till TEXT,
    serial TEXT,
    renewal_of INTEGER,
    revoke_request_id INTEGER
);
CREATE INDEX IF NOT EXISTS rows_order_id ON rows(order_id);
CREATE INDEX IF NOT EXISTS rows_name ON rows(name);
CREATE INDEX IF NOT EXISTS rows_renewal_of ON rows(renewal_of);
";

/// The columns of schema version 2 (also those of version 1, with other contents).
const V2_COLUMNS: &str = "row_key, state, row_number, product, common_name, emails, name,
    intent_at, attempts, order_id, request_ids, request_status, order_status, certificate_id,
    key_file, csr_file, csr, certificate_file, error, updated_at";

/// The schema with the stored states filled in.
fn schema() -> String {
    SCHEMA.replace("{STORED}", &sql_list(&RowState::STORED))
}

/// SQL: whether journal row `j` is a renewal candidate: finished, with a certificate that
/// ends at or before `until` (Unix seconds).
fn renew_sql(until: i64) -> String {
    let until = chrono::DateTime::from_timestamp(until, 0)
        .map(stamp)
        .unwrap_or_default();
    format!(
        "j.state = '{}' AND j.valid_till IS NOT NULL AND j.valid_till <= '{until}'",
        RowState::Done.as_str()
    )
}

/// SQL: `'a','b'` for `states`.
fn sql_list(states: &[RowState]) -> String {
    states
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(",")
}

/// SQL: whether journal row `j` is (still) to be ordered.
fn to_order_sql() -> String {
    format!(
        "(j.state IS NULL OR j.state IN ({}))",
        sql_list(&RowState::TO_ORDER)
    )
}

/// SQL: the state of a staged row `r` joined with its journal row `j`: the journal's, or
/// `possible_duplicate` for a row held back and not ordered (NULL: no journal line, `new`).
fn state_sql() -> String {
    format!(
        "CASE WHEN r.held IS NOT NULL AND {} THEN '{}' ELSE j.state END",
        to_order_sql(),
        RowState::PossibleDuplicate.as_str()
    )
}

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
    /// The order ended without a certificate (rejected, canceled, …), or its certificate
    /// carries another public key than the row's key or CSR (nothing was written).
    Failed,
    /// The server refused the order POST (nothing was ordered); a rerun tries again.
    Refused,
    /// A new row with an email address of a row already ordered (or of an earlier row of
    /// the roster): held back, not ordered, unless `--allow-similar`. Never stored in the
    /// journal: decided afresh on every run.
    PossibleDuplicate,
    /// `--revoke-removed`: the revocation of the row's order is journaled and about to be
    /// sent (or was sent and its answer is not recorded): looked up before anything is sent
    /// again.
    RevokePending,
    /// The row's order is revoked.
    Revoked,
    /// A revoke request for the row's order exists and waits for an approver (its id is
    /// journaled): done as far as `bulk` is concerned.
    RevokeRequested,
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
            Self::RevokePending => "revoke_pending",
            Self::Revoked => "revoked",
            Self::RevokeRequested => "revoke_requested",
        }
    }

    /// Every state.
    pub(crate) const ALL: [Self; 11] = [
        Self::New,
        Self::Intent,
        Self::Unknown,
        Self::Ordered,
        Self::Done,
        Self::Failed,
        Self::Refused,
        Self::PossibleDuplicate,
        Self::RevokePending,
        Self::Revoked,
        Self::RevokeRequested,
    ];

    /// The states a journal line may hold (all but `possible_duplicate`).
    pub(crate) const STORED: [Self; 10] = [
        Self::New,
        Self::Intent,
        Self::Unknown,
        Self::Ordered,
        Self::Done,
        Self::Failed,
        Self::Refused,
        Self::RevokePending,
        Self::Revoked,
        Self::RevokeRequested,
    ];

    /// Stored states of rows whose order is revoked (or whose revoke request exists): their
    /// emails may be given to someone else without being a possible duplicate.
    const REVOKED: [Self; 2] = [Self::Revoked, Self::RevokeRequested];

    /// Stored states of rows to be ordered (with rows not in the journal).
    const TO_ORDER: [Self; 2] = [Self::New, Self::Refused];

    /// The state whose text is `s`.
    pub(crate) fn from_text(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }
}

/// The state read for row `key`: `None` (no journal line) is `new`; text that is no state
/// is an error naming the row.
fn parse_state(text: Option<&str>, key: &str) -> rusqlite::Result<RowState> {
    match text {
        None => Ok(RowState::New),
        Some(t) => {
            RowState::from_text(t).ok_or_else(|| corrupt(key, &format!("unknown state '{t}'")))
        }
    }
}

/// Request ids read for row `key` (a JSON array of integers).
fn parse_ids(text: Option<&str>, key: &str) -> rusqlite::Result<Vec<i64>> {
    match text {
        None => Ok(Vec::new()),
        Some(t) => serde_json::from_str(t).map_err(|e| {
            corrupt(
                key,
                &format!("request_ids '{t}' are not a JSON array of integers: {e}"),
            )
        }),
    }
}

/// Emails read for row `key` (a JSON array of strings).
fn parse_emails(text: &str, key: &str) -> rusqlite::Result<Vec<String>> {
    serde_json::from_str(text).map_err(|e| {
        corrupt(
            key,
            &format!("emails '{text}' are not a JSON array of strings: {e}"),
        )
    })
}

/// A journal line that this version cannot read (carried as a rusqlite error, displayed
/// as just this message).
fn corrupt(key: &str, what: &str) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(
        format!(
            "journal row {key}: {what}; the journal is damaged or was written by another program"
        )
        .into(),
    )
}

/// One journal change. Changes are applied in order, in one transaction per commit.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Update {
    /// About to POST the order for this row (committed durably before the POST).
    Intent {
        /// The row.
        spec: RowSpec,
        /// Key file that will be written, if any.
        key_file: Option<String>,
        /// CSR file: the one written beside the key, or the row's own CSR file.
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
        /// Request ids.
        request_ids: Vec<i64>,
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
        /// The certificate's end of validity (RFC 3339, UTC), when it could be read.
        valid_till: Option<String>,
        /// The certificate's serial number (hex), when it could be read.
        serial: Option<String>,
    },
    /// About to POST the renewal of the row's current order `renewal_of` (committed durably
    /// before the POST, like [`Update::Intent`]). The row keeps its order id until the
    /// renewal is answered; its output name becomes `name` (new files, never the first
    /// certificate's).
    RenewalIntent {
        /// Row key.
        key: String,
        /// The order renewed (the row's current order).
        renewal_of: i64,
        /// Output name of the renewal's key, CSR and certificate.
        name: String,
        /// Product of the renewal order (the original's, from its order info).
        product: String,
        /// Common name the renewal carries.
        common_name: String,
        /// Emails the renewal carries.
        emails: Vec<String>,
        /// Key file that will be written.
        key_file: Option<String>,
        /// CSR file written beside the key.
        csr_file: Option<String>,
        /// The CSR sent.
        csr: Option<String>,
    },
    /// The end of validity of the row's current certificate, from the API's order info (a
    /// journal written before it was recorded at download).
    Expiry {
        /// Row key.
        key: String,
        /// End of validity (RFC 3339, UTC).
        valid_till: String,
        /// Serial number (hex), when known.
        serial: Option<String>,
    },
    /// Something went wrong for a row without changing its state (e.g. a renewal that could
    /// not be prepared: nothing was sent).
    Note {
        /// Row key.
        key: String,
        /// What happened.
        error: String,
    },
    /// About to revoke the row's order (committed durably before the request is sent).
    RevokeIntent {
        /// Row key.
        key: String,
    },
    /// The revocation is done: revoked at once, or a revoke request exists.
    RevokeDone {
        /// Row key.
        key: String,
        /// The pending revoke request, when one waits for approval (`None`: revoked).
        request_id: Option<i64>,
        /// Whether a revoke request (rather than the revocation itself) is in place.
        requested: bool,
    },
}

/// A row of the current roster with what the journal knows about it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
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
    /// Request ids.
    pub request_ids: Vec<i64>,
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
    /// The common name and emails the last intent's order POST carried (`None` before the
    /// first intent): what reconciliation looks for.
    pub sent: Option<(String, Vec<String>)>,
    /// Certificate file.
    pub certificate_file: Option<String>,
    /// Last error.
    pub error: Option<String>,
    /// The order the row's latest order renews (or, while the row is to be ordered again
    /// with this order id still recorded, is renewing).
    pub renewal_of: Option<i64>,
    /// End of validity of the row's current certificate (RFC 3339, UTC), when known.
    pub valid_till: Option<String>,
    /// The product the last intent's order POST was for (a renewal's is the original's,
    /// whatever the roster says now): what reconciliation looks for.
    pub sent_product: Option<String>,
}

/// The columns of a row's order that both paged queries ([`Journal::page`],
/// [`Journal::report_page`]) select, at positions 4 to 11 ([`OrderColumns::read`]).
const ORDER_COLUMNS: &str = "j.order_id, j.request_ids, j.request_status, j.order_status,
    j.certificate_id, j.key_file, j.certificate_file, coalesce(r.held, j.error)";

/// A row's [`ORDER_COLUMNS`], as stored.
struct OrderColumns {
    order_id: Option<i64>,
    /// A JSON array of integers.
    request_ids: Option<String>,
    request_status: Option<String>,
    order_status: Option<String>,
    certificate_id: Option<i64>,
    key_file: Option<String>,
    certificate_file: Option<String>,
    /// The row's error, or why it is held back.
    error: Option<String>,
}

impl OrderColumns {
    /// Reads [`ORDER_COLUMNS`] at positions 4 to 11.
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            order_id: r.get(4)?,
            request_ids: r.get(5)?,
            request_status: r.get(6)?,
            order_status: r.get(7)?,
            certificate_id: r.get(8)?,
            key_file: r.get(9)?,
            certificate_file: r.get(10)?,
            error: r.get(11)?,
        })
    }
}

/// One row of [`Journal::page`]'s query, as stored (columns in the query's order).
struct PageRow {
    spec: String,
    state: Option<String>,
    name: Option<String>,
    intent_at: Option<String>,
    order: OrderColumns,
    csr: Option<String>,
    sent_common_name: Option<String>,
    sent_emails: Option<String>,
    renewal_of: Option<i64>,
    valid_till: Option<String>,
    sent_product: Option<String>,
}

impl PageRow {
    /// Reads the query's columns.
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            spec: r.get(0)?,
            state: r.get(1)?,
            name: r.get(2)?,
            intent_at: r.get(3)?,
            order: OrderColumns::read(r)?,
            csr: r.get(12)?,
            sent_common_name: r.get(13)?,
            sent_emails: r.get(14)?,
            renewal_of: r.get(15)?,
            valid_till: r.get(16)?,
            sent_product: r.get(17)?,
        })
    }

    /// The [`Entry`]: the staged spec, state, request ids and sent emails parsed (an error
    /// names the row).
    fn into_entry(self, journal: &Journal) -> Result<Entry, BulkError> {
        let spec: RowSpec = serde_json::from_str(&self.spec)
            .map_err(|e| BulkError::Journal(format!("staged row: {e}")))?;
        let state = parse_state(self.state.as_deref(), &spec.key).map_err(|e| journal.err(e))?;
        let request_ids =
            parse_ids(self.order.request_ids.as_deref(), &spec.key).map_err(|e| journal.err(e))?;
        let sent = match (self.sent_common_name, self.sent_emails) {
            (Some(cn), Some(emails)) => Some((
                cn,
                parse_emails(&emails, &spec.key).map_err(|e| journal.err(e))?,
            )),
            _ => None,
        };
        Ok(Entry {
            name: self.name.unwrap_or_else(|| spec.name.clone()),
            spec,
            state,
            intent_at: self.intent_at,
            order_id: self.order.order_id,
            request_ids,
            request_status: self.order.request_status,
            order_status: self.order.order_status,
            certificate_id: self.order.certificate_id,
            key_file: self.order.key_file,
            csr: self.csr,
            sent,
            certificate_file: self.order.certificate_file,
            error: self.order.error,
            renewal_of: self.renewal_of,
            valid_till: self.valid_till,
            sent_product: self.sent_product,
        })
    }
}

impl Entry {
    /// The order this row is to renew: a row to be ordered (again) that already holds an
    /// order id is the renewal of that order (a first order has none until it is answered).
    pub(crate) fn renews(&self) -> Option<i64> {
        match self.state {
            RowState::New | RowState::Refused | RowState::Intent | RowState::Unknown => {
                self.order_id
            }
            RowState::Done => self.order_id,
            _ => None,
        }
    }
}

/// A journaled row whose identity is no longer on the roster, with an order to revoke
/// (`--revoke-removed`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Removed {
    /// Row key (the journal's identity of the person).
    pub row_id: String,
    /// Journal state: `done`, or `revoke_pending` (its revocation may have been sent).
    pub state: RowState,
    /// Common name.
    pub common_name: String,
    /// Emails.
    pub emails: Vec<String>,
    /// The order to revoke.
    pub order_id: i64,
    /// Certificate id, when known.
    pub certificate_id: Option<i64>,
    /// Serial number (hex), when known.
    pub serial: Option<String>,
    /// End of validity (RFC 3339, UTC), when known.
    pub valid_till: Option<String>,
    /// The order the row's order renews: its certificate may still be valid, and is revoked
    /// too.
    pub renewal_of: Option<i64>,
}

/// What the journal holds about a row's key, recorded with its last intent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SentKey {
    /// The private key file written for the row (none for a row with its own CSR).
    pub key_file: Option<String>,
    /// The CSR file: the one written beside the key, or the row's own CSR file.
    pub csr_file: Option<String>,
    /// The CSR sent with the order.
    pub csr: Option<String>,
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
    /// The order the row's latest order renews.
    pub renewal_of_order_id: Option<i64>,
    /// End of validity of the row's current certificate (RFC 3339, UTC).
    pub valid_till: Option<String>,
}

/// Which roster rows a paged query returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
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
    /// Finished rows whose certificate ends at or before this time (Unix seconds): the
    /// renewal candidates of `--renew-within`.
    Renew {
        /// The window's end (Unix seconds, UTC).
        until: i64,
    },
    /// Finished rows whose certificate's end of validity is not recorded (journals written
    /// before version 3).
    NoExpiry,
}

impl Class {
    /// The SQL condition on `r` (the staged roster) and `j` (the journal's rows) selecting
    /// the class's rows.
    fn filter(self) -> String {
        use RowState as S;
        match self {
            Self::New => format!("{} AND r.held IS NULL", to_order_sql()),
            Self::Reconcile => format!("j.state IN ({})", sql_list(&[S::Intent, S::Unknown])),
            // Rows back to `new` after an intent: reconciliation found no order, or the POST
            // provably did not reach the server (not rows refused in this run).
            Self::Retry => format!("j.state = '{}' AND r.held IS NULL", S::New.as_str()),
            Self::Follow => format!("j.state = '{}'", S::Ordered.as_str()),
            Self::Pending => format!(
                "j.state = '{}' AND j.certificate_id IS NULL",
                S::Ordered.as_str()
            ),
            Self::Renew { until } => renew_sql(until),
            Self::NoExpiry => format!(
                "j.state = '{}' AND j.valid_till IS NULL AND j.order_id IS NOT NULL",
                S::Done.as_str()
            ),
        }
    }
}

/// The journal's time format (RFC 3339, UTC, seconds): also used for `valid_till`, so
/// times compare as text.
pub(crate) fn stamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The open journal (holding the run lock).
pub struct Journal {
    conn: Connection,
    path: Option<PathBuf>,
    pending: Vec<Update>,
    /// The rows staged in this run ([`Journal::stage_batch`]).
    seen: Seen,
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
            seen: Seen::default(),
        };
        journal.init().map_err(jerr)?;
        Ok(journal)
    }

    /// A throw-away journal (a private temporary database), for a dry run with no journal.
    pub(crate) fn open_temporary() -> Result<Self, BulkError> {
        let conn = Connection::open("").map_err(|e| BulkError::Journal(e.to_string()))?;
        let mut journal = Self {
            conn,
            path: None,
            pending: Vec::new(),
            seen: Seen::default(),
        };
        journal
            .init()
            .map_err(|e| BulkError::Journal(e.to_string()))?;
        Ok(journal)
    }

    fn init(&mut self) -> rusqlite::Result<()> {
        // The staging tables (`temp.*`) live for one run and are never read after a crash:
        // their rollback journal stays in memory (a statement or a batch can still be rolled
        // back; staging appends rows, so it holds the few pages a batch changes), and
        // staging writes only the pages that spill from the cache, once (a journal file cost
        // three writes per page changed). 8 KiB pages spill and read back fewer pages. The
        // appended tables need no more than 1 MB of cache: staging keeps no index (see
        // [`Seen`]), and the later passes read the roster in order.
        self.conn.execute_batch(
            "PRAGMA synchronous=FULL; PRAGMA temp_store=FILE;
             PRAGMA temp.page_size=8192; PRAGMA temp.journal_mode=MEMORY;
             PRAGMA temp.cache_size=-1024;",
        )?;
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(rusqlite::Error::InvalidParameterName(format!(
                "journal schema version {version} is newer than this certcentral supports ({SCHEMA_VERSION})"
            )));
        }
        let tx = self.conn.transaction()?;
        match version {
            1 => migrate_v1(&tx)?,
            2 => migrate_v2(&tx)?,
            _ => {}
        }
        tx.execute_batch(&schema())?;
        tx.execute_batch(&format!("PRAGMA user_version={SCHEMA_VERSION}"))?;
        tx.commit()?;
        self.conn.execute_batch(
            "DROP TABLE IF EXISTS temp.roster;
             CREATE TEMP TABLE roster (
                 row_number INTEGER PRIMARY KEY,
                 row_key TEXT NOT NULL,
                 name TEXT NOT NULL,
                 spec TEXT NOT NULL,
                 held TEXT
             );
             DROP TABLE IF EXISTS temp.known_emails;
             CREATE TEMP TABLE known_emails (email TEXT NOT NULL, row_key TEXT NOT NULL);
             CREATE INDEX temp.known_emails_email ON known_emails(email);
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
            let mut rows = tx.prepare(&format!(
                "SELECT row_key, emails FROM main.rows WHERE state NOT IN ({}, {})",
                sql_list(&RowState::TO_ORDER),
                sql_list(&RowState::REVOKED)
            ))?;
            let mut insert =
                tx.prepare("INSERT INTO temp.known_emails (email, row_key) VALUES (?1, ?2)")?;
            let mut it = rows.query([])?;
            while let Some(row) = it.next()? {
                let key: String = row.get(0)?;
                let emails: String = row.get(1)?;
                let emails = parse_emails(&emails, &key)?;
                for email in lowercase_emails(&emails) {
                    insert.execute(params![email, key])?;
                }
            }
        }
        tx.commit()
    }

    /// The journal file, `None` for a temporary one.
    pub(crate) fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn err(&self, e: rusqlite::Error) -> BulkError {
        let path = self
            .path
            .as_ref()
            .map_or_else(|| "journal".to_owned(), |p| p.display().to_string());
        BulkError::Journal(format!("{path}: {e}"))
    }

    /// Stages a batch of valid roster rows (one transaction). A row whose output name belongs
    /// to another journaled row, or whose row number is staged already, comes back as an
    /// error instead. Rows that repeat an earlier row's identity or output name are refused,
    /// and rows sharing an email are held back, by [`Journal::finish_staging`], once the
    /// whole roster is staged.
    ///
    /// Unless `allow_similar`, the first email of a row still to be ordered that a row
    /// ordered in an earlier run holds (any journaled row with an order, or whose order may
    /// exist) is noted for that hold here: the journal's rows are looked up per batch.
    ///
    /// The journal lookups are set-based: one query per batch asks the journal about every
    /// key and name of the batch; only the insert is per row.
    pub(crate) fn stage_batch<R: Staging>(
        &mut self,
        rows: &[R],
        allow_similar: bool,
    ) -> Result<Vec<RowError>, BulkError> {
        let jerr = |e: rusqlite::Error| BulkError::Journal(e.to_string());
        let mut errors = Vec::new();
        let tx = self.conn.transaction().map_err(jerr)?;
        {
            let known = journal_rows(&tx, rows.iter().map(Staging::spec)).map_err(jerr)?;
            let check_ordered = !allow_similar
                && tx
                    .prepare_cached("SELECT EXISTS (SELECT 1 FROM temp.known_emails)")
                    .and_then(|mut s| s.query_row([], |r| r.get::<_, bool>(0)))
                    .map_err(jerr)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO temp.roster (row_key, row_number, name, spec) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(jerr)?;
            for row in rows {
                let spec = row.spec();
                let recorded = known.by_key.get(spec.key.as_str());
                let name = match known.name_of(spec) {
                    Ok(name) => name,
                    Err(e) => {
                        errors.push(e);
                        continue;
                    }
                };
                let text = if name == spec.name {
                    row.json()
                } else {
                    let mut renamed = spec.clone();
                    renamed.name = name.to_owned();
                    serde_json::to_string(&renamed).map(std::borrow::Cow::Owned)
                }
                .map_err(|e| BulkError::Journal(e.to_string()))?;
                match insert.execute(params![spec.key, spec.row as i64, name, text]) {
                    Ok(_) => {}
                    Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
                        errors.push(spec.error(
                            "-",
                            format!(
                                "row {} is staged twice; each roster row is read once",
                                spec.row
                            ),
                        ));
                        continue;
                    }
                    Err(e) => return Err(BulkError::Journal(e.to_string())),
                }
                let state = recorded.and_then(|(_, state)| state.as_deref());
                let to_order =
                    RowState::TO_ORDER.contains(&parse_state(state, &spec.key).map_err(jerr)?);
                let emails = lowercase_emails(&spec.emails);
                let index = self
                    .seen
                    .add(spec.row, (&spec.key, name), to_order, &emails)
                    .ok_or_else(|| BulkError::Journal("too many roster rows".into()))?;
                if check_ordered
                    && to_order
                    && let Some((position, reason)) =
                        ordered_email(&tx, &spec.key, &emails).map_err(jerr)?
                {
                    self.seen.ordered_email(index, position, reason);
                }
            }
        }
        tx.commit().map_err(jerr)?;
        Ok(errors)
    }

    /// Ends staging: refuses each staged row that repeats the identity or output name of an
    /// earlier row (removed from the roster; returned with its common name and emails, for
    /// the report) and, unless `allow_similar`, holds back (sets `temp.roster.held`) each row
    /// still to be ordered whose emails include one of another row already ordered, or of an
    /// earlier row of the roster: the first such email (in sorted order) decides the reason.
    ///
    /// Compares the fingerprints [`Seen`] kept; only rows sharing one are read back and
    /// compared on their text, in roster order. Staging more rows and finishing again checks
    /// them against every row staged before.
    pub(crate) fn finish_staging(
        &mut self,
        allow_similar: bool,
    ) -> Result<Vec<Refused>, BulkError> {
        let jerr = |e: rusqlite::Error| BulkError::Journal(e.to_string());
        let tx = self.conn.transaction().map_err(jerr)?;
        let (dropped, refused) = refuse_repeats(&tx, &self.seen)?;
        self.seen.refuse(&dropped);
        if !allow_similar {
            hold_similar(&tx, &self.seen)?;
        }
        tx.commit().map_err(jerr)?;
        Ok(refused)
    }

    /// [`Journal::stage_batch`] then [`Journal::finish_staging`]: every error, the refused
    /// rows' last.
    #[cfg(test)]
    pub(crate) fn stage<R: Staging>(
        &mut self,
        rows: &[R],
        allow_similar: bool,
    ) -> Result<Vec<RowError>, BulkError> {
        let mut errors = self.stage_batch(rows, allow_similar)?;
        errors.extend(
            self.finish_staging(allow_similar)?
                .into_iter()
                .map(|r| r.error),
        );
        Ok(errors)
    }

    /// Up to `limit` roster rows of `class` after data row `after`, in roster order.
    pub(crate) fn page(
        &self,
        class: Class,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Entry>, BulkError> {
        self.page_where(&class.filter(), after, limit)
    }

    /// The first `limit` roster rows after row number `after` matching the SQL `filter`.
    fn page_where(&self, filter: &str, after: u64, limit: usize) -> Result<Vec<Entry>, BulkError> {
        let state = state_sql();
        let sql = format!(
            "SELECT r.spec, {state}, j.name, j.intent_at, {ORDER_COLUMNS}, j.csr, j.common_name,
                    j.emails, j.renewal_of, j.valid_till, j.product
             FROM temp.roster r LEFT JOIN main.rows j ON j.row_key = r.row_key
             WHERE r.row_number > ?1 AND {filter} ORDER BY r.row_number LIMIT ?2"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![after as i64, limit as i64], PageRow::read)
            .map_err(|e| self.err(e))?;
        rows.map(|row| row.map_err(|e| self.err(e))?.into_entry(self))
            .collect()
    }

    /// How many roster rows [`Class::Renew`] `until` holds (the renewals a run would place).
    pub(crate) fn count_renewals(&self, until: i64) -> Result<u64, BulkError> {
        self.conn
            .query_row(
                &format!(
                    "SELECT count(*) FROM temp.roster r JOIN main.rows j ON j.row_key = r.row_key
                     WHERE {}",
                    renew_sql(until)
                ),
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }

    /// Journaled rows whose identity is not on the staged roster and whose order is to be
    /// revoked (`done`) or is being revoked (`revoke_pending`), in the order they were
    /// first ordered.
    pub(crate) fn removed(&self) -> Result<Vec<Removed>, BulkError> {
        // Staging keeps no index on the roster's identities (see [`Seen`]); this query
        // looks every journaled row up in it.
        self.conn
            .execute_batch("CREATE INDEX IF NOT EXISTS temp.roster_key ON roster(row_key)")
            .map_err(|e| self.err(e))?;
        let sql = format!(
            "SELECT j.row_key, j.state, j.common_name, j.emails, j.order_id, j.certificate_id,
                    j.serial, j.valid_till, j.renewal_of
             FROM main.rows j
             WHERE j.order_id IS NOT NULL AND j.state IN ({})
               AND NOT EXISTS (SELECT 1 FROM temp.roster r WHERE r.row_key = j.row_key)
             ORDER BY j.intent_at, j.row_key",
            sql_list(&[RowState::Done, RowState::RevokePending])
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                let key: String = r.get(0)?;
                let state = parse_state(r.get::<_, Option<String>>(1)?.as_deref(), &key)?;
                let emails = parse_emails(&r.get::<_, String>(3)?, &key)?;
                Ok(Removed {
                    state,
                    common_name: r.get(2)?,
                    emails,
                    order_id: r.get(4)?,
                    certificate_id: r.get(5)?,
                    serial: r.get(6)?,
                    valid_till: r.get(7)?,
                    renewal_of: r.get(8)?,
                    row_id: key,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// The state and pending revoke request of journal row `row_key` (any row, on the
    /// roster or not).
    #[cfg(test)]
    pub(crate) fn row_state(
        &self,
        row_key: &str,
    ) -> Result<Option<(RowState, Option<i64>)>, BulkError> {
        self.conn
            .prepare_cached("SELECT state, revoke_request_id FROM main.rows WHERE row_key = ?1")
            .and_then(|mut s| {
                s.query_row(params![row_key], |r| {
                    let state = parse_state(r.get::<_, Option<String>>(0)?.as_deref(), row_key)?;
                    Ok((state, r.get(1)?))
                })
                .optional()
            })
            .map_err(|e| self.err(e))
    }

    /// Counts of the current roster's rows by journal state.
    pub(crate) fn counts(&self) -> Result<Vec<(RowState, u64)>, BulkError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {} AS s, count(*), min(r.row_key) FROM temp.roster r
                     LEFT JOIN main.rows j ON j.row_key = r.row_key GROUP BY s",
                state_sql()
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                let key: String = r.get(2)?;
                Ok((
                    parse_state(r.get::<_, Option<String>>(0)?.as_deref(), &key)?,
                    r.get::<_, i64>(1)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out: Vec<(RowState, u64)> = Vec::new();
        for row in rows {
            let (state, n) = row.map_err(|e| self.err(e))?;
            match out.iter_mut().find(|(s, _)| *s == state) {
                Some((_, c)) => *c += n as u64,
                None => out.push((state, n as u64)),
            }
        }
        Ok(out)
    }

    /// The row key, name and state of the roster row holding `order_id`.
    pub(crate) fn by_order(
        &self,
        order_id: i64,
    ) -> Result<Option<(String, String, RowState)>, BulkError> {
        self.conn
            .prepare_cached("SELECT row_key, name, state FROM main.rows WHERE order_id = ?1")
            .and_then(|mut s| {
                s.query_row(params![order_id], |r| {
                    let key: String = r.get(0)?;
                    let state = parse_state(r.get::<_, Option<String>>(2)?.as_deref(), &key)?;
                    Ok((key, r.get(1)?, state))
                })
                .optional()
            })
            .map_err(|e| self.err(e))
    }

    /// What the journal holds about the key of row `row_key` (`None` when the row was never
    /// journaled): the public key its certificate must carry is taken from it.
    pub(crate) fn sent_key(&self, row_key: &str) -> Result<Option<SentKey>, BulkError> {
        self.conn
            .prepare_cached("SELECT key_file, csr_file, csr FROM main.rows WHERE row_key = ?1")
            .and_then(|mut s| {
                s.query_row(params![row_key], |r| {
                    Ok(SentKey {
                        key_file: r.get(0)?,
                        csr_file: r.get(1)?,
                        csr: r.get(2)?,
                    })
                })
                .optional()
            })
            .map_err(|e| self.err(e))
    }

    /// Whether some journaled row already holds `order_id` (as its order, or as the order
    /// its latest order renews).
    pub(crate) fn order_known(&self, order_id: i64) -> Result<bool, BulkError> {
        if self.by_order(order_id)?.is_some() {
            return Ok(true);
        }
        self.conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM main.rows WHERE renewal_of = ?1)")
            .and_then(|mut s| s.query_row(params![order_id], |r| r.get(0)))
            .map_err(|e| self.err(e))
    }

    /// Queues `update` for the next commit (batches status updates of one poll).
    pub(crate) fn defer(&mut self, update: Update) {
        self.pending.push(update);
    }

    /// Applies the queued updates and `updates` in one transaction, written to the WAL at
    /// once: it survives the process being killed (SIGKILL) at any later point, and survives
    /// power loss from the next [`Journal::commit_durable`] on (which syncs the whole WAL).
    pub(crate) fn commit(
        &mut self,
        updates: impl IntoIterator<Item = Update>,
    ) -> Result<(), BulkError> {
        self.commit_with(updates, false)
    }

    /// Like [`Journal::commit`], and synced to disk (`synchronous=FULL`) before returning:
    /// used for the intent committed before every order POST.
    pub(crate) fn commit_durable(
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
    pub(crate) fn record_invalid(
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
    pub(crate) fn oldest_pending(&self) -> Result<Option<String>, BulkError> {
        self.conn
            .query_row(
                &format!(
                    "SELECT min(j.intent_at) FROM temp.roster r JOIN main.rows j ON j.row_key = r.row_key
                     WHERE j.state = '{}'",
                    RowState::Ordered.as_str()
                ),
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// Report lines for every roster row (valid or not) after data row `after`, in roster order.
    pub(crate) fn report_page(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<ReportLine>, BulkError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                &format!(
                    "SELECT * FROM (
                   SELECT r.row_number AS n, r.row_key, {state}, r.spec, {ORDER_COLUMNS},
                          NULL AS cn, NULL AS emails, j.renewal_of, j.valid_till
                   FROM temp.roster r LEFT JOIN main.rows j ON j.row_key = r.row_key
                   UNION ALL
                   SELECT i.row_number AS n, NULL, 'invalid', NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                          NULL, i.error, i.common_name, i.emails, NULL, NULL
                   FROM temp.invalid i
                 ) WHERE n > ?1 ORDER BY n LIMIT ?2",
                    state = state_sql()
                ),
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![after as i64, limit as i64], |r| {
                let spec: Option<String> = r.get(3)?;
                let spec: Option<RowSpec> = spec.and_then(|s| serde_json::from_str(&s).ok());
                let state: Option<String> = r.get(2)?;
                let row_id = r.get::<_, Option<String>>(1)?.unwrap_or_default();
                let order = OrderColumns::read(r)?;
                let request_ids = match order.request_ids {
                    None => None,
                    Some(ids) => Some(
                        parse_ids(Some(&ids), &row_id)?
                            .iter()
                            .map(i64::to_string)
                            .collect::<Vec<_>>()
                            .join(";"),
                    ),
                };
                Ok(ReportLine {
                    row: r.get::<_, i64>(0)? as u64,
                    state: match state.as_deref() {
                        Some("invalid") => "invalid".to_owned(),
                        other => parse_state(other, &row_id)?.as_str().to_owned(),
                    },
                    row_id,
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
                    order_id: order.order_id,
                    request_ids,
                    request_status: order.request_status,
                    order_status: order.order_status,
                    certificate_id: order.certificate_id,
                    key_file: order.key_file,
                    certificate_file: order.certificate_file,
                    error: order.error,
                    renewal_of_order_id: r.get(14)?,
                    valid_till: r.get(15)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Commits queued updates (if any).
    pub(crate) fn flush(&mut self) -> Result<(), BulkError> {
        self.commit(Vec::new())
    }
}

fn lowercase_emails(emails: &[String]) -> Vec<String> {
    let mut out = normalize_emails(emails);
    out.retain(|e| !e.is_empty());
    out
}

/// What the journal (`main.rows`) holds about the keys and output names of a batch.
#[derive(Default)]
struct Known {
    /// Recorded name and state of every journaled key of the batch.
    by_key: std::collections::HashMap<String, (String, Option<String>)>,
    /// The row keys of the journaled rows holding each output name of the batch.
    by_name: std::collections::HashMap<String, Vec<String>>,
}

impl Known {
    /// The output name `spec` is staged under: the journal's for a known row (its files
    /// exist under that name), else its own, unless another journaled row holds that one.
    fn name_of<'a>(&'a self, spec: &'a RowSpec) -> Result<&'a str, RowError> {
        if let Some((name, _)) = self.by_key.get(spec.key.as_str()) {
            return Ok(name);
        }
        let taken = self
            .by_name
            .get(&spec.name)
            .is_some_and(|keys| keys.iter().any(|k| *k != spec.key));
        if taken {
            return Err(spec.error(
                "name",
                format!(
                    "output name '{}' belongs to another row ordered in an earlier run; choose another name",
                    spec.name
                ),
            ));
        }
        Ok(&spec.name)
    }
}

/// A valid row to stage ([`Journal::stage`]): its spec and the spec's JSON text (the
/// staging table's `spec` column).
pub(crate) trait Staging {
    /// The row.
    fn spec(&self) -> &RowSpec;
    /// The row's JSON text.
    fn json(&self) -> serde_json::Result<std::borrow::Cow<'_, str>>;
}

impl Staging for RowSpec {
    fn spec(&self) -> &RowSpec {
        self
    }

    fn json(&self) -> serde_json::Result<std::borrow::Cow<'_, str>> {
        serde_json::to_string(self).map(std::borrow::Cow::Owned)
    }
}

/// Values looked up per statement by [`journal_rows`] (unused places are bound to NULL,
/// which matches nothing).
const LOOKUP_CHUNK: usize = 64;

/// What the journal holds about `rows`' keys and names: a few indexed `IN` queries per
/// batch instead of one query per row.
fn journal_rows<'r>(
    tx: &rusqlite::Transaction<'_>,
    rows: impl Iterator<Item = &'r RowSpec>,
) -> rusqlite::Result<Known> {
    let placeholders = (1..=LOOKUP_CHUNK)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut known = Known::default();
    // A journal without rows (a first run, a dry run without journal) knows nothing.
    let empty: bool = tx
        .prepare_cached("SELECT NOT EXISTS (SELECT 1 FROM main.rows)")?
        .query_row([], |r| r.get(0))?;
    if empty {
        return Ok(known);
    }
    let mut by_key = tx.prepare_cached(&format!(
        "SELECT row_key, name, state FROM main.rows WHERE row_key IN ({placeholders})"
    ))?;
    let mut by_name = tx.prepare_cached(&format!(
        "SELECT name, row_key FROM main.rows WHERE name IN ({placeholders})"
    ))?;
    let rows: Vec<&RowSpec> = rows.collect();
    for chunk in rows.chunks(LOOKUP_CHUNK) {
        let keys = (0..LOOKUP_CHUNK).map(|i| chunk.get(i).map(|s| s.key.as_str()));
        let mut found = by_key.query(rusqlite::params_from_iter(keys))?;
        while let Some(r) = found.next()? {
            known.by_key.insert(r.get(0)?, (r.get(1)?, r.get(2)?));
        }
        let names = (0..LOOKUP_CHUNK).map(|i| chunk.get(i).map(|s| s.name.as_str()));
        let mut found = by_name.query(rusqlite::params_from_iter(names))?;
        while let Some(r) = found.next()? {
            known.by_name.entry(r.get(0)?).or_default().push(r.get(1)?);
        }
    }
    Ok(known)
}

/// A staged row refused by [`Journal::finish_staging`]: the error, and what the row says
/// (for the report).
#[derive(Debug)]
pub(crate) struct Refused {
    pub(crate) error: RowError,
    pub(crate) common_name: String,
    pub(crate) emails: Vec<String>,
}

/// The staged row numbered `row`: its identity, output name and spec.
fn staged_row(
    tx: &rusqlite::Transaction<'_>,
    row: u64,
) -> Result<(String, String, RowSpec), BulkError> {
    let (key, name, spec): (String, String, String) = tx
        .prepare_cached("SELECT row_key, name, spec FROM temp.roster WHERE row_number = ?1")
        .and_then(|mut s| {
            s.query_row(params![row as i64], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
        })
        .map_err(|e| BulkError::Journal(e.to_string()))?;
    let spec = serde_json::from_str(&spec)
        .map_err(|e| BulkError::Journal(format!("staged row {row}: {e}")))?;
    Ok((key, name, spec))
}

/// Refuses (removes from `temp.roster`) each staged row with the identity or output name of
/// an earlier staged row that was not refused itself, exactly as unique constraints checked
/// row by row would: only [`Seen::identity_candidates`] are read back. Returns the refused
/// rows' indexes in `seen` and their errors.
fn refuse_repeats(
    tx: &rusqlite::Transaction<'_>,
    seen: &Seen,
) -> Result<(Vec<crate::seen::Index>, Vec<Refused>), BulkError> {
    let mut keys = std::collections::HashMap::new();
    let mut names = std::collections::HashMap::new();
    let (mut dropped, mut refused) = (Vec::new(), Vec::new());
    for index in seen.identity_candidates() {
        let row = seen.row(index);
        let (key, name, spec) = staged_row(tx, row)?;
        let conflict = if let Some(other) = keys.get(&key) {
            (
                "common_name",
                format!(
                    "same person as row {other} (identity: product, common name and emails, or the id column); each person is ordered once"
                ),
            )
        } else if let Some(other) = names.get(&name) {
            (
                "name",
                format!("output name '{name}' is also used by row {other}; set a distinct name"),
            )
        } else {
            keys.insert(key, row);
            names.insert(name, row);
            continue;
        };
        tx.prepare_cached("DELETE FROM temp.roster WHERE row_number = ?1")
            .and_then(|mut s| s.execute(params![row as i64]))
            .map_err(|e| BulkError::Journal(e.to_string()))?;
        dropped.push(index);
        refused.push(Refused {
            error: spec.error(conflict.0, conflict.1),
            common_name: spec.common_name,
            emails: spec.emails,
        });
    }
    Ok((dropped, refused))
}

/// The first of a staged row's normalized `emails` that a journaled row other than `key`
/// holds and ordered (or may have ordered), with its position and the hold reason.
fn ordered_email(
    tx: &rusqlite::Transaction<'_>,
    key: &str,
    emails: &[String],
) -> rusqlite::Result<Option<(usize, String)>> {
    let mut find = tx.prepare_cached(
        "SELECT j.common_name, j.order_id FROM temp.known_emails k
         JOIN main.rows j ON j.row_key = k.row_key
         WHERE k.email = ?1 AND k.row_key <> ?2 LIMIT 1",
    )?;
    for (position, email) in emails.iter().enumerate() {
        let found: Option<(String, Option<i64>)> = find
            .query_row(params![email, key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if let Some((cn, order_id)) = found {
            let order = order_id.map_or_else(
                || "an order whose outcome is not settled".to_owned(),
                |id| format!("order {id}"),
            );
            return Ok(Some((
                position,
                format!(
                    "possible duplicate: {email} belongs to '{cn}', already ordered ({order}); not ordered: check it, then rerun with --allow-similar to order it anyway"
                ),
            )));
        }
    }
    Ok(None)
}

/// Holds back (sets `temp.roster.held`) each staged row still to be ordered whose normalized
/// emails include one of a row already ordered ([`Seen::ordered_email`]) or of an earlier
/// staged row: the first such email decides the reason (already ordered wins for the same
/// email). Only [`Seen::email_candidates`] are read back, in roster order.
fn hold_similar(tx: &rusqlite::Transaction<'_>, seen: &Seen) -> Result<(), BulkError> {
    let jerr = |e: rusqlite::Error| BulkError::Journal(e.to_string());
    // The first row holding each email, among the candidates read so far.
    let mut first: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    for index in seen.email_candidates() {
        let row = seen.row(index);
        let (_, _, spec) = staged_row(tx, row)?;
        let emails = lowercase_emails(&spec.emails);
        if seen.to_order(index) {
            let ordered = seen.ordered_of(index);
            let earlier = emails
                .iter()
                .enumerate()
                .find_map(|(position, e)| first.get(e).map(|other| (position, e, *other)));
            let reason = match (ordered, earlier) {
                (Some((p, reason)), Some((q, ..))) if p <= q => Some(reason.to_owned()),
                (Some((_, reason)), None) => Some(reason.to_owned()),
                (_, Some((_, email, other))) => Some(format!(
                    "possible duplicate: {email} is also in row {other}; not ordered: check it, then rerun with --allow-similar to order it anyway"
                )),
                (None, None) => None,
            };
            if let Some(reason) = reason {
                tx.prepare_cached("UPDATE temp.roster SET held = ?2 WHERE row_number = ?1")
                    .and_then(|mut s| s.execute(params![row as i64, reason]))
                    .map_err(jerr)?;
            }
        }
        for email in emails {
            first.entry(email).or_insert(row);
        }
    }
    Ok(())
}

/// The row key version 1 derived: `<product>|<common name>|<emails>` (normalized, emails
/// `,`-joined).
fn v1_key(product: &str, common_name: &str, emails: &[String]) -> String {
    format!(
        "{product}|{}|{}",
        normalize_common_name(common_name),
        normalize_emails(emails).join(",")
    )
}

/// Rewrites a version-1 `rows` table as version 2 (see the module documentation), inside
/// the caller's transaction: an error rolls everything back.
fn migrate_v1(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    const COLUMNS: &str = V2_COLUMNS;
    tx.execute_batch(
        "ALTER TABLE rows RENAME TO rows_v1;
         DROP INDEX IF EXISTS rows_order_id;
         DROP INDEX IF EXISTS rows_name;",
    )?;
    tx.execute_batch(&schema())?;
    {
        let mut select = tx.prepare(&format!("SELECT {COLUMNS} FROM rows_v1"))?;
        let mut insert = tx.prepare(&format!(
            "INSERT INTO rows ({COLUMNS}) VALUES
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)"
        ))?;
        let mut rows = select.query([])?;
        while let Some(r) = rows.next()? {
            let old_key: String = r.get(0)?;
            let state: String = r.get(1)?;
            let product: String = r.get(3)?;
            let common_name: String = r.get(4)?;
            let emails: String = r.get(5)?;
            let emails: Vec<String> = if emails.is_empty() {
                Vec::new()
            } else {
                emails.split(';').map(str::to_owned).collect()
            };
            let state = v1_state(&state, &old_key)?;
            let key = v1_row_key(&old_key, &product, &common_name, &emails)?;
            let request_ids = match r.get::<_, Option<String>>(10)? {
                None => None,
                Some(ids) => Some(v1_request_ids(&ids, &old_key)?),
            };
            let v = |i: usize| r.get::<_, rusqlite::types::Value>(i);
            insert.execute(params![
                key,
                state.as_str(),
                v(2)?,
                product,
                common_name,
                serde_json::json!(emails).to_string(),
                v(6)?,
                v(7)?,
                v(8)?,
                v(9)?,
                request_ids.map(|ids| serde_json::json!(ids).to_string()),
                v(11)?,
                v(12)?,
                v(13)?,
                v(14)?,
                v(15)?,
                v(16)?,
                v(17)?,
                v(18)?,
                v(19)?
            ])?;
        }
    }
    tx.execute_batch("DROP TABLE rows_v1;")
}

/// A version-1 state as a [`RowState`]: `retry` is `new` again, `post_failed` is `refused`.
fn v1_state(text: &str, old_key: &str) -> rusqlite::Result<RowState> {
    match text {
        "retry" => Ok(RowState::New),
        "post_failed" => Ok(RowState::Refused),
        text => RowState::from_text(text)
            .filter(|s| RowState::STORED.contains(s))
            .ok_or_else(|| corrupt(old_key, &format!("unknown state '{text}'"))),
    }
}

/// The version-2 key of a version-1 row: an explicit `id:` key stays, a derived one is
/// derived again (after checking it is the one version 1 derived).
fn v1_row_key(
    old_key: &str,
    product: &str,
    common_name: &str,
    emails: &[String],
) -> rusqlite::Result<String> {
    if old_key.starts_with("id:") {
        Ok(old_key.to_owned())
    } else if v1_key(product, common_name, emails) == old_key {
        Ok(identity_key(product, common_name, emails))
    } else {
        Err(corrupt(
            old_key,
            "the key is not the one derived from its product, common name and emails",
        ))
    }
}

/// Version 1's `;`-joined request ids.
fn v1_request_ids(ids: &str, old_key: &str) -> rusqlite::Result<Vec<i64>> {
    ids.split(';')
        .filter(|id| !id.trim().is_empty())
        .map(|id| id.trim().parse::<i64>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            corrupt(
                old_key,
                &format!("request ids '{ids}' are not numbers: {e}"),
            )
        })
}

/// Rewrites a version-2 `rows` table as version 3, inside the caller's transaction: the
/// same lines with the new columns empty (`valid_till`, `serial`, `renewal_of`,
/// `revoke_request_id`) and the revocation states allowed. SQLite cannot change a `CHECK`
/// constraint in place, so the table is copied.
fn migrate_v2(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "ALTER TABLE rows RENAME TO rows_v2;
         DROP INDEX IF EXISTS rows_order_id;
         DROP INDEX IF EXISTS rows_name;",
    )?;
    tx.execute_batch(&schema())?;
    tx.execute_batch(&format!(
        "INSERT INTO rows ({V2_COLUMNS}) SELECT {V2_COLUMNS} FROM rows_v2; DROP TABLE rows_v2;"
    ))
}

/// [`Update::Intent`]: a row's first intent inserts its journal line, a later one (a retry
/// after the server refused it, or reconciliation found no order) updates it.
const INTENT_SQL: &str =
    "INSERT INTO rows (row_key, state, row_number, product, common_name, emails, name,
                                   intent_at, attempts, key_file, csr_file, csr, updated_at)
                 VALUES (?1, ?11, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?9, ?10, ?7)
                 ON CONFLICT(row_key) DO UPDATE SET state = ?11, intent_at = ?7,
                     product = ?3, common_name = ?4, emails = ?5,
                     attempts = attempts + 1, error = NULL, row_number = ?2,
                     key_file = ?8, csr_file = ?9, csr = ?10, updated_at = ?7";

/// [`Update::Ordered`].
const ORDERED_SQL: &str = "UPDATE rows SET state = ?8, order_id = ?2, request_ids = ?3,
                     request_status = ?4, order_status = coalesce(?5, order_status),
                     certificate_id = ?6, error = NULL, updated_at = ?7 WHERE row_key = ?1";

/// [`Update::Status`]: every row of the order (by order id).
const STATUS_SQL: &str =
    "UPDATE rows SET order_status = ?2, certificate_id = coalesce(?3, certificate_id),
                     state = CASE WHEN ?4 IS NOT NULL AND state = ?6 THEN ?7 ELSE state END,
                     error = coalesce(?4, error), updated_at = ?5
                 WHERE order_id = ?1";

/// [`Update::Downloaded`].
const DOWNLOADED_SQL: &str = "UPDATE rows SET state = ?4, certificate_file = ?2, order_status = coalesce(order_status, 'issued'),
                     valid_till = ?5, serial = ?6, error = NULL, updated_at = ?3 WHERE row_key = ?1";

/// [`Update::RenewalIntent`].
const RENEWAL_INTENT_SQL: &str =
    "UPDATE rows SET state = ?2, renewal_of = ?3, name = ?4, product = ?5,
                     common_name = ?6, emails = ?7, key_file = ?8, csr_file = ?9, csr = ?10,
                     intent_at = ?11, attempts = attempts + 1, error = NULL, updated_at = ?11
                 WHERE row_key = ?1";

/// [`Update::Expiry`].
const EXPIRY_SQL: &str =
    "UPDATE rows SET valid_till = ?2, serial = coalesce(?3, serial), updated_at = ?4
                 WHERE row_key = ?1";

/// [`Update::Note`].
const NOTE_SQL: &str = "UPDATE rows SET error = ?2, updated_at = ?3 WHERE row_key = ?1";

/// [`Update::RevokeDone`].
const REVOKE_DONE_SQL: &str =
    "UPDATE rows SET state = ?2, revoke_request_id = ?3, error = NULL, updated_at = ?4
                 WHERE row_key = ?1";

/// [`Update::Unknown`], [`Update::Refused`], [`Update::Retry`], [`Update::RevokeIntent`]:
/// the row moves to a state with an error (`NULL` clears it).
const SET_STATE_SQL: &str =
    "UPDATE rows SET state = ?2, error = ?3, updated_at = ?4 WHERE row_key = ?1";

/// The parameters of one statement: `?1`, `?2`, … in order.
type Params<'a> = Vec<Box<dyn rusqlite::ToSql + 'a>>;

/// [`Params`] from a list of values (owned or borrowed).
macro_rules! sql_params {
    ($($value:expr),* $(,)?) => {
        vec![$(Box::new($value) as Box<dyn rusqlite::ToSql + '_>),*]
    };
}

/// A list as the journal stores it: a JSON array.
fn json_list<T: serde::Serialize>(list: &[T]) -> String {
    serde_json::json!(list).to_string()
}

/// Writes one update at time `at`, inside the caller's transaction.
fn apply(tx: &rusqlite::Transaction<'_>, u: &Update, at: &str) -> rusqlite::Result<()> {
    let (sql, params) = u.statement(at);
    tx.prepare_cached(sql)?
        .execute(rusqlite::params_from_iter(params))?;
    Ok(())
}

impl Update {
    /// The statement that writes this update at time `at`, and its parameters.
    fn statement<'a>(&'a self, at: &'a str) -> (&'static str, Params<'a>) {
        let set_state = |key, state: RowState, error: Option<&'a String>| {
            (SET_STATE_SQL, sql_params![key, state.as_str(), error, at])
        };
        match self {
            Self::Intent { .. } | Self::RenewalIntent { .. } | Self::Ordered { .. } => {
                self.posting_statement(at)
            }
            Self::Unknown { key, error } => set_state(key, RowState::Unknown, Some(error)),
            Self::Refused { key, error } => set_state(key, RowState::Refused, Some(error)),
            Self::Retry { key } => set_state(key, RowState::New, None),
            Self::RevokeIntent { key } => set_state(key, RowState::RevokePending, None),
            Self::Status {
                order_id,
                order_status,
                certificate_id,
                failed,
            } => (
                STATUS_SQL,
                sql_params![
                    order_id,
                    order_status,
                    certificate_id,
                    failed,
                    at,
                    RowState::Ordered.as_str(),
                    RowState::Failed.as_str()
                ],
            ),
            Self::Downloaded {
                key,
                file,
                valid_till,
                serial,
            } => (
                DOWNLOADED_SQL,
                sql_params![key, file, at, RowState::Done.as_str(), valid_till, serial],
            ),
            Self::Expiry {
                key,
                valid_till,
                serial,
            } => (EXPIRY_SQL, sql_params![key, valid_till, serial, at]),
            Self::Note { key, error } => (NOTE_SQL, sql_params![key, error, at]),
            Self::RevokeDone {
                key,
                request_id,
                requested,
            } => {
                let state = if *requested {
                    RowState::RevokeRequested
                } else {
                    RowState::Revoked
                };
                (
                    REVOKE_DONE_SQL,
                    sql_params![key, state.as_str(), request_id, at],
                )
            }
        }
    }

    /// [`Update::statement`] around an order's POST: the intent of an order or a renewal
    /// about to be posted, and the order the POST created.
    fn posting_statement<'a>(&'a self, at: &'a str) -> (&'static str, Params<'a>) {
        match self {
            Self::Intent {
                spec,
                key_file,
                csr_file,
                csr,
            } => (
                INTENT_SQL,
                sql_params![
                    &spec.key,
                    spec.row as i64,
                    spec.product_name(),
                    &spec.common_name,
                    json_list(&spec.emails),
                    &spec.name,
                    at,
                    key_file,
                    csr_file,
                    csr,
                    RowState::Intent.as_str()
                ],
            ),
            Self::RenewalIntent {
                key,
                renewal_of,
                name,
                product,
                common_name,
                emails,
                key_file,
                csr_file,
                csr,
            } => (
                RENEWAL_INTENT_SQL,
                sql_params![
                    key,
                    RowState::Intent.as_str(),
                    renewal_of,
                    name,
                    product,
                    common_name,
                    json_list(emails),
                    key_file,
                    csr_file,
                    csr,
                    at
                ],
            ),
            Self::Ordered {
                key,
                order_id,
                request_ids,
                request_status,
                order_status,
                certificate_id,
            } => (
                ORDERED_SQL,
                sql_params![
                    key,
                    order_id,
                    json_list(request_ids),
                    request_status,
                    order_status,
                    certificate_id,
                    at,
                    RowState::Ordered.as_str()
                ],
            ),
            other => other.statement(at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use certcentral_types::ProductId;

    fn spec(row: u64, cn: &str) -> RowSpec {
        let emails = vec![format!("{}@example.com", cn.to_lowercase())];
        RowSpec {
            key: super::super::spec::key_of(None, ProductId::ClientPremiumSha2, cn, &emails),
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
            person: Default::default(),
            unknown_product: None,
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
                request_ids: vec![5],
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
        let all = j.page_where("1", 0, 10).unwrap();
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

    /// The `rows` table as version 2 created it, verbatim.
    const V2_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS rows (
    row_key TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('new','intent','unknown','ordered','done','failed','refused')),
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

    #[test]
    fn version_2_journal_is_migrated_and_takes_expiry_renewal_and_revocation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.sqlite");
        let a = spec(1, "A");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(V2_SCHEMA).unwrap();
            conn.execute(
                "INSERT INTO rows (row_key, state, row_number, product, common_name, emails, name,
                                   order_id, certificate_id, certificate_file, updated_at)
                 VALUES (?1, 'done', 1, ?2, 'A', '[\"a@example.com\"]', 'a', 77, 9, 'a.crt', 'x')",
                params![a.key, a.product.to_string()],
            )
            .unwrap();
            conn.execute_batch("PRAGMA user_version=2").unwrap();
        }
        let mut j = Journal::open(&path).unwrap();
        let version: i64 = j
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        j.stage(std::slice::from_ref(&a), false).unwrap();
        let entry = &j.page_where("1", 0, 10).unwrap()[0];
        assert_eq!((entry.state, entry.order_id), (RowState::Done, Some(77)));
        assert_eq!(entry.valid_till, None);
        assert_eq!(j.page(Class::NoExpiry, 0, 10).unwrap().len(), 1);
        j.commit([Update::Expiry {
            key: a.key.clone(),
            valid_till: "2027-01-10T00:00:00Z".into(),
            serial: Some("0A".into()),
        }])
        .unwrap();
        let until = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp();
        assert_eq!(j.count_renewals(until("2027-01-09T00:00:00Z")).unwrap(), 0);
        assert_eq!(j.count_renewals(until("2027-01-10T00:00:00Z")).unwrap(), 1);
        // A renewal keeps the old order as renewal_of: never a reconciliation candidate.
        j.commit([Update::RenewalIntent {
            key: a.key.clone(),
            renewal_of: 77,
            name: "a-renewal-77".into(),
            product: a.product.to_string(),
            common_name: "A".into(),
            emails: vec!["a@example.com".into()],
            key_file: None,
            csr_file: None,
            csr: None,
        }])
        .unwrap();
        assert_eq!(j.count_renewals(until("2030-01-01T00:00:00Z")).unwrap(), 0);
        j.commit([Update::Ordered {
            key: a.key.clone(),
            order_id: 78,
            request_ids: vec![],
            request_status: None,
            order_status: None,
            certificate_id: Some(10),
        }])
        .unwrap();
        assert!(j.order_known(77).unwrap() && j.order_known(78).unwrap());
        let entry = &j.page_where("1", 0, 10).unwrap()[0];
        assert_eq!(
            (entry.name.as_str(), entry.renewal_of),
            ("a-renewal-77", Some(77))
        );
        // The revocation states are stored (the CHECK constraint was rebuilt).
        j.commit([Update::RevokeIntent { key: a.key.clone() }])
            .unwrap();
        assert_eq!(
            j.row_state(&a.key).unwrap(),
            Some((RowState::RevokePending, None))
        );
        j.commit([Update::RevokeDone {
            key: a.key.clone(),
            request_id: Some(5),
            requested: true,
        }])
        .unwrap();
        assert_eq!(
            j.row_state(&a.key).unwrap(),
            Some((RowState::RevokeRequested, Some(5)))
        );
    }

    /// The `rows` table as version 1 (before the migration) created it, verbatim.
    const V1_SCHEMA: &str = "
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
PRAGMA user_version=1;
";

    /// Writes a version-1 journal at `path` holding `rows`: (key, state, product,
    /// common name, `;`-joined emails, name, order id, `;`-joined request ids), as the
    /// version-1 code wrote them.
    #[allow(clippy::type_complexity)]
    fn write_v1(
        path: &Path,
        rows: &[(
            &str,
            &str,
            &str,
            &str,
            &str,
            &str,
            Option<i64>,
            Option<&str>,
        )],
    ) {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch("PRAGMA journal_mode=WAL;").unwrap();
        conn.execute_batch(V1_SCHEMA).unwrap();
        for (n, (key, state, product, cn, emails, name, order_id, ids)) in rows.iter().enumerate() {
            conn.execute(
                "INSERT INTO rows (row_key, state, row_number, product, common_name, emails, name,
                                   intent_at, attempts, order_id, request_ids, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, '2026-01-01T00:00:00.000Z', 1, ?8, ?9,
                         '2026-01-01T00:00:00.000Z')",
                params![
                    key,
                    state,
                    n as i64 + 1,
                    product,
                    cn,
                    emails,
                    name,
                    order_id,
                    ids
                ],
            )
            .unwrap();
        }
    }

    fn spec_with(row: u64, id: Option<&str>, cn: &str, emails: &[&str], name: &str) -> RowSpec {
        let emails: Vec<String> = emails.iter().map(|e| e.to_string()).collect();
        RowSpec {
            key: super::super::spec::key_of(id, ProductId::ClientPremiumSha2, cn, &emails),
            emails,
            common_name: cn.into(),
            name: name.into(),
            ..spec(row, "unused")
        }
    }

    #[test]
    fn similar_rows_are_held_across_batches_with_the_first_email_deciding() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.sqlite");
        let ordered = spec_with(1, None, "Ordered", &["z@example.com"], "ordered");
        {
            let mut j = Journal::open(&path).unwrap();
            j.stage(std::slice::from_ref(&ordered), false).unwrap();
            j.commit([
                Update::Intent {
                    spec: ordered.clone(),
                    key_file: None,
                    csr_file: None,
                    csr: None,
                },
                Update::Ordered {
                    key: ordered.key.clone(),
                    order_id: 42,
                    request_ids: vec![1],
                    request_status: None,
                    order_status: None,
                    certificate_id: None,
                },
            ])
            .unwrap();
        }
        let mut j = Journal::open(&path).unwrap();
        // Two batches: holds look at earlier batches and at earlier rows of the same one.
        let first = [
            spec_with(1, None, "A", &["a@example.com"], "a"),
            spec_with(2, None, "B", &["B@example.com", "A@example.com"], "b"),
        ];
        let second = [
            spec_with(3, None, "C", &["c@example.com", "b@example.com"], "c"),
            // `a@` sorts before `z@`: the earlier row decides, not the ordered one.
            spec_with(4, None, "D", &["z@example.com", "a@example.com"], "d"),
            spec_with(5, None, "E", &["z@example.com"], "e"),
            // Already ordered: never held, and its emails still count for later rows.
            ordered.clone(),
            spec_with(6, None, "F", &["f@example.com"], "f"),
        ];
        let mut second = second.to_vec();
        second[3].row = 7;
        second[4].row = 8;
        assert!(j.stage(&first, false).unwrap().is_empty());
        assert!(j.stage(&second, false).unwrap().is_empty());
        let all = j.page_where("1", 0, 20).unwrap();
        let got: Vec<(u64, RowState, Option<String>)> = all
            .iter()
            .map(|e| (e.spec.row, e.state, e.error.clone()))
            .collect();
        let held = |email: &str, row: u64| {
            Some(format!(
                "possible duplicate: {email} is also in row {row}; not ordered: check it, then rerun with --allow-similar to order it anyway"
            ))
        };
        assert_eq!(
            got,
            vec![
                (1, RowState::New, None),
                (2, RowState::PossibleDuplicate, held("a@example.com", 1)),
                (3, RowState::PossibleDuplicate, held("b@example.com", 2)),
                (4, RowState::PossibleDuplicate, held("a@example.com", 1)),
                (
                    5,
                    RowState::PossibleDuplicate,
                    Some(
                        "possible duplicate: z@example.com belongs to 'Ordered', already ordered (order 42); not ordered: check it, then rerun with --allow-similar to order it anyway".into()
                    )
                ),
                (7, RowState::Ordered, None),
                (8, RowState::New, None),
            ]
        );
        // With --allow-similar nothing is held.
        let mut j = Journal::open_temporary().unwrap();
        assert!(j.stage(&first, true).unwrap().is_empty());
        assert!(
            j.page_where("1", 0, 20)
                .unwrap()
                .iter()
                .all(|e| e.state == RowState::New)
        );
    }

    /// The roster of `repeats_are_refused_as_row_by_row_unique_checks_would`.
    fn repeating_roster() -> Vec<RowSpec> {
        vec![
            spec_with(1, None, "A", &["a@example.com"], "x"),
            // The name of row 1: refused, so it takes nothing from the rows after it.
            spec_with(2, None, "B", &["b@example.com"], "x"),
            // The identity of refused row 2 only: staged.
            spec_with(3, None, "B", &["b@example.com"], "y"),
            // The identity of row 1 (its name is new): refused for the identity.
            spec_with(4, None, "A", &["a@example.com"], "z"),
            // The name of row 3.
            spec_with(5, None, "C", &["c@example.com"], "y"),
            spec_with(6, None, "D", &["d@example.com", "a@example.com"], "w"),
            // Shares an email with refused row 2 and with row 3: held for row 3.
            spec_with(7, None, "E", &["b@example.com"], "v"),
        ]
    }

    /// What the roster rows say after staging: (row, state, hold reason).
    fn staged_states(j: &Journal) -> Vec<(u64, RowState, Option<String>)> {
        j.page_where("1", 0, 50)
            .unwrap()
            .iter()
            .map(|e| (e.spec.row, e.state, e.error.clone()))
            .collect()
    }

    #[test]
    fn repeats_are_refused_as_row_by_row_unique_checks_would() {
        let roster = repeating_roster();
        let mut j = Journal::open_temporary().unwrap();
        // Two batches, then the end of staging (as `bulk` stages).
        assert!(j.stage_batch(&roster[..3], false).unwrap().is_empty());
        assert!(j.stage_batch(&roster[3..], false).unwrap().is_empty());
        let refused = j.finish_staging(false).unwrap();
        let got: Vec<(u64, &str, &str)> = refused
            .iter()
            .map(|r| {
                (
                    r.error.row,
                    r.error.column.as_str(),
                    r.error.reason.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    2,
                    "name",
                    "output name 'x' is also used by row 1; set a distinct name"
                ),
                (
                    4,
                    "common_name",
                    "same person as row 1 (identity: product, common name and emails, or the id column); each person is ordered once"
                ),
                (
                    5,
                    "name",
                    "output name 'y' is also used by row 3; set a distinct name"
                ),
            ]
        );
        assert_eq!(
            (refused[0].common_name.as_str(), refused[0].emails.len()),
            ("B", 1)
        );
        let held = |email: &str, row: u64| {
            Some(format!(
                "possible duplicate: {email} is also in row {row}; not ordered: check it, then rerun with --allow-similar to order it anyway"
            ))
        };
        let states = staged_states(&j);
        assert_eq!(
            states,
            vec![
                (1, RowState::New, None),
                (3, RowState::New, None),
                (6, RowState::PossibleDuplicate, held("a@example.com", 1)),
                (7, RowState::PossibleDuplicate, held("b@example.com", 3)),
            ]
        );
        // Staged one row at a time, each checked at once: the same verdicts.
        let mut one_by_one = Journal::open_temporary().unwrap();
        let mut errors = Vec::new();
        for row in &roster {
            errors.extend(one_by_one.stage(std::slice::from_ref(row), false).unwrap());
        }
        assert_eq!(
            errors.iter().map(|e| e.row).collect::<Vec<_>>(),
            vec![2, 4, 5]
        );
        assert_eq!(staged_states(&one_by_one), states);
        // Finishing again changes nothing.
        assert!(j.finish_staging(false).unwrap().is_empty());
        assert_eq!(staged_states(&j), states);
    }

    #[test]
    fn a_row_staged_twice_is_an_error() {
        let mut j = Journal::open_temporary().unwrap();
        assert!(j.stage(&[spec(1, "A")], false).unwrap().is_empty());
        let errors = j.stage(&[spec(1, "B")], false).unwrap();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].reason.contains("staged twice"), "{}", errors[0]);
    }

    #[test]
    fn version_1_journal_is_migrated_keeping_row_identities() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.sqlite");
        let p = "client_premium_sha2";
        write_v1(
            &path,
            &[
                (
                    "client_premium_sha2|a|a2@example.com,a@example.com",
                    "ordered",
                    p,
                    "A",
                    "A@example.com;a2@example.com",
                    "a",
                    Some(77),
                    Some("5;6"),
                ),
                (
                    "client_premium_sha2|b|b@example.com",
                    "retry",
                    p,
                    "B",
                    "b@example.com",
                    "b",
                    None,
                    None,
                ),
                (
                    "client_premium_sha2|c|c@example.com",
                    "post_failed",
                    p,
                    "C",
                    "c@example.com",
                    "c",
                    None,
                    None,
                ),
                (
                    "client_premium_sha2|smith | sales|smith@example.com",
                    "intent",
                    p,
                    "Smith  | Sales",
                    "smith@example.com",
                    "smith-sales",
                    None,
                    None,
                ),
                (
                    "id:emp-7",
                    "done",
                    p,
                    "Emp",
                    "emp@example.com",
                    "emp",
                    Some(78),
                    Some("9"),
                ),
                (
                    "client_premium_sha2|f|f@example.com",
                    "failed",
                    p,
                    "F",
                    "f@example.com",
                    "f",
                    Some(79),
                    Some(""),
                ),
            ],
        );
        let mut j = Journal::open(&path).unwrap();
        let version: i64 = j
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let roster = [
            spec_with(1, None, "a", &["a@example.com", "A2@example.com"], "a"),
            spec_with(2, None, "B", &["b@example.com"], "b"),
            spec_with(3, None, "C", &["c@example.com"], "c"),
            spec_with(
                4,
                None,
                "smith | sales",
                &["smith@example.com"],
                "smith-sales",
            ),
            spec_with(5, Some("emp-7"), "Emp", &["emp@example.com"], "emp"),
            spec_with(6, None, "F", &["f@example.com"], "f"),
        ];
        assert!(j.stage(&roster, false).unwrap().is_empty());
        let all = j.page_where("1", 0, 10).unwrap();
        let got: Vec<_> = all
            .iter()
            .map(|e| (e.spec.row, e.state, e.order_id, e.request_ids.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, RowState::Ordered, Some(77), vec![5, 6]),
                (2, RowState::New, None, vec![]),
                (3, RowState::Refused, None, vec![]),
                (4, RowState::Intent, None, vec![]),
                (5, RowState::Done, Some(78), vec![9]),
                (6, RowState::Failed, Some(79), vec![]),
            ]
        );
        // `retry` keeps its meaning: proved never ordered, ordered again in a later round.
        let retry: Vec<u64> = j
            .page(Class::Retry, 0, 10)
            .unwrap()
            .iter()
            .map(|e| e.spec.row)
            .collect();
        assert_eq!(retry, vec![2]);
        // Emails of ordered rows still hold back a new row with one of them.
        drop(j);
        let mut j = Journal::open(&path).unwrap();
        let similar = spec_with(1, None, "Other", &["a2@example.com"], "other");
        assert!(j.stage(&[similar], false).unwrap().is_empty());
        assert_eq!(
            j.page_where("1", 0, 10).unwrap()[0].state,
            RowState::PossibleDuplicate
        );
        let stored: Vec<String> = j
            .conn
            .prepare("SELECT DISTINCT state FROM main.rows ORDER BY state")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            stored,
            ["done", "failed", "intent", "new", "ordered", "refused"]
        );
    }

    #[test]
    fn unknown_state_is_an_error_naming_the_row_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.sqlite");
        let key = "client_premium_sha2|a|a@example.com";
        let p = "client_premium_sha2";
        write_v1(
            &path,
            &[
                (
                    "client_premium_sha2|b|b@example.com",
                    "ordered",
                    p,
                    "B",
                    "b@example.com",
                    "b",
                    Some(1),
                    Some("2"),
                ),
                (key, "shipped", p, "A", "a@example.com", "a", None, None),
            ],
        );
        let err = Journal::open(&path).unwrap_err().to_string();
        assert!(
            err.contains(key) && err.contains("unknown state 'shipped'"),
            "{err}"
        );
        let conn = Connection::open(&path).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, 1);
        let state: String = conn
            .query_row("SELECT state FROM rows WHERE row_key = ?1", [key], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(state, "shipped");
    }

    #[test]
    fn version_1_key_not_derived_from_its_columns_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.sqlite");
        let p = "client_premium_sha2";
        write_v1(
            &path,
            &[(
                "client_premium_sha2|zz|a@example.com",
                "ordered",
                p,
                "A",
                "a@example.com",
                "a",
                Some(1),
                None,
            )],
        );
        let err = Journal::open(&path).unwrap_err().to_string();
        assert!(
            err.contains("client_premium_sha2|zz|a@example.com"),
            "{err}"
        );
    }

    #[test]
    fn stored_state_is_exactly_its_text() {
        for state in RowState::ALL {
            assert_eq!(RowState::from_text(state.as_str()), Some(state));
        }
        assert_eq!(RowState::from_text("retry"), None);
        assert_eq!(RowState::from_text("post_failed"), None);
        let mut j = Journal::open_temporary().unwrap();
        j.stage(&[spec(1, "A")], false).unwrap();
        j.commit([Update::Intent {
            spec: spec(1, "A"),
            key_file: None,
            csr_file: None,
            csr: None,
        }])
        .unwrap();
        for text in ["retry", "post_failed", "possible_duplicate", "Ordered"] {
            let refused = j
                .conn
                .execute("UPDATE rows SET state = ?1", [text])
                .unwrap_err();
            assert_eq!(
                refused.sqlite_error_code(),
                Some(ErrorCode::ConstraintViolation),
                "{text}"
            );
        }
    }

    #[test]
    fn common_name_with_separator_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.sqlite");
        let row = || {
            spec_with(
                1,
                None,
                "Smith | Sales, \"EU\"",
                &["s@example.com"],
                "smith",
            )
        };
        // Would have shared the version-1 key `…|a|b|s@example.com` with "a|b".
        let other = || spec_with(2, None, "a", &["b|s@example.com"], "other");
        {
            let mut j = Journal::open(&path).unwrap();
            assert!(j.stage(&[row(), other()], false).unwrap().is_empty());
            j.commit([
                Update::Intent {
                    spec: row(),
                    key_file: None,
                    csr_file: None,
                    csr: None,
                },
                Update::Ordered {
                    key: row().key,
                    order_id: 5,
                    request_ids: vec![50, 51],
                    request_status: None,
                    order_status: None,
                    certificate_id: None,
                },
            ])
            .unwrap();
        }
        let mut j = Journal::open(&path).unwrap();
        assert!(j.stage(&[row(), other()], true).unwrap().is_empty());
        let all = j.page_where("1", 0, 10).unwrap();
        assert_eq!(all[0].spec.common_name, "Smith | Sales, \"EU\"");
        assert_eq!(all[0].state, RowState::Ordered);
        assert_eq!(all[0].request_ids, vec![50, 51]);
        assert_eq!(all[1].state, RowState::New);
        let (key, name, state) = j.by_order(5).unwrap().unwrap();
        assert_eq!(
            (key.as_str(), name.as_str(), state),
            (row().key.as_str(), "smith", RowState::Ordered)
        );
        assert_ne!(row().key, other().key);
        let report = j.report_page(0, 10).unwrap();
        assert_eq!(report[0].row_id, key);
        assert_eq!(report[0].request_ids.as_deref(), Some("50;51"));
    }
}
