//! What a built wheel is (piwheels.md §7.3): its tags, size and hash, what it requires of Python,
//! which Python packages it depends on, and which Debian packages its shared libraries
//! need.
//!
//! A wheel is untrusted input. It is read in memory only: member names are never used as
//! paths on disk, members are read with a size limit (a zip bomb fails cleanly), and every
//! problem is a [`WheelError`] that says what was wrong, never a panic.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use indexmap::IndexMap;
use piwheels_protocol::states::FileState;
use sha2::{Digest, Sha256};

use crate::dpkg::Dpkg;
use crate::elf::{self, LibraryResolver};

/// The largest `METADATA` read (16 MiB).
pub const MAX_METADATA: u64 = 16 << 20;
/// The largest shared library read for analysis (512 MiB).
pub const MAX_LIBRARY: u64 = 512 << 20;

/// Why a wheel could not be analysed. The build that made it is reported failed, with
/// this message in its log (prefixed `BadWheel:` as the original did for a missing
/// `METADATA`).
#[derive(Debug, thiserror::Error)]
pub enum WheelError {
    /// The file name is not `name-version[-build]-python-abi-platform.whl`.
    #[error(
        "BadWheel: {0:?} is not a wheel file name (name-version[-build]-python-abi-platform.whl)"
    )]
    Name(String),
    /// The file could not be read.
    #[error("BadWheel: cannot read {path}: {error}")]
    Io {
        /// The wheel.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// The file is not a readable zip archive.
    #[error("BadWheel: {path} is not a valid zip archive: {error}")]
    Zip {
        /// The wheel.
        path: PathBuf,
        /// What the zip reader said.
        error: String,
    },
    /// No `<name>-<version>.dist-info/METADATA` in the archive.
    #[error("BadWheel: {path} has no {expected} (nor a canonically named variant)")]
    NoMetadata {
        /// The wheel.
        path: PathBuf,
        /// The member looked for.
        expected: String,
    },
    /// A member could not be read (corrupt, or larger than the limit).
    #[error("BadWheel: member {member:?} of {path}: {error}")]
    Member {
        /// The wheel.
        path: PathBuf,
        /// The member's name (as stored; never used as a path).
        member: String,
        /// Why.
        error: String,
    },
}

/// The parts of a wheel's file name (PEP 427).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelName {
    /// Distribution name as written in the file name.
    pub package: String,
    /// Version as written.
    pub version: String,
    /// Build tag, if any (ignored by piwheels).
    pub build: Option<String>,
    /// Python tag, e.g. `cp311`.
    pub python: String,
    /// ABI tag, e.g. `cp311`; the legacy `noabi` becomes `none`.
    pub abi: String,
    /// Platform tag, e.g. `linux_armv7l`.
    pub platform: String,
}

impl FromStr for WheelName {
    type Err = WheelError;

    fn from_str(filename: &str) -> Result<Self, WheelError> {
        let bad = || WheelError::Name(filename.to_owned());
        let stem = filename.strip_suffix(".whl").ok_or_else(bad)?;
        if stem.contains('/') || stem.contains('\0') {
            return Err(bad());
        }
        let parts: Vec<&str> = stem.split('-').collect();
        if !(5..=6).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        let n = parts.len();
        let abi = match parts[n - 2] {
            "noabi" => "none",
            other => other,
        };
        Ok(WheelName {
            package: parts[0].to_owned(),
            version: parts[1].to_owned(),
            build: (n == 6).then(|| parts[2].to_owned()),
            python: parts[n - 3].to_owned(),
            abi: abi.to_owned(),
            platform: parts[n - 1].to_owned(),
        })
    }
}

/// PEP 503's canonical form of a project name: lowercase, runs of `-`, `_` and `.` as `-`.
pub fn canonicalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// The headers of a core-metadata file (`METADATA`, RFC 822 style): names with their
/// values, in order; continuation lines folded in; the body (after the first blank line)
/// left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    headers: Vec<(String, String)>,
}

impl Metadata {
    /// Parses the text of a `METADATA` file.
    pub fn parse(text: &str) -> Self {
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            if line.trim().is_empty() {
                break;
            }
            if line.starts_with([' ', '\t']) {
                if let Some((_, value)) = headers.last_mut() {
                    value.push('\n');
                    value.push_str(line.trim());
                }
                continue;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
        }
        Metadata { headers }
    }

    /// The first value of a header (names compare case-insensitively).
    pub fn get<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.get_all(name).next()
    }

    /// Every value of a header, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `Requires-Python`, if given and not empty.
    pub fn requires_python(&self) -> Option<String> {
        self.get("Requires-Python")
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    /// The canonical names of the `Requires-Dist` entries that are valid PEP 508, have a
    /// name of at most 255 characters, and whose marker does not mention `extra`: sorted,
    /// without duplicates.
    pub fn pip_dependencies(&self) -> Vec<String> {
        let mut names = BTreeSet::new();
        for value in self.get_all("Requires-Dist") {
            let Ok(req) = pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(value) else {
                tracing::debug!("ignoring Requires-Dist {value:?}: not valid PEP 508");
                continue;
            };
            if req
                .marker
                .try_to_string()
                .is_some_and(|m| m.contains("extra"))
            {
                continue;
            }
            let name = req.name.to_string();
            if name.len() <= 255 {
                names.insert(canonicalize_name(&name));
            }
        }
        names.into_iter().collect()
    }
}

