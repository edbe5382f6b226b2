//! Many new projects in one transaction (`add_new_projects`, for CloudGazer's first sync):
//! the same end state as the one-by-one operations CloudGazer used for a new package (rows,
//! build queue, owed rewrites), a bad item refusing the whole batch, and a package that
//! is there already (a race) keeping what it has.

use crate::common;

use chrono::{DateTime, Utc};
use common::{TestDb, day, target};
use piwheels_db::{Database, Error, NewProject, NewProjectAdded, NewVersion};

fn version(v: &str, released: Option<i64>, skip: &str, yanked: bool) -> NewVersion {
    NewVersion {
        version: v.into(),
        released: released.map(day),
        skip: skip.into(),
        yanked,
    }
}

fn project(package: &str, name: Option<&str>, versions: Vec<NewVersion>) -> NewProject {
    NewProject {
        package: package.into(),
        name: name.map(str::to_owned),
        versions,
    }
}

/// The batch used by the comparison: new packages spelt as their canonical names or not,
/// with no name, with buildable, binary-only, yanked and not PEP 440 versions, and two
/// packages the database has already (one of them skipped).
fn batch() -> Vec<NewProject> {
    vec![
        project(
            "foo-bar",
            Some("Foo.Bar"),
            vec![
                version("1.0", Some(1), "", false),
                version("2.0", Some(2), "binary only", false),
                version("3.0", Some(3), "", true),
                version("weird-one", None, "", false),
            ],
        ),
        project("baz", Some("baz"), Vec::new()),
        project("qux", None, vec![version("0.1", Some(4), "", false)]),
        project(
            "old",
            Some("Old"),
            vec![
                version("1.0", Some(9), "binary only", true),
                version("1.1", Some(5), "", true),
            ],
        ),
        project(
            "held",
            Some("held"),
            vec![version("2.0", Some(6), "", false)],
        ),
    ]
}

/// What both databases hold before: two targets, the package `old` with its version 1.0,
/// and the package `held`, skipped.
async fn before(db: &Database) {
    db.set_build_targets(&[target("cp311/linux_armv7l"), target("cp39/linux_armv7l")])
        .await
        .unwrap();
    db.add_new_package("old", "", "").await.unwrap();
    db.add_new_package_version("old", "1.0", Some(day(1)), "")
        .await
        .unwrap();
    db.add_package_name("old", "Old", Some(day(1)))
        .await
        .unwrap();
    db.add_new_package("held", "", "").await.unwrap();
    db.skip_package("held", "manual").await.unwrap();
}

/// The batch applied the way CloudGazer did it, one operation at a time; says what each
/// project really got, as `add_new_projects` does.
async fn one_by_one(
    db: &Database,
    projects: &[NewProject],
    seen: DateTime<Utc>,
) -> Vec<NewProjectAdded> {
    let mut out = Vec::new();
    for p in projects {
        let mut r = NewProjectAdded {
            package: p.package.clone(),
            package_added: db.add_new_package(&p.package, "", "").await.unwrap(),
            ..NewProjectAdded::default()
        };
        if let Some(name) = &p.name {
            if *name != p.package {
                db.add_package_name(&p.package, &p.package, None)
                    .await
                    .unwrap();
            }
            db.add_package_name(&p.package, name, Some(seen))
                .await
                .unwrap();
        }
        for v in &p.versions {
            if db
                .add_new_package_version(&p.package, &v.version, v.released, &v.skip)
                .await
                .unwrap()
            {
                r.versions_added.push(v.version.clone());
                if v.yanked {
                    db.yank_version(&p.package, &v.version).await.unwrap();
                    r.yanked += 1;
                }
            }
        }
        out.push(r);
    }
    out
}

/// Everything the operations change, as text, in a fixed order (the time a rewrite was
/// first owed left out: it is the time of the call).
async fn state(t: &TestDb) -> Vec<Vec<common::Cell>> {
    let mut all = Vec::new();
    for sql in [
        "SELECT 'package', package, skip, description FROM packages ORDER BY package",
        "SELECT 'name', name, package, seen FROM package_names ORDER BY name",
        "SELECT 'version', package, version, released, skip, yanked FROM versions \
         ORDER BY package, version",
        "SELECT 'queue', abi_tag, platform_tag, package, version, released FROM builds_pending \
         ORDER BY abi_tag, platform_tag, package, version",
        "SELECT 'owed', package, command, gen FROM rewrites_pending ORDER BY package",
    ] {
        all.extend(t.raw(sql).await);
    }
    all
}

