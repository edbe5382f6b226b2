//! The build queue: ABI order, one target first then fan-out, pure and abi3 wheels,
//! several platforms, skips, target changes, order and limits.

use crate::common;

use std::collections::BTreeMap;

use common::{TestDb, build, day, target, wheel};
use piwheels_db::{Database, Target};

type Queue = BTreeMap<Target, Vec<(String, String)>>;

/// The queue as `"abi/platform" -> ["pkg version", ...]`, empty targets left out.
async fn queue(db: &Database) -> BTreeMap<String, Vec<String>> {
    let q: Queue = db.build_queue(100_000).await.unwrap();
    q.into_iter()
        .filter(|(_, jobs)| !jobs.is_empty())
        .map(|(t, jobs)| {
            (
                t.to_string(),
                jobs.into_iter().map(|(p, v)| format!("{p} {v}")).collect(),
            )
        })
        .collect()
}

fn q(entries: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
    entries
        .iter()
        .map(|(t, jobs)| (t.to_string(), jobs.iter().map(|j| j.to_string()).collect()))
        .collect()
}

async fn targets(db: &Database, list: &[&str]) {
    db.set_build_targets(&list.iter().map(|t| target(t)).collect::<Vec<_>>())
        .await
        .unwrap();
}

async fn version(db: &Database, package: &str, version: &str, released: i64) {
    db.add_new_package(package, "", "").await.unwrap();
    db.add_new_package_version(package, version, Some(day(released)), "")
        .await
        .unwrap();
}

async fn nothing_is_queued_without_targets(t: TestDb) {
    version(&t.db, "foo", "1.0", 1).await;
    assert!(t.db.build_queue(10).await.unwrap().is_empty());
    // Enabling a target queues what is already there.
    targets(&t.db, &["cp311/linux_armv7l"]).await;
    assert_eq!(
        queue(&t.db).await,
        q(&[("cp311/linux_armv7l", &["foo 1.0"])])
    );
}

async fn abis_are_tried_in_python_version_order(t: TestDb) {
    let db = &t.db;
    // The original's string order would pick cp310 first (cp310 < cp311 < cp313 < cp39).
    targets(
        db,
        &[
            "cp313/linux_armv7l",
            "cp310/linux_armv7l",
            "cp39/linux_armv7l",
            "cp311/linux_armv7l",
        ],
    )
    .await;
    version(db, "foo", "1.0", 1).await;
    assert_eq!(queue(db).await, q(&[("cp39/linux_armv7l", &["foo 1.0"])]));
    let order: Vec<String> = db
        .build_targets()
        .await
        .unwrap()
        .into_iter()
        .map(|(t, _)| t.to_string())
        .collect();
    assert_eq!(
        order,
        [
            "cp39/linux_armv7l",
            "cp310/linux_armv7l",
            "cp311/linux_armv7l",
            "cp313/linux_armv7l"
        ]
    );
}

async fn a_pure_wheel_serves_every_target(t: TestDb) {
    let db = &t.db;
    targets(
        db,
        &[
            "cp39/linux_armv7l",
            "cp311/linux_armv7l",
            "cp311/linux_aarch64",
        ],
    )
    .await;
    version(db, "foo", "1.0", 1).await;
    db.log_build(&build(
        "foo",
        "1.0",
        "cp39/linux_armv7l",
        Some(vec![wheel("foo-1.0-py3-none-any.whl", &[])]),
    ))
    .await
    .unwrap();
    assert_eq!(queue(db).await, q(&[]));
}

