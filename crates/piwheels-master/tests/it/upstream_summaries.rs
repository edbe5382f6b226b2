//! Issue 16, item 3: each project's one-line summary comes from the upstream's JSON API
//! (`--pypi-json`) for the projects that changed, is stored, and shows on the project
//! page, in the project JSON and in `packages.json`, with a link to the project's page
//! upstream. A JSON API that fails keeps the old summary and is asked again later.
//!
//! Against a real index and JSON API served over HTTP on 127.0.0.1 (`index_support`), a
//! real SQLite database and TheScribe's real output.

use crate::index_support;
use crate::web_common;

use piwheels_master::cloud_gazer::{CloudGazer, PollReport};
use piwheels_master::hub::WebRequest;
use piwheels_master::the_scribe::TheScribe;
use serde_json::Value;

use index_support::{Index, json_list, json_page};

/// An index with these projects (name, serial), each with the sdists `<name>-1.0` to
/// `<name>-<serial>.0` (none is ever removed).
fn list(index: &Index, projects: &[(&str, i64)]) {
    index.write("simple", "index.json", &json_list(projects));
    for (name, serial) in projects {
        let files: Vec<String> = (1..=*serial)
            .map(|s| format!("{name}-{s}.0.tar.gz"))
            .collect();
        let files: Vec<(&str, bool, Option<&str>)> =
            files.iter().map(|f| (f.as_str(), false, None)).collect();
        index.write(
            &format!("simple/{}", name.to_lowercase().replace('_', "-")),
            "index.json",
            &json_page(name, &files),
        );
    }
}

/// The JSON API's document of a project, with this `info`.
fn api(index: &Index, name: &str, info: &Value) {
    let doc = serde_json::json!({"info": info, "releases": {}});
    index.remove(&format!("pypi/{name}/json"));
    index.write(&format!("pypi/{name}/json"), "index.json", &doc.to_string());
}

