//! piw-initdb takes piwheels 0.23's options and `piwheels.conf` (see
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
            "piw-initdb",
            "-c",
            "/dev/null",
            "-v",
            "-l",
            "/tmp/i.log",
            "-d",
            "postgres://su@h/db",
            "-u",
            "piw",
            "-y",
            "--debug",
        ],
        &[],
    )
    .unwrap();
    assert!(o.common.verbose && o.yes && o.debug);
    assert_eq!(
        (o.dsn.as_str(), o.user.as_str()),
        ("postgres://su@h/db", "piw")
    );
    let o: Opts = try_parse_from(
        ["piw-initdb", "--dsn", "x", "--user", "u", "--yes", "-q"],
        &[],
    )
    .unwrap();
    assert!(o.common.quiet && o.yes);
    assert_eq!((o.dsn.as_str(), o.user.as_str()), ("x", "u"));
    let p = try_parse_reporting::<Opts, _>(["piw-initdb", "--debug"], &[]).unwrap();
    assert_eq!(p.warnings, Vec::<String>::new());
}
