//! Issue 17, item 5: several ranges of one file are answered `206` with a
//! `multipart/byteranges` body (RFC 9110 §14.6), from a file read whole and from one sent
//! in pieces, with `HEAD` giving the same length; overlapping, unordered or too many
//! ranges get the whole file; `If-Match` naming another version is a `412`. Real HTTP
//! against the running server.

use std::net::SocketAddr;

use crate::web_http::{Reply, get, site};

/// The parts of a `multipart/byteranges` body: each part's `Content-Range` and bytes.
fn parts(r: &Reply) -> Vec<(String, Vec<u8>)> {
    let ctype = r.header("content-type").expect("a Content-Type");
    let boundary = ctype
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("a multipart/byteranges Content-Type: {ctype}"));
    let delimiter = format!("--{boundary}");
    let body = &r.body;
    let find = |from: usize, what: &[u8]| -> usize {
        body[from..]
            .windows(what.len())
            .position(|w| w == what)
            .map(|p| p + from)
            .unwrap_or_else(|| panic!("{:?} after byte {from}", String::from_utf8_lossy(what)))
    };
    assert!(
        body.starts_with(delimiter.as_bytes()),
        "a body opening with the boundary"
    );
    let mut out = Vec::new();
    let mut at = delimiter.len();
    loop {
        if body[at..].starts_with(b"--\r\n") {
            assert_eq!(at + 4, body.len(), "nothing after the closing delimiter");
            return out;
        }
        assert!(body[at..].starts_with(b"\r\n"));
        let head_end = find(at, b"\r\n\r\n");
        let head = String::from_utf8_lossy(&body[at + 2..head_end]).into_owned();
        let range = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Range: "))
            .unwrap_or_else(|| panic!("a Content-Range in {head:?}"))
            .to_owned();
        assert!(head.contains("Content-Type: "), "{head}");
        // The part's length is its Content-Range's; the delimiter follows it.
        let (first, last) = range
            .strip_prefix("bytes ")
            .and_then(|r| r.split_once('/'))
            .and_then(|(r, _)| r.split_once('-'))
            .unwrap_or_else(|| panic!("a byte range: {range}"));
        let n = last.parse::<usize>().unwrap() - first.parse::<usize>().unwrap() + 1;
        let start = head_end + 4;
        out.push((range, body[start..start + n].to_vec()));
        let next = format!("\r\n{delimiter}");
        assert!(
            body[start + n..].starts_with(next.as_bytes()),
            "a delimiter after a part"
        );
        at = start + n + next.len();
    }
}

/// A `HEAD` with a `Range`, on a fresh connection: its status and head.
async fn head_with_range(addr: SocketAddr, path: &str, range: &str) -> (u16, String, usize) {
    let request =
        format!("HEAD {path} HTTP/1.1\r\nHost: x\r\nRange: {range}\r\nConnection: close\r\n\r\n");
    let (status, head, body) = crate::web_http_caching::exchange(addr, request).await;
    (status, head, body.len())
}

/// Checks a multipart answer for `ranges` (inclusive) of `bytes`.
fn check(r: &Reply, bytes: &[u8], ranges: &[(usize, usize)], ctype: &str) {
    assert_eq!(r.status, 206);
    assert_eq!(
        r.header("content-length"),
        Some(r.body.len().to_string().as_str())
    );
    assert_eq!(r.header("content-range"), None);
    let got = parts(r);
    assert_eq!(got.len(), ranges.len());
    for ((range, data), (start, end)) in got.iter().zip(ranges) {
        assert_eq!(range, &format!("bytes {start}-{end}/{}", bytes.len()));
        assert!(data[..] == bytes[*start..=*end], "the bytes of {range}");
    }
    let body = String::from_utf8_lossy(&r.body);
    assert_eq!(
        body.matches(&format!("Content-Type: {ctype}\r\n")).count(),
        ranges.len()
    );
}

