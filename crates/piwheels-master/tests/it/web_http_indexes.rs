//! A directory asked for with its trailing slash: the server tries its `index.html` first
//! (one open), and falls back to the directory's own lookup only when that is not a
//! regular file. Every answer is the one the long way gives: `index.json` where there is
//! no `index.html` (or one leading out of the root), `404` for an `index.html` that is a
//! directory, for a directory outside the root, and for a file asked for with a slash.

use crate::web_http::{get, site};

#[tokio::test]
async fn directory_indexes_answer_as_before_in_every_case() {
    let s = site().await;
    let a = s.addr;
    let out = &s.farm.out;
    let secret = s.farm.dir.path().join("outside");
    std::fs::create_dir_all(&secret).unwrap();
    std::fs::write(secret.join("index.html"), "TOP SECRET").unwrap();

    // The fast path: a page by its directory, and the root's own index.
    let r = get(a, "/project/foo-bar/", &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("<h1>Foo_Bar</h1>"));
    std::fs::write(out.join("index.html"), "<p>home</p>").unwrap();
    let r = get(a, "/", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "<p>home</p>");

    // No index.html: index.json.
    let r = get(a, "/project/foo-bar/json/", &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));

    // An index.html that is a directory (with an index.json beside it): 404, as before.
    let odd = out.join("odd");
    std::fs::create_dir_all(odd.join("index.html")).unwrap();
    std::fs::write(odd.join("index.json"), "{}").unwrap();
    let r = get(a, "/odd/", &[]).await;
    assert_eq!(r.status, 404, "{}", r.text());

    // Out of the root: a directory symlink, and an index.html symlink.
    std::os::unix::fs::symlink(&secret, out.join("away")).unwrap();
    let near = out.join("near");
    std::fs::create_dir_all(&near).unwrap();
    std::os::unix::fs::symlink(secret.join("index.html"), near.join("index.html")).unwrap();
    std::fs::write(near.join("index.json"), "{\"near\": 1}").unwrap();
    for path in ["/away/", "/away/index.html"] {
        let r = get(a, path, &[]).await;
        assert_eq!(r.status, 404, "{path}");
        assert!(!r.text().contains("TOP SECRET"), "{path}");
    }
    // An index.html leading out is as good as missing: the index.json beside it.
    let r = get(a, "/near/", &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "{\"near\": 1}");
    // A symlink inside the root is followed.
    std::os::unix::fs::symlink("foo-bar", out.join("project/alias")).unwrap();
    let r = get(a, "/project/alias/", &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("<h1>Foo_Bar</h1>"));

    // A file asked for with a slash, and a missing directory.
    for path in [
        "/faq.html/",
        "/project/foo-bar/index.html/",
        "/no-such-dir/",
    ] {
        let r = get(a, path, &[]).await;
        assert_eq!(r.status, 404, "{path}");
    }
    // A directory without its slash is redirected, with its query.
    let r = get(a, "/project/foo-bar/json?x=1", &[]).await;
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/project/foo-bar/json/?x=1"));
    s.farm.hub.quit.cancel();
    s.server.await.unwrap().unwrap();
}
