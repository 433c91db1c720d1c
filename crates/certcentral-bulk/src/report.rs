//! The run report: one line per roster row, CSV or JSON by the file's extension.
//!
//! A report may only replace a report: the path is checked before anything is ordered
//! ([`check_target`]) and again just before writing. It must end in `.csv` or `.json`, must not
//! be a symbolic link, the roster or the journal, and an existing file there must be one
//! certcentral wrote, recognized by how it starts ([`is_report`]):
//!
//! - CSV: the first line is exactly the header [`HEADER`] (`row,row_id,state,...,valid_till`),
//!   or the header of earlier versions (its first [`EARLIER_COLUMNS`] columns, up to `error`);
//! - JSON: `[` on the first line, then `]` (no rows) or a line starting with `{"row":`.
//!
//! The report is written to a temporary file in the same folder, then renamed over the
//! path (atomically): a crash leaves the old report or the new one, never half of one.

use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::BulkError;
use super::journal::{Journal, ReportLine};

/// The CSV header (the fields of [`ReportLine`]).
pub(crate) const HEADER: [&str; 15] = [
    "row",
    "row_id",
    "state",
    "common_name",
    "emails",
    "order_id",
    "request_ids",
    "request_status",
    "order_status",
    "certificate_id",
    "key_file",
    "certificate_file",
    "error",
    "renewal_of_order_id",
    "valid_till",
];

/// How many columns of [`HEADER`] the reports of earlier versions had (up to `error`).
pub(crate) const EARLIER_COLUMNS: usize = 13;

/// How the JSON report starts when it has rows (and `[\n]` when it has none).
const JSON_START: &str = "[\n{\"row\":";

fn each_line(
    journal: &Journal,
    mut f: impl FnMut(&ReportLine) -> Result<(), BulkError>,
) -> Result<u64, BulkError> {
    let mut after = 0;
    let mut n = 0u64;
    loop {
        let page = journal.report_page(after, 512)?;
        let Some(last) = page.last() else {
            return Ok(n);
        };
        after = last.row;
        for line in &page {
            f(line)?;
            n += 1;
        }
    }
}

fn is_json(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

/// Whether the file at `path` starts the way a report certcentral writes starts (see the
/// module documentation). Unreadable files are not reports.
pub(crate) fn is_report(path: &Path) -> bool {
    let mut start = Vec::with_capacity(256);
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    if file.take(256).read_to_end(&mut start).is_err() {
        return false;
    }
    let csv_header = format!("{}\n", HEADER.join(","));
    let earlier_header = format!("{}\n", HEADER[..EARLIER_COLUMNS].join(","));
    let start = String::from_utf8_lossy(&start);
    start.starts_with(&csv_header)
        || start.starts_with(&earlier_header)
        || start.starts_with(JSON_START)
        || start == "[\n]\n"
}

/// `path` with its folder resolved (symbolic links, `..`), to compare two paths.
fn resolved(path: &Path) -> PathBuf {
    let name = path.file_name().map(PathBuf::from).unwrap_or_default();
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match std::fs::canonicalize(&parent) {
        Ok(dir) => dir.join(name),
        Err(_) => std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
    }
}

/// Whether `a` and `b` name the same file (or the same path, when one does not exist yet).
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return x.dev() == y.dev() && x.ino() == y.ino();
        }
    }
    resolved(a) == resolved(b)
}

/// The rules an existing file at the report path must pass: not a link, a regular file,
/// written by certcentral as a report.
fn check_existing(path: &Path) -> Result<(), BulkError> {
    let usage = |what: String| BulkError::Usage(format!("--report {}: {what}", path.display()));
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(usage(format!("cannot check it: {e}"))),
        Ok(m) if m.file_type().is_symlink() => Err(usage(
            "is a symbolic link; certcentral does not write through links: give the real path"
                .into(),
        )),
        Ok(m) if m.is_dir() => Err(usage("is a folder; give a file name ending in .csv or .json".into())),
        Ok(m) if !m.is_file() => Err(usage("is not a regular file".into())),
        Ok(_) if !is_report(path) => Err(usage(
            "exists and is not a report certcentral wrote (it does not start with the report header); refusing to overwrite it: choose another path or move the file away"
                .into(),
        )),
        Ok(_) => Ok(()),
    }
}

