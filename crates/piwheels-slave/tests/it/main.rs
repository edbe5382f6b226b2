//! The slave's integration tests, one binary: the builder, the protocol loop against a real
//! master socket, wheel analysis.
//!
//! One module per subject (run one with `cargo nextest run -p piwheels-slave <module>::`):
//! one binary links once instead of once per module. Under `cargo test` the tests run as
//! threads of this one process, so none may change process-wide state unguarded (see the
//! `test_support` crate).

mod common;

mod build_network;
mod builder;
mod protocol;
mod upload_never_blocks_on_a_master_that_stopped_reading;
mod wheel;
