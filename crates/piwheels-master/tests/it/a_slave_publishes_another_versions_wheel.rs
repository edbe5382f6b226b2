//! Issue 14, item 1: a slave given the job `foo 3.0` could answer BUILT with a correct size
//! and hash for `foo-1.0-py3-none-any.whl` (or `setuptools-99.0-py3-none-any.whl`), and the
//! master published it, replacing the genuine 1.0 wheel and its metadata and pointing its
//! row at the 3.0 build. Every declared file must now be a wheel of the job's package and
//! version, with the tags its name says and a METADATA that agrees; a published wheel is
//! never replaced; a refused file fails the build with the reason in its log.

use crate::core_support;

use chrono::Utc;
use core_support::farm::*;
use core_support::*;
use piwheels_master::hub::WebRequest;
use piwheels_protocol::slave::SlaveReply;

/// Builds `foo 1.0` with a genuine wheel, then puts `foo 3.0` in the queue (and `bar` out
/// of it).
async fn farm_with_foo_1_published() -> (Farm, Slave, i64, Vec<u8>) {
    let mut farm = Farm::start(|_, _| {}).await;
    farm.hub
        .db
        .skip_package("bar", "not in this test")
        .await
        .unwrap();
    farm.wait_for_queue(|jobs| !jobs.iter().any(|(p, _)| p == "bar"))
        .await;
    let (mut s, id) = farm.our_hello(hello()).await;
    assert_eq!(s.ask(idle()).await, build("foo"));
    let genuine = wheel("foo", "1.0", 1000);
    let name = "foo-1.0-py3-none-any.whl";
    assert_eq!(
        farm.build_one(&mut s, id, name, &genuine).await,
        SlaveReply::Done
    );
    assert!(matches!(farm.next_web().await, WebRequest::Log { .. }));
    assert_eq!(farm.next_web().await, WebRequest::Published("foo".into()));
    farm.hub
        .db
        .add_new_package_version("foo", "3.0", Some(Utc::now()), "")
        .await
        .unwrap();
    farm.hub.queue_changed.notify_one();
    (farm, s, id, genuine)
}

