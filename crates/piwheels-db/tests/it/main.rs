//! The database's integration tests, one binary: every query on SQLite and on PostgreSQL
//! (`both_backends!`).
//!
//! One module per subject (run one with `cargo nextest run -p piwheels-db <module>::`): one
//! binary links once instead of once per module. Under `cargo test` the tests run as
//! threads of this one process, so none may change process-wide state unguarded (see the
//! `test_support` crate).

#[macro_use]
mod common;

mod access_batches;
mod builds;
mod concurrency;
mod download_figures;
mod load;
mod misc;
mod names_and_versions_constraint;
mod new_projects;
mod packages;
mod pages_owed_by_a_change_are_lost_on_kill;
mod project;
mod query_observer;
mod queue;
mod queue_property;
mod schema;
mod upstream_state;
