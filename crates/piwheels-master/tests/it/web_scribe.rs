//! TheScribe against a real SQLite database and real files: what each request writes.

use crate::web_common;

use std::fs;
use std::path::Path;

use piwheels_master::hub::WebRequest;
use piwheels_master::the_scribe::TheScribe;
use serde_json::Value;
use web_common::*;

fn read(p: impl AsRef<Path>) -> String {
    let p = p.as_ref();
    fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn json(p: impl AsRef<Path>) -> Value {
    serde_json::from_str(&read(p)).unwrap()
}

/// Positions of `needles` in `hay`, which must all be there in that order.
fn assert_in_order(hay: &str, needles: &[&str]) {
    let mut last = 0;
    for n in needles {
        let at = hay[last..]
            .find(n)
            .unwrap_or_else(|| panic!("{n:?} missing or out of order in:\n{hay}"));
        last += at + n.len();
    }
}

/// A package `foo-bar` ("Foo_Bar" upstream) with three versions built, one yanked, one
/// with a metadata file and a Requires-Python.
struct Fixture {
    farm: Farm,
    scribe: TheScribe,
    wheels: Vec<Wheel>,
    build_ids: Vec<i64>,
}

async fn fixture() -> Fixture {
    let farm = farm(|_| {}).await;
    let db = &farm.hub.db;
    db.add_new_package("foo-bar", "", "Foo <does> bars & more")
        .await
        .unwrap();
    db.add_package_name("foo-bar", "Foo_Bar", Some(day(5)))
        .await
        .unwrap();
    for (v, d) in [("1.0", 1), ("1.10", 2), ("2.0rc1", 3), ("1.9", 4)] {
        db.add_new_package_version("foo-bar", v, Some(day(d)), "")
            .await
            .unwrap();
    }
    db.yank_version("foo-bar", "1.9").await.unwrap();
    let mut wheels = Vec::new();
    let mut build_ids = Vec::new();
    for v in ["1.0", "1.10", "2.0rc1", "1.9"] {
        let rp = (v == "1.10").then_some(">=3.7");
        let w = make_wheel("foo_bar", v, rp);
        let deps: &[(&str, &str)] = if v == "1.10" {
            &[("apt", "libfoo1"), ("apt", "libbar2"), ("pip", "six")]
        } else {
            &[]
        };
        let f = new_file(&w, rp, deps);
        build_ids.push(log_build(db, "foo-bar", v, "cp311/linux_armv7l", vec![f]).await);
        place(&farm.out, "foo-bar", &w, v == "1.10");
        wheels.push(w);
    }
    // A version whose only build failed.
    db.add_new_package_version("foo-bar", "0.5", Some(day(0)), "")
        .await
        .unwrap();
    log_build(db, "foo-bar", "0.5", "cp39/linux_armv7l", vec![]).await;
    let scribe =
        TheScribe::new(farm.hub.clone(), tokio::sync::mpsc::unbounded_channel().1).unwrap();
    Fixture {
        farm,
        scribe,
        wheels,
        build_ids,
    }
}

#[tokio::test]
async fn start_up_writes_the_fixed_pages_and_the_root_index() {
    let f = farm(|_| {}).await;
    f.hub.db.add_new_package("zeta", "", "").await.unwrap();
    f.hub.db.add_new_package("alpha", "", "").await.unwrap();
    let mut scribe =
        TheScribe::new(f.hub.clone(), tokio::sync::mpsc::unbounded_channel().1).unwrap();
    for name in [
        "faq.html",
        "packages.html",
        "json.html",
        "404.html",
        "styles.css",
        "packages.js",
        "project.js",
    ] {
        assert!(f.out.join(name).is_file(), "{name}");
    }
    assert!(read(f.out.join("faq.html")).contains("https://wheels.example.test/simple"));
    assert!(f.out.join("project").is_dir());
    assert!(!f.out.join("simple/index.html").exists());
    scribe.load().await.unwrap();
    let root = read(f.out.join("simple/index.html"));
    assert_in_order(
        &root,
        &["<a href=\"alpha/\">alpha</a>", "<a href=\"zeta/\">zeta</a>"],
    );
    let root_json = json(f.out.join("simple/index.json"));
    assert_eq!(root_json["meta"]["api-version"], "1.1");
    assert_eq!(root_json["projects"][0]["name"], "alpha");
    assert_eq!(root_json["projects"][1]["name"], "zeta");
    // A root index a crash left wrong is written again at start-up.
    fs::write(f.out.join("simple/index.html"), "stale").unwrap();
    let mut again =
        TheScribe::new(f.hub.clone(), tokio::sync::mpsc::unbounded_channel().1).unwrap();
    again.load().await.unwrap();
    assert_eq!(read(f.out.join("simple/index.html")), root);
    // Every file is world-readable and no temporary file is left.
    for entry in fs::read_dir(&f.out).unwrap() {
        let name = entry.unwrap().file_name();
        assert!(
            !name.to_string_lossy().starts_with('.'),
            "{name:?} left behind"
        );
    }
}

#[tokio::test]
async fn both_writes_the_simple_pages_project_page_json_and_aliases() {
    let mut fx = fixture().await;
    let out = fx.farm.out.clone();
    fx.scribe
        .handle(WebRequest::Both("foo-bar".into()))
        .await
        .unwrap();

    // PEP 503 page: newest version first, escaped Requires-Python, yanks, metadata hashes.
    let html = read(out.join("simple/foo-bar/index.html"));
    let names: Vec<&str> = fx.wheels.iter().map(|w| w.filename.as_str()).collect();
    assert_in_order(&html, &[names[2], names[1], names[3], names[0]]);
    let w110 = &fx.wheels[1];
    let meta_hash = sha256(w110.metadata.as_bytes());
    let line = html.lines().find(|l| l.contains(&w110.filename)).unwrap();
    assert!(line.contains(&format!(
        "href=\"/simple/foo-bar/{}#sha256={}\"",
        w110.filename,
        sha256(&w110.bytes)
    )));
    assert!(
        line.contains("data-requires-python=\"&gt;=3.7\"")
            || line.contains("data-requires-python=\"&#62;=3.7\""),
        "{line}"
    );
    assert!(line.contains(&format!("data-dist-info-metadata=\"sha256={meta_hash}\"")));
    assert!(line.contains(&format!("data-core-metadata=\"sha256={meta_hash}\"")));
    assert!(!line.contains("data-yanked"));
    let yanked = html
        .lines()
        .find(|l| l.contains(&fx.wheels[3].filename))
        .unwrap();
    assert!(yanked.contains("data-yanked=\"\""), "{yanked}");
    assert!(
        !yanked.contains("data-core-metadata"),
        "no metadata file, no attribute"
    );

    // PEP 691 page.
    let j = json(out.join("simple/foo-bar/index.json"));
    assert_eq!(j["meta"]["api-version"], "1.1");
    assert_eq!(j["name"], "foo-bar");
    let files = j["files"].as_array().unwrap();
    assert_eq!(files.len(), 4);
    assert_eq!(files[0]["filename"], names[2]);
    let f110 = &files[1];
    assert_eq!(f110["url"], format!("/simple/foo-bar/{}", w110.filename));
    assert_eq!(f110["hashes"]["sha256"], sha256(&w110.bytes));
    assert_eq!(f110["requires-python"], ">=3.7");
    assert_eq!(f110["core-metadata"]["sha256"], meta_hash);
    // Not the older JSON key: pip before 23.1 fails on it.
    assert!(f110.get("dist-info-metadata").is_none());
    assert_eq!(f110["size"], w110.bytes.len() as u64);
    assert_eq!(files[2]["yanked"], true);
    assert_eq!(files[0]["core-metadata"], false);
    assert_eq!(
        j["versions"],
        serde_json::json!(["2.0rc1", "1.10", "1.9", "1.0"])
    );

    // Project JSON (piwheels.md §6.4), releases newest version first.
    let raw = read(out.join("project/foo-bar/json/index.json"));
    assert_in_order(&raw, &["\"2.0rc1\":", "\"1.10\":", "\"1.9\":", "\"1.0\":"]);
    let p: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(p["package"], "foo-bar");
    assert_eq!(p["summary"], "Foo <does> bars & more");
    assert_eq!(
        p["pypi_url"],
        "https://upstream.example.test/project/foo-bar"
    );
    assert_eq!(
        p["piwheels_url"],
        "https://wheels.example.test/project/foo-bar"
    );
    let r = &p["releases"]["1.10"];
    assert_eq!(r["released"], "2024-01-03 00:00:00");
    assert_eq!(r["prerelease"], false);
    assert_eq!(r["yanked"], false);
    assert_eq!(r["skip_reason"], "");
    let file = &r["files"][&w110.filename];
    assert_eq!(
        file["file_url"],
        format!(
            "https://wheels.example.test/simple/foo-bar/{}",
            w110.filename
        )
    );
    assert_eq!(file["filehash"], sha256(&w110.bytes));
    assert_eq!(file["filesize"], w110.bytes.len() as u64);
    assert_eq!(file["builder_abi"], "cp311");
    assert_eq!(file["file_abi_tag"], "none");
    assert_eq!(file["platform"], "any");
    assert_eq!(file["requires_python"], ">=3.7");
    assert_eq!(
        file["apt_dependencies"],
        serde_json::json!(["libbar2", "libfoo1"])
    );
    assert_eq!(file["pip_dependencies"], serde_json::json!(["six"]));
    assert_eq!(p["releases"]["2.0rc1"]["prerelease"], true);
    assert_eq!(p["releases"]["1.9"]["yanked"], true);
    assert_eq!(
        p["releases"]["1.0"]["files"][&fx.wheels[0].filename]["requires_python"],
        Value::Null
    );

    // Project page: display name, escaped summary, install command from the newest
    // usable release (1.10: 2.0rc1 is a pre-release, 1.9 is yanked), build-log links.
    let page = read(out.join("project/foo-bar/index.html"));
    assert!(page.contains("<h1>Foo_Bar</h1>"));
    assert!(
        page.contains("Foo &#60;does&#62; bars &#38; more")
            || page.contains("Foo &lt;does&gt; bars &amp; more"),
        "{page}"
    );
    assert!(
        page.contains("sudo apt install libbar2 libfoo1\npip3 install Foo_Bar"),
        "{page}"
    );
    assert!(page.contains("href=\"/project/six/\""));
    let log = format!("/logs/0000/0000/{:04}.txt.gz", fx.build_ids[0]);
    assert!(page.contains(&log), "{log} in {page}");
    assert!(page.contains("Bookworm / Python 3.11"));
    assert!(page.contains("Bullseye / Python 3.9"));
    assert!(page.contains("class=\"status fail\""));
    assert!(page.contains("class=\"status pending\""));
    assert!(page.contains("class=\"status success\""));
    assert!(page.contains("href=\"https://wheels.example.test/project/foo-bar/\""));

    // Alias symlink, relative.
    let link = out.join("project/Foo_Bar");
    assert_eq!(fs::read_link(&link).unwrap(), Path::new("foo-bar"));
    assert!(link.join("index.html").is_file());

    // The root index gained the package, once.
    let root = read(out.join("simple/index.html"));
    assert_eq!(root.matches("<a href=\"foo-bar/\">foo-bar</a>").count(), 1);
    assert_eq!(fx.scribe.packages().collect::<Vec<_>>(), ["foo-bar"]);
}

#[tokio::test]
async fn project_writes_only_the_project_pages() {
    let mut fx = fixture().await;
    fx.scribe
        .handle(WebRequest::Project("foo-bar".into()))
        .await
        .unwrap();
    assert!(fx.farm.out.join("project/foo-bar/index.html").is_file());
    assert!(
        fx.farm
            .out
            .join("project/foo-bar/json/index.json")
            .is_file()
    );
    assert!(!fx.farm.out.join("simple/foo-bar/index.html").exists());
}

#[tokio::test]
async fn symlinks_in_the_way_become_directories() {
    let mut fx = fixture().await;
    let out = fx.farm.out.clone();
    fs::create_dir_all(out.join("project")).unwrap();
    std::os::unix::fs::symlink("elsewhere", out.join("project/foo-bar")).unwrap();
    // A real directory where an alias symlink should be.
    fs::create_dir_all(out.join("project/Foo_Bar")).unwrap();
    fx.scribe
        .handle(WebRequest::Both("foo-bar".into()))
        .await
        .unwrap();
    assert!(
        fs::symlink_metadata(out.join("project/foo-bar"))
            .unwrap()
            .is_dir()
    );
    assert_eq!(
        fs::read_link(out.join("project/Foo_Bar")).unwrap(),
        Path::new("foo-bar")
    );
}

#[tokio::test]
async fn delete_version_unlinks_its_files_and_rewrites_the_pages() {
    let mut fx = fixture().await;
    let out = fx.farm.out.clone();
    fx.scribe
        .handle(WebRequest::Both("foo-bar".into()))
        .await
        .unwrap();
    let w = &fx.wheels[1];
    let wheel = out.join("simple/foo-bar").join(&w.filename);
    let meta = out
        .join("simple/foo-bar")
        .join(format!("{}.metadata", w.filename));
    assert!(wheel.exists() && meta.exists());
    // As CloudGazer does: the version goes from the database, then the pages.
    fx.farm
        .hub
        .db
        .delete_version("foo-bar", "1.10")
        .await
        .unwrap();
    fx.scribe
        .handle(WebRequest::DeleteVersion("foo-bar".into(), "1.10".into()))
        .await
        .unwrap();
    assert!(
        !wheel.exists(),
        "the wheel is found by its name even with the rows gone"
    );
    assert!(!meta.exists());
    assert!(
        out.join("simple/foo-bar")
            .join(&fx.wheels[0].filename)
            .exists()
    );
    let html = read(out.join("simple/foo-bar/index.html"));
    assert!(!html.contains(&w.filename));
    assert!(html.contains(&fx.wheels[0].filename));
    let p = json(out.join("project/foo-bar/json/index.json"));
    assert!(p["releases"].get("1.10").is_none());
    assert!(p["releases"].get("1.0").is_some());

    // With the rows still there, the version is left off the pages all the same.
    fx.scribe
        .handle(WebRequest::DeleteVersion("foo-bar".into(), "1.0".into()))
        .await
        .unwrap();
    assert!(
        !out.join("simple/foo-bar")
            .join(&fx.wheels[0].filename)
            .exists()
    );
    let p = json(out.join("project/foo-bar/json/index.json"));
    assert!(p["releases"].get("1.0").is_none());
    assert!(p["releases"].get("2.0rc1").is_some());
}

#[tokio::test]
async fn delete_package_removes_everything_of_it() {
    let mut fx = fixture().await;
    let out = fx.farm.out.clone();
    fx.farm
        .hub
        .db
        .add_new_package("other", "", "")
        .await
        .unwrap();
    fx.scribe
        .handle(WebRequest::Both("foo-bar".into()))
        .await
        .unwrap();
    fx.scribe
        .handle(WebRequest::Both("other".into()))
        .await
        .unwrap();
    // An alias the database no longer knows of.
    std::os::unix::fs::symlink("foo-bar", out.join("project/FOO.BAR")).unwrap();
    fx.farm.hub.db.delete_package("foo-bar").await.unwrap();
    fx.scribe
        .handle(WebRequest::DeletePackage("foo-bar".into()))
        .await
        .unwrap();
    for gone in [
        "simple/foo-bar",
        "project/foo-bar",
        "project/Foo_Bar",
        "project/FOO.BAR",
    ] {
        assert!(
            fs::symlink_metadata(out.join(gone)).is_err(),
            "{gone} left behind"
        );
    }
    assert!(out.join("project/other/index.html").is_file());
    let root = read(out.join("simple/index.html"));
    assert!(!root.contains("foo-bar"));
    assert!(root.contains("other/"));
    assert_eq!(fx.scribe.packages().collect::<Vec<_>>(), ["other"]);
}

#[tokio::test]
async fn hostile_names_are_refused() {
    let mut fx = fixture().await;
    let out = fx.farm.out.clone();
    let victim = fx.farm.dir.path().join("victim");
    fs::create_dir_all(&victim).unwrap();
    fs::write(victim.join("keep"), "x").unwrap();
    for bad in ["", "../victim", "..", "/etc", "Foo", "a/b", "a\0b"] {
        let e = fx
            .scribe
            .handle(WebRequest::DeletePackage(bad.into()))
            .await;
        assert!(e.is_err(), "{bad:?} accepted");
        let e = fx.scribe.handle(WebRequest::Both(bad.into())).await;
        assert!(e.is_err(), "{bad:?} accepted");
    }
    assert!(victim.join("keep").exists());
    assert!(out.join("simple").is_dir());
    // A wheel name with `..` in the database is left off the pages.
    let mut f = new_file(&make_wheel("foo_bar", "3.0", None), None, &[]);
    f.filename = "..foo_bar-3.0-py3-none-any.whl".into();
    fx.farm
        .hub
        .db
        .add_new_package_version("foo-bar", "3.0", Some(day(9)), "")
        .await
        .unwrap();
    log_build(
        &fx.farm.hub.db,
        "foo-bar",
        "3.0",
        "cp311/linux_armv7l",
        vec![f],
    )
    .await;
    fx.scribe
        .handle(WebRequest::Both("foo-bar".into()))
        .await
        .unwrap();
    assert!(!read(out.join("simple/foo-bar/index.html")).contains("..foo_bar"));
    // A request for a package the database does not have writes nothing.
    fx.scribe
        .handle(WebRequest::Both("nothing".into()))
        .await
        .unwrap();
    assert!(!out.join("simple/nothing").exists());
    assert!(!read(out.join("simple/index.html")).contains("nothing"));
}

#[tokio::test]
async fn logs_are_gzipped_and_replaced() {
    use std::io::Read;
    let mut fx = fixture().await;
    let out = fx.farm.out.clone();
    let inflate = |p: &Path| {
        let mut s = String::new();
        flate2::read::GzDecoder::new(fs::File::open(p).unwrap())
            .read_to_string(&mut s)
            .unwrap();
        s
    };
    fx.scribe
        .handle(WebRequest::Log {
            build_id: 12_510_551,
            log: "Building wheel… done\n".into(),
        })
        .await
        .unwrap();
    let path = out.join("logs/0000/1251/0551.txt.gz");
    assert_eq!(inflate(&path), "Building wheel… done\n");
    fx.scribe
        .handle(WebRequest::Log {
            build_id: 12_510_551,
            log: "second".into(),
        })
        .await
        .unwrap();
    assert_eq!(inflate(&path), "second");
    assert!(
        fx.scribe
            .handle(WebRequest::Log {
                build_id: -5,
                log: "x".into()
            })
            .await
            .is_err()
    );
}

#[tokio::test]
async fn home_sitemaps_and_search_index() {
    let mut fx = fixture().await;
    let out = fx.farm.out.clone();
    fx.scribe
        .handle(WebRequest::Both("foo-bar".into()))
        .await
        .unwrap();
    let stats = piwheels_protocol::monitor::MasterStats {
        timestamp: chrono::Utc::now(),
        packages_built: 4321,
        builds_last_hour: [("cp311".to_string(), 17)].into_iter().collect(),
        builds_time: chrono::TimeDelta::hours(50),
        builds_size: 1_500_000_000,
        builds_pending: [("cp311".to_string(), 3)].into_iter().collect(),
        new_last_hour: 2,
        files_count: 98765,
        downloads_last_hour: 5,
        downloads_last_month: 600,
        downloads_all: 7000,
        disk_size: 100_000_000_000,
        disk_free: 25_000_000_000,
        mem_size: 0,
        mem_free: 0,
        swap_size: 0,
        swap_free: 0,
        load_average: 0.5,
        cpu_temp: 40.0,
    };
    fx.scribe
        .handle(WebRequest::Home(Box::new(stats)))
        .await
        .unwrap();
    let home = read(out.join("index.html"));
    for s in ["4321", "98765", "1.5 GB", "cp311", "17", "25%"] {
        assert!(home.contains(s), "{s} missing from the homepage");
    }
    let index = read(out.join("sitemap.xml"));
    assert!(index.contains("https://wheels.example.test/sitemap0.xml"));
    assert!(index.contains("https://wheels.example.test/sitemap1.xml"));
    assert!(read(out.join("sitemap0.xml")).contains("https://wheels.example.test/faq.html"));
    assert!(
        read(out.join("sitemap1.xml")).contains("https://wheels.example.test/project/foo-bar/")
    );
    assert!(!out.join("sitemap2.xml").exists());

    fx.farm.hub.db.add_new_package("bar", "", "").await.unwrap();
    fx.scribe.handle(WebRequest::Search).await.unwrap();
    let rows = json(out.join("packages.json"));
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for r in rows {
        // The original's three columns, then the summary (issue 16, item 3).
        assert_eq!(r.as_array().unwrap().len(), 4);
        let summary = if r[0] == "foo-bar" {
            "Foo <does> bars & more"
        } else {
            ""
        };
        assert_eq!(r[3], summary);
        assert_eq!(r[1], 0);
    }
}

#[tokio::test]
async fn batches_merge_and_write_in_parallel() {
    let f = farm(|_| {}).await;
    let db = &f.hub.db;
    let mut reqs = Vec::new();
    for i in 0..40 {
        let pkg = format!("pkg{i}");
        package_with_a_wheel(db, &pkg, "").await;
        reqs.push(WebRequest::Project(pkg.clone()));
        reqs.push(WebRequest::Both(pkg));
    }
    reqs.push(WebRequest::Both("pkg0".into()));
    reqs.push(WebRequest::DeletePackage("pkg1".into()));
    let mut scribe =
        TheScribe::new(f.hub.clone(), tokio::sync::mpsc::unbounded_channel().1).unwrap();
    let errors = scribe.handle_batch(reqs).await;
    assert!(errors.is_empty(), "{errors:?}");
    for i in 0..40 {
        let simple = f.out.join(format!("simple/pkg{i}/index.html"));
        assert_eq!(simple.exists(), i != 1, "pkg{i}");
    }
    let root = read(f.out.join("simple/index.html"));
    assert_eq!(root.matches("<a href=").count(), 39);
    assert!(!root.contains("\"pkg1/\""));
}
