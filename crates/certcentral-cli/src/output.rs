//! What a command prints: human text by default, or exactly one JSON object on stdout with
//! `--json`; a spinner on stderr while waiting, only when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use serde_json::Value;

use crate::error::CliError;
use crate::logging::Level;

/// The global output settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Output {
    /// Print one JSON object on stdout instead of text.
    pub json: bool,
    /// `-q` given: print only errors (and the JSON object with `--json`).
    pub quiet: bool,
}

/// What a successful command produced: a text for people and a JSON object for scripts.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// Lines for people (without trailing newline).
    pub human: String,
    /// The `--json` object.
    pub json: Value,
}

impl Report {
    /// A report from both forms.
    pub fn new(human: impl Into<String>, json: Value) -> Self {
        Self {
            human: human.into(),
            json,
        }
    }
}

impl Output {
    /// Prints a command's result and returns the process exit code: 0 for a report, the
    /// error's code otherwise. Errors go to stderr as text; with `--json` the error object
    /// also goes to stdout, so stdout always holds exactly one JSON object.
    pub fn finish(&self, result: Result<Report, CliError>) -> u8 {
        match result {
            Ok(report) => {
                let mut stdout = std::io::stdout().lock();
                if self.json {
                    let _ = writeln!(stdout, "{}", report.json);
                } else if !self.quiet && !report.human.is_empty() {
                    let _ = writeln!(stdout, "{}", report.human);
                }
                crate::exit::OK
            }
            Err(err) => self.fail(&err),
        }
    }

    /// Reports an error and returns its exit code: with `--json` the error object goes to
    /// stdout; the error also goes to stderr, as text (`error: ...`) or, with
    /// `--log-format json`, as one JSON log line.
    pub fn fail(&self, err: &CliError) -> u8 {
        self.fail_to(&mut std::io::stdout().lock(), err)
    }

    /// [`Output::fail`] with the JSON object written to `stdout` (the one JSON error writer:
    /// every command reports errors through it).
    pub fn fail_to(&self, stdout: &mut impl Write, err: &CliError) -> u8 {
        if self.json {
            let _ = writeln!(stdout, "{}", err.to_json()).and_then(|()| stdout.flush());
        }
        let level = match err {
            CliError::Pending { .. } | CliError::Unknown { .. } | CliError::Interrupted { .. } => {
                Level::Warn
            }
            CliError::Usage(_) | CliError::Failed(_) => Level::Error,
        };
        crate::logging::stderr_line(level, &err.render(), &err.to_string(), Some(&err.to_json()));
        err.exit_code()
    }

    /// Prints a progress line to stderr (text mode, not quiet): e.g. "ordered 1234, waiting".
    pub fn progress(&self, line: &str) {
        if !self.json && !self.quiet {
            crate::logging::stderr_line(Level::Info, line, line, None);
        }
    }

    /// Starts a spinner on stderr showing `message`, when stderr is a terminal and output is
    /// neither `--json` nor `-q`; otherwise a no-op handle.
    pub fn spinner(&self, message: &str) -> Spinner {
        if self.json || self.quiet || !std::io::stderr().is_terminal() {
            return Spinner(None);
        }
        let bar = indicatif::ProgressBar::new_spinner().with_message(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        Spinner(Some(bar))
    }
}

/// A running spinner (or nothing); cleared when finished or dropped.
#[derive(Debug)]
pub struct Spinner(Option<indicatif::ProgressBar>);

impl Spinner {
    /// Changes the message.
    pub fn set_message(&self, message: &str) {
        if let Some(bar) = &self.0 {
            bar.set_message(message.to_string());
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(bar) = self.0.take() {
            bar.finish_and_clear();
        }
    }
}
