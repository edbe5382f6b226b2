//! piwheels 0.23's configuration on the tools as processes: a shared `piwheels.conf`
//! written as the original's documentation shows, the slave's environment variables
//! (`PIW_MASTER`, `PIW_TIMEOUT`), and a dropped option refused with its replacement named
//! (the table and every tool's options: `piwheels::legacy_options` and the `legacy_tests`
//! of each binary).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{bin, free_port, wait_until};

/// A `piwheels.conf` for a master and a slave on one host, as 0.23 wrote them: the
/// sections are cosmetic, the internal queues dropped, and the slave's `timeout` is a
/// build timeout.
fn original_conf(dir: &Path) -> PathBuf {
    let conf = dir.join("piwheels.conf");
    std::fs::write(
        &conf,
        "[master]\ndsn=postgres:///piwheels\noutput-path=/var/www\n\
         pypi-simple=https://mirror.example/simple\nweb-queue=inproc://web\n\
         [slave]\nmaster=elsewhere.example\ntimeout=1h\n",
    )
    .unwrap();
    conf
}

/// The slave reads PIW_MASTER and PIW_TIMEOUT (over the file's keys; a timeout of 24 h or
/// more too, which the original could not parse), and says once that the file's
/// `web-queue` is ignored.
#[test]
fn the_slave_takes_piw_master_and_piw_timeout_over_an_original_conf() {
    let dir = tempfile::tempdir().unwrap();
    let conf = original_conf(dir.path());
    let log = dir.path().join("slave.err");
    let port = free_port().to_string();
    let mut child = Command::new(bin("piw-slave"))
        .args(["-v", "--no-sandbox", "-c"])
        .arg(&conf)
        .args(["--slave-port", &port, "--file-port", &port, "-d"])
        .arg(dir.path())
        .env("HOME", dir.path())
        .env("PIW_MASTER", "127.0.0.1")
        .env("PIW_TIMEOUT", "36h")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    let said = wait_until(Duration::from_secs(60), "the slave's start-up line", || {
        let text = read();
        (text.contains("starting:") || child.try_wait().ok().flatten().is_some()).then_some(text)
    });
    child.kill().ok();
    child.wait().unwrap();
    assert!(said.contains("master 127.0.0.1 ("), "{said}");
    assert!(said.contains("timeout 36h"), "{said}");
    assert_eq!(
        said.matches("warning: configuration key web-queue").count(),
        1,
        "{said}"
    );
    assert!(!said.contains("timeout (piwheels"), "{said}");

    let out = Command::new(bin("piw-slave"))
        .env("HOME", dir.path())
        .env("PIW_TIMEOUT", "soon")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("soon"), "{err}");
}

/// An admin tool started with the original's file says once that `web-queue` is ignored,
/// is not stopped by the slave's `timeout = 1h`, and goes on to ask the master.
#[test]
fn an_admin_tool_goes_on_with_an_original_conf() {
    let dir = tempfile::tempdir().unwrap();
    let conf = original_conf(dir.path());
    let queue = format!("ipc://{}/nobody", dir.path().display());
    let out = Command::new(env!("CARGO_BIN_EXE_piw-rebuild"))
        .args(["home", "--timeout", "1", "--import-queue", &queue, "-c"])
        .arg(&conf)
        .env("HOME", dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err.matches("warning: configuration key web-queue").count(),
        1,
        "{err}"
    );
    assert!(err.contains("did not answer"), "{err}");
    // -q: errors only.
    let out = Command::new(env!("CARGO_BIN_EXE_piw-rebuild"))
        .args([
            "home",
            "-q",
            "--timeout",
            "1",
            "--import-queue",
            &queue,
            "-c",
        ])
        .arg(&conf)
        .env("HOME", dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"));
}

/// piw-audit's `-m` (0.23: report missing files) is a usage error naming `--check`.
#[test]
fn a_dropped_option_is_a_usage_error_naming_its_replacement() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_piw-audit"))
        .args(["-m", "-d", "sqlite:/nonexistent/x.db"])
        .env("HOME", dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("-m/--missing") && err.contains("--check packages,files"),
        "{err}"
    );
}
