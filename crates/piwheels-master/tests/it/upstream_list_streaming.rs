//! The project list read as it arrives (issue 16, item 5): the JSON list through a visitor
//! that keeps each project's name and serial, the HTML list in chunks, both under a byte
//! limit, and neither accepting a body that is not a whole project list.

use crate::index_support::Index;

use std::io::{self, Read};
use std::time::Duration;

use piwheels_master::upstream::{
    IndexClient, Limited, PageError, ProjectEntry, ReadError, UpstreamError,
    parse_project_list_html, parse_project_list_json, read_project_list_html,
    read_project_list_json,
};

/// A reader that hands out its bytes a few at a time (sizes from a small generator), as a
/// network does: every boundary falls somewhere new.
struct Trickle<'a> {
    bytes: &'a [u8],
    state: u64,
    most: usize,
}

impl<'a> Trickle<'a> {
    fn new(text: &'a str, most: usize) -> Self {
        Trickle {
            bytes: text.as_bytes(),
            state: 0x9e37_79b9_7f4a_7c15,
            most,
        }
    }
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.state = self
            .state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let n = (1 + (self.state >> 33) as usize % self.most)
            .min(buf.len())
            .min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

fn entry(name: &str, serial: Option<i64>) -> ProjectEntry {
    ProjectEntry {
        name: name.to_owned(),
        last_serial: serial,
    }
}

#[test]
fn the_json_list_keeps_names_and_serials_and_skips_the_rest() {
    let text = r#"{
        "meta": {"api-version": "1.1", "_last-serial": 4242, "extra": [1, {"a": [2]}]},
        "unknown": {"deep": [[[{"projects": "not these"}]]]},
        "projects": [
            {"name": "Foo", "_last-serial": 7, "files": [{"x": 1}], "note": null},
            {"_last-serial": 8, "name": "  b\u00e4r  "},
            {"name": 5, "_last-serial": 9},
            {"name": "   "},
            {"name": "no-serial"},
            {"name": "float", "_last-serial": 1.5},
            {"name": "huge", "_last-serial": 18446744073709551615},
            {"name": "text-serial", "_last-serial": "3"},
            "a string",
            [1, 2],
            null,
            {"name": ["a"], "other": {"name": "nested, not this"}}
        ]
    }"#;
    let expected = vec![
        entry("Foo", Some(7)),
        entry("b\u{e4}r", Some(8)),
        entry("no-serial", None),
        entry("float", None),
        entry("huge", None),
        entry("text-serial", None),
    ];
    let whole = parse_project_list_json(text).unwrap();
    assert_eq!(whole.projects, expected);
    assert_eq!(whole.last_serial, Some(4242));
    for most in [1, 3, 17, 4096] {
        let read = read_project_list_json(Trickle::new(text, most)).unwrap();
        assert_eq!(read, whole, "read {most} bytes at a time");
    }
}

#[test]
fn a_body_that_is_not_a_whole_json_list_is_refused() {
    let not_lists = [
        // An error page served with a JSON content type.
        "<html><body><h1>502 Bad Gateway</h1></body></html>",
        "",
        // Truncated: a partial list must never pass for the whole.
        r#"{"projects": [{"name": "a"}, {"name": "b"}"#,
        r#"{"projects": [{"name": "a"}]"#,
        r#"{"projects": []} trailing"#,
        r#"{"projects": [{"name": "a\ud800"}]}"#,
    ];
    for text in not_lists {
        match read_project_list_json(Trickle::new(text, 5)) {
            Err(ReadError::Page(PageError::Json(_))) => {}
            other => panic!("{text:?} gave {other:?}"),
        }
        assert!(parse_project_list_json(text).is_err(), "{text:?}");
    }
    for text in [
        r#"{"meta": {"_last-serial": 1}}"#,
        r#"{"projects": 5}"#,
        r#"{"projects": {"name": "a"}}"#,
        "[]",
        "42",
        "null",
    ] {
        match read_project_list_json(Trickle::new(text, 5)) {
            Err(ReadError::Page(PageError::NoProjects)) => {}
            other => panic!("{text:?} gave {other:?}"),
        }
        assert_eq!(
            parse_project_list_json(text),
            Err(PageError::NoProjects),
            "{text:?}"
        );
    }
    // Bytes that are not UTF-8 inside a string.
    let bad = b"{\"projects\": [{\"name\": \"\xff\"}]}";
    assert!(matches!(
        read_project_list_json(&bad[..]),
        Err(ReadError::Page(PageError::Json(_)))
    ));
}

