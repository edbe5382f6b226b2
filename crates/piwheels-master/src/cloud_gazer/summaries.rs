//! Each project's one-line summary, from the upstream's JSON API (`upstream_json`,
//! `--pypi-json`): asked for every project whose page changed (new, or its serial or
//! `ETag` moved), as many at once as page fetches (`upstream_concurrency`) and at most
//! [`MAX_PER_POLL`] a poll, and stored when it differs from the database's.
//!
//! A project whose JSON cannot be read (a 404, another status, no answer, not JSON, no
//! `info.summary`) keeps the summary it had and stays owed: it is asked again at a later
//! poll, after 1, 2, 4, ... up to [`MAX_BACKOFF`] polls. The owed names live in memory
//! only (a restart forgets them; the next change of the project asks again).

use super::*;

/// Summaries asked for in one poll at most; the rest stay owed for the next polls, so a
/// first sync does not hold the next poll for hours.
pub const MAX_PER_POLL: usize = 2000;

/// The most polls a failing project waits before it is asked again.
pub const MAX_BACKOFF: u64 = 64;

/// A project owed its summary.
#[derive(Debug, Clone)]
struct Owed {
    /// The name to ask the JSON API for (as upstream spells it).
    name: String,
    /// Failed attempts in a row.
    failures: u32,
    /// The poll at which it is asked (again).
    due: u64,
}

/// The projects owed a summary (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Summaries {
    owed: BTreeMap<String, Owed>,
    /// Polls counted so far (the clock of the backoff).
    polls: u64,
}

impl Summaries {
    /// `canon` (spelled `name` upstream) changed: its summary is asked at this poll.
    pub(super) fn owe(&mut self, canon: &str, name: &str) {
        self.owed.insert(
            canon.to_owned(),
            Owed {
                name: name.to_owned(),
                failures: 0,
                due: self.polls,
            },
        );
    }

    /// The projects to ask at this poll (at most `limit`), and the clock moved on.
    fn due(&mut self, limit: usize) -> Vec<(String, String)> {
        let now = self.polls;
        self.polls += 1;
        self.owed
            .iter()
            .filter(|(_, o)| o.due <= now)
            .take(limit)
            .map(|(c, o)| (c.clone(), o.name.clone()))
            .collect()
    }

    /// Asking failed: asked again after a backoff.
    fn failed(&mut self, canon: &str) {
        let polls = self.polls;
        if let Some(o) = self.owed.get_mut(canon) {
            o.failures = o.failures.saturating_add(1);
            let wait = 1u64 << (o.failures - 1).min(6);
            o.due = polls + wait.min(MAX_BACKOFF) - 1;
        }
    }

    /// The summary is stored (or the package is gone): no longer owed.
    fn done(&mut self, canon: &str) {
        self.owed.remove(canon);
    }

    /// How many projects are owed a summary.
    pub(super) fn len(&self) -> usize {
        self.owed.len()
    }
}

impl CloudGazer {
    /// `canon` (spelled `name` upstream) changed: its summary is owed, if there is a JSON
    /// API to ask (without one, nothing is kept: a first sync of 600,000 projects would
    /// otherwise hold 600,000 names for nothing).
    pub(super) fn owe_summary(&mut self, canon: &str, name: &str) {
        if self.hub.config.upstream_json.is_some() {
            self.summaries.owe(canon, name);
        }
    }

    /// Asks the JSON API for the summaries due (see the module docs) and stores those that
    /// changed. Failures are counted in `report` and said in one warning; a database
    /// failure is an error.
    pub(super) async fn fetch_summaries(
        &mut self,
        client: &IndexClient,
        report: &mut PollReport,
    ) -> Result<()> {
        let Some(json) = self.hub.config.upstream_json.clone() else {
            self.summaries = Summaries::default();
            return Ok(());
        };
        let due = self.summaries.due(MAX_PER_POLL);
        let mut answers = futures_util::stream::iter(due.into_iter().map(|(canon, name)| {
            let (client, json) = (client.clone(), json.clone());
            async move {
                let summary = client.summary(&json, &name).await;
                (canon, summary)
            }
        }))
        .buffer_unordered(self.concurrency());
        let mut failed = Sample::default();
        while let Some((canon, summary)) = answers.next().await {
            if self.hub.quit.is_cancelled() {
                break;
            }
            match summary {
                Ok(summary) => {
                    match self
                        .hub
                        .db
                        .update_package_description(&canon, &summary)
                        .await
                    {
                        Ok(true) => {
                            report.summaries += 1;
                            self.hub.web(WebRequest::Project(canon.clone()));
                        }
                        Ok(false) => {}
                        // Removed meanwhile: nothing to describe.
                        Err(piwheels_db::Error::NotFound { .. }) => {}
                        Err(e) => return Err(e.into()),
                    }
                    self.summaries.done(&canon);
                }
                Err(e) => {
                    report.summary_errors += 1;
                    failed.add(|| e.to_string());
                    self.summaries.failed(&canon);
                }
            }
        }
        failed.warn("cannot read project summaries from the JSON API (asked again later)");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_waits_longer_each_time_up_to_the_cap() {
        let mut s = Summaries::default();
        s.owe("a", "A");
        let mut asked_at = Vec::new();
        for poll in 0..200u64 {
            if s.due(10).iter().any(|(c, n)| c == "a" && n == "A") {
                asked_at.push(poll);
                s.failed("a");
            }
        }
        let waits: Vec<u64> = asked_at.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(&waits[..8], &[1, 2, 4, 8, 16, 32, 64, 64], "{asked_at:?}");
        // Changed again: asked at once, the backoff forgotten.
        s.owe("a", "A");
        assert_eq!(s.due(10).len(), 1);
        s.done("a");
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn at_most_a_limit_per_poll_the_rest_next_time() {
        let mut s = Summaries::default();
        for i in 0..5 {
            s.owe(&format!("p{i}"), &format!("p{i}"));
        }
        let first = s.due(3);
        assert_eq!(first.len(), 3);
        for (c, _) in &first {
            s.done(c);
        }
        assert_eq!(s.due(3).len(), 2);
    }
}
