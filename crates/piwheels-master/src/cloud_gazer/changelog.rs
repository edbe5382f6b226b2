//! The changelog mode (`--pypi-xmlrpc URL`, the original's option and meaning): the
//! upstream is followed through XML-RPC `changelog_since_serial` from the serial stored in
//! the database, instead of the simple index's project list.
//!
//! The changelog says *which* projects changed; what they are now is read from their
//! simple pages, as in the default mode, so both modes apply changes the same way and a
//! lost or reordered event cannot leave the database wrong. Each poll:
//!
//! 1. asks for the events after the stored serial, again from the last one received while
//!    whole batches come (at most [`MAX_CALLS`] calls a poll); events with a serial not
//!    after the one asked from, or implausibly far past it ([`MAX_SERIAL_STEP`]), are
//!    ignored and counted;
//! 2. reads the page of every project named (only the followed ones with `follow`), unless
//!    the page already read of it is at least as new as its newest event, plus the pages
//!    still owed a second look (see [`absences`]);
//! 3. stores as the new serial the newest serial whose every event is resolved: a project
//!    whose page could not be read, or is struck once (gone, or lacking versions), holds
//!    the serial back to just before its first event, so that a restarted master reads
//!    those events again and nothing is lost. The serial never goes backwards.
//!
//! A farm with no serial yet (a new one) is brought in line by the simple index's diff,
//! from the serial the changelog gave just before it; so is any poll whose changelog
//! cannot be read (a fault, an error status, an answer that is not XML-RPC): the mode
//! falls back to the diff for that poll, and says so once a poll.

use super::*;
use crate::upstream::changelog::{ChangelogClient, ChangelogEvent};

/// The most `changelog_since_serial` calls in one poll (the upstream answers at most
/// about 50,000 events a call); the rest waits for the next poll.
pub const MAX_CALLS: usize = 10;

/// The furthest past the serial asked from that an event's serial is believed (a hostile
/// or broken upstream could otherwise move the serial, which never goes backwards, out of
/// reach).
pub const MAX_SERIAL_STEP: i64 = 100_000_000;

/// What the changelog said in one poll.
pub(super) enum Followed {
    /// The poll is done.
    Done,
    /// The changelog could not be read: fall back to the simple index.
    Unavailable(UpstreamError),
}

/// The events of one poll, by project: its name as the changelog spells it, and the
/// serials of its first and newest event.
type Touched = BTreeMap<String, (String, i64, i64)>;

impl CloudGazer {
    /// The changelog client, if the changelog mode is configured (`None` otherwise, or if
    /// its URL is not one: said once, and the default mode is used).
    pub(super) fn changelog(&mut self) -> Option<ChangelogClient> {
        if let Some(c) = &self.changelog {
            return Some(c.clone());
        }
        let url = self.hub.config.upstream_xmlrpc.clone()?;
        match ChangelogClient::new(&url, self.hub.config.upstream_timeout) {
            Ok(c) => {
                tracing::info!(task = "cloud_gazer", %url, "following the upstream's changelog");
                self.changelog = Some(c.clone());
                Some(c)
            }
            Err(e) => {
                if !self.changelog_refused {
                    tracing::warn!(task = "cloud_gazer", error = %e, "cannot use the changelog; following the simple index");
                    self.changelog_refused = true;
                }
                None
            }
        }
    }

    /// One poll of the changelog mode from the stored serial `stored` (see the module
    /// docs).
    pub(super) async fn poll_changelog(
        &mut self,
        client: &IndexClient,
        changelog: &ChangelogClient,
        stored: i64,
        report: &mut PollReport,
        complaints: &mut Complaints,
    ) -> Result<Followed> {
        let (events, last) = match self.read_changelog(changelog, stored, report).await {
            Ok(read) => read,
            Err(e) => return Ok(Followed::Unavailable(e)),
        };
        if events.is_empty() && !self.absences.pending() {
            report.unchanged = true;
            return Ok(Followed::Done);
        }
        let touched = self.touched(events, report, complaints);
        let db_packages = self.hub.db.all_packages().await?;
        let wants = self.event_wants(&touched, &db_packages);
        let Some(read) = self
            .read_pages(client, wants, &db_packages, report, complaints)
            .await?
        else {
            return Ok(Followed::Done);
        };
        if read.any_buildable {
            self.hub.queue_changed.notify_one();
        }
        complaints.warn();
        if report.failing {
            return Ok(Followed::Done);
        }
        // The newest serial whose every event is resolved.
        let failed: HashSet<&str> = read.failed.iter().map(String::as_str).collect();
        let held = touched
            .iter()
            .filter(|(canon, (_, _, newest))| {
                let resolved = !failed.contains(canon.as_str())
                    && (self.known(canon).and_then(|s| s.serial) >= Some(*newest)
                        || self.removing.contains(*canon)
                        || (!db_packages.contains(*canon) && !self.knows(canon)));
                !resolved
            })
            .map(|(_, (_, first, _))| first - 1)
            .min();
        let serial = held.map_or(last, |h| h.min(last));
        if serial > stored {
            self.hub.db.set_upstream_serial(serial).await?;
        }
        Ok(Followed::Done)
    }

