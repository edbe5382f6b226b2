//! Logging builds: files, dependencies, replacements, alias copies, refusals.

use crate::common;

use common::{TestDb, build, day, target, wheel};
use piwheels_db::{Error, PlatformAliases};

const ARMV7: &str = "cp311/linux_armv7l";

async fn setup(t: &TestDb) {
    t.db.set_build_targets(&[target(ARMV7)]).await.unwrap();
    t.db.add_new_package("foo", "", "").await.unwrap();
    t.db.add_new_package_version("foo", "1.0", Some(day(1)), "")
        .await
        .unwrap();
    t.db.add_new_package_version("foo", "2.0", Some(day(2)), "")
        .await
        .unwrap();
}

async fn a_success_stores_files_and_dependencies(t: TestDb) {
    setup(&t).await;
    let db = &t.db;
    let mut whl = wheel(
        "foo-1.0-py3-none-any.whl",
        &[
            ("pip", "bar"),
            ("pip", "baz"),
            ("apt", "libc6"),
            ("", "libweird.so"),
        ],
    );
    whl.requires_python = Some(">=3.7".into());
    let id = db
        .log_build(&build("foo", "1.0", ARMV7, Some(vec![whl.clone()])))
        .await
        .unwrap();
    assert!(id > 0);
    let stored = db.file("foo-1.0-py3-none-any.whl").await.unwrap().unwrap();
    assert_eq!(stored.file, whl);
    assert_eq!(stored.build_id, id);
    assert_eq!(stored.twin_of, None);
    assert_eq!(
        db.version_files("foo", "1.0")
            .await
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        [whl.filename.clone()]
    );
    assert_eq!(
        db.package_files("foo").await.unwrap()[&whl.filename],
        whl.filehash
    );
    assert_eq!(
        db.all_build_ids()
            .await
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        [id]
    );
    let row = &t.raw(&format!("SELECT built_by, duration_us, status, abi_tag, platform_tag FROM builds WHERE build_id = {id}")).await[0];
    assert_eq!(row[0].as_deref(), Some("1"));
    assert_eq!(row[1].as_deref(), Some("10000000"));
    assert!(matches!(row[2].as_deref(), Some("1" | "t")));
    assert_eq!(
        (row[3].as_deref(), row[4].as_deref()),
        (Some("cp311"), Some("linux_armv7l"))
    );
}

async fn a_failure_stores_no_files(t: TestDb) {
    setup(&t).await;
    let db = &t.db;
    let id = db
        .log_build(&build("foo", "1.0", ARMV7, None))
        .await
        .unwrap();
    assert!(db.version_files("foo", "1.0").await.unwrap().is_empty());
    let data = db.project_data("foo").await.unwrap().unwrap();
    let status = data.releases["1.0"].targets[&target(ARMV7)];
    assert_eq!(status.status.as_str(), "fail");
    assert_eq!(status.build_id, Some(id));
    // A failure with files is refused, with nothing stored.
    let mut bad = build("foo", "2.0", ARMV7, None);
    bad.files = vec![wheel("foo-2.0-py3-none-any.whl", &[])];
    assert!(matches!(
        db.log_build(&bad).await,
        Err(Error::Invalid { .. })
    ));
    assert_eq!(db.all_build_ids().await.unwrap().len(), 1);
}

async fn build_ids_are_never_reused(t: TestDb) {
    setup(&t).await;
    let db = &t.db;
    let first = db
        .log_build(&build("foo", "1.0", ARMV7, None))
        .await
        .unwrap();
    let second = db
        .log_build(&build("foo", "2.0", ARMV7, None))
        .await
        .unwrap();
    assert!(second > first);
    db.delete_build("foo", "2.0").await.unwrap();
    let third = db
        .log_build(&build("foo", "2.0", ARMV7, None))
        .await
        .unwrap();
    assert!(
        third > second,
        "build id {third} reused after deleting {second}"
    );
}

