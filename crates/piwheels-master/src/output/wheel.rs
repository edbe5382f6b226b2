//! What a wheel says it is, and whether that is the job it was built for: its file name
//! (`{dist}-{version}(-{build})?-{python}-{abi}-{platform}.whl`, a plain file name: the
//! wheel rule lives in [`WheelName::parse`]), the tags a slave declared
//! for it, and the `Name` and `Version` of its `METADATA`.

use std::io::{self, Read};
use std::path::Path;
use std::str::FromStr;

use piwheels_db::canonicalize_name;
use piwheels_protocol::quote::Quoted;
use piwheels_protocol::states::FileState;

use super::names::{FileNameError, check_filename};

/// The largest `METADATA` read from a wheel (a bigger one is refused).
pub const MAX_METADATA: u64 = 16 << 20;

/// Why a file is not a wheel of the job it was declared for. The build that declared it
/// fails, with this in its log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {why}")]
pub struct Refusal {
    /// The declared file name (cut to 200 bytes for the log).
    pub file: String,
    /// What is wrong.
    pub why: String,
}

impl Refusal {
    pub(crate) fn new(file: &str, why: impl Into<String>) -> Self {
        Refusal {
            file: Quoted::str(file).to_string(),
            why: why.into(),
        }
    }
}

/// Why a file name is not a wheel's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WheelNameError {
    /// Not a plain file name.
    #[error(transparent)]
    Name(#[from] FileNameError),
    /// A plain name, but not of a wheel.
    #[error("{} is not a wheel file name ({WHEEL_PATTERN})", Quoted::str(.0))]
    NotAWheel(String),
}

/// The shape of a wheel's file name, as error messages give it.
const WHEEL_PATTERN: &str = "dist-version[-build]-python-abi-platform.whl";

/// The parts of a wheel's file name (a plain file name: see [`check_filename`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WheelName<'a> {
    /// The whole name.
    pub name: &'a str,
    /// The distribution, as the name spells it (`foo_bar`).
    pub dist: &'a str,
    /// The version, escaped as in file names (`-` written `_`).
    pub version: &'a str,
    /// The build tag, if any.
    pub build: Option<&'a str>,
    /// The Python tag (`py3`, `cp311`, `py2.py3`).
    pub python: &'a str,
    /// The ABI tag.
    pub abi: &'a str,
    /// The platform tag.
    pub platform: &'a str,
}

impl<'a> WheelName<'a> {
    /// Parses a wheel's file name: a plain file name (see [`check_filename`]) of five or
    /// six parts separated by `-`, none empty, ending `.whl` (PEP 427).
    pub fn parse(name: &'a str) -> Result<Self, WheelNameError> {
        check_filename(name)?;
        let not_a_wheel = || WheelNameError::NotAWheel(name.to_owned());
        let stem = name.strip_suffix(".whl").ok_or_else(not_a_wheel)?;
        let parts: Vec<&str> = stem.split('-').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(not_a_wheel());
        }
        match parts[..] {
            [dist, version, python, abi, platform] => Ok(WheelName {
                name,
                dist,
                version,
                build: None,
                python,
                abi,
                platform,
            }),
            [dist, version, build, python, abi, platform] => Ok(WheelName {
                name,
                dist,
                version,
                build: Some(build),
                python,
                abi,
                platform,
            }),
            _ => Err(not_a_wheel()),
        }
    }

    /// Whether it is a wheel of `package` (canonical) at `version` (as upstream spells it).
    pub fn is_of(&self, package: &str, version: &str) -> bool {
        canonicalize_name(self.dist) == package && same_version(self.version, version)
    }
}

/// Whether a version as a wheel's name or METADATA gives it is the version `upstream`:
/// equal once both are normalised (PEP 440; `1.0.0` is not `1.0`), or, for a version that
/// is not PEP 440, equal as written with `-` escaped as `_`.
pub fn same_version(given: &str, upstream: &str) -> bool {
    match (
        pep440_rs::Version::from_str(given),
        pep440_rs::Version::from_str(upstream),
    ) {
        (Ok(a), Ok(b)) => a.to_string() == b.to_string(),
        _ => given == upstream || given == upstream.replace('-', "_"),
    }
}

/// Checks that a declared file is a wheel of `package` `version` whose declared tags are
/// the ones its name carries (the database decides from the tags which targets a wheel
/// serves, so a slave must not claim `any` for a platform wheel).
pub fn check_declared(file: &FileState, package: &str, version: &str) -> Result<(), Refusal> {
    let name = &file.filename;
    let w = match WheelName::parse(name) {
        Ok(w) => w,
        Err(WheelNameError::Name(why)) => return Err(Refusal::new(name, why.to_string())),
        Err(WheelNameError::NotAWheel(_)) => {
            return Err(Refusal::new(
                name,
                format!("not a wheel file name ({WHEEL_PATTERN})"),
            ));
        }
    };
    if canonicalize_name(w.dist) != package {
        return Err(Refusal::new(
            name,
            format!("a wheel of {:?}, not of {package}", w.dist),
        ));
    }
    if !same_version(w.version, version) {
        return Err(Refusal::new(
            name,
            format!("a wheel of version {:?}, not of {version}", w.version),
        ));
    }
    let tags = [
        ("package", &file.package_tag, w.dist),
        ("version", &file.package_version_tag, w.version),
        ("Python", &file.py_version_tag, w.python),
        ("ABI", &file.abi_tag, w.abi),
        ("platform", &file.platform_tag, w.platform),
    ];
    for (what, declared, named) in tags {
        if declared != named {
            return Err(Refusal::new(
                name,
                format!(
                    "its {what} tag is declared as {}, but the name says {named:?}",
                    Quoted::str(declared)
                ),
            ));
        }
    }
    Ok(())
}

