//! The `piw-*` tools' integration tests, one binary: the tools run as processes, and whole farms of master and slaves.
//!
//! Each former test file is a module here (run one with
//! `cargo nextest run -p piwheels <module>::`); one binary links once instead of once per
//! file. Under `cargo test` the tests share this process: see `test_support` for what
//! that rules out.

mod support;

mod a_stopped_slave_never_reconnects_after_a_master_restart;
mod admin_import;
mod admin_tools;
mod farm;
mod initdb;
mod piw_add_refuses_hostile_names;
mod piw_initdb_removes_hostile_rows;
