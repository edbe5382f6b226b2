//! piw-master takes piwheels 0.23's options and `piwheels.conf` (see
//! `piwheels::legacy_options`).

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
            "piw-master",
            "-c",
            "/dev/null",
            "-v",
            "-l",
            "/tmp/m.log",
            "-d",
            "postgres://h/db",
            "-o",
            "/srv/www",
            "--dev-mode",
            "--debug",
            "master.slave_driver",
            "--debug",
            "the_*",
            "--pypi-xmlrpc",
            "http://u/pypi",
            "--pypi-simple",
            "http://u/simple",
            "--pypi-json",
            "http://u/pypi",
            "--status-queue",
            "ipc:///run/s",
            "--control-queue",
            "ipc:///run/c",
            "--import-queue",
            "ipc:///run/i",
            "--log-queue",
            "ipc:///run/l",
            "--slave-queue",
            "tcp://*:6555",
            "--file-queue",
            "tcp://*:6556",
        ],
        &[],
    )
    .unwrap();
    assert!(o.common.verbose && o.dev_mode);
    assert_eq!(o.common.log_file.as_deref(), Some(Path::new("/tmp/m.log")));
    assert_eq!(
        (o.dsn.as_str(), o.output_path.as_path()),
        ("postgres://h/db", Path::new("/srv/www"))
    );
    assert_eq!(o.debug, ["master.slave_driver", "the_*"]);
    assert_eq!(o.pypi_xmlrpc.as_deref(), Some("http://u/pypi"));
    assert_eq!(o.pypi_simple.as_deref(), Some("http://u/simple"));
    assert_eq!(o.pypi_json.as_deref(), Some("http://u/pypi"));
    assert_eq!(
        [
            &o.status_queue,
            &o.control_queue,
            &o.import_queue,
            &o.log_queue,
            &o.slave_queue,
            &o.file_queue
        ],
        [
            "ipc:///run/s",
            "ipc:///run/c",
            "ipc:///run/i",
            "ipc:///run/l",
            "tcp://*:6555",
            "tcp://*:6556"
        ]
    );
    let q: Opts = try_parse_from(["piw-master", "-q"], &[]).unwrap();
    assert!(q.common.quiet);
}

/// The internal queues parse and are ignored, each with a warning saying why; --dev-mode
/// works but says what it no longer does.
#[test]
fn internal_queues_are_ignored_and_dev_mode_says_what_changed() {
    let p = try_parse_reporting::<Opts, _>(
        [
            "piw-master",
            "--web-queue",
            "inproc://web",
            "--builds-queue=inproc://builds",
            "--db-queue",
            "inproc://db",
            "--fs-queue",
            "inproc://fs",
            "--stats-queue",
            "inproc://stats",
            "--dev-mode",
        ],
        &[],
    )
    .unwrap();
    assert!(p.opts.dev_mode);
    assert_eq!(p.warnings.len(), 6, "{:?}", p.warnings);
    for queue in ["web", "builds", "db", "fs", "stats"] {
        let said = format!("--{queue}-queue is ignored");
        assert!(
            p.warnings
                .iter()
                .any(|w| w.contains(&said) && w.contains("inside the process")),
            "{queue}: {:?}",
            p.warnings
        );
    }
    assert!(
        p.warnings.iter().any(|w| w.contains("--follow PROJECT")),
        "{:?}",
        p.warnings
    );
    let quiet = try_parse_reporting::<Opts, _>(["piw-master", "-q", "--web-queue", "x"], &[]);
    assert_eq!(quiet.unwrap().warnings, Vec::<String>::new());
}

/// A `piwheels.conf` as the 0.23 documentation writes it, with the slave's section and the
/// internal queues: the master takes its keys, ignores the slave's silently (`timeout`
/// included), and reports each dropped key once, however many files hold it.
#[test]
fn an_original_piwheels_conf_works_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("piwheels.conf");
    std::fs::write(
        &conf,
        "[master]\ndsn=postgres://piwheels:pw@db.example/piwheels\noutput-path=/var/www/piwheels\n\
         pypi-simple=https://mirror.example/simple\npypi_xmlrpc=https://mirror.example/pypi\n\
         web-queue=inproc://web\nstats_queue=inproc://stats\ndebug=master.cloud_gazer\n\
         [slave]\nmaster=master.example\ntimeout=3h\n",
    )
    .unwrap();
    let again = dir.path().join("again.conf");
    std::fs::write(&again, "web_queue = inproc://web2\n").unwrap();
    let p = try_parse_reporting::<Opts, _>(["piw-master"], &[conf.clone(), again]).unwrap();
    let o = p.opts;
    assert_eq!(o.dsn, "postgres://piwheels:pw@db.example/piwheels");
    assert_eq!(o.output_path, Path::new("/var/www/piwheels"));
    assert_eq!(
        o.pypi_simple.as_deref(),
        Some("https://mirror.example/simple")
    );
    assert_eq!(
        o.pypi_xmlrpc.as_deref(),
        Some("https://mirror.example/pypi")
    );
    assert_eq!(o.debug, ["master.cloud_gazer"]);
    assert_eq!(p.warnings.len(), 2, "{:?}", p.warnings);
    assert!(
        p.warnings[0].starts_with("configuration key stats-queue"),
        "{:?}",
        p.warnings
    );
    assert!(
        p.warnings[1].starts_with("configuration key web-queue"),
        "{:?}",
        p.warnings
    );
    config(&o).unwrap();
    // The command line still wins over the file.
    let o: Opts = try_parse_from(["piw-master", "-d", "sqlite:/x.db"], &[conf]).unwrap();
    assert_eq!(o.dsn, "sqlite:/x.db");
}
