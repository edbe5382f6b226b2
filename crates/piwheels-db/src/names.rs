//! The rules for package names and versions: the one place that defines them. Every
//! boundary (the admin tools, MrChase, CloudGazer) checks with these functions, every
//! database operation that stores a name or version does too, and the schema's
//! constraints (version 2) apply the same rules to whatever reaches the tables.
//!
//! - A **name** (a spelling of a package, as upstream or an operator writes it) follows
//!   the packaging name rule (PEP 508, as PEP 503 and the core metadata use it): 1 to 200
//!   ASCII letters, digits, `.`, `_` and `-`, starting and ending with a letter or digit.
//!   So `zope.interface`, `Foo_Bar`, `a` and `1` are names; `../x`, `a/b`, `x y`, `..`,
//!   `-x` and `café` are not.
//! - A **package** (the database's key, the directory of its pages) is a name in its
//!   canonical form (PEP 503): lower case, each run of `-`, `_` and `.` one `-`.
//! - A **version** is 1 to 200 printable ASCII characters (`!` to `~`: no whitespace, no
//!   control characters, nothing beyond ASCII) with no path separator (`/` or `\`), no
//!   `..`, and is not `.`. Every file and directory name made from one is then one plain
//!   name. A version need not be PEP 440 ([`is_pep440`]): upstream indexes hold legacy
//!   versions, and each boundary decides whether it takes one that is not.
//!
//! ```
//! use piwheels_db::names::{validate_name, validate_version, is_pep440};
//!
//! let name = validate_name("Zope.Interface").unwrap();
//! assert_eq!(name.canonical().as_str(), "zope-interface");
//! assert!(validate_name("../x").is_err());
//! assert!(validate_version("1.0/../x").is_err());
//! assert!(validate_version("2004d").is_ok() && !is_pep440("2004d"));
//! ```

use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

/// The longest name, package or version, in characters (the database's limit).
pub const MAX_LEN: usize = 200;

/// How much of a refused input an error message shows.
const SHOWN: usize = 60;

/// A package name in PEP 503's canonical form: runs of `-`, `_` and `.` become one `-`, and
/// letters are lower-cased. Package keys in the database are always canonical. This does
/// not check the name: see [`validate_name`].
///
/// ```
/// assert_eq!(piwheels_db::canonicalize_name("Foo__Bar.baz"), "foo-bar-baz");
/// ```
pub fn canonicalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_run {
                out.push('-');
            }
            in_run = true;
        } else {
            out.extend(c.to_lowercase());
            in_run = false;
        }
    }
    out
}

/// Why a name (or package) breaks the rule. Each variant names the input (cut short if
/// long) and says what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// Nothing at all.
    #[error("the package name is empty")]
    Empty,
    /// Longer than [`MAX_LEN`].
    #[error("package name {} is {len} characters long; the limit is {MAX_LEN}", shown(.name))]
    TooLong {
        /// The name.
        name: String,
        /// Its length in characters.
        len: usize,
    },
    /// A character no name may hold.
    #[error(
        "package name {} contains {}; a name is ASCII letters, digits, '.', '_' and '-'",
        shown(.name),
        describe(.ch)
    )]
    Character {
        /// The name.
        name: String,
        /// The first character refused.
        ch: char,
    },
    /// Starts or ends with `.`, `_` or `-`.
    #[error(
        "package name {} {} with {:?}; a name starts and ends with an ASCII letter or digit",
        shown(.name),
        edge(.start),
        .ch
    )]
    Edge {
        /// The name.
        name: String,
        /// Whether it is the first character (else the last).
        start: bool,
        /// The character.
        ch: char,
    },
    /// A valid name that is not in canonical form, where a package key is wanted.
    #[error(
        "package name {} is not canonical (it would be {})",
        shown(.name),
        shown(.canonical)
    )]
    NotCanonical {
        /// The name.
        name: String,
        /// Its canonical form.
        canonical: String,
    },
    /// A valid name that is not a spelling of the package it is given for.
    #[error(
        "{} is not a spelling of the package {} (it canonicalises to {})",
        shown(.name),
        shown(.package),
        shown(.canonical)
    )]
    NotASpelling {
        /// The name.
        name: String,
        /// The package it was given for.
        package: String,
        /// What it canonicalises to.
        canonical: String,
    },
}

