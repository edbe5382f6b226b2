//! A wheel as the protocol declares it ([`FileState`]) and as the database records it
//! ([`NewFile`]), each made from the other. SlaveDriver and MrChase record builds' wheels
//! with [`new_file`]; [`Output::recover`](super::Output::recover) stages recorded wheels
//! again with [`file_state`].

use piwheels_db::NewFile;
use piwheels_protocol::quote::Quoted;
use piwheels_protocol::states::FileState;

/// A declared file whose size is negative: it cannot be recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: negative size {size}", Quoted::str(.file))]
pub struct NegativeSize {
    /// The declared file name.
    pub file: String,
    /// The declared size.
    pub size: i64,
}

/// A wheel as the database records it.
pub fn new_file(f: &FileState) -> Result<NewFile, NegativeSize> {
    Ok(NewFile {
        filename: f.filename.clone(),
        filesize: u64::try_from(f.filesize).map_err(|_| NegativeSize {
            file: f.filename.clone(),
            size: f.filesize,
        })?,
        filehash: f.filehash.clone(),
        package_tag: f.package_tag.clone(),
        package_version_tag: f.package_version_tag.clone(),
        py_version_tag: f.py_version_tag.clone(),
        abi_tag: f.abi_tag.clone(),
        platform_tag: f.platform_tag.clone(),
        requires_python: f.requires_python.clone(),
        dependencies: f
            .dependencies
            .iter()
            .map(|(tool, deps)| (tool.clone(), deps.iter().cloned().collect()))
            .collect(),
        location: f.location.clone(),
    })
}

/// A stored file as the protocol's [`FileState`] (for a recovered staged wheel; the
/// database does not keep the dependencies with the file).
pub fn file_state(f: &NewFile) -> FileState {
    FileState {
        filename: f.filename.clone(),
        filesize: i64::try_from(f.filesize).unwrap_or(i64::MAX),
        filehash: f.filehash.clone(),
        package_tag: f.package_tag.clone(),
        package_version_tag: f.package_version_tag.clone(),
        py_version_tag: f.py_version_tag.clone(),
        abi_tag: f.abi_tag.clone(),
        platform_tag: f.platform_tag.clone(),
        requires_python: f.requires_python.clone(),
        dependencies: Default::default(),
        location: f.location.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ways() {
        let f = FileState {
            filename: "foo-1.0-py3-none-any.whl".into(),
            filesize: 123,
            filehash: "a".repeat(64),
            package_tag: "foo".into(),
            package_version_tag: "1.0".into(),
            py_version_tag: "py3".into(),
            abi_tag: "none".into(),
            platform_tag: "any".into(),
            requires_python: Some(">=3.7".into()),
            dependencies: Default::default(),
            location: "/simple".into(),
        };
        let stored = new_file(&f).unwrap();
        assert_eq!(stored.filesize, 123);
        assert_eq!(file_state(&stored), f);
        let bad = FileState {
            filesize: -1,
            ..f.clone()
        };
        assert_eq!(
            new_file(&bad).unwrap_err().to_string(),
            "\"foo-1.0-py3-none-any.whl\": negative size -1"
        );
    }
}
