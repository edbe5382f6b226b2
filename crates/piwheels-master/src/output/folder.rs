//! Pages written by name inside a folder opened once: every call is relative to the
//! folder's descriptor (`openat`, `renameat`, `linkat`), so the path is walked once per
//! folder instead of once per system call, and a page costs as few calls as it can.
//!
//! The promises are [`files::write_if_changed`](super::files::write_if_changed)'s: a page
//! is replaced whole by a rename (a reader sees the old page or the new one), a page with
//! the same bytes is left alone (same inode, same modification time), pages are mode 0644,
//! and a failure leaves the old page and no temporary file behind. What differs is only the
//! number of calls:
//!
//! - the old page is read only when its size (from one `fstatat`) is the new page's;
//! - a page that does not exist yet is written to an unnamed file (`O_TMPFILE`) that is
//!   linked in whole (`linkat`): one directory entry made instead of a temporary one made
//!   and renamed. A crash before the link leaves nothing; after it, the page is what a
//!   rename onto a missing name would leave (ext4 forces the data out only when a rename
//!   *replaces* a file, so the two are the same);
//! - a page that exists is written to a temporary name and renamed over it, as before (so
//!   ext4's `auto_da_alloc` still puts its data on disk before the rename, and a crash
//!   leaves the old page or the new one);
//! - the mode is set with `fchmod` only when the umask took bits away (`fstat` says).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

/// The mode of every page.
const PAGE_MODE: u32 = 0o644;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Whether `O_TMPFILE` + `linkat` worked (cleared the first time the filesystem or the
/// kernel refuses it; then new pages go through a temporary name, as existing ones do).
static UNNAMED_OK: AtomicBool = AtomicBool::new(true);

/// A folder of the output, opened once (see the module docs).
#[derive(Debug)]
pub struct Folder {
    fd: OwnedFd,
    path: PathBuf,
}

impl Folder {
    /// Opens `path`, a folder (a symlink is refused).
    pub fn open(path: &Path) -> io::Result<Folder> {
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Folder {
            fd,
            path: path.to_owned(),
        })
    }

    /// The folder's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the folder `name` in this one, made if missing; a symlink or file in its
    /// place is replaced by a real folder (as [`files::ensure_dir`](super::files::ensure_dir)).
    pub fn subdir(&self, name: &str) -> io::Result<Folder> {
        let path = self.path.join(name);
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let open = || rustix::fs::openat(&self.fd, name, flags, Mode::empty());
        let fd = match open() {
            Ok(fd) => fd,
            Err(Errno::NOENT) => {
                match rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(0o777)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(e.into()),
                }
                open()?
            }
            // A symlink (ELOOP) or a file (ENOTDIR) where the folder should be.
            Err(Errno::LOOP | Errno::NOTDIR) => {
                rustix::fs::unlinkat(&self.fd, name, AtFlags::empty())?;
                match rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(0o777)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(e.into()),
                }
                open()?
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Folder { fd, path })
    }

    /// Writes `data` as `name` in this folder unless `name` is already a regular file of
    /// mode 0644 with exactly these bytes. Whether it wrote.
    pub fn write_if_changed(&self, name: &str, data: &[u8]) -> io::Result<bool> {
        match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => {
                if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile
                    && st.st_size as u64 == data.len() as u64
                    && st.st_mode & 0o777 == PAGE_MODE
                    && self.holds(name, data)
                {
                    return Ok(false);
                }
                self.replace(name, data)?;
            }
            Err(Errno::NOENT) => self.create(name, data)?,
            Err(e) => return Err(e.into()),
        }
        Ok(true)
    }

    /// Whether `name` (a regular file, as just checked) holds exactly `data`.
    fn holds(&self, name: &str, data: &[u8]) -> bool {
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let Ok(fd) = rustix::fs::openat(&self.fd, name, flags, Mode::empty()) else {
            return false;
        };
        let mut old = Vec::with_capacity(data.len() + 1);
        // One byte more than expected tells a file that grew meanwhile.
        File::from(fd)
            .take(data.len() as u64 + 1)
            .read_to_end(&mut old)
            .is_ok_and(|_| old == data)
    }

    /// Writes a page that does not exist yet: an unnamed file linked in whole, or, where
    /// that cannot be done (or the name appeared meanwhile), [`replace`](Self::replace).
    fn create(&self, name: &str, data: &[u8]) -> io::Result<()> {
        if UNNAMED_OK.load(Ordering::Relaxed) {
            match self.link_unnamed(name, data) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => return Err(e),
            }
        }
        self.replace(name, data)
    }

    /// `O_TMPFILE`, write, `linkat`. `Ok(false)` when it could not be linked (the file,
    /// unnamed, goes when closed).
    fn link_unnamed(&self, name: &str, data: &[u8]) -> io::Result<bool> {
        let fd = match rustix::fs::openat(
            &self.fd,
            ".",
            OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC,
            Mode::from_raw_mode(PAGE_MODE),
        ) {
            Ok(fd) => fd,
            // Not supported by this filesystem or kernel.
            Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL | Errno::NOENT) => {
                UNNAMED_OK.store(false, Ordering::Relaxed);
                return Ok(false);
            }
            Err(e) => return Err(e.into()),
        };
        let mut file = File::from(fd);
        file.write_all(data)?;
        set_mode(&file)?;
        match rustix::fs::linkat(&file, "", &self.fd, name, AtFlags::EMPTY_PATH) {
            Ok(()) => return Ok(true),
            // Someone made the name meanwhile: replaced by a rename instead.
            Err(Errno::EXIST) => return Ok(false),
            // AT_EMPTY_PATH needs a capability on older kernels: through /proc instead.
            Err(Errno::NOENT | Errno::PERM) => {}
            Err(e) => return Err(e.into()),
        }
        let proc = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&file));
        match rustix::fs::linkat(
            rustix::fs::CWD,
            proc.as_str(),
            &self.fd,
            name,
            AtFlags::SYMLINK_FOLLOW,
        ) {
            Ok(()) => Ok(true),
            Err(Errno::EXIST) => Ok(false),
            Err(Errno::NOENT | Errno::PERM | Errno::ACCESS | Errno::XDEV) => {
                UNNAMED_OK.store(false, Ordering::Relaxed);
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A temporary name in this folder, written and renamed over `name`; on failure the
    /// temporary file is removed and `name` is untouched.
    fn replace(&self, name: &str, data: &[u8]) -> io::Result<()> {
        let pid = std::process::id();
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let temp = format!(".{name}.{pid}-{n}.tmp");
            let fd = match rustix::fs::openat(
                &self.fd,
                temp.as_str(),
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
                Mode::from_raw_mode(PAGE_MODE),
            ) {
                Ok(fd) => fd,
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(e.into()),
            };
            let result = (|| -> io::Result<()> {
                let mut file = File::from(fd);
                file.write_all(data)?;
                set_mode(&file)?;
                drop(file);
                Ok(rustix::fs::renameat(
                    &self.fd,
                    temp.as_str(),
                    &self.fd,
                    name,
                )?)
            })();
            if result.is_err() {
                let _ = rustix::fs::unlinkat(&self.fd, temp.as_str(), AtFlags::empty());
            }
            return result;
        }
    }
}

