//! A build whose files are coming in: the master's bookkeeping of which of its wheels have
//! been transferred and verified, for SlaveDriver (a slave's build) and MrChase (an
//! import) alike.
//!
//! This is not a wire format (the wire form is
//! [`BuildState`](piwheels_protocol::states::BuildState)), so it lives here rather than in
//! the protocol crate. The armv6l copies of armv7l wheels are not listed: the database adds
//! them ([`piwheels_db::PlatformAliases`]).

use std::collections::BTreeMap;

use chrono::TimeDelta;
use piwheels_protocol::states::{BuildState, FileState};

/// The master's view of one build while its files come in.
///
/// Files are kept by name, so they are transferred in sorted filename order, as the
/// original does; each remembers whether it has arrived and been verified.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Build {
    /// Package name.
    pub(crate) package: String,
    /// Version.
    pub(crate) version: String,
    /// Whether the build succeeded.
    pub(crate) status: bool,
    /// How long it took.
    pub(crate) duration: TimeDelta,
    /// The build log.
    pub(crate) output: String,
    files: BTreeMap<String, (FileState, bool)>,
}

impl Build {
    /// A build from its wire form (its slave id and ABI are the caller's to keep); every
    /// file still to be transferred.
    pub(crate) fn new(state: BuildState) -> Self {
        let files = state
            .files
            .into_iter()
            .map(|f| (f.filename.clone(), (f, false)))
            .collect();
        Build {
            package: state.package,
            version: state.version,
            status: state.status,
            duration: state.duration,
            output: state.output,
            files,
        }
    }

    /// Every file, in filename order, with whether it has been transferred.
    pub(crate) fn files(&self) -> impl Iterator<Item = (&FileState, bool)> {
        self.files.values().map(|(f, done)| (f, *done))
    }

    /// The file of that name.
    pub(crate) fn file(&self, filename: &str) -> Option<&FileState> {
        self.files.get(filename).map(|(f, _)| f)
    }

    /// The first file (in filename order) still to be transferred.
    pub(crate) fn next_file(&self) -> Option<&FileState> {
        self.files.values().find(|(_, done)| !done).map(|(f, _)| f)
    }

    /// Marks a file as transferred and verified; false if there is no such file.
    pub(crate) fn mark_transferred(&mut self, filename: &str) -> bool {
        match self.files.get_mut(filename) {
            Some((_, done)) => {
                *done = true;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wheel(name: &str, platform: &str) -> FileState {
        FileState {
            filename: name.into(),
            filesize: 10,
            filehash: "0".repeat(64),
            package_tag: "foo".into(),
            package_version_tag: "1.0".into(),
            py_version_tag: "cp311".into(),
            abi_tag: "cp311".into(),
            platform_tag: platform.into(),
            requires_python: None,
            dependencies: Default::default(),
            location: "/simple".into(),
        }
    }

    fn build(files: Vec<FileState>) -> Build {
        Build::new(BuildState {
            slave_id: 1,
            package: "foo".into(),
            version: "1.0".into(),
            abi_tag: "cp311".into(),
            status: true,
            duration: TimeDelta::seconds(1),
            output: String::new(),
            files,
        })
    }

    #[test]
    fn build_sends_files_in_name_order() {
        let mut build = build(vec![
            wheel("foo-1.0-cp311-cp311-linux_armv7l.whl", "linux_armv7l"),
            wheel("foo-1.0-cp311-cp311-linux_aarch64.whl", "linux_aarch64"),
            wheel("foo-1.0-cp311-cp311-linux_armv6l.whl", "linux_armv6l"),
        ]);
        assert_eq!(build.files().count(), 3);
        assert!(
            build.files().all(|(_, done)| !done),
            "every file must be sent"
        );

        let mut build2 = self::build(vec![wheel(
            "x-1-cp311-cp311-linux_armv7l.whl",
            "linux_armv7l",
        )]);
        assert_eq!(
            build2.next_file().unwrap().filename,
            "x-1-cp311-cp311-linux_armv7l.whl"
        );
        assert_eq!(
            build2
                .file("x-1-cp311-cp311-linux_armv7l.whl")
                .map(|f| f.platform_tag.as_str()),
            Some("linux_armv7l")
        );
        assert!(build2.mark_transferred("x-1-cp311-cp311-linux_armv7l.whl"));
        assert!(build2.next_file().is_none(), "everything is transferred");
        assert!(!build2.mark_transferred("nope.whl"));

        let order: Vec<_> = std::iter::from_fn(|| {
            let name = build.next_file()?.filename.clone();
            build.mark_transferred(&name);
            Some(name)
        })
        .collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted);
        assert_eq!(order.len(), 3);
    }
}
