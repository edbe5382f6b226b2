//! The `piw-*` tools' integration tests, one binary: the tools run as processes, and whole
//! farms of master and slaves.
//!
//! One module per subject (run one with `cargo nextest run -p piwheels <module>::`): one
//! binary links once instead of once per module. Under `cargo test` the tests run as
//! threads of this one process, so none may change process-wide state unguarded (see the
//! `test_support` crate).

mod support;

mod a_stopped_slave_never_reconnects_after_a_master_restart;
mod admin_curve;
mod admin_import;
mod admin_tools;
mod curve_farm;
mod deb_package;
mod farm;
mod farm_script;
mod initdb;
mod legacy_config;
mod migrate_source;
mod monitor;
mod piw_add_refuses_hostile_names;
mod piw_audit;
mod piw_initdb_removes_hostile_rows;
mod piw_keygen;
mod piw_logger;
mod piw_migrate;
mod piw_migrate_adopt;
mod piw_slave_build_network;
mod service_units;
