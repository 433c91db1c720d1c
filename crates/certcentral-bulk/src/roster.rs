//! Roster input: CSV with a header, or JSON Lines, read one row at a time.
//!
//! A [`RosterReader`] is an iterator of [`RosterRow`]s: a [`RawRow`] (the text of each cell,
//! nothing interpreted yet) or a [`RowError`] for a row that cannot even be read. Interpretation and validation happen in
//! [`crate::spec`]. Nothing is held in memory beyond the current row.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde_json::Value;

use super::BulkError;

/// Every column a roster may have. `emails` is required; `common_name` where the row's
/// product takes one (the legacy products but `class1_smime`).
pub(crate) const COLUMNS: [&str; 16] = [
    "id",
    "common_name",
    "emails",
    "organization_units",
    "validity_years",
    "custom_expiration_date",
    "csr",
    "name",
    "product",
    "first_name",
    "last_name",
    "pseudonym",
    "cn_indicator",
    "usage",
    "additional_usage",
    "profile",
];

/// The columns holding a `;`-separated list (a JSON array in JSON Lines).
const LIST_COLUMNS: [&str; 3] = ["emails", "organization_units", "additional_usage"];

/// The longest roster line (and CSV row, even spread over several lines) read, in bytes: a
/// longer one stops the run with an error naming the line (the file is probably not a
/// roster). Memory use per row stays bounded whatever the file holds.
pub(crate) const MAX_LINE_BYTES: usize = 64 * 1024;

/// The longest cell of a list column (`emails`, `organization_units`, `additional_usage`), in
/// bytes.
pub(crate) const MAX_LIST_BYTES: usize = 16 * 1024;

/// The longest cell of any other column, in bytes.
pub(crate) const MAX_FIELD_BYTES: usize = 1024;

/// Slack for the CSV parser's read-ahead when bounding a row spread over several lines.
const READ_AHEAD: u64 = 16 * 1024;

/// Checks a cell's size against [`MAX_LIST_BYTES`] / [`MAX_FIELD_BYTES`].
fn check_size(column: &str, value: &str) -> Result<(), String> {
    let limit = if LIST_COLUMNS.contains(&column) {
        MAX_LIST_BYTES
    } else {
        MAX_FIELD_BYTES
    };
    if value.len() > limit {
        return Err(format!(
            "{} bytes, more than the {limit} allowed in this column",
            value.len()
        ));
    }
    Ok(())
}

/// The roster's file format, chosen by extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RosterFormat {
    /// `.csv`: comma-separated with a header line.
    Csv,
    /// `.jsonl` / `.ndjson`: one JSON object per line.
    Jsonl,
}

impl RosterFormat {
    /// The format for `path`'s extension, or a usage error naming the allowed extensions.
    pub(crate) fn from_path(path: &Path) -> Result<Self, BulkError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        match ext.as_str() {
            "csv" => Ok(Self::Csv),
            "jsonl" | "ndjson" => Ok(Self::Jsonl),
            _ => Err(BulkError::Usage(format!(
                "roster {}: unknown format (allowed extensions: .csv, .jsonl, .ndjson)",
                path.display()
            ))),
        }
    }
}

/// The cells of one roster row, as written (trimmed; lists split on `;`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RawRow {
    /// 1-based number of the row among the data rows (the header is not counted).
    pub row: u64,
    /// 1-based line of the file where the row starts.
    pub line: u64,
    /// `id`: an explicit stable identity.
    pub id: Option<String>,
    /// `common_name`.
    pub common_name: Option<String>,
    /// `emails`, split on `;`, empty entries dropped.
    pub emails: Vec<String>,
    /// `organization_units`, split on `;`, empty entries dropped.
    pub organization_units: Vec<String>,
    /// `validity_years`, unparsed.
    pub validity_years: Option<String>,
    /// `custom_expiration_date`, unparsed.
    pub custom_expiration_date: Option<String>,
    /// `csr`: path of an existing CSR file (relative to the roster's folder).
    pub csr: Option<String>,
    /// `name`: stem of the output files.
    pub name: Option<String>,
    /// `product`: overrides `--product`.
    pub product: Option<String>,
    /// `first_name`: the person's given name.
    pub first_name: Option<String>,
    /// `last_name`: the person's surname.
    pub last_name: Option<String>,
    /// `pseudonym`.
    pub pseudonym: Option<String>,
    /// `cn_indicator`, unparsed.
    pub cn_indicator: Option<String>,
    /// `usage`, unparsed.
    pub usage: Option<String>,
    /// `additional_usage`, split on `;`, empty entries dropped.
    pub additional_usages: Vec<String>,
    /// `profile`, unparsed.
    pub profile: Option<String>,
}

