//! Progress display: an indicatif bar with counts by state and an ETA on a terminal, plain
//! periodic lines otherwise (or nothing when quiet).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::journal::{Journal, RowState};

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, plain lines otherwise.
    Auto,
    /// Plain lines on stderr every `interval`.
    Lines,
    /// Nothing.
    Quiet,
}

/// Where plain progress lines go: stderr by default; the command line passes its own writer
/// (so `--log-format json` makes them JSON).
#[derive(Clone)]
pub struct LineSink(Arc<dyn Fn(&str) + Send + Sync>);

impl LineSink {
    /// Lines handed to `write`.
    pub fn new(write: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Self(Arc::new(write))
    }

    fn write(&self, line: &str) {
        (self.0)(line)
    }
}

impl Default for LineSink {
    /// One line per update on stderr.
    fn default() -> Self {
        Self::new(|line| {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        })
    }
}

impl std::fmt::Debug for LineSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LineSink")
    }
}

/// The progress display of one run.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    lines: Option<LineSink>,
    interval: Duration,
    last: Mutex<Option<Instant>>,
    total: u64,
    /// Renewal orders placed in this run (a renewed row is finished before and after).
    renewed: AtomicU64,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("total", &self.total)
            .finish()
    }
}

/// Counts by state, as one short line.
pub fn describe(counts: &[(RowState, u64)]) -> String {
    let get = |s: RowState| counts.iter().find(|(x, _)| *x == s).map_or(0, |(_, n)| *n);
    format!(
        "done {} · ordered {} · to order {} · unknown {} · failed {} · refused {} · held back {}",
        get(RowState::Done),
        get(RowState::Ordered),
        get(RowState::New),
        get(RowState::Intent) + get(RowState::Unknown),
        get(RowState::Failed),
        get(RowState::Refused),
        get(RowState::PossibleDuplicate),
    )
}

impl Progress {
    /// A display for `total` rows; plain lines (when shown) go to `sink`.
    pub(crate) fn new(mode: ProgressMode, total: u64, interval: Duration, sink: LineSink) -> Self {
        let tty = std::io::stderr().is_terminal();
        let bar = (mode == ProgressMode::Auto && tty).then(|| {
            let bar = indicatif::ProgressBar::new(total);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{bar:30} {pos}/{len} rows · {msg} · ETA {eta}",
            ) {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        Self {
            bar,
            lines: (mode == ProgressMode::Lines || (mode == ProgressMode::Auto && !tty))
                .then_some(sink),
            interval,
            last: Mutex::new(None),
            total,
            renewed: AtomicU64::new(0),
        }
    }

    /// Counts one renewal order placed (the total of a run with `--renew-within` includes
    /// the renewals planned).
    pub(crate) fn renewed(&self) {
        self.renewed.fetch_add(1, Ordering::Relaxed);
    }

    /// How often the display is refreshed; `None` when nothing is shown.
    fn every(&self) -> Option<Duration> {
        if self.bar.is_some() {
            Some(Duration::from_millis(300))
        } else {
            self.lines.as_ref().map(|_| self.interval)
        }
    }

    /// Whether an unforced [`Progress::update`] would refresh now (cheap: no journal read),
    /// so callers skip the journal read, and its hand-off, when it would not.
    pub(crate) fn due(&self) -> bool {
        self.every().is_some_and(|every| {
            let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            last.is_none_or(|t| t.elapsed() >= every)
        })
    }

    /// Refreshes from the journal (throttled unless `force`).
    pub(crate) fn update(&self, journal: &Journal, force: bool) {
        let Some(every) = self.every() else {
            return;
        };
        {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            if !force && last.is_some_and(|t| t.elapsed() < every) {
                return;
            }
            *last = Some(Instant::now());
        }
        let Ok(counts) = journal.counts() else {
            return;
        };
        let settled: u64 = counts
            .iter()
            .filter(|(s, _)| !matches!(s, RowState::New | RowState::Intent))
            .map(|(_, n)| *n)
            .sum();
        // A row being renewed left `done` for `intent` and comes back: the renewals placed
        // count on top.
        let renewed = self.renewed.load(Ordering::Relaxed);
        let settled = settled + renewed;
        let mut text = describe(&counts);
        if renewed > 0 {
            text.push_str(&format!(" · renewed {renewed}"));
        }
        if let Some(bar) = &self.bar {
            bar.set_position(settled);
            bar.set_message(text);
        } else if let Some(sink) = &self.lines {
            sink.write(&format!("bulk: {settled}/{} rows · {text}", self.total));
        }
    }

    /// Clears the bar.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
