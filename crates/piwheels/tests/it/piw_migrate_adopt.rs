//! Switching a 0.23 farm over whole (issue 20): its database is migrated with
//! `piw-migrate`, and our master is started on the result with the original's output
//! folder. It serves the wheels already there without copying them, writes their
//! `.metadata` files and its own pages (PEP 691 JSON included), queues again the build
//! whose wheel is missing, and pip installs a migrated wheel from it.

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::time::Duration;

use piwheels_db::Database;
use sha2::{Digest, Sha256};

use super::migrate_source;
use super::support::*;

const LIMIT: Duration = Duration::from_secs(120);

/// A pure wheel of `name` `version` whose module says `version`: its bytes.
fn wheel(name: &str, version: &str) -> Vec<u8> {
    let info = format!("{name}-{version}.dist-info");
    let files: Vec<(String, String)> = vec![
        (format!("{name}/__init__.py"), format!("VERSION = {version:?}\n")),
        (
            format!("{info}/METADATA"),
            format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: migrated\n"),
        ),
        (
            format!("{info}/WHEEL"),
            "Wheel-Version: 1.0\nGenerator: piw-migrate-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
                .to_owned(),
        ),
    ];
    let mut record = String::new();
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default();
        for (path, body) in &files {
            zip.start_file(path.as_str(), opts).unwrap();
            zip.write_all(body.as_bytes()).unwrap();
            record.push_str(&format!("{path},,\n"));
        }
        record.push_str(&format!("{info}/RECORD,,\n"));
        zip.start_file(format!("{info}/RECORD"), opts).unwrap();
        zip.write_all(record.as_bytes()).unwrap();
        zip.finish().unwrap();
    }
    buf.into_inner()
}

/// A 0.23 page, as the original wrote it.
fn old_page(title: &str, links: &[&str]) -> String {
    let links: String = links
        .iter()
        .map(|l| format!("<a href=\"{l}\">{l}</a><br>\n"))
        .collect();
    format!(
        "<!DOCTYPE html>\n<html><head><title>{title}</title></head><body>\n{links}</body></html>\n<!-- 2024-01-01T00:00:00 -->\n"
    )
}

