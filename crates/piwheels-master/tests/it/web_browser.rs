//! The site in a real browser (issue 17, "A real browser test"): headless Chromium, over
//! WebDriver, against the master's web server serving pages the scribe wrote from a
//! database with downloads logged. It loads the home page, searches for a package on the
//! search page and follows the hit to its project page, whose download figures must be
//! the database's once its JavaScript ran, and checks that nothing is wider than a 400 px
//! window.

use crate::web_pages::pages_site;
use crate::webdriver_support::{Browser, chromedriver};

use std::time::Duration;

use serde_json::{Value, json};

/// Where to save screenshots of the pages at 400 px, if anywhere (for people to look at
/// the layout; the test checks it by itself).
const SCREENSHOTS: &str = "PIWHEELS_TEST_SCREENSHOTS";

/// How long the page's own requests (packages.json) may take to show.
const SHOW: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_searches_finds_and_shows_downloads() {
    const TEST: &str = "web_browser::chromium_searches_finds_and_shows_downloads";
    let driver = match tokio::task::spawn_blocking(chromedriver).await.unwrap() {
        Ok(d) => d,
        Err(why) => return test_support::skip(TEST, &why),
    };
    let site = pages_site(|c| c.report_url = Some(crate::web_pages::REPORT.into())).await;
    let downloads = site.farm.hub.db.search_index().await.unwrap()["foo-bar"];
    assert_eq!(
        (downloads.recent, downloads.all),
        (3, 5),
        "the fixture's downloads"
    );
    let modified = std::fs::metadata(site.farm.out.join("project/foo-bar/index.html"))
        .unwrap()
        .modified()
        .unwrap();
    let modified = chrono::DateTime::<chrono::Utc>::from(modified)
        .format("%Y-%m-%d %H:%M UTC")
        .to_string();
    let base = format!("http://{}", site.addr);
    let (recent, all) = (downloads.recent, downloads.all);
    tokio::task::spawn_blocking(move || {
        let browser = Browser::start(&driver, 1200, 900);
        home(&browser, &base);
        search(&browser, &base);
        project(&browser, &base, recent, all, &modified);
        narrow(&browser, &base);
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    drop(site);
}

fn text(browser: &Browser, css: &str) -> String {
    browser
        .eval(
            "var e = document.querySelector(arguments[0]); return e ? e.textContent : null;",
            json!([css]),
        )
        .as_str()
        .unwrap_or_else(|| panic!("no {css} on the page"))
        .trim()
        .to_owned()
}

fn home(browser: &Browser, base: &str) {
    browser.goto(&format!("{base}/"));
    assert_eq!(text(browser, "h1"), "piwheels");
    let targets = browser.eval(
        "return Array.from(document.querySelectorAll('table.targets tbody tr'))\
         .map(function (r) { return r.cells[1].textContent + '/' + r.cells[2].textContent; });",
        json!([]),
    );
    assert_eq!(
        targets,
        json!([
            "cp39/linux_armv7l",
            "cp311/linux_armv7l",
            "cp313/linux_aarch64"
        ])
    );
}

fn search(browser: &Browser, base: &str) {
    browser.goto(&format!("{base}/packages.html"));
    let input = browser.find("#q");
    browser.type_into(&input, "foo");
    // The result rows: links to the hits' project pages.
    let script = "var rows = document.querySelectorAll('#results tbody tr');\
        if (!rows.length) { return null; }\
        return Array.from(rows).map(function (r) {\
          var a = r.querySelector('a'); return [a.textContent, a.href]; });";
    let hits = browser.wait_for("a search result for \"foo\"", SHOW, script);
    assert_eq!(
        hits,
        json!([["foo-bar", format!("{base}/project/foo-bar/")]]),
        "only foo-bar matches \"foo\""
    );
    // Another search replaces the rows.
    browser.type_into(&input, "\u{e003}\u{e003}\u{e003}baz");
    let hits = browser.wait_for(
        "the rows for \"baz\"",
        SHOW,
        "var a = document.querySelector('#results tbody tr a');\
         return a && a.textContent === 'baz-qux' ? a.getAttribute('href') : null;",
    );
    assert_eq!(hits, "/project/baz-qux/");
}

fn project(browser: &Browser, base: &str, recent: i64, all: i64, modified: &str) {
    browser.goto(&format!("{base}/project/foo-bar/"));
    assert_eq!(text(browser, "h1"), "Foo_Bar");
    let shown = browser.wait_for(
        "the download figures filled in by project.js",
        SHOW,
        "var r = document.querySelector('.downloads-recent').textContent.trim();\
         var a = document.querySelector('.downloads-all').textContent.trim();\
         return /^[0-9,]+$/.test(r) && /^[0-9,]+$/.test(a) ? [r, a] : null;",
    );
    let figure = |v: &Value| v.as_str().unwrap().replace(',', "").parse::<i64>().unwrap();
    assert_eq!(
        (figure(&shown[0]), figure(&shown[1])),
        (recent, all),
        "the page shows the database's downloads"
    );
    // Every status icon loaded, and each with a text alternative.
    let icons = browser.eval(
        "return Array.from(document.querySelectorAll('td.status img')).map(function (i) {\
           return [i.complete && i.naturalWidth > 0, i.alt]; });",
        json!([]),
    );
    let icons = icons.as_array().unwrap();
    assert!(!icons.is_empty());
    for icon in icons {
        assert_eq!(icon[0], true, "an icon that did not load: {icon}");
        assert!(!icon[1].as_str().unwrap().is_empty(), "{icon}");
    }
    // The last-updated time is the page's Last-Modified, in UTC.
    assert_eq!(text(browser, "time.last-updated"), modified);
    assert_eq!(
        browser.eval(
            "return document.querySelector('p.report a').getAttribute('href');",
            json!([])
        ),
        "https://reports.example.test/new?title=foo-bar"
    );
}

/// At 400 px nothing is wider than the window, and release dates stay on one line.
fn narrow(browser: &Browser, base: &str) {
    browser.resize(400, 800);
    let width = browser.eval("return window.innerWidth;", json!([]));
    assert!(
        (350..=400).contains(&width.as_i64().unwrap()),
        "the window is {width} px wide, not about 400"
    );
    for page in ["/", "/packages.html?q=-", "/faq.html", "/project/foo-bar/"] {
        browser.goto(&format!("{base}{page}"));
        if page.starts_with("/packages.html") {
            // Measured with its results shown (both packages match "-").
            browser.wait_for(
                "both packages listed",
                SHOW,
                "return document.querySelectorAll('#results tbody tr').length === 2;",
            );
        }
        let scroll = browser.eval("return document.documentElement.scrollWidth;", json!([]));
        assert!(
            scroll.as_i64().unwrap() <= 400,
            "{page} is {scroll} px wide in a 400 px window"
        );
        if let Some(dir) = std::env::var_os(SCREENSHOTS) {
            let name = match page.trim_matches('/') {
                "" => "home".to_owned(),
                p => p.replace(['/', '.', '?', '='], "_"),
            };
            // The releases table, on the project page.
            browser.eval(
                "var t = document.querySelector('table.releases'); if (t) { t.scrollIntoView(); }",
                json!([]),
            );
            browser.screenshot(&std::path::Path::new(&dir).join(format!("{name}-400.png")));
        }
    }
    // (still on the project page) A date that wrapped would be in two boxes.
    let dates = browser.eval(
        "return Array.from(document.querySelectorAll('td.date time')).map(function (t) {\
           return [t.textContent, t.getClientRects().length]; });",
        json!([]),
    );
    let dates = dates.as_array().unwrap();
    assert_eq!(dates.len(), 2, "{dates:?}");
    for date in dates {
        assert_eq!(date[1], 1, "{date} wraps");
    }
}
