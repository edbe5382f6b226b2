//! The slave's integration tests, one binary: the builder, the protocol loop against a real master socket, wheel analysis.
//!
//! Each former test file is a module here (run one with
//! `cargo nextest run -p piwheels-slave <module>::`); one binary links once instead of once per
//! file. Under `cargo test` the tests share this process: see `test_support` for what
//! that rules out.

mod common;

mod builder;
mod protocol;
mod upload_never_blocks_on_a_master_that_stopped_reading;
mod wheel;