/// Analyses wheels: the system's library search and dpkg database, looked up once.
#[derive(Debug, Clone)]
pub struct WheelAnalyser {
    resolver: LibraryResolver,
    dpkg: Dpkg,
}

impl Default for WheelAnalyser {
    fn default() -> Self {
        Self::system()
    }
}

/// One member of a wheel that is a shared library.
struct Library {
    name: String,
    info: elf::DynamicInfo,
}

impl WheelAnalyser {
    /// With this system's dynamic loader configuration and dpkg database.
    pub fn system() -> Self {
        Self::new(LibraryResolver::system(), Dpkg::system())
    }

    /// With a given resolver and database.
    pub fn new(resolver: LibraryResolver, dpkg: Dpkg) -> Self {
        WheelAnalyser { resolver, dpkg }
    }

    /// Everything the master is told about the wheel at `path` (piwheels.md §3.1 *file_state*).
    ///
    /// # Errors
    ///
    /// A [`WheelError`] for a bad name, an unreadable file or archive, a missing
    /// `METADATA`, or a member that cannot be read (corrupt, or over the size limits).
    pub fn analyse(&self, path: &Path) -> Result<FileState, WheelError> {
        let filename = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name: WheelName = filename.parse()?;
        let io_err = |error| WheelError::Io {
            path: path.to_path_buf(),
            error,
        };
        let (filesize, filehash) = hash_file(path).map_err(io_err)?;
        let file = File::open(path).map_err(io_err)?;
        let mut zip = zip::ZipArchive::new(file).map_err(|e| WheelError::Zip {
            path: path.to_path_buf(),
            error: e.to_string(),
        })?;
        let metadata = self.metadata(path, &name, &mut zip)?;
        let libraries = self.libraries(path, &mut zip)?;
        let dependencies = self.dependencies(&metadata, &libraries, &zip);
        Ok(FileState {
            filename,
            filesize: i64::try_from(filesize).unwrap_or(i64::MAX),
            filehash,
            package_tag: name.package,
            package_version_tag: name.version,
            py_version_tag: name.python,
            abi_tag: name.abi,
            platform_tag: name.platform,
            requires_python: metadata.requires_python(),
            dependencies,
            location: "/simple".into(),
        })
    }

    fn metadata(
        &self,
        path: &Path,
        name: &WheelName,
        zip: &mut zip::ZipArchive<File>,
    ) -> Result<Metadata, WheelError> {
        let expected = format!("{}-{}.dist-info/METADATA", name.package, name.version);
        let canonical = canonicalize_name(&name.package);
        let member = if zip.index_for_name(&expected).is_some() {
            Some(expected.clone())
        } else {
            // The canonically named variant: a top-level `<name>-<version>.dist-info`
            // whose name canonicalises like the file name's.
            zip.file_names()
                .find(|m| {
                    m.strip_suffix(".dist-info/METADATA")
                        .filter(|d| !d.contains('/'))
                        .and_then(|d| d.rsplit_once('-'))
                        .is_some_and(|(n, v)| {
                            canonicalize_name(n) == canonical && v == name.version
                        })
                })
                .map(str::to_owned)
        };
        let Some(member) = member else {
            return Err(WheelError::NoMetadata {
                path: path.to_path_buf(),
                expected,
            });
        };
        let data = read_member(path, zip, &member, MAX_METADATA)?;
        Ok(Metadata::parse(&String::from_utf8_lossy(&data)))
    }

    fn libraries(
        &self,
        path: &Path,
        zip: &mut zip::ZipArchive<File>,
    ) -> Result<Vec<Library>, WheelError> {
        let names: Vec<String> = zip
            .file_names()
            .filter(|n| !n.ends_with('/') && (n.ends_with(".so") || n.contains(".so.")))
            .map(str::to_owned)
            .collect();
        let mut out = Vec::new();
        for member in names {
            let data = read_member(path, zip, &member, MAX_LIBRARY)?;
            if !elf::is_elf(&data) {
                // A linker script, a text file with an unlucky name: not a library.
                tracing::debug!("{member}: not an ELF file; not analysed");
                continue;
            }
            let info = elf::parse_dynamic(&data).map_err(|e| WheelError::Member {
                path: path.to_path_buf(),
                member: member.clone(),
                error: e.to_string(),
            })?;
            out.push(Library { name: member, info });
        }
        Ok(out)
    }

