//! `piw-slave --build-network`: the modes it takes (`index`, the default, `full`, `none`,
//! with `--no-build-network` as `none`) and `--build-proxy-allow`'s `HOST:PORT`; bad values
//! are refused before the slave starts.

use std::process::Command;

use crate::support::bin;

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
