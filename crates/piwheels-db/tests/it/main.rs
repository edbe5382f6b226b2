//! The database's integration tests, one binary: every query on SQLite and on PostgreSQL (`both_backends!`).
//!
//! Each former test file is a module here (run one with
//! `cargo nextest run -p piwheels-db <module>::`); one binary links once instead of once per
//! file. Under `cargo test` the tests share this process: see `test_support` for what
//! that rules out.

#[macro_use]
mod common;

mod builds;
mod concurrency;
mod misc;
mod names_and_versions_constraint;
mod packages;
mod pages_owed_by_a_change_are_lost_on_kill;
mod project;
mod queue;
mod queue_property;
mod schema;
