//! piw-rebuild takes piwheels 0.23's options and `piwheels.conf` (see
//! `piwheels::legacy_options`).

use super::*;
use clap::CommandFactory;
use piwheels::config::try_parse_from;
use piwheels::legacy_options::mismatches;

#[test]
fn every_0_23_option_carries_over() {
    assert_eq!(mismatches(&Opts::command()), Vec::<String>::new());
    for (part, want) in [
        ("home", Part::Home),
        ("search", Part::Search),
        ("project", Part::Project),
        ("index", Part::Index),
    ] {
        let o: Opts = try_parse_from(
            [
                "piw-rebuild",
                "-c",
                "/dev/null",
                "-q",
                "-l",
                "/tmp/r.log",
                part,
                "foo",
                "-y",
                "--import-queue",
                "ipc:///run/i",
            ],
            &[],
        )
        .unwrap();
        assert_eq!(o.part, want);
        assert!(o.yes && o.common.quiet);
        assert_eq!(
            (o.package.as_deref(), o.import_queue.as_str()),
            (Some("foo"), "ipc:///run/i")
        );
    }
    let o: Opts = try_parse_from(["piw-rebuild", "index", "--yes"], &[]).unwrap();
    assert!(o.yes && o.package.is_none());
}

/// A shared conf's `timeout = 3h` is the slave's, not this tool's wait.
#[test]
fn the_slaves_timeout_key_is_left_to_the_slave() {
    let dir = tempfile::tempdir().unwrap();
    piwheels::legacy_options::assert_slave_timeout_left_to_the_slave::<Opts>(
        &dir.path().join("piwheels.conf"),
        &["piw-rebuild", "home"],
        |o| o.timeout,
    );
}