/// The `Name` and `Version` fields of a core metadata file (the first of each, in the
/// header block).
fn name_and_version(metadata: &[u8]) -> (Option<String>, Option<String>) {
    let text = String::from_utf8_lossy(metadata);
    let (mut name, mut version) = (None, None);
    for line in text.lines() {
        if line.trim().is_empty() {
            break;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim().to_owned();
        if key.eq_ignore_ascii_case("name") && name.is_none() {
            name = Some(value);
        } else if key.eq_ignore_ascii_case("version") && version.is_none() {
            version = Some(value);
        }
    }
    (name, version)
}

/// Checks that a wheel's `METADATA` names `package` `version`.
pub fn check_metadata(
    filename: &str,
    metadata: &[u8],
    package: &str,
    version: &str,
) -> Result<(), Refusal> {
    let (name, ver) = name_and_version(metadata);
    let Some(name) = name else {
        return Err(Refusal::new(filename, "its METADATA has no Name"));
    };
    let Some(ver) = ver else {
        return Err(Refusal::new(filename, "its METADATA has no Version"));
    };
    if canonicalize_name(&name) != package {
        return Err(Refusal::new(
            filename,
            format!(
                "its METADATA says Name: {}, not {package}",
                Quoted::str(&name)
            ),
        ));
    }
    if !same_version(&ver, version) {
        return Err(Refusal::new(
            filename,
            format!(
                "its METADATA says Version: {}, not {version}",
                Quoted::str(&ver)
            ),
        ));
    }
    Ok(())
}

/// Reads the wheel's one `<dist>-<version>.dist-info/METADATA` (at the top of the
/// archive). A wheel with none, with more than one `.dist-info` directory, or with a
/// `METADATA` over [`MAX_METADATA`] bytes is refused, as pip refuses it.
pub fn read_metadata(filename: &str, wheel: &Path) -> Result<Vec<u8>, Refusal> {
    let bad = |why: String| Refusal::new(filename, why);
    let f = std::fs::File::open(wheel).map_err(|e| bad(format!("cannot open it: {e}")))?;
    let mut archive = zip::ZipArchive::new(io::BufReader::new(f))
        .map_err(|e| bad(format!("not a valid zip archive: {e}")))?;
    let mut dirs: Vec<&str> = archive
        .file_names()
        .filter_map(|n| n.split_once('/').map(|(dir, _)| dir))
        .filter(|dir| dir.ends_with(".dist-info"))
        .collect();
    dirs.sort_unstable();
    dirs.dedup();
    let dir = match dirs[..] {
        [dir] => dir.to_owned(),
        [] => return Err(bad("it has no .dist-info directory".into())),
        _ => {
            return Err(bad(format!("it has {} .dist-info directories", dirs.len())));
        }
    };
    let entry_name = format!("{dir}/METADATA");
    let entry = archive
        .by_name(&entry_name)
        .map_err(|e| bad(format!("{}: {e}", Quoted::str(&entry_name))))?;
    if entry.size() > MAX_METADATA {
        return Err(bad(format!("its METADATA is {} bytes", entry.size())));
    }
    let mut data = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
    entry
        .take(MAX_METADATA + 1)
        .read_to_end(&mut data)
        .map_err(|e| bad(format!("cannot read its METADATA: {e}")))?;
    if data.len() as u64 > MAX_METADATA {
        return Err(bad("its METADATA is too large".into()));
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let w = WheelName::parse("foo_bar-1.0-1-py3-none-any.whl").unwrap();
        assert_eq!((w.dist, w.version, w.build), ("foo_bar", "1.0", Some("1")));
        assert!(w.is_of("foo-bar", "1.0"));
        assert!(!w.is_of("foo-bar", "1.0.0"));
        assert!(!w.is_of("foo", "1.0"));
        for bad in [
            "foo-1.0-py3-none.whl",
            "foo-1.0-py3-none-any",
            "foo--1.0-py3-none-any.whl",
            "a-b-c-d-e-f-g.whl",
            "../foo-1.0-py3-none-any.whl",
            ".foo-1.0-py3-none-any.whl",
            "foo-1.0-py3-none-any\n.whl",
        ] {
            assert!(WheelName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn versions() {
        assert!(same_version("1.0", "1.0"));
        assert!(same_version("1.0rc1", "1.0-rc1"));
        assert!(same_version("1.0.post1", "1.0-1"));
        assert!(!same_version("1.0", "1.0.0"));
        assert!(!same_version("1.0", "3.0"));
        // Not PEP 440: as written, `-` escaped.
        assert!(same_version("2004d_foo", "2004d-foo"));
        assert!(!same_version("2004d", "2004e"));
    }

    #[test]
    fn metadata_fields() {
        let m = b"Metadata-Version: 2.1\nname: Foo_Bar\nVersion: 1.0\n\nVersion: 9\n";
        assert!(check_metadata("x.whl", m, "foo-bar", "1.0").is_ok());
        assert!(check_metadata("x.whl", m, "foo-bar", "3.0").is_err());
        assert!(check_metadata("x.whl", m, "setuptools", "1.0").is_err());
        assert!(check_metadata("x.whl", b"Name: foo\n", "foo", "1.0").is_err());
        assert!(check_metadata("x.whl", b"\nName: foo\nVersion: 1.0", "foo", "1.0").is_err());
    }
}