async fn a_rebuild_never_replaces_a_published_wheel(t: TestDb) {
    setup(&t).await;
    let db = &t.db;
    let old = wheel("foo-1.0-cp311-cp311-linux_armv7l.whl", &[("apt", "libold")]);
    let first = db
        .log_build(&build("foo", "1.0", ARMV7, Some(vec![old.clone()])))
        .await
        .unwrap();
    let mut new = old.clone();
    new.filehash = "f".repeat(64);
    new.filesize = 4242;
    new.dependencies.clear();
    new.dependencies
        .entry("apt".into())
        .or_default()
        .insert("libnew".into());
    let err = db
        .log_build(&build("foo", "1.0", ARMV7, Some(vec![new.clone()])))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains(&format!("already published by build {first} of foo 1.0")),
        "{err}"
    );
    // Nothing of the second build is stored: the first's wheel, copy and dependencies stay.
    let stored = db.file(&old.filename).await.unwrap().unwrap();
    assert_eq!((stored.build_id, &stored.file), (first, &old));
    assert_eq!(
        t.raw("SELECT DISTINCT dependency FROM dependencies WHERE tool = 'apt'")
            .await,
        [[Some("libold".to_string())]]
    );
    assert_eq!(db.all_build_ids().await.unwrap().len(), 1);
    // Once the first build is deleted (piw-rebuild), the name is free again.
    db.delete_build("foo", "1.0").await.unwrap();
    let second = db
        .log_build(&build("foo", "1.0", ARMV7, Some(vec![new.clone()])))
        .await
        .unwrap();
    assert_eq!(
        db.file(&new.filename).await.unwrap().unwrap().build_id,
        second
    );
}

async fn armv7l_wheels_get_armv6l_copies(t: TestDb) {
    setup(&t).await;
    let db = &t.db;
    let whl = wheel("foo-1.0-cp311-cp311-linux_armv7l.whl", &[("apt", "libc6")]);
    let id = db
        .log_build(&build("foo", "1.0", ARMV7, Some(vec![whl.clone()])))
        .await
        .unwrap();
    let twin = db
        .file("foo-1.0-cp311-cp311-linux_armv6l.whl")
        .await
        .unwrap()
        .expect("an armv6l copy");
    assert_eq!(twin.twin_of.as_deref(), Some(whl.filename.as_str()));
    assert_eq!(twin.build_id, id);
    assert_eq!(twin.file.filehash, whl.filehash);
    assert_eq!(twin.file.platform_tag, "linux_armv6l");
    assert_eq!(twin.file.dependencies, whl.dependencies);
    assert_eq!(db.version_files("foo", "1.0").await.unwrap().len(), 2);
    // What the output folder should hold: both, with their version and size.
    let mut rows = db.output_files(&["foo".to_owned()]).await.unwrap();
    rows.sort_by(|a, b| a.filename.cmp(&b.filename));
    let got: Vec<_> = rows
        .iter()
        .map(|f| {
            (
                f.filename.as_str(),
                f.version.as_str(),
                f.filesize,
                f.twin_of.as_deref(),
                f.build_id,
            )
        })
        .collect();
    let size = whl.filesize as i64;
    assert_eq!(
        got,
        [
            (
                "foo-1.0-cp311-cp311-linux_armv6l.whl",
                "1.0",
                size,
                Some(whl.filename.as_str()),
                id
            ),
            (
                "foo-1.0-cp311-cp311-linux_armv7l.whl",
                "1.0",
                size,
                None,
                id
            ),
        ]
    );
    // The copy is not counted twice in the size statistic.
    assert_eq!(
        db.statistics().await.unwrap().builds_size,
        whl.filesize as i64
    );
    // Pure wheels get no copy.
    db.log_build(&build(
        "foo",
        "2.0",
        ARMV7,
        Some(vec![wheel("foo-2.0-py3-none-any.whl", &[])]),
    ))
    .await
    .unwrap();
    assert_eq!(db.version_files("foo", "2.0").await.unwrap().len(), 1);
}