impl RawRow {
    /// The row's name for people (invalid rows in the journal and the report): its common
    /// name, else the person's names or pseudonym, else the first email.
    pub(crate) fn display_name(&self) -> String {
        if let Some(name) = &self.common_name {
            return name.clone();
        }
        match (&self.first_name, &self.last_name, &self.pseudonym) {
            (Some(first), Some(last), _) => format!("{first} {last}"),
            (Some(name), None, _) | (None, Some(name), _) | (None, None, Some(name)) => {
                name.clone()
            }
            (None, None, None) => self.emails.first().cloned().unwrap_or_default(),
        }
    }
}

/// Why one roster row is invalid.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RowError {
    /// 1-based data row number (0 for the header).
    pub row: u64,
    /// 1-based line in the file.
    pub line: u64,
    /// The column (or order-wide flag) at fault.
    pub column: String,
    /// What is wrong and what is allowed.
    pub reason: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "row {} (line {}), column {}: {}",
            self.row, self.line, self.column, self.reason
        )
    }
}

fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

fn split_list(s: &str) -> Vec<String> {
    s.split(';').filter_map(non_empty).collect()
}

fn set_cell(raw: &mut RawRow, column: &str, value: &str) {
    match column {
        "id" => raw.id = non_empty(value),
        "common_name" => raw.common_name = non_empty(value),
        "emails" => raw.emails = split_list(value),
        "organization_units" => raw.organization_units = split_list(value),
        "validity_years" => raw.validity_years = non_empty(value),
        "custom_expiration_date" => raw.custom_expiration_date = non_empty(value),
        "csr" => raw.csr = non_empty(value),
        "name" => raw.name = non_empty(value),
        "product" => raw.product = non_empty(value),
        "first_name" => raw.first_name = non_empty(value),
        "last_name" => raw.last_name = non_empty(value),
        "pseudonym" => raw.pseudonym = non_empty(value),
        "cn_indicator" => raw.cn_indicator = non_empty(value),
        "usage" => raw.usage = non_empty(value),
        "additional_usage" => raw.additional_usages = split_list(value),
        "profile" => raw.profile = non_empty(value),
        _ => {}
    }
}

fn unknown_column(column: &str) -> String {
    format!(
        "unknown column '{column}' (allowed: {})",
        COLUMNS.join(", ")
    )
}

/// One roster row as read: its cells, or why it cannot be read. An unreadable row is data
/// (it is reported and the run goes on), not an error that stops the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RosterRow {
    /// The row's cells (boxed: a row error is far smaller).
    Read(Box<RawRow>),
    /// The row cannot be read (bad CSV or JSON, wrong cell count, a cell too long, …).
    Unreadable(RowError),
}

impl From<Result<RawRow, RowError>> for RosterRow {
    fn from(result: Result<RawRow, RowError>) -> Self {
        match result {
            Ok(raw) => Self::Read(Box::new(raw)),
            Err(e) => Self::Unreadable(e),
        }
    }
}

/// Streams the rows of a roster file: an [`Iterator`] of [`RosterRow`]s, or of the
/// [`BulkError`] (an I/O error, a line over [`MAX_LINE_BYTES`]) that ends the stream.
pub(crate) struct RosterReader {
    inner: Inner,
}

/// Counts newlines as the CSV parser reads, so rows get their true file line (the csv
/// crate's own line numbers skip blank lines and CRLF). Keeps only the newline offsets the
/// parser has read ahead, so memory stays bounded.
#[derive(Default)]
struct Lines {
    /// Newlines before `pending`'s first offset.
    counted: u64,
    /// Offsets of newlines read but not yet passed by a record end.
    pending: std::collections::VecDeque<u64>,
    /// Bytes read so far.
    offset: u64,
    /// Bytes since the last newline read.
    line_bytes: u64,
    /// Offset of the end of the last complete row.
    row_end: u64,
}