async fn a_compiled_wheel_fans_out_at_once(t: TestDb) {
    let db = &t.db;
    targets(
        db,
        &[
            "cp39/linux_armv7l",
            "cp311/linux_armv7l",
            "cp313/linux_armv7l",
        ],
    )
    .await;
    version(db, "foo", "1.0", 1).await;
    db.log_build(&build(
        "foo",
        "1.0",
        "cp39/linux_armv7l",
        Some(vec![wheel("foo-1.0-cp39-cp39-linux_armv7l.whl", &[])]),
    ))
    .await
    .unwrap();
    // Both remaining ABIs at once, not one after the other as the original did.
    assert_eq!(
        queue(db).await,
        q(&[
            ("cp311/linux_armv7l", &["foo 1.0"]),
            ("cp313/linux_armv7l", &["foo 1.0"])
        ])
    );
    db.log_build(&build("foo", "1.0", "cp311/linux_armv7l", None))
        .await
        .unwrap();
    assert_eq!(queue(db).await, q(&[("cp313/linux_armv7l", &["foo 1.0"])]));
}

async fn a_failure_fans_out_too(t: TestDb) {
    let db = &t.db;
    targets(db, &["cp39/linux_armv7l", "cp311/linux_armv7l"]).await;
    version(db, "foo", "1.0", 1).await;
    db.log_build(&build("foo", "1.0", "cp39/linux_armv7l", None))
        .await
        .unwrap();
    assert_eq!(queue(db).await, q(&[("cp311/linux_armv7l", &["foo 1.0"])]));
    // A failure on every target leaves nothing to retry.
    db.log_build(&build("foo", "1.0", "cp311/linux_armv7l", None))
        .await
        .unwrap();
    assert_eq!(queue(db).await, q(&[]));
}

async fn abi3_wheels_serve_later_abis(t: TestDb) {
    let db = &t.db;
    targets(
        db,
        &[
            "cp39/linux_armv7l",
            "cp311/linux_armv7l",
            "cp313/linux_armv7l",
        ],
    )
    .await;
    version(db, "foo", "1.0", 1).await;
    version(db, "bar", "1.0", 2).await;
    // cp39 builds an abi3 wheel from 3.7 on: every later ABI is served too (the original
    // kept rebuilding abi3 packages for the other ABIs).
    db.log_build(&build(
        "foo",
        "1.0",
        "cp39/linux_armv7l",
        Some(vec![wheel("foo-1.0-cp37-abi3-linux_armv7l.whl", &[])]),
    ))
    .await
    .unwrap();
    // bar fails on cp39; cp311 then builds an abi3 wheel from 3.11: cp313 is served, and
    // cp39 stays failed (not pending).
    db.log_build(&build("bar", "1.0", "cp39/linux_armv7l", None))
        .await
        .unwrap();
    assert_eq!(
        queue(db).await,
        q(&[
            ("cp311/linux_armv7l", &["bar 1.0"]),
            ("cp313/linux_armv7l", &["bar 1.0"])
        ])
    );
    db.log_build(&build(
        "bar",
        "1.0",
        "cp311/linux_armv7l",
        Some(vec![wheel("bar-1.0-cp311-abi3-linux_armv7l.whl", &[])]),
    ))
    .await
    .unwrap();
    assert_eq!(queue(db).await, q(&[]));
}

async fn several_platforms(t: TestDb) {
    let db = &t.db;
    targets(db, &["cp311/linux_armv7l", "cp311/linux_aarch64"]).await;
    version(db, "foo", "1.0", 1).await;
    version(db, "bar", "1.0", 2).await;
    // One target first (aarch64 sorts before armv7l).
    assert_eq!(
        queue(db).await,
        q(&[("cp311/linux_aarch64", &["foo 1.0", "bar 1.0"])])
    );
    // A compiled aarch64 wheel does not serve armv7l.
    db.log_build(&build(
        "foo",
        "1.0",
        "cp311/linux_aarch64",
        Some(vec![wheel("foo-1.0-cp311-cp311-linux_aarch64.whl", &[])]),
    ))
    .await
    .unwrap();
    // A pure one does.
    db.log_build(&build(
        "bar",
        "1.0",
        "cp311/linux_aarch64",
        Some(vec![wheel("bar-1.0-py3-none-any.whl", &[])]),
    ))
    .await
    .unwrap();
    assert_eq!(queue(db).await, q(&[("cp311/linux_armv7l", &["foo 1.0"])]));
}

