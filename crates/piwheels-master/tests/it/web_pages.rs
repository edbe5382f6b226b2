//! The pages people read (issue 17, item 7), on a real SQLite database and real files: the
//! home page's targets table follows the database, the FAQ answers what users ask with
//! this farm's own index URL, project pages show a status icon per target linking to its
//! build log, the full release time on hover, a "last updated" time and the configured
//! report link (and none when there is none). `web_browser` drives the same site in
//! Chromium.

use crate::web_common;

use std::fs;
use std::net::SocketAddr;
use std::path::Path;

use chrono::{DateTime, TimeDelta, Utc};
use piwheels_db::{AccessRecord, DownloadRecord};
use piwheels_master::MasterConfig;
use piwheels_master::hub::{Task, WebRequest};
use piwheels_master::the_scribe::TheScribe;
use piwheels_master::web_server::WebServer;
use piwheels_protocol::monitor::MasterStats;
use web_common::*;

/// The report URL the configured farms use.
pub(crate) const REPORT: &str = "https://reports.example.test/new?title={package}";

/// When `foo-bar` 1.0 was released: not midnight, so the full time shows.
pub(crate) fn release_time() -> DateTime<Utc> {
    day(1) + TimeDelta::seconds(13 * 3600 + 45 * 60 + 7)
}

/// A site with pages written by the scribe and the master's web server serving them.
pub(crate) struct PagesSite {
    pub(crate) farm: Farm,
    pub(crate) addr: SocketAddr,
    /// The build ids, in the order logged: foo-bar 1.0 (cp311, success), foo-bar 1.1
    /// (cp39, failed), baz-qux 2.0 (cp311, success).
    pub(crate) build_ids: Vec<i64>,
    pub(crate) server: tokio::task::JoinHandle<piwheels_master::Result<()>>,
}

impl Drop for PagesSite {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn download(filename: &str, days_ago: i64) -> AccessRecord {
    AccessRecord::Download(DownloadRecord {
        name: filename.into(),
        host: "192.0.2.7".parse().unwrap(),
        timestamp: Utc::now() - TimeDelta::days(days_ago),
        arch: Some("armv7l".into()),
        distro_name: None,
        distro_version: None,
        os_name: Some("Linux".into()),
        os_version: None,
        py_name: Some("CPython".into()),
        py_version: Some("3.11.2".into()),
        installer_name: Some("pip".into()),
        installer_version: Some("23.0.1".into()),
        setuptools_version: None,
    })
}

/// Statistics for the home page (the figures themselves are not what these tests check).
pub(crate) fn stats() -> MasterStats {
    MasterStats {
        timestamp: Utc::now(),
        packages_built: 2,
        builds_last_hour: Default::default(),
        builds_time: TimeDelta::minutes(3),
        builds_size: 3000,
        builds_pending: Default::default(),
        new_last_hour: 0,
        files_count: 2,
        downloads_last_hour: 0,
        downloads_last_month: 0,
        downloads_all: 0,
        disk_size: 0,
        disk_free: 0,
        mem_size: 0,
        mem_free: 0,
        swap_size: 0,
        swap_free: 0,
        load_average: 0.0,
        cpu_temp: 0.0,
    }
}

/// Two packages, three targets (one skipped), builds that succeeded and failed, logs,
/// downloads (foo-bar: 3 in the last 30 days, 5 ever); every page written by the scribe
/// and served by the master's web server.
pub(crate) async fn pages_site(configure: impl FnOnce(&mut MasterConfig)) -> PagesSite {
    let farm = farm(configure).await;
    let db = &farm.hub.db;
    db.set_build_targets(&[
        target("cp39/linux_armv7l"),
        target("cp311/linux_armv7l"),
        target("cp313/linux_aarch64"),
    ])
    .await
    .unwrap();
    db.skip_build_target(&target("cp313/linux_aarch64"), "no builder yet")
        .await
        .unwrap();
    db.add_new_package("foo-bar", "", "Foo bars, quickly")
        .await
        .unwrap();
    db.add_package_name("foo-bar", "Foo_Bar", Some(day(5)))
        .await
        .unwrap();
    db.add_new_package_version("foo-bar", "1.0", Some(release_time()), "")
        .await
        .unwrap();
    db.add_new_package_version("foo-bar", "1.1", Some(day(3)), "")
        .await
        .unwrap();
    db.add_new_package("baz-qux", "", "Bazzes the qux")
        .await
        .unwrap();
    db.add_new_package_version("baz-qux", "2.0", Some(day(4)), "")
        .await
        .unwrap();
    let foo_wheel = make_wheel("foo_bar", "1.0", None);
    let baz_wheel = make_wheel("baz_qux", "2.0", None);
    let foo_file = new_file(&foo_wheel, None, &[("apt", "libfoo1")]);
    let baz_file = new_file(&baz_wheel, None, &[]);
    let build_ids = vec![
        log_build(db, "foo-bar", "1.0", "cp311/linux_armv7l", vec![foo_file]).await,
        log_build(db, "foo-bar", "1.1", "cp39/linux_armv7l", vec![]).await,
        log_build(db, "baz-qux", "2.0", "cp311/linux_armv7l", vec![baz_file]).await,
    ];
    place(&farm.out, "foo-bar", &foo_wheel, true);
    place(&farm.out, "baz-qux", &baz_wheel, true);
    let mut records: Vec<AccessRecord> = (0..3).map(|_| download(&foo_wheel.filename, 1)).collect();
    records.extend((0..2).map(|_| download(&foo_wheel.filename, 40)));
    records.push(download(&baz_wheel.filename, 2));
    db.log_access(&records).await.unwrap();

    let mut scribe =
        TheScribe::new(farm.hub.clone(), tokio::sync::mpsc::unbounded_channel().1).unwrap();
    let mut reqs = vec![
        WebRequest::Both("foo-bar".into()),
        WebRequest::Both("baz-qux".into()),
        WebRequest::Home(Box::new(stats())),
        WebRequest::Search,
    ];
    for &build_id in &build_ids {
        reqs.push(WebRequest::Log {
            build_id,
            log: format!("build {build_id}\n"),
        });
    }
    for req in reqs {
        scribe.handle(req).await.unwrap();
    }
    let mut server = WebServer::bind(farm.hub.clone()).unwrap();
    let addr = server.local_addr();
    let server = tokio::spawn(async move { server.run().await });
    PagesSite {
        farm,
        addr,
        build_ids,
        server,
    }
}

fn read(p: impl AsRef<Path>) -> String {
    let p = p.as_ref();
    fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The text between `start` and the next `end` after it.
fn between<'a>(hay: &'a str, start: &str, end: &str) -> &'a str {
    let from = hay
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} missing from:\n{hay}"))
        + start.len();
    let len = hay[from..]
        .find(end)
        .unwrap_or_else(|| panic!("{end:?} missing after {start:?} in:\n{hay}"));
    &hay[from..from + len]
}

