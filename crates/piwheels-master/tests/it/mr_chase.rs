//! MrChase over a real `ipc://` socket, with the protocol crate's REQ client, a real SQLite
//! database, and the test itself answering FileJuggler's requests (recording what was
//! asked, and staging real wheels in the real output folder).

use crate::core_support::eventually;
use std::time::Duration;

use chrono::{TimeDelta, TimeZone, Utc};
use indexmap::IndexMap;
use piwheels_db::Database;
use piwheels_master::hub::{
    FsError, FsRequest, Hub, Inboxes, SkipRequest, StatsMessage, WebRequest, supervise,
};
use piwheels_master::mr_chase::MrChase;
use piwheels_protocol::Message;
use piwheels_protocol::import::{
    AddPackage, AddVersion, ImportProtocol, ImportReply, ImportRequest, RebuildTarget,
    RemovePackage, RemoveVersion,
};
use piwheels_protocol::states::{BuildState, FileState};
use piwheels_protocol::transport::asynchronous::Req;
use piwheels_protocol::transport::{SocketOptions, zmq};

struct Farm {
    hub: Hub,
    inboxes: Inboxes,
    endpoint: String,
    req: Req<ImportProtocol>,
    ctx: zmq::Context,
    _dir: tempfile::TempDir,
}

async fn farm() -> Farm {
    let dir = tempfile::tempdir().unwrap();
    let (_dsn, db, mut config) = crate::core_support::sqlite_master(dir.path()).await;
    let endpoint = format!("ipc://{}", dir.path().join("import").display());
    config.import_queue = endpoint.clone();
    let (hub, inboxes) = Hub::new(db, config);
    let chase = MrChase::bind(hub.clone())
        .unwrap()
        .with_delete_grace(Duration::from_millis(200));
    supervise(chase, hub.quit.clone());
    let ctx = zmq::Context::new();
    let req = Req::connect(&ctx, &endpoint, &SocketOptions::new()).unwrap();
    Farm {
        hub,
        inboxes,
        endpoint,
        req,
        ctx,
        _dir: dir,
    }
}

impl Farm {
    async fn ask(&mut self, request: ImportRequest) -> ImportReply {
        tokio::time::timeout(Duration::from_secs(10), self.req.request(&request))
            .await
            .expect("MrChase answers")
            .unwrap()
    }

    fn web(&mut self) -> Vec<WebRequest> {
        let mut out = Vec::new();
        while let Ok(r) = self.inboxes.web.try_recv() {
            out.push(r);
        }
        out
    }

