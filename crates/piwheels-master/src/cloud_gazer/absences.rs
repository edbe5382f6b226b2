//! Removals only on evidence (issue 16, item 4): a project or a version is removed only
//! when its own page says it is gone on two reads in a row, never because a project list
//! (or one read of a page) lacks it.
//!
//! - **A project** the database has but the project list does not name is *probed*: its
//!   own page is read in full. Gone (404 or 410) is one strike; gone again at the next
//!   probe removes it, and the log says why. A page that is there clears the strike, is
//!   applied like any other, and shows that the list is incomplete. At most
//!   [`MAX_PROBES`] projects are probed a poll (struck ones first, then the others in
//!   turn), and probing stops at the [`UNLISTED_LIMIT`]th page found that the list lacks:
//!   a truncated list, an error page served with status 200, or a list of half the
//!   projects costs a few requests and removes nothing. A list that names no project at
//!   all is not probed either. While the list is incomplete or strikes are pending, its
//!   `ETag` is not kept, so it is read again at the next poll.
//! - **A followed project** (`follow`) whose page is gone is struck the same way.
//! - **A version** missing from its project's page is one strike; that page is read again
//!   in full at the next poll (its stored serial is cleared, so a restarted master reads
//!   it again too), and the version is removed only if it is still missing.
//!
//! Strikes live in memory: a restart forgets them, which only delays a removal by a poll.

use super::*;

/// The most projects probed in one poll.
pub const MAX_PROBES: usize = 1000;

/// Probing stops once this many projects the list lacks turn out to have pages.
pub const UNLISTED_LIMIT: usize = 10;

/// One strike against projects and versions seen gone once (see the module docs).
#[derive(Debug, Default)]
pub(super) struct Absences {
    /// Projects whose own page was gone at their last read.
    packages: BTreeSet<String>,
    /// Versions missing from their project's page at its last read, by project.
    versions: HashMap<String, BTreeSet<String>>,
    /// Where the next poll's probing starts among the projects that were not struck (so
    /// that every one has its turn however many the list lacks).
    cursor: String,
}

impl Absences {
    /// Whether a removal waits for a second look.
    pub(super) fn pending(&self) -> bool {
        !self.packages.is_empty() || !self.versions.is_empty()
    }

    /// Whether `canon` has versions waiting for a second look (its page is then read in
    /// full).
    pub(super) fn has_versions(&self, canon: &str) -> bool {
        self.versions.contains_key(canon)
    }

    /// Whether `canon`'s page was gone at its last read.
    pub(super) fn struck(&self, canon: &str) -> bool {
        self.packages.contains(canon)
    }

    /// The projects owed a second look: those struck, and those with versions struck.
    pub(super) fn owed(&self) -> BTreeSet<String> {
        let mut out = self.packages.clone();
        out.extend(self.versions.keys().cloned());
        out
    }

    /// `canon`'s page is gone: true if it was gone at the last look too (remove it now).
    fn strike(&mut self, canon: &str) -> bool {
        !self.packages.insert(canon.to_owned())
    }

    /// `canon` is there after all (listed, or its page read).
    pub(super) fn present(&mut self, canon: &str) {
        self.packages.remove(canon);
    }

    /// `canon` is removed: nothing more to look at.
    fn removed(&mut self, canon: &str) {
        self.packages.remove(canon);
        self.versions.remove(canon);
    }

    /// `missing` are not on `canon`'s page: those that were missing at the last read too
    /// are returned (remove them now), the others are struck (the page is read again in
    /// full at the next poll).
    pub(super) fn versions_missing(
        &mut self,
        canon: &str,
        missing: BTreeSet<String>,
    ) -> BTreeSet<String> {
        let before = self.versions.remove(canon).unwrap_or_default();
        let (again, first): (BTreeSet<String>, BTreeSet<String>) =
            missing.into_iter().partition(|v| before.contains(v));
        if !first.is_empty() {
            self.versions.insert(canon.to_owned(), first);
        }
        again
    }

    /// The projects to probe this poll, at most [`MAX_PROBES`] of `unlisted`: the struck
    /// ones first, then the others from the cursor on (wrapping round). Strikes against
    /// projects no longer unlisted are dropped.
    fn probes(&mut self, unlisted: &BTreeSet<String>) -> Vec<String> {
        self.packages.retain(|p| unlisted.contains(p));
        let mut out: Vec<String> = self.packages.iter().take(MAX_PROBES).cloned().collect();
        let others = unlisted
            .range::<String, _>((
                std::ops::Bound::Excluded(&self.cursor),
                std::ops::Bound::Unbounded,
            ))
            .chain(unlisted.range::<String, _>(..=&self.cursor))
            .filter(|p| !self.packages.contains(*p));
        for p in others {
            if out.len() >= MAX_PROBES {
                break;
            }
            out.push(p.clone());
        }
        if let Some(last) = out.last() {
            self.cursor.clone_from(last);
        }
        out
    }
}