/// Why a version breaks the rule. Each variant names the input (cut short if long) and
/// says what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VersionError {
    /// Nothing at all.
    #[error("the version is empty")]
    Empty,
    /// Longer than [`MAX_LEN`].
    #[error("version {} is {len} characters long; the limit is {MAX_LEN}", shown(.version))]
    TooLong {
        /// The version.
        version: String,
        /// Its length in characters.
        len: usize,
    },
    /// A character no version may hold.
    #[error(
        "version {} contains {}; a version is printable ASCII without '/' or '\\'",
        shown(.version),
        describe(.ch)
    )]
    Character {
        /// The version.
        version: String,
        /// The first character refused.
        ch: char,
    },
    /// `..`, or `..` within it: a path's parent directory.
    #[error("version {} contains \"..\"", shown(.version))]
    DotDot {
        /// The version.
        version: String,
    },
    /// `.` alone: a path's current directory.
    #[error("version \".\" is not a version")]
    Dot,
}

/// A name (a spelling of a package) that follows the rule; see the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(String);

/// A package's canonical name (the database's key) that follows the rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PackageName(String);

/// A version that follows the rule (not necessarily PEP 440: see [`is_pep440`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PackageVersion(String);

macro_rules! text_type {
    ($($t:ident),*) => {$(
        impl $t {
            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The text, owned.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl Deref for $t {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.0
            }
        }

        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    )*};
}

text_type!(Name, PackageName, PackageVersion);

impl Name {
    /// Its canonical form: the package it names.
    pub fn canonical(&self) -> PackageName {
        PackageName(canonicalize_name(&self.0))
    }
}

impl FromStr for Name {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        validate_name(s)
    }
}

impl FromStr for PackageName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        validate_package(s)
    }
}

impl FromStr for PackageVersion {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, VersionError> {
        validate_version(s)
    }
}

/// Checks a name (a spelling of a package) against the packaging name rule: 1 to 200 ASCII
/// letters, digits, `.`, `_` and `-`, starting and ending with a letter or digit.
pub fn validate_name(name: &str) -> Result<Name, NameError> {
    let owned = || name.to_owned();
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if let Some(ch) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(NameError::Character { name: owned(), ch });
    }
    // ASCII from here on: bytes are characters.
    if name.len() > MAX_LEN {
        return Err(NameError::TooLong {
            name: owned(),
            len: name.len(),
        });
    }
    let bytes = name.as_bytes();
    for (start, b) in [(true, bytes[0]), (false, bytes[bytes.len() - 1])] {
        if !b.is_ascii_alphanumeric() {
            return Err(NameError::Edge {
                name: owned(),
                start,
                ch: char::from(b),
            });
        }
    }
    Ok(Name(owned()))
}

/// Checks a package key: a name (see [`validate_name`]) already in canonical form.
pub fn validate_package(package: &str) -> Result<PackageName, NameError> {
    let name = validate_name(package)?;
    let canonical = name.canonical();
    if canonical.0 != package {
        return Err(NameError::NotCanonical {
            name: name.0,
            canonical: canonical.0,
        });
    }
    Ok(canonical)
}

/// Checks that `name` is a name (see [`validate_name`]) and a spelling of `package`.
pub fn validate_alias(name: &str, package: &str) -> Result<Name, NameError> {
    let name = validate_name(name)?;
    let canonical = name.canonical();
    if canonical.0 != package {
        return Err(NameError::NotASpelling {
            name: name.0,
            package: package.to_owned(),
            canonical: canonical.0,
        });
    }
    Ok(name)
}

/// Checks a version: 1 to 200 printable ASCII characters without `/` or `\`, no `..`,
/// not `.`. It need not be PEP 440 (see [`is_pep440`]).
pub fn validate_version(version: &str) -> Result<PackageVersion, VersionError> {
    let owned = || version.to_owned();
    if version.is_empty() {
        return Err(VersionError::Empty);
    }
    if let Some(ch) = version
        .chars()
        .find(|c| !c.is_ascii_graphic() || matches!(c, '/' | '\\'))
    {
        return Err(VersionError::Character {
            version: owned(),
            ch,
        });
    }
    if version.len() > MAX_LEN {
        return Err(VersionError::TooLong {
            version: owned(),
            len: version.len(),
        });
    }
    if version == "." {
        return Err(VersionError::Dot);
    }
    if version.contains("..") {
        return Err(VersionError::DotDot { version: owned() });
    }
    Ok(PackageVersion(owned()))
}

/// Whether a version is a PEP 440 version (`1.0`, `2!1.0rc1.post2+local`; not `2004d` or
/// `1.0-foo-bar`).
pub fn is_pep440(version: &str) -> bool {
    pep440_rs::Version::from_str(version).is_ok()
}

