//! TheScribe's page writes (relative to each package's folder, new pages linked in whole,
//! existing ones renamed over): a rewrite that fails midway leaves every page whole (the
//! old one or the new one), the other packages' pages written, and no temporary file.

use crate::web_common;

use std::path::{Path, PathBuf};

use piwheels_master::hub::WebRequest;
use piwheels_master::the_scribe::TheScribe;
use web_common::*;

/// Every file under `dir` whose name is hidden (a temporary file left behind), but the
/// staging folder's.
fn hidden_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        let ty = e.file_type().unwrap();
        if name.starts_with('.') && !ty.is_dir() {
            out.push(e.path());
        }
        if ty.is_dir() {
            hidden_files(&e.path(), out);
        }
    }
}

#[tokio::test]
async fn a_rewrite_failing_midway_leaves_pages_whole_and_no_temporary_file() {
    let f = farm(|_| {}).await;
    let db = &f.hub.db;
    let mut pkgs = Vec::new();
    for i in 0..150 {
        let pkg = format!("pkg{i}");
        let w = package_with_a_wheel(db, &pkg, &format!("number {i} first")).await;
        place(&f.out, &pkg, &w, i % 2 == 0);
        pkgs.push(pkg);
    }
    let all = || -> Vec<WebRequest> { pkgs.iter().map(|p| WebRequest::Both(p.clone())).collect() };
    let mut scribe =
        TheScribe::new(f.hub.clone(), tokio::sync::mpsc::unbounded_channel().1).unwrap();
    // Every page new: linked in whole.
    let errors = scribe.handle_batch(all()).await;
    assert!(errors.is_empty(), "{errors:?}");
    for p in &pkgs {
        let page = std::fs::read_to_string(f.out.join(format!("project/{p}/index.html"))).unwrap();
        assert!(page.contains("first"), "{p}'s first page");
    }

    // Every page changes; two packages' pages cannot be replaced (a non-empty folder
    // holds the project JSON's name, and a new page's name), one of them in the second
    // chunk of the rewrite.
    for (i, p) in pkgs.iter().enumerate() {
        db.set_package_description(p, &format!("number {i} second"))
            .await
            .unwrap();
    }
    let blocked = f.out.join("project/pkg7/json/index.json");
    std::fs::remove_file(&blocked).unwrap();
    std::fs::create_dir_all(blocked.join("in-the-way")).unwrap();
    let old_html = std::fs::read(f.out.join("project/pkg120/index.html")).unwrap();
    let blocked_html = f.out.join("project/pkg120/index.html");
    std::fs::remove_file(&blocked_html).unwrap();
    std::fs::create_dir_all(blocked_html.join("in-the-way")).unwrap();
    let errors = scribe.handle_batch(all()).await;
    assert_eq!(errors.len(), 2, "the two blocked packages fail: {errors:?}");

    let mut left = Vec::new();
    hidden_files(&f.out.join("simple"), &mut left);
    hidden_files(&f.out.join("project"), &mut left);
    assert!(left.is_empty(), "temporary files left behind: {left:?}");
    for p in &pkgs {
        if p == "pkg120" {
            continue;
        }
        let page = std::fs::read_to_string(f.out.join(format!("project/{p}/index.html"))).unwrap();
        assert!(page.contains("second"), "{p}'s page was not rewritten");
        assert!(
            page.trim_end().ends_with("</html>"),
            "{p}'s page is not whole"
        );
        let rel = format!("simple/{p}/index.json");
        let json = std::fs::read(f.out.join(&rel)).unwrap();
        serde_json::from_slice::<serde_json::Value>(&json)
            .unwrap_or_else(|e| panic!("{rel} is not whole: {e}"));
        if p != "pkg7" {
            let rel = format!("project/{p}/json/index.json");
            let json = std::fs::read(f.out.join(&rel)).unwrap();
            serde_json::from_slice::<serde_json::Value>(&json)
                .unwrap_or_else(|e| panic!("{rel} is not whole: {e}"));
        }
    }
    // What was in the way is untouched, and the page comes back once it is gone.
    assert!(blocked.join("in-the-way").is_dir());
    assert!(blocked_html.join("in-the-way").is_dir());
    std::fs::remove_dir_all(&blocked_html).unwrap();
    std::fs::remove_dir_all(&blocked).unwrap();
    let errors = scribe.handle_batch(all()).await;
    assert!(errors.is_empty(), "{errors:?}");
    let page = std::fs::read(f.out.join("project/pkg120/index.html")).unwrap();
    assert_ne!(page, old_html);
    assert!(String::from_utf8(page).unwrap().contains("second"));
    assert!(f.out.join("project/pkg7/json/index.json").is_file());
}