impl Lines {
    /// Line (1-based) of the byte just before `end`, i.e. of a record's last line.
    fn line_ending_at(&mut self, end: u64) -> u64 {
        self.row_end = end;
        let mut last = None;
        while let Some(&nl) = self.pending.front() {
            if nl >= end {
                break;
            }
            self.pending.pop_front();
            self.counted += 1;
            last = Some(nl);
        }
        if last == Some(end.saturating_sub(1)) {
            self.counted
        } else {
            self.counted + 1
        }
    }
}

struct Counting {
    inner: BufReader<File>,
    lines: std::sync::Arc<std::sync::Mutex<Lines>>,
}

impl std::io::Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        let base = lines.offset;
        for (i, b) in buf[..n].iter().enumerate() {
            if *b == b'\n' {
                lines.pending.push_back(base + i as u64);
                lines.line_bytes = 0;
            } else {
                lines.line_bytes += 1;
                if lines.line_bytes > MAX_LINE_BYTES as u64 {
                    let line = lines.counted + lines.pending.len() as u64 + 1;
                    return Err(too_long(line));
                }
            }
        }
        lines.offset += n as u64;
        if lines.offset - lines.row_end > MAX_LINE_BYTES as u64 + READ_AHEAD {
            let line = lines.counted + 1;
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "the row starting at line {line} is longer than {MAX_LINE_BYTES} bytes (the limit of a roster row); is this a roster?"
                ),
            ));
        }
        Ok(n)
    }
}

fn too_long(line: u64) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!(
            "line {line} is longer than {MAX_LINE_BYTES} bytes (the limit of a roster line); is this a roster?"
        ),
    )
}

enum Inner {
    Csv(CsvRows),
    Jsonl(JsonlRows),
}

impl std::fmt::Debug for RosterReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let row = match &self.inner {
            Inner::Csv(csv) => csv.row,
            Inner::Jsonl(jsonl) => jsonl.row,
        };
        f.debug_struct("RosterReader").field("row", &row).finish()
    }
}

impl RosterReader {
    /// Opens `path` (format by extension) and, for CSV, checks the header: every column
    /// known, `emails` present (`common_name` is checked per row: only some products take one),
    /// no column twice.
    pub(crate) fn open(path: &Path) -> Result<Self, BulkError> {
        let format = RosterFormat::from_path(path)?;
        let file = File::open(path).map_err(|e| {
            BulkError::Usage(format!("roster {}: cannot open: {e}", path.display()))
        })?;
        let inner = match format {
            RosterFormat::Csv => Inner::Csv(CsvRows::open(path, file)?),
            RosterFormat::Jsonl => Inner::Jsonl(JsonlRows {
                reader: BufReader::new(file),
                line: 0,
                buf: Vec::new(),
                row: 0,
            }),
        };
        Ok(Self { inner })
    }
}

impl Iterator for RosterReader {
    type Item = Result<RosterRow, BulkError>;

    /// The next row, `None` at the end. An I/O error ends the stream with a usage error.
    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            Inner::Csv(csv) => csv.next_row(),
            Inner::Jsonl(jsonl) => jsonl.next_row(),
        }
    }
}

/// The problems of a CSV header (its columns, lowercased): unknown columns, a column twice,
/// a required column missing.
fn header_problems(columns: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, c) in columns.iter().enumerate() {
        if !COLUMNS.contains(&c.as_str()) {
            problems.push(unknown_column(c));
        } else if columns[..i].contains(c) {
            problems.push(format!("column '{c}' appears twice"));
        }
    }
    for required in ["emails"] {
        if !columns.iter().any(|c| c == required) {
            problems.push(format!("required column '{required}' is missing"));
        }
    }
    problems
}

/// The rows of a CSV roster (after its header).
struct CsvRows {
    reader: csv::Reader<Counting>,
    lines: std::sync::Arc<std::sync::Mutex<Lines>>,
    columns: Vec<String>,
    record: csv::StringRecord,
    /// Data rows read so far.
    row: u64,
}

