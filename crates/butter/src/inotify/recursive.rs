//! A watcher for a whole directory tree.

use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Event, EventKind, InitFlags, Inotify, Mask, WatchEvent, Wd};
use crate::error::{Errno, Error, Result};
use crate::event::EventSource;

/// A change under a [`RecursiveWatcher`]'s root, by path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Change {
    /// The path of the entry the change is about.
    pub path: PathBuf,
    /// What happened.
    pub kind: EventKind,
    /// Whether the entry is a directory.
    pub is_dir: bool,
    /// The rename cookie for `MovedFrom`/`MovedTo`, else 0.
    pub cookie: u32,
    /// `true` when the watcher found the entry by scanning a new directory rather than
    /// being told by the kernel. Such a `Create` may repeat one the kernel also reports.
    pub scanned: bool,
}

/// An event of a [`RecursiveWatcher`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum TreeEvent {
    /// The kernel's queue overflowed and events were lost. The watcher has already re-walked
    /// the tree and watched any directory it missed; whatever mirrors the tree should be
    /// rescanned.
    Overflow,
    /// Something changed.
    Change(Change),
    /// A directory in the tree could not be watched (or scanned), so changes inside it
    /// are not reported. `ENOSPC` here means the watch limit
    /// (`fs.inotify.max_user_watches`).
    Unwatched {
        /// The directory.
        path: PathBuf,
        /// Why.
        error: Error,
    },
}

/// Watches a directory and every directory below it, including those created later.
///
/// When a directory appears (created, or moved in from outside), the watcher adds a watch
/// for it *and then* scans it, reporting what it finds as `Create` changes with
/// [`Change::scanned`] set — so nothing created in the moment before the watch existed is
/// missed, as with `mkdir -p a/b/c && touch a/b/c/f`. A directory renamed within the tree
/// keeps its watches under the new path; one moved out of the tree is unwatched; a watch
/// whose directory is deleted is forgotten when its `IN_IGNORED` arrives. Symbolic links are
/// not followed.
///
/// ```
/// use butter::inotify::{EventKind, Mask, RecursiveWatcher, TreeEvent};
/// use butter::EventSource;
/// use std::time::Duration;
///
/// let root = tempfile::tempdir().unwrap();
/// let mut watcher = RecursiveWatcher::new(root.path(), Mask::CREATE)?;
/// std::fs::create_dir_all(root.path().join("a/b/c")).unwrap();
/// std::fs::write(root.path().join("a/b/c/f"), b"").unwrap();
/// let mut seen = Vec::new();
/// while let Some(ev) = watcher.wait(Some(Duration::from_millis(200)))? {
///     if let TreeEvent::Change(c) = ev {
///         seen.push(c.path);
///     }
/// }
/// assert!(seen.contains(&root.path().join("a/b/c/f")));
/// # Ok::<(), butter::Error>(())
/// ```
#[derive(Debug)]
pub struct RecursiveWatcher {
    inotify: Inotify,
    root: PathBuf,
    /// The kinds the user asked for.
    report: Mask,
    /// The mask every directory is watched with.
    watch_mask: Mask,
    dirs: HashMap<Wd, PathBuf>,
    queue: VecDeque<TreeEvent>,
}

impl RecursiveWatcher {
    /// Watches `root` and every directory below it for the events of `mask`.
    ///
    /// Fails if `root` cannot be watched; a directory below it that cannot be is reported as
    /// [`TreeEvent::Unwatched`].
    pub fn new(root: impl AsRef<Path>, mask: Mask) -> Result<RecursiveWatcher> {
        RecursiveWatcher::with_flags(root, mask, InitFlags::empty())
    }

    /// As [`new`](Self::new), with the instance's `flags` (`NONBLOCK`).
    pub fn with_flags(
        root: impl AsRef<Path>,
        mask: Mask,
        flags: InitFlags,
    ) -> Result<RecursiveWatcher> {
        let root = root.as_ref().to_path_buf();
        let report = mask & Mask::ALL_EVENTS;
        let watch_mask = report
            | Mask::CREATE
            | Mask::MOVED_FROM
            | Mask::MOVED_TO
            | Mask::ONLYDIR
            | Mask::DONT_FOLLOW
            | (mask & Mask::EXCL_UNLINK);
        let inotify = Inotify::with_flags(flags)?;
        let wd = inotify.add_watch(&root, watch_mask)?;
        let mut watcher = RecursiveWatcher {
            inotify,
            root: root.clone(),
            report,
            watch_mask,
            dirs: HashMap::from([(wd, root.clone())]),
            queue: VecDeque::new(),
        };
        watcher.scan(&root, false);
        Ok(watcher)
    }

    /// The root of the tree.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directories watched now.
    pub fn watched_dirs(&self) -> impl Iterator<Item = &Path> {
        self.dirs.values().map(PathBuf::as_path)
    }

    /// The directory a watch descriptor stands for.
    pub fn path_of(&self, wd: Wd) -> Option<&Path> {
        self.dirs.get(&wd).map(PathBuf::as_path)
    }

    /// Walks the tree again and watches any directory not watched yet (the watcher does this
    /// itself after an overflow). Returns how many were added.
    pub fn rescan(&mut self) -> usize {
        let before = self.dirs.len();
        let root = self.root.clone();
        self.scan(&root, false);
        self.dirs.len().saturating_sub(before)
    }