/// The next job, once TheArchitect has it.
async fn next_job(farm: &Farm, s: &mut Slave) -> SlaveReply {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let reply = s.ask(idle()).await;
        if reply != SlaveReply::Sleep(false) || tokio::time::Instant::now() > deadline {
            return reply;
        }
        farm.hub.queue_changed.notify_one();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn job_3() -> SlaveReply {
    SlaveReply::Build(piwheels_protocol::slave::Job {
        package: "foo".into(),
        version: "3.0".into(),
    })
}

/// The failed build's log, from the web requests.
async fn failed_log(farm: &mut Farm) -> String {
    let WebRequest::Log { log, .. } = farm.next_web().await else {
        panic!("expected the build's log");
    };
    assert_eq!(farm.next_web().await, WebRequest::Project("foo".into()));
    log
}

/// The 1.0 wheel, its metadata and its row are as the genuine build left them.
async fn foo_1_untouched(farm: &Farm, genuine: &[u8], build_id: i64) {
    let dir = farm.env.simple().join("foo");
    let name = "foo-1.0-py3-none-any.whl";
    assert_eq!(std::fs::read(dir.join(name)).unwrap(), genuine);
    assert_eq!(
        std::fs::read_to_string(dir.join(format!("{name}.metadata"))).unwrap(),
        metadata("foo", "1.0")
    );
    let row = farm.hub.db.file(name).await.unwrap().unwrap();
    assert_eq!(
        row.build_id, build_id,
        "the row still points at the 1.0 build"
    );
    assert!(staging(&farm.env).is_empty(), "nothing is left staged");
}

/// Deletes foo 3.0's failed build, so it is handed out again.
async fn again(farm: &Farm) {
    farm.hub.db.delete_build("foo", "3.0").await.unwrap();
    farm.hub.queue_changed.notify_one();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wheel_of_another_version_or_package_is_refused_and_nothing_is_replaced() {
    let (mut farm, mut s, id, genuine) = farm_with_foo_1_published().await;
    let build_1 = farm
        .hub
        .db
        .file("foo-1.0-py3-none-any.whl")
        .await
        .unwrap()
        .unwrap()
        .build_id;

    // The job is foo 3.0; the slave declares foo 1.0's name, with a right size and hash.
    assert_eq!(next_job(&farm, &mut s).await, job_3());
    let forged = wheel("foo", "3.0", 2000);
    let declared = file_state("foo-1.0-py3-none-any.whl", &forged, "any");
    assert_eq!(
        s.ask(built(true, vec![declared])).await,
        SlaveReply::Done,
        "refused before any transfer"
    );
    let log = failed_log(&mut farm).await;
    assert!(log.contains("not of 3.0"), "{log}");
    foo_1_untouched(&farm, &genuine, build_1).await;

    // Another package's name.
    again(&farm).await;
    assert_eq!(next_job(&farm, &mut s).await, job_3());
    let forged = wheel("setuptools", "99.0", 2000);
    let declared = file_state("setuptools-99.0-py3-none-any.whl", &forged, "any");
    assert_eq!(s.ask(built(true, vec![declared])).await, SlaveReply::Done);
    let log = failed_log(&mut farm).await;
    assert!(log.contains("not of foo"), "{log}");
    assert!(!farm.env.simple().join("setuptools").exists());
    foo_1_untouched(&farm, &genuine, build_1).await;

    // The right name, but tags that are not the name's (the queue reads the tags).
    again(&farm).await;
    assert_eq!(next_job(&farm, &mut s).await, job_3());
    let data = wheel("foo", "3.0", 2000);
    let mut declared = file_state("foo-3.0-cp311-cp311-linux_x86_64.whl", &data, "x");
    declared.platform_tag = "any".into();
    assert_eq!(s.ask(built(true, vec![declared])).await, SlaveReply::Done);
    let log = failed_log(&mut farm).await;
    assert!(log.contains("platform tag"), "{log}");

    // The right name and tags, but a METADATA of version 1.0: refused once it arrives.
    again(&farm).await;
    assert_eq!(next_job(&farm, &mut s).await, job_3());
    let inside = wheel("foo", "1.0", 3000);
    let name = "foo-3.0-py3-none-any.whl";
    assert_eq!(
        farm.build_one(&mut s, id, name, &inside).await,
        SlaveReply::Done
    );
    let log = failed_log(&mut farm).await;
    assert!(log.contains("METADATA says Version"), "{log}");
    assert!(!farm.env.simple().join("foo").join(name).exists());
    foo_1_untouched(&farm, &genuine, build_1).await;

    // A genuine 3.0 wheel is published, beside 1.0's.
    again(&farm).await;
    assert_eq!(next_job(&farm, &mut s).await, job_3());
    let real = wheel("foo", "3.0", 3000);
    assert_eq!(
        farm.build_one(&mut s, id, name, &real).await,
        SlaveReply::Done
    );
    assert!(matches!(farm.next_web().await, WebRequest::Log { .. }));
    assert_eq!(farm.next_web().await, WebRequest::Published("foo".into()));
    assert_eq!(
        std::fs::read(farm.env.simple().join("foo").join(name)).unwrap(),
        real
    );
    foo_1_untouched(&farm, &genuine, build_1).await;
    farm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_wheel_is_never_replaced_by_another_build() {
    let (farm, mut s, id, genuine) = farm_with_foo_1_published().await;
    let build_1 = farm
        .hub
        .db
        .file("foo-1.0-py3-none-any.whl")
        .await
        .unwrap()
        .unwrap()
        .build_id;
    // foo 1.0 is handed out again (its build is forgotten by the queue, not deleted: a
    // second slave on another target, say) and the same name comes back with other bytes.
    farm.hub
        .db
        .skip_package_version("foo", "3.0", "not in this test")
        .await
        .unwrap();
    let other = wheel("foo", "1.0", 5000);
    let name = "foo-1.0-py3-none-any.whl";
    // FileJuggler refuses to take it: another build's wheel has the name.
    farm.hub
        .fs
        .prepare(sid(id as u64), file_state(name, &other, "any"))
        .await
        .unwrap();
    assert!(send_file(&farm.files, id as u64, &other, None).await.done);
    let err = farm
        .hub
        .fs
        .verify(sid(id as u64), "foo", "1.0")
        .await
        .unwrap_err();
    assert!(
        matches!(err, piwheels_master::hub::FsError::Refused(_)),
        "{err:?}"
    );
    assert!(err.to_string().contains("already published"), "{err}");
    foo_1_untouched(&farm, &genuine, build_1).await;
    // And the idle slave has nothing to do.
    assert_eq!(s.ask(idle()).await, SlaveReply::Sleep(false));
    farm.stop().await;
}
