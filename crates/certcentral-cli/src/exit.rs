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

/// The exit code table, as shown at the end of `certcentral --help`.
pub const HELP: &str = "\
Exit codes:
  0  done
  1  failed (API error, invalid order)
  2  usage error (bad arguments, unreadable input, an output file already exists)
  3  still pending at --timeout (the order exists; the message says how to resume)
  4  outcome unknown (the order may exist; the message says how to check)
  5  bulk only: some rows failed, others succeeded (see certcentral bulk --help)
  130  interrupted (Ctrl-C): stopped after recording the request in flight; the message says
     how to resume";
