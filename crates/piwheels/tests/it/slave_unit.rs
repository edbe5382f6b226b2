//! The slave's systemd unit (`crates/piwheels/debian/piwheels-slave.service`) restricts it,
//! and its build sandbox must still work under those restrictions. There is no systemd
//! here to start the unit, so the test puts a real `piw-slave` under the same
//! restrictions by hand, in a private mount namespace:
//!
//! - `ProtectSystem=full`: `/usr`, `/etc` and `/boot` bound read-only over themselves;
//! - `PrivateTmp=yes`: a new tmpfs on `/tmp` and `/var/tmp` (the build folder bound back
//!   in, as the unit's `CacheDirectory` is outside them);
//! - `ProtectHome=yes`: `/home`, `/root` and `/run/user` empty and inaccessible;
//! - `NoNewPrivileges=yes`, and the capabilities `ProtectKernelModules`,
//!   `ProtectKernelLogs` and `ProtectClock` take away (`setpriv`).
//!
//! The slave then builds a wheel that pip installs from the farm, and its `/proc` status
//! shows the restrictions were in force.

use crate::support;

use std::path::PathBuf;
use std::time::Duration;

use support::*;

/// Puts the rest of its arguments (the slave and its options) under the unit's
/// restrictions; `$1` is the build folder to keep.
const RESTRICT: &str = r#"
set -eu
build=$1; shift
for d in /usr /etc /boot; do
    if [ -d "$d" ]; then mount --bind "$d" "$d"; mount -o remount,bind,ro "$d"; fi
done
mount --bind "$build" /mnt
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /var/tmp
mkdir -p "$build"
mount --bind /mnt "$build"
umount /mnt
for d in /home /root /run/user; do
    if [ -d "$d" ]; then mount -t tmpfs -o mode=000 tmpfs "$d"; fi
done
export HOME=/root
exec setpriv --nnp --bounding-set -sys_module,-syslog,-sys_time,-wake_alarm -- "$@"
"#;

#[test]
fn a_slave_restricted_as_its_unit_restricts_it_still_builds() {
    let test = "a_slave_restricted_as_its_unit_restricts_it_still_builds";
    if !is_root() {
        skip(
            test,
            "the unit runs the slave as root; mounting needs root too",
        );
        return;
    }
    if let Err(why) = python_ready() {
        skip(test, &why);
        return;
    }
    let deps = match build_deps() {
        Ok(dir) => dir,
        Err(why) => {
            skip(test, &why);
            return;
        }
    };
    let work = tempfile::tempdir().unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&deps)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "whl"))
        .collect();
    files.push(make_sdist(work.path(), "unit-thing", "1.0", true, 0));
    let upstream = Upstream::serve(&work.path().join("upstream"), &files);

    let mut farm = Farm::start(&upstream.url, &[]);
    let build = farm.dir.path().join("build-unit");
    let build_arg = build.to_str().unwrap().to_owned();
    let i = farm.start_slave_in(
        &[
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            RESTRICT,
            "sh",
            &build_arg,
        ],
        &build,
    );
    farm.add("unit-thing", "1.0");
    let wheel = farm.wait_for_wheel("unit-thing", Duration::from_secs(300));
    assert!(
        wheel
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("unit_thing-1.0-"),
        "{wheel:?}"
    );

    // The restrictions were on the slave itself (the wrappers exec'd into it).
    let status = std::fs::read_to_string(format!("/proc/{}/status", farm.slaves[i].id())).unwrap();
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    let bounding = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:\t"))
        .map(|hex| u64::from_str_radix(hex.trim(), 16).unwrap())
        .unwrap();
    // CAP_SYS_MODULE (16), CAP_SYS_TIME (25), CAP_SYSLOG (34), CAP_WAKE_ALARM (35).
    for cap in [16, 25, 34, 35] {
        assert_eq!(bounding & (1 << cap), 0, "capability {cap} kept: {status}");
    }
    // And what it built installs and runs (a C extension, built in the sandbox).
    pip_install_and_run(
        work.path(),
        &farm.index_url(),
        &["unit-thing"],
        "import unit_thing; assert unit_thing.VALUE == 42",
    );
}
