//! Issue 14, item 2: a master killed while it wrote pages left packages committed to the
//! database with no pages, and nothing owed. Every change that alters a package's pages now
//! records the rewrite it owes in its own transaction (the journal, `rewrites_pending`), and
//! the page writer clears a row only at the generation it read before rendering.

use crate::common;

use common::{TestDb, build, day, target, wheel};
use piwheels_db::{PendingRewrite, RewriteCommand};

const T: &str = "cp311/linux_x86_64";

/// The owed rewrites as (package, command), in the journal's order.
async fn owed(t: &TestDb) -> Vec<(String, RewriteCommand)> {
    let mut out: Vec<(String, RewriteCommand)> =
        t.db.load_rewrites_pending()
            .await
            .unwrap()
            .into_iter()
            .map(
                |PendingRewrite {
                     package, command, ..
                 }| (package, command),
            )
            .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Clears everything owed, as a page writer that wrote every page would.
async fn write_everything(t: &TestDb) {
    let packages: Vec<String> = owed(t).await.into_iter().map(|(p, _)| p).collect();
    let gens = t.db.rewrite_generations(&packages).await.unwrap();
    let done: Vec<(String, i64)> = gens.into_iter().collect();
    t.db.clear_rewrites(&done).await.unwrap();
    assert!(owed(t).await.is_empty());
}

use RewriteCommand::{Both, Project};

async fn every_change_records_the_rewrite_it_owes(t: TestDb) {
    let db = &t.db;
    db.set_build_targets(&[target(T)]).await.unwrap();
    assert!(owed(&t).await.is_empty());

    db.add_new_package("foo", "", "").await.unwrap();
    assert_eq!(owed(&t).await, [("foo".into(), Both)], "a new package");
    write_everything(&t).await;
    // Adding it again changes nothing, and owes nothing.
    db.add_new_package("foo", "", "").await.unwrap();
    assert!(owed(&t).await.is_empty());

    db.add_new_package_version("foo", "1.0", Some(day(1)), "")
        .await
        .unwrap();
    assert_eq!(owed(&t).await, [("foo".into(), Project)], "a new version");
    write_everything(&t).await;

    db.add_package_name("foo", "Foo", Some(day(2)))
        .await
        .unwrap();
    assert_eq!(owed(&t).await, [("foo".into(), Project)], "a new alias");
    write_everything(&t).await;
    db.add_package_name("foo", "Foo", Some(day(3)))
        .await
        .unwrap();
    assert!(owed(&t).await.is_empty(), "an alias seen again");

    db.set_package_description("foo", "A package")
        .await
        .unwrap();
    assert_eq!(owed(&t).await, [("foo".into(), Project)], "a description");
    write_everything(&t).await;

    db.log_build(&build("foo", "1.0", T, None)).await.unwrap();
    assert_eq!(owed(&t).await, [("foo".into(), Project)], "a failed build");
    write_everything(&t).await;

    db.add_new_package_version("foo", "2.0", Some(day(2)), "")
        .await
        .unwrap();
    write_everything(&t).await;
    db.log_build(&build(
        "foo",
        "2.0",
        T,
        Some(vec![wheel("foo-2.0-py3-none-any.whl", &[])]),
    ))
    .await
    .unwrap();
    assert_eq!(owed(&t).await, [("foo".into(), Both)], "a wheel");
    write_everything(&t).await;

    db.yank_version("foo", "2.0").await.unwrap();
    assert_eq!(owed(&t).await, [("foo".into(), Both)], "a yank");
    write_everything(&t).await;

    db.skip_package_version("foo", "1.0", "broken")
        .await
        .unwrap();
    assert_eq!(
        owed(&t).await,
        [("foo".into(), Project)],
        "a skipped version"
    );
    write_everything(&t).await;
    db.skip_package("foo", "broken").await.unwrap();
    assert_eq!(
        owed(&t).await,
        [("foo".into(), Project)],
        "a skipped package"
    );
    write_everything(&t).await;

    db.delete_build("foo", "2.0").await.unwrap();
    assert_eq!(owed(&t).await, [("foo".into(), Both)], "a deleted build");
    write_everything(&t).await;
    db.delete_version("foo", "2.0").await.unwrap();
    assert_eq!(owed(&t).await, [("foo".into(), Both)], "a deleted version");
    write_everything(&t).await;
    db.delete_package("foo").await.unwrap();
    assert_eq!(
        owed(&t).await,
        [("foo".into(), Both)],
        "a deleted package still owes the removal of its pages"
    );
}

async fn a_change_that_fails_owes_nothing(t: TestDb) {
    let db = &t.db;
    db.set_build_targets(&[target(T)]).await.unwrap();
    db.add_new_package("foo", "", "").await.unwrap();
    db.add_new_package_version("foo", "1.0", Some(day(1)), "")
        .await
        .unwrap();
    write_everything(&t).await;
    let whl = wheel("foo-1.0-py3-none-any.whl", &[]);
    db.log_build(&build("foo", "1.0", T, Some(vec![whl.clone()])))
        .await
        .unwrap();
    write_everything(&t).await;
    // A second build that would replace the published wheel is refused whole.
    assert!(
        db.log_build(&build("foo", "1.0", T, Some(vec![whl])))
            .await
            .is_err()
    );
    assert!(owed(&t).await.is_empty());
    // So is a build of a version that does not exist.
    assert!(db.log_build(&build("foo", "9.0", T, None)).await.is_err());
    assert!(owed(&t).await.is_empty());
}

async fn a_change_made_while_pages_are_written_is_written_again(t: TestDb) {
    let db = &t.db;
    db.set_build_targets(&[target(T)]).await.unwrap();
    db.add_new_package("foo", "", "").await.unwrap();
    db.add_new_package("bar", "", "").await.unwrap();
    // The writer reads the generations first ...
    let gens = db
        .rewrite_generations(&["foo".into(), "bar".into(), "baz".into()])
        .await
        .unwrap();
    assert_eq!(gens.len(), 2, "baz owes nothing: {gens:?}");
    // ... a change to foo commits while it renders ...
    db.add_new_package_version("foo", "1.0", Some(day(1)), "")
        .await
        .unwrap();
    // ... and what it clears afterwards keeps foo's newer debt.
    let done: Vec<(String, i64)> = gens.into_iter().collect();
    assert_eq!(db.clear_rewrites(&done).await.unwrap(), 1);
    assert_eq!(
        owed(&t).await,
        [("foo".into(), Both)],
        "the newer change keeps the row, and BOTH is not lowered by a PROJECT"
    );
}

async fn owed_rewrites_are_merged_never_replaced(t: TestDb) {
    let db = &t.db;
    db.add_new_package("foo", "", "").await.unwrap();
    db.owe_rewrites(&[("bar".into(), Project), ("foo".into(), Project)])
        .await
        .unwrap();
    assert_eq!(
        owed(&t).await,
        [("bar".into(), Project), ("foo".into(), Both)]
    );
    assert!(
        db.owe_rewrites(&[("Not Canonical".into(), Both)])
            .await
            .is_err()
    );
    assert_eq!(owed(&t).await.len(), 2);
}

both_backends!(
    every_change_records_the_rewrite_it_owes,
    a_change_that_fails_owes_nothing,
    a_change_made_while_pages_are_written_is_written_again,
    owed_rewrites_are_merged_never_replaced,
);
