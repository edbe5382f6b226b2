//! Many tasks at once on one database: every write lands, and the kept queue stays right.

use crate::common;

use common::{TestDb, build, day, target, wheel};

async fn concurrent_writers_and_readers(t: TestDb) {
    let db = t.db.clone();
    db.set_build_targets(&[target("cp39/linux_armv7l"), target("cp311/linux_armv7l")])
        .await
        .unwrap();
    db.add_new_package("foo", "", "").await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let v = format!("{i}.0");
            db.add_new_package_version("foo", &v, Some(day(i)), "")
                .await
                .unwrap();
            let files = (i % 3 != 0).then(|| {
                vec![wheel(
                    &format!("foo-{v}-cp39-cp39-linux_armv7l.whl"),
                    &[("apt", "libc6")],
                )]
            });
            db.log_build(&build("foo", &v, "cp39/linux_armv7l", files))
                .await
                .unwrap();
            db.project_data("foo").await.unwrap().unwrap();
            db.build_queue(10).await.unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(db.all_build_ids().await.unwrap().len(), 40);
    let kept = db.build_queue(1000).await.unwrap();
    assert_eq!(kept[&target("cp311/linux_armv7l")].len(), 40);
    db.rebuild_build_queue().await.unwrap();
    assert_eq!(db.build_queue(1000).await.unwrap(), kept);
}

both_backends!(concurrent_writers_and_readers);
