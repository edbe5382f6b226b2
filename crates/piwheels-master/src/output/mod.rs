//! The output folder's one owner: no other code writes, renames, removes, links or makes
//! folders in it (the web server only reads it). Names become paths here only as the
//! checked types of [`names`] (a [`PackageName`], an alias [`Name`], a
//! [`FileName`], a [`WheelName`]); files are written whole by one atomic writer (in
//! `output/files.rs`: a temporary name, then a rename). Who asks for what:
//!
//! | task | asks for |
//! |---|---|
//! | FileJuggler | an upload file, staging a verified wheel ([`Output::stage`]) |
//! | SlaveDriver, MrChase | publishing a recorded build's wheels ([`Output::publish`]) |
//! | TheScribe | pages, build logs, alias links; removing a version's or a package's files |
//! | the master | the start-up recovery and [`reconcile`]; retrying what a full disk kept |
//!
//! The wheels: where uploads land, how a verified wheel waits for its build to be
//! recorded, and how it is published — so that a wheel is visible only once the database
//! has committed its row.
//!
//! ```text
//! OUT/simple/.piw-staging/            mode 0700: no web server can serve what is here
//!     .piw-upload-XXXXXX.part          a transfer in progress (FileJuggler)
//!     <sha256>.<random>.<wheel name>   a verified wheel, waiting for its build's row
//! OUT/simple/<package>/<wheel name>   published, after the row is committed
//! OUT/simple/<package>/<wheel name>.metadata
//! ```
//!
//! The order of a build is: upload to a temporary file; [`Output::stage`] checks its size
//! and SHA-256, that its name, declared tags and `METADATA` are those of the job's package
//! and version ([`wheel`]), and renames it into the staging folder; the build is logged
//! (its row and the rewrite of its pages commit together); only then [`Output::publish`]
//! writes the metadata file and renames the wheel into its package's folder. A build that
//! fails, or cannot be logged, has its staged files removed ([`Staged`] removes its file
//! when dropped), so nothing of it is ever served.
//!
//! A master killed between the commit and the rename leaves staged files whose rows exist:
//! [`Output::recover`] publishes them at the next start (and removes those whose rows do
//! not exist), and [`reconcile`] then compares every package's folder with the database.

pub mod adopt;
pub mod audit;
pub mod compare;
mod files;
mod folder;
pub mod listing;
pub mod names;
pub mod reconcile;
pub mod record;
mod site;
pub mod wheel;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use piwheels_db::{Database, PlatformAliases};
use piwheels_protocol::quote::Quoted;
use piwheels_protocol::states::FileState;
use sha2::{Digest, Sha256};

pub use files::{log_path, log_url};
pub use names::{
    FileName, FileNameError, Name, NameError, PackageName, check_alias, check_filename,
    check_package,
};
pub use wheel::{Refusal, WheelName, WheelNameError};

/// The name prefix of upload files in the staging folder (the rest of the name is random,
/// so nobody can guess or pre-create it).
pub const TEMP_PREFIX: &str = ".piw-upload-";

/// The staging folder's name, in `OUT/simple`.
pub const STAGING: &str = ".piw-staging";

/// A file operation on the output folder that failed.
#[derive(Debug, thiserror::Error)]
#[error("{what} {}: {source}", path.display())]
pub struct OutputError {
    /// What was being done, such as "renaming".
    pub what: &'static str,
    /// The file.
    pub path: PathBuf,
    /// The cause.
    #[source]
    pub source: io::Error,
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> OutputError + 'a {
    move |source| OutputError {
        what,
        path: path.to_owned(),
        source,
    }
}

/// Why a received file was not staged.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// Its size or SHA-256 is not what was declared: the transfer went wrong (send again).
    #[error("{0}")]
    Corrupt(String),
    /// It is not a wheel of the job's package and version (the build fails).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The output folder failed (a full disk): neither the file nor the build is at fault.
    #[error(transparent)]
    Storage(#[from] OutputError),
}

/// Makes the output folder (and its parents) if it is missing. Run once, before the
/// database (which may live in it) is opened.
pub fn create_root(out: &Path) -> Result<(), OutputError> {
    fs::create_dir_all(out).map_err(io_err("creating", out))
}

