//! The client's integration tests, one binary: against the sandbox and against small local
//! servers, all on 127.0.0.1 port 0.

mod common;

mod example;
mod local;
mod sandbox;