#[test]
fn a_migrated_farm_serves_its_old_wheels_and_writes_its_own_pages() {
    let test = "piw_migrate_adopt::a_migrated_farm_serves_its_old_wheels_and_writes_its_own_pages";
    let Some(super_dsn) = migrate_source::pg_or_skip(test) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let Some(upstream) = upstream_with(test, work.path(), &[("oldpkg", "1.0", false)]) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let target = python_target();
    let (abi, platform) = target.split_once('/').unwrap();

    // The original's database: one package, a version whose wheel is on disk and one
    // whose wheel was lost.
    let present = "oldpkg-1.0-py3-none-any.whl";
    let lost = "oldpkg-2.0-py3-none-any.whl";
    let bytes = wheel("oldpkg", "1.0");
    let hash = hex::encode(Sha256::digest(&bytes));
    let (src, _guard) = rt.block_on(migrate_source::create(&super_dsn)).unwrap();
    rt.block_on(async {
        let c = migrate_source::connect(&src).await.unwrap();
        c.batch_execute(&format!(
            "INSERT INTO build_abis (abi_tag) VALUES ('{abi}');
             INSERT INTO packages (package, description) VALUES ('oldpkg', 'A migrated package');
             INSERT INTO package_names (package, name, seen) VALUES
                 ('oldpkg', 'oldpkg', '1970-01-01'), ('oldpkg', 'OldPkg', '2020-01-01');
             INSERT INTO versions (package, version, released) VALUES
                 ('oldpkg', '1.0', '2020-01-02'), ('oldpkg', '2.0', '2020-02-02');
             INSERT INTO builds (build_id, package, version, built_by, built_at, duration, status, abi_tag) VALUES
                 (1, 'oldpkg', '1.0', 1, '2020-01-03', '00:01:00', true, '{abi}'),
                 (2, 'oldpkg', '2.0', 1, '2020-02-03', '00:01:00', true, '{abi}');
             INSERT INTO files VALUES
                 ('{present}', 1, {size}, '{hash}', 'oldpkg', '1.0', 'py3', 'none', 'any', NULL, '/simple'),
                 ('{lost}', 2, 1234, '{lost_hash}', 'oldpkg', '2.0', 'py3', 'none', 'any', NULL, '/simple');",
            size = bytes.len(),
            lost_hash = "b".repeat(64),
        ))
        .await
        .unwrap();
    });

    let mut inode = 0;
    let farm = Farm::start_under(&upstream.url, &[], &[], |dir| {
        // Migrated before the master first starts, with the original's output beside it.
        let out = test_support::process::output_within(
            Command::new(env!("CARGO_BIN_EXE_piw-migrate")).args([
                "--source",
                &src,
                "-d",
                &format!("sqlite:{}", dir.join("piwheels.db").display()),
                "--platform",
                platform,
                "-y",
            ]),
            b"",
            LIMIT,
            "piw-migrate",
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let www = dir.join("www");
        let simple = www.join("simple/oldpkg");
        fs::create_dir_all(&simple).unwrap();
        fs::create_dir_all(www.join("project/oldpkg/json")).unwrap();
        fs::write(simple.join(present), &bytes).unwrap();
        inode = fs::metadata(simple.join(present)).unwrap().ino();
        fs::write(
            simple.join("index.html"),
            old_page("Links for oldpkg", &[present, lost]),
        )
        .unwrap();
        fs::write(
            www.join("simple/index.html"),
            old_page("Simple index", &["oldpkg"]),
        )
        .unwrap();
        fs::write(
            www.join("project/oldpkg/index.html"),
            old_page("oldpkg", &[]),
        )
        .unwrap();
        fs::write(www.join("project/oldpkg/json/index.json"), "{}").unwrap();
    });
    let simple = farm.output.join("simple/oldpkg");

    // Its own pages: PEP 691 JSON listing the wheel on disk and not the lost one.
    let json = wait_until(
        LIMIT,
        "simple/oldpkg/index.json listing the migrated wheel",
        || {
            let text = fs::read_to_string(simple.join("index.json")).ok()?;
            text.contains(present).then_some(text)
        },
    );
    let page: serde_json::Value = serde_json::from_str(&json).unwrap();
    let names: Vec<&str> = page["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["filename"].as_str().unwrap())
        .collect();
    assert_eq!(names, [present], "{json}");
    let html = fs::read_to_string(simple.join("index.html")).unwrap();
    assert!(!html.contains(lost), "{html}");
    // The wheel's metadata file, from its METADATA.
    let metadata = wait_until(LIMIT, "the migrated wheel's .metadata file", || {
        fs::read_to_string(simple.join(format!("{present}.metadata"))).ok()
    });
    assert!(
        metadata.contains("Name: oldpkg\nVersion: 1.0\n"),
        "{metadata}"
    );
    // Served where it lay, not copied.
    assert_eq!(fs::metadata(simple.join(present)).unwrap().ino(), inode);
    // The lost wheel's version is queued again.
    let queue = rt.block_on(async {
        let db = Database::open(&format!(
            "sqlite:{}",
            farm.dir.path().join("piwheels.db").display()
        ))
        .await
        .unwrap();
        db.build_queue(100).await.unwrap()
    });
    let queued: Vec<&(String, String)> = queue.values().flatten().collect();
    assert!(
        queued.contains(&&("oldpkg".to_owned(), "2.0".to_owned())),
        "{queue:?}\n{}",
        farm.logs()
    );
    assert!(farm.logs().contains(lost), "{}", farm.logs());
    // And pip installs the migrated wheel from our index.
    pip_install_and_run(
        work.path(),
        &farm.index_url(),
        &["oldpkg==1.0"],
        "import oldpkg; assert oldpkg.VERSION == '1.0', oldpkg.VERSION",
    );
}
