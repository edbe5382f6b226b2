//! `piw-slave --build-network`: the modes it takes (`index`, the default, `full`, `none`,
//! with `--no-build-network` as `none`) and `--build-proxy-allow`'s `HOST:PORT`; bad values
//! are refused before the slave starts. A slave in `index` mode says once which hosts its
//! builds may reach.

use std::process::Command;

use crate::support::{Farm, bin, is_root, python_ready, skip, wait_until};

/// Runs `piw-slave args` (each of these ends at argument parsing); its exit code and
/// standard error.
fn slave(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(bin("piw-slave"))
        .args(args)
        .env_remove("PIW_MASTER")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn build_network_modes_and_proxy_hosts_are_checked() {
    let (code, help) = slave(&["--help"]);
    assert_eq!(code, Some(0), "{help}");
    for option in [
        "--build-network",
        "--no-build-network",
        "--build-proxy-allow",
    ] {
        assert!(help.contains(option), "{help}");
    }
    assert!(help.contains("[default: index]"), "{help}");
    let (code, err) = slave(&["--build-network", "some"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("index, full or none"), "{err}");
    let (code, err) = slave(&["--build-network", "full", "--no-build-network"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("cannot be used with"), "{err}");
    let (code, err) = slave(&["--build-proxy-allow", "files.example"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no host and port"), "{err}");
}

/// A slave in `index` mode names the hosts builds may reach when it first connects (the
/// master's index, here `127.0.0.1:9`, and `--build-proxy-allow`'s), with the way to add
/// one; a reconnection to the same index does not say it again.
#[test]
fn an_index_mode_slave_says_once_which_hosts_builds_reach() {
    let test = "an_index_mode_slave_says_once_which_hosts_builds_reach";
    if !is_root() {
        return skip(test, "only a slave started as root makes the build sandbox");
    }
    if let Err(why) = python_ready() {
        return skip(test, &why);
    }
    let limit = std::time::Duration::from_secs(90);
    let mut farm = Farm::start("http://127.0.0.1:9/simple", &[]);
    farm.start_slave();
    let path = farm.dir.path().join("slave1.log");
    let log = || std::fs::read_to_string(&path).unwrap_or_default();
    let said = "--build-network index: builds reach only 127.0.0.1:9 through the build proxy; \
                if an index serves its files from another host, add it with --build-proxy-allow HOST:PORT";
    wait_until(limit, "the slave to name the hosts builds reach", || {
        log().contains(said).then_some(())
    });
    farm.restart_master();
    wait_until(limit, "the slave to connect again", || {
        (log().matches("connected to the master").count() >= 2).then_some(())
    });
    assert_eq!(log().matches(said).count(), 1, "{}", log());
}
