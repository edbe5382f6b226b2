//! piw-remove takes piwheels 0.23's options and `piwheels.conf` (see
//! `piwheels::legacy_options`).

use super::*;
use clap::CommandFactory;
use piwheels::config::try_parse_from;
use piwheels::legacy_options::mismatches;

#[test]
fn every_0_23_option_carries_over() {
    assert_eq!(mismatches(&Opts::command()), Vec::<String>::new());
    let o: Opts = try_parse_from(
        [
            "piw-remove",
            "-c",
            "/dev/null",
            "-v",
            "-l",
            "/tmp/r.log",
            "foo",
            "1.0",
            "-y",
            "-b",
            "-s",
            "bad",
            "--yank",
            "--import-queue",
            "ipc:///run/i",
        ],
        &[],
    )
    .unwrap();
    assert!(o.common.verbose && o.yes && o.builds && o.yank);
    assert_eq!(
        (o.package.as_str(), o.package_version.as_deref()),
        ("foo", Some("1.0"))
    );
    assert_eq!(
        (o.skip.as_str(), o.import_queue.as_str()),
        ("bad", "ipc:///run/i")
    );
    let o: Opts = try_parse_from(
        ["piw-remove", "foo", "--yes", "--builds", "--skip", "x"],
        &[],
    )
    .unwrap();
    assert!(o.yes && o.builds && o.package_version.is_none());
}

/// A shared conf's `timeout = 3h` is the slave's, not this tool's wait.
#[test]
fn the_slaves_timeout_key_is_left_to_the_slave() {
    let dir = tempfile::tempdir().unwrap();
    piwheels::legacy_options::assert_slave_timeout_left_to_the_slave::<Opts>(
        &dir.path().join("piwheels.conf"),
        &["piw-remove", "foo"],
        |o| o.timeout,
    );
}
