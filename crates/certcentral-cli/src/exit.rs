//! Process exit codes, shared by every subcommand (documented in `--help` and README).

/// Done.
pub const OK: u8 = 0;
/// Failed: an API error or an invalid order.
pub const FAILED: u8 = 1;
/// Usage error: bad arguments, unreadable input file, an output file that already exists.
pub const USAGE: u8 = 2;
/// Still pending when `--timeout` ran out: the order exists; resume with `certcentral status
/// ORDER_ID` or `certcentral order --resume NAME.order.json`.
pub const PENDING: u8 = 3;
/// Outcome unknown: the request may or may not have reached DigiCert, so the order may exist;
/// check before ordering again.
pub const UNKNOWN: u8 = 4;

/// Interrupted (Ctrl-C) after the request in flight was answered and recorded; the message
/// says how to resume (128 + SIGINT, as shells report it).
pub const INTERRUPTED: u8 = 130;

/// Partial failure (`bulk`): some rows failed or were held back, others succeeded.
pub const PARTIAL: u8 = 5;

/// The exit code of a bulk run's verdict.
pub fn of_verdict(verdict: certcentral_bulk::Verdict) -> u8 {
    use certcentral_bulk::Verdict;
    match verdict {
        Verdict::Done => OK,
        Verdict::Failed => FAILED,
        Verdict::Usage => USAGE,
        Verdict::Pending => PENDING,
        Verdict::Unknown => UNKNOWN,
        Verdict::Partial => PARTIAL,
        Verdict::Interrupted => INTERRUPTED,
    }
}

/// One row of the exit-code table: the code, what it means for a single-order command, and
/// what it means for `bulk`.
#[derive(Debug, Clone, Copy)]
pub struct Code {
    /// The process exit code.
    pub code: u8,
    /// Its meaning for every command but `bulk`.
    pub meaning: &'static str,
    /// Its meaning for `bulk`.
    pub bulk: &'static str,
}

/// The exit-code table: the one place the codes are explained. `--help` of every command,
/// README.md (checked by a test) and the code all follow it.
pub const CODES: &[Code] = &[
    Code {
        code: OK,
        meaning: "done (validate: valid, warnings allowed)",
        bulk: "every row issued (or, without --wait, every row ordered)",
    },
    Code {
        code: FAILED,
        meaning: "failed (API error, invalid order)",
        bulk: "nothing succeeded (every row failed or was invalid)",
    },
    Code {
        code: USAGE,
        meaning: "usage error (bad arguments, unreadable input, an output file already exists)",
        bulk: "usage error, invalid rows with --strict, or the journal is in use by another run",
    },
    Code {
        code: PENDING,
        meaning: "still pending at --timeout (the order exists; the message says how to resume)",
        bulk: "some rows still pending (not issued at --timeout, or not ordered because of \
               --max-new-orders, or the API unreachable): rerun to resume",
    },
    Code {
        code: UNKNOWN,
        meaning: "outcome unknown (the order may exist; the message says how to check)",
        bulk: "some rows have an unknown outcome even after looking them up: check before \
               ordering again",
    },
    Code {
        code: PARTIAL,
        meaning: "bulk only: some rows failed, others succeeded (see certcentral bulk --help)",
        bulk: "partial failure: some rows failed (or were held back), others succeeded",
    },
    Code {
        code: INTERRUPTED,
        meaning: "interrupted (Ctrl-C): stopped after recording the request in flight; the \
                  message says how to resume",
        bulk: "interrupted (Ctrl-C): rerun the same command to resume",
    },
];

/// Width the table is wrapped to (under clap's own wrapping width, so clap never re-wraps it).
const WIDTH: usize = 96;

fn render(meaning: impl Fn(&Code) -> &'static str) -> String {
    let mut text = String::from("Exit codes:");
    for code in CODES {
        let mut line = format!("  {}  ", code.code);
        let indent = 5;
        let mut empty = true;
        for word in meaning(code).split_whitespace() {
            if !empty && line.len() + 1 + word.len() > WIDTH {
                text.push('\n');
                text.push_str(&line);
                line = " ".repeat(indent);
                empty = true;
            }
            if !empty {
                line.push(' ');
            }
            line.push_str(word);
            empty = false;
        }
        text.push('\n');
        text.push_str(&line);
    }
    text
}

/// The exit-code table as `--help` shows it (every command but `bulk`).
pub fn help() -> String {
    render(|c| c.meaning)
}

/// The exit-code table as `certcentral bulk --help` shows it.
pub fn bulk_help() -> String {
    render(|c| c.bulk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lists_every_code_once_within_the_width() {
        for table in [help(), bulk_help()] {
            assert!(table.lines().all(|l| l.len() <= WIDTH), "{table}");
            let codes: Vec<u8> = table
                .lines()
                .filter_map(|l| l.split_whitespace().next()?.parse().ok())
                .collect();
            let expected: Vec<u8> = CODES.iter().map(|c| c.code).collect();
            assert_eq!(codes, expected, "{table}");
        }
    }
}
