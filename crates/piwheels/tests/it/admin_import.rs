//! `piw-import` run as a real process against a real MrChase and a real FileJuggler (in
//! this test's runtime), over a real SQLite database: a wheel made by the test is logged,
//! uploaded, verified and published.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use piwheels_db::{Database, Target};
use piwheels_master::MasterConfig;
use piwheels_master::file_juggler::FileJuggler;
use piwheels_master::hub::{Hub, Inboxes, WebRequest, supervise};
use piwheels_master::mr_chase::MrChase;

use test_support::process;

struct Farm {
    db: Database,
    inboxes: Inboxes,
    import_queue: String,
    file_queue: String,
    output: PathBuf,
    dir: tempfile::TempDir,
    _hub: Hub,
}

async fn farm() -> Farm {
    let dir = tempfile::tempdir().unwrap();
    let dsn = format!("sqlite:{}", dir.path().join("piwheels.db").display());
    let db = Database::create(&dsn).await.unwrap();
    db.set_build_targets(&[Target::new("cp311", "linux_armv7l")])
        .await
        .unwrap();
    db.add_new_package("foo", "", "").await.unwrap();
    db.add_new_package_version("foo", "1.0", None, "")
        .await
        .unwrap();
    let output = dir.path().join("www");
    let mut config = MasterConfig::new(&dsn, &output);
    let import_queue = format!("ipc://{}", dir.path().join("import").display());
    config.import_queue = import_queue.clone();
    config.file_queue = "tcp://127.0.0.1:*".into();
    let (hub, mut inboxes) = Hub::new(db.clone(), config);
    let fs = std::mem::replace(&mut inboxes.fs, tokio::sync::mpsc::unbounded_channel().1);
    let juggler = FileJuggler::bind(hub.clone(), fs).unwrap();
    let file_queue = juggler.endpoint().to_owned();
    supervise(juggler, hub.quit.clone());
    supervise(MrChase::bind(hub.clone()).unwrap(), hub.quit.clone());
    Farm {
        db,
        inboxes,
        import_queue,
        file_queue,
        output,
        dir,
        _hub: hub,
    }
}

/// A small but real wheel: METADATA, WHEEL, a module and RECORD.
pub(crate) fn make_wheel(dir: &Path, filename: &str, name: &str, version: &str) -> PathBuf {
    let path = dir.join(filename);
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let options = zip::write::SimpleFileOptions::default();
    let info = format!("{name}-{version}.dist-info");
    let members = [
        (
            format!("{info}/METADATA"),
            format!(
                "Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nRequires-Python: >=3.9\nRequires-Dist: six\n\nA test wheel.\n"
            ),
        ),
        (
            format!("{info}/WHEEL"),
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: cp311-cp311-linux_armv7l\n".to_string(),
        ),
        ("foo/__init__.py".to_string(), "x = 1\n".repeat(5000)),
        (format!("{info}/RECORD"), String::new()),
    ];
    for (member, text) in members {
        zip.start_file(member, options).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
    path
}

impl Farm {
    async fn import(&self, args: &[&str]) -> (i32, String, String) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_piw-import"));
        cmd.args(args)
            .args([
                "--import-queue",
                &self.import_queue,
                "--file-queue",
                &self.file_queue,
            ])
            .args(["--timeout", "20"])
            .env("HOME", self.dir.path())
            .stdin(Stdio::null());
        // Its own --timeout is 20 s; a minute means it hangs.
        let out = tokio::task::spawn_blocking(move || {
            process::output_within(&mut cmd, b"", Duration::from_secs(60), "piw-import")
        })
        .await
        .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piw_import_logs_uploads_and_publishes_a_wheel() {
    let mut f = farm().await;
    let work = tempfile::tempdir().unwrap();
    let name = "foo-1.0-cp311-cp311-linux_armv7l.whl";
    let wheel = make_wheel(work.path(), name, "Foo", "1.0");
    let bytes = std::fs::read(&wheel).unwrap();
    let deps = work.path().join("deps");
    std::fs::write(&deps, "libfoo1\n libbar2 libfoo1\n").unwrap();
    let log = work.path().join("log.txt");
    std::fs::write(&log, "built on a board in the corner\n").unwrap();
    let (code, out, err) = f
        .import(&[
            wheel.to_str().unwrap(),
            "--dependencies",
            deps.to_str().unwrap(),
            "--output",
            log.to_str().unwrap(),
            "--duration",
            "90s",
            "-y",
            "--delete",
        ])
        .await;
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("imported 1 wheel"), "{out}");
    // Published whole, with its armv6l twin; the local copy deleted (-d).
    let published = f.output.join("simple/foo").join(name);
    assert_eq!(std::fs::read(&published).unwrap(), bytes);
    let twin = f
        .output
        .join("simple/foo/foo-1.0-cp311-cp311-linux_armv6l.whl");
    assert!(
        std::fs::symlink_metadata(&twin)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(!wheel.exists());
    // Logged as a build of slave 0 for the target, with the dependencies given.
    let data = f.db.project_data("foo").await.unwrap().unwrap();
    let file = &data.releases["1.0"].files[name];
    assert_eq!(file.abi_builder, "cp311");
    assert_eq!(file.requires_python.as_deref(), Some(">=3.9"));
    assert_eq!(
        file.apt_dependencies
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        ["libbar2", "libfoo1"]
    );
    assert!(
        file.pip_dependencies.contains("six"),
        "{:?}",
        file.pip_dependencies
    );
    let mut web = Vec::new();
    while let Ok(r) = f.inboxes.web.try_recv() {
        web.push(r);
    }
    assert!(
        web.iter().any(|r| matches!(r, WebRequest::Log { log, .. } if log == "built on a board in the corner\n")),
        "{web:?}"
    );
    assert!(
        web.contains(&WebRequest::Published("foo".into())),
        "{web:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piw_import_refusals() {
    let f = farm().await;
    let work = tempfile::tempdir().unwrap();
    let pure = make_wheel(work.path(), "foo-1.0-py3-none-any.whl", "foo", "1.0");
    let (code, _, err) = f.import(&[pure.to_str().unwrap(), "-y"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("couldn't determine builder ABI"), "{err}");
    let wheel = make_wheel(
        work.path(),
        "foo-2.0-cp311-cp311-linux_armv7l.whl",
        "foo",
        "2.0",
    );
    let (code, _, err) = f.import(&[wheel.to_str().unwrap(), "-y"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("unknown package version foo 2.0"), "{err}");
    assert!(wheel.exists(), "nothing deleted on failure");
    let (code, _, err) = f
        .import(&[
            wheel.to_str().unwrap(),
            "-y",
            "--abi",
            "cp27m",
            "--package-version",
            "1.0",
        ])
        .await;
    assert_eq!(code, 1);
    assert!(err.contains("invalid ABI: cp27m"), "{err}");
    let text = work.path().join("not-a-wheel.txt");
    std::fs::write(&text, "hello").unwrap();
    let (code, _, err) = f.import(&[text.to_str().unwrap(), "-y"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("not-a-wheel.txt"), "{err}");
    assert!(f.db.version_files("foo", "1.0").await.unwrap().is_empty());
}
