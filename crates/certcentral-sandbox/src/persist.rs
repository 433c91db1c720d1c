//! A sandbox that remembers: its CA, its orders, requests and certificates, and its clock, in
//! one SQLite file (`SandboxBuilder::state_file`, `certcentral sandbox --state FILE`).
//!
//! Layout (`PRAGMA user_version` = [`LAYOUT`]): `orders(id, json)` holds one row per order
//! (its certificates' DER as base64), `revoke_requests(id, json)` one row per revoke request,
//! and `sandbox_state(name, json)` the rows `ca` (both certificates and keys), `counters` (the
//! id counters and the CRL number) and `clock` (the clock offset in seconds). The request and
//! certificate indexes are rebuilt from the orders when the file is opened.
//!
//! After every API request (and before a `drop_after_commit` fault closes its connection) the
//! rows that request changed, and only those, are written in one transaction: a request that
//! changed nothing writes nothing, and the cost of a request does not grow with the number of
//! orders in the file. The first layout (version 0: the whole store as one JSON row `store`)
//! is converted when such a file is opened, in one transaction.
//!
//! One sandbox serves a file at a time: the file is locked exclusively while it runs, so a
//! second sandbox on the same file fails to start instead of overwriting the first one's
//! changes (or waits for it, [`crate::SandboxBuilder::state_file_wait`]).
//!
//! The file uses a write-ahead log (`FILE-wal`, folded into the file when the sandbox stops;
//! see [`lock`]). The CA key is in the file, so a new file is created with mode 0600 (owner
//! only; SQLite gives its log the same mode). A reset ([`crate::SandboxBuilder::reset_state`]) happens
//! under the lock: every row is removed except the id counters, which carry over so an order,
//! request or certificate id is never handed out twice by one file.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

use crate::SandboxError;
use crate::ca::CaParts;
use crate::state::{ChangedRows, IdCounters, OrderRecord, RevokeRecord, Store, StoreV1};

/// The layout this sandbox writes (`PRAGMA user_version`); 0 is the first one (one `store`
/// row), converted when opened.
pub(crate) const LAYOUT: i64 = 2;

/// An open, exclusively locked state file.
pub(crate) struct StateFile {
    inner: Mutex<Inner>,
}

struct Inner {
    conn: Connection,
    /// The clock offset the file holds (written only when it changes).
    clock: Option<i64>,
}

impl std::fmt::Debug for StateFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateFile").finish_non_exhaustive()
    }
}

/// What a state file held when it was opened.
pub(crate) struct Loaded {
    pub ca: Option<CaParts>,
    pub store: Option<Store>,
    pub clock_offset_seconds: Option<i64>,
}

fn state_error(path: &Path, what: &str, err: impl std::fmt::Display) -> SandboxError {
    SandboxError::State(format!("{}: {what}: {err}", path.display()))
}

/// Why opening a locked file failed: what, and the cause.
type OpenError = (String, String);

fn cause(what: &str) -> impl Fn(rusqlite::Error) -> OpenError + '_ {
    move |err| (what.to_owned(), err.to_string())
}

fn parse<T: serde::de::DeserializeOwned>(name: &str, text: &str) -> Result<T, OpenError> {
    serde_json::from_str(text).map_err(|e| (format!("the {name} row is unreadable"), e.to_string()))
}

impl StateFile {
    /// Opens (creating) and locks `path`, waiting up to `wait` for another sandbox to release
    /// it, converts a file of the first layout, and reads what it holds.
    /// With `reset`, the file is emptied first (under the lock), keeping the id counters.
    pub(crate) fn open(
        path: &Path,
        wait: std::time::Duration,
        reset: bool,
    ) -> Result<(Self, Loaded), SandboxError> {
        create_private(path)?;
        let mut conn = match lock(path, wait) {
            // A reset of a file that is no database at all starts a new one in its place.
            Err(err) if reset && not_a_database(&err) => {
                std::fs::remove_file(path)
                    .and_then(|()| remove_companions(path))
                    .map_err(|e| state_error(path, "cannot reset", e))?;
                create_private(path)?;
                lock(path, wait)
            }
            other => other,
        }
        .map_err(|e| {
            if not_a_database(&e) {
                state_error(path, "is not a sandbox state file (SQLite)", e)
            } else {
                state_error(
                    path,
                    "cannot lock the state file (is another sandbox using it?)",
                    e,
                )
            }
        })?;
        let loaded =
            prepare(&mut conn, reset).map_err(|(what, err)| state_error(path, &what, err))?;
        let file = Self {
            inner: Mutex::new(Inner {
                conn,
                clock: loaded.clock_offset_seconds,
            }),
        };
        Ok((file, loaded))
    }