    fn dependencies(
        &self,
        metadata: &Metadata,
        libraries: &[Library],
        zip: &zip::ZipArchive<File>,
    ) -> IndexMap<String, Vec<String>> {
        // Libraries the wheel carries itself (auditwheel's `<pkg>.libs/`, or next to the
        // extension) are found by their file name anywhere in the archive.
        let bundled: BTreeSet<&str> = zip
            .file_names()
            .filter_map(|n| n.rsplit('/').next())
            .collect();
        let mut paths: BTreeSet<PathBuf> = BTreeSet::new();
        let mut orphans: BTreeSet<String> = BTreeSet::new();
        for lib in libraries {
            for soname in &lib.info.needed {
                if bundled.contains(soname.as_str()) {
                    continue;
                }
                match self.resolver.resolve(soname, &lib.info, None) {
                    Some(p) => {
                        paths.insert(p);
                    }
                    None => {
                        tracing::info!("{}: needs {soname}, not found on this system", lib.name);
                        orphans.insert(soname.clone());
                    }
                }
            }
        }
        let paths: Vec<PathBuf> = paths.into_iter().collect();
        let owners = self.dpkg.owners(&paths);
        let mut apt: BTreeSet<String> = BTreeSet::new();
        for p in &paths {
            match owners.get(p) {
                Some(pkgs) => apt.extend(pkgs.iter().cloned()),
                None => {
                    orphans.insert(p.to_string_lossy().into_owned());
                }
            }
        }
        let mut deps = IndexMap::new();
        deps.insert("apt".to_owned(), apt.into_iter().collect());
        deps.insert("pip".to_owned(), metadata.pip_dependencies());
        if !orphans.is_empty() {
            deps.insert(String::new(), orphans.into_iter().collect());
        }
        deps
    }
}

/// Size and SHA-256 (lowercase hex) of a file.
pub fn hash_file(path: &Path) -> io::Result<(u64, String)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex::encode(hasher.finalize())))
}

/// Reads a member whole, refusing more than `limit` bytes.
fn read_member(
    path: &Path,
    zip: &mut zip::ZipArchive<File>,
    member: &str,
    limit: u64,
) -> Result<Vec<u8>, WheelError> {
    let err = |error: String| WheelError::Member {
        path: path.to_path_buf(),
        member: member.to_owned(),
        error,
    };
    let entry = zip.by_name(member).map_err(|e| err(e.to_string()))?;
    if entry.size() > limit {
        return Err(err(format!(
            "{} bytes uncompressed, more than the {limit} analysed",
            entry.size()
        )));
    }
    let mut data = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0).min(1 << 24));
    entry
        .take(limit + 1)
        .read_to_end(&mut data)
        .map_err(|e| err(e.to_string()))?;
    if data.len() as u64 > limit {
        return Err(err(format!("more than the {limit} bytes analysed")));
    }
    Ok(data)
}

/// Analyses every `*.whl` in `dir` (sorted by name).
///
/// # Errors
///
/// The first wheel that cannot be analysed, or the directory not being readable.
pub fn analyse_dir(
    analyser: &WheelAnalyser,
    dir: &Path,
) -> Result<Vec<(PathBuf, FileState)>, WheelError> {
    let entries = std::fs::read_dir(dir).map_err(|error| WheelError::Io {
        path: dir.to_path_buf(),
        error,
    })?;
    let mut wheels: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "whl") && p.is_file())
        .collect();
    wheels.sort();
    let mut out = Vec::with_capacity(wheels.len());
    for w in wheels {
        let state = analyser.analyse(&w)?;
        out.push((w, state));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let n: WheelName = "foo_bar-1.0-py3-none-any.whl".parse().unwrap();
        assert_eq!(
            (n.package.as_str(), n.version.as_str(), n.abi.as_str()),
            ("foo_bar", "1.0", "none")
        );
        let n: WheelName = "foo-1.0-2-cp311-noabi-linux_armv7l.whl".parse().unwrap();
        assert_eq!(n.build.as_deref(), Some("2"));
        assert_eq!(n.abi, "none");
        assert_eq!(n.platform, "linux_armv7l");
        for bad in [
            "foo.whl",
            "foo-1.0.whl",
            "foo-1.0-py3-none-any.zip",
            "a-b-c-d-e-f-g.whl",
            "-1.0-py3-none-any.whl",
        ] {
            assert!(bad.parse::<WheelName>().is_err(), "{bad}");
        }
    }

    #[test]
    fn canonical() {
        assert_eq!(canonicalize_name("Foo__Bar.baz"), "foo-bar-baz");
        assert_eq!(canonicalize_name("zope.interface"), "zope-interface");
    }

    #[test]
    fn metadata() {
        let m = Metadata::parse(
            "Metadata-Version: 2.1\nName: foo\nRequires-Python: >=3.8\nRequires-Dist: Requests (>=2)\n\
             Requires-Dist: numpy; python_version >= '3.8'\nRequires-Dist: pytest; extra == 'test'\n\
             Requires-Dist: not a requirement ][\nrequires-dist: Zope.Interface\nRequires-Dist: requests\n\
             Summary: a\n  continued\n\nRequires-Dist: body-is-ignored\n",
        );
        assert_eq!(m.requires_python().as_deref(), Some(">=3.8"));
        assert_eq!(m.get("summary"), Some("a\ncontinued"));
        assert_eq!(
            m.pip_dependencies(),
            ["numpy", "requests", "zope-interface"]
        );
        assert_eq!(Metadata::parse("Name: x\n").requires_python(), None);
    }
}