async fn same_end_state_as_one_by_one(t: TestDb) {
    let name = format!("{:?}::new_projects_one_by_one", t.backend).to_lowercase();
    let Some(other) = common::fresh(t.backend, &name).await else {
        return;
    };
    before(&t.db).await;
    before(&other.db).await;
    let seen = day(10);
    let expected = one_by_one(&other.db, &batch(), seen).await;
    let got = t.db.add_new_projects(&batch(), seen).await.unwrap();
    assert_eq!(got, expected);
    // What a race looks like: `old` kept as it was but for its new version.
    assert_eq!(
        got[3],
        NewProjectAdded {
            package: "old".into(),
            package_added: false,
            versions_added: vec!["1.1".into()],
            yanked: 1,
        }
    );
    assert!(got[0].package_added);
    assert_eq!(got[0].versions_added.len(), 4);
    let mine = state(&t).await;
    assert_eq!(mine, state(&other).await);
    // The comparison saw the queue and the journal (not two empty tables).
    assert!(mine.iter().any(|r| r[0].as_deref() == Some("queue")));
    assert!(mine.iter().any(|r| r[0].as_deref() == Some("owed")));
    // Applying the batch again (the same race, for every package) changes nothing more.
    let again = t.db.add_new_projects(&batch(), seen).await.unwrap();
    let again_by_one = one_by_one(&other.db, &batch(), seen).await;
    assert_eq!(again, again_by_one);
    assert!(
        again
            .iter()
            .all(|r| !r.package_added && r.versions_added.is_empty())
    );
    assert_eq!(state(&t).await, state(&other).await);
}

async fn a_bad_item_refuses_the_whole_batch(t: TestDb) {
    let db = &t.db;
    let good = project(
        "good",
        Some("Good"),
        vec![version("1.0", Some(1), "", false)],
    );
    let bad = [
        vec![project("Not Canonical", None, Vec::new())],
        vec![project("foo", Some("bar"), Vec::new())],
        vec![project("foo", None, vec![version("1 0", None, "", false)])],
        vec![project("foo", None, vec![version("../1", None, "", false)])],
        vec![project(
            "foo",
            None,
            vec![version("1.0", None, &"x".repeat(101), false)],
        )],
        vec![project(
            "foo",
            None,
            vec![
                version("1.0", None, "", false),
                version("1.0", None, "", true),
            ],
        )],
        vec![
            project("foo", None, Vec::new()),
            project("foo", Some("Foo"), Vec::new()),
        ],
    ];
    for b in bad {
        let mut items = vec![good.clone()];
        items.extend(b.iter().cloned());
        let err = db.add_new_projects(&items, day(1)).await.unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{b:?}: {err:?}");
    }
    assert!(db.all_packages().await.unwrap().is_empty());
    assert!(db.load_rewrites_pending().await.unwrap().is_empty());
    assert!(db.add_new_projects(&[], day(1)).await.unwrap().is_empty());
}

async fn a_large_batch_goes_in_whole(t: TestDb) {
    let db = &t.db;
    db.set_build_targets(&[target("cp311/linux_armv7l")])
        .await
        .unwrap();
    // More rows than one statement takes, of every kind.
    let many: Vec<NewProject> = (0..700)
        .map(|i| {
            let package = format!("p-{i}");
            let name = format!("P_{i}");
            let versions = (0..3)
                .map(|v| version(&format!("{v}.0"), Some(v), "", v == 2))
                .collect();
            project(&package, Some(&name), versions)
        })
        .collect();
    let got = db.add_new_projects(&many, day(20)).await.unwrap();
    assert_eq!(got.len(), 700);
    assert!(
        got.iter()
            .all(|r| r.package_added && r.versions_added.len() == 3 && r.yanked == 1)
    );
    assert_eq!(db.all_packages().await.unwrap().len(), 700);
    assert_eq!(db.all_package_versions().await.unwrap().len(), 2_100);
    let queued = t.raw("SELECT COUNT(*) FROM builds_pending").await;
    assert_eq!(queued[0][0].as_deref(), Some("2100"));
    let names = t.raw("SELECT COUNT(*) FROM package_names").await;
    assert_eq!(names[0][0].as_deref(), Some("1400"));
    let owed = db.load_rewrites_pending().await.unwrap();
    assert_eq!(owed.len(), 700);
    assert!(
        owed.iter()
            .all(|o| o.command == piwheels_db::RewriteCommand::Both)
    );
    assert_eq!(
        db.display_name("p-699").await.unwrap().as_deref(),
        Some("P_699")
    );
}

both_backends!(
    same_end_state_as_one_by_one,
    a_bad_item_refuses_the_whole_batch,
    a_large_batch_goes_in_whole,
);