    /// Stores the CA.
    pub(crate) fn save_ca(&self, ca: &CaParts) -> Result<(), SandboxError> {
        let json = serde_json::to_string(ca).map_err(|e| SandboxError::State(e.to_string()))?;
        let inner = crate::lock(&self.inner);
        put_row(&inner.conn, "ca", &json)
            .map_err(|e| SandboxError::State(format!("cannot store the CA: {e}")))
    }

    /// Writes what changed in the store since the last write, and the clock offset when it
    /// changed, in one transaction; nothing when nothing changed. A failure is logged (the
    /// sandbox keeps serving from memory, and the changes stay pending for the next write).
    pub(crate) fn save(&self, store: &mut Store, clock_offset_seconds: i64) {
        let mut inner = crate::lock(&self.inner);
        let clock = (inner.clock != Some(clock_offset_seconds)).then_some(clock_offset_seconds);
        if clock.is_none() && !store.has_changes() {
            return;
        }
        let result = store
            .changed_rows()
            .map_err(|e| e.to_string())
            .and_then(|rows| commit_rows(&mut inner.conn, &rows, clock).map_err(|e| e.to_string()));
        match result {
            Ok(()) => {
                store.clear_changes();
                inner.clock = Some(clock_offset_seconds);
            }
            Err(err) => tracing::error!(%err, "sandbox could not write its state file"),
        }
    }
}

/// Writes the changed rows (and the clock offset, if given) in one transaction.
fn commit_rows(
    conn: &mut Connection,
    rows: &ChangedRows,
    clock: Option<i64>,
) -> Result<(), rusqlite::Error> {
    let tx = conn.transaction()?;
    write_rows(&tx, rows, clock)?;
    tx.commit()
}

/// Writes the changed rows (and the clock offset, if given).
fn write_rows(
    conn: &Connection,
    rows: &ChangedRows,
    clock: Option<i64>,
) -> Result<(), rusqlite::Error> {
    for (table, rows) in [
        ("orders", &rows.orders),
        ("revoke_requests", &rows.revoke_requests),
    ] {
        for (id, json) in rows {
            match json {
                Some(json) => conn
                    .prepare_cached(&format!(
                        "INSERT INTO {table} (id, json) VALUES (?1, ?2)
                         ON CONFLICT(id) DO UPDATE SET json = excluded.json"
                    ))?
                    .execute(params![id, json])?,
                None => conn
                    .prepare_cached(&format!("DELETE FROM {table} WHERE id = ?1"))?
                    .execute(params![id])?,
            };
        }
    }
    if let Some(counters) = &rows.counters {
        put_row(conn, "counters", counters)?;
    }
    if let Some(clock) = clock {
        put_row(conn, "clock", &clock.to_string())?;
    }
    Ok(())
}

/// Sets a row of `sandbox_state`.
fn put_row(conn: &Connection, name: &str, json: &str) -> Result<(), rusqlite::Error> {
    conn.prepare_cached(
        "INSERT INTO sandbox_state (name, json) VALUES (?1, ?2)
         ON CONFLICT(name) DO UPDATE SET json = excluded.json",
    )?
    .execute(params![name, json])?;
    Ok(())
}

/// Reads a row of `sandbox_state`.
fn get_row(conn: &Connection, name: &str) -> Result<Option<String>, rusqlite::Error> {
    conn.query_row(
        "SELECT json FROM sandbox_state WHERE name = ?1",
        params![name],
        |row| row.get(0),
    )
    .optional()
}

