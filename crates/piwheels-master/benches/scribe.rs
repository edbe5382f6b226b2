//! How fast TheScribe rewrites every package's pages: a SQLite database of 10,000
//! packages × 3 versions with one wheel each (and its PEP 658 metadata file on disk; every
//! tenth package with an alias), then `BOTH` for every package, which writes the simple page
//! (HTML and JSON), the project page and the project JSON of each, and the alias symlinks.
//!
//! ```text
//! cargo bench -p piwheels-master --bench scribe [-- --packages N --versions N --runs N]
//! ```
//!
//! With `SCRIBE_BENCH_DB=1` it first times the database reads alone (each package's
//! project data and aliases, as the scribe reads them). `TMPDIR` chooses where the database
//! and the output go (a tmpfs such as `/dev/shm` takes the filesystem out of the figures).
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

async fn populate(db: &Database, out: &std::path::Path, packages: usize, versions: usize) {
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
        let dir = out.join("simple").join(&pkg);
        std::fs::create_dir_all(&dir).unwrap();
        for k in 0..versions {
            let version = format!("1.{k}");
            let released = epoch + TimeDelta::days(k as i64);
            db.add_new_package_version(&pkg, &version, Some(released), "")
                .await
                .unwrap();
            let file = wheel(&pkg, &version);
            std::fs::write(
                dir.join(format!("{}.metadata", file.filename)),
                format!("Metadata-Version: 2.1\nName: {pkg}\nVersion: {version}\n\n"),
            )
            .unwrap();
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

fn main() {
    let packages = arg("--packages", 10_000);
    let versions = arg("--versions", 3);
    let runs = arg("--runs", 3).max(1);
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
        let out = dir.path().join("www");
        // The scribe prepares the output folder at start-up, before any wheel is published
        // in it, as the master's does.
        let mut config = MasterConfig::new(&dsn, &out);
        config.site_url = "https://wheels.example.test".into();
        let (hub, _inboxes) = Hub::new(db.clone(), config);
        let mut scribe = TheScribe::new(hub, tokio::sync::mpsc::unbounded_channel().1).unwrap();
        let t = Instant::now();
        populate(&db, &out, packages, versions).await;
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
        scribe.load().await.unwrap();
        let wheels = (packages * versions) as f64;
        let pages = (packages * 4) as f64;
        let report = |what: &str, took: Duration| {
            let secs = took.as_secs_f64();
            println!(
                "{what}: {secs:.3} s = {:.0} wheels/s, {:.0} page files/s, {:.0} packages/s \
                 ({:.0}x the original's {:.0} files/s)",
                wheels / secs,
                pages / secs,
                packages as f64 / secs,
                (wheels / secs) / (ORIGINAL_FILES / ORIGINAL_SECONDS),
                ORIGINAL_FILES / ORIGINAL_SECONDS,
            );
        };
        let all = || -> Vec<WebRequest> {
            (0..packages)
                .map(|i| WebRequest::Both(format!("pkg-{i:05}")))
                .collect()
        };
        println!(
            "BOTH for {packages} packages: {} wheels listed, {} page files (simple HTML + JSON, \
             project HTML + JSON) and {} alias symlinks",
            packages * versions,
            packages * 4,
            packages.div_ceil(10)
        );
        let t = Instant::now();
        let errors = scribe.handle_batch(all()).await;
        assert!(errors.is_empty(), "{errors:?}");
        report("fresh output (every page created)", t.elapsed());

        let mut times: Vec<Duration> = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            let errors = scribe.handle_batch(all()).await;
            assert!(errors.is_empty(), "{errors:?}");
            times.push(t.elapsed());
        }
        times.sort();
        report(
            &format!("rewrite, nothing changed (median of {runs})"),
            times[times.len() / 2],
        );

        // Every page changes: new descriptions (project pages) and new metadata files
        // (simple pages' hashes).
        for i in 0..packages {
            let pkg = format!("pkg-{i:05}");
            db.set_package_description(&pkg, &format!("Package number {i}, revised"))
                .await
                .unwrap();
            for k in 0..versions {
                let file = wheel(&pkg, &format!("1.{k}"));
                std::fs::write(
                    out.join("simple")
                        .join(&pkg)
                        .join(format!("{}.metadata", file.filename)),
                    format!(
                        "Metadata-Version: 2.1\nName: {pkg}\nVersion: 1.{k}\nSummary: revised\n\n"
                    ),
                )
                .unwrap();
            }
        }
        let t = Instant::now();
        let errors = scribe.handle_batch(all()).await;
        assert!(errors.is_empty(), "{errors:?}");
        report("rewrite, every page changed", t.elapsed());
        let page = std::fs::read_to_string(out.join("project/pkg-00001/index.html")).unwrap();
        assert!(page.contains("revised"));

        // A sample of what was written, checked.
        let sample = out.join("simple/pkg-00000/index.html");
        let html = std::fs::read_to_string(&sample).unwrap();
        assert_eq!(html.matches("data-core-metadata").count(), versions);
    });
}