impl CloudGazer {
    /// Reads the own pages of followed packages the list lacks ([`Absences::probes`]), and
    /// says whether the list was shown incomplete (some of them have pages). Removes those
    /// gone twice in a row.
    pub(super) async fn probe_unlisted(
        &mut self,
        client: &IndexClient,
        upstream: &Projects,
        db_packages: &BTreeSet<String>,
        report: &mut PollReport,
        complaints: &mut Complaints,
    ) -> Result<Option<PagesRead>> {
        if upstream.is_empty() && !db_packages.is_empty() {
            tracing::warn!(
                task = "cloud_gazer",
                packages = db_packages.len(),
                "the index lists no projects; taken for a broken list, removing nothing"
            );
            return Ok(Some(PagesRead::incomplete()));
        }
        let unlisted: BTreeSet<String> = db_packages
            .iter()
            .filter(|p| {
                self.follows(p) && !upstream.contains_key(*p) && !self.removing.contains(*p)
            })
            .cloned()
            .collect();
        let wants = self
            .absences
            .probes(&unlisted)
            .into_iter()
            .map(|canon| Want {
                name: self
                    .known(&canon)
                    .map_or_else(|| canon.clone(), |s| s.name(&canon).to_owned()),
                canon,
                etag: None,
                serial: None,
                source: Source::Probe,
            })
            .collect();
        let read = self
            .read_pages(client, wants, db_packages, report, complaints)
            .await?;
        if let Some(read) = &read
            && read.unlisted > 0
        {
            tracing::warn!(
                task = "cloud_gazer",
                unlisted = unlisted.len(),
                found = read.unlisted,
                "the project list lacks projects whose pages are there; taken as incomplete, \
                 removing nothing on its word"
            );
        }
        Ok(read)
    }

    /// `canon`'s own page is gone (a probe, or a followed project): struck once, removed
    /// the second time in a row.
    pub(super) async fn page_gone(&mut self, canon: &str, report: &mut PollReport) -> Result<()> {
        if !self.absences.strike(canon) {
            tracing::info!(task = "cloud_gazer", package = %canon, "its page is gone; removed if it is still gone at the next poll");
            report.absent_packages += 1;
            return Ok(());
        }
        tracing::info!(task = "cloud_gazer", package = %canon, "removing the package: its page was gone on two polls in a row");
        self.absences.removed(canon);
        if self.remove_package(canon).await? {
            report.removed_packages += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_project_is_removed_only_when_gone_twice_in_a_row() {
        let mut a = Absences::default();
        assert!(!a.strike("x"));
        assert!(a.pending());
        a.present("x");
        assert!(!a.strike("x"), "present in between: the count starts again");
        assert!(a.strike("x"));
    }

    #[test]
    fn a_version_is_removed_only_when_missing_twice_in_a_row() {
        let mut a = Absences::default();
        assert!(a.versions_missing("p", set(&["1", "2"])).is_empty());
        assert!(a.has_versions("p"));
        // 1 is back, 2 is still missing, 3 is missing for the first time.
        assert_eq!(a.versions_missing("p", set(&["2", "3"])), set(&["2"]));
        assert!(a.has_versions("p"), "3 waits for its second look");
        assert!(a.versions_missing("p", set(&[])).is_empty());
        assert!(!a.has_versions("p"));
        assert!(!a.pending());
    }

    #[test]
    fn probes_are_bounded_struck_ones_first_and_the_rest_in_turn() {
        let mut a = Absences::default();
        let unlisted: BTreeSet<String> = (0..2500).map(|i| format!("p{i:04}")).collect();
        a.strike("p2400");
        a.strike("gone-from-the-database");
        let first = a.probes(&unlisted);
        assert_eq!(first.len(), MAX_PROBES);
        assert_eq!(first[0], "p2400", "struck first");
        assert_eq!(first[1], "p0000");
        assert!(!a.packages.contains("gone-from-the-database"));
        let second = a.probes(&unlisted);
        assert_eq!(second[0], "p2400");
        assert_eq!(second[1], format!("p{:04}", MAX_PROBES - 1));
        let third = a.probes(&unlisted);
        // Wraps round: every project had its turn.
        let mut all: BTreeSet<String> = first.into_iter().collect();
        all.extend(second);
        all.extend(third);
        assert_eq!(all, unlisted);
    }
}
