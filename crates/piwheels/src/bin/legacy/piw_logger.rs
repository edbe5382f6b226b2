//! piw-logger takes piwheels 0.23's options and `piwheels.conf` (see
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

/// A shared conf's `timeout = 3h` is the slave's, not this tool's wait.
#[test]
fn the_slaves_timeout_key_is_left_to_the_slave() {
    let dir = tempfile::tempdir().unwrap();
    piwheels::legacy_options::assert_slave_timeout_left_to_the_slave::<Opts>(
        &dir.path().join("piwheels.conf"),
        &["piw-logger"],
        |o| o.timeout,
    );
}
