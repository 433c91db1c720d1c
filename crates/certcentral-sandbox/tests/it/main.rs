//! The sandbox's integration tests, one binary: real HTTP on 127.0.0.1 port 0.

mod common;

mod api;
mod faults;
mod response_schema;
mod state_file;
