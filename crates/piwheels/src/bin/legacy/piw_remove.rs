//! piw-remove takes piwheels 0.23's options and `piwheels.conf` (see
//! `piwheels::legacy_options`).

use super::*;
use clap::CommandFactory;
use piwheels::config::{try_parse_from, try_parse_reporting};
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

/// An original `piwheels.conf` shared with a slave holds `timeout = 3h` (the build
/// timeout): that key is not this tool's wait for the master (`master-timeout`), which
/// `--timeout` still sets on the command line.
#[test]
fn the_slaves_timeout_key_is_left_to_the_slave() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("piwheels.conf");
    std::fs::write(&conf, "[slave]\nmaster = m\ntimeout = 3h\n").unwrap();
    let p =
        try_parse_reporting::<Opts, _>(["piw-remove", "foo"], std::slice::from_ref(&conf)).unwrap();
    assert_eq!(p.warnings, Vec::<String>::new());
    let default = try_parse_from::<Opts, _>(["piw-remove", "foo"], &[])
        .unwrap()
        .timeout;
    assert_eq!(p.opts.timeout, default);
    std::fs::write(&conf, "timeout = 3h\nmaster_timeout = 7\n").unwrap();
    let o: Opts = try_parse_from(["piw-remove", "foo"], std::slice::from_ref(&conf)).unwrap();
    assert_eq!(o.timeout, 7);
    let mut args: Vec<&str> = ["piw-remove", "foo"].to_vec();
    args.extend(["--timeout", "9"]);
    let o: Opts = try_parse_from(args, &[conf]).unwrap();
    assert_eq!(o.timeout, 9);
}