/// The cells' texts (tags removed) of each row of a `<tbody>`.
fn rows(tbody: &str) -> Vec<Vec<String>> {
    tbody
        .split("<tr")
        .skip(1)
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|cell| {
                    let cell = &cell[cell.find('>').unwrap() + 1..];
                    let cell = cell.split("</td>").next().unwrap();
                    let mut text = String::new();
                    let mut in_tag = false;
                    for c in cell.chars() {
                        match c {
                            '<' => in_tag = true,
                            '>' => in_tag = false,
                            c if !in_tag => text.push(c),
                            _ => {}
                        }
                    }
                    text.trim().to_owned()
                })
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn the_home_page_lists_the_databases_targets() {
    let site = pages_site(|_| {}).await;
    let home = read(site.farm.out.join("index.html"));
    let table = between(&home, "<table class=\"targets\">", "</table>");
    let shown = rows(between(table, "<tbody>", "</tbody>"));
    let targets = site.farm.hub.db.build_targets().await.unwrap();
    assert_eq!(shown.len(), targets.len(), "one row per target: {shown:?}");
    for (row, (t, skip)) in shown.iter().zip(&targets) {
        let status = if skip.is_empty() {
            "building".to_owned()
        } else {
            format!("not built: {skip}")
        };
        assert_eq!(
            row[1..],
            [t.abi.clone(), t.platform.clone(), status],
            "{row:?}"
        );
    }
    assert_eq!(
        shown.iter().map(|r| r[0].as_str()).collect::<Vec<_>>(),
        [
            "Bullseye / Python 3.9",
            "Bookworm / Python 3.11",
            "Trixie / Python 3.13"
        ]
    );

    // A target added later shows at the next home page rewrite.
    let db = &site.farm.hub.db;
    let mut all: Vec<_> = targets.into_iter().map(|(t, _)| t).collect();
    all.push(target("cp312/linux_aarch64"));
    db.set_build_targets(&all).await.unwrap();
    let mut scribe = TheScribe::new(
        site.farm.hub.clone(),
        tokio::sync::mpsc::unbounded_channel().1,
    )
    .unwrap();
    scribe
        .handle(WebRequest::Home(Box::new(stats())))
        .await
        .unwrap();
    let home = read(site.farm.out.join("index.html"));
    let table = between(&home, "<table class=\"targets\">", "</table>");
    let shown = rows(between(table, "<tbody>", "</tbody>"));
    assert!(
        shown
            .iter()
            .any(|r| r[..3] == ["Python 3.12", "cp312", "linux_aarch64"]),
        "{shown:?}"
    );
}

