//! The admin tools and the monitor over TCP with CURVE (`--master-key --key`), as
//! processes, against a real master (`Master::start` in this test's runtime, every task
//! running) whose import, status and control queues are on loopback TCP with the master's
//! key and an allow-list folder: the admitted key is served, an unlisted key and a tool
//! without keys are not, and one of the two options alone is a usage error.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use piwheels_db::{Database, Target};
use piwheels_master::MasterConfig;
use piwheels_master::master::Master;
use piwheels_protocol::auth::KeyPair;
use test_support::process;
use tokio::sync::oneshot;

use crate::support::free_port;

struct CurveMaster {
    db: Database,
    import: String,
    file: String,
    status: String,
    control: String,
    master_key: PathBuf,
    admitted: PathBuf,
    stranger: PathBuf,
    dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    running: tokio::task::JoinHandle<()>,
}

async fn curve_master() -> CurveMaster {
    let dir = tempfile::tempdir().unwrap();
    let dsn = format!("sqlite:{}", dir.path().join("piwheels.db").display());
    let db = Database::create(&dsn).await.unwrap();
    db.set_build_targets(&[Target::new("cp311", "linux_armv7l")])
        .await
        .unwrap();
    let keys = dir.path().join("keys");
    let allow = dir.path().join("allow");
    std::fs::create_dir_all(&keys).unwrap();
    std::fs::create_dir_all(&allow).unwrap();
    let master = KeyPair::generate().unwrap();
    let (master_key, _) = master.write(&keys.join("master")).unwrap();
    let admitted = KeyPair::generate().unwrap();
    let (_, admitted_secret) = admitted.write(&keys.join("admin")).unwrap();
    admitted.write(&allow.join("admin")).unwrap();
    let (_, stranger) = KeyPair::generate()
        .unwrap()
        .write(&keys.join("stranger"))
        .unwrap();

    let mut config = MasterConfig::new(&dsn, dir.path().join("www"));
    let import = format!("tcp://127.0.0.1:{}", free_port());
    config.import_queue = import.clone();
    config.status_queue = "tcp://127.0.0.1:*".into();
    config.control_queue = "tcp://127.0.0.1:*".into();
    config.log_queue = format!("ipc://{}", dir.path().join("log").display());
    config.slave_queue = "tcp://127.0.0.1:*".into();
    config.file_queue = "tcp://127.0.0.1:*".into();
    config.web_listen = None;
    config.upstream = Some("http://127.0.0.1:9/simple".into());
    config.follow = Some(Vec::new());
    config.min_free_space = 0;
    config.auth.key = Some(master);
    config.auth.allow_list = Some(allow);
    let master = Master::start(config).await.unwrap();
    let file = master.file_endpoint().to_owned();
    let status = master.status_endpoint().to_owned();
    let control = master.control_endpoint().to_owned();
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        master
            .run_until(async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    CurveMaster {
        db,
        import,
        file,
        status,
        control,
        master_key,
        admitted: admitted_secret,
        stranger,
        dir,
        stop: Some(stop),
        running,
    }
}

impl CurveMaster {
    /// `--master-key M --key K` with the admitted key, an unlisted one, or none.
    fn keys(&self, own: Option<&Path>) -> Vec<String> {
        match own {
            None => Vec::new(),
            Some(own) => vec![
                "--master-key".into(),
                self.master_key.display().to_string(),
                "--key".into(),
                own.display().to_string(),
            ],
        }
    }

    async fn run(&self, tool: &'static str, args: Vec<String>) -> Output {
        let mut cmd = Command::new(match tool {
            "piw-add" => env!("CARGO_BIN_EXE_piw-add"),
            "piw-rebuild" => env!("CARGO_BIN_EXE_piw-rebuild"),
            "piw-monitor" => env!("CARGO_BIN_EXE_piw-monitor"),
            "piw-import" => env!("CARGO_BIN_EXE_piw-import"),
            other => panic!("no tool {other}"),
        });
        cmd.args(args)
            .env("HOME", self.dir.path())
            .stdin(Stdio::null());
        tokio::task::spawn_blocking(move || {
            process::output_within(&mut cmd, b"", Duration::from_secs(60), tool)
        })
        .await
        .unwrap()
    }

    async fn add(&self, package: &str, own: Option<&Path>, timeout: &str) -> Output {
        let mut args = vec![
            package.to_owned(),
            "--yes".into(),
            "--import-queue".into(),
            self.import.clone(),
            "--timeout".into(),
            timeout.into(),
        ];
        args.extend(self.keys(own));
        self.run("piw-add", args).await
    }

    async fn monitor(&self, own: Option<&Path>, deadline: &str) -> Output {
        let mut args = vec![
            "--status-queue".to_owned(),
            self.status.clone(),
            "--control-queue".into(),
            self.control.clone(),
            "--once".into(),
            "--json".into(),
            "--deadline".into(),
            deadline.into(),
        ];
        args.extend(self.keys(own));
        self.run("piw-monitor", args).await
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(30), &mut self.running)
            .await
            .expect("the master stops within 30 s")
            .unwrap();
    }
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_tools_over_curve_need_an_admitted_key() {
    let m = curve_master().await;
    let admitted = m.admitted.clone();
    let out = m.add("foo", Some(&admitted), "30").await;
    assert!(
        out.status.success(),
        "piw-add with the admitted key: {}",
        text(&out)
    );
    assert!(m.db.package_exists("foo").await.unwrap());

    let mut rebuild = vec![
        "home".to_owned(),
        "--import-queue".into(),
        m.import.clone(),
        "--timeout".into(),
        "30".into(),
    ];
    rebuild.extend(m.keys(Some(&admitted)));
    let out = m.run("piw-rebuild", rebuild).await;
    assert!(
        out.status.success(),
        "piw-rebuild with the admitted key: {}",
        text(&out)
    );

    // An unlisted key and no key at all: the master never hears them.
    let stranger = m.stranger.clone();
    for (who, own) in [
        ("an unlisted key", Some(stranger.as_path())),
        ("no key", None),
    ] {
        let out = m.add("bar", own, "2").await;
        assert_eq!(
            out.status.code(),
            Some(1),
            "piw-add with {who}: {}",
            text(&out)
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("did not answer"),
            "piw-add with {who}: {}",
            text(&out)
        );
    }
    assert!(!m.db.package_exists("bar").await.unwrap());

    // One of the two options alone.
    let out = m
        .run(
            "piw-add",
            vec![
                "baz".into(),
                "--import-queue".into(),
                m.import.clone(),
                "--key".into(),
                admitted.display().to_string(),
            ],
        )
        .await;
    assert_eq!(out.status.code(), Some(2), "--key alone: {}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--master-key and --key go together"),
        "--key alone: {}",
        text(&out)
    );
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monitor_over_curve_needs_an_admitted_key() {
    let m = curve_master().await;
    let admitted = m.admitted.clone();
    let out = m.monitor(Some(&admitted), "30").await;
    assert!(
        out.status.success(),
        "piw-monitor with the admitted key: {}",
        text(&out)
    );
    let snapshot: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out)));
    assert!(snapshot.get("slaves").is_some(), "{snapshot}");

    let stranger = m.stranger.clone();
    for (who, own) in [
        ("an unlisted key", Some(stranger.as_path())),
        ("no key", None),
    ] {
        let out = m.monitor(own, "2").await;
        assert!(
            !out.status.success(),
            "piw-monitor with {who}: {}",
            text(&out)
        );
    }

    let out = m
        .run(
            "piw-monitor",
            vec![
                "--once".into(),
                "--json".into(),
                "--master-key".into(),
                m.master_key.display().to_string(),
            ],
        )
        .await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "--master-key alone: {}",
        text(&out)
    );
    m.stop().await;
}

