//! TheSecretary with a short window: the first rewrite goes at once, later ones are
//! merged, deletions cancel, pausing holds, and what is held survives a restart.

use crate::web_common;

use std::time::Duration;

use piwheels_db::RewriteCommand;
use piwheels_master::hub::{Task, WebRequest};
use piwheels_master::the_secretary::TheSecretary;
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};
use web_common::*;

const WINDOW: Duration = Duration::from_millis(800);
/// Time enough for a request passed straight on, even on a loaded machine.
const AT_ONCE: Duration = Duration::from_millis(400);

struct Running {
    to: mpsc::UnboundedSender<WebRequest>,
    from: mpsc::UnboundedReceiver<WebRequest>,
    task: tokio::task::JoinHandle<piwheels_master::Result<()>>,
}

fn start(hub: piwheels_master::hub::Hub) -> Running {
    let (to, inbox) = mpsc::unbounded_channel();
    let (scribe, from) = mpsc::unbounded_channel();
    let mut secretary = TheSecretary::new(hub, inbox, scribe);
    let task = tokio::spawn(async move { secretary.run().await });
    Running { to, from, task }
}

async fn farm_with_window() -> Farm {
    farm(|c| c.rewrite_delay = WINDOW).await
}

/// The next request passed on, within `within`.
async fn next(r: &mut Running, within: Duration) -> Option<WebRequest> {
    timeout(within, r.from.recv()).await.ok().flatten()
}