#[tokio::test]
async fn the_faq_answers_with_this_farms_index() {
    let site = pages_site(|c| c.site_url = "https://pi.example.test/wheels".into()).await;
    let faq = read(site.farm.out.join("faq.html"));
    for id in [
        "pip-conf",
        "uv",
        "venv",
        "sudo",
        "hash-mismatch",
        "apt",
        "yanked",
        "missing-package",
        "builds",
    ] {
        let section = between(&faq, &format!("<section id=\"{id}\">"), "</section>");
        assert!(section.contains("<h2>"), "{id} has a heading");
        assert!(
            faq.contains(&format!("href=\"#{id}\"")),
            "{id} is in the list of questions"
        );
    }
    let index = "https://pi.example.test/wheels/simple";
    assert!(
        between(&faq, "<section id=\"pip-conf\">", "</section>")
            .contains(&format!("extra-index-url={index}"))
    );
    let uv = between(&faq, "<section id=\"uv\">", "</section>");
    assert!(uv.contains(&format!("url = \"{index}\"")), "{uv}");
    assert!(uv.contains(&format!("--extra-index-url {index}")), "{uv}");
    // Every absolute URL in the FAQ is this farm's own.
    for (at, _) in faq.match_indices("://") {
        let start = faq[..at]
            .rfind(|c: char| !c.is_ascii_alphanumeric())
            .unwrap()
            + 1;
        assert!(
            faq[start..].starts_with("https://pi.example.test/wheels"),
            "a URL that is not the farm's: {}",
            &faq[start..(at + 40).min(faq.len())]
        );
    }
}

#[tokio::test]
async fn project_pages_show_status_icons_log_links_times_and_the_report_link() {
    let site = pages_site(|c| c.report_url = Some(REPORT.into())).await;
    let out = &site.farm.out;
    let page = read(out.join("project/foo-bar/index.html"));
    let table = between(&page, "<table class=\"releases\">", "</table>");
    let body = between(table, "<tbody>", "</tbody>");
    // Releases newest first (1.1, 1.0), a column per target of the database's data: each
    // cell the status's icon with its text, linking to the build's log when it has one.
    let cells: Vec<Vec<&str>> = body
        .split("<tr")
        .skip(1)
        .map(|row| row.split("<td class=\"status ").skip(1).collect())
        .collect();
    let data = site
        .farm
        .hub
        .db
        .project_data("foo-bar")
        .await
        .unwrap()
        .unwrap();
    let log = |id: i64| format!("/logs/0000/0000/{id:04}.txt.gz");
    let mut links = Vec::new();
    assert_eq!(cells.len(), 2);
    for (row, version) in cells.iter().zip(["1.1", "1.0"]) {
        let targets = &data.releases[version].targets;
        assert_eq!(row.len(), targets.len(), "{version}: {row:?}");
        for (cell, (t, st)) in row.iter().zip(targets) {
            let status = st.status.as_str();
            assert!(
                cell.starts_with(&format!("{status}\">")),
                "{version} {t}: {cell}"
            );
            assert!(
                cell.contains(&format!("<img src=\"/status-{status}.svg\" alt=\"")),
                "{version} {t}: {cell}"
            );
            match st.build_id {
                Some(id) => {
                    assert!(cell.contains(&format!("<a href=\"{}\"", log(id))), "{cell}");
                    links.push((version, status, id));
                }
                None => assert!(!cell.contains("<a "), "{cell}"),
            }
        }
    }
    // The failed build and the successful one are both there, with their logs.
    assert!(
        links.contains(&("1.1", "fail", site.build_ids[1])),
        "{links:?}"
    );
    assert!(
        links.contains(&("1.0", "success", site.build_ids[0])),
        "{links:?}"
    );
    for (_, _, id) in &links {
        assert!(
            out.join(&log(*id)[1..]).is_file(),
            "the linked log {} exists",
            log(*id)
        );
    }
    for status in ["success", "fail", "pending", "skip", "error"] {
        let svg = read(out.join(format!("status-{status}.svg")));
        assert!(svg.starts_with("<svg"), "{status}");
    }
    // The full release time on hover, the day shown, in a cell that does not wrap.
    assert!(
        page.contains(
            "<td class=\"date\"><time datetime=\"2024-01-02T13:45:07Z\" \
             title=\"2024-01-02 13:45:07 UTC\">2024-01-02</time></td>"
        ),
        "{table}"
    );
    // Last updated: filled in from the page's Last-Modified time by page.js.
    assert!(page.contains("<time class=\"last-updated\">"));
    assert!(page.contains("<script src=\"/page.js\" defer></script>"));
    assert!(read(out.join("page.js")).contains("document.lastModified"));
    // The configured report link, with the package's name.
    assert!(
        page.contains("<a href=\"https://reports.example.test/new?title=foo-bar\">"),
        "{page}"
    );

    // No report URL configured: no link, and no other place to report to.
    let bare = pages_site(|_| {}).await;
    let page = read(bare.farm.out.join("project/foo-bar/index.html"));
    assert!(!page.contains("Report a problem"), "{page}");
    assert!(!page.contains("reports.example.test"));
    assert!(!page.contains("github"), "no hard-coded repository");
}

#[tokio::test]
async fn the_stylesheet_keeps_dates_whole_and_tables_in_their_box() {
    let site = pages_site(|_| {}).await;
    let css = read(site.farm.out.join("styles.css"));
    let rule = |selector: &str| -> String {
        css.lines()
            .find(|l| l.starts_with(selector))
            .unwrap_or_else(|| panic!("no rule for {selector} in:\n{css}"))
            .to_owned()
    };
    assert!(rule("time, td.date").contains("white-space: nowrap"));
    let table = rule("table {");
    assert!(
        table.contains("overflow-x: auto") && table.contains("max-width: 100%"),
        "{table}"
    );
}
