//! piw-logger takes piwheels 0.23's options and `piwheels.conf` (see
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
            "piw-logger",
            "-c",
            "/dev/null",
            "-q",
            "-l",
            "/tmp/l.log",
            "--format",
            "combined",
            "--log-queue",
            "ipc:///run/l",
            "--drop",
            "a.log",
            "b.log.gz",
        ],
        &[],
    )
    .unwrap();
    assert!(o.common.quiet && o.drop);
    assert_eq!(o.files, [PathBuf::from("a.log"), PathBuf::from("b.log.gz")]);
    assert_eq!(
        (o.format.as_str(), o.log_queue.as_str()),
        ("combined", "ipc:///run/l")
    );
    assert_eq!(
        check(&o).unwrap(),
        piwheels::logger::line::LogFormat::Combined
    );
    let o: Opts = try_parse_from(["piw-logger"], &[]).unwrap();
    assert_eq!(o.files, [PathBuf::from("-")]);
    // The original's other formats carry no User-Agent: refused, saying so.
    for format in ["common", "common_vhost", "%h %l %u %t \"%r\" %>s %b"] {
        let o: Opts = try_parse_from(["piw-logger", "--format", format], &[]).unwrap();
        let err = check(&o).unwrap_err().to_string();
        assert!(
            err.contains("use combined") && err.contains("User-Agent"),
            "{err}"
        );
    }
}

/// An original `piwheels.conf` shared with a slave holds `timeout = 3h` (the build
/// timeout): that key is not this tool's wait for the master (`master-timeout`), which
/// `--timeout` still sets on the command line.
#[test]
fn the_slaves_timeout_key_is_left_to_the_slave() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("piwheels.conf");
    std::fs::write(&conf, "[slave]\nmaster = m\ntimeout = 3h\n").unwrap();
    let p = try_parse_reporting::<Opts, _>(["piw-logger"], std::slice::from_ref(&conf)).unwrap();
    assert_eq!(p.warnings, Vec::<String>::new());
    let default = try_parse_from::<Opts, _>(["piw-logger"], &[])
        .unwrap()
        .timeout;
    assert_eq!(p.opts.timeout, default);
    std::fs::write(&conf, "timeout = 3h\nmaster_timeout = 7\n").unwrap();
    let o: Opts = try_parse_from(["piw-logger"], std::slice::from_ref(&conf)).unwrap();
    assert_eq!(o.timeout, 7);
    let mut args: Vec<&str> = ["piw-logger"].to_vec();
    args.extend(["--timeout", "9"]);
    let o: Opts = try_parse_from(args, &[conf]).unwrap();
    assert_eq!(o.timeout, 9);
}
