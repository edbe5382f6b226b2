//! How fast TheScribe rewrites every package's pages: a SQLite database of 10,000
//! packages × 3 versions with one wheel each (and its PEP 658 metadata file on disk; every
//! tenth package with an alias), then `BOTH` for every package, which writes the simple page
//! (HTML and JSON), the project page and the project JSON of each, and the alias symlinks.
//!
//! ```text
//! cargo bench -p piwheels-master --bench scribe [-- --packages N --versions N --runs N --parallel N]
//! ```
//!
//! Each case runs twice in the same run, alternating, into two output folders: the
//! baseline (pages written by path, one call at a time, and 4 chunks in flight: the write
//! path before `output/folder.rs`) and ours (`--parallel` chunks in flight, 4 by default),
//! with the ratio beside them, so the figures compare on a machine whose speed drifts.
//!
//! With `SCRIBE_BENCH_DB=1` it first times the database reads alone (each package's
//! project data and aliases, as the scribe reads them). `TMPDIR` chooses where the database
//! and the output go (a tmpfs such as `/dev/shm` takes the filesystem out of the figures).
//!
//! Beside them it times the disk's floor ([`floor`]): the fewest system calls that make the
//! same folders and files atomically (no database, no rendering, no comparing), on one
//! thread per core. Ours can only come near it; the floor says what the disk allows.
//!
//! The original piwheels took 65 s to rewrite the pages of 30,000 files (about 460 files
//! a second).

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use piwheels_db::{Database, NewBuild, NewFile, Target};
use piwheels_master::MasterConfig;
use piwheels_master::hub::{Hub, WebRequest};
use piwheels_master::the_scribe::TheScribe;

/// The original's figure: 65 s for 30,000 files.
const ORIGINAL_SECONDS: f64 = 65.0;
const ORIGINAL_FILES: f64 = 30_000.0;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

fn wheel(pkg: &str, version: &str) -> NewFile {
    let filename = format!("{}-{version}-py3-none-any.whl", pkg.replace('-', "_"));
    let filehash = format!(
        "{:064x}",
        filename.len() as u128 * 0x9e37_79b9_7f4a_7c15 + 1
    );
    NewFile {
        filename,
        filesize: 12_345,
        filehash,
        package_tag: pkg.replace('-', "_"),
        package_version_tag: version.into(),
        py_version_tag: "py3".into(),
        abi_tag: "none".into(),
        platform_tag: "any".into(),
        requires_python: Some(">=3.7".into()),
        dependencies: [("pip".to_string(), ["requests".to_string()].into())].into(),
        location: "/simple".into(),
    }
}

async fn populate(db: &Database, outs: &[&std::path::Path], packages: usize, versions: usize) {
    let epoch = DateTime::<Utc>::from_timestamp(1_600_000_000, 0).unwrap();
    for i in 0..packages {
        let pkg = format!("pkg-{i:05}");
        db.add_new_package(&pkg, "", &format!("Package number {i}"))
            .await
            .unwrap();
        if i % 10 == 0 {
            db.add_package_name(&pkg, &format!("Pkg_{i:05}"), Some(epoch))
                .await
                .unwrap();
        }
        for out in outs {
            std::fs::create_dir_all(out.join("simple").join(&pkg)).unwrap();
        }
        for k in 0..versions {
            let version = format!("1.{k}");
            let released = epoch + TimeDelta::days(k as i64);
            db.add_new_package_version(&pkg, &version, Some(released), "")
                .await
                .unwrap();
            let file = wheel(&pkg, &version);
            for out in outs {
                std::fs::write(
                    out.join("simple")
                        .join(&pkg)
                        .join(format!("{}.metadata", file.filename)),
                    format!("Metadata-Version: 2.1\nName: {pkg}\nVersion: {version}\n\n"),
                )
                .unwrap();
            }
            db.log_build(&NewBuild {
                package: pkg.clone(),
                version,
                built_by: 1,
                target: Target::new("cp311", "linux_armv7l"),
                status: true,
                duration: TimeDelta::seconds(20),
                built_at: None,
                files: vec![file],
            })
            .await
            .unwrap();
        }
    }
}

