//! A real pip against our index: `pip download` and `pip install --index-url` of a
//! pure-Python wheel this test builds, into a fresh venv, over the embedded web server;
//! and proof that pip takes the PEP 658 metadata file the simple page points to (it fetches
//! it, and refuses one whose hash does not match the page).

use crate::web_common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use piwheels_master::hub::{Task, WebRequest};
use piwheels_master::the_scribe::TheScribe;
use piwheels_master::web_server::WebServer;
use web_common::*;

use test_support::{process, skip};

/// Runs a command with pip kept off any configuration or network but ours.
fn run(cmd: &mut Command) -> Output {
    cmd.env("PIP_CONFIG_FILE", "/dev/null")
        .env("PIP_NO_INPUT", "1")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_NO_CACHE_DIR", "1")
        .env_remove("PIP_INDEX_URL")
        .env_remove("PIP_EXTRA_INDEX_URL")
        .env_remove("PIP_FIND_LINKS");
    let what = format!("{:?}", cmd.get_program());
    process::output_within(cmd, b"", Duration::from_secs(600), &what)
}

fn text(o: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn venv(dir: &Path) -> Option<std::path::PathBuf> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let venv = dir.join("venv");
    let out = process::try_output_within(
        Command::new(&python).args(["-m", "venv"]).arg(&venv),
        b"",
        Duration::from_secs(300),
        "python -m venv",
    )
    .ok()?;
    if !out.status.success() {
        println!("{}", text(&out));
        return None;
    }
    Some(venv)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pip_downloads_and_installs_from_our_index() {
    let farm = farm(|_| {}).await;
    let Some(venv) = venv(farm.dir.path()) else {
        skip(
            "pip_downloads_and_installs_from_our_index",
            "python3 -m venv is not available",
        );
        return;
    };
    let db = &farm.hub.db;
    db.add_new_package("tiny-pkg", "", "A tiny package")
        .await
        .unwrap();
    let mut wheels = Vec::new();
    for (v, d) in [("1.0", 1), ("2.0", 2)] {
        db.add_new_package_version("tiny-pkg", v, Some(day(d)), "")
            .await
            .unwrap();
        let w = make_wheel("tiny_pkg", v, Some(">=3.7"));
        log_build(
            db,
            "tiny-pkg",
            v,
            "cp311/linux_armv7l",
            vec![new_file(&w, Some(">=3.7"), &[])],
        )
        .await;
        place(&farm.out, "tiny-pkg", &w, true);
        wheels.push(w);
    }
    let mut scribe =
        TheScribe::new(farm.hub.clone(), tokio::sync::mpsc::unbounded_channel().1).unwrap();
    scribe
        .handle(WebRequest::Both("tiny-pkg".into()))
        .await
        .unwrap();
    let page = std::fs::read_to_string(farm.out.join("simple/tiny-pkg/index.html")).unwrap();
    assert!(page.contains("data-core-metadata=\"sha256="));
    let mut server = WebServer::bind(farm.hub.clone()).unwrap();
    let index = format!("http://{}/simple", server.local_addr());
    let server_task = tokio::spawn(async move { server.run().await });

    let pip = venv.join("bin/pip");
    let python = venv.join("bin/python");
    let dl = farm.dir.path().join("dl");
    let (pip2, index2, dl2) = (pip.clone(), index.clone(), dl.clone());
    // pip download: the newest version, byte for byte, and the metadata file fetched.
    let out = tokio::task::spawn_blocking(move || {
        run(Command::new(&pip2)
            .args(["download", "-v", "--no-deps", "--index-url"])
            .arg(&index2)
            .arg("-d")
            .arg(&dl2)
            .arg("tiny-pkg"))
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let got = std::fs::read(dl.join(&wheels[1].filename)).unwrap();
    assert_eq!(got, wheels[1].bytes);
    let log = text(&out);
    assert!(
        log.contains(&format!("{}.metadata", wheels[1].filename)),
        "pip did not fetch the metadata file:\n{log}"
    );

    // pip install into the venv, then import it.
    let (pip2, index2) = (pip.clone(), index.clone());
    let out = tokio::task::spawn_blocking(move || {
        run(Command::new(&pip2)
            .args(["install", "--no-deps", "--index-url"])
            .arg(&index2)
            .arg("tiny-pkg==1.0"))
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out = run(Command::new(&python).args(["-c", "import tiny_pkg; print(tiny_pkg.VALUE)"]));
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1.0");

    // A metadata file that does not match the page's hash is refused: pip really checks
    // the file the page points to.
    let meta = farm
        .out
        .join("simple/tiny-pkg")
        .join(format!("{}.metadata", wheels[1].filename));
    std::fs::write(
        &meta,
        "Metadata-Version: 2.1\nName: tiny-pkg\nVersion: 2.0\nSummary: tampered\n\n",
    )
    .unwrap();
    let (pip2, index2, dl2) = (pip.clone(), index.clone(), farm.dir.path().join("dl2"));
    let out = tokio::task::spawn_blocking(move || {
        run(Command::new(&pip2)
            .args(["download", "--no-deps", "--index-url"])
            .arg(&index2)
            .arg("-d")
            .arg(&dl2)
            .arg("tiny-pkg==2.0"))
    })
    .await
    .unwrap();
    assert!(
        !out.status.success(),
        "a tampered metadata file was accepted:\n{}",
        text(&out)
    );
    assert!(text(&out).to_lowercase().contains("hash"), "{}", text(&out));

    farm.hub.quit.cancel();
    server_task.await.unwrap().unwrap();
}
