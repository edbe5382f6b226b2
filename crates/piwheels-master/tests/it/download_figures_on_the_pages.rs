//! The download figures people see are the database's, through a whole master: known
//! downloads are logged, then the homepage (BigBrother's statistics: last hour, 30 days,
//! ever, and the top projects), a project page and its JSON (a rewrite request), and
//! `packages.json` (the SEARCH rewrite, most downloaded first) show exactly those numbers;
//! the embedded server's own downloads show on the project page after the next rewrite.
//! Downloads of a deleted package's file, or of a file the database never knew, count in
//! the farm's totals and for no package, and break nothing.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use piwheels_db::{AccessRecord, Database, DownloadRecord};
use piwheels_master::hub::WebRequest;
use piwheels_master::master::Master;

use crate::core_support::{Env, eventually, within};
use crate::web_common::{log_build, make_wheel, new_file, place};

fn downloads(n: usize, filename: &str, at: DateTime<Utc>) -> Vec<AccessRecord> {
    let record = DownloadRecord {
        name: filename.into(),
        host: "192.0.2.1".parse().unwrap(),
        timestamp: at,
        arch: None,
        distro_name: None,
        distro_version: None,
        os_name: None,
        os_version: None,
        py_name: None,
        py_version: None,
        installer_name: Some("pip".into()),
        installer_version: None,
        setuptools_version: None,
    };
    vec![AccessRecord::Download(record); n]
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn json(path: &Path) -> serde_json::Value {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// The cells of the project page's download rows: (30 days, all time).
fn page_figures(page: &str) -> Option<(String, String)> {
    let cell = |class: &str| {
        let start = page.find(&format!("<td class=\"{class}\">"))? + class.len() + 13;
        let end = start + page[start..].find("</td>")?;
        Some(page[start..end].to_owned())
    };
    Some((cell("downloads-recent")?, cell("downloads-all")?))
}

/// A homepage table row's value: `<tr><th>{label}</th><td>VALUE</td></tr>`.
fn home_figure(home: &str, label: &str) -> Option<String> {
    let key = format!("<tr><th>{label}</th><td>");
    let start = home.find(&key)? + key.len();
    let end = start + home[start..].find("</td>")?;
    Some(home[start..end].to_owned())
}

async fn get_wheel(url: String) -> u16 {
    tokio::task::spawn_blocking(move || {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(10))
            .build();
        match agent.get(&url).set("User-Agent", "pip/24.0").call() {
            Ok(r) => {
                let status = r.status();
                let _ = r.into_string();
                status
            }
            Err(ureq::Error::Status(code, _)) => code,
            Err(e) => panic!("{url}: {e}"),
        }
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_show_the_databases_download_figures() {
    let mut env = Env::new().await;
    // TheSecretary holds a project's rewrite this long.
    env.config.rewrite_delay = Duration::from_millis(200);
    let out = env.config.output_path.clone();
    let foo1 = make_wheel("foo", "1.0", None);
    let foo2 = make_wheel("foo", "2.0", None);
    let bar = make_wheel("bar", "1.0", None);
    let gone = make_wheel("gone", "1.0", None);
    {
        let db = Database::open(&env.config.dsn).await.unwrap();
        db.add_new_package_version("foo", "2.0", Some(Utc::now()), "")
            .await
            .unwrap();
        db.add_new_package("gone", "", "").await.unwrap();
        db.add_new_package_version("gone", "1.0", Some(Utc::now()), "")
            .await
            .unwrap();
        for (pkg, ver, w) in [
            ("foo", "1.0", &foo1),
            ("foo", "2.0", &foo2),
            ("bar", "1.0", &bar),
            ("gone", "1.0", &gone),
        ] {
            log_build(
                &db,
                pkg,
                ver,
                "cp311/linux_x86_64",
                vec![new_file(w, None, &[])],
            )
            .await;
        }
        let now = Utc::now();
        let mut log = Vec::new();
        log.extend(downloads(1000, &foo1.filename, now - TimeDelta::days(2)));
        log.extend(downloads(3, &foo1.filename, now - TimeDelta::minutes(10)));
        log.extend(downloads(250, &foo2.filename, now - TimeDelta::days(40)));
        log.extend(downloads(7, &bar.filename, now - TimeDelta::days(3)));
        log.extend(downloads(11, &gone.filename, now - TimeDelta::days(1)));
        log.extend(downloads(
            4,
            "unknown-1.0-py3-none-any.whl",
            now - TimeDelta::minutes(20),
        ));
        db.log_access(&log).await.unwrap();
        assert!(db.delete_package("gone").await.unwrap());
    }
    // Published (a wheel missing from the output would be taken out of the database at
    // start, as the reconciliation does).
    place(&out, "foo", &foo1, true);
    place(&out, "foo", &foo2, true);
    place(&out, "bar", &bar, true);
    let master = Master::start(env.config.clone()).await.unwrap();
    let addr = master.web_addr().unwrap();
    let hub = master.hub().clone();
    let run = tokio::spawn(master.run_until(std::future::pending()));

    // The homepage, from BigBrother's first sample.
    let home_path = out.join("index.html");
    eventually("the homepage", || {
        let p = home_path.clone();
        async move { read(&p).contains("Downloads ever") }
    })
    .await;
    let home = read(&home_path);
    assert_eq!(
        home_figure(&home, "Downloads in the last hour").as_deref(),
        Some("7"),
        "3 of foo and 4 of an unknown file"
    );
    assert_eq!(
        home_figure(&home, "Downloads in the last 30 days").as_deref(),
        Some("1,025")
    );
    assert_eq!(
        home_figure(&home, "Downloads ever").as_deref(),
        Some("1,275")
    );
    let top = &home[home.find("Top projects").expect("a top projects table")..];
    let foo_at = top
        .find(r#"<tr><td><a href="/project/foo/">foo</a></td><td>1,003</td></tr>"#)
        .unwrap_or_else(|| panic!("foo in the top projects: {top}"));
    let bar_at = top
        .find(r#"<tr><td><a href="/project/bar/">bar</a></td><td>7</td></tr>"#)
        .expect("bar in the top projects");
    assert!(foo_at < bar_at, "most downloaded first");
    assert!(!top.contains("gone"), "a deleted package is no top project");

    // A project page and its JSON, rewritten on request.
    hub.web(WebRequest::Project("foo".into()));
    let page_path = out.join("project/foo/index.html");
    // The page is written before its JSON, so the wait is for both.
    let json_path = out.join("project/foo/json/index.json");
    eventually("foo's page and JSON with their figures", || {
        let (p, j) = (page_path.clone(), json_path.clone());
        async move {
            page_figures(&read(&p)) == Some(("1,003".into(), "1,253".into()))
                && json(&j)["downloads_all"] == 1253
        }
    })
    .await;
    let doc = json(&json_path);
    assert_eq!(doc["downloads_30"], 1003);
    assert_eq!(doc["downloads_all"], 1253);
    for key in ["package", "summary", "pypi_url", "piwheels_url", "releases"] {
        assert!(doc.get(key).is_some(), "the project JSON keeps {key}");
    }
    assert_eq!(doc["releases"].as_object().unwrap().len(), 2);

    // packages.json: the SEARCH rewrite, most downloaded first, in the compact format.
    hub.web(WebRequest::Search);
    let index = out.join("packages.json");
    eventually("the counted search index", || {
        let p = index.clone();
        async move { json(&p)[0][0] == "foo" }
    })
    .await;
    let raw = std::fs::read(&index).unwrap();
    let rows: Vec<(String, i64, i64, String)> = serde_json::from_slice(&raw).unwrap();
    assert_eq!(
        serde_json::to_vec(&rows).unwrap(),
        raw,
        "compact JSON arrays"
    );
    let figures: Vec<(&str, i64, i64)> = rows
        .iter()
        .map(|(p, r, a, _)| (p.as_str(), *r, *a))
        .collect();
    assert_eq!(figures, vec![("foo", 1003, 1253), ("bar", 7, 7)]);

    // The embedded server's own downloads show after the next rewrite.
    let url = format!("http://{addr}/simple/bar/{}", bar.filename);
    for _ in 0..2 {
        assert_eq!(get_wheel(url.clone()).await, 200);
    }
    let bar_page = out.join("project/bar/index.html");
    // Lumberjack writes them within its flush interval; then a rewrite shows them.
    let db_path = env.dir.path().join("piwheels.db");
    eventually("bar's downloads in the database", || {
        let (db_path, filename) = (db_path.clone(), bar.filename.clone());
        async move {
            let conn = rusqlite::Connection::open(db_path).unwrap();
            let n: i64 = conn
                .query_row(
                    "SELECT COUNT(*) FROM downloads WHERE filename = ?1",
                    [&filename],
                    |r| r.get(0),
                )
                .unwrap();
            n == 9
        }
    })
    .await;
    hub.web(WebRequest::Project("bar".into()));
    eventually("bar's own downloads on its page", || {
        let p = bar_page.clone();
        async move { page_figures(&read(&p)) == Some(("9".into(), "9".into())) }
    })
    .await;

    hub.quit.cancel();
    within(Duration::from_secs(30), "the master to stop", run)
        .await
        .unwrap()
        .unwrap();
}
