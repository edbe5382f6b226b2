//! The systemd units (`crates/piwheels/debian/*.service`) restrict the master and the
//! slave, and both must still work under those restrictions. There is no systemd here to
//! start the units, so each test puts the real program under the same restrictions by
//! hand, in a private mount namespace (what needs systemd itself, such as the master's
//! system-call filter, is left out).
//!
//! The master, as `piwheels-master.service` runs it (`master_unit_*`):
//!
//! - `ProtectSystem=strict`: every mount read-only but `/proc`, `/sys`, `/dev`, the private
//!   `/tmp` and the farm's folder (the unit's `ReadWritePaths`, `StateDirectory` and
//!   `RuntimeDirectory`);
//! - `User=` an unprivileged user, `NoNewPrivileges=yes` and `CapabilityBoundingSet=`
//!   (none at all).
//!
//! The slave, as `piwheels-slave.service` runs it:
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

/// Runs the rest of its arguments (the master and its options) as `nobody`, with the
/// master unit's restrictions; `$1` is the farm's folder, the one place it may write.
const RESTRICT_MASTER: &str = r#"
set -eu
keep=$1; shift
mount --bind "$keep" /mnt
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /var/tmp
mkdir -p "$keep"
mount --bind /mnt "$keep"
umount /mnt
findmnt -rno TARGET | while read -r m; do
    case "$m" in
        /proc|/proc/*|/sys|/sys/*|/dev|/dev/*|/tmp|/var/tmp|"$keep") ;;
        *) mount -o remount,bind,ro "$m" 2>/dev/null || true ;;
    esac
done
# The root itself must be read-only, or the test proves nothing.
if [ -w / ]; then echo "/ is still writable" >&2; exit 1; fi
exec setpriv --reuid nobody --regid nogroup --clear-groups --nnp --bounding-set -all \
    --inh-caps -all -- "$@"
"#;

#[test]
fn master_unit_restrictions_leave_the_master_working() {
    let test = "master_unit_restrictions_leave_the_master_working";
    if !is_root() {
        skip(
            test,
            "mounting and changing to an unprivileged user need root",
        );
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let Some(upstream) = upstream_with(test, work.path(), &[("master-unit-thing", "1.0", false)])
    else {
        return;
    };

    let mut farm = Farm::start_under(
        &upstream.url,
        &[],
        &[
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            RESTRICT_MASTER,
            "sh",
            "{farm}",
        ],
        |dir| {
            // The master's own folder, as the unit's StateDirectory is: owned by its user.
            let nobody = nix_user("nobody");
            std::os::unix::fs::chown(dir, Some(nobody.0), Some(nobody.1)).unwrap();
        },
    );
    farm.start_slave();
    farm.add("master-unit-thing", "1.0");
    farm.wait_for_wheel("master-unit-thing", Duration::from_secs(300));

    let status = std::fs::read_to_string(format!("/proc/{}/status", farm.master_pid())).unwrap();
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    assert!(status.contains("CapBnd:\t0000000000000000"), "{status}");
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:\t"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(uid, nix_user("nobody").0.to_string(), "{status}");
    pip_install_and_run(
        work.path(),
        &farm.index_url(),
        &["master-unit-thing"],
        "import master_unit_thing",
    );
}

/// A user's uid and primary gid, from `/etc/passwd`.
fn nix_user(name: &str) -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&name)).then(|| (f[2].parse().unwrap(), f[3].parse().unwrap()))
        })
        .unwrap_or_else(|| panic!("no user {name}"))
}

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
    let work = tempfile::tempdir().unwrap();
    let Some(upstream) = upstream_with(test, work.path(), &[("unit-thing", "1.0", true)]) else {
        return;
    };

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