/// Removes an upload file that will not be staged (FileJuggler's transfer was replaced or
/// failed). Whether there was one to remove.
pub fn remove_upload(temp: &Path) -> Result<bool, OutputError> {
    files::remove_file(temp).map_err(io_err("removing", temp))
}

/// Size and free space of the filesystem holding `path`, bytes.
pub fn statvfs(path: &Path) -> Option<(u64, u64)> {
    match rustix::fs::statvfs(path) {
        Ok(st) => Some((
            st.f_blocks.saturating_mul(st.f_frsize),
            st.f_bavail.saturating_mul(st.f_frsize),
        )),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "statvfs failed");
            None
        }
    }
}

/// A verified wheel waiting in the staging folder for its build's row. Dropped without
/// being published, its file is removed.
#[derive(Debug)]
pub struct Staged {
    path: PathBuf,
    /// The package whose folder it is published in.
    package: PackageName,
    /// What was declared; its name is a [`WheelName`] of `package`.
    file: FileState,
    /// Its `METADATA` (`None` only for a wheel recovered at start-up whose `METADATA`
    /// cannot be read: it is published without a metadata file).
    metadata: Option<Vec<u8>>,
    /// Published, or kept for a later retry: not removed when dropped.
    settled: bool,
}

impl Staged {
    /// What the slave declared, and the checks confirmed.
    pub fn file(&self) -> &FileState {
        &self.file
    }

    /// Where it waits.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The package it is a wheel of.
    pub fn package(&self) -> &PackageName {
        &self.package
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.settled
            && let Err(e) = fs::remove_file(&self.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot remove a staged file");
        }
    }
}

/// The parts of a staged file's name: (hash, wheel name).
fn parse_staged(name: &str) -> Option<(&str, &str)> {
    let (hash, rest) = name.split_once('.')?;
    let (_, wheel) = rest.split_once('.')?;
    (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then_some((hash, wheel))
}

/// What [`Output::recover`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// Staged wheels whose rows were committed, now published.
    pub published: Vec<String>,
    /// Staged wheels of builds never recorded, removed.
    pub removed: Vec<String>,
    /// Unfinished uploads removed.
    pub uploads: usize,
}

/// The output folder's wheels (see the module docs). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Output {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    out: PathBuf,
    simple: PathBuf,
    staging: PathBuf,
    aliases: PlatformAliases,
    /// Staged wheels of recorded builds that could not be published yet (a full disk):
    /// retried by [`Output::retry_kept`].
    kept: Mutex<Vec<Staged>>,
    /// Pages written by path, one call at a time, as before [`folder`] (the scribe
    /// benchmark's baseline).
    legacy_pages: std::sync::atomic::AtomicBool,
}

