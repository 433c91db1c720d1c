//! The run report: one line per roster row, CSV or JSON by the file's extension.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use super::BulkError;
use super::journal::{Journal, ReportLine};

/// The CSV header (the fields of [`ReportLine`]).
pub const HEADER: [&str; 13] = [
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
];

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

/// Writes the report for every roster row to `path` (`.json` → a JSON array, anything else →
/// CSV with a header), page by page. Returns the number of lines.
pub fn write(journal: &Journal, path: &Path) -> Result<u64, BulkError> {
    let json = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let fail = |e: &dyn std::fmt::Display| BulkError::Io(format!("report {}: {e}", path.display()));
    let file = File::create(path).map_err(|e| fail(&e))?;
    if json {
        let mut out = BufWriter::new(file);
        out.write_all(b"[").map_err(|e| fail(&e))?;
        let n = each_line(journal, |line| {
            out.write_all(b"\n").map_err(|e| fail(&e))?;
            serde_json::to_writer(&mut out, line).map_err(|e| fail(&e))?;
            out.write_all(b",").map_err(|e| fail(&e))
        })?;
        // Replace the last separator: rewrite as a proper array end.
        let mut out = out.into_inner().map_err(|e| fail(&e))?;
        if n > 0 {
            use std::io::{Seek, SeekFrom};
            out.seek(SeekFrom::End(-1)).map_err(|e| fail(&e))?;
        }
        out.write_all(b"\n]\n").map_err(|e| fail(&e))?;
        out.flush().map_err(|e| fail(&e))?;
        Ok(n)
    } else {
        let mut w = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(BufWriter::new(file));
        w.write_record(HEADER).map_err(|e| fail(&e))?;
        let n = each_line(journal, |line| w.serialize(line).map_err(|e| fail(&e)))?;
        w.flush().map_err(|e| fail(&e))?;
        Ok(n)
    }
}
