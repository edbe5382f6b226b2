//! The hook the master's metrics time database operations with: every operation, read or
//! write, successful or not, is told to the installed observer once, by name.

use crate::common;

use std::sync::{Arc, Mutex};

use common::{TestDb, target};
use piwheels_db::{QueryObserver, QueryTiming};

#[derive(Default)]
struct Recorder(Mutex<Vec<QueryTiming>>);

impl QueryObserver for Recorder {
    fn observe(&self, timing: QueryTiming) {
        self.0.lock().unwrap().push(timing);
    }
}

impl Recorder {
    fn ops(&self) -> Vec<(&'static str, bool, bool)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|t| (t.op, t.write, t.ok))
            .collect()
    }
}

async fn every_operation_is_timed_once(t: TestDb) {
    let db = &t.db;
    let recorder = Arc::new(Recorder::default());
    assert!(db.observe_queries(recorder.clone()));
    assert!(
        !db.observe_queries(Arc::new(Recorder::default())),
        "a second observer is refused"
    );
    // Clones share the observer.
    let clone = db.clone();
    clone
        .add_build_target(&target("cp39/linux_armv7l"))
        .await
        .unwrap();
    db.build_queue(10).await.unwrap();
    // A failing operation is told too, as failed.
    assert!(db.set_upstream_serial(10).await.is_ok());
    assert!(db.set_upstream_serial(9).await.is_err());
    let ops = recorder.ops();
    assert_eq!(
        ops,
        [
            ("add_build_target", true, true),
            ("build_queue", false, true),
            ("set_upstream_serial", true, true),
            ("set_upstream_serial", true, false),
        ],
        "{ops:?}"
    );
}

both_backends!(every_operation_is_timed_once);
