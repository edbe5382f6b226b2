//! The machine a master or slave runs on, as their `HELLO`s describe it: the OS from
//! os-release, the board from `/proc/cpuinfo` (a Raspberry Pi's revision and serial).
//!
//! ```
//! use piwheels_protocol::machine::os_release_field;
//!
//! let text = "NAME=\"Debian GNU/Linux\"\nVERSION='12 (bookworm)'\n";
//! assert_eq!(os_release_field(text, "VERSION").as_deref(), Some("12 (bookworm)"));
//! ```

/// The machine, as `HELLO` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MachineFacts {
    /// `NAME` from `/etc/os-release`, e.g. `Debian GNU/Linux`.
    pub os_name: String,
    /// `VERSION` from `/etc/os-release`, e.g. `12 (bookworm)`.
    pub os_version: String,
    /// The board revision (`Revision` in `/proc/cpuinfo` on a Raspberry Pi).
    pub board_revision: String,
    /// The board serial number (`Serial` in `/proc/cpuinfo`).
    pub board_serial: String,
}

impl MachineFacts {
    /// Reads them; empty strings for what this machine does not say.
    pub fn read() -> Self {
        let os = std::fs::read_to_string("/etc/os-release")
            .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
            .unwrap_or_default();
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        MachineFacts {
            os_name: os_release_field(&os, "NAME").unwrap_or_default(),
            os_version: os_release_field(&os, "VERSION").unwrap_or_default(),
            board_revision: cpuinfo_field(&cpuinfo, "Revision").unwrap_or_default(),
            board_serial: cpuinfo_field(&cpuinfo, "Serial").unwrap_or_default(),
        }
    }
}

/// A field of an os-release file, unquoted.
pub fn os_release_field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let v = l.trim().strip_prefix(key)?.strip_prefix('=')?;
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(v);
        Some(v.replace("\\\"", "\"").replace("\\\\", "\\"))
    })
}

/// A field of `/proc/cpuinfo` (`Key\t: value`), trimmed.
pub fn cpuinfo_field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_owned())
    })
}