/// In one transaction: checks the layout, resets (with `reset`), converts a file of the first
/// layout, and reads what the file holds.
fn prepare(conn: &mut Connection, reset: bool) -> Result<Loaded, OpenError> {
    let tx = conn.transaction().map_err(cause("cannot read"))?;
    let layout: i64 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(cause("cannot read"))?;
    if layout > LAYOUT {
        return Err((
            "cannot read".into(),
            format!(
                "the file was written by a newer sandbox (layout {layout}; this one reads up \
                 to {LAYOUT})"
            ),
        ));
    }
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, json TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS revoke_requests (id INTEGER PRIMARY KEY, json TEXT NOT NULL);",
    )
    .map_err(cause("cannot convert"))?;
    if reset {
        reset_keeping_counters(&tx).map_err(cause("cannot reset"))?;
    }
    let legacy = get_row(&tx, "store").map_err(cause("cannot read"))?;
    let store = match legacy {
        // The first layout: the whole store in one row, written again row by row.
        Some(text) => {
            let mut store = Store::from_v1(parse::<StoreV1>("store", &text)?);
            let rows = store
                .changed_rows()
                .map_err(|e| ("cannot convert".to_owned(), e.to_string()))?;
            write_rows(&tx, &rows, None).map_err(cause("cannot convert"))?;
            tx.execute("DELETE FROM sandbox_state WHERE name = 'store'", [])
                .map_err(cause("cannot convert"))?;
            store.clear_changes();
            Some(store)
        }
        None => load_store(&tx)?,
    };
    if layout != LAYOUT {
        tx.pragma_update(None, "user_version", LAYOUT)
            .map_err(cause("cannot convert"))?;
    }
    let ca = match get_row(&tx, "ca").map_err(cause("cannot read"))? {
        Some(text) => Some(parse::<CaParts>("ca", &text)?),
        None => None,
    };
    let clock_offset_seconds = match get_row(&tx, "clock").map_err(cause("cannot read"))? {
        Some(text) => Some(parse::<i64>("clock", &text)?),
        None => None,
    };
    tx.commit().map_err(cause("cannot write"))?;
    Ok(Loaded {
        ca,
        store,
        clock_offset_seconds,
    })
}

/// The store of a file in the current layout (`None`: the file holds none yet).
fn load_store(conn: &Connection) -> Result<Option<Store>, OpenError> {
    let Some(counters) = get_row(conn, "counters").map_err(cause("cannot read"))? else {
        return Ok(None);
    };
    let counters: IdCounters = parse("counters", &counters)?;
    fn rows<T: serde::de::DeserializeOwned>(
        conn: &Connection,
        table: &str,
    ) -> Result<Vec<T>, OpenError> {
        let mut statement = conn
            .prepare(&format!("SELECT id, json FROM {table} ORDER BY id"))
            .map_err(cause("cannot read"))?;
        let rows = statement
            .query_map([], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
            })
            .map_err(cause("cannot read"))?;
        rows.map(|row| {
            let (id, json) = row.map_err(cause("cannot read"))?;
            parse(&format!("{table} {id}"), &json)
        })
        .collect()
    }
    let orders: Vec<OrderRecord> = rows(conn, "orders")?;
    let revoke_requests: Vec<RevokeRecord> = rows(conn, "revoke_requests")?;
    Ok(Some(Store::from_parts(counters, orders, revoke_requests)))
}

/// Creates `path` empty with mode 0600 unless it exists (it holds the CA key).
fn create_private(path: &Path) -> Result<(), SandboxError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(state_error(path, "cannot create", err)),
    }
}

/// Removes every row but keeps the id counters (of either layout; a counter row that cannot
/// be read is dropped too).
fn reset_keeping_counters(conn: &Connection) -> Result<(), rusqlite::Error> {
    let counters = match get_row(conn, "counters")? {
        Some(text) => Some(text),
        // The first layout kept the counters in its `store` row.
        None => get_row(conn, "store")?,
    }
    .and_then(|text| serde_json::from_str::<IdCounters>(&text).ok());
    conn.execute_batch(
        "DELETE FROM sandbox_state; DELETE FROM orders; DELETE FROM revoke_requests;",
    )?;
    if let Some(counters) = counters {
        let json = serde_json::to_string(&Store::continuing(counters).counters())
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        put_row(conn, "counters", &json)?;
    }
    Ok(())
}

