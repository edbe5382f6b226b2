//! The Debian package (`cargo deb -p piwheels`), installed with `dpkg -i` into a throw-away
//! root: the real system seen through overlays (`/usr`, `/etc` and `/var` each over a
//! temporary upper folder) in a private mount namespace, and a `chroot` into it. The
//! binaries, the units, `/etc/piwheels.conf` and the users must be there afterwards, the
//! units must pass `systemd-analyze verify`, and the real system must be untouched.
//!
//! The package is made from the test build's binaries (`--no-build --profile dev`), so the
//! test does not build the release binaries; `cargo deb` warns that a dev profile is not
//! for releases.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::*;
use test_support::process::output_within;

/// Installs the package into the throw-away root under `$1` and looks around inside it.
const INSTALL: &str = r#"
set -eu
T=$1; deb=$2
R=$T/root
mkdir -p "$R/usr" "$R/etc" "$R/var" "$R/tmp" "$R/proc" "$R/dev" "$R/run"
for d in usr etc var; do
    mkdir -p "$T/$d-up" "$T/$d-work"
    mount -t overlay overlay -o "lowerdir=/$d,upperdir=$T/$d-up,workdir=$T/$d-work" "$R/$d"
done
for l in bin sbin lib lib64 lib32 libx32; do
    if [ -L "/$l" ]; then ln -s "$(readlink "/$l")" "$R/$l"; fi
done
mount -t tmpfs tmpfs "$R/tmp"
mount -t tmpfs tmpfs "$R/run"
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
cp "$deb" "$R/tmp/piwheels.deb"
chroot "$R" dpkg -i /tmp/piwheels.deb
echo "user: $(chroot "$R" getent passwd piwheels)"
echo "build user: $(chroot "$R" getent passwd piwheels-build)"
echo "output: $(chroot "$R" stat -c '%U %a' /var/www/piwheels)"
echo "version: $(chroot "$R" /usr/bin/piw-master --version)"
echo "master key: $(chroot "$R" stat -c '%U %a' /etc/piwheels/master.key_secret)"
echo "allow-list: $(chroot "$R" stat -c '%a' /etc/piwheels/slaves)"
# A second configure (an upgrade) keeps the key.
before=$(cat "$R/etc/piwheels/master.key")
chroot "$R" dpkg-reconfigure piwheels >/dev/null 2>&1 || chroot "$R" /var/lib/dpkg/info/piwheels.postinst configure
[ "$(cat "$R/etc/piwheels/master.key")" = "$before" ] && echo "key kept on upgrade"
if chroot "$R" sh -c 'command -v systemd-analyze' >/dev/null; then
    chroot "$R" systemd-analyze verify /lib/systemd/system/piwheels-master.service \
        /lib/systemd/system/piwheels-slave.service
    echo "units: verified"
    chroot "$R" systemd-analyze security --offline=true /lib/systemd/system/piwheels-master.service \
        | tail -n 1
else
    echo "units: no systemd-analyze on this machine"
fi
"#;

fn cargo() -> PathBuf {
    std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from)
}

#[test]
fn the_deb_installs_the_tools_units_configuration_and_users() {
    let test = "the_deb_installs_the_tools_units_configuration_and_users";
    if !is_root() {
        skip(test, "mounting the throw-away root and chroot need root");
        return;
    }
    let has_deb = Command::new(cargo())
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_deb {
        skip(
            test,
            "cargo-deb is not installed (scripts/test-all installs it)",
        );
        return;
    }
    let work = tempfile::Builder::new()
        .prefix("piw-deb")
        .tempdir()
        .unwrap();
    let deb = work.path().join("piwheels.deb");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = output_within(
        Command::new(cargo())
            .current_dir(&workspace)
            .args(["deb", "-p", "piwheels", "--no-build", "--profile", "dev"])
            .args(["--fast", "-o"])
            .arg(&deb),
        b"",
        Duration::from_secs(300),
        "cargo deb",
    );
    assert!(
        out.status.success(),
        "cargo deb failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let contents = output_within(
        Command::new("dpkg-deb").arg("--contents").arg(&deb),
        b"",
        Duration::from_secs(60),
        "dpkg-deb --contents",
    );
    let listing = String::from_utf8_lossy(&contents.stdout);
    for path in [
        "./usr/bin/piw-master",
        "./usr/bin/piw-slave",
        "./usr/bin/piw-keygen",
        "./usr/bin/piw-audit",
        "./usr/bin/piw-monitor",
        "./usr/bin/piw-logger",
        "./lib/systemd/system/piwheels-master.service",
        "./lib/systemd/system/piwheels-slave.service",
        "./etc/piwheels.conf",
    ] {
        assert!(
            listing.contains(path),
            "{path} not in the package:\n{listing}"
        );
    }

    let passwd_before = std::fs::read_to_string("/etc/passwd").unwrap();
    let out = output_within(
        Command::new("unshare")
            .args([
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                INSTALL,
                "sh",
            ])
            .arg(work.path())
            .arg(&deb),
        b"",
        Duration::from_secs(300),
        "dpkg -i in the throw-away root",
    );
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "installing failed:\n{said}");
    println!("{said}");
    assert!(
        said.contains("user: piwheels:x:") && said.contains(":/var/lib/piwheels:"),
        "{said}"
    );
    assert!(said.contains("build user: piwheels-build:x:"), "{said}");
    assert!(said.contains("output: piwheels 755"), "{said}");
    assert!(said.contains("version: piw-master "), "{said}");
    assert!(said.contains("master key: piwheels 600"), "{said}");
    assert!(said.contains("allow-list: 755"), "{said}");
    assert!(said.contains("key kept on upgrade"), "{said}");
    assert!(
        said.contains("units: verified") || said.contains("units: no systemd-analyze"),
        "{said}"
    );
    // What dpkg wrote went to the overlays' upper folders.
    let up = |p: &str| work.path().join(p);
    assert!(up("usr-up/bin/piw-master").is_file());
    assert!(up("usr-up/lib/systemd/system/piwheels-slave.service").is_file());
    let conf = std::fs::read_to_string(up("etc-up/piwheels.conf")).unwrap();
    assert!(
        conf.contains("status-queue = ipc:///run/piwheels/status"),
        "{conf}"
    );
    // The master starts secured: its key and allow-list are set, and the key is real.
    assert!(
        conf.contains("\nmaster-secret-key = /etc/piwheels/master.key_secret\n")
            && conf.contains("\nallow-list = /etc/piwheels/slaves\n"),
        "{conf}"
    );
    piwheels_protocol::auth::KeyPair::read(&up("etc-up/piwheels/master.key_secret")).unwrap();
    // And the real system saw none of it.
    assert_eq!(
        std::fs::read_to_string("/etc/passwd").unwrap(),
        passwd_before
    );
}
