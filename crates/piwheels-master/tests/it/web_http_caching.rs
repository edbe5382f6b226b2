//! Issue 17, item 5: the embedded web server sent pages uncompressed, with no ETag and no
//! Cache-Control, `/project/Six/` was a 404 while `/simple/Six/` redirected, and a
//! multi-range request was refused (416). Real HTTP requests against the running server:
//! gzip negotiation, validators and `304`s, Cache-Control, ranges, canonical project
//! redirects, and the hostile cases of each.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::web_http::{get, raw, site};

const WAIT: Duration = Duration::from_secs(30);

/// Writes `request` on a fresh connection and reads the whole answer: status, head, body.
pub(crate) async fn exchange(addr: SocketAddr, request: String) -> (u16, String, Vec<u8>) {
    tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out)
            .unwrap_or_else(|e| panic!("the whole answer within {WAIT:?}: {e}"));
        let split = out
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("an HTTP head");
        let head = String::from_utf8_lossy(&out[..split]).into_owned();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (status, head, out[split + 4..].to_vec())
    })
    .await
    .unwrap()
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .expect("a gzip body");
    out
}

/// Replaces a file the way the output module does: a new file renamed over the old one.
fn rewrite(path: &std::path::Path, data: &[u8]) {
    let temp = path.with_extension("test-tmp");
    std::fs::write(&temp, data).unwrap();
    std::fs::rename(&temp, path).unwrap();
}

