//! What the web-output tests share: a master's hub over a fresh SQLite database in a
//! temporary directory, real wheels (zip files with METADATA, WHEEL and RECORD) and their
//! publication the way FileJuggler does it (the wheel and `<wheel>.metadata` in
//! `simple/<package>/`, the build logged in the database).
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use piwheels_db::{Database, NewBuild, NewFile, Target};
use piwheels_master::MasterConfig;
use piwheels_master::hub::{Hub, Inboxes};
use sha2::{Digest, Sha256};

/// A hub over a fresh database, and its output directory.
pub struct Farm {
    pub hub: Hub,
    pub inboxes: Inboxes,
    pub out: PathBuf,
    pub dsn: String,
    pub dir: tempfile::TempDir,
}

/// A fresh database at `dsn`, with these targets enabled.
pub async fn database(dsn: &str, targets: &[&str]) -> Database {
    let db = Database::create(dsn).await.unwrap();
    let targets: Vec<Target> = targets.iter().map(|t| target(t)).collect();
    db.set_build_targets(&targets).await.unwrap();
    db
}

/// A farm with two armv7l targets; `configure` adjusts the configuration.
pub async fn farm(configure: impl FnOnce(&mut MasterConfig)) -> Farm {
    let dir = tempfile::tempdir().unwrap();
    let dsn = format!("sqlite:{}", dir.path().join("piwheels.db").display());
    let db = database(&dsn, &["cp39/linux_armv7l", "cp311/linux_armv7l"]).await;
    let out = dir.path().join("www");
    let mut config = MasterConfig::new(&dsn, &out);
    config.site_url = "https://wheels.example.test".into();
    config.upstream = Some("https://upstream.example.test/simple/".into());
    // A JSON API, so projects link to the index's own project pages (`UpstreamLink`).
    config.upstream_json = Some("https://upstream.example.test/pypi".into());
    config.web_listen = Some("127.0.0.1:0".parse().unwrap());
    configure(&mut config);
    let (hub, inboxes) = Hub::new(db, config);
    Farm {
        hub,
        inboxes,
        out,
        dsn,
        dir,
    }
}

/// A target from `"abi/platform"`.
pub fn target(s: &str) -> Target {
    let (abi, platform) = s.split_once('/').unwrap();
    Target::new(abi, platform)
}

/// A time `n` days after 2024-01-01.
pub fn day(n: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_704_067_200 + n * 86_400, 0).unwrap()
}

pub fn sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Base64 of RECORD lines: URL-safe, no padding (PEP 376/427).
fn b64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// A built wheel: its name, bytes and METADATA text.
pub struct Wheel {
    pub filename: String,
    pub bytes: Vec<u8>,
    pub metadata: String,
}

/// A pure-Python wheel of `dist` (the distribution name, e.g. `tiny_pkg`) at `version`,
/// with one module of the same name whose `VALUE` is the version.
pub fn make_wheel(dist: &str, version: &str, requires_python: Option<&str>) -> Wheel {
    let module = dist.replace('-', "_");
    let info = format!("{module}-{version}.dist-info");
    let mut metadata = format!(
        "Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\nSummary: A tiny test package\n"
    );
    if let Some(rp) = requires_python {
        metadata.push_str(&format!("Requires-Python: {rp}\n"));
    }
    metadata.push('\n');
    let files: Vec<(String, Vec<u8>)> = vec![
        (
            format!("{module}/__init__.py"),
            format!("VALUE = {version:?}\n").into_bytes(),
        ),
        (format!("{info}/METADATA"), metadata.clone().into_bytes()),
        (
            format!("{info}/WHEEL"),
            b"Wheel-Version: 1.0\nGenerator: piwheels-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
                .to_vec(),
        ),
    ];
    let mut record = String::new();
    for (name, data) in &files {
        let digest = Sha256::digest(data);
        record.push_str(&format!("{name},sha256={},{}\n", b64(&digest), data.len()));
    }
    record.push_str(&format!("{info}/RECORD,,\n"));
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    for (name, data) in files.iter().chain(std::iter::once(&(
        format!("{info}/RECORD"),
        record.into_bytes(),
    ))) {
        zip.start_file(name.as_str(), options).unwrap();
        zip.write_all(data).unwrap();
    }
    let bytes = zip.finish().unwrap().into_inner();
    Wheel {
        filename: format!("{module}-{version}-py3-none-any.whl"),
        bytes,
        metadata,
    }
}

/// The database record of a wheel.
pub fn new_file(w: &Wheel, requires_python: Option<&str>, deps: &[(&str, &str)]) -> NewFile {
    let stem = w.filename.strip_suffix(".whl").unwrap();
    let parts: Vec<&str> = stem.split('-').collect();
    let n = parts.len();
    let mut dependencies = BTreeMap::<String, BTreeSet<String>>::new();
    for (tool, dep) in deps {
        dependencies
            .entry(tool.to_string())
            .or_default()
            .insert(dep.to_string());
    }
    NewFile {
        filename: w.filename.clone(),
        filesize: w.bytes.len() as u64,
        filehash: sha256(&w.bytes),
        package_tag: parts[0].to_owned(),
        package_version_tag: parts[1].to_owned(),
        py_version_tag: parts[n - 3].to_owned(),
        abi_tag: parts[n - 2].to_owned(),
        platform_tag: parts[n - 1].to_owned(),
        requires_python: requires_python.map(str::to_owned),
        dependencies,
        location: "/simple".into(),
    }
}

/// Puts a wheel (and, with `metadata`, its `.metadata` file) where FileJuggler publishes
/// it.
pub fn place(out: &Path, package: &str, w: &Wheel, metadata: bool) {
    let dir = out.join("simple").join(package);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(&w.filename), &w.bytes).unwrap();
    if metadata {
        std::fs::write(dir.join(format!("{}.metadata", w.filename)), &w.metadata).unwrap();
    }
}

/// Logs a successful build of `files` on `target`; returns its id.
pub async fn log_build(
    db: &Database,
    package: &str,
    version: &str,
    target_: &str,
    files: Vec<NewFile>,
) -> i64 {
    db.log_build(&NewBuild {
        package: package.into(),
        version: version.into(),
        built_by: 1,
        target: target(target_),
        status: !files.is_empty(),
        duration: TimeDelta::seconds(30),
        built_at: None,
        files,
    })
    .await
    .unwrap()
}

/// Adds package `pkg` (described as `description`) with version 1.0 built for
/// cp311/linux_armv7l: one wheel, logged in the database, and returned.
pub async fn package_with_a_wheel(db: &Database, pkg: &str, description: &str) -> Wheel {
    db.add_new_package(pkg, "", description).await.unwrap();
    db.add_new_package_version(pkg, "1.0", Some(day(1)), "")
        .await
        .unwrap();
    let w = make_wheel(pkg, "1.0", None);
    log_build(
        db,
        pkg,
        "1.0",
        "cp311/linux_armv7l",
        vec![new_file(&w, None, &[])],
    )
    .await;
    w
}

/// Waits (up to 10 s) until `f` holds.
pub async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