    /// The events after `stored` (at most [`MAX_CALLS`] calls), and the newest serial
    /// received (`stored` if none). An error only if the first call fails.
    async fn read_changelog(
        &self,
        changelog: &ChangelogClient,
        stored: i64,
        report: &mut PollReport,
    ) -> std::result::Result<(Vec<ChangelogEvent>, i64), UpstreamError> {
        let mut events = Vec::new();
        let mut from = stored;
        for call in 0..MAX_CALLS {
            let batch = match changelog.since(from).await {
                Ok(batch) => batch,
                Err(e) if call == 0 => return Err(e),
                Err(e) => {
                    tracing::warn!(task = "cloud_gazer", error = %e, "cannot read the rest of the changelog (read at the next poll)");
                    report.errors += 1;
                    break;
                }
            };
            let before = events.len();
            for e in batch {
                if e.serial > from && e.serial - from <= MAX_SERIAL_STEP {
                    events.push(e);
                } else {
                    report.refused_events += 1;
                }
            }
            let Some(newest) = events[before..].iter().map(|e| e.serial).max() else {
                break;
            };
            from = newest;
        }
        report.events = events.len();
        Ok((events, from))
    }

    /// The followed projects the events name, each with its spelling and the serials of
    /// its first and newest event; names that break the rule are counted and said.
    fn touched(
        &self,
        events: Vec<ChangelogEvent>,
        report: &mut PollReport,
        complaints: &mut Complaints,
    ) -> Touched {
        let mut touched = Touched::new();
        for e in events {
            match names::validate_name(&e.name) {
                Ok(name) => {
                    let canon = name.canonical().into_string();
                    if !self.follows(&canon) {
                        continue;
                    }
                    let entry = touched
                        .entry(canon)
                        .or_insert_with(|| (name.into_string(), e.serial, e.serial));
                    entry.1 = entry.1.min(e.serial);
                    entry.2 = entry.2.max(e.serial);
                }
                Err(err) => {
                    report.refused_names += 1;
                    complaints.refused_names.add(|| err.to_string());
                }
            }
        }
        touched
    }

    /// The pages to read for these events: those not yet read at least as new as their
    /// newest event, and those owed a second look.
    fn event_wants(&self, touched: &Touched, db_packages: &BTreeSet<String>) -> Vec<Want> {
        let mut wants: Vec<Want> = Vec::new();
        for (canon, (name, _, newest)) in touched {
            let seen = self.known(canon);
            let known = db_packages.contains(canon);
            let second_look = self.absences.has_versions(canon) || self.absences.struck(canon);
            if known && !second_look && seen.and_then(|s| s.serial) >= Some(*newest) {
                continue;
            }
            let etag = seen.filter(|_| known && !second_look).and_then(Known::etag);
            wants.push(Want {
                canon: canon.clone(),
                name: name.clone(),
                etag,
                serial: Some(*newest),
                source: Source::Event,
            });
        }
        for canon in self.absences.owed() {
            if touched.contains_key(&canon) || !self.follows(&canon) {
                continue;
            }
            let name = self
                .known(&canon)
                .map_or_else(|| canon.clone(), |s| s.name(&canon).to_owned());
            let serial = self.known(&canon).and_then(|s| s.serial);
            wants.push(Want {
                canon,
                name,
                etag: None,
                serial,
                source: Source::Event,
            });
        }
        wants
    }
}