#[test]
fn the_byte_limit_holds_for_both_formats() {
    let json = r#"{"projects": [{"name": "a"}, {"name": "b"}]}"#;
    let limit = json.len() as u64;
    assert_eq!(
        read_project_list_json(Limited::new(json.as_bytes(), limit))
            .unwrap()
            .projects
            .len(),
        2
    );
    match read_project_list_json(Limited::new(json.as_bytes(), limit - 1)) {
        Err(ReadError::Page(PageError::TooLarge(l))) => assert_eq!(l, limit - 1),
        other => panic!("one byte over the limit gave {other:?}"),
    }
    // An endless body ends at the limit.
    let endless = io::repeat(b' ');
    match read_project_list_json(Limited::new(endless, 1 << 20)) {
        Err(ReadError::Page(PageError::TooLarge(_))) => {}
        other => panic!("an endless body gave {other:?}"),
    }
    let html = "<a href='a/'>a</a>".repeat(10_000);
    match read_project_list_html(Limited::new(html.as_bytes(), 100_000)) {
        Err(ReadError::Page(PageError::TooLarge(100_000))) => {}
        other => panic!("a long HTML list gave {other:?}"),
    }
    let endless = io::repeat(b'a').take(u64::MAX);
    match read_project_list_html(Limited::new(endless, 1 << 20)) {
        Err(ReadError::Page(PageError::TooLarge(_))) => {}
        other => panic!("an endless HTML body gave {other:?}"),
    }
}

/// An HTML list made to put chunk boundaries in awkward places: upper-case tags, entities,
/// characters of two to four bytes, `>` inside quoted attributes, tags inside anchors,
/// `<abbr>` and comments between them, and one anchor far longer than a chunk.
fn awkward_html(n: usize) -> String {
    let mut html = String::from("<!DOCTYPE html><html><body><h1>Links</h1>\n");
    for i in 0..n {
        match i % 7 {
            0 => html.push_str(&format!("<a href=\"/simple/p{i}/\">p{i}</a>\n")),
            1 => html.push_str(&format!(
                "<A HREF='/simple/q{i}/' data-x=\"a>b\">Q&amp;{i}</A>\n"
            )),
            2 => html.push_str(&format!(
                "<a href=/simple/r{i}/>caf\u{e9}-\u{1f600}-{i}</a><abbr>x</abbr>\n"
            )),
            3 => html.push_str(&format!(
                "<a\thref=\"/s{i}/\"><span>s</span>&#x41;{i}</a>\n"
            )),
            4 => html.push_str(&format!(
                "<!-- <b>{i}</b> --><a href=\"/t{i}/\">  t{i}  </a>\n"
            )),
            5 => html.push_str("<a href=\"/empty/\">   </a>\n"),
            _ => html.push_str(&format!("<a href=\"/u{i}/\">\u{65e5}\u{672c}{i}</a>\n")),
        }
        if i == n / 2 {
            html.push_str(&format!("<a href=\"/long/\">{}</a>\n", "l".repeat(300_000)));
        }
    }
    html.push_str("</body></html>\n");
    html
}

#[test]
fn the_html_list_read_in_chunks_is_the_list_read_whole() {
    let html = awkward_html(30_000);
    let whole = parse_project_list_html(&html);
    assert_eq!(whole.projects.len(), 30_000 - 30_000 / 7 + 1);
    assert!(whole.projects.iter().any(|p| p.name == "Q&1"));
    assert!(whole.projects.iter().any(|p| p.name == "sA3"));
    for most in [1 << 10, 7_000, 70_000] {
        let read = read_project_list_html(Trickle::new(&html, most)).unwrap();
        assert_eq!(read, whole, "read {most} bytes at a time");
    }
    // A list that ends inside an anchor, or on a `<`.
    for text in ["<a href=x>one</a><a href=y>tw", "<a href=x>one</a><", "<a"] {
        let read = read_project_list_html(Trickle::new(text, 2)).unwrap();
        assert_eq!(read, parse_project_list_html(text), "{text:?}");
    }
    let bad = b"<a href=x>\xff</a>";
    assert!(matches!(
        read_project_list_html(&bad[..]),
        Err(ReadError::Page(PageError::NotUtf8))
    ));
}

#[tokio::test]
async fn the_client_refuses_an_error_page_served_as_the_json_list() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::start(dir.path());
    let client = IndexClient::new(&index.url, Duration::from_secs(5)).unwrap();
    for body in [
        "<html><body>Service unavailable</body></html>",
        r#"{"message": "maintenance"}"#,
        r#"{"projects": [{"name": "a"}, {"name": "b"}"#,
    ] {
        index.write("simple", "index.json", body);
        match client.projects(None).await {
            Err(UpstreamError::Parse { .. }) => {}
            other => panic!("{body:?} gave {other:?}"),
        }
    }
    let list: String = (0..20_000)
        .map(|i| format!(r#"{{"name": "p{i}", "_last-serial": {i}, "x": [{i}]}}"#))
        .collect::<Vec<_>>()
        .join(",");
    index.write(
        "simple",
        "index.json",
        &format!(r#"{{"meta": {{"_last-serial": 20000}}, "projects": [{list}]}}"#),
    );
    let Ok(piwheels_master::upstream::Fetched::Changed { value, .. }) = client.projects(None).await
    else {
        panic!("the list is there")
    };
    assert_eq!(value.projects.len(), 20_000);
    assert_eq!(value.projects[19_999], entry("p19999", Some(19_999)));
    assert_eq!(value.last_serial, Some(20_000));
}
