//! Packages, versions, names, descriptions, skips, yanks and deletions, on both backends.

use crate::common;

use common::{TestDb, build, day, wheel};
use piwheels_db::Error;

async fn add_package_once(t: TestDb) {
    let db = &t.db;
    assert!(db.add_new_package("foo", "", "Foo things").await.unwrap());
    // A duplicate changes nothing, not even the description.
    assert!(!db.add_new_package("foo", "later", "Other").await.unwrap());
    assert_eq!(
        db.package_description("foo").await.unwrap().as_deref(),
        Some("Foo things")
    );
    assert_eq!(db.version_skip("foo", "1.0").await.unwrap(), None);
    assert!(db.package_exists("foo").await.unwrap());
    assert!(!db.package_exists("bar").await.unwrap());
    assert_eq!(
        db.all_packages()
            .await
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        ["foo"]
    );
}

async fn package_names_must_be_canonical(t: TestDb) {
    let db = &t.db;
    for bad in ["Foo", "foo_bar", "foo.bar", "", "foo--bar"] {
        match db.add_new_package(bad, "", "").await {
            Err(Error::Invalid {
                op: "add_new_package",
                why,
            }) => assert!(!why.is_empty()),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    let long = "a".repeat(201);
    assert!(matches!(
        db.add_new_package(&long, "", "").await,
        Err(Error::Invalid { .. })
    ));
    assert!(db.add_new_package(&"a".repeat(200), "", "").await.unwrap());
    assert!(matches!(
        db.add_new_package("nul\0", "", "").await,
        Err(Error::Invalid { .. })
    ));
    assert_eq!(db.all_packages().await.unwrap().len(), 1);
}

async fn long_descriptions_are_cut_with_an_ellipsis(t: TestDb) {
    let db = &t.db;
    let long = "é".repeat(300);
    db.add_new_package("foo", "", &long).await.unwrap();
    let stored = db.package_description("foo").await.unwrap().unwrap();
    assert_eq!(stored.chars().count(), 200);
    assert!(stored.ends_with('…'));
    db.set_package_description("foo", "short\x07")
        .await
        .unwrap();
    assert_eq!(
        db.package_description("foo").await.unwrap().unwrap(),
        "short\u{fffd}"
    );
    assert!(matches!(
        db.set_package_description("nope", "x").await,
        Err(Error::NotFound { .. })
    ));
}

/// Issue 16, item 3: a summary from the JSON API is stored only when it differs (then the
/// pages are owed a rewrite), sanitised and cut as every description.
async fn descriptions_change_only_when_they_differ(t: TestDb) {
    let db = &t.db;
    db.add_new_package("foo", "", "").await.unwrap();
    db.add_new_package("bar", "", "").await.unwrap();
    let owed = || async { db.load_rewrites_pending().await.unwrap().len() };
    let clear = || async {
        let gens = db
            .rewrite_generations(&["foo".to_owned(), "bar".to_owned()])
            .await
            .unwrap();
        db.clear_rewrites(&gens.into_iter().collect::<Vec<_>>())
            .await
            .unwrap();
    };
    clear().await;
    assert_eq!(owed().await, 0);
    assert!(
        db.update_package_description("foo", "Foo\u{1b}[31m")
            .await
            .unwrap()
    );
    assert_eq!(
        db.package_description("foo").await.unwrap().as_deref(),
        Some("Foo\u{fffd}[31m")
    );
    assert_eq!(owed().await, 1, "the pages of foo owed a rewrite");
    clear().await;
    // The same (once sanitised): nothing changes, nothing owed.
    assert!(
        !db.update_package_description("foo", "Foo\u{1b}[31m")
            .await
            .unwrap()
    );
    assert_eq!(owed().await, 0, "no rewrite for an unchanged description");
    let long = "x".repeat(500);
    assert!(db.update_package_description("foo", &long).await.unwrap());
    assert!(
        !db.update_package_description("foo", &long).await.unwrap(),
        "cut the same"
    );
    assert!(matches!(
        db.update_package_description("nope", "x").await,
        Err(Error::NotFound { .. })
    ));
    let all = db.package_descriptions().await.unwrap();
    assert_eq!(all.keys().collect::<Vec<_>>(), ["foo"], "bar has none");
    assert_eq!(all["foo"].chars().count(), 200);
}

async fn add_version_once(t: TestDb) {
    let db = &t.db;
    db.add_new_package("foo", "", "").await.unwrap();
    assert!(
        db.add_new_package_version("foo", "1.0", Some(day(1)), "")
            .await
            .unwrap()
    );
    assert!(
        !db.add_new_package_version("foo", "1.0", Some(day(9)), "binary only")
            .await
            .unwrap()
    );
    assert_eq!(
        db.version_skip("foo", "1.0").await.unwrap().as_deref(),
        Some("")
    );
    assert!(db.version_exists("foo", "1.0").await.unwrap());
    assert!(!db.version_exists("foo", "2.0").await.unwrap());
    // No release time: the epoch, as in the original.
    assert!(
        db.add_new_package_version("foo", "0.1", None, "")
            .await
            .unwrap()
    );
    let data = db.project_data("foo").await.unwrap().unwrap();
    assert_eq!(data.releases["1.0"].released, day(1));
    assert_eq!(data.releases["0.1"].released.timestamp(), 0);
    // A version of a missing package is refused.
    assert!(matches!(
        db.add_new_package_version("bar", "1.0", None, "").await,
        Err(Error::NotFound { .. })
    ));
    let all = db.all_package_versions().await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.contains(&("foo".into(), "1.0".into())));
}

async fn display_name_is_the_latest_spelling(t: TestDb) {
    let db = &t.db;
    db.add_new_package("foo-bar", "", "").await.unwrap();
    // No names yet: the canonical name.
    assert_eq!(
        db.display_name("foo-bar").await.unwrap().as_deref(),
        Some("foo-bar")
    );
    assert_eq!(db.display_name("nope").await.unwrap(), None);
    db.add_package_name("foo-bar", "foo-bar", None)
        .await
        .unwrap();
    db.add_package_name("foo-bar", "Foo_Bar", Some(day(1)))
        .await
        .unwrap();
    db.add_package_name("foo-bar", "foo.bar", Some(day(2)))
        .await
        .unwrap();
    assert_eq!(
        db.display_name("foo-bar").await.unwrap().as_deref(),
        Some("foo.bar")
    );
    // Seen again later: it wins again.
    db.add_package_name("foo-bar", "Foo_Bar", Some(day(3)))
        .await
        .unwrap();
    assert_eq!(
        db.display_name("foo-bar").await.unwrap().as_deref(),
        Some("Foo_Bar")
    );
    // Seen again with an older time: its time does not go backwards.
    db.add_package_name("foo-bar", "Foo_Bar", Some(day(0)))
        .await
        .unwrap();
    assert_eq!(
        db.display_name("foo-bar").await.unwrap().as_deref(),
        Some("Foo_Bar")
    );
    // The canonical spelling (seen at the epoch) never wins over a real one.
    assert_eq!(
        db.package_aliases("foo-bar").await.unwrap(),
        ["Foo_Bar", "foo.bar"]
    );
    assert_eq!(
        db.project_data("foo-bar").await.unwrap().unwrap().name,
        "Foo_Bar"
    );
}

async fn names_must_spell_their_package(t: TestDb) {
    let db = &t.db;
    db.add_new_package("foo", "", "").await.unwrap();
    assert!(matches!(
        db.add_package_name("foo", "bar", None).await,
        Err(Error::Invalid { .. })
    ));
    assert!(matches!(
        db.add_package_name("nope", "Nope", None).await,
        Err(Error::NotFound { .. })
    ));
    assert!(db.package_aliases("foo").await.unwrap().is_empty());
}

async fn skips_and_deleted_marks(t: TestDb) {
    let db = &t.db;
    db.add_new_package("foo", "", "").await.unwrap();
    db.add_new_package_version("foo", "1.0", Some(day(1)), "")
        .await
        .unwrap();
    db.add_new_package_version("foo", "2.0", Some(day(2)), "")
        .await
        .unwrap();
    db.skip_package_version("foo", "1.0", "deleted")
        .await
        .unwrap();
    assert_eq!(
        db.version_skip("foo", "1.0").await.unwrap().as_deref(),
        Some("deleted")
    );
    assert_eq!(
        db.versions_deleted("foo")
            .await
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        ["1.0"]
    );
    assert!(!db.package_marked_deleted("foo").await.unwrap());
    db.skip_package("foo", "deleted").await.unwrap();
    assert!(db.package_marked_deleted("foo").await.unwrap());
    // A version's own reason comes first, else its package's.
    assert_eq!(
        db.version_skip("foo", "2.0").await.unwrap().as_deref(),
        Some("deleted")
    );
    db.skip_package("foo", "").await.unwrap();
    assert_eq!(
        db.version_skip("foo", "2.0").await.unwrap().as_deref(),
        Some("")
    );
    db.skip_package_version("foo", "1.0", "").await.unwrap();
    assert!(db.versions_deleted("foo").await.unwrap().is_empty());
    assert!(matches!(
        db.skip_package("nope", "x").await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        db.skip_package_version("foo", "9", "x").await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        db.skip_package("foo", &"x".repeat(101)).await,
        Err(Error::Invalid { .. })
    ));
}

async fn yanks(t: TestDb) {
    let db = &t.db;
    db.add_new_package("foo", "", "").await.unwrap();
    db.add_new_package_version("foo", "1.0", Some(day(1)), "")
        .await
        .unwrap();
    db.yank_version("foo", "1.0").await.unwrap();
    assert!(db.project_data("foo").await.unwrap().unwrap().releases["1.0"].yanked);
    db.unyank_version("foo", "1.0").await.unwrap();
    assert!(!db.project_data("foo").await.unwrap().unwrap().releases["1.0"].yanked);
    assert!(matches!(
        db.yank_version("foo", "2.0").await,
        Err(Error::NotFound { .. })
    ));
}

async fn deleting_a_package_cascades(t: TestDb) {
    let db = &t.db;
    db.set_build_targets(&[common::target("cp311/linux_armv7l")])
        .await
        .unwrap();
    db.add_new_package("foo", "", "").await.unwrap();
    db.add_package_name("foo", "Foo", Some(day(1)))
        .await
        .unwrap();
    db.add_new_package_version("foo", "1.0", Some(day(1)), "")
        .await
        .unwrap();
    db.add_new_package_version("foo", "2.0", Some(day(2)), "")
        .await
        .unwrap();
    let whl = wheel(
        "foo-1.0-cp311-cp311-linux_armv7l.whl",
        &[("apt", "libc6"), ("pip", "bar")],
    );
    db.log_build(&build("foo", "1.0", "cp311/linux_armv7l", Some(vec![whl])))
        .await
        .unwrap();
    for table in [
        "package_names",
        "builds",
        "files",
        "dependencies",
        "builds_pending",
    ] {
        let n = &t.raw(&format!("SELECT COUNT(*) FROM {table}")).await[0][0];
        assert_ne!(
            n.as_deref(),
            Some("0"),
            "{table} should have rows before the delete"
        );
    }
    assert!(db.delete_package("foo").await.unwrap());
    assert!(!db.delete_package("foo").await.unwrap());
    for table in [
        "packages",
        "package_names",
        "versions",
        "builds",
        "files",
        "dependencies",
        "builds_pending",
    ] {
        let n = &t.raw(&format!("SELECT COUNT(*) FROM {table}")).await[0][0];
        assert_eq!(
            n.as_deref(),
            Some("0"),
            "{table} should be empty after the delete"
        );
    }
}

async fn deleting_a_version_cascades(t: TestDb) {
    let db = &t.db;
    db.set_build_targets(&[common::target("cp311/linux_armv7l")])
        .await
        .unwrap();
    db.add_new_package("foo", "", "").await.unwrap();
    db.add_new_package_version("foo", "1.0", Some(day(1)), "")
        .await
        .unwrap();
    db.add_new_package_version("foo", "2.0", Some(day(2)), "")
        .await
        .unwrap();
    let whl = wheel("foo-1.0-cp311-cp311-linux_armv7l.whl", &[("apt", "libc6")]);
    db.log_build(&build("foo", "1.0", "cp311/linux_armv7l", Some(vec![whl])))
        .await
        .unwrap();
    assert!(db.delete_version("foo", "1.0").await.unwrap());
    assert!(!db.delete_version("foo", "1.0").await.unwrap());
    assert!(db.package_files("foo").await.unwrap().is_empty());
    assert_eq!(
        t.raw("SELECT COUNT(*) FROM dependencies").await[0][0].as_deref(),
        Some("0")
    );
    assert!(db.version_exists("foo", "2.0").await.unwrap());
    assert!(db.package_exists("foo").await.unwrap());
}

both_backends!(
    add_package_once,
    package_names_must_be_canonical,
    long_descriptions_are_cut_with_an_ellipsis,
    descriptions_change_only_when_they_differ,
    add_version_once,
    display_name_is_the_latest_spelling,
    names_must_spell_their_package,
    skips_and_deleted_marks,
    yanks,
    deleting_a_package_cascades,
    deleting_a_version_cascades,
);
