//! Process exit codes, shared by every subcommand (documented in `--help` and README).

/// Done.
pub const OK: u8 = 0;
/// Failed: an API error or an invalid order.
pub const FAILED: u8 = 1;
/// Usage error: bad arguments, unreadable input file.
pub const USAGE: u8 = 2;
