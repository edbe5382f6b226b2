//! TheScribe's files in the output folder: it renders pages and logs, and hands the bytes
//! here to be written (atomically, and only if they changed), linked or removed. All of
//! it is blocking: TheScribe calls it on its blocking threads.
//!
//! ```text
//! OUT/<name>                           fixed pages, assets, homepage, sitemaps, search index
//! OUT/simple/index.html, index.json    the root index
//! OUT/simple/<package>/index.html, index.json
//! OUT/project/<package>/index.html, json/index.json
//! OUT/project/<alias> -> <package>     another spelling of the package
//! OUT/logs/AAAA/BBBB/CCCC.txt.gz       a build's log
//! ```

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use super::files;
use super::folder::Folder;
use super::names::{FileName, PackageName, check_alias, check_filename};
use super::{Output, OutputError, io_err};

/// The error for a name that cannot become a path in `dir`.
fn bad_name(dir: &Path, why: impl std::fmt::Display) -> OutputError {
    OutputError {
        what: "naming a file in",
        path: dir.to_owned(),
        source: io::Error::new(io::ErrorKind::InvalidInput, why.to_string()),
    }
}

/// Opens a folder of the output for writing pages in it.
fn open_folder(path: &Path) -> Result<Folder, OutputError> {
    Folder::open(path).map_err(io_err("opening", path))
}

/// Opens (and makes, if missing) the folder `name` in `parent`.
fn subdir(parent: &Folder, name: &str) -> Result<Folder, OutputError> {
    parent
        .subdir(name)
        .map_err(|e| io_err("creating", &parent.path().join(name))(e))
}

/// Writes the page `name` in `dir` unless it holds `data` already.
fn write_in(dir: &Folder, name: &str, data: &[u8]) -> Result<bool, OutputError> {
    dir.write_if_changed(name, data)
        .map_err(|e| io_err("writing", &dir.path().join(name))(e))
}

impl Output {
    /// Makes `OUT`, `OUT/simple` and `OUT/project` real folders (made if missing; a
    /// symlink or file in their place is replaced), the last two with the packages'
    /// folders to be made in them spread over the disk (`files::spread_subdirs`).
    pub fn prepare_site(&self) -> Result<(), OutputError> {
        let out = self.root();
        for dir in [out.to_owned(), out.join("simple"), out.join("project")] {
            files::ensure_dir(&dir).map_err(io_err("creating", &dir))?;
        }
        for dir in [out.join("simple"), out.join("project")] {
            files::spread_subdirs(&dir);
        }
        Ok(())
    }

    fn top(&self, name: &str) -> Result<PathBuf, OutputError> {
        let name: FileName = check_filename(name).map_err(|e| bad_name(self.root(), e))?;
        Ok(self.root().join(name))
    }

    /// Writes `OUT/<name>` (a fixed page, an asset, the homepage, a sitemap, the search
    /// index) unless it already holds exactly `data`. Whether it wrote.
    pub fn write_top(&self, name: &str, data: &[u8]) -> Result<bool, OutputError> {
        let path = self.top(name)?;
        files::write_if_changed(&path, data).map_err(io_err("writing", &path))
    }

    /// Removes `OUT/<name>`; whether there was one.
    pub fn remove_top(&self, name: &str) -> Result<bool, OutputError> {
        let path = self.top(name)?;
        files::remove_file(&path).map_err(io_err("removing", &path))
    }

    /// Writes the root index, `simple/index.html` and `simple/index.json`.
    pub fn write_root_index(&self, html: &[u8], json: &[u8]) -> Result<(), OutputError> {
        for (name, data) in [("index.html", html), ("index.json", json)] {
            let path = self.simple().join(name);
            files::write_if_changed(&path, data).map_err(io_err("writing", &path))?;
        }
        Ok(())
    }

