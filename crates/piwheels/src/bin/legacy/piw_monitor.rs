//! piw-monitor takes piwheels 0.23's options and `piwheels.conf` (see
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
            "piw-monitor",
            "-c",
            "/dev/null",
            "--status-queue",
            "ipc:///run/s",
            "--control-queue",
            "ipc:///run/c",
        ],
        &[],
    )
    .unwrap();
    assert_eq!(
        (o.status_queue.as_str(), o.control_queue.as_str()),
        ("ipc:///run/s", "ipc:///run/c")
    );
    // piw-sense's keys in a shared file: its queues are the monitor's; its rotation is
    // reported.
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("piwheels.conf");
    std::fs::write(&conf, "status-queue = ipc:///run/s2\nrotate = 90\n").unwrap();
    let p = try_parse_reporting::<Opts, _>(["piw-monitor"], &[conf]).unwrap();
    assert_eq!(p.opts.status_queue, "ipc:///run/s2");
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    assert!(
        p.warnings[0].contains("rotate") && p.warnings[0].contains("piw-sense is not provided"),
        "{:?}",
        p.warnings
    );
}
