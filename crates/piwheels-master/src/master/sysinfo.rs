//! Who the master is, for monitors' `HELLO`: hostname, OS, and the board (on a Raspberry
//! Pi, from `/proc/cpuinfo`).

use chrono::{DateTime, Utc};
use piwheels_protocol::machine::{cpuinfo_field, os_release_field};
use piwheels_protocol::monitor::MasterHello;

/// The master's `HELLO` for monitors: when it started, its hostname, OS name and version
/// (`/etc/os-release`), and board revision and serial (`"unknown"` off a Raspberry Pi).
pub fn master_hello(started: DateTime<Utc>) -> MasterHello {
    let uname = rustix::system::uname();
    let label = uname.nodename().to_string_lossy().into_owned();
    let (os_name, os_version) = os_release(
        &std::fs::read_to_string("/etc/os-release").unwrap_or_default(),
    )
    .unwrap_or_else(|| {
        (
            uname.sysname().to_string_lossy().into_owned(),
            uname.release().to_string_lossy().into_owned(),
        )
    });
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    MasterHello {
        started,
        label,
        os_name,
        os_version,
        board_revision: cpuinfo_field(&cpuinfo, "Revision").unwrap_or_else(|| "unknown".into()),
        board_serial: cpuinfo_field(&cpuinfo, "Serial").unwrap_or_else(|| "unknown".into()),
    }
}

/// `NAME` and `VERSION` (else `VERSION_ID`) of an os-release file.
fn os_release(text: &str) -> Option<(String, String)> {
    let name = os_release_field(text, "NAME")?;
    let version = os_release_field(text, "VERSION")
        .or_else(|| os_release_field(text, "VERSION_ID"))
        .unwrap_or_default();
    Some((name, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_and_cpuinfo() {
        let text = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\n";
        assert_eq!(
            os_release(text),
            Some(("Debian GNU/Linux".into(), "12 (bookworm)".into()))
        );
        assert_eq!(os_release("ID=x\n"), None);
        let cpu = "processor\t: 0\nRevision\t: a02082\nSerial\t\t: 00000000deadbeef\n";
        assert_eq!(cpuinfo_field(cpu, "Revision").as_deref(), Some("a02082"));
        assert_eq!(
            cpuinfo_field(cpu, "Serial").as_deref(),
            Some("00000000deadbeef")
        );
        assert_eq!(cpuinfo_field(cpu, "Model"), None);
    }
}
