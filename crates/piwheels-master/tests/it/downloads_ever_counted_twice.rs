//! BigBrother's "downloads ever" is the database's count: downloads Lumberjack reported
//! before BigBrother first read the total (as when the database was not there yet) are in
//! that total already, and were once counted twice.

use std::time::Duration;

use chrono::Utc;
use piwheels_db::{AccessRecord, DownloadRecord};
use piwheels_master::big_brother::{BigBrother, Timing};
use piwheels_master::hub::{StatsMessage, supervise};
use piwheels_protocol::monitor::{MasterStats, StatusMessage};

use crate::core_support::{Env, within};

fn download() -> AccessRecord {
    AccessRecord::Download(DownloadRecord {
        name: "foo-1.0-py3-none-any.whl".into(),
        host: "192.0.2.1".parse().unwrap(),
        timestamp: Utc::now(),
        arch: None,
        distro_name: None,
        distro_version: None,
        os_name: None,
        os_version: None,
        py_name: None,
        py_version: None,
        installer_name: None,
        installer_version: None,
        setuptools_version: None,
    })
}

async fn next_sample(
    status: &mut tokio::sync::mpsc::UnboundedReceiver<StatusMessage>,
) -> MasterStats {
    loop {
        match within(
            Duration::from_secs(20),
            "a statistics sample",
            status.recv(),
        )
        .await
        {
            Some(StatusMessage::Stats(s)) => return s,
            Some(_) => {}
            None => panic!("the status channel closed"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_reported_before_the_first_count_are_not_added_again() {
    let env = Env::new().await;
    std::fs::create_dir_all(&env.config.output_path).unwrap();
    let (hub, mut inboxes) = env.hub().await;
    // Lumberjack wrote 3 downloads and reported them before BigBrother's first count.
    hub.db.log_access(&vec![download(); 3]).await.unwrap();
    hub.stat(StatsMessage::Downloads(3));
    let bb = BigBrother::new(hub.clone(), inboxes.stats).with_timing(Timing {
        stats: Duration::from_millis(20),
        home: Duration::from_secs(3600),
        search: Duration::from_secs(3600),
    });
    let task = supervise(bb, hub.quit.clone());
    let first = next_sample(&mut inboxes.status).await;
    assert_eq!(first.downloads_all, 3, "the database holds 3 downloads");
    assert_eq!(first.downloads_last_hour, 3);
    assert_eq!(first.downloads_last_month, 3);
    // Written and reported afterwards: added.
    hub.db.log_access(&vec![download(); 2]).await.unwrap();
    hub.stat(StatsMessage::Downloads(2));
    let mut last = first;
    while last.downloads_all < 5 {
        last = next_sample(&mut inboxes.status).await;
    }
    assert_eq!(last.downloads_all, 5);
    assert_eq!(last.downloads_last_month, 5);
    hub.quit.cancel();
    within(Duration::from_secs(20), "BigBrother to stop", task)
        .await
        .expect("BigBrother's task");
}
