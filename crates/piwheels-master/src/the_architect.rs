//! TheArchitect: reads the build queue from the database and publishes it to SlaveDriver
//! (piwheels.md §1.3).
//!
//! The original re-read the queue hourly (its query took 22 s); the database now keeps the
//! queue as an index, so it is read at start, again shortly after anything announces a
//! change ([`Hub::queue_changed`]: new versions, builds logged; coalesced over
//! [`DEBOUNCE`]), and every `queue-period` regardless. Each read also tells BigBrother how
//! many jobs wait per target (`STATBQ`).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::error::Result;
use crate::hub::{BuildQueue, Hub, StatsMessage, Task};

/// How long after a change is announced the queue is read (further announcements in that
/// time are covered by the same read).
pub const DEBOUNCE: Duration = Duration::from_millis(100);

/// Jobs read per target. SlaveDriver hands them out in order; a farm does not get through
/// this many between two reads, and every logged build triggers a read.
pub const QUEUE_LIMIT: usize = 10_000;

/// The build-queue task (see the module docs).
#[derive(Debug)]
pub struct TheArchitect {
    hub: Hub,
    queue: watch::Sender<Arc<BuildQueue>>,
}

impl TheArchitect {
    /// The task, publishing on `queue` (the sender of [`Hub::queue`]).
    pub fn new(hub: Hub, queue: watch::Sender<Arc<BuildQueue>>) -> TheArchitect {
        TheArchitect { hub, queue }
    }

    /// Reads the queue and its sizes and publishes them.
    async fn refresh(&mut self) {
        let read_at = std::time::Instant::now();
        match self.hub.db.build_queue(QUEUE_LIMIT).await {
            Ok(queue) => {
                let jobs: usize = queue.values().map(Vec::len).sum();
                tracing::debug!(targets = queue.len(), jobs, "build queue read");
                self.queue
                    .send_replace(Arc::new(BuildQueue::read(queue, read_at)));
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the build queue");
                return;
            }
        }
        match self.hub.db.build_queue_sizes().await {
            Ok(sizes) => {
                self.hub.metrics.set_queue(&sizes);
                self.hub.stat(StatsMessage::BuildQueue(sizes));
            }
            Err(e) => tracing::warn!(error = %e, "cannot count the build queue"),
        }
    }
}

impl Task for TheArchitect {
    const NAME: &'static str = "the_architect";

    async fn run(&mut self) -> Result<()> {
        let quit = self.hub.quit.clone();
        let changed = Arc::clone(&self.hub.queue_changed);
        let period = self.hub.config.queue_period.max(Duration::from_secs(1));
        loop {
            tokio::select! {
                () = quit.cancelled() => return Ok(()),
                () = self.refresh() => {}
            }
            tokio::select! {
                () = quit.cancelled() => return Ok(()),
                () = changed.notified() => {
                    tokio::select! {
                        () = quit.cancelled() => return Ok(()),
                        () = tokio::time::sleep(DEBOUNCE) => {}
                    }
                }
                () = tokio::time::sleep(period) => {}
            }
        }
    }
}
