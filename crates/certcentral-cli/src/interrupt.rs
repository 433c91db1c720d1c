//! Ctrl-C handling shared by the commands that spend money (`order --wait`, `bulk`): the first
//! Ctrl-C asks the command to stop at its next safe point, a second one quits at once (exit 130).

use crate::logging::Level;

/// Spawns the Ctrl-C watcher on the current tokio runtime. On the first Ctrl-C it prints
/// "interrupted: finishing the request in flight and {finishing}" (a JSON line with
/// `--log-format json`) and calls `on_first`; on the second it exits the process with
/// [`crate::exit::INTERRUPTED`].
pub fn watch_ctrl_c(
    finishing: &'static str,
    on_first: impl FnOnce() + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let line = format!(
                "interrupted: finishing the request in flight and {finishing} (Ctrl-C again to quit at once)"
            );
            crate::logging::stderr_line(Level::Warn, &line, &line, None);
            on_first();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(i32::from(crate::exit::INTERRUPTED));
            }
        }
    })
}