/// Gives a new page mode 0644 if the umask took bits away.
fn set_mode(file: &File) -> io::Result<()> {
    let st = rustix::fs::fstat(file.as_fd())?;
    if st.st_mode & 0o777 != PAGE_MODE {
        rustix::fs::fchmod(file, Mode::from_raw_mode(PAGE_MODE))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn writes_only_what_changed() {
        let dir = tempfile::tempdir().unwrap();
        let folder = Folder::open(dir.path()).unwrap();
        let p = dir.path().join("index.html");
        assert!(folder.write_if_changed("index.html", b"one").unwrap());
        assert_eq!(fs::read(&p).unwrap(), b"one");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o644
        );
        let ino = fs::metadata(&p).unwrap().ino();
        assert!(!folder.write_if_changed("index.html", b"one").unwrap());
        assert_eq!(fs::metadata(&p).unwrap().ino(), ino);
        // Same size, other bytes; then another size.
        assert!(folder.write_if_changed("index.html", b"two").unwrap());
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert!(folder.write_if_changed("index.html", b"three").unwrap());
        assert_eq!(fs::read(&p).unwrap(), b"three");
        // A wrong mode is put right even with the same bytes.
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(folder.write_if_changed("index.html", b"three").unwrap());
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o644
        );
        // A symlink in the page's place is replaced, not followed.
        fs::write(dir.path().join("target"), b"three").unwrap();
        std::os::unix::fs::symlink("target", dir.path().join("link")).unwrap();
        assert!(folder.write_if_changed("link", b"three").unwrap());
        assert!(
            fs::symlink_metadata(dir.path().join("link"))
                .unwrap()
                .is_file()
        );
        // Nothing else left behind.
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["index.html", "link", "target"]);
    }

    #[test]
    fn subdirs_replace_what_is_in_their_place() {
        let dir = tempfile::tempdir().unwrap();
        let folder = Folder::open(dir.path()).unwrap();
        std::os::unix::fs::symlink("elsewhere", dir.path().join("a")).unwrap();
        fs::write(dir.path().join("b"), b"x").unwrap();
        for name in ["a", "b", "c"] {
            let sub = folder.subdir(name).unwrap();
            assert!(fs::symlink_metadata(sub.path()).unwrap().is_dir());
            assert!(sub.write_if_changed("index.json", b"{}").unwrap());
            assert_eq!(
                fs::read(dir.path().join(name).join("index.json")).unwrap(),
                b"{}"
            );
        }
        // Opening an existing one again keeps what it holds.
        let again = folder.subdir("c").unwrap();
        assert!(!again.write_if_changed("index.json", b"{}").unwrap());
    }

    #[test]
    fn a_failed_write_leaves_the_old_page_and_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let folder = Folder::open(dir.path()).unwrap();
        folder.write_if_changed("index.html", b"old").unwrap();
        // The page's name taken by a non-empty folder: the rename fails.
        fs::create_dir(dir.path().join("page")).unwrap();
        fs::write(dir.path().join("page/x"), b"x").unwrap();
        assert!(folder.write_if_changed("page", b"new").is_err());
        assert_eq!(fs::read(dir.path().join("index.html")).unwrap(), b"old");
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }
}
