//! End-to-end tests across the crates, one binary: the client, the validation library and the
//! sandbox talking real HTTP on 127.0.0.1.

mod lifecycle;
mod reliability;