impl Output {
    /// The output folder `out` (nothing is touched until [`prepare`](Self::prepare)).
    /// `aliases` are the database's platform aliases (the armv6l links).
    pub fn new(out: &Path, aliases: PlatformAliases) -> Output {
        let simple = out.join("simple");
        let staging = simple.join(STAGING);
        Output {
            inner: Arc::new(Inner {
                out: out.to_owned(),
                simple,
                staging,
                aliases,
                kept: Mutex::new(Vec::new()),
                legacy_pages: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// Makes `OUT/simple` and the staging folder (mode 0700) if needed, and removes the
    /// uploads a previous run left unfinished. Run before any upload.
    pub fn prepare(&self) -> Result<(), OutputError> {
        let staging = &self.inner.staging;
        fs::create_dir_all(staging).map_err(io_err("creating", staging))?;
        fs::set_permissions(staging, fs::Permissions::from_mode(0o700))
            .map_err(io_err("securing", staging))?;
        for entry in fs::read_dir(staging)
            .map_err(io_err("reading", staging))?
            .flatten()
        {
            if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                remove_logged(&entry.path(), "an unfinished upload");
            }
        }
        Ok(())
    }

    /// The output folder, `OUT`.
    pub fn root(&self) -> &Path {
        &self.inner.out
    }

    /// `OUT/simple`.
    pub fn simple(&self) -> &Path {
        &self.inner.simple
    }

    /// The staging folder.
    pub fn staging(&self) -> &Path {
        &self.inner.staging
    }

    /// A new upload file in the staging folder, with a random name, created exclusively
    /// (mode 0600).
    pub fn new_upload(&self) -> Result<(File, PathBuf), OutputError> {
        let dir = &self.inner.staging;
        let temp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .suffix(".part")
            .tempfile_in(dir)
            .map_err(io_err("creating an upload file in", dir))?;
        temp.keep().map_err(|e| OutputError {
            what: "keeping an upload file in",
            path: dir.clone(),
            source: e.error,
        })
    }

    /// Checks a received file (size, SHA-256, and that it is a wheel of `package`
    /// `version`: see [`wheel`]) and moves it into the staging folder. The upload file
    /// `temp` is gone afterwards either way. Blocking.
    pub fn stage(
        &self,
        handle: File,
        temp: &Path,
        file: &FileState,
        package: &str,
        version: &str,
    ) -> Result<Staged, StageError> {
        let result = self.stage_inner(handle, temp, file, package, version);
        if result.is_err() {
            let _ = fs::remove_file(temp);
        }
        result
    }

    fn stage_inner(
        &self,
        handle: File,
        temp: &Path,
        file: &FileState,
        package: &str,
        version: &str,
    ) -> Result<Staged, StageError> {
        let package =
            check_package(package).map_err(|e| Refusal::new(&file.filename, e.to_string()))?;
        wheel::check_declared(file, &package, version)?;
        check_contents(handle, file)?;
        let metadata = wheel::read_metadata(&file.filename, temp)?;
        wheel::check_metadata(&file.filename, &metadata, &package, version)?;
        fs::set_permissions(temp, fs::Permissions::from_mode(0o644))
            .map_err(io_err("chmod", temp))?;
        // Staged as `<sha256>.<random>.<wheel>`: the hash first, so the start-up recovery
        // can match it with its row; a random part, made exclusively, so two uploads of
        // one file never share a name.
        let staging = &self.inner.staging;
        let (_, path) = tempfile::Builder::new()
            .prefix(&format!("{}.", file.filehash))
            .suffix(&format!(".{}", file.filename))
            .rand_bytes(10)
            .tempfile_in(staging)
            .map_err(io_err("staging in", staging))?
            .keep()
            .map_err(|e| OutputError {
                what: "staging in",
                path: staging.clone(),
                source: e.error,
            })?;
        let staged = Staged {
            path,
            package,
            file: file.clone(),
            metadata: Some(metadata),
            settled: false,
        };
        fs::rename(temp, &staged.path).map_err(io_err("staging", temp))?;
        Ok(staged)
    }

    /// Publishes the staged wheels of a recorded build, each under `simple/<package>/`
    /// of its package: its metadata file, then the wheel renamed in, then its links under
    /// the platform aliases (unless something of that name exists). Blocking. What could
    /// not be published is kept for [`retry_kept`](Self::retry_kept), never removed: its
    /// row is committed.
    pub fn publish(&self, staged: Vec<Staged>) -> Result<(), OutputError> {
        let mut staged = staged.into_iter();
        let mut result = Ok(());
        for mut s in staged.by_ref() {
            if let Err(e) = self.publish_one(&mut s) {
                self.keep(s);
                result = Err(e);
                break;
            }
        }
        for rest in staged {
            self.keep(rest);
        }
        result
    }

    fn keep(&self, mut s: Staged) {
        tracing::warn!(file = %s.file.filename, "a recorded wheel could not be published yet; it will be retried");
        s.settled = true;
        self.inner
            .kept
            .lock()
            .expect("no panics under the lock")
            .push(s);
    }

    fn publish_one(&self, s: &mut Staged) -> Result<(), OutputError> {
        let package = s.package.as_str();
        let dir = self.package_dir(&s.package);
        package_dir(&dir)?;
        let name = &s.file.filename;
        let meta_name = format!("{name}.metadata");
        let meta = dir.join(&meta_name);
        match &s.metadata {
            Some(data) => {
                files::write_atomic(&meta, data, true).map_err(io_err("writing", &meta))?;
            }
            None => {
                files::remove_file(&meta).map_err(io_err("removing", &meta))?;
            }
        }
        let target = dir.join(name);
        fs::rename(&s.path, &target).map_err(io_err("publishing", &s.path))?;
        s.settled = true;
        for alias in self.inner.aliases.aliases_of(&s.file.platform_tag) {
            if let Some(twin) = PlatformAliases::twin_name(name, &s.file.platform_tag, alias) {
                link_unless_exists(&dir, name, &twin);
                link_unless_exists(&dir, &meta_name, &format!("{twin}.metadata"));
            }
        }
        tracing::info!(file = %name, package, "published");
        Ok(())
    }

    /// Publishes what [`publish`](Self::publish) had to keep; returns how many are still
    /// kept. Blocking.
    pub fn retry_kept(&self) -> usize {
        let kept = std::mem::take(&mut *self.inner.kept.lock().expect("no panics under the lock"));
        let mut left = Vec::new();
        for mut s in kept {
            if let Err(e) = self.publish_one(&mut s) {
                tracing::warn!(file = %s.file.filename, error = %e, "still cannot publish a recorded wheel");
                left.push(s);
            }
        }
        let n = left.len();
        self.inner
            .kept
            .lock()
            .expect("no panics under the lock")
            .extend(left);
        n
    }

    /// How many recorded wheels wait for a retry.
    pub fn kept(&self) -> usize {
        self.inner
            .kept
            .lock()
            .expect("no panics under the lock")
            .len()
    }

    /// At start-up, before any upload: publishes staged wheels whose rows were committed
    /// (a master killed between the commit and the rename), and removes staged wheels of
    /// builds never recorded and unfinished uploads.
    pub async fn recover(&self, db: &Database) -> Result<Recovered, crate::Error> {
        let staging = self.inner.staging.clone();
        let names = tokio::task::spawn_blocking(move || -> io::Result<Vec<String>> {
            let mut names = Vec::new();
            for entry in fs::read_dir(&staging)? {
                names.push(entry?.file_name().to_string_lossy().into_owned());
            }
            names.sort();
            Ok(names)
        })
        .await
        .map_err(|e| crate::Error::Other(format!("reading the staging folder: {e}")))?
        .map_err(|e| crate::Error::io("reading", &self.inner.staging, e))?;
        let mut out = Recovered::default();
        for name in names {
            let path = self.inner.staging.join(&name);
            let Some((hash, wheel)) = parse_staged(&name) else {
                if name.starts_with(TEMP_PREFIX) {
                    out.uploads += 1;
                }
                remove_logged(&path, "an unfinished upload");
                continue;
            };
            // Only wheels of their job's package are ever staged: the name says which.
            let package = WheelName::parse(wheel)
                .ok()
                .and_then(|w| check_package(&piwheels_db::canonicalize_name(w.dist)).ok());
            let record = match &package {
                Some(_) => db.file(wheel).await?,
                None => None,
            };
            let (Some(record), Some(package)) = (record, package) else {
                remove_logged(&path, "a staged wheel of a build never recorded");
                out.removed.push(wheel.to_owned());
                continue;
            };
            if record.file.filehash != hash || record.twin_of.is_some() {
                remove_logged(&path, "a staged wheel of a build never recorded");
                out.removed.push(wheel.to_owned());
                continue;
            }
            let staged = Staged {
                metadata: wheel::read_metadata(wheel, &path).ok(),
                path,
                package,
                file: record::file_state(&record.file),
                settled: false,
            };
            let this = self.clone();
            let w = wheel.to_owned();
            let done = tokio::task::spawn_blocking(move || this.publish(vec![staged]))
                .await
                .map_err(|e| crate::Error::Other(format!("publishing {w}: {e}")))?;
            match done {
                Ok(()) => out.published.push(wheel.to_owned()),
                Err(e) => {
                    tracing::error!(file = %wheel, error = %e, "cannot publish a recorded wheel at start-up; kept")
                }
            }
        }
        Ok(out)
    }

    /// Removes from `simple/<package>/` the wheels (and their metadata files and alias
    /// links) that `listed` found there and the database does not have: `db_files`, the
    /// package's files as read *after* the folder was listed (a wheel is renamed in only
    /// after its row commits, so one listed and not in the database is not one being
    /// published). Returns the names removed. Blocking.
    pub fn remove_strays(
        &self,
        package: &PackageName,
        listed: &BTreeSet<String>,
        db_files: &BTreeMap<String, String>,
    ) -> Vec<String> {
        let dir = self.package_dir(package);
        let mut removed = Vec::new();
        for name in listed {
            if !compare::is_stray(name, |w| db_files.contains_key(w)) {
                continue;
            }
            // A name the folder listed is one name in it (whatever it holds: a stray
            // with a newline in its name goes too).
            let path = dir.join(name);
            match files::remove_file(&path) {
                Ok(true) => {
                    tracing::warn!(package = %package, file = %name, "removed a file the database does not have");
                    removed.push(name.clone());
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot remove a stray file")
                }
            }
        }
        removed
    }

    /// `simple/<package>/` (for reading: only this module writes there).
    pub fn package_dir(&self, package: &PackageName) -> PathBuf {
        self.inner.simple.join(package.as_str())
    }

    /// The names in `simple/<package>/` that are not hidden (empty if it does not exist).
    /// Blocking.
    pub fn list_package(&self, package: &PackageName) -> io::Result<BTreeSet<String>> {
        let dir = self.package_dir(package);
        let mut out = BTreeSet::new();
        match fs::read_dir(&dir) {
            Ok(entries) => {
                for e in entries {
                    let name = e?.file_name().to_string_lossy().into_owned();
                    if !name.starts_with('.') {
                        out.insert(name);
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(out)
    }
}

fn remove_logged(path: &Path, what: &str) {
    match fs::remove_file(path) {
        Ok(()) => tracing::info!(path = %path.display(), "removed {what}"),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot remove {what}"),
    }
}

/// Checks the received file's size and SHA-256 against what was declared.
fn check_contents(mut handle: File, file: &FileState) -> Result<(), StageError> {
    let name = Quoted::str(&file.filename);
    let size = handle
        .metadata()
        .map_err(|e| StageError::Corrupt(format!("{name}: cannot stat the received file: {e}")))?
        .len();
    if i64::try_from(size).ok() != Some(file.filesize) {
        return Err(StageError::Corrupt(format!(
            "{name}: received {size} bytes, expected {}",
            file.filesize
        )));
    }
    handle
        .seek(SeekFrom::Start(0))
        .map_err(|e| StageError::Corrupt(format!("{name}: {e}")))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = handle.read(&mut buf).map_err(|e| {
            StageError::Corrupt(format!("{name}: cannot read the received file: {e}"))
        })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let hash = hex::encode(hasher.finalize());
    if hash != file.filehash {
        return Err(StageError::Corrupt(format!(
            "{name}: SHA-256 {hash} does not match the declared {}",
            Quoted::str(&file.filehash)
        )));
    }
    Ok(())
}

/// Makes `simple/<package>/` a real folder (a symlink of that name, as an alias link of
/// the scribe's, is replaced).
fn package_dir(dir: &Path) -> Result<(), OutputError> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => {
            fs::remove_file(dir).map_err(io_err("replacing", dir))?;
        }
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => {
            return Err(OutputError {
                what: "using",
                path: dir.to_owned(),
                source: io::Error::new(io::ErrorKind::AlreadyExists, "not a directory"),
            });
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err("inspecting", dir)(e)),
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
        Err(e) => return Err(io_err("creating", dir)(e)),
    }
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o755));
    Ok(())
}

/// A relative symlink `dir/link → target`, unless something named `link` exists.
fn link_unless_exists(dir: &Path, target: &str, link: &str) {
    let path = dir.join(link);
    if fs::symlink_metadata(&path).is_ok() {
        return;
    }
    if let Err(e) = std::os::unix::fs::symlink(target, &path) {
        tracing::warn!(link = %path.display(), error = %e, "cannot create an alias link");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_names() {
        let hash = "a".repeat(64);
        let name = format!("{hash}.xyz123.foo-1.0-py3-none-any.whl");
        assert_eq!(
            parse_staged(&name),
            Some((hash.as_str(), "foo-1.0-py3-none-any.whl"))
        );
        assert_eq!(parse_staged(".piw-upload-abc.part"), None);
        assert_eq!(parse_staged("zz.x.foo.whl"), None);
    }
}
