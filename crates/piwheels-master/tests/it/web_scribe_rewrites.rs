//! TheScribe's rewrites of many packages at once: read a chunk at a time, the pages are
//! those of one package written alone, and a rewrite with nothing changed writes nothing.

use crate::web_common;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use piwheels_master::hub::WebRequest;
use piwheels_master::the_scribe::TheScribe;
use web_common::*;

/// Every page file of the packages, with its contents, inode and modification time.
fn pages(out: &Path, pkgs: &[String]) -> BTreeMap<PathBuf, (Vec<u8>, u64, i64, i64)> {
    let mut all = BTreeMap::new();
    for p in pkgs {
        for rel in [
            format!("simple/{p}/index.html"),
            format!("simple/{p}/index.json"),
            format!("project/{p}/index.html"),
            format!("project/{p}/json/index.json"),
        ] {
            let path = out.join(rel);
            let m = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            let data = std::fs::read(&path).unwrap();
            all.insert(path, (data, m.ino(), m.mtime(), m.mtime_nsec()));
        }
    }
    all
}

#[tokio::test]
async fn many_packages_rewritten_as_one_alone_and_unchanged_pages_left_alone() {
    let f = farm(|_| {}).await;
    let db = &f.hub.db;
    // More than one chunk's worth, with a package the database does not have and a
    // hostile name among them.
    let mut pkgs = Vec::new();
    let mut reqs = Vec::new();
    for i in 0..230 {
        let pkg = format!("pkg{i}");
        let w = package_with_a_wheel(db, &pkg, &format!("number {i}")).await;
        place(&f.out, &pkg, &w, i % 2 == 0);
        reqs.push(WebRequest::Both(pkg.clone()));
        if i == 120 {
            reqs.push(WebRequest::Both("no-such-package".into()));
            reqs.push(WebRequest::Both("../etc".into()));
        }
        pkgs.push(pkg);
    }
    let mut scribe =
        TheScribe::new(f.hub.clone(), tokio::sync::mpsc::unbounded_channel().1).unwrap();
    let errors = scribe.handle_batch(reqs.clone()).await;
    assert_eq!(errors.len(), 1, "only the hostile name fails: {errors:?}");
    assert!(!f.out.join("simple/no-such-package").exists());
    let first = pages(&f.out, &pkgs);

    // The same pages as each package written on its own.
    for p in ["pkg0", "pkg1", "pkg150", "pkg229"] {
        let wrote = scribe.write_package(p, true, None).await.unwrap();
        assert!(wrote);
        for rel in [
            format!("simple/{p}/index.html"),
            format!("project/{p}/index.html"),
        ] {
            let path = f.out.join(&rel);
            assert_eq!(first[&path].0, std::fs::read(&path).unwrap(), "{rel}");
        }
    }

    // Nothing changed: no page is written again (same inode, same modification time).
    let errors = scribe.handle_batch(reqs).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    let second = pages(&f.out, &pkgs);
    assert_eq!(first, second, "a rewrite with nothing changed wrote a page");
}
