//! The search page (`static/packages.js`, run by Node against a minimal DOM and a served
//! `packages.json`) shows the package of exactly the name searched for first, then the
//! others most downloaded first, with thousands separators; the summary stays text.

use std::process::Command;

use serde_json::{Value, json};

/// What the page shows for query `q` over `rows`: (status line, rows shown); `None` when
/// Node is not installed (the test says it is skipped).
fn search(test: &str, rows: &Value, q: &str) -> Option<(String, Vec<Vec<String>>)> {
    let dir = env!("CARGO_MANIFEST_DIR");
    let out = match Command::new("node")
        .arg(format!("{dir}/tests/it/js/search_page.js"))
        .arg(format!("{dir}/static/packages.js"))
        .arg(rows.to_string())
        .arg(q)
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            test_support::skip(test, "node is not installed");
            return None;
        }
        Err(e) => panic!("running node: {e}"),
    };
    assert!(
        out.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("the page's rows as JSON");
    let shown = v["shown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_owned())
                .collect()
        })
        .collect();
    Some((v["status"].as_str().unwrap().to_owned(), shown))
}

#[test]
fn exact_name_first_then_by_downloads() {
    let test = "search_page_order::exact_name_first_then_by_downloads";
    // As the scribe writes packages.json: most downloaded first.
    let rows = json!([
        ["other", 100_000, 100_000, ""],
        ["numpy-extra", 5000, 6000, "<b>not markup</b>"],
        ["numpyx", 40, 40, ""],
        ["numpy-aaa", 40, 40, ""],
        ["numpy", 3, 3_000_000, "The package"],
    ]);
    let Some((status, shown)) = search(test, &rows, "NumPy") else {
        return;
    };
    let names: Vec<&str> = shown.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, ["numpy", "numpy-extra", "numpy-aaa", "numpyx"]);
    assert_eq!(status, "4 packages");
    assert_eq!(shown[0], ["numpy", "3", "3,000,000", "The package"]);
    assert_eq!(
        shown[1],
        ["numpy-extra", "5,000", "6,000", "<b>not markup</b>"]
    );

    // No exact match: by downloads alone; no query: everything by downloads.
    let (_, shown) = search(test, &rows, "numpy-").unwrap();
    let names: Vec<&str> = shown.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, ["numpy-extra", "numpy-aaa"]);
    let (status, shown) = search(test, &rows, "").unwrap();
    assert_eq!(shown[0][0], "other");
    assert_eq!(shown[0][1], "100,000");
    assert_eq!(status, "5 packages");
}
