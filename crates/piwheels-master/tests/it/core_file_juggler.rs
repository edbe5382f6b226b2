//! FileJuggler against real DEALER clients on real sockets, writing real files.

use crate::core_support;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use core_support::*;
use piwheels_master::file_juggler::{FileJuggler, TEMP_PREFIX};
use piwheels_master::hub::{Hub, Inboxes, StatsMessage, supervise};
use tokio::task::JoinHandle;

struct Juggler {
    env: Env,
    hub: Hub,
    inboxes: Inboxes,
    endpoint: String,
    task: JoinHandle<()>,
}

impl Juggler {
    async fn start() -> Juggler {
        let env = Env::new().await;
        Self::start_in(env).await
    }

    async fn start_in(env: Env) -> Juggler {
        let (hub, mut inboxes) = env.hub().await;
        let fs = std::mem::replace(&mut inboxes.fs, tokio::sync::mpsc::unbounded_channel().1);
        let juggler = FileJuggler::bind(hub.clone(), fs).unwrap();
        let endpoint = juggler.endpoint().to_owned();
        assert!(endpoint.starts_with("tcp://127.0.0.1:"), "{endpoint}");
        let task = supervise(juggler, hub.quit.clone());
        Juggler {
            env,
            hub,
            inboxes,
            endpoint,
            task,
        }
    }

    async fn stop(self) -> Env {
        self.hub.quit.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .unwrap()
            .unwrap();
        self.env
    }

    fn temps(&self) -> Vec<String> {
        staging(&self.env)
            .into_iter()
            .filter(|n| n.starts_with(TEMP_PREFIX))
            .collect()
    }

