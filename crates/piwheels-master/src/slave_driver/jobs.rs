//! SlaveDriver's job lists: TheArchitect's queue per target, less what was handed out
//! recently (for the slave's build timeout, or until a queue read after its build was
//! logged) and what was deleted (for an hour).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use piwheels_db::Target;
use tokio::sync::watch;

use crate::hub::BuildQueue;

/// The job lists and the exclusions.
#[derive(Debug)]
pub(super) struct Jobs {
    queue: watch::Receiver<Arc<BuildQueue>>,
    lists: BTreeMap<Target, VecDeque<(String, String)>>,
    /// Jobs handed out, until when they stay out.
    handed: HashMap<(Target, String, String), Instant>,
    /// Jobs whose builds were logged, and when: out until a queue read after that.
    logged: HashMap<(Target, String, String), Instant>,
    /// Versions built outside SlaveDriver (imports), and when: out of every list until a
    /// queue read after that.
    built: HashMap<(String, String), Instant>,
    /// Deleted packages (`None`) and versions, until when they stay out.
    deleted: HashMap<(String, Option<String>), Instant>,
}

impl Jobs {
    pub(super) fn new(mut queue: watch::Receiver<Arc<BuildQueue>>) -> Self {
        queue.mark_changed();
        Jobs {
            queue,
            lists: BTreeMap::new(),
            handed: HashMap::new(),
            logged: HashMap::new(),
            built: HashMap::new(),
            deleted: HashMap::new(),
        }
    }

    fn excluded(&self, target: &Target, package: &str, version: &str, now: Instant) -> bool {
        let live = |until: Option<&Instant>| until.is_some_and(|u| *u > now);
        let key = (target.clone(), package.to_owned(), version.to_owned());
        live(self.handed.get(&key))
            || self.logged.contains_key(&key)
            || self
                .built
                .contains_key(&(package.to_owned(), version.to_owned()))
            || live(self.deleted.get(&(package.to_owned(), None)))
            || live(
                self.deleted
                    .get(&(package.to_owned(), Some(version.to_owned()))),
            )
    }

    /// Takes in TheArchitect's latest queue, if it published one since.
    fn refresh(&mut self) {
        if !self.queue.has_changed().unwrap_or(false) {
            return;
        }
        let queue = Arc::clone(&self.queue.borrow_and_update());
        // A queue read after a build was logged has the build's effect in it.
        let read_at = queue.read_at();
        self.logged.retain(|_, at| *at >= read_at);
        self.built.retain(|_, at| *at >= read_at);
        let now = Instant::now();
        let lists = queue
            .iter()
            .map(|(target, jobs)| {
                let list = jobs
                    .iter()
                    .filter(|(p, v)| !self.excluded(target, p, v, now))
                    .cloned()
                    .collect();
                (target.clone(), list)
            })
            .collect();
        self.lists = lists;
    }

    /// Whether TheArchitect's queue has a list for `target` (it has one for every enabled
    /// target).
    pub(super) fn has_target(&mut self, target: &Target) -> bool {
        self.refresh();
        self.lists.contains_key(target)
    }

    /// The next job for `target`, kept out of the lists for `hold` (the slave's build
    /// timeout).
    pub(super) fn take(&mut self, target: &Target, hold: Duration) -> Option<(String, String)> {
        self.refresh();
        let now = Instant::now();
        loop {
            let (package, version) = self.lists.get_mut(target)?.pop_front()?;
            if self.excluded(target, &package, &version, now) {
                continue;
            }
            self.handed.insert(
                (target.clone(), package.clone(), version.clone()),
                now + hold,
            );
            return Some((package, version));
        }
    }

    /// A job's build was logged: the database's queue now says what is left of it, so it
    /// stays out only until a queue read after now arrives (a rebuild asked for later then
    /// goes out at once).
    pub(super) fn logged(&mut self, target: &Target, package: &str, version: &str) {
        let key = (target.clone(), package.to_owned(), version.to_owned());
        self.handed.remove(&key);
        self.logged.insert(key, Instant::now());
    }

    /// A version was built outside SlaveDriver (an import): out of every list until a
    /// queue read after now.
    pub(super) fn built_elsewhere(&mut self, package: &str, version: &str) {
        self.refresh();
        self.built
            .insert((package.to_owned(), version.to_owned()), Instant::now());
        for list in self.lists.values_mut() {
            list.retain(|(p, v)| !(p == package && v == version));
        }
    }

    /// A package (`version` `None`) or version was deleted: out of every list for `hold`.
    pub(super) fn delete(&mut self, package: &str, version: Option<&str>, hold: Duration) {
        self.refresh();
        self.deleted.insert(
            (package.to_owned(), version.map(str::to_owned)),
            Instant::now() + hold,
        );
        for list in self.lists.values_mut() {
            list.retain(|(p, v)| !(p == package && version.is_none_or(|version| version == v)));
        }
    }

