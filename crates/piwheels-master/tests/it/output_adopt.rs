//! Issue 20, item 2: adopting a piwheels 0.23 farm's output folder. Our master, started on
//! the migrated database with the old output path, serves the wheels already there without
//! copying them, gives each its `.metadata` file (made from its `METADATA`) and each armv6l
//! link its metadata link, rewrites every page in its own format (PEP 691 JSON too), and
//! reports the wheels missing or damaged, deleting their builds so their versions are
//! queued again.

use crate::core_support;
use crate::the_output_disagrees_with_the_database::{log, wheel_file};
use crate::web_http::get;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use chrono::Utc;
use core_support::farm::WAIT;
use core_support::*;
use piwheels_db::Database;
use piwheels_master::master::Master;
use piwheels_master::output::{log_path, reconcile};

/// A simple page as 0.23 wrote it (PEP 503 only).
fn page_023(package: &str, files: &[&str]) -> String {
    let links: String = files
        .iter()
        .map(|f| format!("<a href=\"/simple/{package}/{f}#sha256=00\">{f}</a><br>\n"))
        .collect();
    format!(
        "<!DOCTYPE html>\n<html>\n<head>\n<title>Links for {package}</title>\n</head>\n\
         <body>\n<h1>Links for {package}</h1>\n{links}</body>\n</html>\n<!-- 2024-01-01T00:00:00 -->\n"
    )
}

/// The inode of a file.
fn ino(path: &Path) -> u64 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .ino()
}