#[tokio::test]
async fn several_ranges_are_a_multipart_answer() {
    let s = site().await;
    let a = s.addr;
    let path = format!("/simple/foo-bar/{}", s.wheel.filename);
    let bytes = &s.wheel.bytes;
    let len = bytes.len();
    let r = get(a, &path, &[("Range", "bytes=0-3, 10-19,-5")]).await;
    check(
        &r,
        bytes,
        &[(0, 3), (10, 19), (len - 5, len - 1)],
        "application/octet-stream",
    );
    // A range past the end is left out; one left is a plain 206; none, a 416.
    let r = get(a, &path, &[("Range", &format!("bytes=0-1,{len}-"))]).await;
    assert_eq!(r.status, 206);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes 0-1/{len}").as_str())
    );
    assert_eq!(r.body, &bytes[..2]);
    let r = get(
        a,
        &path,
        &[("Range", &format!("bytes={len}-,{}-", len + 5))],
    )
    .await;
    assert_eq!(r.status, 416);

    // HEAD: the same status and length, no body.
    let whole = get(a, &path, &[("Range", "bytes=0-3,10-19")]).await;
    let (status, head, body) = head_with_range(a, &path, "bytes=0-3,10-19").await;
    assert_eq!(status, 206);
    assert_eq!(body, 0);
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("content-length: {}", whole.body.len())),
        "{head}"
    );

    // A big file, sent in pieces.
    let big: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    std::fs::write(
        s.farm.out.join("simple/foo-bar/big-1.0-py3-none-any.whl"),
        &big,
    )
    .unwrap();
    let big_path = "/simple/foo-bar/big-1.0-py3-none-any.whl";
    let ranges = [(5, 300_000), (1_000_000, 2_500_000), (2_999_990, 2_999_999)];
    let spec = ranges
        .iter()
        .map(|(s, e)| format!("{s}-{e}"))
        .collect::<Vec<_>>()
        .join(",");
    let r = get(a, big_path, &[("Range", &format!("bytes={spec}"))]).await;
    check(&r, &big, &ranges, "application/octet-stream");

    // A page's parts carry its own type.
    let page = get(a, "/faq.html", &[]).await;
    let r = get(
        a,
        "/faq.html",
        &[("Range", "bytes=0-9,20-29"), ("Accept-Encoding", "gzip")],
    )
    .await;
    assert_eq!(r.header("content-encoding"), None);
    check(
        &r,
        &page.body,
        &[(0, 9), (20, 29)],
        "text/html; charset=utf-8",
    );
    s.farm.hub.quit.cancel();
    s.server.await.unwrap().unwrap();
}

#[tokio::test]
async fn overlapping_unordered_or_too_many_ranges_get_the_whole_file() {
    let s = site().await;
    let a = s.addr;
    let path = format!("/simple/foo-bar/{}", s.wheel.filename);
    let bytes = &s.wheel.bytes;
    let seventeen = format!(
        "bytes={}",
        (0..17)
            .map(|i| format!("{0}-{0}", i * 3))
            .collect::<Vec<_>>()
            .join(",")
    );
    for range in [
        "bytes=0-10,5-20",
        "bytes=10-20,0-3",
        "bytes=0-0,0-0",
        seventeen.as_str(),
    ] {
        let r = get(a, &path, &[("Range", range)]).await;
        assert_eq!(r.status, 200, "{range}");
        assert_eq!(&r.body, bytes, "{range}");
    }
    // Sixteen is the cap, and still a multipart answer.
    let sixteen = (0..16).map(|i| (i * 3, i * 3)).collect::<Vec<_>>();
    let spec = sixteen
        .iter()
        .map(|(s, _)| format!("{s}-{s}"))
        .collect::<Vec<_>>()
        .join(",");
    let r = get(a, &path, &[("Range", &format!("bytes={spec}"))]).await;
    check(&r, bytes, &sixteen, "application/octet-stream");
    s.farm.hub.quit.cancel();
    s.server.await.unwrap().unwrap();
}

#[tokio::test]
async fn if_match_naming_another_version_is_412() {
    let s = site().await;
    let a = s.addr;
    let path = format!("/simple/foo-bar/{}", s.wheel.filename);
    let whole = get(a, &path, &[]).await;
    let etag = whole.header("etag").unwrap().to_owned();
    for (if_match, status) in [
        (etag.as_str(), 200),
        ("*", 200),
        (&format!("\"x\", {etag}"), 200),
        ("\"stale\"", 412),
        (&format!("W/{etag}"), 412),
    ] {
        let r = get(a, &path, &[("If-Match", if_match)]).await;
        assert_eq!(r.status, status, "If-Match {if_match}");
        if status == 412 {
            assert!(r.body.is_empty() || r.body != whole.body);
        } else {
            assert_eq!(r.body, whole.body);
        }
    }
    // The page's gzip representation has its own tag.
    let gz = get(a, "/faq.html", &[("Accept-Encoding", "gzip")]).await;
    let plain_tag = get(a, "/faq.html", &[])
        .await
        .header("etag")
        .unwrap()
        .to_owned();
    let r = get(
        a,
        "/faq.html",
        &[("Accept-Encoding", "gzip"), ("If-Match", &plain_tag)],
    )
    .await;
    assert_eq!(r.status, 412);
    let r = get(
        a,
        "/faq.html",
        &[
            ("Accept-Encoding", "gzip"),
            ("If-Match", gz.header("etag").unwrap()),
        ],
    )
    .await;
    assert_eq!(r.status, 200);
    s.farm.hub.quit.cancel();
    s.server.await.unwrap().unwrap();
}
