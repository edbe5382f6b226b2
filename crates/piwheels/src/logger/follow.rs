//! Following a log file as it grows, through log rotation, with butter's inotify.
//!
//! [`Follower`] watches the file's directory, so it hears of writes, renames and new files
//! at once (and looks again every [`RECHECK`] in case it missed something, on a network
//! filesystem for instance). Each line is handed out once:
//!
//! - **rename, then create** (logrotate's default, `mv access.log access.log.1` and the
//!   server reopens): the renamed file is read to its end, and kept open and read for
//!   [`RETIRE_AFTER`] more, since the server writes to it until it reopens its log; the new
//!   file is read from its start.
//! - **copytruncate**: the file is truncated in place. A follower cannot tell that from the
//!   size alone (the server may have written more than was read before the follower looks),
//!   so it also checks that the bytes just before where it stopped are still there; if
//!   not, it starts again from the beginning. (Lines written between logrotate's copy and
//!   its truncation are lost whatever reads the log: that is copytruncate's own window.)
//! - the file deleted, or not there yet: the follower waits for it to appear.

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use butter::EventSource;
use butter::inotify::{Inotify, Mask};

use super::input::{Line, LineSplitter};

/// How often the file is looked at when inotify says nothing.
pub const RECHECK: Duration = Duration::from_secs(1);

/// How long a rotated file is still read after the last line it gave.
pub const RETIRE_AFTER: Duration = Duration::from_secs(60);

/// How many bytes before the read position are checked for a truncation.
const CHECK_BYTES: usize = 256;