/// `simple/<package>/index.json` parsed, if it is there: file name → its entry.
fn pep691(simple: &Path, package: &str) -> Option<BTreeMap<String, serde_json::Value>> {
    let text = std::fs::read(simple.join(package).join("index.json")).ok()?;
    let json: serde_json::Value = serde_json::from_slice(&text).ok()?;
    assert_eq!(json["name"], package, "{json}");
    assert!(
        json["meta"]["api-version"]
            .as_str()
            .is_some_and(|v| v.starts_with("1.")),
        "{json}"
    );
    Some(
        json["files"]
            .as_array()?
            .iter()
            .map(|f| (f["filename"].as_str().unwrap().to_owned(), f.clone()))
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_023_output_folder_is_adopted() {
    let mut env = Env::new().await;
    // The pages written at start are rewritten once the check is done: one window later.
    env.config.rewrite_delay = std::time::Duration::from_millis(500);
    let db = Database::open(&env.config.dsn).await.unwrap();
    let out = env.config.output_path.clone();
    let simple = env.simple();
    db.add_new_package("baz", "", "no wheels").await.unwrap();
    for (p, v) in [
        ("foo", "2.0"),
        ("foo", "3.0"),
        ("bar", "2.0"),
        ("baz", "1.0"),
    ] {
        db.add_new_package_version(p, v, Some(Utc::now()), "")
            .await
            .unwrap();
    }
    let foo = simple.join("foo");
    let bar = simple.join("bar");
    std::fs::create_dir_all(&foo).unwrap();
    std::fs::create_dir_all(&bar).unwrap();

    // foo 1.0: an armv7l wheel (its armv6l alias copy a relative link, as 0.23 made it,
    // with no metadata link).
    let v7 = "foo-1.0-cp311-cp311-linux_armv7l.whl";
    let v6 = "foo-1.0-cp311-cp311-linux_armv6l.whl";
    let w1 = wheel("foo", "1.0", 1000);
    let foo1 = log(&db, "foo", "1.0", vec![wheel_file(v7, &w1)]).await;
    std::fs::write(foo.join(v7), &w1).unwrap();
    std::os::unix::fs::symlink(v7, foo.join(v6)).unwrap();
    // foo 2.0: a pure wheel.
    let pure = "foo-2.0-py3-none-any.whl";
    let w2 = wheel("foo", "2.0", 2000);
    log(&db, "foo", "2.0", vec![wheel_file(pure, &w2)]).await;
    std::fs::write(foo.join(pure), &w2).unwrap();
    // foo 3.0: recorded, its wheel not on disk.
    let lost = "foo-3.0-py3-none-any.whl";
    let foo3 = log(
        &db,
        "foo",
        "3.0",
        vec![wheel_file(lost, &wheel("foo", "3.0", 3000))],
    )
    .await;
    // bar 1.0: on disk, but not the size its row says.
    let short = "bar-1.0-py3-none-any.whl";
    let bar1 = log(
        &db,
        "bar",
        "1.0",
        vec![wheel_file(short, &wheel("bar", "1.0", 4000))],
    )
    .await;
    std::fs::write(bar.join(short), wheel("bar", "1.0", 3999)).unwrap();
    // bar 2.0: the size its row says, but its METADATA is another version's.
    let other = "bar-2.0-py3-none-any.whl";
    let bar2 = log(
        &db,
        "bar",
        "2.0",
        vec![wheel_file(other, &wheel("bar", "2.0", 500))],
    )
    .await;
    let size = wheel("bar", "2.0", 500).len();
    let w_other = (400..600)
        .map(|extra| wheel("bar", "9.0", extra))
        .find(|w| w.len() == size)
        .expect("a bar 9.0 wheel of bar 2.0's size");
    std::fs::write(bar.join(other), &w_other).unwrap();
    // The pages 0.23 wrote: PEP 503 only, no metadata files.
    std::fs::write(simple.join("index.html"), "<a href=\"foo\">foo</a>").unwrap();
    std::fs::write(foo.join("index.html"), page_023("foo", &[v7, v6, pure])).unwrap();
    std::fs::write(bar.join("index.html"), page_023("bar", &[short, other])).unwrap();
    // baz: no wheels; only its pages are 0.23's.
    std::fs::create_dir_all(simple.join("baz")).unwrap();
    std::fs::write(simple.join("baz/index.html"), page_023("baz", &[])).unwrap();
    for p in ["foo", "bar", "baz"] {
        let dir = out.join("project").join(p).join("json");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.parent().unwrap().join("index.html"), "0.23").unwrap();
        std::fs::write(dir.join("index.json"), "{}").unwrap();
    }
    // foo 1.0's build log, where 0.23 put it.
    let log_file = out.join(log_path(foo1).unwrap());
    std::fs::create_dir_all(log_file.parent().unwrap()).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"built foo 1.0\n").unwrap();
    std::fs::write(&log_file, gz.finish().unwrap()).unwrap();
    let inodes = [ino(&foo.join(v7)), ino(&foo.join(pure))];
    // The migrated database owes no page rewrites: what the check finds is all there is.
    let owed: Vec<String> = db
        .load_rewrites_pending()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.package)
        .collect();
    let gens: Vec<(String, i64)> = db
        .rewrite_generations(&owed)
        .await
        .unwrap()
        .into_iter()
        .collect();
    db.clear_rewrites(&gens).await.unwrap();

    let master = Master::start(env.config.clone()).await.unwrap();
    let hub = master.hub().clone();
    let web = master.web_addr().expect("the web server runs");
    let run = tokio::spawn(master.run_until(std::future::pending()));

    // The check deletes the builds of the missing and the damaged wheels...
    eventually(
        "the builds of the missing and damaged wheels to be deleted",
        || async {
            let ids = hub.db.all_build_ids().await.unwrap();
            ![foo3, bar1, bar2].iter().any(|b| ids.contains(b))
        },
    )
    .await;
    // ...and the pages are rewritten, with PEP 691 JSON giving the metadata files.
    eventually(
        "foo's PEP 691 page listing its wheels with their metadata files",
        || async {
            pep691(&simple, "foo").is_some_and(|files| {
                [v7, v6, pure].iter().all(|n| {
                    files
                        .get(*n)
                        .is_some_and(|f| f["core-metadata"].is_object())
                })
            })
        },
    )
    .await;
    eventually("bar's PEP 691 page, without its removed wheels", || async {
        pep691(&simple, "bar").is_some_and(|files| files.is_empty())
    })
    .await;
    // The simple pages are written before the project page, so the wait is for both.
    let baz_project = out.join("project/baz/index.html");
    eventually(
        "baz's PEP 691 page (it had only 0.23's pages) and its project page rewritten",
        || async {
            pep691(&simple, "baz").is_some()
                && std::fs::read_to_string(&baz_project).is_ok_and(|t| t != "0.23")
        },
    )
    .await;

    // Every real wheel has its metadata file, made from its METADATA; the armv6l link
    // has its metadata link.
    for (name, version) in [(v7, "1.0"), (pure, "2.0")] {
        assert_eq!(
            std::fs::read_to_string(foo.join(format!("{name}.metadata"))).unwrap(),
            metadata("foo", version),
            "{name}"
        );
    }
    assert_eq!(std::fs::read_link(foo.join(v6)).unwrap().to_str(), Some(v7));
    assert_eq!(
        std::fs::read_link(foo.join(format!("{v6}.metadata")))
            .unwrap()
            .to_str(),
        Some(format!("{v7}.metadata").as_str())
    );
    // The pages list the files in our format.
    let files = pep691(&simple, "foo").unwrap();
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        [v6, v7, pure],
        "the wheels on disk, not the missing one"
    );
    let meta_hash = sha256(metadata("foo", "1.0").as_bytes());
    assert_eq!(files[v7]["core-metadata"]["sha256"], meta_hash.as_str());
    assert_eq!(files[v6]["core-metadata"]["sha256"], meta_hash.as_str());
    let html = std::fs::read_to_string(foo.join("index.html")).unwrap();
    assert!(html.contains("data-core-metadata"), "{html}");
    for n in [v7, v6, pure] {
        assert!(html.contains(n), "{n} not on the page: {html}");
    }
    assert!(!html.contains(lost), "{html}");
    let project = std::fs::read_to_string(out.join("project/foo/index.html")).unwrap();
    assert!(project.contains(pure), "the project page is rewritten");
    // The damaged wheels are gone (with nothing made for them).
    for n in [short, other] {
        assert!(!bar.join(n).exists(), "{n}");
        assert!(!bar.join(format!("{n}.metadata")).exists(), "{n}");
    }
    // Their versions and the missing wheel's are queued again; the adopted ones are not.
    eventually("the lost versions to be queued again", || async {
        let queue = hub.db.build_queue(100).await.unwrap();
        let jobs = queue.get(&target()).cloned().unwrap_or_default();
        [("foo", "3.0"), ("bar", "1.0"), ("bar", "2.0")]
            .iter()
            .all(|(p, v)| jobs.contains(&(p.to_string(), v.to_string())))
    })
    .await;
    let jobs = hub.db.build_queue(100).await.unwrap();
    let jobs = jobs.get(&target()).cloned().unwrap_or_default();
    assert!(!jobs.contains(&("foo".into(), "2.0".into())), "{jobs:?}");
    // The wheels were not copied.
    assert_eq!([ino(&foo.join(v7)), ino(&foo.join(pure))], inodes);

    // The web server serves the wheels, their metadata and the old build log.
    let r = get(web, &format!("/simple/foo/{pure}"), &[]).await;
    assert_eq!((r.status, r.body == w2), (200, true));
    let r = get(web, &format!("/simple/foo/{v6}"), &[]).await;
    assert_eq!((r.status, r.body == w1), (200, true));
    let r = get(web, &format!("/simple/foo/{v6}.metadata"), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), metadata("foo", "1.0"));
    let url = format!("/{}", log_path(foo1).unwrap().display());
    let r = get(web, &url, &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(r.status, 200, "{url}");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&r.body[..])
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, "built foo 1.0\n");

    hub.quit.cancel();
    tokio::time::timeout(WAIT, run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_reports_the_metadata_it_made_and_the_damaged_wheels() {
    let env = Env::new().await;
    let (hub, _inboxes) = env.hub().await;
    hub.output.prepare().unwrap();
    let good = "foo-1.0-py3-none-any.whl";
    let w = wheel("foo", "1.0", 100);
    log(&hub.db, "foo", "1.0", vec![wheel_file(good, &w)]).await;
    let bad = "bar-1.0-py3-none-any.whl";
    let bar1 = log(
        &hub.db,
        "bar",
        "1.0",
        vec![wheel_file(bad, &wheel("bar", "1.0", 100))],
    )
    .await;
    for (p, name, data) in [
        ("foo", good, w.clone()),
        ("bar", bad, b"not a zip".to_vec()),
    ] {
        std::fs::create_dir_all(env.simple().join(p)).unwrap();
        std::fs::write(env.simple().join(p).join(name), data).unwrap();
    }
    let report = reconcile::reconcile(&hub, Utc::now()).await.unwrap();
    assert_eq!(report.metadata, 1, "{report:?}");
    assert_eq!(report.damaged, [bad], "{report:?}");
    assert!(report.missing.is_empty(), "{report:?}");
    assert!(report.repaired());
    assert!(!hub.db.all_build_ids().await.unwrap().contains(&bar1));
    // foo's pages were owed by its build, but are owed again: they give the hash of the
    // metadata file made since.
    assert!(report.owed.contains("foo"), "{report:?}");
    // A second check finds nothing more to make.
    let again = reconcile::reconcile(&hub, Utc::now()).await.unwrap();
    assert_eq!((again.metadata, again.damaged.len()), (0, 0), "{again:?}");
}