/// Opens `path` and takes its exclusive lock (waiting up to `wait`); creates the table and
/// switches the file to write-ahead logging.
///
/// SQLite's busy handler alone can deadlock here: two connections in exclusive locking mode
/// opening a file in write-ahead mode may each hold a shared lock while waiting for the
/// exclusive one, and both wait out their whole timeout (seen with four processes started
/// together: every few hundred starts, one failed after the full wait). So each attempt
/// waits briefly, then lets go of what it holds and tries again after a random pause, until
/// `wait` has passed.
fn lock(path: &Path, wait: std::time::Duration) -> Result<Connection, rusqlite::Error> {
    use rand::RngExt as _;
    const ATTEMPT: std::time::Duration = std::time::Duration::from_millis(200);
    let deadline = std::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match try_lock(path, left.min(ATTEMPT)) {
            Err(err) if is_busy(&err) && left > ATTEMPT => {
                let pause = std::time::Duration::from_millis(rand::rng().random_range(1..=50));
                std::thread::sleep(pause);
            }
            other => return other,
        }
    }
}

/// Whether `err` is SQLite's "database is locked" (or busy) answer.
fn is_busy(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// One attempt of [`lock`].
fn try_lock(path: &Path, wait: std::time::Duration) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(wait)?;
    conn.execute_batch(
        // The exclusive lock is taken before anything is read: a connection holding a shared
        // lock while waiting for the exclusive one could deadlock with another.
        "PRAGMA locking_mode = EXCLUSIVE;
         BEGIN EXCLUSIVE;
         CREATE TABLE IF NOT EXISTS sandbox_state (name TEXT PRIMARY KEY, json TEXT NOT NULL);
         COMMIT;",
    )?;
    // Under the lock (kept: exclusive locking mode), a write-ahead log without shared memory:
    // a commit appends to the log without waiting for the disk (`synchronous = NORMAL`), so a
    // request's write costs far less than with a rollback journal. A killed process loses
    // nothing committed (the operating system has the log); a power cut may lose the last
    // commits, never the file.
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")?;
    Ok(conn)
}

/// Removes what SQLite keeps beside `path` (its log and journal): a state file replaced by a
/// new one must not inherit them.
fn remove_companions(path: &Path) -> std::io::Result<()> {
    for suffix in ["-wal", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        match std::fs::remove_file(&name) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
            _ => {}
        }
    }
    Ok(())
}

/// Whether SQLite found the file to be something else than a database.
fn not_a_database(err: &rusqlite::Error) -> bool {
    err.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Four openers started together on a file in write-ahead mode, many times over: each
    /// gets the lock in turn, none waits out its timeout (with SQLite's handler alone, about
    /// one start in ten deadlocked until its timeout).
    #[test]
    fn openers_started_together_all_get_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite3");
        drop(lock(&path, Duration::from_secs(5)).unwrap());
        for _ in 0..50 {
            let openers: Vec<_> = (0..4)
                .map(|_| {
                    let path = path.clone();
                    std::thread::spawn(move || {
                        let started = Instant::now();
                        let conn = lock(&path, Duration::from_secs(30));
                        std::thread::sleep(Duration::from_millis(1));
                        (conn.map(drop), started.elapsed())
                    })
                })
                .collect();
            for opener in openers {
                let (conn, took) = opener.join().unwrap();
                assert!(conn.is_ok(), "{conn:?}");
                assert!(took < Duration::from_secs(20), "{took:?}");
            }
        }
    }

    /// With nobody letting go, `lock` gives up when `wait` has passed, with SQLite's error.
    #[test]
    fn lock_gives_up_after_the_wait() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite3");
        let _holder = lock(&path, Duration::from_secs(5)).unwrap();
        let started = Instant::now();
        let err = lock(&path, Duration::from_millis(600))
            .map(drop)
            .unwrap_err();
        assert!(is_busy(&err), "{err}");
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(600) && took < Duration::from_secs(5),
            "{took:?}"
        );
    }
}