/// The disk's floor: the same output made with the fewest system calls that keep every
/// page atomic (a reader sees a whole page or none), on one thread per core, with the
/// pages' bytes already in memory. A fresh output: per package `mkdir project/<pkg>` and
/// `project/<pkg>/json`, then each of its four pages written to an unnamed file
/// (`O_TMPFILE`) and linked in. Every page changed: each page written to a new temporary
/// file and renamed over the old one.
mod floor {
    use std::io::Write;
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    use rustix::fs::{AtFlags, Mode, OFlags};

    /// The four pages of each package: (folder relative to the output, name, bytes).
    pub type Pages = Vec<[(String, &'static str, Vec<u8>); 4]>;

    /// Reads the four pages of each of `packages` packages from the output `out`.
    pub fn read(out: &Path, packages: usize) -> Pages {
        (0..packages)
            .map(|i| {
                let pkg = format!("pkg-{i:05}");
                [
                    (format!("simple/{pkg}"), "index.html"),
                    (format!("simple/{pkg}"), "index.json"),
                    (format!("project/{pkg}"), "index.html"),
                    (format!("project/{pkg}/json"), "index.json"),
                ]
                .map(|(dir, name)| {
                    let bytes = std::fs::read(out.join(&dir).join(name)).unwrap();
                    (dir, name, bytes)
                })
            })
            .collect()
    }

    fn dir(root: &Path, rel: &str) -> rustix::fd::OwnedFd {
        rustix::fs::open(
            root.join(rel),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap()
    }

    /// Runs `each` for every package, packages shared round-robin among one thread per core.
    fn on_all_cores(pages: &Pages, each: impl Fn(usize) + Sync) -> Duration {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let t = Instant::now();
        std::thread::scope(|s| {
            for k in 0..threads {
                let each = &each;
                s.spawn(move || {
                    for i in (k..pages.len()).step_by(threads) {
                        each(i);
                    }
                });
            }
        });
        t.elapsed()
    }

    /// Makes a fresh output under `root` (whose `simple/<pkg>` folders exist, as the
    /// master's do before any page is written). How long it took.
    pub fn fresh(root: &Path, pages: &Pages) -> Duration {
        std::fs::create_dir_all(root.join("project")).unwrap();
        on_all_cores(pages, |i| {
            let project = format!("project/pkg-{i:05}");
            rustix::fs::mkdir(root.join(&project), Mode::from_raw_mode(0o755)).unwrap();
            rustix::fs::mkdir(root.join(&project).join("json"), Mode::from_raw_mode(0o755))
                .unwrap();
            let mut open: Option<(&str, rustix::fd::OwnedFd)> = None;
            for (rel, name, bytes) in &pages[i] {
                if open.as_ref().is_none_or(|(r, _)| r != rel) {
                    open = Some((rel.as_str(), dir(root, rel)));
                }
                let d = &open.as_ref().unwrap().1;
                let fd = rustix::fs::openat(
                    d,
                    ".",
                    OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o644),
                )
                .unwrap();
                let mut f = std::fs::File::from(fd);
                f.write_all(bytes).unwrap();
                rustix::fs::linkat(&f, "", d, *name, AtFlags::EMPTY_PATH).unwrap();
            }
        })
    }

    /// Replaces every page under `root` with its bytes and `suffix` (a temporary file
    /// renamed over each). How long it took.
    pub fn replace(root: &Path, pages: &Pages, suffix: &[u8]) -> Duration {
        on_all_cores(pages, |i| {
            let mut open: Option<(&str, rustix::fd::OwnedFd)> = None;
            for (rel, name, bytes) in &pages[i] {
                if open.as_ref().is_none_or(|(r, _)| r != rel) {
                    open = Some((rel.as_str(), dir(root, rel)));
                }
                let d = &open.as_ref().unwrap().1;
                let temp = format!(".{name}.tmp");
                let fd = rustix::fs::openat(
                    d,
                    temp.as_str(),
                    OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o644),
                )
                .unwrap();
                let mut f = std::fs::File::from(fd);
                f.write_all(bytes).unwrap();
                f.write_all(suffix).unwrap();
                drop(f);
                rustix::fs::renameat(d, temp.as_str(), d, *name).unwrap();
            }
        })
    }

    /// The floor's output folder beside the others, with its `simple/<pkg>` folders; as
    /// the master's, `simple/` and `project/` carry ext4's hint to spread the folders made
    /// in them over the disk (`chattr +T`).
    pub fn prepare(dir: &Path, packages: usize) -> PathBuf {
        let root = dir.join("www-floor");
        for sub in ["simple", "project"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
            let fd = rustix::fs::open(
                root.join(sub),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .unwrap();
            if let Ok(flags) = rustix::fs::ioctl_getflags(&fd) {
                let _ = rustix::fs::ioctl_setflags(&fd, flags | rustix::fs::IFlags::TOPDIR);
            }
        }
        for i in 0..packages {
            std::fs::create_dir_all(root.join("simple").join(format!("pkg-{i:05}"))).unwrap();
        }
        root
    }
}

/// The two ways of writing compared: (label, legacy page writes, chunks in flight).
fn modes(parallel: usize) -> [(&'static str, bool, usize); 2] {
    [("baseline", true, 4), ("ours", false, parallel)]
}

fn main() {
    let packages = arg("--packages", 10_000);
    let versions = arg("--versions", 3);
    let runs = arg("--runs", 3).max(1);
    let parallel = arg("--parallel", 4).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let dsn = format!("sqlite:{}", dir.path().join("piwheels.db").display());
        let db = Database::create(&dsn).await.unwrap();
        db.set_build_targets(&[Target::new("cp311", "linux_armv7l")])
            .await
            .unwrap();
        // The fresh case runs twice, alternating, so two more folders (ours, then the
        // baseline's) take its second round.
        let outs = [
            dir.path().join("www-baseline"),
            dir.path().join("www-ours"),
            dir.path().join("www-ours-2"),
            dir.path().join("www-baseline-2"),
        ];
        // Each scribe prepares its output folder at start-up, before any wheel is
        // published in it, as the master's does.
        let mut scribes: Vec<TheScribe> = modes(parallel)
            .iter()
            .chain(modes(parallel).iter().rev())
            .zip(&outs)
            .map(|(&(_, legacy, chunks), out)| {
                let mut config = MasterConfig::new(&dsn, out);
                config.site_url = "https://wheels.example.test".into();
                let (hub, _inboxes) = Hub::new(db.clone(), config);
                hub.output.set_legacy_pages(legacy);
                let mut scribe =
                    TheScribe::new(hub, tokio::sync::mpsc::unbounded_channel().1).unwrap();
                scribe.set_parallel(chunks);
                scribe
            })
            .collect();
        let t = Instant::now();
        let out_refs: Vec<&std::path::Path> = outs.iter().map(|p| p.as_path()).collect();
        populate(&db, &out_refs, packages, versions).await;
        println!(
            "populated {packages} packages x {versions} versions ({} wheels) in {:.1} s",
            packages * versions,
            t.elapsed().as_secs_f64()
        );
        if std::env::var_os("SCRIBE_BENCH_DB").is_some() {
            use futures_util::StreamExt;
            let t = Instant::now();
            let n: usize = futures_util::stream::iter(0..packages)
                .map(|i| {
                    let db = db.clone();
                    async move {
                        let p = format!("pkg-{i:05}");
                        let d = db.project_data(&p).await.unwrap().unwrap();
                        db.package_aliases(&p).await.unwrap();
                        d.releases.len()
                    }
                })
                .buffer_unordered(8)
                .fold(0, |a, b| async move { a + b })
                .await;
            println!(
                "database reads alone: {:.3} s ({n} releases)",
                t.elapsed().as_secs_f64()
            );
        }
        for scribe in &mut scribes {
            scribe.load().await.unwrap();
        }
        let wheels = (packages * versions) as f64;
        let pages = (packages * 4) as f64;
        let report = |what: &str, took: [Duration; 2]| {
            println!("{what}:");
            for ((label, _, chunks), took) in modes(parallel).iter().zip(took) {
                let secs = took.as_secs_f64();
                println!(
                    "  {label:>8} ({chunks} chunks in flight): {secs:.3} s = {:.0} wheels/s, \
                     {:.0} page files/s ({:.0}x the original's {:.0} files/s)",
                    wheels / secs,
                    pages / secs,
                    (wheels / secs) / (ORIGINAL_FILES / ORIGINAL_SECONDS),
                    ORIGINAL_FILES / ORIGINAL_SECONDS,
                );
            }
            println!(
                "  ours / baseline: {:.2}",
                took[1].as_secs_f64() / took[0].as_secs_f64()
            );
        };
        let floor_line = |took: Duration, ours: Duration| {
            println!(
                "     floor (one thread a core, no database): {:.3} s = {:.0} page files/s; \
                 ours / floor: {:.2}",
                took.as_secs_f64(),
                pages / took.as_secs_f64(),
                ours.as_secs_f64() / took.as_secs_f64()
            );
        };
        let all = || -> Vec<WebRequest> {
            (0..packages)
                .map(|i| WebRequest::Both(format!("pkg-{i:05}")))
                .collect()
        };
        println!(
            "BOTH for {packages} packages: {} wheels listed, {} page files (simple HTML + JSON, \
             project HTML + JSON) and {} alias symlinks; output under {}",
            packages * versions,
            packages * 4,
            packages.div_ceil(10),
            dir.path().display()
        );
        // Each case runs once per mode, alternating (the baseline first, then ours).
        async fn timed(scribe: &mut TheScribe, reqs: Vec<WebRequest>) -> Duration {
            let t = Instant::now();
            let errors = scribe.handle_batch(reqs).await;
            assert!(errors.is_empty(), "{errors:?}");
            t.elapsed()
        }
        let mut fresh = [Duration::ZERO; 2];
        for (i, scribe) in scribes.iter_mut().enumerate() {
            // Folders 0 and 3 are the baseline's, 1 and 2 ours.
            fresh[usize::from(i == 1 || i == 2)] += timed(scribe, all()).await / 2;
        }
        let mut scribes: Vec<TheScribe> = scribes.into_iter().take(2).collect();
        report("fresh output (every page created; mean of 2, alternating)", fresh);
        let floor_pages = floor::read(&outs[1], packages);
        let floor_root = floor::prepare(dir.path(), packages);
        floor_line(floor::fresh(&floor_root, &floor_pages), fresh[1]);

        let mut times: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
        for run in 0..runs {
            // Alternate which goes first.
            for k in 0..2 {
                let i = (k + run) % 2;
                times[i].push(timed(&mut scribes[i], all()).await);
            }
        }
        let median = |mut v: Vec<Duration>| {
            v.sort();
            v[v.len() / 2]
        };
        let [a, b] = times;
        report(
            &format!("rewrite, nothing changed (median of {runs})"),
            [median(a), median(b)],
        );

        // Every page changes: new descriptions (project pages) and new metadata files
        // (simple pages' hashes); twice, the baseline first and then ours first (the
        // second to run meets the first's write-out and freed inodes), the mean reported.
        let mut changed = [Duration::ZERO; 2];
        let mut floor_changed = Duration::ZERO;
        for round in 0..2 {
            for i in 0..packages {
                let pkg = format!("pkg-{i:05}");
                db.set_package_description(&pkg, &format!("Package number {i}, revised {round}"))
                    .await
                    .unwrap();
                for k in 0..versions {
                    let file = wheel(&pkg, &format!("1.{k}"));
                    for out in &outs[..2] {
                        std::fs::write(
                            out.join("simple")
                                .join(&pkg)
                                .join(format!("{}.metadata", file.filename)),
                            format!(
                                "Metadata-Version: 2.1\nName: {pkg}\nVersion: 1.{k}\nSummary: revised {round}\n\n"
                            ),
                        )
                        .unwrap();
                    }
                }
            }
            // The floor runs last in the first round and first in the second, so it meets
            // the others' freed inodes as often as they meet its own.
            if round == 1 {
                floor_changed += floor::replace(&floor_root, &floor_pages, b"1") / 2;
            }
            for k in 0..2 {
                let i = (k + round) % 2;
                changed[i] += timed(&mut scribes[i], all()).await / 2;
            }
            if round == 0 {
                floor_changed += floor::replace(&floor_root, &floor_pages, b"0") / 2;
            }
        }
        report("rewrite, every page changed (mean of 2, alternating)", changed);
        floor_line(floor_changed, changed[1]);

        // Both outputs hold the same pages, and the change shows.
        for rel in [
            "project/pkg-00001/index.html",
            "project/pkg-00001/json/index.json",
            "simple/pkg-00001/index.html",
            "simple/pkg-00001/index.json",
        ] {
            let [a, b] = [0, 1].map(|i| std::fs::read(outs[i].join(rel)).unwrap());
            assert_eq!(a, b, "{rel} differs between the two write paths");
        }
        let page = std::fs::read_to_string(outs[1].join("project/pkg-00001/index.html")).unwrap();
        assert!(page.contains("revised"));
        let html = std::fs::read_to_string(outs[1].join("simple/pkg-00000/index.html")).unwrap();
        assert_eq!(html.matches("data-core-metadata").count(), versions);
    });
}
