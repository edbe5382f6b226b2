//! The search index `packages.json` between full rewrites.
//!
//! A full rewrite (`SEARCH`: at start, then hourly from BigBrother, or `piw-rebuild
//! search`) reads every package and counts its downloads, which is costly on a large
//! download log. When the package list changes in between (a new package, a package
//! removed), the index is rewritten from the database's package list with the counts of
//! the last full rewrite (a new package has none yet), coalesced: at once if the index was
//! last written a window or more ago, else when the window since that write ends. So a
//! burst of thousands of new packages costs one rewrite per window, and the index is never
//! more than one window behind the package list.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use piwheels_db::Downloads;
use tokio::time::Instant;

/// What TheScribe keeps of the search index (see the module docs).
#[derive(Debug, Default)]
pub(super) struct SearchIndex {
    /// Each package's downloads as the last full rewrite counted them (packages without
    /// any left out).
    downloads: BTreeMap<String, Downloads>,
    /// The package list changed since the index was last written.
    stale: bool,
    /// When the index was last written, or its writing last failed.
    written: Option<Instant>,
}

impl SearchIndex {
    /// The package list changed: the index is owed a rewrite.
    pub(super) fn changed(&mut self) {
        self.stale = true;
    }

    /// When the owed rewrite is due (`None`: none is owed): `now` if the index was last
    /// written a window or more ago (or never), else a window after that write.
    pub(super) fn due(&self, window: Duration, now: Instant) -> Option<Instant> {
        if !self.stale {
            return None;
        }
        Some(self.written.map_or(now, |w| (w + window).max(now)))
    }

    /// Keeps the download counts of a full index.
    pub(super) fn keep(&mut self, index: &BTreeMap<String, Downloads>) {
        self.downloads = index
            .iter()
            .filter(|(_, d)| **d != Downloads::default())
            .map(|(p, d)| (p.clone(), *d))
            .collect();
    }

    /// The index of these packages, with the counts kept.
    pub(super) fn rows(&self, packages: BTreeSet<String>) -> BTreeMap<String, Downloads> {
        packages
            .into_iter()
            .map(|p| {
                let d = self.downloads.get(&p).copied().unwrap_or_default();
                (p, d)
            })
            .collect()
    }

    /// The index was written at `at` (`ok`), or its writing failed: either way the next
    /// rewrite waits a window, and a failed one stays owed.
    pub(super) fn wrote(&mut self, at: Instant, ok: bool) {
        self.written = Some(at);
        if ok {
            self.stale = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(60);

    #[test]
    fn first_change_at_once_then_once_per_window() {
        let t0 = Instant::now();
        let mut s = SearchIndex::default();
        assert_eq!(s.due(WINDOW, t0), None, "nothing changed");
        s.changed();
        assert_eq!(s.due(WINDOW, t0), Some(t0), "never written: at once");
        s.wrote(t0, true);
        assert_eq!(s.due(WINDOW, t0), None);
        // Changes within the window wait for its end, however many.
        let t1 = t0 + Duration::from_secs(5);
        for _ in 0..1000 {
            s.changed();
        }
        assert_eq!(s.due(WINDOW, t1), Some(t0 + WINDOW));
        s.wrote(t0 + WINDOW, true);
        // A change long after the last write goes at once.
        let t2 = t0 + WINDOW * 10;
        s.changed();
        assert_eq!(s.due(WINDOW, t2), Some(t2));
    }

    #[test]
    fn a_failed_write_stays_owed_for_the_next_window() {
        let t0 = Instant::now();
        let mut s = SearchIndex::default();
        s.changed();
        s.wrote(t0, false);
        assert_eq!(s.due(WINDOW, t0), Some(t0 + WINDOW));
        // A failed full rewrite with nothing owed owes nothing.
        let mut s = SearchIndex::default();
        s.wrote(t0, false);
        assert_eq!(s.due(WINDOW, t0), None);
    }

    #[test]
    fn rows_keep_the_last_counts() {
        let mut s = SearchIndex::default();
        let full: BTreeMap<String, Downloads> = [
            ("a".to_string(), Downloads { recent: 1, all: 5 }),
            ("b".to_string(), Downloads::default()),
            ("gone".to_string(), Downloads { recent: 0, all: 9 }),
        ]
        .into();
        s.keep(&full);
        let rows = s.rows(["a", "b", "new"].map(String::from).into());
        assert_eq!(
            rows.into_iter().collect::<Vec<_>>(),
            vec![
                ("a".to_string(), Downloads { recent: 1, all: 5 }),
                ("b".to_string(), Downloads::default()),
                ("new".to_string(), Downloads::default()),
            ]
        );
    }
}
