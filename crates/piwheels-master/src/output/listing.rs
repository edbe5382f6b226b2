//! Reading the output folder's listings (for the start-up check and the audit; reading
//! only). Hidden names (`.`-prefixed: the atomic writer's temporary files, the staging
//! folder) are left out.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::FileType;
use std::io;
use std::path::Path;

/// The non-hidden entries of a folder, names as they are (a name need not be UTF-8),
/// with their types (a link is a link, not what it points at). Empty if the folder does
/// not exist.
pub fn raw_entries(dir: &Path) -> io::Result<Vec<(OsString, FileType)>> {
    let mut out = Vec::new();
    match std::fs::read_dir(dir) {
        Ok(list) => {
            for e in list {
                let e = e?;
                let name = e.file_name();
                if name.as_encoded_bytes().first() == Some(&b'.') {
                    continue;
                }
                out.push((name, e.file_type()?));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The non-hidden entries of a folder (names lossily made text; empty if it does not
/// exist).
pub fn entries(dir: &Path) -> io::Result<HashSet<String>> {
    Ok(raw_entries(dir)?
        .into_iter()
        .map(|(n, _)| n.to_string_lossy().into_owned())
        .collect())
}

/// The package folders in `OUT/simple` and `OUT/project`: real folders only (alias links
/// in `project/` are the scribe's).
pub fn package_folders(out: &Path) -> io::Result<(HashSet<String>, HashSet<String>)> {
    let dirs = |dir: &Path| -> io::Result<HashSet<String>> {
        Ok(raw_entries(dir)?
            .into_iter()
            .filter(|(_, t)| t.is_dir())
            .map(|(n, _)| n.to_string_lossy().into_owned())
            .collect())
    };
    Ok((dirs(&out.join("simple"))?, dirs(&out.join("project"))?))
}
