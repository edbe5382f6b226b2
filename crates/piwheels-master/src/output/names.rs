//! The names that become paths in the output folder, each checked once, when its type is
//! made, so a path cannot be built from one that was not:
//!
//! - a package's folder from a [`PackageName`] ([`check_package`]: the rule of
//!   [`piwheels_db::names`], in canonical form);
//! - an alias link from a [`Name`] that is a spelling of its package ([`check_alias`]);
//! - a file from a [`FileName`] ([`check_filename`]: one plain name in its folder);
//! - a wheel from a [`WheelName`](super::wheel::WheelName), a [`FileName`] that is also
//!   `{dist}-{version}(-{build})?-{python}-{abi}-{platform}.whl`.

use std::fmt;
use std::ops::Deref;

use piwheels_protocol::quote::Quoted;

pub use piwheels_db::names::{Name, NameError, PackageName};

/// The longest file name, in bytes (the filesystem's limit).
pub const MAX_FILENAME: usize = 255;

/// Checks a package name: the packaging name rule, in canonical form (PEP 503: lowercase
/// letters, digits and single dashes), so `simple/<package>/` is one folder inside
/// `simple`.
pub fn check_package(package: &str) -> Result<PackageName, NameError> {
    piwheels_db::names::validate_package(package)
}

/// Checks an alias (another spelling of `package`) that becomes a symlink's name.
pub fn check_alias(alias: &str, package: &PackageName) -> Result<Name, NameError> {
    piwheels_db::names::validate_alias(alias, package)
}

/// A file name that is one plain name in its folder (see [`check_filename`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileName(String);

impl FileName {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for FileName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<std::path::Path> for FileName {
    fn as_ref(&self) -> &std::path::Path {
        self.0.as_ref()
    }
}

impl fmt::Display for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a file name is not one plain name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileNameError {
    /// Empty, with `/`, `..` or NUL, or hidden (the output's temporary files are).
    #[error("{} is not a plain file name", Quoted::str(.0))]
    NotPlain(String),
    /// Longer than [`MAX_FILENAME`] bytes.
    #[error("{} is {len} bytes long; the limit is {MAX_FILENAME}", Quoted::str(.name))]
    TooLong {
        /// The name.
        name: String,
        /// Its length in bytes.
        len: usize,
    },
    /// With control characters (a newline in a name breaks logs and listings).
    #[error("{} contains control characters", Quoted::str(.0))]
    Control(String),
}

/// Checks a file name: not empty, no `/`, no NUL, no `..` in it, not hidden, at most
/// [`MAX_FILENAME`] bytes, no control characters; so it names one file inside its folder.
pub fn check_filename(name: &str) -> Result<FileName, FileNameError> {
    if name.is_empty()
        || name.contains('/')
        || name.contains('\0')
        || name.contains("..")
        || name.starts_with('.')
    {
        return Err(FileNameError::NotPlain(name.to_owned()));
    }
    if name.len() > MAX_FILENAME {
        return Err(FileNameError::TooLong {
            name: name.to_owned(),
            len: name.len(),
        });
    }
    if name.chars().any(char::is_control) {
        return Err(FileNameError::Control(name.to_owned()));
    }
    Ok(FileName(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(check_package("foo-bar").unwrap(), "foo-bar");
        for bad in [
            "", "Foo", "foo_bar", "../x", "a/b", "a\0b", "foo--bar", "ü", "-",
        ] {
            assert!(check_package(bad).is_err(), "{bad:?}");
        }
        let pkg = check_package("foo-bar").unwrap();
        assert_eq!(check_alias("Foo_Bar", &pkg).unwrap(), "Foo_Bar");
        assert!(check_alias("Other", &pkg).is_err());
        assert!(check_alias("..", &pkg).is_err());
        assert!(check_alias(".foo-bar", &pkg).is_err());
        assert_eq!(
            check_filename("foo-1.0-py3-none-any.whl").unwrap().as_str(),
            "foo-1.0-py3-none-any.whl"
        );
        assert!(check_filename("foo-1.0.tar.gz").is_ok());
        for bad in ["", "a/b.whl", "..", "x..whl", ".hidden", "a\0", "a\nb.whl"] {
            assert!(check_filename(bad).is_err(), "{bad:?}");
        }
        assert!(check_filename(&"a".repeat(MAX_FILENAME)).is_ok());
        assert!(matches!(
            check_filename(&"a".repeat(MAX_FILENAME + 1)),
            Err(FileNameError::TooLong { len: 256, .. })
        ));
        assert_eq!(
            check_filename("a/b").unwrap_err().to_string(),
            "\"a/b\" is not a plain file name"
        );
    }
}