#[tokio::test]
async fn pages_are_gzipped_for_clients_that_take_them() {
    let s = site().await;
    let a = s.addr;
    let plain = get(a, "/project/foo-bar/", &[]).await;
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.header("vary"), Some("Accept-Encoding"));

    for ae in ["gzip", "br, gzip;q=0.5", "*", "gzip, deflate, br, zstd"] {
        let r = get(a, "/project/foo-bar/", &[("Accept-Encoding", ae)]).await;
        assert_eq!(r.status, 200, "{ae}");
        assert_eq!(r.header("content-encoding"), Some("gzip"), "{ae}");
        assert_eq!(r.header("vary"), Some("Accept-Encoding"));
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        assert_eq!(gunzip(&r.body), plain.body, "{ae}");
        assert!(r.body.len() < plain.body.len());
        assert_eq!(
            r.header("content-length"),
            Some(r.body.len().to_string().as_str())
        );
        // The two codings are two representations, each with its own strong ETag.
        assert_ne!(r.header("etag"), plain.header("etag"));
    }
    for ae in [
        "gzip;q=0",
        "br",
        "gzip;q=0.1, identity;q=0.5",
        "gzip;q=junk",
    ] {
        let r = get(a, "/project/foo-bar/", &[("Accept-Encoding", ae)]).await;
        assert_eq!(r.status, 200, "{ae}");
        assert_eq!(r.header("content-encoding"), None, "{ae}");
        assert_eq!(r.body, plain.body, "{ae}");
    }
    // Neither gzip nor the page as it is.
    for ae in ["identity;q=0", "*;q=0", "br, identity;q=0"] {
        let r = get(a, "/project/foo-bar/", &[("Accept-Encoding", ae)]).await;
        assert_eq!(r.status, 406, "{ae}");
    }
    // JSON, simple pages in both forms, XML (as the sitemaps are).
    let xml = "<?xml version=\"1.0\"?>\n<urlset>\n".to_owned()
        + &"<url><loc>https://wheels.example.test/project/foo-bar/</loc></url>\n".repeat(50)
        + "</urlset>\n";
    std::fs::write(s.farm.out.join("sitemap-test.xml"), &xml).unwrap();
    let json = [("Accept", "application/vnd.pypi.simple.v1+json")];
    for (path, extra) in [
        ("/project/foo-bar/json/", &[][..]),
        ("/simple/foo-bar/", &[][..]),
        ("/simple/foo-bar/", &json[..]),
        ("/sitemap-test.xml", &[][..]),
    ] {
        let mut headers = vec![("Accept-Encoding", "gzip")];
        headers.extend_from_slice(extra);
        let r = get(a, path, &headers).await;
        let p = get(a, path, extra).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-encoding"), Some("gzip"), "{path}");
        assert_eq!(gunzip(&r.body), p.body, "{path}");
        assert!(
            r.header("vary").unwrap().contains("Accept-Encoding"),
            "{path}"
        );
    }
    // Wheels and their metadata are never compressed.
    let wheel = format!("/simple/foo-bar/{}", s.wheel.filename);
    for path in [wheel.clone(), format!("{wheel}.metadata")] {
        let r = get(a, &path, &[("Accept-Encoding", "gzip")]).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-encoding"), None, "{path}");
        assert_eq!(r.header("vary"), None, "{path}");
    }
    let r = get(a, &wheel, &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(r.body, s.wheel.bytes);

    // HEAD: the compressed length, no body.
    let gz = get(a, "/faq.html", &[("Accept-Encoding", "gzip")]).await;
    let (status, head, body) = exchange(
        a,
        "HEAD /faq.html HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
            .into(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.is_empty());
    let head = head.to_ascii_lowercase();
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert!(
        head.contains(&format!("content-length: {}", gz.body.len())),
        "{head}"
    );

    // A page rewritten is compressed again: the old page's gzip is never served for it,
    // even when the new page has the same size.
    let faq = s.farm.out.join("faq.html");
    let old = std::fs::read(&faq).unwrap();
    let mut new = old.clone();
    new.iter_mut().rev().take(8).for_each(|b| *b = b'x');
    rewrite(&faq, &new);
    let r = get(a, "/faq.html", &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(gunzip(&r.body), new);
    assert_ne!(r.header("etag"), gz.header("etag"));
    s.farm.hub.quit.cancel();
    s.server.await.unwrap().unwrap();
}

#[tokio::test]
async fn etags_conditional_requests_and_cache_control() {
    let s = site().await;
    let a = s.addr;
    let wheel = format!("/simple/foo-bar/{}", s.wheel.filename);
    let immutable = "public, max-age=31536000, immutable";
    for (path, cache) in [
        ("/project/foo-bar/", "public, max-age=300"),
        ("/simple/foo-bar/", "public, max-age=300"),
        ("/simple/", "public, max-age=300"),
        ("/faq.html", "public, max-age=300"),
        (wheel.as_str(), immutable),
        (&format!("{wheel}.metadata"), immutable),
    ] {
        let r = get(a, path, &[]).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("cache-control"), Some(cache), "{path}");
        let etag = r
            .header("etag")
            .unwrap_or_else(|| panic!("{path}: an ETag"));
        assert!(
            etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2,
            "{path}: a strong ETag, not {etag}"
        );
        let modified = r.header("last-modified").expect("Last-Modified").to_owned();

        let weak = format!("W/{etag}");
        let listed = format!("\"nope\", {etag}");
        for inm in [etag, weak.as_str(), listed.as_str(), "*"] {
            let n = get(a, path, &[("If-None-Match", inm)]).await;
            assert_eq!(n.status, 304, "{path}: If-None-Match {inm}");
            assert!(n.body.is_empty());
            assert_eq!(n.header("etag"), Some(etag));
            assert_eq!(n.header("cache-control"), Some(cache));
        }
        for inm in ["\"nope\"", "nope", "\"", ""] {
            let n = get(a, path, &[("If-None-Match", inm)]).await;
            assert_eq!(n.status, 200, "{path}: If-None-Match {inm:?}");
            assert_eq!(n.body, r.body);
        }
        let n = get(a, path, &[("If-Modified-Since", &modified)]).await;
        assert_eq!(n.status, 304, "{path}: If-Modified-Since");
        for ims in ["Thu, 01 Jan 1970 00:00:00 GMT", "not a date"] {
            let n = get(a, path, &[("If-Modified-Since", ims)]).await;
            assert_eq!(n.status, 200, "{path}: If-Modified-Since {ims}");
        }
        // If-None-Match decides when both are sent.
        let n = get(
            a,
            path,
            &[
                ("If-None-Match", "\"nope\""),
                ("If-Modified-Since", &modified),
            ],
        )
        .await;
        assert_eq!(n.status, 200, "{path}");
    }
    // The gzip representation is validated by its own ETag.
    let gz = get(a, "/faq.html", &[("Accept-Encoding", "gzip")]).await;
    let tag = gz.header("etag").unwrap();
    let n = get(
        a,
        "/faq.html",
        &[("Accept-Encoding", "gzip"), ("If-None-Match", tag)],
    )
    .await;
    assert_eq!(n.status, 304);
    assert_eq!(n.header("content-encoding"), Some("gzip"));
    assert_eq!(n.header("vary"), Some("Accept-Encoding"));
    // A page rewritten has a new ETag: the old one no longer matches.
    let plain = get(a, "/faq.html", &[]).await;
    let old_tag = plain.header("etag").unwrap().to_owned();
    rewrite(&s.farm.out.join("faq.html"), b"<html>new</html>");
    let n = get(a, "/faq.html", &[("If-None-Match", &old_tag)]).await;
    assert_eq!(n.status, 200);
    assert_eq!(n.text(), "<html>new</html>");
    assert_ne!(n.header("etag"), Some(old_tag.as_str()));
    // 404s are kept a short while only.
    let r = get(a, "/nothing.html", &[]).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.header("cache-control"), Some("public, max-age=60"));
    assert_eq!(r.header("etag"), None);
    s.farm.hub.quit.cancel();
    s.server.await.unwrap().unwrap();
}