    /// Verifies what slave `id` sent as a wheel of `package` `version`, then publishes it,
    /// as SlaveDriver does once the build is recorded.
    async fn publish(
        &self,
        id: u64,
        package: &str,
        version: &str,
    ) -> Result<(), piwheels_master::hub::FsError> {
        let staged = self.hub.fs.verify(sid(id), package, version).await?;
        assert!(
            staged.path().starts_with(self.hub.output.staging()),
            "verified files wait in the staging folder"
        );
        assert!(
            !self
                .env
                .simple()
                .join(package)
                .join(&staged.file().filename)
                .exists(),
            "nothing is visible before it is published"
        );
        let output = self.hub.output.clone();
        tokio::task::spawn_blocking(move || output.publish(vec![staged]))
            .await
            .unwrap()
            .unwrap();
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_transfer_is_verified_and_published_with_its_metadata() {
    let mut j = Juggler::start().await;
    // The first STATFS comes at start-up.
    assert!(matches!(
        within(Duration::from_secs(10), "STATFS", j.inboxes.stats.recv()).await,
        Some(StatsMessage::StatFs { size, .. }) if size > 0
    ));
    let data = wheel("foo", "1.0", 3 << 20);
    let name = "foo-1.0-py3-none-any.whl";
    j.hub
        .fs
        .prepare(sid(1), file_state(name, &data, "any"))
        .await
        .unwrap();
    assert_eq!(j.temps().len(), 1, "the transfer's temporary file");
    let sent = send_file(&j.endpoint, 1, &data, None).await;
    assert!(sent.done);
    assert!(sent.chunks >= 3, "{sent:?}");
    j.publish(1, "foo", "1.0").await.unwrap();

    let dir = j.env.simple().join("foo");
    assert_eq!(std::fs::read(dir.join(name)).unwrap(), data);
    let mode = std::fs::metadata(dir.join(name))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644);
    assert_eq!(
        std::fs::read_to_string(dir.join(format!("{name}.metadata"))).unwrap(),
        metadata("foo", "1.0")
    );
    assert_eq!(
        std::fs::metadata(dir.join(format!("{name}.metadata")))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o644
    );
    assert_eq!(
        tree(&j.env.simple()),
        [
            "foo",
            "foo/foo-1.0-py3-none-any.whl",
            "foo/foo-1.0-py3-none-any.whl.metadata"
        ]
    );
    assert!(matches!(
        tokio::time::timeout(Duration::from_secs(5), j.inboxes.stats.recv()).await,
        Ok(Some(StatsMessage::StatFs { .. }))
    ));
    // The transfer is gone: verifying again fails.
    assert!(j.hub.fs.verify(sid(1), "foo", "1.0").await.is_err());
    j.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_byte_file_is_complete_at_once_and_refused_as_no_wheel() {
    let j = Juggler::start().await;
    let name = "foo-1.0-py3-none-any.whl";
    j.hub
        .fs
        .prepare(sid(1), file_state(name, b"", "any"))
        .await
        .unwrap();
    // Complete before any HELLO; a HELLO still gets DONE.
    let sent = send_file(&j.endpoint, 1, b"", None).await;
    assert_eq!(
        sent,
        Sent {
            chunks: 0,
            done: true
        }
    );
    // Not a zip, so not a wheel: refused, and nothing is left.
    let err = j.hub.fs.verify(sid(1), "foo", "1.0").await.unwrap_err();
    assert!(
        matches!(err, piwheels_master::hub::FsError::Refused(_)),
        "{err:?}"
    );
    assert!(err.to_string().contains("zip"), "{err}");
    assert!(!j.env.simple().join("foo").exists());
    assert!(staging(&j.env).is_empty());
    j.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_dealer_saying_hello_again_resumes_the_transfer() {
    let j = Juggler::start().await;
    let data = wheel("foo", "1.0", 5 << 20);
    let name = "foo-1.0-py3-none-any.whl";
    j.hub
        .fs
        .prepare(sid(3), file_state(name, &data, "any"))
        .await
        .unwrap();
    let first = send_file(&j.endpoint, 3, &data, Some(2)).await;
    assert_eq!(
        first,
        Sent {
            chunks: 2,
            done: false
        }
    );
    assert!(
        j.hub.fs.verify(sid(3), "foo", "1.0").await.is_err(),
        "not complete yet"
    );
    // Verification failed, so the transfer is gone; the slave is told to send again.
    j.hub
        .fs
        .prepare(sid(3), file_state(name, &data, "any"))
        .await
        .unwrap();
    let part = send_file(&j.endpoint, 3, &data, Some(1)).await;
    assert_eq!(part.chunks, 1);
    // A new socket (new identity) takes over the same transfer and finishes it.
    let rest = send_file(&j.endpoint, 3, &data, None).await;
    assert!(rest.done);
    assert!(
        rest.chunks < 6,
        "only the missing part is fetched again: {rest:?}"
    );
    j.publish(3, "foo", "1.0").await.unwrap();
    assert_eq!(
        std::fs::read(j.env.simple().join("foo").join(name)).unwrap(),
        data
    );
    assert!(j.temps().is_empty());
    j.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_hashes_and_sizes_fail_verification_and_publish_nothing() {
    let j = Juggler::start().await;
    let data = wheel("foo", "1.0", 100_000);
    let name = "foo-1.0-py3-none-any.whl";

    let mut bad_hash = file_state(name, &data, "any");
    bad_hash.filehash = sha256(b"something else");
    j.hub.fs.prepare(sid(1), bad_hash).await.unwrap();
    assert!(send_file(&j.endpoint, 1, &data, None).await.done);
    let err = j.hub.fs.verify(sid(1), "foo", "1.0").await.unwrap_err();
    assert!(err.to_string().contains("SHA-256"), "{err}");
    assert!(err.retry(), "a damaged file is sent again: {err:?}");

    // Declared larger than what the client has: never complete.
    let mut too_big = file_state(name, &data, "any");
    too_big.filesize += 10;
    j.hub.fs.prepare(sid(1), too_big).await.unwrap();
    let sent = send_file(&j.endpoint, 1, &data, Some(4)).await;
    assert!(!sent.done);
    let err = j.hub.fs.verify(sid(1), "foo", "1.0").await.unwrap_err();
    assert!(err.to_string().contains("not complete"), "{err}");

    // Declared smaller: the bytes fetched hash differently.
    let mut too_small = file_state(name, &data, "any");
    too_small.filesize -= 10;
    j.hub.fs.prepare(sid(1), too_small).await.unwrap();
    assert!(send_file(&j.endpoint, 1, &data, None).await.done);
    assert!(j.hub.fs.verify(sid(1), "foo", "1.0").await.is_err());

    // Nothing was published, nothing is left.
    assert_eq!(tree(&j.env.simple()), Vec::<String>::new());
    assert!(staging(&j.env).is_empty());
    j.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_are_refused() {
    let j = Juggler::start().await;
    let data = b"PK".to_vec();
    for name in [
        "../evil-1.0-py3-none-any.whl",
        "a/b-1.0-py3-none-any.whl",
        "nul\0-1.0-py3-none-any.whl",
        "foo-1.0.tar.gz",
        ".whl",
        "..whl",
        "",
    ] {
        let err = j
            .hub
            .fs
            .prepare(sid(1), file_state(name, &data, "any"))
            .await;
        assert!(err.is_err(), "{name:?} accepted");
    }
    let mut bad = file_state("foo-1.0-py3-none-any.whl", &data, "any");
    bad.filehash = "ABC".into();
    assert!(j.hub.fs.prepare(sid(1), bad).await.is_err());
    // A good name, but a hostile package directory.
    for package in ["../foo", "Foo", "foo/bar", "", "foo_bar", ".."] {
        j.hub
            .fs
            .prepare(sid(1), file_state("foo-1.0-py3-none-any.whl", &data, "any"))
            .await
            .unwrap();
        assert!(send_file(&j.endpoint, 1, &data, None).await.done);
        let err = j.hub.fs.verify(sid(1), package, "1.0").await.unwrap_err();
        assert!(
            matches!(err, piwheels_master::hub::FsError::Refused(_)),
            "{package:?}: {err:?}"
        );
    }
    assert_eq!(tree(&j.env.simple()), Vec::<String>::new());
    assert_eq!(
        tree(&j.env.config.output_path),
        ["simple"],
        "nothing outside simple/"
    );
    j.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_are_dropped_and_the_task_carries_on() {
    let j = Juggler::start().await;
    let mut d = dealer(&j.endpoint);
    let garbage: Vec<Vec<&[u8]>> = vec![
        vec![b"HELLO"],
        vec![b"HELLO", b"abc"],
        vec![b"HELLO", b"-1"],
        vec![b"HELLO", b"99999999999999999999999"],
        vec![b"CHUNK", b"x", b"data"],
        vec![b"CHUNK", b"0"],
        vec![b"CHUNK"],
        vec![b"BOGUS", b"1"],
        vec![b"HELLO", b"42"],
        vec![b"CHUNK", b"0", b"stale"],
    ];
    for frames in garbage {
        d.send(frames).await.unwrap();
    }
    // None of that is answered.
    assert!(
        tokio::time::timeout(Duration::from_millis(500), d.recv())
            .await
            .is_err()
    );
    // A chunk past the end is refused, not written.
    let data = wheel("foo", "1.0", 10_000);
    let name = "foo-1.0-py3-none-any.whl";
    j.hub
        .fs
        .prepare(sid(5), file_state(name, &data, "any"))
        .await
        .unwrap();
    let mut d = dealer(&j.endpoint);
    d.send(piwheels_protocol::transfer::hello_frames(5))
        .await
        .unwrap();
    let _fetch = within(Duration::from_secs(10), "FETCH", d.recv())
        .await
        .unwrap();
    let len = data.len() as u64;
    d.send(piwheels_protocol::transfer::chunk_frames(
        len - 1,
        vec![0; 100],
    ))
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let temps = j.temps();
    assert_eq!(temps.len(), 1);
    assert_eq!(
        std::fs::metadata(j.hub.output.staging().join(&temps[0]))
            .unwrap()
            .len(),
        len,
        "the file did not grow"
    );
    drop(d);
    // And a real transfer still works.
    assert!(send_file(&j.endpoint, 5, &data, None).await.done);
    j.publish(5, "foo", "1.0").await.unwrap();
    j.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_slave_leaves_nothing_visible() {
    let env = Env::new().await;
    // A temporary file left by a master that was killed.
    let staged = env.simple().join(piwheels_master::output::STAGING);
    std::fs::create_dir_all(&staged).unwrap();
    std::fs::write(staged.join(format!("{TEMP_PREFIX}stale.part")), b"x").unwrap();
    let j = Juggler::start_in(env).await;
    assert!(
        j.temps().is_empty(),
        "stale temporary files are removed at start"
    );

    let data = wheel("foo", "1.0", 3 << 20);
    let name = "foo-1.0-py3-none-any.whl";
    j.hub
        .fs
        .prepare(sid(2), file_state(name, &data, "any"))
        .await
        .unwrap();
    let sent = send_file(&j.endpoint, 2, &data, Some(1)).await;
    assert!(!sent.done);
    let first = j.temps();
    assert_eq!(first.len(), 1);
    // The slave comes back and is told to send another file: the old transfer goes.
    let other = wheel("foo", "1.0", 1000);
    j.hub
        .fs
        .prepare(
            sid(2),
            file_state("foo-1.0-py3-none-any.whl", &other, "any"),
        )
        .await
        .unwrap();
    let second = j.temps();
    assert_eq!(second.len(), 1);
    assert_ne!(first, second);
    assert!(!j.env.simple().join("foo").exists());
    // Stopping removes it too.
    let env = j.stop().await;
    assert_eq!(tree(&env.simple()), Vec::<String>::new());
    assert!(staging(&env).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn armv7l_wheels_get_armv6l_links_and_symlinked_package_dirs_become_real() {
    let j = Juggler::start().await;
    // An alias symlink where the package's directory goes.
    let elsewhere = j.env.dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::create_dir_all(j.env.simple()).unwrap();
    std::os::unix::fs::symlink(&elsewhere, j.env.simple().join("foo")).unwrap();

    let data = wheel("foo", "1.0", 1000);
    let name = "foo-1.0-cp311-cp311-linux_armv7l.whl";
    j.hub
        .fs
        .prepare(sid(1), file_state(name, &data, "linux_armv7l"))
        .await
        .unwrap();
    assert!(send_file(&j.endpoint, 1, &data, None).await.done);
    j.publish(1, "foo", "1.0").await.unwrap();
    let dir = j.env.simple().join("foo");
    assert!(
        !std::fs::symlink_metadata(&dir)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let twin = "foo-1.0-cp311-cp311-linux_armv6l.whl";
    assert_eq!(
        std::fs::read_link(dir.join(twin)).unwrap().to_str(),
        Some(name)
    );
    assert_eq!(
        std::fs::read_link(dir.join(format!("{twin}.metadata")))
            .unwrap()
            .to_str(),
        Some(format!("{name}.metadata").as_str())
    );
    assert_eq!(std::fs::read(dir.join(twin)).unwrap(), data);
    assert_eq!(
        std::fs::read_dir(&elsewhere).unwrap().count(),
        0,
        "nothing written through the old symlink"
    );
    j.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_original_slaves_upload_loop_in_python_sends_a_file() {
    let Some(python) = python() else {
        skip(
            "the_original_slaves_upload_loop_in_python_sends_a_file",
            "no Python with pyzmq (set PIWHEELS_TEST_PYTHON or make scripts/py-env work)",
        );
        return;
    };
    let j = Juggler::start().await;
    let data = wheel("foo", "1.0", 3 << 20);
    let name = "foo-1.0-py3-none-any.whl";
    let path = j.env.dir.path().join(name);
    std::fs::write(&path, &data).unwrap();
    j.hub
        .fs
        .prepare(sid(4), file_state(name, &data, "any"))
        .await
        .unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../piwheels-protocol/tests/peer/transfer_client.py"
    );
    let endpoint = j.endpoint.clone();
    // --drop 2: two FETCHes go unanswered, so the master must ask again after a HELLO.
    let out = tokio::task::spawn_blocking(move || {
        output_within(
            std::process::Command::new(python).args([
                script,
                &endpoint,
                "4",
                path.to_str().unwrap(),
                "--timeout",
                "0.5",
                "--drop",
                "2",
            ]),
            b"",
            Duration::from_secs(120),
            "the Python transfer client",
        )
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.starts_with("done:"), "{said}");
    j.publish(4, "foo", "1.0").await.unwrap();
    assert_eq!(
        std::fs::read(j.env.simple().join("foo").join(name)).unwrap(),
        data
    );
    j.stop().await;
}
