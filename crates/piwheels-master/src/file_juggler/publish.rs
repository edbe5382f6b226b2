//! Checking a received file and putting it in place: names, temporary files, the size and
//! hash check, the PEP 658 metadata file, the armv6l symlinks.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use piwheels_protocol::states::FileState;
use sha2::{Digest, Sha256};

/// The name prefix of FileJuggler's temporary files in `OUT/simple` (the rest of the name is
/// random, so nobody can guess or pre-create it).
pub const TEMP_PREFIX: &str = ".piw-upload-";

/// The largest `METADATA` extracted from a wheel (a bigger one is not published as a
/// metadata file).
const MAX_METADATA: u64 = 16 << 20;

/// Checks a wheel's file name: a plain name (no `/`, no NUL, not `.` or `..`, no `..` in
/// it), ending `.whl`, not hidden, so it can only land inside its package's directory.
pub fn check_filename(name: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "refusing the file name {}: {why}",
            piwheels_protocol::quote::Quoted::str(name)
        ))
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.contains('/') || name.contains('\\') {
        return bad("it contains a path separator");
    }
    if name.contains('\0') {
        return bad("it contains NUL");
    }
    if name.contains("..") {
        return bad("it contains ..");
    }
    if name.starts_with('.') {
        return bad("it starts with a dot");
    }
    if name.len() > 255 {
        return bad("it is longer than 255 bytes");
    }
    if !name.ends_with(".whl") || name.len() <= 4 {
        return bad("it is not a wheel (*.whl)");
    }
    if name.chars().any(char::is_control) {
        return bad("it contains control characters");
    }
    Ok(())
}

/// Checks a package name is canonical (PEP 503: lowercase letters, digits and single
/// dashes), so `simple/<package>/` is one directory inside `simple`.
pub fn check_package(package: &str) -> Result<(), String> {
    let ok = !package.is_empty()
        && package.len() <= 200
        && package
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && piwheels_db::canonicalize_name(package) == package;
    if ok {
        Ok(())
    } else {
        Err(format!(
            "refusing the package name {package:?}: not a canonical package name"
        ))
    }
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

/// A new temporary file in `dir`, with a random name, created exclusively (mode 0600).
pub(super) fn new_temp(dir: &Path) -> Result<(File, PathBuf), String> {
    let temp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .suffix(".part")
        .tempfile_in(dir)
        .map_err(|e| format!("cannot create a temporary file in {}: {e}", dir.display()))?;
    temp.keep()
        .map_err(|e| format!("cannot keep a temporary file in {}: {e}", dir.display()))
}

/// Removes temporary files a previous run left in `dir` (transfers a stop interrupted).
pub(super) fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with(TEMP_PREFIX) {
            let path = entry.path();
            match fs::remove_file(&path) {
                Ok(()) => tracing::info!(path = %path.display(), "removed a stale transfer file"),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot remove a stale transfer file")
                }
            }
        }
    }
}

/// Checks the received file against what was expected, then publishes it under
/// `simple/<package>/`. The temporary file is gone afterwards either way.
pub(super) fn verify_and_publish(
    handle: File,
    temp: &Path,
    file: &FileState,
    simple: &Path,
    package: &str,
) -> Result<(), String> {
    let result = check(handle, file).and_then(|()| publish(temp, file, simple, package));
    if result.is_err() {
        let _ = fs::remove_file(temp);
    }
    result
}

fn check(mut handle: File, file: &FileState) -> Result<(), String> {
    let name = &file.filename;
    let size = handle
        .metadata()
        .map_err(|e| format!("{name}: cannot stat the received file: {e}"))?
        .len();
    if i64::try_from(size).ok() != Some(file.filesize) {
        return Err(format!(
            "{name}: received {size} bytes, expected {}",
            file.filesize
        ));
    }
    handle
        .seek(SeekFrom::Start(0))
        .map_err(|e| format!("{name}: {e}"))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = handle
            .read(&mut buf)
            .map_err(|e| format!("{name}: cannot read the received file: {e}"))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let hash = hex::encode(hasher.finalize());
    if hash != file.filehash {
        return Err(format!(
            "{name}: SHA-256 {hash} does not match the expected {}",
            file.filehash
        ));
    }
    Ok(())
}

