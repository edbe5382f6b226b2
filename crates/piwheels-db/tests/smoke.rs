mod common;
use common::TestDb;

async fn opens(t: TestDb) {
    assert!(t.db.all_packages().await.unwrap().is_empty());
    assert!(t.db.add_new_package("foo", "", "x").await.unwrap());
    assert!(!t.db.add_new_package("foo", "", "x").await.unwrap());
    assert_eq!(
        t.raw("SELECT package, description FROM packages").await,
        vec![vec![Some("foo".to_string()), Some("x".to_string())]]
    );
}

both_backends!(opens);