/// Why following failed.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// inotify could not be set up on the file's directory.
    #[error("cannot watch {dir}")]
    Watch {
        /// The directory.
        dir: PathBuf,
        /// butter's error (errno, call and hint).
        #[source]
        source: butter::Error,
    },
    /// Waiting for inotify's events failed.
    #[error("waiting for changes to {path}")]
    Wait {
        /// The file followed.
        path: PathBuf,
        /// butter's error.
        #[source]
        source: butter::Error,
    },
    /// Reading the file failed.
    #[error("reading {path}")]
    Read {
        /// The file followed.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

/// One open file being read.
#[derive(Debug)]
struct Tail {
    file: File,
    id: (u64, u64),
    offset: u64,
    /// The last bytes read (up to [`CHECK_BYTES`]), which must still be just before
    /// `offset` unless the file was truncated.
    last: Vec<u8>,
    splitter: LineSplitter,
    last_data: Instant,
}

impl Tail {
    fn open(path: &Path, from_end: bool) -> io::Result<Tail> {
        let file = File::open(path)?;
        let meta = file.metadata()?;
        let mut tail = Tail {
            id: (meta.dev(), meta.ino()),
            file,
            offset: 0,
            last: Vec::new(),
            splitter: LineSplitter::default(),
            last_data: Instant::now(),
        };
        if from_end {
            let size = meta.len();
            let keep = size.min(CHECK_BYTES as u64);
            let mut last = vec![0; keep as usize];
            tail.file.read_exact_at(&mut last, size - keep)?;
            tail.offset = size;
            tail.last = last;
        }
        Ok(tail)
    }

    /// Whether the file was truncated under us: shorter than where we are, or no longer
    /// holding what we read last just before it.
    fn truncated(&self) -> io::Result<bool> {
        let size = self.file.metadata()?.len();
        if size < self.offset {
            return Ok(true);
        }
        if self.last.is_empty() {
            return Ok(false);
        }
        let mut now = vec![0; self.last.len()];
        self.file
            .read_exact_at(&mut now, self.offset - self.last.len() as u64)?;
        Ok(now != self.last)
    }

    /// Reads what is new; returns how many bytes.
    fn read_new(&mut self, buf: &mut [u8], out: &mut dyn FnMut(Line<'_>)) -> io::Result<u64> {
        if self.truncated()? {
            tracing::info!("the log was truncated (copytruncate); reading it from its start");
            self.offset = 0;
            self.last.clear();
            self.splitter.reset();
        }
        let mut total = 0;
        loop {
            let n = match self.file.read_at(buf, self.offset) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let chunk = &buf[..n];
            self.splitter.push(chunk, out);
            self.offset += n as u64;
            total += n as u64;
            if n >= CHECK_BYTES {
                self.last.clear();
                self.last.extend_from_slice(&chunk[n - CHECK_BYTES..]);
            } else {
                self.last.extend_from_slice(chunk);
                let excess = self.last.len().saturating_sub(CHECK_BYTES);
                self.last.drain(..excess);
            }
        }
        if total > 0 {
            self.last_data = Instant::now();
        }
        Ok(total)
    }
}

/// Follows one log file through growth and rotation (see the module docs).
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    inotify: Inotify,
    current: Option<Tail>,
    retired: Vec<Tail>,
    buf: Vec<u8>,
}

impl Follower {
    /// Starts following `path`: from its start, or with `from_end` from its current end
    /// (the file need not exist yet; it is then read from its start when it appears).
    ///
    /// # Errors
    ///
    /// [`FollowError::Watch`] if the file's directory cannot be watched.
    pub fn new(path: &Path, from_end: bool) -> Result<Follower, FollowError> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let inotify = Inotify::new().map_err(|source| FollowError::Watch {
            dir: dir.clone(),
            source,
        })?;
        let mask = Mask::MODIFY
            | Mask::CREATE
            | Mask::MOVED_TO
            | Mask::MOVED_FROM
            | Mask::DELETE
            | Mask::CLOSE_WRITE
            | Mask::ATTRIB;
        inotify
            .add_watch(&dir, mask)
            .map_err(|source| FollowError::Watch {
                dir: dir.clone(),
                source,
            })?;
        // Opened after the watch is in place, so nothing written in between is missed.
        let current = match Tail::open(path, from_end) {
            Ok(tail) => Some(tail),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(FollowError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        Ok(Follower {
            path: path.to_path_buf(),
            inotify,
            current,
            retired: Vec::new(),
            buf: vec![0; 64 * 1024],
        })
    }

    /// Reads everything new in the followed file and in files rotated away, calling `out`
    /// for each line.
    ///
    /// # Errors
    ///
    /// [`FollowError::Read`] if a file cannot be read.
    pub fn step(&mut self, out: &mut dyn FnMut(Line<'_>)) -> Result<(), FollowError> {
        let read_err = |source| FollowError::Read {
            path: self.path.clone(),
            source,
        };
        if let Some(tail) = &mut self.current {
            tail.read_new(&mut self.buf, out).map_err(read_err)?;
        }
        // Has the name moved on to another file?
        let now_there = match std::fs::metadata(&self.path) {
            Ok(meta) => Some((meta.dev(), meta.ino())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(read_err(e)),
        };
        let moved = match (&self.current, now_there) {
            (Some(tail), Some(id)) => tail.id != id,
            (None, Some(_)) => true,
            (_, None) => false,
        };
        if moved {
            match Tail::open(&self.path, false) {
                Ok(mut tail) => {
                    if let Some(old) = self.current.take() {
                        tracing::info!("{} was rotated; reading the new file", self.path.display());
                        self.retired.push(old);
                    }
                    tail.read_new(&mut self.buf, out).map_err(read_err)?;
                    self.current = Some(tail);
                }
                // Gone again between the look and the open: next time.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(read_err(e)),
            }
        }
        for tail in &mut self.retired {
            tail.read_new(&mut self.buf, out).map_err(read_err)?;
        }
        let buf_path = &self.path;
        self.retired.retain_mut(|tail| {
            let keep = tail.last_data.elapsed() < RETIRE_AFTER;
            if !keep {
                tracing::debug!("done with a rotated {}", buf_path.display());
                tail.splitter.finish(out);
            }
            keep
        });
        Ok(())
    }

    /// Waits until inotify reports a change near the file, or `timeout` passes.
    ///
    /// # Errors
    ///
    /// [`FollowError::Wait`] if inotify fails.
    pub fn wait(&mut self, timeout: Duration) -> Result<(), FollowError> {
        let wait_err = |source| FollowError::Wait {
            path: self.path.clone(),
            source,
        };
        if self
            .inotify
            .wait(Some(timeout))
            .map_err(wait_err)?
            .is_some()
        {
            // Whatever else is queued is covered by the next step too.
            while self
                .inotify
                .wait(Some(Duration::ZERO))
                .map_err(wait_err)?
                .is_some()
            {}
        }
        Ok(())
    }

    /// Follows for ever (or until `out`'s caller stops the process, or `keep_going` says
    /// no): [`step`](Self::step), then [`wait`](Self::wait) for [`RECHECK`] at most.
    ///
    /// # Errors
    ///
    /// As [`step`](Self::step) and [`wait`](Self::wait).
    pub fn run(
        &mut self,
        out: &mut dyn FnMut(Line<'_>),
        keep_going: &mut dyn FnMut() -> bool,
    ) -> Result<(), FollowError> {
        while keep_going() {
            self.step(out)?;
            self.wait(RECHECK)?;
        }
        Ok(())
    }

    /// Whether the followed file is open now.
    pub fn is_open(&self) -> bool {
        self.current.is_some()
    }

    /// Reads what is left of every file and hands out their last partial lines too.
    ///
    /// # Errors
    ///
    /// As [`step`](Self::step).
    pub fn finish(&mut self, out: &mut dyn FnMut(Line<'_>)) -> Result<(), FollowError> {
        self.step(out)?;
        for tail in self.retired.iter_mut().chain(self.current.as_mut()) {
            tail.splitter.finish(out);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn collect(f: &mut Follower) -> Vec<String> {
        let mut got = Vec::new();
        f.step(&mut |l| match l {
            Line::Whole(b) => got.push(String::from_utf8(b.to_vec()).unwrap()),
            Line::TooLong => got.push("<too long>".into()),
        })
        .unwrap();
        got
    }

    fn append(path: &Path, text: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn growth_partial_lines_and_rename_then_create() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("access.log");
        let mut f = Follower::new(&log, false).unwrap();
        assert!(collect(&mut f).is_empty());
        append(&log, "a1\na2\npart");
        assert_eq!(collect(&mut f), ["a1", "a2"]);
        append(&log, "ial\n");
        assert_eq!(collect(&mut f), ["partial"]);
        // The server still writes to the renamed file until it reopens its log.
        let rotated = dir.path().join("access.log.1");
        std::fs::rename(&log, &rotated).unwrap();
        append(&rotated, "b1\n");
        assert_eq!(collect(&mut f), ["b1"]);
        append(&log, "c1\n");
        append(&rotated, "b2\n");
        let mut got = collect(&mut f);
        got.sort();
        assert_eq!(got, ["b2", "c1"]);
        append(&rotated, "b3\n");
        append(&log, "c2\n");
        let mut got = collect(&mut f);
        got.sort();
        assert_eq!(got, ["b3", "c2"]);
        assert!(collect(&mut f).is_empty());
    }

    #[test]
    fn copytruncate_even_when_more_was_written_since() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("access.log");
        append(&log, "old line 1\nold line 2\n");
        let mut f = Follower::new(&log, false).unwrap();
        assert_eq!(collect(&mut f), ["old line 1", "old line 2"]);
        // Truncated, then written past where the follower was, before it looks.
        std::fs::copy(&log, dir.path().join("access.log.1")).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&log)
            .unwrap()
            .set_len(0)
            .unwrap();
        append(
            &log,
            "new line number 1\nnew line number 2\nnew line number 3\n",
        );
        assert_eq!(
            collect(&mut f),
            [
                "new line number 1",
                "new line number 2",
                "new line number 3"
            ]
        );
        // Truncated to a shorter content.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&log)
            .unwrap()
            .set_len(0)
            .unwrap();
        append(&log, "x\n");
        assert_eq!(collect(&mut f), ["x"]);
    }

    #[test]
    fn from_the_end_and_a_file_that_appears_later() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("access.log");
        append(&log, "before\n");
        let mut f = Follower::new(&log, true).unwrap();
        assert!(collect(&mut f).is_empty());
        append(&log, "after\n");
        assert_eq!(collect(&mut f), ["after"]);
        let later = dir.path().join("later.log");
        let mut f = Follower::new(&later, true).unwrap();
        assert!(collect(&mut f).is_empty() && !f.is_open());
        append(&later, "first\n");
        // A file that appears is read from its start, whatever `from_end` says.
        assert_eq!(collect(&mut f), ["first"]);
        assert!(f.is_open());
    }
}