#[tokio::test]
async fn ranges_single_multiple_and_unsatisfiable() {
    let s = site().await;
    let a = s.addr;
    let path = format!("/simple/foo-bar/{}", s.wheel.filename);
    let bytes = &s.wheel.bytes;
    let len = bytes.len();
    for (range, start, end) in [
        ("bytes=0-3", 0, 3),
        ("bytes=10-", 10, len - 1),
        ("bytes=-7", len - 7, len - 1),
        ("bytes=5-999999999", 5, len - 1),
    ] {
        let r = get(a, &path, &[("Range", range)]).await;
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(r.body, &bytes[start..=end], "{range}");
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes {start}-{end}/{len}").as_str()),
            "{range}"
        );
    }
    // Nothing of the file: 416 and the file's length.
    for range in [format!("bytes={len}-"), "bytes=-0".into()] {
        let r = get(a, &path, &[("Range", &range)]).await;
        assert_eq!(r.status, 416, "{range}");
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes */{len}").as_str()),
            "{range}"
        );
    }
    // Many tiny overlapping ranges (a range DoS), and malformed ones: the whole file, 200
    // (several proper ranges are a multipart answer: web_http_multipart).
    let tiny = format!("bytes={}", vec!["0-0"; 400].join(","));
    let overlapping = format!(
        "bytes={}",
        (0..20)
            .map(|i| format!("{i}-{}", i + 2))
            .collect::<Vec<_>>()
            .join(",")
    );
    for range in [
        tiny.as_str(),
        overlapping.as_str(),
        "bytes=5-2",
        "lines=1-2",
        "bytes=abc",
    ] {
        let r = get(a, &path, &[("Range", range)]).await;
        assert_eq!(r.status, 200, "{range}");
        assert_eq!(&r.body, bytes, "{range}");
        assert_eq!(r.header("content-range"), None);
    }
    // If-Range: the current ETag or date keeps the range, anything else gets the file.
    let whole = get(a, &path, &[]).await;
    let etag = whole.header("etag").unwrap();
    let modified = whole.header("last-modified").unwrap();
    for (if_range, status) in [
        (etag, 206),
        (modified, 206),
        ("\"stale\"", 200),
        ("Thu, 01 Jan 1970 00:00:00 GMT", 200),
    ] {
        let r = get(a, &path, &[("Range", "bytes=0-3"), ("If-Range", if_range)]).await;
        assert_eq!(r.status, status, "If-Range {if_range}");
    }
    // A range of a page is of the page as it is, never compressed.
    let page = get(a, "/faq.html", &[]).await;
    let r = get(
        a,
        "/faq.html",
        &[("Range", "bytes=0-9"), ("Accept-Encoding", "gzip")],
    )
    .await;
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.body, &page.body[..10]);
    s.farm.hub.quit.cancel();
    s.server.await.unwrap().unwrap();
}