async fn a_copy_never_replaces_a_real_armv6l_wheel(t: TestDb) {
    setup(&t).await;
    let db = &t.db;
    let real6 = wheel(
        "foo-1.0-cp311-cp311-linux_armv6l.whl",
        &[("apt", "libreal")],
    );
    let real_id = db
        .log_build(&build(
            "foo",
            "1.0",
            "cp311/linux_armv6l",
            Some(vec![real6.clone()]),
        ))
        .await
        .unwrap();
    let whl7 = wheel("foo-1.0-cp311-cp311-linux_armv7l.whl", &[("apt", "libc6")]);
    db.log_build(&build("foo", "1.0", ARMV7, Some(vec![whl7])))
        .await
        .unwrap();
    let stored = db.file(&real6.filename).await.unwrap().unwrap();
    assert_eq!(stored.twin_of, None);
    assert_eq!(stored.build_id, real_id);
    assert_eq!(stored.file, real6);
    // But a real armv6l wheel does replace a copy.
    db.add_new_package_version("foo", "3.0", Some(day(3)), "")
        .await
        .unwrap();
    db.log_build(&build(
        "foo",
        "3.0",
        ARMV7,
        Some(vec![wheel("foo-3.0-cp311-cp311-linux_armv7l.whl", &[])]),
    ))
    .await
    .unwrap();
    let real = wheel("foo-3.0-cp311-cp311-linux_armv6l.whl", &[]);
    let id = db
        .log_build(&build(
            "foo",
            "3.0",
            "cp311/linux_armv6l",
            Some(vec![real.clone()]),
        ))
        .await
        .unwrap();
    let stored = db.file(&real.filename).await.unwrap().unwrap();
    assert_eq!((stored.build_id, stored.twin_of), (id, None));
}

async fn without_aliases_there_are_no_copies(t: TestDb) {
    let Some(t) = common::fresh_with(
        t.backend,
        "without_aliases_there_are_no_copies",
        piwheels_db::Options {
            platform_aliases: PlatformAliases::none(),
            ..Default::default()
        },
    )
    .await
    else {
        return;
    };
    setup(&t).await;
    t.db.log_build(&build(
        "foo",
        "1.0",
        ARMV7,
        Some(vec![wheel("foo-1.0-cp311-cp311-linux_armv7l.whl", &[])]),
    ))
    .await
    .unwrap();
    assert_eq!(t.db.version_files("foo", "1.0").await.unwrap().len(), 1);
}

async fn bad_builds_are_refused_whole(t: TestDb) {
    setup(&t).await;
    let db = &t.db;
    let good = wheel("foo-1.0-py3-none-any.whl", &[]);
    let mut cases = Vec::new();
    let mut f = good.clone();
    f.filehash = "ABC".into();
    cases.push(("a bad hash", f));
    let mut f = good.clone();
    f.filehash = "A".repeat(64);
    cases.push(("an upper-case hash", f));
    let mut f = good.clone();
    f.filename = "../evil.whl".into();
    cases.push(("a path", f));
    let mut f = good.clone();
    f.filename = "x".repeat(256);
    cases.push(("a long name", f));
    let mut f = good.clone();
    f.dependencies
        .entry("yum".into())
        .or_default()
        .insert("x".into());
    cases.push(("an unknown tool", f));
    let mut f = good.clone();
    f.filesize = u64::MAX;
    cases.push(("a huge size", f));
    for (what, bad) in cases {
        let result = db
            .log_build(&build("foo", "1.0", ARMV7, Some(vec![good.clone(), bad])))
            .await;
        assert!(
            matches!(
                result,
                Err(Error::Invalid {
                    op: "log_build",
                    ..
                })
            ),
            "{what}: {result:?}"
        );
    }
    let twice = build("foo", "1.0", ARMV7, Some(vec![good.clone(), good.clone()]));
    assert!(matches!(
        db.log_build(&twice).await,
        Err(Error::Invalid { .. })
    ));
    let unknown = build("foo", "9.9", ARMV7, Some(vec![good.clone()]));
    assert!(matches!(
        db.log_build(&unknown).await,
        Err(Error::NotFound { .. })
    ));
    assert!(db.all_build_ids().await.unwrap().is_empty());
    assert!(db.package_files("foo").await.unwrap().is_empty());
}

async fn negative_durations_are_stored_as_zero(t: TestDb) {
    setup(&t).await;
    let mut b = build("foo", "1.0", ARMV7, None);
    b.duration = chrono::TimeDelta::seconds(-5);
    let id = t.db.log_build(&b).await.unwrap();
    assert_eq!(
        t.raw(&format!(
            "SELECT duration_us FROM builds WHERE build_id = {id}"
        ))
        .await,
        [[Some("0".to_string())]]
    );
}

