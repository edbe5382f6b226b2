//! piw-add takes piwheels 0.23's options and `piwheels.conf` (see
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
            "piw-add",
            "-c",
            "/dev/null",
            "-q",
            "-l",
            "/tmp/a.log",
            "foo",
            "1.0",
            "-y",
            "-s",
            "broken",
            "-d",
            "A package",
            "-a",
            "Foo",
            "-a",
            "FOO",
            "-r",
            "2020-01-02 03:04:05",
            "--yank",
            "--import-queue",
            "ipc:///run/i",
        ],
        &[],
    )
    .unwrap();
    assert!(o.common.quiet && o.yes && o.yank);
    assert_eq!(
        (o.package.as_str(), o.package_version.as_deref()),
        ("foo", Some("1.0"))
    );
    assert_eq!(
        (o.skip.as_str(), o.description.as_str()),
        ("broken", "A package")
    );
    assert_eq!(o.aliases, ["Foo", "FOO"]);
    assert_eq!(o.released.unwrap().to_string(), "2020-01-02 03:04:05 UTC");
    assert_eq!(o.import_queue, "ipc:///run/i");
    let o: Opts = try_parse_from(
        [
            "piw-add",
            "foo",
            "1.0",
            "--unskip",
            "--unyank",
            "--description",
            "d",
            "--alias",
            "Foo",
            "--released",
            "2020-01-02 03:04:05",
            "--yes",
        ],
        &[],
    )
    .unwrap();
    assert!(o.unskip && o.unyank && o.yes);
    assert_eq!((o.description.as_str(), o.aliases.len()), ("d", 1));
}

/// A shared conf's `timeout = 3h` is the slave's, not this tool's wait.
#[test]
fn the_slaves_timeout_key_is_left_to_the_slave() {
    let dir = tempfile::tempdir().unwrap();
    piwheels::legacy_options::assert_slave_timeout_left_to_the_slave::<Opts>(
        &dir.path().join("piwheels.conf"),
        &["piw-add", "foo"],
        |o| o.timeout,
    );
}
