//! End-to-end tests across the certcentral crates live in `tests/`: the client, the validation
//! library and the sandbox talking real HTTP on 127.0.0.1.
