//! Issue 17, the web server at nginx's pace: a small page is kept in memory as it is, under
//! the version of the file it was read from (device, inode, size, modification time), so a
//! request for it reads only its metadata. A page is always replaced by a rename (a new
//! inode), so the key names one content: a replaced page is served new, never stale, and
//! HEAD, conditional requests and ranges answer from the same version. The `404` page is
//! kept the same way.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::web_http::{get, site};
use crate::web_http_caching::exchange;

fn write_same_version(path: &Path, data: &[u8]) {
    let before = std::fs::metadata(path).unwrap();
    let mut f = OpenOptions::new().write(true).open(path).unwrap();
    f.write_all(data).unwrap();
    f.set_modified(before.modified().unwrap()).unwrap();
    drop(f);
    let after = std::fs::metadata(path).unwrap();
    assert_eq!(
        (after.ino(), after.len(), after.mtime(), after.mtime_nsec()),
        (
            before.ino(),
            before.len(),
            before.mtime(),
            before.mtime_nsec()
        ),
        "the file keeps its version key"
    );
}

/// A new file with `data` and `like`'s modification time, renamed over `path`.
fn replace_by_rename(path: &Path, data: &[u8], like: &Path) {
    let temp = path.with_extension("test-tmp");
    std::fs::write(&temp, data).unwrap();
    let f = File::options().write(true).open(&temp).unwrap();
    f.set_modified(std::fs::metadata(like).unwrap().modified().unwrap())
        .unwrap();
    drop(f);
    std::fs::rename(&temp, path).unwrap();
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .expect("a gzip body");
    out
}

#[tokio::test]
async fn small_pages_are_served_from_memory_by_version() {
    let s = site().await;
    let a = s.addr;
    let page = s.farm.out.join("kept.html");
    let first = "<p>first version of the page</p>\n".repeat(4);
    std::fs::write(&page, &first).unwrap();
    let r = get(a, "/kept.html", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), first);
    let etag = r.header("etag").expect("an ETag").to_owned();

    // The same version key with other bytes (never done by the scribe, which renames):
    // the page comes from memory, so the file is not read again.
    let other = first.replace("first", "other");
    assert_eq!(other.len(), first.len());
    write_same_version(&page, other.as_bytes());
    let r = get(a, "/kept.html", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text(),
        first,
        "a second request reads the page from memory"
    );
    assert_eq!(r.header("etag"), Some(etag.as_str()));

    // Ranges, HEAD and conditional requests answer for the same version.
    let r = get(a, "/kept.html", &[("Range", "bytes=3-7")]).await;
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &first.as_bytes()[3..8]);
    let (status, head, body) = exchange(
        a,
        "HEAD /kept.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".into(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.is_empty(), "HEAD has no body");
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("content-length: {}", first.len())),
        "{head}"
    );
    let r = get(a, "/kept.html", &[("If-None-Match", &etag)]).await;
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());

    // Replaced by a rename (same size and modification time, a new inode): served new,
    // as it is and compressed.
    let second = first.replace("first", "newer");
    replace_by_rename(&page, second.as_bytes(), &page);
    let r = get(a, "/kept.html", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), second, "a replaced page is never served stale");
    assert_ne!(r.header("etag"), Some(etag.as_str()));
    let r = get(a, "/kept.html", &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&r.body), second.as_bytes());
    let r = get(a, "/kept.html", &[("Range", "bytes=0-4")]).await;
    assert_eq!(r.body, &second.as_bytes()[..5]);

    // The 404 page is kept the same way: a new one is served once it is renamed in.
    let missing = s.farm.out.join("404.html");
    let r = get(a, "/no-such-page.html", &[]).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body, std::fs::read(&missing).unwrap());
    replace_by_rename(&missing, b"<p>gone</p>", &missing);
    let r = get(a, "/no-such-page.html", &[]).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "<p>gone</p>");
    s.farm.hub.quit.cancel();
    s.server.await.unwrap().unwrap();
}
