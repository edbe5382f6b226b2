//! piw-import takes piwheels 0.23's options and `piwheels.conf` (see
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
            "piw-import",
            "-c",
            "/dev/null",
            "-v",
            "-l",
            "/tmp/i.log",
            "--package",
            "foo",
            "--package-version",
            "1.0",
            "--abi",
            "cp311",
            "--duration",
            "90s",
            "--output",
            "/tmp/build.log",
            "--dependencies",
            "/tmp/deps",
            "-y",
            "-d",
            "--import-queue",
            "ipc:///run/i",
            "a.whl",
            "b.whl",
        ],
        &[],
    )
    .unwrap();
    assert!(o.common.verbose && o.yes && o.delete);
    assert_eq!(o.files, [PathBuf::from("a.whl"), PathBuf::from("b.whl")]);
    assert_eq!(
        (o.package.as_deref(), o.package_version.as_deref()),
        (Some("foo"), Some("1.0"))
    );
    assert_eq!(o.abi.as_deref(), Some("cp311"));
    assert_eq!(o.duration, Duration::from_secs(90));
    assert_eq!(o.output, Some(PathBuf::from("/tmp/build.log")));
    assert_eq!(o.dependencies, Some(PathBuf::from("/tmp/deps")));
    assert_eq!(o.import_queue, "ipc:///run/i");
    let o: Opts = try_parse_from(["piw-import", "--yes", "--delete", "a.whl"], &[]).unwrap();
    assert!(o.yes && o.delete);
}

/// A shared conf's `timeout = 3h` is the slave's, not this tool's wait.
#[test]
fn the_slaves_timeout_key_is_left_to_the_slave() {
    let dir = tempfile::tempdir().unwrap();
    piwheels::legacy_options::assert_slave_timeout_left_to_the_slave::<Opts>(
        &dir.path().join("piwheels.conf"),
        &["piw-import", "a.whl"],
        |o| o.timeout,
    );
}
