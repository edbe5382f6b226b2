//! TheArchitect and BigBrother on a real SQLite database.

use crate::core_support;

use std::time::Duration;

use chrono::Utc;
use core_support::*;
use piwheels_master::big_brother::{BigBrother, HISTORY, Timing};
use piwheels_master::hub::{StatsMessage, WebRequest, supervise};
use piwheels_master::the_architect::TheArchitect;
use piwheels_protocol::monitor::StatusMessage;

const WAIT: Duration = Duration::from_secs(20);

fn jobs(q: &piwheels_master::hub::BuildQueue) -> Vec<(String, String)> {
    q.get(&target()).cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_architect_reads_the_queue_at_start_and_when_told() {
    let mut env = Env::new().await;
    env.config.queue_period = Duration::from_secs(3600);
    let (hub, mut inboxes) = env.hub().await;
    let task = supervise(
        TheArchitect::new(hub.clone(), inboxes.queue),
        hub.quit.clone(),
    );
    let mut queue = hub.queue.clone();
    let q = tokio::time::timeout(WAIT, queue.wait_for(|q| !jobs(q).is_empty()))
        .await
        .unwrap()
        .unwrap()
        .clone();
    assert_eq!(
        jobs(&q),
        [("foo".into(), "1.0".into()), ("bar".into(), "1.0".into())]
    );
    let Some(StatsMessage::BuildQueue(sizes)) = within(WAIT, "STATBQ", inboxes.stats.recv()).await
    else {
        panic!("no STATBQ");
    };
    assert_eq!(sizes[&target()], 2);

    // A new version, announced: the queue is read again (not an hour later).
    hub.db
        .add_new_package_version("foo", "2.0", Some(Utc::now()), "")
        .await
        .unwrap();
    hub.queue_changed.notify_one();
    tokio::time::timeout(WAIT, queue.wait_for(|q| jobs(q).len() == 3))
        .await
        .unwrap()
        .unwrap();
    let Some(StatsMessage::BuildQueue(sizes)) = within(WAIT, "STATBQ", inboxes.stats.recv()).await
    else {
        panic!("no STATBQ");
    };
    assert_eq!(sizes[&target()], 3);
    hub.quit.cancel();
    tokio::time::timeout(WAIT, task).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_brother_samples_keeps_history_and_asks_for_pages() {
    let env = Env::new().await;
    std::fs::create_dir_all(&env.config.output_path).unwrap();
    let (hub, mut inboxes) = env.hub().await;
    let bb = BigBrother::new(hub.clone(), inboxes.stats).with_timing(Timing {
        stats: Duration::from_millis(10),
        home: Duration::from_millis(300),
        search: Duration::from_millis(200),
    });
    hub.stat(StatsMessage::BuildQueue(
        [(target(), 7)].into_iter().collect(),
    ));
    let task = supervise(bb, hub.quit.clone());

    // Samples go to monitors.
    let mut samples = Vec::new();
    // Downloads reported after the first sample (which read the total, 0) add to it.
    match tokio::time::timeout(WAIT, inboxes.status.recv())
        .await
        .unwrap()
    {
        Some(StatusMessage::Stats(s)) => samples.push(s),
        other => panic!("unexpected {other:?}"),
    }
    hub.stat(StatsMessage::Downloads(5));
    while samples.len() < HISTORY + 20 {
        match tokio::time::timeout(WAIT, inboxes.status.recv())
            .await
            .unwrap()
        {
            Some(StatusMessage::Stats(s)) => samples.push(s),
            other => panic!("unexpected {other:?}"),
        }
    }
    let last = samples.last().unwrap();
    assert!(last.disk_size > 0 && last.mem_size > 0);
    assert!(last.mem_free <= last.mem_size);
    assert_eq!(last.builds_pending["cp311/linux_x86_64"], 7);
    assert_eq!(last.builds_last_hour["cp311/linux_x86_64"], 0);
    assert_eq!(last.downloads_all, 5);

    // The search index each period (hourly in production), the homepage each period.
    let mut got_search = false;
    let mut got_home = false;
    while !(got_search && got_home) {
        match tokio::time::timeout(WAIT, inboxes.web.recv())
            .await
            .unwrap()
        {
            Some(WebRequest::Search) => got_search = true,
            Some(WebRequest::Home(stats)) => {
                assert!(stats.mem_size > 0);
                got_home = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    // Replay: the history, at most HISTORY samples.
    while inboxes.status.try_recv().is_ok() {}
    hub.stat(StatsMessage::Replay);
    let mut replayed = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
    while let Ok(Some(msg)) = tokio::time::timeout_at(deadline, inboxes.status.recv()).await {
        assert!(matches!(msg, StatusMessage::Stats(_)));
        replayed += 1;
    }
    assert!(replayed >= HISTORY, "{replayed}");
    assert!(replayed <= HISTORY + 60, "{replayed}");
    hub.quit.cancel();
    tokio::time::timeout(WAIT, task).await.unwrap().unwrap();
}