/// `piw-import` over CURVE: its request on the import queue and its upload on the file
/// queue both speak CURVE with the tool's key; the wheel is published whole. Without an
/// admitted key nothing is imported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piw_import_over_curve_uploads_with_its_key() {
    let m = curve_master().await;
    let work = tempfile::tempdir().unwrap();
    let name = "foo-1.0-cp311-cp311-linux_armv7l.whl";
    let wheel = crate::admin_import::make_wheel(work.path(), name, "Foo", "1.0");
    let bytes = std::fs::read(&wheel).unwrap();
    m.db.add_new_package("foo", "", "").await.unwrap();
    m.db.add_new_package_version("foo", "1.0", None, "")
        .await
        .unwrap();
    let import = |own: Option<PathBuf>, timeout: &'static str| {
        let mut args = vec![
            wheel.display().to_string(),
            "-y".into(),
            "--import-queue".into(),
            m.import.clone(),
            "--file-queue".into(),
            m.file.clone(),
            "--timeout".into(),
            timeout.into(),
        ];
        args.extend(m.keys(own.as_deref()));
        m.run("piw-import", args)
    };

    let out = import(Some(m.stranger.clone()), "2").await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "an unlisted key: {}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("did not answer"),
        "an unlisted key: {}",
        text(&out)
    );

    let out = import(Some(m.admitted.clone()), "30").await;
    assert!(out.status.success(), "the admitted key: {}", text(&out));
    let published = m.dir.path().join("www/simple/foo").join(name);
    assert_eq!(std::fs::read(&published).unwrap(), bytes);
    m.stop().await;
}
