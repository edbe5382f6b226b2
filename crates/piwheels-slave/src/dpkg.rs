//! Which Debian package owns a file, from dpkg's database (`/var/lib/dpkg/info/*.list`),
//! as `dpkg -S` answers, without running it (the original used python-apt).
//!
//! Paths are matched in every form they may be listed under: as given, with symbolic
//! links resolved (a soname link and the file it points to), and with `/lib`, `/bin`,
//! `/sbin` and `/lib64` swapped for their `/usr` forms and back (merged-`/usr` systems list
//! some files under one and find them under the other).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// dpkg's database directory.
pub const DPKG_INFO: &str = "/var/lib/dpkg/info";

/// Looks up the owners of files in dpkg's database.
#[derive(Debug, Clone)]
pub struct Dpkg {
    info_dir: PathBuf,
}

impl Default for Dpkg {
    fn default() -> Self {
        Self::system()
    }
}

/// The top directories merged into `/usr` on merged-`/usr` systems.
const MERGED: [&str; 6] = ["/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin"];

/// Every form a path may be listed under in dpkg's database (see the module docs).
pub fn path_variants(path: &Path) -> BTreeSet<PathBuf> {
    let mut forms = vec![path.to_path_buf()];
    if let (Some(parent), Some(name)) = (path.parent(), path.file_name())
        && let Ok(dir) = parent.canonicalize()
    {
        forms.push(dir.join(name));
    }
    if let Ok(real) = path.canonicalize() {
        forms.push(real);
    }
    let mut out = BTreeSet::new();
    for p in forms {
        let s = p.to_string_lossy().into_owned();
        for top in MERGED {
            if let Some(rest) = s.strip_prefix(top)
                && rest.starts_with('/')
            {
                out.insert(PathBuf::from(format!("/usr{top}{rest}")));
            }
            if let Some(rest) = s.strip_prefix("/usr").and_then(|r| r.strip_prefix(top))
                && rest.starts_with('/')
            {
                out.insert(PathBuf::from(format!("{top}{rest}")));
            }
        }
        out.insert(p);
    }
    out
}

impl Dpkg {
    /// The system's database.
    pub fn system() -> Self {
        Self::new(DPKG_INFO)
    }

    /// A database in another directory (for tests).
    pub fn new(info_dir: impl Into<PathBuf>) -> Self {
        Dpkg {
            info_dir: info_dir.into(),
        }
    }

    /// Whether the database directory exists (not a Debian system otherwise).
    pub fn available(&self) -> bool {
        self.info_dir.is_dir()
    }

    /// The owning packages (without `:arch`, sorted) of each of `paths`; a path no package
    /// lists is absent from the map. Reads each `*.list` file once.
    pub fn owners(&self, paths: &[PathBuf]) -> BTreeMap<PathBuf, BTreeSet<String>> {
        let mut wanted: BTreeMap<PathBuf, Vec<usize>> = BTreeMap::new();
        for (i, p) in paths.iter().enumerate() {
            for v in path_variants(p) {
                wanted.entry(v).or_default().push(i);
            }
        }
        let mut found: Vec<BTreeSet<String>> = vec![BTreeSet::new(); paths.len()];
        if !wanted.is_empty() {
            let entries = std::fs::read_dir(&self.info_dir)
                .into_iter()
                .flatten()
                .flatten();
            for entry in entries {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                let Some(package) = name.strip_suffix(".list") else {
                    continue;
                };
                let package = package.split(':').next().unwrap_or(package);
                let Ok(file) = std::fs::File::open(entry.path()) else {
                    continue;
                };
                for line in BufReader::new(file).split(b'\n').map_while(Result::ok) {
                    let line = String::from_utf8_lossy(&line);
                    if let Some(indices) = wanted.get(Path::new(line.as_ref())) {
                        for &i in indices {
                            found[i].insert(package.to_owned());
                        }
                    }
                }
            }
        }
        paths
            .iter()
            .cloned()
            .zip(found)
            .filter(|(_, owners)| !owners.is_empty())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_usr_variants() {
        let v = path_variants(Path::new("/nonexistent-dir/x"));
        assert!(v.contains(Path::new("/nonexistent-dir/x")));
        let v = path_variants(Path::new("/lib/zz-none/libq.so.1"));
        assert!(v.contains(Path::new("/usr/lib/zz-none/libq.so.1")), "{v:?}");
        let v = path_variants(Path::new("/usr/lib64/zz-none/libq.so.1"));
        assert!(v.contains(Path::new("/lib64/zz-none/libq.so.1")), "{v:?}");
        // "/library" is not "/lib".
        let v = path_variants(Path::new("/library/x"));
        assert_eq!(v.len(), 1, "{v:?}");
    }

    #[test]
    fn owners_from_a_database() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("libq1:amd64.list"),
            "/.\n/usr\n/usr/lib/zz-none/libq.so.1\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("other.list"), "/opt/zz-none/other\n").unwrap();
        std::fs::write(
            dir.path().join("libq1:amd64.md5sums"),
            "/lib/zz-none/libq.so.1\n",
        )
        .unwrap();
        let db = Dpkg::new(dir.path());
        let paths = [
            PathBuf::from("/lib/zz-none/libq.so.1"),
            PathBuf::from("/opt/zz-none/unowned"),
        ];
        let owners = db.owners(&paths);
        assert_eq!(owners.len(), 1);
        assert_eq!(
            owners[&paths[0]].iter().collect::<Vec<_>>(),
            [&"libq1".to_string()]
        );
    }
}