    /// Writes a package's simple pages, `simple/<package>/index.html` and `index.json`
    /// (its folder made a real one if it is not).
    pub fn write_simple(
        &self,
        package: &PackageName,
        html: &[u8],
        json: &[u8],
    ) -> Result<(), OutputError> {
        if self.legacy_pages() {
            let dir = self.package_dir(package);
            files::ensure_dir(&dir).map_err(io_err("creating", &dir))?;
            for (name, data) in [("index.html", html), ("index.json", json)] {
                let path = dir.join(name);
                files::write_if_changed(&path, data).map_err(io_err("writing", &path))?;
            }
            return Ok(());
        }
        let simple = open_folder(self.simple())?;
        let dir = subdir(&simple, package.as_str())?;
        for (name, data) in [("index.html", html), ("index.json", json)] {
            write_in(&dir, name, data)?;
        }
        Ok(())
    }

    /// Whether pages are written the way they were before [`Folder`] (one path-based call
    /// at a time): the scribe benchmark's baseline.
    fn legacy_pages(&self) -> bool {
        self.inner.legacy_pages.load(Ordering::Relaxed)
    }

    /// Writes pages the way they were written before [`Folder`] when `legacy` (for the
    /// scribe benchmark, which measures both in the same run).
    #[doc(hidden)]
    pub fn set_legacy_pages(&self, legacy: bool) {
        self.inner.legacy_pages.store(legacy, Ordering::Relaxed);
    }

    /// Writes a package's project page (`project/<package>/index.html`) and JSON
    /// (`project/<package>/json/index.json`), and links `project/<alias>` to it for each
    /// of `aliases` that is a spelling of the package (one that is not is logged and left
    /// out).
    pub fn write_project(
        &self,
        package: &PackageName,
        html: &[u8],
        json: &[u8],
        aliases: &[String],
    ) -> Result<(), OutputError> {
        let projects = self.root().join("project");
        if self.legacy_pages() {
            let project = projects.join(package.as_str());
            let json_dir = project.join("json");
            for dir in [&project, &json_dir] {
                files::ensure_dir(dir).map_err(io_err("creating", dir))?;
            }
            for (path, data) in [
                (project.join("index.html"), html),
                (json_dir.join("index.json"), json),
            ] {
                files::write_if_changed(&path, data).map_err(io_err("writing", &path))?;
            }
        } else {
            let project = subdir(&open_folder(&projects)?, package.as_str())?;
            write_in(&project, "index.html", html)?;
            write_in(&subdir(&project, "json")?, "index.json", json)?;
        }
        for alias in aliases {
            match check_alias(alias, package) {
                Ok(alias) => {
                    let link = projects.join(alias.as_str());
                    files::ensure_symlink(&projects, &alias, package)
                        .map_err(io_err("linking", &link))?;
                }
                Err(e) => {
                    tracing::warn!(package = %package, error = %e, "alias symlink not made")
                }
            }
        }
        Ok(())
    }

    /// Writes a build's log (gzipped text) at `logs/AAAA/BBBB/CCCC.txt.gz` (see
    /// [`log_path`](super::log_path)), replacing any earlier one; flushed to disk first, as
    /// it cannot be written again.
    pub fn write_log(&self, build_id: i64, gz: &[u8]) -> Result<(), OutputError> {
        let rel = super::log_path(build_id).ok_or_else(|| {
            bad_name(
                &self.root().join("logs"),
                format!("build id {build_id} cannot name a log file"),
            )
        })?;
        let path = self.root().join(rel);
        let dir = path.parent().expect("log paths have directories");
        std::fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
        files::write_atomic(&path, gz, true).map_err(io_err("writing", &path))
    }

