//! Logs via `tracing` to stderr: `-v` (info), `-vv` (debug), `-vvv` (trace); `-q` errors only,
//! `-qq` nothing; default warnings. `--log-format json` prints one JSON object per event.
//! `RUST_LOG`, when set, overrides the level.
//!
//! Every other line a command writes to stderr (errors, progress) goes through
//! [`stderr_line`], so with `--log-format json` every stderr line is one JSON object of the
//! same shape as the log events: `{"timestamp", "level", "fields": {"message", ...},
//! "target"}`.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};
use tracing_subscriber::EnvFilter;

/// Whether stderr lines are JSON (`--log-format json`).
static JSON_STDERR: AtomicBool = AtomicBool::new(false);

/// The target of the lines written by [`stderr_line`].
pub const TARGET: &str = "certcentral";

/// Severity of a [`stderr_line`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// A failure.
    Error,
    /// Something the user should look at.
    Warn,
    /// Progress and status.
    Info,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
        }
    }
}

/// Sets the stderr format without installing a subscriber (for output before [`init`],
/// e.g. argument errors).
pub fn set_format(format: LogFormat) {
    JSON_STDERR.store(format == LogFormat::Json, Ordering::Relaxed);
}

/// The `--log-format` given in raw arguments (`--log-format json` or `--log-format=json`),
/// for messages written before the arguments are parsed (or when they cannot be).
pub fn format_in_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> LogFormat {
    let mut format = LogFormat::Text;
    let mut next_is_value = false;
    for arg in args {
        let arg = arg.to_string_lossy().into_owned();
        let value = if next_is_value {
            next_is_value = false;
            Some(arg.as_str())
        } else if arg == "--log-format" {
            next_is_value = true;
            None
        } else {
            arg.strip_prefix("--log-format=")
        };
        match value {
            Some("json") => format = LogFormat::Json,
            Some(_) => format = LogFormat::Text,
            None => {}
        }
        if arg == "--" {
            break;
        }
    }
    format
}

/// The JSON object [`stderr_line`] writes with `--log-format json`.
pub fn json_line(level: Level, message: &str, extra: Option<&Value>) -> Value {
    let mut fields = json!({ "message": message });
    if let (Some(Value::Object(extra)), Some(map)) = (extra, fields.as_object_mut()) {
        for (k, v) in extra {
            map.insert(k.clone(), v.clone());
        }
    }
    json!({
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "level": level.as_str(),
        "fields": fields,
        "target": TARGET,
    })
}

/// Writes a message to stderr: `text` as is, or with `--log-format json` one JSON object
/// ([`json_line`]) holding `message` and the members of `extra`.
pub fn stderr_line(level: Level, text: &str, message: &str, extra: Option<&Value>) {
    let mut stderr = std::io::stderr().lock();
    let _ = if JSON_STDERR.load(Ordering::Relaxed) {
        writeln!(stderr, "{}", json_line(level, message, extra))
    } else {
        writeln!(stderr, "{text}")
    };
}

/// Log line format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The level directive for a verbosity (`-v` count minus `-q` count).
pub fn level_for(verbosity: i8) -> &'static str {
    match verbosity {
        i8::MIN..=-2 => "off",
        -1 => "error",
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    }
}

/// Installs the global subscriber, writing to stderr. Call once, early in `main`.
pub fn init(verbosity: i8, format: LogFormat) {
    set_format(format);
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(level_for(verbosity)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        assert_eq!(level_for(-3), "off");
        assert_eq!(level_for(-1), "error");
        assert_eq!(level_for(0), "warn");
        assert_eq!(level_for(1), "info");
        assert_eq!(level_for(2), "debug");
        assert_eq!(level_for(5), "trace");
    }

    #[test]
    fn log_format_from_raw_args() {
        let args = |a: &[&str]| a.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert_eq!(
            format_in_args(args(&["x", "--log-format", "json", "status", "abc"])),
            LogFormat::Json
        );
        assert_eq!(
            format_in_args(args(&["x", "--log-format=json"])),
            LogFormat::Json
        );
        assert_eq!(format_in_args(args(&["x", "status"])), LogFormat::Text);
        let line = json_line(Level::Error, "boom", Some(&json!({"exit_code": 2})));
        assert_eq!(line["level"], "ERROR");
        assert_eq!(line["fields"]["message"], "boom");
        assert_eq!(line["fields"]["exit_code"], 2);
        assert_eq!(line["target"], TARGET);
    }
}
