//! Issue 14, items 8 and 9: piwheels 0.23's slave sends BYE on SIGTERM without waiting for
//! the reply to its last IDLE, which our master held for up to 4 s for a job, so it
//! crashed (`Operation cannot be accomplished in current state`). And a slave stopped
//! across a master restart spoke to the new master as a stranger, and waited five minutes
//! for a reply that never came.
//!
//! Only this project's slaves, which name their socket `piw-rs/…`, have their IDLE held;
//! the original's is answered at once. One of ours that the master does not know is told
//! DONE, so it starts again with HELLO; a stranger of the original's kind is ignored, as
//! the original master does.

use crate::core_support;

use std::time::Duration;

use core_support::farm::*;
use piwheels_protocol::slave::{SlaveReply, SlaveRequest};

/// A hold much longer than the deadline of the replies that must not be held.
const HOLD: Duration = Duration::from_secs(60);

async fn farm_with_nothing_to_build() -> Farm {
    let farm = Farm::start(|_, timing| timing.idle_hold = HOLD).await;
    for p in ["foo", "bar"] {
        farm.hub
            .db
            .skip_package(p, "nothing to build")
            .await
            .unwrap();
    }
    farm.wait_for_queue(|jobs| jobs.is_empty()).await;
    farm
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_original_slaves_idle_is_answered_at_once() {
    let farm = farm_with_nothing_to_build().await;
    // The original's socket: ZeroMQ picks its identity.
    let (mut original, _) = farm.hello(hello()).await;
    let reply = tokio::time::timeout(Duration::from_secs(10), original.ask(idle()))
        .await
        .expect("an original slave's IDLE is not held");
    assert_eq!(reply, SlaveReply::Sleep(false));
    // So its BYE, right after, is legal on its REQ socket.
    original.unanswered(SlaveRequest::Bye).await;

    // One of ours is held (for a job that may come), and answered when the hold ends or
    // the master pauses.
    let (mut ours, _) = farm.our_hello(hello()).await;
    let held = tokio::spawn(async move { ours.ask(idle()).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!held.is_finished(), "our slave's IDLE is held");
    farm.paused.send(true).unwrap();
    assert_eq!(held.await.unwrap(), SlaveReply::Sleep(true));
    farm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slave_of_ours_the_master_does_not_know_is_told_to_start_again() {
    let farm = farm_with_nothing_to_build().await;
    // As after a master restart: a socket that never said HELLO to this master.
    let mut ours = farm.our_slave();
    assert_eq!(ours.ask(idle()).await, SlaveReply::Done);
    let mut ours = farm.our_slave();
    assert_eq!(ours.ask(busy()).await, SlaveReply::Done);
    // The original's kind is ignored, as the original master ignores it.
    farm.slave().unanswered(idle()).await;
    // And a HELLO after the DONE is welcome.
    let (mut again, _) = farm.our_hello(hello()).await;
    farm.paused.send(true).unwrap();
    assert_eq!(again.ask(idle()).await, SlaveReply::Sleep(true));
    farm.stop().await;
}
