//! How files reach the output directory, and leave it: written whole under a temporary
//! name in the same directory (mode 0644), then renamed over the target, so a reader sees
//! the old file or the new one and never half of one ([`write_atomic`]: published metadata
//! files, pages, build logs); removals that find nothing to remove are not errors. Only
//! [`crate::output`] calls these: every other task goes through it.

use std::fs::{self, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The path of a build's log under the output directory (piwheels.md §6.7): the id split into
/// three 4-digit groups, `logs/AAAA/BBBB/CCCC.txt.gz`. `None` for an id that does not fit.
pub fn log_path(build_id: i64) -> Option<PathBuf> {
    if !(0..1_000_000_000_000).contains(&build_id) {
        return None;
    }
    let (a, b, c) = (
        build_id / 100_000_000,
        build_id / 10_000 % 10_000,
        build_id % 10_000,
    );
    Some(PathBuf::from(format!("logs/{a:04}/{b:04}/{c:04}.txt.gz")))
}

/// The URL path of a build's log (`/logs/AAAA/BBBB/CCCC.txt.gz`).
pub fn log_url(build_id: i64) -> Option<String> {
    log_path(build_id).map(|p| format!("/{}", p.display()))
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `data` to `path` atomically: a temporary file in the same directory, mode 0644,
/// flushed to disk first when `sync` (for what cannot be written again, such as build
/// logs), renamed over `path`. On failure the temporary file is removed and `path` is
/// untouched.
pub fn write_atomic(path: &Path, data: &[u8], sync: bool) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let pid = std::process::id();
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".{pid}-{n}.tmp"));
        let temp = dir.join(temp_name);
        let mut file = match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&temp)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        };
        let result = (|| {
            file.write_all(data)?;
            // The umask may have taken bits away; pages are world-readable.
            file.set_permissions(Permissions::from_mode(0o644))?;
            if sync {
                file.sync_all()?;
            }
            drop(file);
            fs::rename(&temp, path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        return result;
    }
}

/// Like [`write_atomic`] (not synced), but leaves `path` alone when it is already a regular
/// file with exactly these contents: a page that did not change keeps its inode and its
/// modification time (so mirrors and HTTP caches see it unchanged), and costs a read
/// instead of a new file. Returns whether it wrote.
pub fn write_if_changed(path: &Path, data: &[u8]) -> io::Result<bool> {
    if let Ok(m) = fs::symlink_metadata(path)
        && m.is_file()
        && m.len() == data.len() as u64
        && m.permissions().mode() & 0o777 == 0o644
        && fs::read(path).is_ok_and(|old| old == data)
    {
        return Ok(false);
    }
    write_atomic(path, data, false)?;
    Ok(true)
}

/// Makes sure `path` is a real directory: made if missing (with its parents), and a
/// symlink or file in its place is replaced by one.
pub fn ensure_dir(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => {
            fs::remove_file(path)?;
            create_dir(path)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir_all(path),
        Err(e) => Err(e),
    }
}

/// Asks the filesystem to spread the folders made in `dir` over its whole disk (ext4's
/// "top of a directory hierarchy" flag, `chattr +T`), rather than next to `dir`. Each
/// package's pages then get their inodes in a block group of their own folder's, shared
/// with few other packages: on ext4 without a journal, making a file walks past every
/// inode of its group freed in the last minutes, so 40,000 pages replaced in one group
/// (every rename frees the old page's inode) make each new file slower than the last.
/// Only a hint: a filesystem without the flag is left as it is.
pub fn spread_subdirs(dir: &Path) {
    let set = || -> rustix::io::Result<()> {
        let fd = rustix::fs::open(
            dir,
            rustix::fs::OFlags::RDONLY
                | rustix::fs::OFlags::DIRECTORY
                | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )?;
        let flags = rustix::fs::ioctl_getflags(&fd)?;
        if !flags.contains(rustix::fs::IFlags::TOPDIR) {
            rustix::fs::ioctl_setflags(&fd, flags | rustix::fs::IFlags::TOPDIR)?;
        }
        Ok(())
    };
    if let Err(e) = set() {
        tracing::debug!(dir = %dir.display(), error = %e, "folders made here are not spread over the disk");
    }
}

fn create_dir(path: &Path) -> io::Result<()> {
    match fs::create_dir(path) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}

/// Makes `dir/alias` a relative symlink to `target` unless it already is one; anything
/// else in its place (a real directory, another link) is replaced.
pub fn ensure_symlink(dir: &Path, alias: &str, target: &str) -> io::Result<()> {
    let link = dir.join(alias);
    match fs::symlink_metadata(&link) {
        Ok(m) if m.file_type().is_symlink() => {
            if fs::read_link(&link)? == Path::new(target) {
                return Ok(());
            }
            fs::remove_file(&link)?;
        }
        Ok(m) if m.is_dir() => fs::remove_dir_all(&link)?,
        Ok(_) => fs::remove_file(&link)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    // Made under a temporary name and renamed, so the alias never points nowhere.
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp = dir.join(format!(".{alias}.{}-{n}.tmp", std::process::id()));
    std::os::unix::fs::symlink(target, &temp)?;
    fs::rename(&temp, &link).inspect_err(|_| {
        let _ = fs::remove_file(&temp);
    })
}

/// Removes a file; one already gone is not an error.
pub fn remove_file(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Removes a directory and everything in it (symlinks are removed, not followed); one
/// already gone is not an error. A symlink in its place is removed.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_paths() {
        assert_eq!(
            log_path(12510551).unwrap(),
            Path::new("logs/0000/1251/0551.txt.gz")
        );
        assert_eq!(
            log_path(123_456_789_012).unwrap(),
            Path::new("logs/1234/5678/9012.txt.gz")
        );
        assert_eq!(
            log_path(0).unwrap(),
            Path::new("logs/0000/0000/0000.txt.gz")
        );
        assert!(log_path(-1).is_none());
        assert!(log_path(1_000_000_000_000).is_none());
    }

    #[test]
    fn atomic_writes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.html");
        write_atomic(&p, b"one", false).unwrap();
        write_atomic(&p, b"two", true).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        // Nothing else left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        // Unchanged contents are not written again; changed ones are.
        let ino = |p: &Path| std::os::unix::fs::MetadataExt::ino(&fs::metadata(p).unwrap());
        let before = ino(&p);
        assert!(!write_if_changed(&p, b"two").unwrap());
        assert_eq!(ino(&p), before);
        assert!(write_if_changed(&p, b"three").unwrap());
        assert_eq!(fs::read(&p).unwrap(), b"three");
        // A missing directory fails cleanly.
        assert!(write_atomic(&dir.path().join("no/such"), b"x", false).is_err());
    }

    #[test]
    fn dirs_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("foo");
        std::os::unix::fs::symlink("elsewhere", &d).unwrap();
        ensure_dir(&d).unwrap();
        assert!(fs::symlink_metadata(&d).unwrap().is_dir());
        ensure_symlink(dir.path(), "Foo", "foo").unwrap();
        ensure_symlink(dir.path(), "Foo", "foo").unwrap();
        assert_eq!(
            fs::read_link(dir.path().join("Foo")).unwrap(),
            Path::new("foo")
        );
        remove_tree(&d).unwrap();
        remove_tree(&d).unwrap();
        assert!(!d.exists());
    }
}
