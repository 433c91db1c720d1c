//! The `certcentral` binary's integration tests, one test binary: the real binary run as a child
//! process against an in-process sandbox on 127.0.0.1 port 0.

mod cli_support;

mod bulk;
mod bulk_bench;
mod cli_commands;
mod cli_order;
mod cli_schema;
mod docs;
mod order_interrupt;
mod sandbox_state;
mod validate;