async fn alias_copies_serve_the_alias_platform(t: TestDb) {
    let db = &t.db;
    targets(db, &["cp311/linux_armv7l", "cp311/linux_armv6l"]).await;
    version(db, "foo", "1.0", 1).await;
    assert_eq!(queue(db).await, q(&[("cp311/linux_armv6l", &["foo 1.0"])]));
    db.log_build(&build("foo", "1.0", "cp311/linux_armv6l", None))
        .await
        .unwrap();
    assert_eq!(queue(db).await, q(&[("cp311/linux_armv7l", &["foo 1.0"])]));
    db.log_build(&build(
        "foo",
        "1.0",
        "cp311/linux_armv7l",
        Some(vec![wheel("foo-1.0-cp311-cp311-linux_armv7l.whl", &[])]),
    ))
    .await
    .unwrap();
    assert_eq!(queue(db).await, q(&[]));
    let data = db.project_data("foo").await.unwrap().unwrap();
    // The armv6l copy of the armv7l wheel makes armv6l a success, despite its failed build.
    assert_eq!(
        data.releases["1.0"].targets[&target("cp311/linux_armv6l")]
            .status
            .as_str(),
        "success"
    );
}

async fn oldest_release_first_and_limits(t: TestDb) {
    let db = &t.db;
    targets(db, &["cp311/linux_armv7l"]).await;
    version(db, "b", "2.0", 3).await;
    version(db, "a", "1.0", 1).await;
    version(db, "c", "0.1", 2).await;
    version(db, "a", "1.1", 3).await; // same time as b 2.0: by name, then version
    assert_eq!(
        queue(db).await,
        q(&[("cp311/linux_armv7l", &["a 1.0", "c 0.1", "a 1.1", "b 2.0"])])
    );
    let first_two = db.build_queue(2).await.unwrap();
    assert_eq!(
        first_two[&target("cp311/linux_armv7l")],
        [("a".into(), "1.0".into()), ("c".into(), "0.1".into())]
    );
    assert_eq!(
        db.build_queue_sizes().await.unwrap()[&target("cp311/linux_armv7l")],
        4
    );
}

async fn skips_take_versions_out_and_back(t: TestDb) {
    let db = &t.db;
    targets(db, &["cp311/linux_armv7l"]).await;
    version(db, "foo", "1.0", 1).await;
    version(db, "foo", "2.0", 2).await;
    db.add_new_package("bar", "", "").await.unwrap();
    db.add_new_package_version("bar", "1.0", Some(day(0)), "binary only")
        .await
        .unwrap();
    assert_eq!(
        queue(db).await,
        q(&[("cp311/linux_armv7l", &["foo 1.0", "foo 2.0"])])
    );
    db.skip_package("foo", "too big").await.unwrap();
    assert_eq!(queue(db).await, q(&[]));
    db.skip_package("foo", "").await.unwrap();
    db.skip_package_version("foo", "1.0", "broken")
        .await
        .unwrap();
    // A binary-only version that gains its sdist becomes buildable.
    db.skip_package_version("bar", "1.0", "").await.unwrap();
    assert_eq!(
        queue(db).await,
        q(&[("cp311/linux_armv7l", &["bar 1.0", "foo 2.0"])])
    );
    // New versions of a skipped package are not queued.
    db.skip_package("foo", "too big").await.unwrap();
    db.add_new_package_version("foo", "3.0", Some(day(3)), "")
        .await
        .unwrap();
    assert_eq!(queue(db).await, q(&[("cp311/linux_armv7l", &["bar 1.0"])]));
}