    /// Drains the web queue until `want` has come (within 10 s); returns all that came.
    async fn web_with(&mut self, want: &WebRequest) -> Vec<WebRequest> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut out = Vec::new();
        loop {
            out.extend(self.web());
            if out.contains(want) {
                return out;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {want:?} on the web queue; it had {out:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn skips(&mut self) -> Vec<SkipRequest> {
        let mut out = Vec::new();
        while let Ok(r) = self.inboxes.skip.try_recv() {
            out.push(r);
        }
        out
    }
}

fn done(s: &str) -> ImportReply {
    ImportReply::Done(s.into())
}

fn error(s: &str) -> ImportReply {
    ImportReply::Error(s.into())
}

fn addpkg(package: &str) -> AddPackage {
    AddPackage {
        package: package.into(),
        description: String::new(),
        skip: String::new(),
        unskip: false,
        aliases: vec![],
    }
}

fn addver(package: &str, version: &str) -> AddVersion {
    AddVersion {
        package: package.into(),
        version: version.into(),
        skip: String::new(),
        unskip: false,
        released: Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap(),
        yank: false,
        unyank: false,
        aliases: vec![],
    }
}

fn remver(package: &str, version: &str) -> RemoveVersion {
    RemoveVersion {
        package: package.into(),
        version: version.into(),
        builds: false,
        skip: String::new(),
        yank: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addpkg_and_addver() {
    let mut f = farm().await;
    let db = f.hub.db.clone();
    let mut new = addpkg("Foo.Bar");
    new.description = "A package".into();
    new.aliases = vec!["foo_bar".into()];
    assert_eq!(f.ask(ImportRequest::AddPackage(new)).await, done("NEWPKG"));
    assert_eq!(
        db.display_name("foo-bar").await.unwrap().as_deref(),
        Some("Foo.Bar")
    );
    let aliases = db.package_aliases("foo-bar").await.unwrap();
    assert!(aliases.contains(&"foo_bar".to_string()), "{aliases:?}");
    assert_eq!(f.web(), [WebRequest::Both("foo-bar".into())]);

    let mut skip = addpkg("foo-bar");
    skip.skip = "no".into();
    assert_eq!(
        f.ask(ImportRequest::AddPackage(skip)).await,
        error("SKIPPKG")
    );
    let mut bad = addpkg("foo-bar");
    bad.aliases = vec!["other".into()];
    let ImportReply::Error(why) = f.ask(ImportRequest::AddPackage(bad)).await else {
        panic!("an alias of another package is refused")
    };
    assert!(why.contains("other"), "{why}");
    let mut update = addpkg("FOO_BAR");
    update.description = "Better".into();
    assert_eq!(
        f.ask(ImportRequest::AddPackage(update)).await,
        done("UPDPKG")
    );
    assert_eq!(
        db.package_description("foo-bar").await.unwrap().as_deref(),
        Some("Better")
    );
    assert_eq!(
        db.display_name("foo-bar").await.unwrap().as_deref(),
        Some("FOO_BAR")
    );
    assert_eq!(f.web(), [WebRequest::Project("foo-bar".into())]);

    // Versions.
    assert_eq!(
        f.ask(ImportRequest::AddVersion(addver("nope", "1.0")))
            .await,
        error("NOPKG")
    );
    assert_eq!(
        f.ask(ImportRequest::AddVersion(addver("foo.bar", "1.0")))
            .await,
        done("NEWVER")
    );
    tokio::time::timeout(Duration::from_secs(1), f.hub.queue_changed.notified())
        .await
        .expect("TheArchitect is woken");
    let data = db.project_data("foo-bar").await.unwrap().unwrap();
    assert_eq!(
        data.releases["1.0"].released,
        Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap()
    );
    assert_eq!(f.web(), [WebRequest::Project("foo-bar".into())]);
    let mut yanked = addver("foo-bar", "0.9");
    yanked.yank = true;
    yanked.skip = "broken".into();
    assert_eq!(
        f.ask(ImportRequest::AddVersion(yanked)).await,
        done("NEWVER")
    );
    let data = db.project_data("foo-bar").await.unwrap().unwrap();
    assert!(data.releases["0.9"].yanked);
    assert_eq!(data.releases["0.9"].skip, "broken");

    let mut skip = addver("foo-bar", "1.0");
    skip.skip = "x".into();
    assert_eq!(
        f.ask(ImportRequest::AddVersion(skip)).await,
        error("SKIPVER")
    );
    let mut yank = addver("foo-bar", "1.0");
    yank.yank = true;
    assert_eq!(
        f.ask(ImportRequest::AddVersion(yank)).await,
        error("YANKVER")
    );
    let mut fix = addver("foo-bar", "0.9");
    fix.unskip = true;
    fix.unyank = true;
    f.web();
    assert_eq!(f.ask(ImportRequest::AddVersion(fix)).await, done("UPDVER"));
    let data = db.project_data("foo-bar").await.unwrap().unwrap();
    assert!(!data.releases["0.9"].yanked);
    assert_eq!(data.releases["0.9"].skip, "");
    assert_eq!(f.web(), [WebRequest::Both("foo-bar".into())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remver_rempkg_and_rebuild() {
    let mut f = farm().await;
    let db = f.hub.db.clone();
    for p in ["a", "b"] {
        assert_eq!(
            f.ask(ImportRequest::AddPackage(addpkg(p))).await,
            done("NEWPKG")
        );
        for v in ["1", "2", "3", "4"] {
            assert_eq!(
                f.ask(ImportRequest::AddVersion(addver(p, v))).await,
                done("NEWVER")
            );
        }
    }
    f.web();
    assert_eq!(
        f.ask(ImportRequest::RemoveVersion(remver("a", "9"))).await,
        error("NOVER")
    );
    let mut yank = remver("a", "1");
    yank.yank = true;
    assert_eq!(
        f.ask(ImportRequest::RemoveVersion(yank)).await,
        done("YANKVER")
    );
    assert!(db.project_data("a").await.unwrap().unwrap().releases["1"].yanked);
    assert_eq!(f.web(), [WebRequest::Both("a".into())]);
    assert!(f.skips().is_empty());

    let mut skip = remver("a", "2");
    skip.skip = "too big".into();
    assert_eq!(
        f.ask(ImportRequest::RemoveVersion(skip)).await,
        done("SKIPVER")
    );
    assert_eq!(
        db.version_skip("a", "2").await.unwrap().as_deref(),
        Some("too big")
    );
    assert_eq!(f.web(), [WebRequest::DeleteVersion("a".into(), "2".into())]);
    assert_eq!(f.skips(), [SkipRequest::Version("a".into(), "2".into())]);

    let mut builds = remver("a", "3");
    builds.builds = true;
    assert_eq!(
        f.ask(ImportRequest::RemoveVersion(builds)).await,
        done("DELVERBLD")
    );
    assert_eq!(f.skips(), [SkipRequest::Version("a".into(), "3".into())]);

    assert_eq!(
        f.ask(ImportRequest::RemoveVersion(remver("A", "4"))).await,
        done("DELVER")
    );
    // The rows stay (skipped) until TheScribe has had them, then go.
    assert_eq!(
        db.version_skip("a", "4").await.unwrap().as_deref(),
        Some("deleted")
    );
    assert!(
        f.web()
            .contains(&WebRequest::DeleteVersion("a".into(), "4".into()))
    );
    eventually("a 4 to be deleted", || {
        let db = db.clone();
        async move { !db.version_exists("a", "4").await.unwrap() }
    })
    .await;
    assert!(db.version_exists("a", "3").await.unwrap(), "builds only");
    // Once the rows are gone the pages are written again (a rewrite asked for meanwhile
    // may have shown them).
    f.web_with(&WebRequest::Both("a".into())).await;

    let rempkg = |package: &str, builds: bool, skip: &str| RemovePackage {
        package: package.into(),
        builds,
        skip: skip.into(),
    };
    assert_eq!(
        f.ask(ImportRequest::RemovePackage(rempkg("zz", false, "")))
            .await,
        error("NOPKG")
    );
    f.web();
    f.skips();
    assert_eq!(
        f.ask(ImportRequest::RemovePackage(rempkg("b", false, "gone")))
            .await,
        done("SKIPPKG")
    );
    assert_eq!(
        db.version_skip("b", "1").await.unwrap().as_deref(),
        Some("gone")
    );
    assert_eq!(f.web(), [WebRequest::DeletePackage("b".into())]);
    assert_eq!(f.skips(), [SkipRequest::Package("b".into())]);
    assert_eq!(
        f.ask(ImportRequest::RemovePackage(rempkg("b", true, "")))
            .await,
        done("DELPKGBLD")
    );
    assert!(db.package_exists("b").await.unwrap());
    assert_eq!(
        f.ask(ImportRequest::RemovePackage(rempkg("b", false, "")))
            .await,
        done("DELPKG")
    );
    assert!(db.package_marked_deleted("b").await.unwrap());
    eventually("b to be deleted", || {
        let db = db.clone();
        async move { !db.package_exists("b").await.unwrap() }
    })
    .await;
    f.web_with(&WebRequest::DeletePackage("b".into())).await;

    // Rebuilds.
    f.web();
    assert_eq!(
        f.ask(ImportRequest::Rebuild(RebuildTarget::Home)).await,
        done("REBUILD")
    );
    assert_eq!(
        f.ask(ImportRequest::Rebuild(RebuildTarget::Search)).await,
        done("REBUILD")
    );
    assert_eq!(f.inboxes.stats.try_recv().unwrap(), StatsMessage::Home);
    assert_eq!(f.inboxes.stats.try_recv().unwrap(), StatsMessage::Search);
    assert_eq!(
        f.ask(ImportRequest::Rebuild(RebuildTarget::Project(Some(
            "nope".into()
        ))))
        .await,
        error("unknown package nope")
    );
    assert_eq!(
        f.ask(ImportRequest::AddPackage(addpkg("c"))).await,
        done("NEWPKG")
    );
    f.web();
    assert_eq!(
        f.ask(ImportRequest::Rebuild(RebuildTarget::Project(Some(
            "A".into()
        ))))
        .await,
        done("REBUILD")
    );
    assert_eq!(f.web(), [WebRequest::Project("a".into())]);
    assert_eq!(
        f.ask(ImportRequest::Rebuild(RebuildTarget::Both(None)))
            .await,
        done("REBUILD")
    );
    assert_eq!(
        f.web(),
        [WebRequest::Both("a".into()), WebRequest::Both("c".into())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_an_error_and_the_task_keeps_serving() {
    let mut f = farm().await;
    let raw = f.ctx.socket(zmq::REQ).unwrap();
    raw.set_rcvtimeo(10_000).unwrap();
    raw.set_linger(0).unwrap();
    raw.connect(&f.endpoint).unwrap();
    for bad in [
        &b"\xff\xfe not cbor"[..],
        b"\x82\x66ADDPKG\x01",
        b"\x66BOGUS!",
    ] {
        raw.send(bad, 0).unwrap();
        let reply = raw.recv_bytes(0).expect("an answer to a bad request");
        match ImportReply::decode(&reply).unwrap() {
            ImportReply::Error(why) => assert!(!why.is_empty()),
            other => panic!("expected ERROR, got {other:?}"),
        }
    }
    assert_eq!(
        f.ask(ImportRequest::Sent).await,
        error("protocol violation")
    );
    assert_eq!(
        f.ask(ImportRequest::AddPackage(addpkg("ok"))).await,
        done("NEWPKG")
    );
}

/// A real wheel's bytes (the same for a name every time).
fn wheel_bytes(name: &str) -> Vec<u8> {
    use std::io::Write;
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buf);
        let options = zip::write::SimpleFileOptions::default();
        zip.start_file("foo/__init__.py", options).unwrap();
        zip.write_all(name.as_bytes()).unwrap();
        zip.start_file("foo-1.0.dist-info/METADATA", options)
            .unwrap();
        zip.write_all(b"Metadata-Version: 2.1\nName: foo\nVersion: 1.0\n")
            .unwrap();
        zip.finish().unwrap();
    }
    buf.into_inner()
}

/// Stages `file` (as FileJuggler would once it arrived) from [`wheel_bytes`].
fn stage(
    output: &piwheels_master::output::Output,
    file: &FileState,
    package: &str,
    version: &str,
) -> piwheels_master::output::Staged {
    use std::io::Write;
    let (mut handle, temp) = output.new_upload().unwrap();
    handle.write_all(&wheel_bytes(&file.filename)).unwrap();
    output.stage(handle, &temp, file, package, version).unwrap()
}

fn wheel(build_tag: &str, platform: &str) -> FileState {
    let filename = format!("foo-1.0-{build_tag}-cp311-cp311-{platform}.whl");
    let data = wheel_bytes(&filename);
    FileState {
        filehash: {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(&data))
        },
        filesize: data.len() as i64,
        filename,
        package_tag: "foo".into(),
        package_version_tag: "1.0".into(),
        py_version_tag: "cp311".into(),
        abi_tag: "cp311".into(),
        platform_tag: platform.into(),
        requires_python: None,
        dependencies: IndexMap::from([("apt".to_string(), vec!["libfoo1".to_string()])]),
        location: "/simple".into(),
    }
}

fn build(files: Vec<FileState>) -> BuildState {
    BuildState {
        slave_id: 42,
        package: "Foo".into(),
        version: "1.0".into(),
        abi_tag: "cp311".into(),
        status: true,
        duration: TimeDelta::seconds(7),
        output: "built it elsewhere".into(),
        files,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_transfers_every_file_through_the_file_juggler() {
    let mut f = farm().await;
    let db = f.hub.db.clone();
    assert_eq!(
        f.ask(ImportRequest::AddPackage(addpkg("foo"))).await,
        done("NEWPKG")
    );
    assert_eq!(
        f.ask(ImportRequest::AddVersion(addver("foo", "1.0"))).await,
        done("NEWVER")
    );

    // The refusals.
    let mut failed = build(vec![wheel("1", "linux_armv7l")]);
    failed.status = false;
    assert_eq!(
        f.ask(ImportRequest::Import(failed)).await,
        error("importing a failed build is not supported")
    );
    assert_eq!(
        f.ask(ImportRequest::Import(build(vec![]))).await,
        error("no files listed for import")
    );
    let mut abi = build(vec![wheel("1", "linux_armv7l")]);
    abi.abi_tag = "cp27m".into();
    assert_eq!(
        f.ask(ImportRequest::Import(abi)).await,
        error("invalid ABI: cp27m")
    );
    let mut unknown = build(vec![wheel("1", "linux_armv7l")]);
    unknown.version = "9.9".into();
    assert_eq!(
        f.ask(ImportRequest::Import(unknown)).await,
        error("unknown package version foo 9.9")
    );

    // A FileJuggler that records what it is asked, fails the first verification, and
    // stages the real wheels.
    let mut fs = std::mem::replace(&mut f.inboxes.fs, tokio::sync::mpsc::unbounded_channel().1);
    let output = f.hub.output.clone();
    output.prepare().unwrap();
    let juggler = tokio::spawn(async move {
        let mut asked = Vec::new();
        let mut verifies = 0;
        let mut expected = None;
        while let Some(req) = fs.recv().await {
            match req {
                FsRequest::Expect {
                    slave_id,
                    file,
                    reply,
                    ..
                } => {
                    asked.push(format!("EXPECT {slave_id} {}", file.filename));
                    expected = Some(file);
                    let _ = reply.send(Ok(()));
                }
                FsRequest::Verify {
                    slave_id,
                    package,
                    version,
                    reply,
                } => {
                    verifies += 1;
                    asked.push(format!("VERIFY {slave_id} {package} {version}"));
                    let _ = reply.send(if verifies == 1 {
                        Err(FsError::Corrupt("hash mismatch".into()))
                    } else {
                        Ok(stage(
                            &output,
                            expected.as_ref().unwrap(),
                            &package,
                            &version,
                        ))
                    });
                }
                FsRequest::Forget { slave_id } => asked.push(format!("FORGET {slave_id}")),
            }
            if asked.len() == 6 {
                break;
            }
        }
        asked
    });
    let files = vec![wheel("2", "linux_armv7l"), wheel("1", "linux_armv7l")];
    let (a, b) = (files[1].filename.clone(), files[0].filename.clone());
    assert_eq!(
        f.ask(ImportRequest::Import(build(files))).await,
        ImportReply::Send(a.clone())
    );
    // Unlike the original, nothing is recorded before every file is in.
    assert!(db.version_files("foo", "1.0").await.unwrap().is_empty());
    assert_eq!(
        f.ask(ImportRequest::Sent).await,
        ImportReply::Send(a.clone()),
        "sent again"
    );
    assert_eq!(
        f.ask(ImportRequest::Sent).await,
        ImportReply::Send(b.clone())
    );
    f.web();
    assert!(db.version_files("foo", "1.0").await.unwrap().is_empty());
    assert_eq!(f.ask(ImportRequest::Sent).await, done("IMPORT"));
    // Recorded, with slave id 0 and the target of the files, and published.
    assert!(db.version_files("foo", "1.0").await.unwrap().contains(&a));
    let published = f.hub.output.simple().join("foo");
    for name in [&a, &b] {
        assert_eq!(
            std::fs::read(published.join(name)).unwrap(),
            wheel_bytes(name),
            "{name} is published"
        );
    }
    let asked = tokio::time::timeout(Duration::from_secs(5), juggler)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        asked,
        [
            format!("EXPECT 0 {a}"),
            "VERIFY 0 foo 1.0".to_string(),
            format!("EXPECT 0 {a}"),
            "VERIFY 0 foo 1.0".to_string(),
            format!("EXPECT 0 {b}"),
            "VERIFY 0 foo 1.0".to_string(),
        ]
    );
    let web = f.web();
    assert_eq!(web.len(), 2, "{web:?}");
    assert!(matches!(&web[0], WebRequest::Log { log, .. } if log == "built it elsewhere"));
    assert_eq!(web[1], WebRequest::Published("foo".into()));
    let data = db.project_data("foo").await.unwrap().unwrap();
    let file = &data.releases["1.0"].files[&a];
    assert_eq!(file.abi_builder, "cp311");
    assert!(
        data.releases["1.0"]
            .files
            .keys()
            .any(|k| k.contains("armv6l")),
        "the armv6 copy"
    );
    assert!(queue_is_empty(&db).await, "built for its target");
    // After DONE, SENT is a protocol violation again.
    assert_eq!(
        f.ask(ImportRequest::Sent).await,
        error("protocol violation")
    );
}

async fn queue_is_empty(db: &Database) -> bool {
    db.build_queue(100)
        .await
        .unwrap()
        .values()
        .all(|q| q.is_empty())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_whose_file_never_verifies_is_abandoned() {
    let mut f = farm().await;
    assert_eq!(
        f.ask(ImportRequest::AddPackage(addpkg("foo"))).await,
        done("NEWPKG")
    );
    assert_eq!(
        f.ask(ImportRequest::AddVersion(addver("foo", "1.0"))).await,
        done("NEWVER")
    );
    let mut fs = std::mem::replace(&mut f.inboxes.fs, tokio::sync::mpsc::unbounded_channel().1);
    tokio::spawn(async move {
        while let Some(req) = fs.recv().await {
            match req {
                FsRequest::Expect { reply, .. } => drop(reply.send(Ok(()))),
                FsRequest::Verify { reply, .. } => {
                    drop(reply.send(Err(FsError::Corrupt("bad".into()))))
                }
                FsRequest::Forget { .. } => {}
            }
        }
    });
    let file = wheel("3", "linux_armv7l");
    let name = file.filename.clone();
    assert_eq!(
        f.ask(ImportRequest::Import(build(vec![file]))).await,
        ImportReply::Send(name.clone())
    );
    assert_eq!(
        f.ask(ImportRequest::Sent).await,
        ImportReply::Send(name.clone())
    );
    assert_eq!(
        f.ask(ImportRequest::Sent).await,
        ImportReply::Send(name.clone())
    );
    let ImportReply::Error(why) = f.ask(ImportRequest::Sent).await else {
        panic!("the import is abandoned")
    };
    assert!(why.contains(&name), "{why}");
    assert_eq!(
        f.ask(ImportRequest::Sent).await,
        error("protocol violation")
    );
}