    /// A job handed out that nobody builds any more (its slave was lost): back in the
    /// lists, from TheArchitect's latest queue, if that still has it.
    pub(super) fn release(&mut self, target: &Target, package: &str, version: &str) {
        self.handed
            .remove(&(target.clone(), package.to_owned(), version.to_owned()));
        self.queue.mark_changed();
    }

    /// Drops expired exclusions.
    pub(super) fn prune(&mut self) {
        let now = Instant::now();
        self.handed.retain(|_, until| *until > now);
        self.deleted.retain(|_, until| *until > now);
    }

    /// Jobs waiting per target, as SlaveDriver holds them now.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(super) fn sizes(&mut self) -> BTreeMap<Target, usize> {
        self.refresh();
        self.lists
            .iter()
            .map(|(t, l)| (t.clone(), l.len()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(jobs: &[(&str, &str)]) -> Arc<BuildQueue> {
        let mut q = BuildQueue::new();
        q.insert(
            Target::new("cp311", "linux_x86_64"),
            jobs.iter()
                .map(|(p, v)| (p.to_string(), v.to_string()))
                .collect(),
        );
        Arc::new(q)
    }

    #[test]
    fn handed_out_jobs_stay_out_until_their_hold_expires() {
        let t = Target::new("cp311", "linux_x86_64");
        let (tx, rx) = watch::channel(queue(&[("a", "1"), ("b", "1")]));
        let mut jobs = Jobs::new(rx);
        assert!(jobs.has_target(&t));
        assert!(!jobs.has_target(&Target::new("cp39", "linux_x86_64")));
        assert_eq!(
            jobs.take(&t, Duration::from_secs(60)),
            Some(("a".into(), "1".into()))
        );
        // The queue is republished with "a" still in it: it stays out.
        tx.send(queue(&[("a", "1"), ("b", "1")])).unwrap();
        assert_eq!(
            jobs.take(&t, Duration::ZERO),
            Some(("b".into(), "1".into()))
        );
        tx.send(queue(&[("a", "1"), ("b", "1")])).unwrap();
        // "b" was held for zero time: it comes back.
        assert_eq!(
            jobs.take(&t, Duration::ZERO),
            Some(("b".into(), "1".into()))
        );
        assert_eq!(jobs.take(&t, Duration::ZERO), None);
    }

    #[test]
    fn a_released_job_is_handed_out_again_at_once() {
        let t = Target::new("cp311", "linux_x86_64");
        let (_tx, rx) = watch::channel(queue(&[("a", "1")]));
        let mut jobs = Jobs::new(rx);
        let hour = Duration::from_secs(3600);
        assert_eq!(jobs.take(&t, hour), Some(("a".into(), "1".into())));
        assert_eq!(jobs.take(&t, hour), None);
        jobs.release(&t, "a", "1");
        assert_eq!(jobs.take(&t, hour), Some(("a".into(), "1".into())));
    }

    #[test]
    fn a_logged_job_stays_out_until_a_queue_read_after_the_log() {
        let t = Target::new("cp311", "linux_x86_64");
        let hour = Duration::from_secs(3600);
        let (tx, rx) = watch::channel(queue(&[("a", "1")]));
        let mut jobs = Jobs::new(rx);
        assert_eq!(jobs.take(&t, hour), Some(("a".into(), "1".into())));
        // A queue read before the log still has the job: it stays out.
        let stale = queue(&[("a", "1")]);
        jobs.logged(&t, "a", "1");
        tx.send(stale).unwrap();
        assert_eq!(jobs.take(&t, hour), None);
        // A read after the log has it again (a rebuild was asked for): out it goes.
        tx.send(queue(&[("a", "1")])).unwrap();
        assert_eq!(jobs.take(&t, hour), Some(("a".into(), "1".into())));
    }

    #[test]
    fn deletions_strip_the_lists() {
        let t = Target::new("cp311", "linux_x86_64");
        let (tx, rx) = watch::channel(queue(&[("a", "1"), ("a", "2"), ("b", "1")]));
        let mut jobs = Jobs::new(rx);
        jobs.delete("a", Some("1"), Duration::from_secs(60));
        assert_eq!(jobs.sizes()[&t], 2);
        jobs.delete("a", None, Duration::from_secs(60));
        assert_eq!(jobs.sizes()[&t], 1);
        tx.send(queue(&[("a", "1"), ("a", "2"), ("b", "1")]))
            .unwrap();
        assert_eq!(
            jobs.take(&t, Duration::ZERO),
            Some(("b".into(), "1".into()))
        );
        assert_eq!(jobs.take(&t, Duration::ZERO), None);
    }
}