    /// Unlinks a version's wheels and metadata files from `simple/<package>/`: those the
    /// database lists (`listed`) and those whose names say they are of it. Returns how
    /// many wheels went.
    pub fn remove_version(
        &self,
        package: &PackageName,
        version: &str,
        listed: BTreeSet<String>,
    ) -> Result<usize, OutputError> {
        let dir = self.package_dir(package);
        let mut names = listed;
        match std::fs::read_dir(&dir) {
            Ok(entries) => {
                for entry in entries.flatten() {
                    if let Some(name) = entry.file_name().to_str()
                        && wheel_of(name, package, version)
                    {
                        names.insert(name.to_owned());
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("reading", &dir)(e)),
        }
        let mut removed = 0;
        for name in names {
            let name = match check_filename(&name) {
                Ok(name) => name,
                Err(e) => {
                    tracing::warn!(package = %package, error = %e, "file not removed");
                    continue;
                }
            };
            let wheel = dir.join(&name);
            removed += usize::from(files::remove_file(&wheel).map_err(io_err("removing", &wheel))?);
            let meta = dir.join(format!("{name}.metadata"));
            files::remove_file(&meta).map_err(io_err("removing", &meta))?;
        }
        Ok(removed)
    }

    /// Removes a package's folders (`simple/<package>`, `project/<package>`) and every
    /// alias symlink pointing at it: those of `aliases` that are spellings of it, and any
    /// other found in `project/`.
    pub fn remove_package(
        &self,
        package: &PackageName,
        aliases: &[String],
    ) -> Result<(), OutputError> {
        let projects = self.root().join("project");
        let mut links: BTreeSet<PathBuf> = aliases
            .iter()
            .filter_map(|a| check_alias(a, package).ok())
            .map(|a| projects.join(a.as_str()))
            .collect();
        if let Ok(entries) = std::fs::read_dir(&projects) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_symlink())
                    && std::fs::read_link(entry.path())
                        .is_ok_and(|t| t == Path::new(package.as_str()))
                {
                    links.insert(entry.path());
                }
            }
        }
        for link in links {
            if std::fs::symlink_metadata(&link).is_ok_and(|m| m.file_type().is_symlink()) {
                files::remove_file(&link).map_err(io_err("removing", &link))?;
            }
        }
        for dir in [self.package_dir(package), projects.join(package.as_str())] {
            files::remove_tree(&dir).map_err(io_err("removing", &dir))?;
        }
        Ok(())
    }
}

/// Whether a wheel's file name is of this package and version (`dist-version-…`, with the
/// name and version compared in normal form, so deleting `1.0` takes `1.0.0`'s wheels too:
/// PEP 440 holds them equal).
fn wheel_of(filename: &str, pkg: &str, version: &str) -> bool {
    let Some(stem) = filename.strip_suffix(".whl") else {
        return false;
    };
    let mut parts = stem.split('-');
    let (Some(dist), Some(ver)) = (parts.next(), parts.next()) else {
        return false;
    };
    if piwheels_db::canonicalize_name(dist) != pkg {
        return false;
    }
    use std::str::FromStr;
    match (
        pep440_rs::Version::from_str(ver),
        pep440_rs::Version::from_str(version),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => ver == version.replace('-', "_"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_names() {
        assert!(wheel_of("foo_bar-1.0-py3-none-any.whl", "foo-bar", "1.0"));
        assert!(wheel_of("Foo-1.0.0-py3-none-any.whl", "foo", "1.0"));
        assert!(!wheel_of("foo-1.1-py3-none-any.whl", "foo", "1.0"));
        assert!(!wheel_of("foobar-1.0-py3-none-any.whl", "foo", "1.0"));
        assert!(!wheel_of("foo-1.0-py3-none-any.whl.metadata", "foo", "1.0"));
        assert!(wheel_of("foo-x_y-py3-none-any.whl", "foo", "x-y"));
    }

    #[test]
    fn names_stay_inside() {
        let dir = tempfile::tempdir().unwrap();
        let out = Output::new(dir.path(), Default::default());
        out.prepare_site().unwrap();
        assert!(out.write_top("index.html", b"x").unwrap());
        assert!(!out.write_top("index.html", b"x").unwrap());
        for bad in ["../x", "a/b", ".hidden", ""] {
            assert!(out.write_top(bad, b"x").is_err(), "{bad:?}");
        }
        assert!(out.write_log(-1, b"x").is_err());
        out.write_log(12510551, b"log").unwrap();
        assert!(dir.path().join("logs/0000/1251/0551.txt.gz").is_file());
        let pkg = crate::output::check_package("foo-bar").unwrap();
        out.write_project(&pkg, b"p", b"{}", &["Foo_Bar".into(), "../x".into()])
            .unwrap();
        assert_eq!(
            std::fs::read_link(dir.path().join("project/Foo_Bar")).unwrap(),
            Path::new("foo-bar")
        );
        assert!(!dir.path().join("x").exists());
        out.remove_package(&pkg, &[]).unwrap();
        assert!(!dir.path().join("project/Foo_Bar").exists());
        assert!(!dir.path().join("project/foo-bar").exists());
    }
}