async fn delete_build_requeues(t: TestDb) {
    setup(&t).await;
    let db = &t.db;
    db.log_build(&build(
        "foo",
        "1.0",
        ARMV7,
        Some(vec![wheel("foo-1.0-py3-none-any.whl", &[])]),
    ))
    .await
    .unwrap();
    let queue = db.build_queue(10).await.unwrap();
    assert_eq!(
        queue[&target(ARMV7)],
        [("foo".to_string(), "2.0".to_string())]
    );
    assert_eq!(db.delete_build("foo", "1.0").await.unwrap(), 1);
    assert!(db.version_files("foo", "1.0").await.unwrap().is_empty());
    let queue = db.build_queue(10).await.unwrap();
    assert_eq!(queue[&target(ARMV7)].len(), 2);
    assert_eq!(db.delete_build("foo", "1.0").await.unwrap(), 0);
}

async fn a_wheel_of_another_version_is_never_replaced(t: TestDb) {
    let db = &t.db;
    db.set_build_targets(&[target(ARMV7), target("cp311/linux_armv6l")])
        .await
        .unwrap();
    db.add_new_package("foo", "", "").await.unwrap();
    db.add_new_package_version("foo", "1.0", Some(day(1)), "")
        .await
        .unwrap();
    db.add_new_package_version("foo", "1.0.0", Some(day(2)), "")
        .await
        .unwrap();
    let name = "foo-1.0-cp311-cp311-linux_armv7l.whl";
    // 1.0 built on armv7l: its armv6l copy serves armv6l too.
    db.log_build(&build("foo", "1.0", ARMV7, Some(vec![wheel(name, &[])])))
        .await
        .unwrap();
    db.log_build(&build("foo", "1.0.0", "cp311/linux_armv6l", None))
        .await
        .unwrap();
    let pending = |q: std::collections::BTreeMap<piwheels_db::Target, Vec<(String, String)>>| {
        q.into_iter()
            .flat_map(|(t, jobs)| jobs.into_iter().map(move |(_, v)| format!("{t} {v}")))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        pending(db.build_queue(10).await.unwrap()),
        ["cp311/linux_armv7l 1.0.0"]
    );
    // 1.0.0's wheel has the same name (one wheel name for two version strings): it is
    // refused, and 1.0 keeps its wheel and its place.
    let before = db.build_queue(10).await.unwrap();
    let err = db
        .log_build(&build("foo", "1.0.0", ARMV7, Some(vec![wheel(name, &[])])))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already published"), "{err}");
    assert_eq!(db.version_files("foo", "1.0").await.unwrap().len(), 2);
    assert_eq!(db.build_queue(10).await.unwrap(), before);
    db.rebuild_build_queue().await.unwrap();
    assert_eq!(db.build_queue(10).await.unwrap(), before);
}

async fn a_build_the_database_refuses_leaves_nothing(t: TestDb) {
    setup(&t).await;
    // A rule of the database's own that the crate does not know, failing the last batch.
    t.raw(match t.backend {
        common::Backend::Sqlite => {
            "CREATE TRIGGER no_evil BEFORE INSERT ON files WHEN NEW.filename LIKE 'evil%' \
             BEGIN SELECT RAISE(ABORT, 'no evil'); END"
        }
        common::Backend::Postgres => {
            "ALTER TABLE files ADD CONSTRAINT no_evil CHECK (filename NOT LIKE 'evil%')"
        }
    })
    .await;
    let db = &t.db;
    let err = db
        .log_build(&build(
            "foo",
            "1.0",
            ARMV7,
            Some(vec![wheel("evil-1.0-py3-none-any.whl", &[])]),
        ))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("evil"), "{err}");
    assert!(
        db.all_build_ids().await.unwrap().is_empty(),
        "the build row must be rolled back too"
    );
    assert_eq!(db.build_queue(10).await.unwrap()[&target(ARMV7)].len(), 2);
    // The connections are still good.
    db.log_build(&build("foo", "1.0", ARMV7, None))
        .await
        .unwrap();
    assert_eq!(db.all_build_ids().await.unwrap().len(), 1);
}

both_backends!(
    a_build_the_database_refuses_leaves_nothing,
    a_wheel_of_another_version_is_never_replaced,
    a_success_stores_files_and_dependencies,
    a_failure_stores_no_files,
    build_ids_are_never_reused,
    a_rebuild_never_replaces_a_published_wheel,
    armv7l_wheels_get_armv6l_copies,
    a_copy_never_replaces_a_real_armv6l_wheel,
    without_aliases_there_are_no_copies,
    bad_builds_are_refused_whole,
    negative_durations_are_stored_as_zero,
    delete_build_requeues,
);