#[tokio::test]
async fn first_at_once_then_merged_once_per_window() {
    let f = farm_with_window().await;
    let mut r = start(f.hub.clone());
    let t0 = Instant::now();
    r.to.send(WebRequest::Project("foo".into())).unwrap();
    assert_eq!(
        next(&mut r, AT_ONCE).await,
        Some(WebRequest::Project("foo".into()))
    );
    assert!(t0.elapsed() < WINDOW / 2, "the first request was delayed");
    // More within the window: merged, BOTH upgrading PROJECT, sent once when it ends.
    r.to.send(WebRequest::Project("foo".into())).unwrap();
    r.to.send(WebRequest::Both("foo".into())).unwrap();
    r.to.send(WebRequest::Project("foo".into())).unwrap();
    // Another package is not held up by foo's window.
    r.to.send(WebRequest::Both("bar".into())).unwrap();
    assert_eq!(
        next(&mut r, AT_ONCE).await,
        Some(WebRequest::Both("bar".into()))
    );
    assert_eq!(
        next(&mut r, WINDOW / 4).await,
        None,
        "merged requests went early"
    );
    assert_eq!(
        next(&mut r, WINDOW * 2).await,
        Some(WebRequest::Both("foo".into()))
    );
    let waited = t0.elapsed();
    assert!(waited >= WINDOW, "flushed after {waited:?}");
    // Nothing more: the window that follows has nothing in it and closes.
    assert_eq!(next(&mut r, WINDOW * 2).await, None);
    // Then a request goes at once again.
    r.to.send(WebRequest::Project("foo".into())).unwrap();
    assert_eq!(
        next(&mut r, AT_ONCE).await,
        Some(WebRequest::Project("foo".into()))
    );
    f.hub.quit.cancel();
    r.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn deletions_cancel_and_the_rest_goes_straight_through() {
    let f = farm_with_window().await;
    let mut r = start(f.hub.clone());
    r.to.send(WebRequest::Both("foo".into())).unwrap();
    assert_eq!(
        next(&mut r, AT_ONCE).await,
        Some(WebRequest::Both("foo".into()))
    );
    r.to.send(WebRequest::Both("foo".into())).unwrap();
    r.to.send(WebRequest::DeleteVersion("foo".into(), "1.0".into()))
        .unwrap();
    assert_eq!(
        next(&mut r, AT_ONCE).await,
        Some(WebRequest::DeleteVersion("foo".into(), "1.0".into()))
    );
    r.to.send(WebRequest::Search).unwrap();
    r.to.send(WebRequest::Log {
        build_id: 7,
        log: "log".into(),
    })
    .unwrap();
    assert_eq!(next(&mut r, AT_ONCE).await, Some(WebRequest::Search));
    assert!(matches!(
        next(&mut r, AT_ONCE).await,
        Some(WebRequest::Log { build_id: 7, .. })
    ));
    // The held BOTH was cancelled: nothing comes when the window ends.
    assert_eq!(next(&mut r, WINDOW * 2).await, None);
    // After a deletion, the next request goes at once.
    r.to.send(WebRequest::Project("bar".into())).unwrap();
    assert!(next(&mut r, AT_ONCE).await.is_some());
    r.to.send(WebRequest::Project("bar".into())).unwrap();
    r.to.send(WebRequest::DeletePackage("bar".into())).unwrap();
    assert_eq!(
        next(&mut r, AT_ONCE).await,
        Some(WebRequest::DeletePackage("bar".into()))
    );
    r.to.send(WebRequest::Both("bar".into())).unwrap();
    assert_eq!(
        next(&mut r, AT_ONCE).await,
        Some(WebRequest::Both("bar".into()))
    );
    f.hub.quit.cancel();
    r.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn pausing_holds_rewrites_until_resumed() {
    let f = farm_with_window().await;
    let mut r = start(f.hub.clone());
    f.inboxes.paused.send(true).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    r.to.send(WebRequest::Project("foo".into())).unwrap();
    r.to.send(WebRequest::Both("foo".into())).unwrap();
    r.to.send(WebRequest::Search).unwrap();
    assert_eq!(next(&mut r, AT_ONCE).await, Some(WebRequest::Search));
    assert_eq!(next(&mut r, WINDOW * 3).await, None, "flushed while paused");
    f.inboxes.paused.send(false).unwrap();
    assert_eq!(
        next(&mut r, AT_ONCE).await,
        Some(WebRequest::Both("foo".into()))
    );
    assert_eq!(next(&mut r, WINDOW * 2).await, None);
    f.hub.quit.cancel();
    r.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn held_rewrites_survive_a_restart() {
    let f = farm_with_window().await;
    let mut r = start(f.hub.clone());
    f.inboxes.paused.send(true).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    r.to.send(WebRequest::Project("foo".into())).unwrap();
    r.to.send(WebRequest::Both("bar".into())).unwrap();
    r.to.send(WebRequest::Project("bar".into())).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    f.hub.quit.cancel();
    r.task.await.unwrap().unwrap();
    assert!(r.from.try_recv().is_err());
    let saved = f.hub.db.load_rewrites_pending().await.unwrap();
    let mut got: Vec<(String, RewriteCommand)> = saved
        .iter()
        .map(|p| (p.package.clone(), p.command))
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        [
            ("bar".to_string(), RewriteCommand::Both),
            ("foo".to_string(), RewriteCommand::Project)
        ]
    );

    // A new master on the same database: the saved rewrites go out once their window has
    // passed.
    let db = piwheels_db::Database::open(&f.dsn).await.unwrap();
    let (hub, _inboxes) = piwheels_master::hub::Hub::new(db, (*f.hub.config).clone());
    let mut r = start(hub.clone());
    let mut out = Vec::new();
    for _ in 0..2 {
        out.push(next(&mut r, WINDOW * 3).await.expect("a reloaded rewrite"));
    }
    out.sort_by_key(|r| r.package().unwrap().to_owned());
    assert_eq!(
        out,
        [
            WebRequest::Both("bar".into()),
            WebRequest::Project("foo".into())
        ]
    );
    assert_eq!(next(&mut r, WINDOW * 2).await, None);
    hub.quit.cancel();
    r.task.await.unwrap().unwrap();
    // They stay owed in the database until the scribe has written them (no scribe runs
    // here): nothing is dropped unwritten.
    assert_eq!(hub.db.load_rewrites_pending().await.unwrap().len(), 2);
}

#[tokio::test]
async fn published_wheels_are_written_at_once_even_within_a_window() {
    let f = farm_with_window().await;
    let mut r = start(f.hub.clone());
    // A version was added: its pages go at once and open a window.
    r.to.send(WebRequest::Both("foo".into())).unwrap();
    assert_eq!(
        next(&mut r, AT_ONCE).await,
        Some(WebRequest::Both("foo".into()))
    );
    r.to.send(WebRequest::Project("foo".into())).unwrap();
    // Its wheel is published within the window: written now, not when the window ends,
    // and what was held is covered by it.
    r.to.send(WebRequest::Published("foo".into())).unwrap();
    assert_eq!(
        next(&mut r, AT_ONCE).await,
        Some(WebRequest::Both("foo".into()))
    );
    assert_eq!(
        next(&mut r, WINDOW * 2).await,
        None,
        "the held rewrite was sent too"
    );
    f.hub.quit.cancel();
    r.task.await.unwrap().unwrap();
}
