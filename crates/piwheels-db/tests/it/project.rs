//! Project data: the shape of piwheels.md §5.3, per-target statuses, dependencies.

use crate::common;

use std::collections::BTreeSet;

use common::{TestDb, build, day, target, wheel};
use piwheels_db::BuildStatus;

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

async fn project_data_shape(t: TestDb) {
    let db = &t.db;
    db.set_build_targets(&[target("cp39/linux_armv7l"), target("cp311/linux_armv7l")])
        .await
        .unwrap();
    db.add_new_package("foo", "", "Foo does things")
        .await
        .unwrap();
    db.add_package_name("foo", "Foo", Some(day(1)))
        .await
        .unwrap();
    db.add_new_package_version("foo", "1.0", Some(day(1)), "")
        .await
        .unwrap();
    db.add_new_package_version("foo", "2.0", Some(day(2)), "")
        .await
        .unwrap();
    db.add_new_package_version("foo", "3.0", Some(day(3)), "broken")
        .await
        .unwrap();
    db.yank_version("foo", "2.0").await.unwrap();
    let mut whl = wheel(
        "foo-1.0-cp39-cp39-linux_armv7l.whl",
        &[("apt", "libc6"), ("apt", "libfoo1"), ("pip", "bar")],
    );
    whl.requires_python = Some(">=3.9".into());
    let b1 = db
        .log_build(&build(
            "foo",
            "1.0",
            "cp39/linux_armv7l",
            Some(vec![whl.clone()]),
        ))
        .await
        .unwrap();
    let b2 = db
        .log_build(&build("foo", "1.0", "cp311/linux_armv7l", None))
        .await
        .unwrap();
    db.set_preinstalled_apt_packages("cp39", &set(&["libc6"]))
        .await
        .unwrap();
    assert_eq!(
        db.preinstalled_apt_packages("cp39").await.unwrap(),
        set(&["libc6"])
    );

    let data = db.project_data("foo").await.unwrap().unwrap();
    assert_eq!(data.package, "foo");
    assert_eq!(data.name, "Foo");
    assert_eq!(data.description, "Foo does things");
    assert_eq!(data.skip, "");
    // Newest release first.
    assert_eq!(
        data.releases.keys().collect::<Vec<_>>(),
        ["3.0", "2.0", "1.0"]
    );
    let r1 = &data.releases["1.0"];
    assert_eq!(
        (r1.yanked, r1.released, r1.skip.as_str()),
        (false, day(1), "")
    );
    assert!(data.releases["2.0"].yanked);
    assert_eq!(data.releases["3.0"].skip, "broken");
    // Files: the wheel and its armv6l copy, with preinstalled packages hidden.
    assert_eq!(r1.files.len(), 2);
    let f = &r1.files[&whl.filename];
    assert_eq!(f.hash, whl.filehash);
    assert_eq!(f.size, whl.filesize);
    assert_eq!(
        (
            f.abi_builder.as_str(),
            f.abi_file.as_str(),
            f.platform.as_str()
        ),
        ("cp39", "cp39", "linux_armv7l")
    );
    assert_eq!(f.requires_python.as_deref(), Some(">=3.9"));
    assert_eq!(f.location, "/simple");
    assert_eq!(f.apt_dependencies, set(&["libfoo1"]));
    assert_eq!(f.pip_dependencies, set(&["bar"]));
    assert_eq!(f.build_id, b1);
    assert!(r1.files.contains_key("foo-1.0-cp39-cp39-linux_armv6l.whl"));
    // Statuses per target: cp39 built a wheel for itself, cp311 failed.
    let s39 = r1.targets[&target("cp39/linux_armv7l")];
    assert_eq!((s39.status, s39.build_id), (BuildStatus::Success, Some(b1)));
    let s311 = r1.targets[&target("cp311/linux_armv7l")];
    assert_eq!((s311.status, s311.build_id), (BuildStatus::Fail, Some(b2)));
    // 2.0 waits; 3.0 is skipped.
    let r2 = &data.releases["2.0"];
    assert_eq!(
        r2.targets[&target("cp39/linux_armv7l")].status,
        BuildStatus::Pending
    );
    assert_eq!(
        r2.targets[&target("cp311/linux_armv7l")].status,
        BuildStatus::Pending
    );
    assert_eq!(
        data.releases["3.0"].targets[&target("cp39/linux_armv7l")].status,
        BuildStatus::Skip
    );
    assert!(db.project_data("nope").await.unwrap().is_none());
}