#[tokio::test]
async fn project_urls_redirect_to_the_canonical_name() {
    let s = site().await;
    let a = s.addr;
    for (from, to) in [
        ("/project/Foo_Bar/", "/project/foo-bar/"),
        ("/project/FOO.BAR/", "/project/foo-bar/"),
        ("/project/Foo_Bar", "/project/foo-bar/"),
        ("/project/foo__bar/json/", "/project/foo-bar/json/"),
        ("/project/Foo-Bar/?x=1", "/project/foo-bar/?x=1"),
        ("/simple/Foo_Bar/", "/simple/foo-bar/"),
        // Hostile names are redirected, percent-encoded: no header is forged.
        (
            "/project/A%0d%0aSet-Cookie:x/",
            "/project/a%0D%0Aset-cookie%3Ax/",
        ),
        ("/project/%3CScript%3E/", "/project/%3Cscript%3E/"),
    ] {
        let r = get(a, from, &[]).await;
        assert_eq!(r.status, 301, "{from}");
        assert_eq!(r.header("location"), Some(to), "{from}");
        assert_eq!(r.header("set-cookie"), None);
    }
    let r = get(a, "/project/foo-bar/", &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("<h1>Foo_Bar</h1>"));
    // Escapes, NULs and overlong paths stay refused.
    let long = format!("/project/{}/", "A".repeat(5000));
    for target in [
        "/project/%2e%2e/",
        "/project/..%2f..%2fpiwheels.db",
        "/project/Foo%2f..%2f..%2fpiwheels.db",
        "/project/%2E%2E/%2E%2E/piwheels.db",
        "/project/Foo%00/",
        "/project/.Foo/",
        long.as_str(),
    ] {
        let (status, text) = raw(a, target).await;
        assert!(
            status == 400 || status == 404,
            "{}: {status}",
            &target[..target.len().min(60)]
        );
        assert!(!text.contains("SQLite format"));
    }
    s.farm.hub.quit.cancel();
    s.server.await.unwrap().unwrap();
}

/// Files bigger than what is read in one go are sent in pieces: whole, in ranges, and
/// (pages) compressed.
#[tokio::test]
async fn big_files_whole_ranged_and_compressed() {
    let s = site().await;
    let a = s.addr;
    let big: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(
        s.farm.out.join("simple/foo-bar/big-1.0-py3-none-any.whl"),
        &big,
    )
    .unwrap();
    let path = "/simple/foo-bar/big-1.0-py3-none-any.whl";
    let r = get(a, path, &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), None);
    assert!(r.body == big, "the whole big file");
    let r = get(a, path, &[("Range", "bytes=300000-2700000")]).await;
    assert_eq!(r.status, 206);
    assert!(
        r.body == big[300_000..=2_700_000],
        "the range of the big file"
    );
    let (status, head, body) = exchange(
        a,
        format!("HEAD {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.is_empty());
    assert!(
        head.to_ascii_lowercase()
            .contains("content-length: 3000000"),
        "{head}"
    );

    let page: String = (0..40_000).map(|i| format!("<p>{i}</p>\n")).collect();
    std::fs::write(s.farm.out.join("big.html"), &page).unwrap();
    let r = get(a, "/big.html", &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert!(
        gunzip(&r.body) == page.as_bytes(),
        "the big page, compressed"
    );
    let r = get(a, "/big.html", &[]).await;
    assert!(r.body == page.as_bytes(), "the big page");
    s.farm.hub.quit.cancel();
    s.server.await.unwrap().unwrap();
}
