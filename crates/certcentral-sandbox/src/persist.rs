//! A sandbox that remembers: its CA, its orders, requests and certificates, and its clock, in
//! one SQLite file (`SandboxBuilder::state_file`, `certcentral sandbox --state FILE`).
//!
//! The file has one table, `sandbox_state(name, json)`, with the rows `ca` (both certificates
//! and keys), `store` (every order, request, certificate and revoke request) and `clock` (the
//! clock offset in seconds). The store is written after every API request (and before a
//! `drop_after_commit` fault closes its connection), in one transaction. One sandbox serves a
//! file at a time: the file is locked exclusively while it runs, so a second sandbox on the
//! same file fails to start instead of overwriting the first one's changes (or waits for it,
//! [`crate::SandboxBuilder::state_file_wait`]).
//!
//! The CA key is in the file, so a new file is created with mode 0600 (owner only; SQLite
//! gives its journal the same mode). A reset ([`crate::SandboxBuilder::reset_state`]) happens
//! under the lock: every row is removed except the id counters, which carry over so an order,
//! request or certificate id is never handed out twice by one file.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

use crate::SandboxError;
use crate::ca::CaParts;
use crate::state::Store;

/// An open, exclusively locked state file.
pub(crate) struct StateFile {
    conn: Mutex<Connection>,
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

impl StateFile {
    /// Opens (creating) and locks `path`, waiting up to `wait` for another sandbox to release
    /// it, and reads what it holds.
    /// With `reset`, the file is emptied first (under the lock), keeping the id counters.
    pub(crate) fn open(
        path: &Path,
        wait: std::time::Duration,
        reset: bool,
    ) -> Result<(Self, Loaded), SandboxError> {
        create_private(path)?;
        let conn = match lock(path, wait) {
            // A reset of a file that is no database at all starts a new one in its place.
            Err(err) if reset && not_a_database(&err) => {
                std::fs::remove_file(path).map_err(|e| state_error(path, "cannot reset", e))?;
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
        if reset {
            reset_keeping_counters(&conn).map_err(|e| state_error(path, "cannot reset", e))?;
        }
        let read = |name: &str| -> Result<Option<String>, SandboxError> {
            conn.query_row(
                "SELECT json FROM sandbox_state WHERE name = ?1",
                params![name],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| state_error(path, "cannot read", e))
        };
        fn parse<T: serde::de::DeserializeOwned>(
            path: &Path,
            name: &str,
            text: Option<String>,
        ) -> Result<Option<T>, SandboxError> {
            text.map(|t| serde_json::from_str(&t))
                .transpose()
                .map_err(|e| state_error(path, &format!("the {name} row is unreadable"), e))
        }
        let ca: Option<CaParts> = parse(path, "ca", read("ca")?)?;
        let mut store: Option<Store> = parse(path, "store", read("store")?)?;
        if let Some(store) = &mut store {
            store.after_load();
        }
        let clock_offset_seconds: Option<i64> = parse(path, "clock", read("clock")?)?;
        let file = Self {
            conn: Mutex::new(conn),
        };
        Ok((
            file,
            Loaded {
                ca,
                store,
                clock_offset_seconds,
            },
        ))
    }

    /// Writes rows in one transaction.
    fn write(&self, rows: &[(&str, String)]) -> Result<(), rusqlite::Error> {
        let mut conn = crate::lock(&self.conn);
        let tx = conn.transaction()?;
        for (name, json) in rows {
            tx.execute(
                "INSERT INTO sandbox_state (name, json) VALUES (?1, ?2)
                 ON CONFLICT(name) DO UPDATE SET json = excluded.json",
                params![name, json],
            )?;
        }
        tx.commit()
    }

    /// Stores the CA.
    pub(crate) fn save_ca(&self, ca: &CaParts) -> Result<(), SandboxError> {
        let json = serde_json::to_string(ca).map_err(|e| SandboxError::State(e.to_string()))?;
        self.write(&[("ca", json)])
            .map_err(|e| SandboxError::State(format!("cannot store the CA: {e}")))
    }

    /// Stores the store and the clock offset; a failure is logged (the sandbox keeps serving
    /// from memory).
    pub(crate) fn save(&self, store: &Store, clock_offset_seconds: i64) {
        let rows = serde_json::to_string(store).map(|store| {
            [
                ("store", store),
                ("clock", clock_offset_seconds.to_string()),
            ]
        });
        let result = match rows {
            Ok(rows) => self.write(&rows).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(err) = result {
            tracing::error!(%err, "sandbox could not write its state file");
        }
    }
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

/// Removes every row but keeps the old store's id counters (in one transaction).
fn reset_keeping_counters(conn: &Connection) -> Result<(), String> {
    let tx = conn.unchecked_transaction().map_err(|e| e.to_string())?;
    // Only the counters of the old store are kept; the rest may even be unreadable.
    let counters = tx
        .query_row(
            "SELECT json FROM sandbox_state WHERE name = 'store'",
            [],
            |row| row.get::<_, String>(0),
        )
        .optional()
        .map_err(|e| e.to_string())?
        .and_then(|text| serde_json::from_str::<crate::state::IdCounters>(&text).ok());
    tx.execute("DELETE FROM sandbox_state", [])
        .map_err(|e| e.to_string())?;
    if let Some(counters) = counters {
        let store =
            serde_json::to_string(&Store::continuing(counters)).map_err(|e| e.to_string())?;
        tx.execute(
            "INSERT INTO sandbox_state (name, json) VALUES ('store', ?1)",
            params![store],
        )
        .map_err(|e| e.to_string())?;
    }
    tx.commit().map_err(|e| e.to_string())
}

/// Opens `path` and takes its exclusive lock (waiting up to `wait`); creates the table.
fn lock(path: &Path, wait: std::time::Duration) -> Result<Connection, rusqlite::Error> {
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
    Ok(conn)
}

/// Whether SQLite found the file to be something else than a database.
fn not_a_database(err: &rusqlite::Error) -> bool {
    err.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase)
}
