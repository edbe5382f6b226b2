//! What a package's folder should hold, given the database's rows: one rule, used by the
//! start-up check ([`reconcile`](super::reconcile)), by [`Output::remove_strays`](super::Output::remove_strays)
//! and by the [`audit`](super::audit).
//!
//! `simple/<package>/` holds its two pages ([`PAGES`]); for each wheel the database
//! serves from the output (`location` `/simple`), the wheel and `<wheel>.metadata`; and
//! for each alias copy of a wheel (`twin_of`), a relative link to the real wheel and a
//! link to its metadata file.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use piwheels_db::OutputFile;

/// The pages every package's simple folder holds.
pub const PAGES: [&str; 2] = ["index.html", "index.json"];

/// The suffix of a wheel's metadata file (PEP 658).
pub const METADATA_SUFFIX: &str = ".metadata";

/// What a name in a package's folder is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role<'a> {
    /// One of [`PAGES`].
    Page,
    /// A real wheel (a regular file).
    Wheel(&'a OutputFile),
    /// A real wheel's metadata file (a regular file).
    Metadata(&'a OutputFile),
    /// An alias copy of a wheel: a link to the real wheel, named here.
    Twin(&'a OutputFile, &'a str),
    /// The link to a real wheel's metadata file, for an alias copy.
    TwinMetadata(&'a OutputFile, &'a str),
}

/// The names a package's folder should hold, each with its [`Role`].
#[derive(Debug, Default)]
pub struct Expected<'a> {
    names: BTreeMap<String, Role<'a>>,
}

impl<'a> Expected<'a> {
    /// The names `files` (the package's rows) call for.
    pub fn new(files: &'a [OutputFile]) -> Self {
        let mut names = BTreeMap::new();
        for page in PAGES {
            names.insert(page.to_owned(), Role::Page);
        }
        for f in files.iter().filter(|f| f.location == "/simple") {
            let meta = format!("{}{METADATA_SUFFIX}", f.filename);
            match &f.twin_of {
                None => {
                    names.insert(f.filename.clone(), Role::Wheel(f));
                    names.insert(meta, Role::Metadata(f));
                }
                Some(real) => {
                    names.insert(f.filename.clone(), Role::Twin(f, real));
                    names.insert(meta, Role::TwinMetadata(f, real));
                }
            }
        }
        Expected { names }
    }

    /// What `name` is for, if the folder should hold it.
    pub fn role(&self, name: &str) -> Option<Role<'a>> {
        self.names.get(name).copied()
    }

    /// Every expected name and its role.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Role<'a>)> + '_ {
        self.names.iter().map(|(n, r)| (n.as_str(), *r))
    }
}

/// Whether `name`, found in a package's folder, is a wheel or a wheel's metadata file
/// whose wheel the database does not have (`known` says whether it has a wheel): the
/// files the start-up check removes. (The audit reports any other unexpected name too.)
pub fn is_stray(name: &str, known: impl Fn(&str) -> bool) -> bool {
    let wheel = name.strip_suffix(METADATA_SUFFIX).unwrap_or(name);
    wheel.ends_with(".whl") && !known(wheel)
}

/// A wheel the database has that a package's folder lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing<'a> {
    /// A real wheel, recorded before `since`: its build must be done again.
    Wheel(&'a OutputFile),
    /// An alias copy whose real wheel is there: its link can be made.
    Link {
        /// The alias copy's row.
        twin: &'a OutputFile,
        /// The real wheel's name.
        real: &'a str,
    },
}

/// The wheels of `files` that `present` says the folder lacks. Real wheels recorded at or
/// after `since` are left out (they may be being published now); alias copies whose real
/// wheel is missing too are left out (that wheel's build goes).
pub fn missing<'a>(
    files: &'a [OutputFile],
    present: impl Fn(&str) -> bool,
    since: DateTime<Utc>,
) -> Vec<Missing<'a>> {
    let mut out = Vec::new();
    for f in files.iter().filter(|f| f.location == "/simple") {
        if present(&f.filename) {
            continue;
        }
        match &f.twin_of {
            Some(real) if present(real) => out.push(Missing::Link { twin: f, real }),
            Some(_) => {}
            None if f.built_at < since => out.push(Missing::Wheel(f)),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, twin_of: Option<&str>, location: &str) -> OutputFile {
        OutputFile {
            package: "foo".into(),
            version: "1.0".into(),
            filename: name.into(),
            filesize: 10,
            filehash: "a".repeat(64),
            build_id: 1,
            twin_of: twin_of.map(Into::into),
            location: location.into(),
            built_at: DateTime::from_timestamp(0, 0).unwrap(),
        }
    }

    #[test]
    fn the_rule() {
        let rows = [
            row("foo-1.0-cp311-cp311-linux_armv7l.whl", None, "/simple"),
            row(
                "foo-1.0-cp311-cp311-linux_armv6l.whl",
                Some("foo-1.0-cp311-cp311-linux_armv7l.whl"),
                "/simple",
            ),
            row("foo-0.9-py3-none-any.whl", None, "https://elsewhere"),
        ];
        let e = Expected::new(&rows);
        assert_eq!(e.role("index.html"), Some(Role::Page));
        assert!(matches!(
            e.role("foo-1.0-cp311-cp311-linux_armv7l.whl.metadata"),
            Some(Role::Metadata(_))
        ));
        assert!(matches!(
            e.role("foo-1.0-cp311-cp311-linux_armv6l.whl"),
            Some(Role::Twin(_, "foo-1.0-cp311-cp311-linux_armv7l.whl"))
        ));
        assert_eq!(e.role("foo-0.9-py3-none-any.whl"), None);
        assert!(is_stray("bar-1.0-py3-none-any.whl.metadata", |_| false));
        assert!(!is_stray("notes.txt", |_| false));
        let now = Utc::now();
        let m = missing(&rows, |_| false, now);
        assert_eq!(m, [Missing::Wheel(&rows[0])]);
        let m = missing(&rows, |n| n == rows[0].filename, now);
        assert!(matches!(m[..], [Missing::Link { .. }]));
        assert!(missing(&rows, |_| false, DateTime::from_timestamp(0, 0).unwrap()).is_empty());
    }
}