async fn target_changes_rebuild_the_queue(t: TestDb) {
    let db = &t.db;
    targets(db, &["cp311/linux_armv7l"]).await;
    version(db, "foo", "1.0", 1).await;
    version(db, "bar", "1.0", 2).await;
    db.log_build(&build(
        "bar",
        "1.0",
        "cp311/linux_armv7l",
        Some(vec![wheel("bar-1.0-cp311-cp311-linux_armv7l.whl", &[])]),
    ))
    .await
    .unwrap();
    // A new first target takes the unbuilt version; the built one fans out to it.
    assert!(
        db.add_build_target(&target("cp39/linux_armv7l"))
            .await
            .unwrap()
    );
    assert!(
        !db.add_build_target(&target("cp39/linux_armv7l"))
            .await
            .unwrap()
    );
    assert_eq!(
        queue(db).await,
        q(&[("cp39/linux_armv7l", &["foo 1.0", "bar 1.0"])])
    );
    db.skip_build_target(&target("cp39/linux_armv7l"), "no slaves")
        .await
        .unwrap();
    assert_eq!(queue(db).await, q(&[("cp311/linux_armv7l", &["foo 1.0"])]));
    assert_eq!(db.build_targets().await.unwrap()[0].1, "no slaves");
    // set_build_targets keeps the skip of a target that stays, and drops the others.
    assert!(
        db.set_build_targets(&[target("cp39/linux_armv7l")])
            .await
            .unwrap()
    );
    assert!(
        !db.set_build_targets(&[target("cp39/linux_armv7l")])
            .await
            .unwrap()
    );
    assert_eq!(
        db.build_targets().await.unwrap(),
        [(target("cp39/linux_armv7l"), "no slaves".to_string())]
    );
    assert_eq!(queue(db).await, q(&[]));
    for bad in [
        "none/linux_armv7l",
        "abi3/linux_armv7l",
        "cp311/any",
        "/x",
        "cp311/",
    ] {
        let (abi, platform) = bad.split_once('/').unwrap();
        assert!(
            db.add_build_target(&Target::new(abi, platform))
                .await
                .is_err(),
            "{bad}"
        );
    }
}

async fn deleting_versions_leaves_the_queue(t: TestDb) {
    let db = &t.db;
    targets(db, &["cp311/linux_armv7l"]).await;
    version(db, "foo", "1.0", 1).await;
    version(db, "foo", "2.0", 2).await;
    db.delete_version("foo", "1.0").await.unwrap();
    assert_eq!(queue(db).await, q(&[("cp311/linux_armv7l", &["foo 2.0"])]));
    db.delete_package("foo").await.unwrap();
    assert_eq!(queue(db).await, q(&[]));
}

async fn rebuilding_gives_the_same_queue(t: TestDb) {
    let db = &t.db;
    targets(
        db,
        &[
            "cp39/linux_armv7l",
            "cp311/linux_armv7l",
            "cp311/linux_aarch64",
        ],
    )
    .await;
    for i in 0..30 {
        version(db, &format!("p{}", i % 7), &format!("{i}.0"), i).await;
    }
    db.log_build(&build(
        "p1",
        "1.0",
        "cp39/linux_armv7l",
        Some(vec![wheel("p1-1.0-cp39-cp39-linux_armv7l.whl", &[])]),
    ))
    .await
    .unwrap();
    db.log_build(&build("p2", "2.0", "cp39/linux_armv7l", None))
        .await
        .unwrap();
    db.skip_package("p3", "x").await.unwrap();
    let before = queue(db).await;
    assert_eq!(
        db.rebuild_build_queue().await.unwrap(),
        before.values().map(|v| v.len() as u64).sum::<u64>()
    );
    assert_eq!(queue(db).await, before);
}

both_backends!(
    nothing_is_queued_without_targets,
    abis_are_tried_in_python_version_order,
    a_pure_wheel_serves_every_target,
    a_compiled_wheel_fans_out_at_once,
    a_failure_fans_out_too,
    abi3_wheels_serve_later_abis,
    several_platforms,
    alias_copies_serve_the_alias_platform,
    oldest_release_first_and_limits,
    skips_take_versions_out_and_back,
    target_changes_rebuild_the_queue,
    deleting_versions_leaves_the_queue,
    rebuilding_gives_the_same_queue,
);