/// An input as an error message shows it: quoted and escaped, and cut short if long (a
/// hostile peer's ten kilobytes are not worth a log line).
fn shown(s: &str) -> String {
    if s.chars().count() <= SHOWN {
        format!("{s:?}")
    } else {
        let head: String = s.chars().take(SHOWN).collect();
        format!("{head:?}…")
    }
}

/// Which end of a name.
fn edge(start: &bool) -> &'static str {
    if *start { "starts" } else { "ends" }
}

/// A refused character, in words.
fn describe(ch: &char) -> String {
    let ch = *ch;
    let what = match ch {
        '/' | '\\' => "the path separator",
        c if c.is_whitespace() => "the whitespace",
        c if c.is_control() => "the control character",
        c if !c.is_ascii() => "the non-ASCII character",
        _ => "the character",
    };
    format!("{what} {ch:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_names() {
        assert_eq!(canonicalize_name("Django"), "django");
        assert_eq!(canonicalize_name("zope.interface"), "zope-interface");
        assert_eq!(canonicalize_name("A-_.-b"), "a-b");
        assert_eq!(canonicalize_name("foo"), "foo");
    }

    #[test]
    fn names() {
        for ok in ["zope.interface", "Foo_Bar", "a", "1", "A-_.-b", "x1.2"] {
            assert_eq!(validate_name(ok).unwrap().as_str(), ok);
        }
        let long = "a".repeat(MAX_LEN);
        assert!(validate_name(&long).is_ok());
        for bad in [
            "", "../x", "a/b", "x y", "x\ty", "\t", "..", ".", "-x", "x-", "_x", "café", "a\0b",
            "a\\b", "ä",
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
        assert!(matches!(
            validate_name(&format!("{long}a")),
            Err(NameError::TooLong { len: 201, .. })
        ));
        let e = validate_name("../x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "package name \"../x\" contains the path separator '/'; a name is ASCII letters, \
             digits, '.', '_' and '-'"
        );
        let e = validate_name("..").unwrap_err();
        assert!(e.to_string().contains("starts with '.'"), "{e}");
        let e = validate_name("x\ty").unwrap_err();
        assert!(e.to_string().contains("whitespace '\\t'"), "{e}");
        let e = validate_name("café").unwrap_err();
        assert!(e.to_string().contains("non-ASCII character 'é'"), "{e}");
    }

    #[test]
    fn packages_and_aliases() {
        assert_eq!(
            validate_package("zope-interface").unwrap(),
            "zope-interface"
        );
        assert!(matches!(
            validate_package("Zope.Interface"),
            Err(NameError::NotCanonical { canonical, .. }) if canonical == "zope-interface"
        ));
        assert!(validate_package("a--b").is_err());
        assert!(validate_package("-/x").is_err());
        assert_eq!(validate_alias("Foo_Bar", "foo-bar").unwrap(), "Foo_Bar");
        let e = validate_alias("other", "foo-bar").unwrap_err();
        assert!(e.to_string().contains("not a spelling"), "{e}");
    }

    #[test]
    fn versions() {
        for ok in [
            "1.0",
            "2!1.0rc1.post2+local",
            "2004d",
            "1.0-foo",
            "v1",
            "1_0",
            "~!",
        ] {
            assert_eq!(validate_version(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "",
            ".",
            "..",
            "1/2",
            "1\\2",
            "../x",
            "1..2",
            "1 0",
            "1\t0",
            "1\n",
            "1\u{7f}",
            "1\0",
            "1.0\u{a0}",
            "1é",
        ] {
            assert!(validate_version(bad).is_err(), "{bad:?}");
        }
        assert!(validate_version(&"1".repeat(MAX_LEN)).is_ok());
        assert!(validate_version(&"1".repeat(MAX_LEN + 1)).is_err());
        let e = validate_version("1.0/../x").unwrap_err();
        assert!(e.to_string().contains("path separator '/'"), "{e}");
        let e = validate_version("1\u{1}").unwrap_err();
        assert!(e.to_string().contains("control character"), "{e}");
    }

    #[test]
    fn pep440() {
        assert!(is_pep440("1.0"));
        assert!(is_pep440("2!1.0rc1.post2.dev3+local.1"));
        assert!(!is_pep440("2004d"));
        assert!(!is_pep440("1.0-foo-bar"));
    }

    #[test]
    fn long_inputs_are_cut_short_in_messages() {
        let e = validate_name(&format!("{}/", "a".repeat(5000))).unwrap_err();
        assert!(e.to_string().len() < 200, "{e}");
    }
}
