//! Reading the wheels: each one's SHA-256 (streamed) and `METADATA` (capped), on as many
//! threads as asked, each taking the next wheel.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use sha2::{Digest, Sha256};

use super::scan::Job;
use super::{Check, Finding, Kind, Progress, Repair};
use crate::output::compare::METADATA_SUFFIX;
use crate::output::wheel::{MAX_METADATA, read_metadata};

/// Opens a file in the output for reading: a link is refused (`O_NOFOLLOW`), and a FIFO
/// put in a file's place does not block the open (`O_NONBLOCK`).
pub(super) fn open_plain(path: &Path) -> std::io::Result<File> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc_flags())
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    Ok(f)
}

fn libc_flags() -> i32 {
    (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32
}

/// The SHA-256 of a file, read in 1 MiB pieces; `progress` hears each.
fn sha256(path: &Path, progress: &dyn Progress) -> std::io::Result<(String, u64)> {
    let mut f = open_plain(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
        progress.advance(n as u64);
    }
    Ok((hex::encode(hasher.finalize()), total))
}

/// At most [`MAX_METADATA`] + 1 bytes of a file (more means too large).
fn read_capped(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut data = Vec::new();
    open_plain(path)?
        .take(MAX_METADATA + 1)
        .read_to_end(&mut data)?;
    Ok(data)
}

/// Reads every wheel of `jobs` for the checks asked, on `threads` threads. Returns what
/// was wrong and how many bytes were read.
pub(super) fn read_wheels(
    out: &Path,
    jobs: Vec<Job>,
    checks: &[Check],
    threads: usize,
    progress: &dyn Progress,
) -> (Vec<Finding>, u64) {
    let hashes = checks.contains(&Check::Hashes);
    let metadata = checks.contains(&Check::Metadata);
    if jobs.is_empty() || !(hashes || metadata) {
        return (Vec::new(), 0);
    }
    let total: u64 = if hashes {
        jobs.iter().map(|j| j.size).sum()
    } else {
        jobs.len() as u64
    };
    progress.phase(
        if hashes {
            "hashing wheels"
        } else {
            "reading wheels"
        },
        total,
    );
    let next = AtomicUsize::new(0);
    let bytes = AtomicU64::new(0);
    let findings = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads.max(1).min(jobs.len()) {
            s.spawn(|| {
                let mut mine = Vec::new();
                while let Some(job) = jobs.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let path = out.join(&job.dir).join(&job.wheel);
                    if hashes {
                        check_hash(job, &path, progress, &bytes, &mut mine);
                    }
                    if metadata {
                        check_metadata(out, job, &path, &mut mine);
                        if !hashes {
                            progress.advance(1);
                        }
                    }
                }
                findings
                    .lock()
                    .expect("no panics under the lock")
                    .extend(mine);
            });
        }
    });
    (
        findings.into_inner().expect("no panics under the lock"),
        bytes.into_inner(),
    )
}

fn check_hash(
    job: &Job,
    path: &Path,
    progress: &dyn Progress,
    bytes: &AtomicU64,
    f: &mut Vec<Finding>,
) {
    let raw = job.dir.join(&job.wheel);
    let requeue = Repair::Requeue {
        package: job.package.clone(),
        build_id: job.build_id,
    };
    let detail = match sha256(path, progress) {
        Ok((hash, n)) => {
            bytes.fetch_add(n, Ordering::Relaxed);
            if hash == job.hash {
                return;
            }
            format!(
                "SHA-256 {hash}, the database has {}; its build is done again",
                job.hash
            )
        }
        Err(e) => format!("cannot be read ({e}); its build is done again"),
    };
    f.push(
        Finding::new(Check::Hashes, Kind::HashMismatch, raw, detail, requeue)
            .package(&job.package)
            .build(job.build_id),
    );
}

fn check_metadata(out: &Path, job: &Job, path: &Path, f: &mut Vec<Finding>) {
    let Some(present) = job.metadata else {
        return; // something else is in its place: reported already
    };
    let meta_name = format!("{}{METADATA_SUFFIX}", job.wheel);
    let raw_meta = job.dir.join(&meta_name);
    let wanted = match read_metadata(&job.wheel, path) {
        Ok(data) => data,
        Err(refusal) => {
            let more = if present {
                ""
            } else {
                "; it has no metadata file, and none can be made"
            };
            f.push(
                Finding::new(
                    Check::Metadata,
                    Kind::WheelUnreadable,
                    job.dir.join(&job.wheel),
                    format!("its METADATA cannot be read: {}{more}", refusal.why),
                    Repair::None("the wheel itself is broken; if its hash is wrong too, its build is done again"),
                )
                .package(&job.package)
                .build(job.build_id),
            );
            return;
        }
    };
    let repair = Repair::WriteMetadata(job.wheel.clone());
    if !present {
        f.push(
            Finding::new(
                Check::Metadata,
                Kind::MetadataMissing,
                raw_meta,
                "the wheel's metadata file is missing".into(),
                repair,
            )
            .package(&job.package),
        );
        return;
    }
    let detail = match read_capped(&out.join(&raw_meta)) {
        Ok(data) if data == wanted => return,
        Ok(data) if data.len() as u64 > MAX_METADATA => {
            format!("larger than {MAX_METADATA} bytes; not the wheel's METADATA")
        }
        Ok(data) => format!(
            "{} bytes, not the wheel's METADATA ({} bytes)",
            data.len(),
            wanted.len()
        ),
        Err(e) => format!("cannot be read: {e}"),
    };
    f.push(
        Finding::new(
            Check::Metadata,
            Kind::MetadataMismatch,
            raw_meta,
            detail,
            repair,
        )
        .package(&job.package),
    );
}