/// Checks, before anything is ordered, that a report can be written to `path`: it ends in
/// `.csv` or `.json`; it is not the roster nor the journal; its folder exists and is
/// writable; an existing file there is a report certcentral wrote earlier (never a key,
/// CSR, certificate or any other file), and not a symbolic link.
pub(crate) fn check_target(path: &Path, roster: &Path, journal: &Path) -> Result<(), BulkError> {
    let usage = |what: String| BulkError::Usage(format!("--report {}: {what}", path.display()));
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if !matches!(ext.as_deref(), Some("csv" | "json")) {
        return Err(usage(
            "a report file name must end in .csv or .json (so it can never be a key, CSR or certificate)"
                .into(),
        ));
    }
    if same_file(path, roster) {
        return Err(usage(
            "is the roster; give another file for the report".into(),
        ));
    }
    if same_file(path, journal) {
        return Err(usage(
            "is the journal; give another file for the report".into(),
        ));
    }
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match std::fs::metadata(&folder) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(usage(format!("{} is not a folder", folder.display())));
        }
        Err(_) => {
            return Err(usage(format!(
                "the folder {} does not exist; create it first or choose another path",
                folder.display()
            )));
        }
    }
    check_existing(path)?;
    // Writable? (A probe file, removed at once.)
    tempfile::Builder::new()
        .prefix(".certcentral-report")
        .tempfile_in(&folder)
        .map(drop)
        .map_err(|e| {
            usage(format!(
                "cannot write in the folder {}: {e}",
                folder.display()
            ))
        })
}

/// Writes the report for every roster row to `path` (`.json` → a JSON array, `.csv` → CSV
/// with a header), page by page, atomically (temporary file in the same folder, then
/// renamed). The path is checked again first (see [`check_target`]). Returns the number of
/// lines.
pub(crate) fn write(journal: &Journal, path: &Path) -> Result<u64, BulkError> {
    let fail = |e: &dyn std::fmt::Display| BulkError::Io(format!("report {}: {e}", path.display()));
    check_existing(path)?;
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".certcentral-report")
        .tempfile_in(&folder)
        .map_err(|e| fail(&e))?;
    let n = if is_json(path) {
        let mut out = BufWriter::new(tmp.as_file_mut());
        out.write_all(b"[").map_err(|e| fail(&e))?;
        let n = each_line(journal, |line| {
            out.write_all(b"\n").map_err(|e| fail(&e))?;
            serde_json::to_writer(&mut out, line).map_err(|e| fail(&e))?;
            out.write_all(b",").map_err(|e| fail(&e))
        })?;
        // Replace the last separator: rewrite as a proper array end.
        let out = out.into_inner().map_err(|e| fail(&e))?;
        if n > 0 {
            out.seek(SeekFrom::End(-1)).map_err(|e| fail(&e))?;
        }
        out.write_all(b"\n]\n").map_err(|e| fail(&e))?;
        n
    } else {
        let mut w = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(BufWriter::new(tmp.as_file_mut()));
        w.write_record(HEADER).map_err(|e| fail(&e))?;
        let n = each_line(journal, |line| w.serialize(line).map_err(|e| fail(&e)))?;
        w.flush().map_err(|e| fail(&e))?;
        n
    };
    tmp.as_file().sync_all().map_err(|e| fail(&e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(|e| fail(&e))?;
    }
    // Checked again right before the rename: a file may have appeared meanwhile.
    check_existing(path)?;
    tmp.persist(path).map_err(|e| fail(&e.error))?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_reports_are_recognized() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("r.csv");
        std::fs::write(&csv, format!("{}\n1,a,done\n", HEADER.join(","))).unwrap();
        assert!(is_report(&csv));
        let json = dir.path().join("r.json");
        std::fs::write(&json, "[\n{\"row\":1,\"row_id\":\"x\"}\n]\n").unwrap();
        assert!(is_report(&json));
        std::fs::write(&json, "[\n]\n").unwrap();
        assert!(is_report(&json));
        for other in [
            "common_name,emails\nA,a@example.com\n",
            "-----BEGIN PRIVATE KEY-----\n",
            "[1,2]",
            "",
        ] {
            std::fs::write(&csv, other).unwrap();
            assert!(!is_report(&csv), "{other}");
        }
    }

    #[test]
    fn targets_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let roster = dir.path().join("roster.csv");
        std::fs::write(&roster, "common_name,emails\n").unwrap();
        let journal = dir.path().join("j.sqlite");
        let err = |p: &Path| check_target(p, &roster, &journal).unwrap_err().to_string();
        assert!(err(&dir.path().join("rob.key")).contains("must end in .csv or .json"));
        assert!(err(&roster).contains("is the roster"));
        assert!(err(&dir.path().join("no/such/r.csv")).contains("does not exist"));
        let key = dir.path().join("key.csv");
        std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\n").unwrap();
        assert!(err(&key).contains("not a report certcentral wrote"));
        check_target(&dir.path().join("new.json"), &roster, &journal).unwrap();
    }

    #[test]
    fn write_checks_again_and_replaces_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open_temporary().unwrap();
        let path = dir.path().join("r.csv");
        // A file that appeared after the early check is still never replaced.
        std::fs::write(&path, "-----BEGIN PRIVATE KEY-----\n").unwrap();
        assert!(write(&journal, &path).is_err());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "-----BEGIN PRIVATE KEY-----\n"
        );
        std::fs::remove_file(&path).unwrap();
        write(&journal, &path).unwrap();
        assert!(is_report(&path));
        write(&journal, &path).unwrap();
        let json = dir.path().join("r.json");
        write(&journal, &json).unwrap();
        assert_eq!(std::fs::read_to_string(&json).unwrap(), "[\n]\n");
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }
}