/// What the JSON API answers for a project instead of a document.
fn api_fails(index: &Index, name: &str, how: &str) {
    let dir = format!("pypi/{name}/json");
    index.remove(&dir);
    match how {
        "404" => {}
        "500" => index.write(&dir, "status", "500"),
        "not json" => index.write(&dir, "index.html", "<html>Service Unavailable</html>"),
        "no summary" => index.write(&dir, "index.json", r#"{"info": {"name": "x"}}"#),
        _ => unreachable!("{how}"),
    }
}

async fn farm(index: &Index, json_api: bool) -> web_common::Farm {
    let url = index.url.clone();
    let api = index.url.replace("/simple/", "/pypi");
    web_common::farm(move |c| {
        c.upstream = Some(url);
        c.upstream_json = json_api.then_some(api);
    })
    .await
}

async fn description(f: &web_common::Farm, package: &str) -> String {
    f.hub
        .db
        .package_description(package)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{package} is not in the database"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_projects_get_their_summary_unchanged_ones_are_not_asked_again() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::start(dir.path());
    list(&index, &[("alpha", 1), ("beta", 1)]);
    api(
        &index,
        "alpha",
        &serde_json::json!({"summary": "Alpha does A"}),
    );
    api(
        &index,
        "beta",
        &serde_json::json!({"summary": "Beta\n  does\tB  "}),
    );
    let f = farm(&index, true).await;
    let mut gazer = CloudGazer::new(f.hub.clone());
    let report = gazer.poll().await.unwrap();
    assert_eq!(
        (report.new_packages, report.summaries, report.summary_errors),
        (2, 2, 0),
        "{report:?}"
    );
    assert_eq!(description(&f, "alpha").await, "Alpha does A");
    assert_eq!(description(&f, "beta").await, "Beta does B", "one line");

    // Both summaries change upstream, but only beta's page does: only beta is asked.
    api(&index, "alpha", &serde_json::json!({"summary": "Alpha v2"}));
    api(&index, "beta", &serde_json::json!({"summary": "Beta v2"}));
    list(&index, &[("alpha", 1), ("beta", 2)]);
    let report = gazer.poll().await.unwrap();
    assert_eq!(
        (report.pages, report.summaries, report.summary_errors),
        (1, 1, 0),
        "{report:?}"
    );
    assert_eq!(description(&f, "beta").await, "Beta v2");
    assert_eq!(description(&f, "alpha").await, "Alpha does A");
    assert_eq!(index.hits("/pypi/alpha/json"), 1, "alpha did not change");
    assert_eq!(index.hits("/pypi/beta/json"), 2);

    // Nothing changed: the JSON API is not asked at all.
    let before = (
        index.hits("/pypi/alpha/json"),
        index.hits("/pypi/beta/json"),
    );
    let report = gazer.poll().await.unwrap();
    assert_eq!(report.summaries + report.summary_errors, 0, "{report:?}");
    assert_eq!(
        (
            index.hits("/pypi/alpha/json"),
            index.hits("/pypi/beta/json")
        ),
        before
    );

    // A summary that is null upstream empties the description.
    api(&index, "beta", &serde_json::json!({"summary": null}));
    list(&index, &[("alpha", 1), ("beta", 3)]);
    let report = gazer.poll().await.unwrap();
    assert_eq!(report.summaries, 1, "{report:?}");
    assert_eq!(description(&f, "beta").await, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_api_that_fails_keeps_the_old_summary_and_is_asked_again() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::start(dir.path());
    let names = ["p404", "p500", "notjson", "nosummary"];
    let hows = ["404", "500", "not json", "no summary"];
    let mut projects: Vec<(&str, i64)> = names.iter().map(|n| (*n, 1)).collect();
    list(&index, &projects);
    for n in names {
        api(
            &index,
            n,
            &serde_json::json!({"summary": format!("{n} old")}),
        );
    }
    let f = farm(&index, true).await;
    let mut gazer = CloudGazer::new(f.hub.clone());
    let report = gazer.poll().await.unwrap();
    assert_eq!(report.summaries, 4, "{report:?}");

    // Every page changes, every JSON fails, each its own way.
    for (n, how) in names.iter().zip(hows) {
        api_fails(&index, n, how);
    }
    for p in &mut projects {
        p.1 = 2;
    }
    list(&index, &projects);
    let report = gazer.poll().await.unwrap();
    assert_eq!(
        (
            report.pages,
            report.summaries,
            report.summary_errors,
            report.errors
        ),
        (4, 0, 4, 0),
        "{report:?}"
    );
    for n in names {
        assert_eq!(description(&f, n).await, format!("{n} old"), "{n} kept");
        assert_eq!(index.hits(&format!("/pypi/{n}/json")), 2, "{n}");
    }

    // Nothing changes upstream, and still each is asked again: at the next poll, then
    // after 2 polls, then 4 (a backoff), while the JSON API keeps failing.
    let mut asked = Vec::new();
    for poll in 0..7 {
        let report = gazer.poll().await.unwrap();
        assert!(report.unchanged, "{report:?}");
        if report.summary_errors > 0 {
            assert_eq!(report.summary_errors, 4, "{report:?}");
            asked.push(poll);
        }
    }
    assert_eq!(asked, [0, 2, 6], "the polls that asked again");
    for n in names {
        assert_eq!(description(&f, n).await, format!("{n} old"), "{n} kept");
    }

    // The JSON API is back: the summaries come at the next due poll.
    for n in names {
        api(
            &index,
            n,
            &serde_json::json!({"summary": format!("{n} new")}),
        );
    }
    let mut polls = 0;
    while description(&f, "p404").await != "p404 new" {
        polls += 1;
        assert!(polls <= 8, "the summaries never came back");
        gazer.poll().await.unwrap();
    }
    for n in names {
        assert_eq!(description(&f, n).await, format!("{n} new"));
    }
    // No longer owed: not asked again.
    let hits = index.hits("/pypi/p500/json");
    let report = gazer.poll().await.unwrap();
    assert_eq!(
        report,
        PollReport {
            unchanged: true,
            ..Default::default()
        }
    );
    assert_eq!(index.hits("/pypi/p500/json"), hits);
}

/// A summary made to hurt: markup, quotes, control characters, an escape sequence, a
/// newline and far more than 200 characters.
fn hostile() -> String {
    format!(
        "<script>alert(\"x\")</script> & <b>bold</b> 'q' \u{0}\u{7}\u{1b}[31mred\nline{}",
        "y".repeat(5000)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_summary_is_clipped_and_escaped_in_the_pages_and_the_json() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::start(dir.path());
    list(&index, &[("evil", 1)]);
    api(&index, "evil", &serde_json::json!({"summary": hostile()}));
    let f = farm(&index, true).await;
    let mut gazer = CloudGazer::new(f.hub.clone());
    let report = gazer.poll().await.unwrap();
    assert_eq!(report.summaries, 1, "{report:?}");
    let stored = description(&f, "evil").await;
    assert_eq!(stored.chars().count(), 200, "clipped: {stored:?}");
    assert!(stored.ends_with('…'));
    assert!(
        !stored.chars().any(|c| c.is_control()),
        "no control characters: {stored:?}"
    );
    assert!(stored.starts_with("<script>alert(\"x\")</script> & <b>bold</b>"));

    let mut scribe =
        TheScribe::new(f.hub.clone(), tokio::sync::mpsc::unbounded_channel().1).unwrap();
    scribe
        .handle(WebRequest::Both("evil".into()))
        .await
        .unwrap();
    scribe.handle(WebRequest::Search).await.unwrap();

    let html = std::fs::read_to_string(f.out.join("project/evil/index.html")).unwrap();
    assert!(!html.contains("<script>alert"), "markup escaped");
    assert!(!html.contains("<b>bold"), "markup escaped");
    assert!(
        html.contains("&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; &#38; &#60;b&#62;bold"),
        "the summary shows, escaped"
    );
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(f.out.join("project/evil/json/index.json")).unwrap(),
    )
    .expect("the project JSON is JSON");
    assert_eq!(doc["summary"], stored.as_str());
    let rows: Value =
        serde_json::from_str(&std::fs::read_to_string(f.out.join("packages.json")).unwrap())
            .expect("packages.json is JSON");
    assert_eq!(rows[0][0], "evil");
    assert_eq!(rows[0][3], stored.as_str(), "packages.json has the summary");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_link_to_their_page_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::start(dir.path());
    list(&index, &[("Alpha_Pkg", 1)]);
    api(&index, "Alpha_Pkg", &serde_json::json!({"summary": "A"}));
    let base = index.url.trim_end_matches("/simple/").to_owned();
    // With a JSON API (a warehouse-like index): its own project page. Without one: the
    // project's simple page, which every index has.
    for (json_api, expected) in [
        (true, format!("{base}/project/alpha-pkg")),
        (false, format!("{}alpha-pkg/", index.url)),
    ] {
        let f = farm(&index, json_api).await;
        CloudGazer::new(f.hub.clone()).poll().await.unwrap();
        let mut scribe =
            TheScribe::new(f.hub.clone(), tokio::sync::mpsc::unbounded_channel().1).unwrap();
        scribe
            .handle(WebRequest::Both("alpha-pkg".into()))
            .await
            .unwrap();
        let doc: Value = serde_json::from_str(
            &std::fs::read_to_string(f.out.join("project/alpha-pkg/json/index.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(doc["pypi_url"], expected.as_str(), "json API: {json_api}");
        let html = std::fs::read_to_string(f.out.join("project/alpha-pkg/index.html")).unwrap();
        assert!(
            html.contains(&format!("<a href=\"{expected}\">")),
            "a visible link to {expected}"
        );
        let summary = if json_api { "A" } else { "" };
        assert_eq!(doc["summary"], summary, "json API: {json_api}");
        assert!(html.contains(&format!("<p class=\"summary\">{summary}</p>")));
    }
}