    /// Watches `top` and every directory below it; with `report`, reports each entry found
    /// as a scanned `Create`.
    fn scan(&mut self, top: &Path, report: bool) {
        let mut stack = vec![top.to_path_buf()];
        while let Some(dir) = stack.pop() {
            // Adding a watch for a directory watched already returns its descriptor again.
            match self.inotify.add_watch(&dir, self.watch_mask) {
                Ok(wd) => {
                    self.dirs.insert(wd, dir.clone());
                }
                // Gone (or replaced by a non-directory) before we got to it: its deletion
                // is reported by its parent's watch.
                Err(e) if matches!(e.errno(), Errno::ENOENT | Errno::ENOTDIR) => continue,
                Err(error) => {
                    self.queue
                        .push_back(TreeEvent::Unwatched { path: dir, error });
                    continue;
                }
            }
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    let error = Error::from_io("opendir", &e).with_path(&dir);
                    self.queue
                        .push_back(TreeEvent::Unwatched { path: dir, error });
                    continue;
                }
            };
            for entry in entries.flatten() {
                let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                let path = entry.path();
                if report {
                    self.push(EventKind::Create, path.clone(), is_dir, 0, true);
                }
                if is_dir {
                    stack.push(path);
                }
            }
        }
    }

    fn push(&mut self, kind: EventKind, path: PathBuf, is_dir: bool, cookie: u32, scanned: bool) {
        if self.report.contains(kind.mask()) && kind != EventKind::Unknown {
            self.queue.push_back(TreeEvent::Change(Change {
                path,
                kind,
                is_dir,
                cookie,
                scanned,
            }));
        }
    }

    /// Renames the watched directories at and under `from` to be under `to`.
    fn rename_tree(&mut self, from: &Path, to: &Path) {
        for path in self.dirs.values_mut() {
            if let Ok(rest) = path.strip_prefix(from) {
                *path = if rest.as_os_str().is_empty() {
                    to.to_path_buf()
                } else {
                    to.join(rest)
                };
            }
        }
    }

    /// Stops watching `dir` and everything under it (it left the tree).
    fn forget_tree(&mut self, dir: &Path) {
        let gone: Vec<Wd> = self
            .dirs
            .iter()
            .filter(|(_, p)| p.starts_with(dir))
            .map(|(wd, _)| *wd)
            .collect();
        for wd in gone {
            self.dirs.remove(&wd);
            // Its IN_IGNORED will find no entry and be dropped; a failure means the watch
            // is already gone.
            let _ = self.inotify.rm_watch(wd);
        }
    }

    fn handle(&mut self, ev: WatchEvent, moved_dirs: &mut HashMap<u32, PathBuf>) {
        let kind = ev.kind();
        if kind == EventKind::Ignored {
            self.dirs.remove(&ev.wd);
            return;
        }
        // Events of a watch we already dropped (its directory left the tree).
        let Some(dir) = self.dirs.get(&ev.wd) else {
            return;
        };
        let path = match &ev.name {
            Some(name) => dir.join(name.as_os_str()),
            None => dir.clone(),
        };
        let is_dir = ev.is_dir();
        self.push(kind, path.clone(), is_dir, ev.cookie, false);
        if !is_dir {
            return;
        }
        match kind {
            EventKind::Create => self.scan(&path, true),
            EventKind::MovedFrom => {
                moved_dirs.insert(ev.cookie, path);
            }
            EventKind::MovedTo => match moved_dirs.remove(&ev.cookie) {
                Some(from) => self.rename_tree(&from, &path),
                None => self.scan(&path, true),
            },
            _ => {}
        }
    }
}

impl EventSource for RecursiveWatcher {
    type Event = TreeEvent;

    /// Reads a batch from the kernel and turns it into tree events. May add none (a batch
    /// of bookkeeping events such as `IN_IGNORED`).
    fn fill(&mut self) -> Result<()> {
        let mut batch = self.inotify.read_events()?;
        let mut moved_dirs = HashMap::new();
        loop {
            for ev in batch {
                match ev {
                    Event::Overflow => {
                        self.rescan();
                        self.queue.push_back(TreeEvent::Overflow);
                    }
                    Event::Watch(w) => self.handle(w, &mut moved_dirs),
                }
            }
            // The second half of a directory rename may have been queued just after this
            // batch was read: take it before deciding that the directory left the tree.
            if moved_dirs.is_empty()
                || !crate::poll_readable(self.inotify.as_fd(), Some(Duration::ZERO))?
            {
                break;
            }
            batch = self.inotify.read_events()?;
        }
        for (_, dir) in moved_dirs {
            self.forget_tree(&dir);
        }
        Ok(())
    }

    fn queue(&mut self) -> &mut VecDeque<TreeEvent> {
        &mut self.queue
    }
}

impl AsFd for RecursiveWatcher {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inotify.as_fd()
    }
}

impl std::os::fd::AsRawFd for RecursiveWatcher {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.inotify.as_raw_fd()
    }
}

// SAFETY: the descriptor is the private `Inotify`'s, which is never replaced.
#[cfg(feature = "tokio")]
unsafe impl crate::OwnsFd for RecursiveWatcher {}

/// A [`RecursiveWatcher`] for async code: a `Stream` of tree events.
#[cfg(feature = "tokio")]
pub type AsyncRecursiveWatcher = crate::Async<RecursiveWatcher>;

#[cfg(feature = "tokio")]
impl crate::Async<RecursiveWatcher> {
    /// See [`RecursiveWatcher::rescan`].
    pub fn rescan(&mut self) -> usize {
        self.inner_mut().rescan()
    }
}
