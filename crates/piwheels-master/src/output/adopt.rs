//! Adopting the wheels another master left in the output folder (a piwheels 0.23 farm's,
//! after its database was migrated): the start-up check ([`reconcile`](super::reconcile))
//! calls [`Output::adopt_wheels`] for each package.
//!
//! A real wheel the database has, recorded before this start, that sits in its folder
//! without its `<wheel>.metadata` (0.23 wrote none) gets one, extracted from the wheel as
//! [`Output::stage`](super::Output::stage) does (the one `*.dist-info/METADATA`, at most
//! [`MAX_METADATA`](super::wheel::MAX_METADATA) bytes, naming the row's package and
//! version). Wheels are not hashed (a whole farm's are too many to read at each start):
//! the file's size is checked against its row's instead. A wheel whose size differs, that
//! is not a readable wheel, or whose `METADATA` is missing or names another project or
//! version is *damaged*: it is removed (with its alias links), and the caller deletes its
//! build, so its version is built again.
//!
//! An alias copy whose link is there but whose metadata link is not gets that link.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::Path;

use chrono::{DateTime, Utc};
use piwheels_db::OutputFile;

use super::compare::METADATA_SUFFIX;
use super::{Output, PackageName, files, wheel};

/// What [`Output::adopt_wheels`] did in one package's folder.
#[derive(Debug, Default)]
pub struct Adopted {
    /// Metadata files written.
    pub metadata: usize,
    /// Metadata links of alias copies made.
    pub links: usize,
    /// Damaged wheels removed, each with its build and what was wrong.
    pub damaged: Vec<Damaged>,
}

/// A wheel found damaged and removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damaged {
    /// Its file name.
    pub filename: String,
    /// The build that recorded it.
    pub build_id: i64,
    /// What was wrong.
    pub why: String,
}

/// Why a wheel on disk cannot be adopted.
enum Unfit {
    /// Gone since the folder was listed (the scribe removed its version).
    Gone,
    /// Not the wheel its row describes.
    Damaged(String),
}

impl Output {
    /// Gives every real wheel of `files` (the package's rows) that `listed` (the names in
    /// its folder, listed before the rows were read) shows without its metadata file its
    /// metadata file, and each alias link without its metadata link that link; removes the
    /// damaged wheels (see the module docs). Wheels recorded at or after `since` are left
    /// alone (they are being published now, with their metadata files). Blocking.
    pub fn adopt_wheels(
        &self,
        package: &PackageName,
        files: &[OutputFile],
        listed: &BTreeSet<String>,
        since: DateTime<Utc>,
    ) -> Adopted {
        let dir = self.package_dir(package);
        let mut done = Adopted::default();
        let served = || files.iter().filter(|f| f.location == "/simple");
        for f in served().filter(|f| f.twin_of.is_none() && f.built_at < since) {
            let meta = format!("{}{METADATA_SUFFIX}", f.filename);
            if !listed.contains(&f.filename) || listed.contains(&meta) || exists(&dir.join(&meta)) {
                continue;
            }
            match fit(&dir.join(&f.filename), f, package) {
                Ok(data) => {
                    let path = dir.join(&meta);
                    match files::write_atomic(&path, &data, true) {
                        Ok(()) => done.metadata += 1,
                        Err(e) => {
                            tracing::warn!(path = %path.display(), error = %e, "cannot write a wheel's metadata file")
                        }
                    }
                }
                Err(Unfit::Gone) => {}
                Err(Unfit::Damaged(why)) => {
                    tracing::warn!(package = %package, file = %f.filename, build = f.build_id, %why,
                        "a recorded wheel in the output is damaged; it is removed and its build deleted, to be built again");
                    remove(&dir.join(&f.filename));
                    done.damaged.push(Damaged {
                        filename: f.filename.clone(),
                        build_id: f.build_id,
                        why,
                    });
                }
            }
        }
        let damaged: BTreeSet<&str> = done.damaged.iter().map(|d| d.filename.as_str()).collect();
        // Only names the folder listed become paths (a name from the database, such as
        // another farm's, is not trusted to be a plain file name).
        for t in served().filter(|t| listed.contains(&t.filename)) {
            let Some(real) = &t.twin_of else { continue };
            let meta = format!("{}{METADATA_SUFFIX}", t.filename);
            if damaged.contains(real.as_str()) {
                // Its build goes: links to a removed wheel would point nowhere.
                for name in [&t.filename, &meta] {
                    remove_link(&dir.join(name));
                }
                continue;
            }
            let real_meta = format!("{real}{METADATA_SUFFIX}");
            if listed.contains(real)
                && !listed.contains(&meta)
                && exists(&dir.join(&real_meta))
                && link(&dir, &real_meta, &meta)
            {
                done.links += 1;
            }
        }
        done
    }
}

/// Checks the wheel at `path` against its row `f` (its size, then its `METADATA`), and
/// returns its `METADATA`.
fn fit(path: &Path, f: &OutputFile, package: &PackageName) -> Result<Vec<u8>, Unfit> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Unfit::Gone),
        Err(e) => return Err(Unfit::Damaged(format!("cannot inspect it: {e}"))),
        Ok(_) => {}
    }
    let size = match fs::metadata(path) {
        Ok(m) if m.is_file() => m.len(),
        Ok(_) => return Err(Unfit::Damaged("not a regular file".into())),
        Err(e) => return Err(Unfit::Damaged(format!("cannot inspect it: {e}"))),
    };
    if i64::try_from(size).ok() != Some(f.filesize) {
        return Err(Unfit::Damaged(format!(
            "it is {size} bytes, its row says {}",
            f.filesize
        )));
    }
    let data = wheel::read_metadata(&f.filename, path).map_err(|r| Unfit::Damaged(r.why))?;
    wheel::check_metadata(&f.filename, &data, package.as_str(), &f.version)
        .map_err(|r| Unfit::Damaged(r.why))?;
    Ok(data)
}

/// Whether something (even a dangling link) is named `path`.
fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// A relative link `dir/name → target`, unless something has that name. Whether it made
/// one.
fn link(dir: &Path, target: &str, name: &str) -> bool {
    let path = dir.join(name);
    match std::os::unix::fs::symlink(target, &path) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
        Err(e) => {
            tracing::warn!(link = %path.display(), error = %e, "cannot create an alias link");
            false
        }
    }
}

fn remove(path: &Path) {
    if let Err(e) = files::remove_file(path) {
        tracing::warn!(path = %path.display(), error = %e, "cannot remove a damaged wheel or its link");
    }
}

/// Removes `path` if it is a link.
fn remove_link(path: &Path) {
    if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        remove(path);
    }
}