fn publish(temp: &Path, file: &FileState, simple: &Path, package: &str) -> Result<(), String> {
    check_package(package)?;
    check_filename(&file.filename)?;
    let name = &file.filename;
    fs::set_permissions(temp, fs::Permissions::from_mode(0o644))
        .map_err(|e| format!("{name}: chmod: {e}"))?;
    let dir = simple.join(package);
    package_dir(&dir)?;
    let target = dir.join(name);
    let meta_name = format!("{name}.metadata");
    match extract_metadata(temp) {
        Ok(Some(metadata)) => write_atomically(&dir, &meta_name, &metadata)?,
        Ok(None) => {
            tracing::warn!(file = %name, "no *.dist-info/METADATA in the wheel; published without a metadata file");
            let _ = fs::remove_file(dir.join(&meta_name));
        }
        Err(e) => {
            tracing::warn!(file = %name, error = %e, "cannot read the wheel's METADATA; published without a metadata file");
            let _ = fs::remove_file(dir.join(&meta_name));
        }
    }
    fs::rename(temp, &target).map_err(|e| format!("{name}: cannot move it into place: {e}"))?;
    if let Some(twin) = file.armv6_twin() {
        link_unless_exists(&dir, name, &twin.filename);
        if dir.join(&meta_name).exists() {
            link_unless_exists(&dir, &meta_name, &format!("{}.metadata", twin.filename));
        }
    }
    Ok(())
}

/// Makes `simple/<package>/` a real directory (a symlink of that name, as an alias link
/// of the scribe's, is replaced).
fn package_dir(dir: &Path) -> Result<(), String> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => {
            fs::remove_file(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => return Err(format!("{} exists and is not a directory", dir.display())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
        Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
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
        tracing::warn!(link = %path.display(), error = %e, "cannot create the armv6l symlink");
    }
}

/// The wheel's `<name>.dist-info/METADATA` (at the top level of the archive).
fn extract_metadata(wheel: &Path) -> Result<Option<Vec<u8>>, String> {
    let f = File::open(wheel).map_err(|e| e.to_string())?;
    let mut archive = zip::ZipArchive::new(io::BufReader::new(f)).map_err(|e| e.to_string())?;
    let found = archive
        .file_names()
        .filter(|n| {
            n.split_once('/').is_some_and(|(dir, rest)| {
                dir.ends_with(".dist-info") && rest == "METADATA" && !dir.contains("..")
            })
        })
        .min()
        .map(str::to_owned);
    let Some(entry_name) = found else {
        return Ok(None);
    };
    let entry = archive.by_name(&entry_name).map_err(|e| e.to_string())?;
    if entry.size() > MAX_METADATA {
        return Err(format!("{entry_name} is {} bytes, too large", entry.size()));
    }
    let mut data = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
    entry
        .take(MAX_METADATA + 1)
        .read_to_end(&mut data)
        .map_err(|e| format!("{entry_name}: {e}"))?;
    if data.len() as u64 > MAX_METADATA {
        return Err(format!("{entry_name} is too large"));
    }
    Ok(Some(data))
}

/// Writes `dir/name` whole or not at all: a temporary file in `dir`, synced, mode 0644,
/// renamed over the name.
fn write_atomically(dir: &Path, name: &str, data: &[u8]) -> Result<(), String> {
    let temp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)
        .map_err(|e| format!("cannot create a temporary file in {}: {e}", dir.display()))?;
    let mut f = OpenOptions::new()
        .write(true)
        .mode(0o644)
        .open(temp.path())
        .map_err(|e| format!("{}: {e}", temp.path().display()))?;
    f.write_all(data)
        .and_then(|()| f.sync_data())
        .map_err(|e| format!("writing {name}: {e}"))?;
    fs::set_permissions(temp.path(), fs::Permissions::from_mode(0o644))
        .map_err(|e| format!("{name}: chmod: {e}"))?;
    temp.persist(dir.join(name))
        .map_err(|e| format!("cannot move {name} into place: {}", e.error))?;
    Ok(())
}
