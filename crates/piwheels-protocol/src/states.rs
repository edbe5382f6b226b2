//! The file and build shapes both ends share (piwheels.md §3.1, §3.4).
//!
//! [`FileState`] and [`BuildState`] are wire shapes (the 11-field file and the 8-field
//! import build). The master's bookkeeping around them (which files of a build have
//! arrived, what each slave was last told) is the master's own and lives there. The
//! transfer of one file is [`TransferState`](crate::transfer::TransferState).

use chrono::TimeDelta;
use indexmap::IndexMap;

use crate::wire_struct;

wire_struct! {
    /// One wheel as slaves and importers describe it (exactly 11 fields on the wire).
    pub struct FileState {
        /// The wheel's file name.
        pub filename: String,
        /// Its size in bytes.
        pub filesize: i64,
        /// Its SHA-256, lowercase hex.
        pub filehash: String,
        /// Package tag of the wheel name.
        pub package_tag: String,
        /// Version tag of the wheel name.
        pub package_version_tag: String,
        /// Python tag, e.g. `cp311`.
        pub py_version_tag: String,
        /// ABI tag, e.g. `cp311` or `none`.
        pub abi_tag: String,
        /// Platform tag, e.g. `linux_armv7l` or `any`.
        pub platform_tag: String,
        /// `Requires-Python`, if the wheel declares one.
        pub requires_python: Option<String>,
        /// Dependencies by tool: `"apt"`, `"pip"`, and `""` for unresolved libraries.
        pub dependencies: IndexMap<String, Vec<String>>,
        /// Where the file is published; always `"/simple"` from slaves.
        pub location: String,
    }
}

/// The suffix the armv6 twin rule replaces.
const ARMV7_SUFFIX: &str = "linux_armv7l.whl";
const ARMV6_SUFFIX: &str = "linux_armv6l.whl";

impl FileState {
    /// The `linux_armv6l` twin of a `linux_armv7l` wheel (same bytes, same hash): the
    /// master publishes armv7l wheels for armv6 too. `None` for other platforms.
    pub fn armv6_twin(&self) -> Option<FileState> {
        if self.platform_tag != "linux_armv7l" {
            return None;
        }
        let stem = self.filename.strip_suffix(ARMV7_SUFFIX)?;
        Some(FileState {
            filename: format!("{stem}{ARMV6_SUFFIX}"),
            platform_tag: "linux_armv6l".into(),
            ..self.clone()
        })
    }
}

wire_struct! {
    /// A build as `piw-import` sends it (`IMPORT` data, 8 fields).
    pub struct BuildState {
        /// Slave id (the master forces 0 for imports).
        pub slave_id: i64,
        /// Package name.
        pub package: String,
        /// Version.
        pub version: String,
        /// The ABI the build is for.
        pub abi_tag: String,
        /// Whether it succeeded.
        pub status: bool,
        /// How long it took.
        pub duration: TimeDelta,
        /// The build log.
        pub output: String,
        /// The wheels.
        pub files: Vec<FileState>,
    }
}
