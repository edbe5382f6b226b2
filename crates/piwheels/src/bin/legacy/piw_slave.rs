//! piw-slave takes piwheels 0.23's options and `piwheels.conf` (see
//! `piwheels::legacy_options`; PIW_MASTER and PIW_TIMEOUT are tested on the binary).

use super::*;
use clap::CommandFactory;
use piwheels::config::{try_parse_from, try_parse_reporting};
use piwheels::legacy_options::mismatches;
use std::path::Path;

#[test]
fn every_0_23_option_carries_over() {
    assert_eq!(mismatches(&Opts::command()), Vec::<String>::new());
    let o: Opts = try_parse_from(
        [
            "piw-slave",
            "-c",
            "/dev/null",
            "-q",
            "-l",
            "/tmp/s.log",
            "-m",
            "master.example",
            "-t",
            "5h",
            "-d",
            "/var/tmp/builds",
            "-L",
            "pi4-7",
            "--debug",
        ],
        &[],
    )
    .unwrap();
    assert!(o.common.quiet && o.debug);
    assert_eq!(o.master, "master.example");
    assert_eq!(o.timeout, Duration::from_secs(5 * 3600));
    assert_eq!(o.dir.as_deref(), Some(Path::new("/var/tmp/builds")));
    assert_eq!(o.label.as_deref(), Some("pi4-7"));
    let o: Opts = try_parse_from(
        ["piw-slave", "--master", "m2", "--timeout", "90m", "-v"],
        &[],
    )
    .unwrap();
    assert_eq!(
        (o.master.as_str(), o.timeout),
        ("m2", Duration::from_secs(90 * 60))
    );
}

/// The same shared file as the master's test: the slave takes `master` and `timeout`,
/// ignores the master's keys silently, and reports the dropped queue once.
#[test]
fn an_original_piwheels_conf_works_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("piwheels.conf");
    std::fs::write(
        &conf,
        "[master]\ndsn=postgres:///piwheels\noutput-path=/var/www\n\
         pypi-simple=https://mirror.example/simple\nweb-queue=inproc://web\n\
         [slave]\nmaster=master.example\ntimeout=4h30m\n",
    )
    .unwrap();
    let p = try_parse_reporting::<Opts, _>(["piw-slave"], &[conf]).unwrap();
    if std::env::var_os("PIW_MASTER").is_none() {
        assert_eq!(p.opts.master, "master.example");
    }
    if std::env::var_os("PIW_TIMEOUT").is_none() {
        assert_eq!(p.opts.timeout, Duration::from_secs(4 * 3600 + 30 * 60));
    }
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    assert!(p.warnings[0].contains("web-queue"), "{:?}", p.warnings);
}