impl CsvRows {
    /// Reads and checks the header of `file` (the roster at `path`).
    fn open(path: &Path, file: File) -> Result<Self, BulkError> {
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Lines::default()));
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(Counting {
                inner: BufReader::new(file),
                lines: std::sync::Arc::clone(&lines),
            });
        let header = reader.headers().map_err(|e| {
            BulkError::Usage(format!(
                "roster {}: cannot read the header: {e}",
                path.display()
            ))
        })?;
        let columns: Vec<String> = header
            .iter()
            .map(|c| c.trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
            .collect();
        let problems = header_problems(&columns);
        if !problems.is_empty() {
            return Err(BulkError::Usage(format!(
                "roster {}, header (line 1): {}",
                path.display(),
                problems.join("; ")
            )));
        }
        // The header is the first row as far as line numbers and row sizes go.
        let header_end = reader.position().byte();
        lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .line_ending_at(header_end);
        Ok(Self {
            reader,
            lines,
            columns,
            record: csv::StringRecord::new(),
            row: 0,
        })
    }

    /// The next non-blank record.
    fn next_row(&mut self) -> Option<Result<RosterRow, BulkError>> {
        loop {
            let result = self.reader.read_record(&mut self.record);
            let end = self.reader.position().byte();
            let last_line = self
                .lines
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .line_ending_at(end);
            match result {
                Ok(false) => return None,
                Ok(true) if self.record.iter().all(|c| c.trim().is_empty()) => continue,
                Ok(true) => {
                    self.row += 1;
                    return Some(Ok(self.cells(last_line).into()));
                }
                Err(e) => {
                    if let csv::ErrorKind::Io(io) = e.kind() {
                        return Some(Err(BulkError::Usage(format!("roster: {io}"))));
                    }
                    self.row += 1;
                    return Some(Ok(RosterRow::Unreadable(RowError {
                        row: self.row,
                        line: last_line,
                        column: "-".into(),
                        reason: format!("not valid CSV: {e}"),
                    })));
                }
            }
        }
    }

    /// The cells of the record just read, whose last line is `last_line`.
    fn cells(&self, last_line: u64) -> Result<RawRow, RowError> {
        let inner_newlines = self
            .record
            .iter()
            .map(|c| c.matches('\n').count() as u64)
            .sum::<u64>();
        let line = last_line.saturating_sub(inner_newlines).max(1);
        let err = |column: &str, reason: String| RowError {
            row: self.row,
            line,
            column: column.to_owned(),
            reason,
        };
        if self.record.len() != self.columns.len() {
            return Err(err(
                "-",
                format!(
                    "{} cells, but the header has {} columns",
                    self.record.len(),
                    self.columns.len()
                ),
            ));
        }
        let mut raw = RawRow {
            row: self.row,
            line,
            ..RawRow::default()
        };
        for (column, value) in self.columns.iter().zip(self.record.iter()) {
            check_size(column, value).map_err(|reason| err(column, reason))?;
            set_cell(&mut raw, column, value);
        }
        Ok(raw)
    }
}

/// The rows of a JSON Lines roster.
struct JsonlRows {
    reader: BufReader<File>,
    /// Lines read so far.
    line: u64,
    buf: Vec<u8>,
    /// Data rows read so far.
    row: u64,
}

impl JsonlRows {
    /// The next non-blank line's row.
    fn next_row(&mut self) -> Option<Result<RosterRow, BulkError>> {
        loop {
            self.buf.clear();
            let limit = MAX_LINE_BYTES as u64 + 1;
            match self
                .reader
                .by_ref()
                .take(limit)
                .read_until(b'\n', &mut self.buf)
            {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => {
                    return Some(Err(BulkError::Usage(format!(
                        "roster: read error after line {}: {e}",
                        self.line
                    ))));
                }
            }
            self.line += 1;
            let content = self.buf.strip_suffix(b"\n").unwrap_or(&self.buf);
            let content = content.strip_suffix(b"\r").unwrap_or(content);
            if content.len() > MAX_LINE_BYTES {
                return Some(Err(BulkError::Usage(format!(
                    "roster: {}",
                    too_long(self.line)
                ))));
            }
            let Ok(text) = std::str::from_utf8(content) else {
                self.row += 1;
                return Some(Ok(RosterRow::Unreadable(RowError {
                    row: self.row,
                    line: self.line,
                    column: "-".into(),
                    reason: "not valid UTF-8 text".into(),
                })));
            };
            if text.trim().is_empty() {
                continue;
            }
            self.row += 1;
            return Some(Ok(parse_json_row(text, self.row, self.line).into()));
        }
    }
}