async fn statuses_follow_what_installs(t: TestDb) {
    let db = &t.db;
    db.set_build_targets(&[
        target("cp39/linux_armv7l"),
        target("cp311/linux_armv7l"),
        target("cp313/linux_armv7l"),
    ])
    .await
    .unwrap();
    db.add_new_package("foo", "", "").await.unwrap();
    for (v, d) in [("1.0", 1), ("2.0", 2), ("3.0", 3)] {
        db.add_new_package_version("foo", v, Some(day(d)), "")
            .await
            .unwrap();
    }
    // 1.0: a pure wheel from cp39 is a success everywhere, credited to cp39's build.
    let pure = db
        .log_build(&build(
            "foo",
            "1.0",
            "cp39/linux_armv7l",
            Some(vec![wheel("foo-1.0-py3-none-any.whl", &[])]),
        ))
        .await
        .unwrap();
    // 2.0: an abi3 wheel from 3.11 is a success for cp311 and cp313; cp39 failed.
    let fail = db
        .log_build(&build("foo", "2.0", "cp39/linux_armv7l", None))
        .await
        .unwrap();
    let abi3 = db
        .log_build(&build(
            "foo",
            "2.0",
            "cp311/linux_armv7l",
            Some(vec![wheel("foo-2.0-cp311-abi3-linux_armv7l.whl", &[])]),
        ))
        .await
        .unwrap();
    // 3.0: cp311's build succeeded but gave only a wheel for another platform: an error.
    let odd = db
        .log_build(&build(
            "foo",
            "3.0",
            "cp311/linux_armv7l",
            Some(vec![wheel("foo-3.0-cp311-cp311-linux_x86_64.whl", &[])]),
        ))
        .await
        .unwrap();
    let data = db.project_data("foo").await.unwrap().unwrap();
    let s = |v: &str, t: &str| {
        let st = data.releases[v].targets[&target(t)];
        (st.status.as_str(), st.build_id)
    };
    assert_eq!(s("1.0", "cp39/linux_armv7l"), ("success", Some(pure)));
    assert_eq!(s("1.0", "cp313/linux_armv7l"), ("success", Some(pure)));
    assert_eq!(s("2.0", "cp39/linux_armv7l"), ("fail", Some(fail)));
    assert_eq!(s("2.0", "cp311/linux_armv7l"), ("success", Some(abi3)));
    assert_eq!(s("2.0", "cp313/linux_armv7l"), ("success", Some(abi3)));
    assert_eq!(s("3.0", "cp311/linux_armv7l"), ("error", Some(odd)));
    assert_eq!(s("3.0", "cp39/linux_armv7l"), ("pending", None));
}

async fn a_target_s_own_wheel_is_preferred(t: TestDb) {
    let db = &t.db;
    db.set_build_targets(&[target("cp39/linux_armv7l"), target("cp311/linux_armv7l")])
        .await
        .unwrap();
    db.add_new_package("foo", "", "").await.unwrap();
    db.add_new_package_version("foo", "1.0", Some(day(1)), "")
        .await
        .unwrap();
    let own = db
        .log_build(&build(
            "foo",
            "1.0",
            "cp311/linux_armv7l",
            Some(vec![wheel("foo-1.0-cp311-cp311-linux_armv7l.whl", &[])]),
        ))
        .await
        .unwrap();
    // A later pure wheel from another target does not take the credit from cp311's own.
    let other = db
        .log_build(&build(
            "foo",
            "1.0",
            "cp39/linux_armv7l",
            Some(vec![wheel("foo-1.0-py3-none-any.whl", &[])]),
        ))
        .await
        .unwrap();
    let data = db.project_data("foo").await.unwrap().unwrap();
    assert_eq!(
        data.releases["1.0"].targets[&target("cp311/linux_armv7l")].build_id,
        Some(own)
    );
    assert_eq!(
        data.releases["1.0"].targets[&target("cp39/linux_armv7l")].build_id,
        Some(other)
    );
}

/// A package with thousands of versions: on PostgreSQL its data comes back as one pipeline
/// of queries whose first answers are long (reading them out of order used to hang).
async fn project_data_of_a_large_package(t: TestDb) {
    let db = &t.db;
    db.set_build_targets(&[target("cp311/linux_armv7l")])
        .await
        .unwrap();
    db.add_new_package("big", "", "").await.unwrap();
    for i in 0..3000 {
        db.add_new_package_version("big", &format!("0.{i}"), Some(day(i)), "")
            .await
            .unwrap();
    }
    for i in 0..50 {
        let v = format!("0.{i}");
        let whl = wheel(
            &format!("big-{v}-cp311-cp311-linux_armv7l.whl"),
            &[("apt", "libc6")],
        );
        db.log_build(&build("big", &v, "cp311/linux_armv7l", Some(vec![whl])))
            .await
            .unwrap();
    }
    let data = tokio::time::timeout(std::time::Duration::from_secs(60), db.project_data("big"))
        .await
        .expect("project data of a large package within a minute")
        .unwrap()
        .unwrap();
    assert_eq!(data.releases.len(), 3000);
    assert_eq!(data.releases["0.7"].files.len(), 2);
    assert_eq!(
        data.releases["0.7"].targets[&target("cp311/linux_armv7l")].status,
        BuildStatus::Success
    );
}

both_backends!(
    project_data_shape,
    statuses_follow_what_installs,
    a_target_s_own_wheel_is_preferred,
    project_data_of_a_large_package
);