fn json_cell(value: &Value, list: bool) -> Result<String, String> {
    match value {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) if !list => Ok(n.to_string()),
        Value::Array(items) if list => items
            .iter()
            .map(|item| match item {
                Value::String(s) if !s.contains(';') => Ok(s.clone()),
                Value::String(_) => Err("list entries must not contain ';'".to_owned()),
                _ => Err("list entries must be strings".to_owned()),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|v| v.join(";")),
        _ if list => Err("expected a string (';'-separated) or an array of strings".to_owned()),
        _ => Err("expected a string or a number".to_owned()),
    }
}

fn parse_json_row(text: &str, row: u64, line: u64) -> Result<RawRow, RowError> {
    let err = |column: &str, reason: String| RowError {
        row,
        line,
        column: column.to_owned(),
        reason,
    };
    let value: Value =
        serde_json::from_str(text).map_err(|e| err("-", format!("not valid JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(err("-", "expected a JSON object".to_owned()));
    };
    let mut raw = RawRow {
        row,
        line,
        ..RawRow::default()
    };
    for (key, value) in &map {
        if !COLUMNS.contains(&key.as_str()) {
            return Err(err(key, unknown_column(key)));
        }
        let list = LIST_COLUMNS.contains(&key.as_str());
        let cell = json_cell(value, list).map_err(|reason| err(key, reason))?;
        check_size(key, &cell).map_err(|reason| err(key, reason))?;
        set_cell(&mut raw, key, &cell);
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(name: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::File::create(&path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        (dir, path)
    }

    fn as_result(row: RosterRow) -> Result<RawRow, RowError> {
        match row {
            RosterRow::Read(raw) => Ok(*raw),
            RosterRow::Unreadable(e) => Err(e),
        }
    }

    fn all(path: &Path) -> Vec<Result<RawRow, RowError>> {
        RosterReader::open(path)
            .unwrap()
            .map(|r| as_result(r.unwrap()))
            .collect()
    }

    #[test]
    fn csv_rows_are_split_and_numbered() {
        let (_d, path) = write(
            "r.csv",
            "common_name,emails,organization_units\n\
             Locke Cole, locke@example.com ; l2@example.com ,Accounting\n\
             \n\
             \"Terra, Branford\",terra@example.com,\n",
        );
        let rows = all(&path);
        assert_eq!(rows.len(), 2);
        let a = rows[0].as_ref().unwrap();
        assert_eq!((a.row, a.line), (1, 2));
        assert_eq!(a.emails, vec!["locke@example.com", "l2@example.com"]);
        assert_eq!(a.organization_units, vec!["Accounting"]);
        let b = rows[1].as_ref().unwrap();
        assert_eq!((b.row, b.line), (2, 4));
        assert_eq!(b.common_name.as_deref(), Some("Terra, Branford"));
        assert!(b.organization_units.is_empty());
    }

    #[test]
    fn csv_lines_survive_crlf_blank_lines_and_multiline_cells() {
        let (_d, path) = write(
            "r.csv",
            "common_name,emails\r\nA,a@example.com\r\n\r\n\r\n\"B\r\nB\",b@example.com\r\nC,c@example.com",
        );
        let rows = all(&path);
        let at: Vec<(u64, u64)> = rows
            .iter()
            .map(|r| {
                let r = r.as_ref().unwrap();
                (r.row, r.line)
            })
            .collect();
        assert_eq!(at, vec![(1, 2), (2, 5), (3, 7)]);
    }

    #[test]
    fn csv_header_problems_are_usage_errors() {
        let (_d, path) = write("r.csv", "common_name,email\nA,a@example.com\n");
        let err = RosterReader::open(&path).unwrap_err().to_string();
        assert!(err.contains("unknown column 'email'"), "{err}");
        assert!(err.contains("required column 'emails' is missing"), "{err}");
    }

    #[test]
    fn csv_short_row_is_a_row_error() {
        let (_d, path) = write("r.csv", "common_name,emails\nA\nB,b@example.com\n");
        let rows = all(&path);
        let e = rows[0].as_ref().unwrap_err();
        assert_eq!((e.row, e.line), (1, 2));
        assert!(e.reason.contains("1 cells"), "{e}");
        assert!(rows[1].is_ok());
    }

    #[test]
    fn jsonl_accepts_arrays_and_rejects_unknown_keys() {
        let (_d, path) = write(
            "r.jsonl",
            "{\"common_name\":\"A\",\"emails\":[\"a@example.com\",\"b@example.com\"],\"validity_years\":2}\n\
             \n\
             {\"common_name\":\"B\",\"mail\":\"b@example.com\"}\n\
             not json\n",
        );
        let rows = all(&path);
        assert_eq!(rows.len(), 3);
        let a = rows[0].as_ref().unwrap();
        assert_eq!(a.emails.len(), 2);
        assert_eq!(a.validity_years.as_deref(), Some("2"));
        let b = rows[1].as_ref().unwrap_err();
        assert_eq!((b.row, b.line, b.column.as_str()), (2, 3, "mail"));
        let c = rows[2].as_ref().unwrap_err();
        assert_eq!(c.line, 4);
        assert!(c.reason.contains("not valid JSON"));
    }

    #[test]
    fn unknown_extension_is_refused() {
        let (_d, path) = write("r.txt", "x");
        assert!(matches!(
            RosterReader::open(&path),
            Err(BulkError::Usage(_))
        ));
    }

    /// Reads every row; the first error that stops the stream is returned as text.
    fn until_error(path: &Path) -> (Vec<Result<RawRow, RowError>>, Option<String>) {
        let mut reader = match RosterReader::open(path) {
            Ok(r) => r,
            Err(e) => return (Vec::new(), Some(e.to_string())),
        };
        let mut out = Vec::new();
        for r in reader.by_ref() {
            match r {
                Ok(row) => out.push(as_result(row)),
                Err(e) => return (out, Some(e.to_string())),
            }
        }
        (out, None)
    }

    #[test]
    fn oversized_cells_are_row_errors_naming_the_column() {
        let long_name = "n".repeat(MAX_FIELD_BYTES + 1);
        let long_emails = "a@example.com;".repeat(MAX_LIST_BYTES / 14 + 1);
        let (_d, path) = write(
            "r.csv",
            &format!(
                "common_name,emails,name\nA,a@example.com,{long_name}\nB,{long_emails},b\nC,c@example.com,c\n"
            ),
        );
        let rows = all(&path);
        let e = rows[0].as_ref().unwrap_err();
        assert_eq!((e.row, e.line, e.column.as_str()), (1, 2, "name"));
        assert!(e.reason.contains("more than the 1024 allowed"), "{e}");
        let e = rows[1].as_ref().unwrap_err();
        assert_eq!((e.row, e.line, e.column.as_str()), (2, 3, "emails"));
        assert!(rows[2].is_ok());

        let (_d, path) = write(
            "r.jsonl",
            &format!("{{\"common_name\":\"{long_name}\",\"emails\":\"a@example.com\"}}\n"),
        );
        let e = all(&path).remove(0).unwrap_err();
        assert_eq!((e.row, e.line, e.column.as_str()), (1, 1, "common_name"));
    }

    #[test]
    fn an_overlong_line_stops_with_its_line_number() {
        let huge = "x".repeat(MAX_LINE_BYTES + 10);
        let (_d, path) = write(
            "r.csv",
            &format!("common_name,emails\nA,a@example.com\nB,{huge}\n"),
        );
        let (rows, err) = until_error(&path);
        assert_eq!(rows.len(), 1);
        let err = err.expect("an error");
        assert!(err.contains("line 3 is longer than 65536 bytes"), "{err}");

        // A quoted cell spread over many short lines is bounded too.
        let many = "y\n".repeat(MAX_LINE_BYTES);
        let (_d, path) = write(
            "r.csv",
            &format!("common_name,emails\n\"{many}\",a@example.com\n"),
        );
        let err = until_error(&path).1.expect("an error");
        assert!(
            err.contains("the row starting at line 2 is longer"),
            "{err}"
        );

        let (_d, path) = write(
            "r.jsonl",
            &format!("{{\"common_name\":\"A\",\"emails\":\"a@example.com\"}}\n{huge}\n"),
        );
        let (rows, err) = until_error(&path);
        assert_eq!(rows.len(), 1);
        assert!(err.unwrap().contains("line 2 is longer than 65536 bytes"));

        let (_d, path) = write("r.csv", &format!("common_name,emails,{huge}\n"));
        let err = until_error(&path).1.unwrap();
        assert!(err.contains("line 1 is longer"), "{err}");
    }
}
