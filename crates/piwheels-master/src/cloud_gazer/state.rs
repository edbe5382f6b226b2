//! CloudGazer's state in the database (schema 4), so that a restarted master asks only for
//! what changed: each project's last serial and `ETag` (with the spelling of its name last
//! recorded and the fingerprint of its refused versions), and the project list's `ETag`.
//!
//! The state is loaded once, at the first poll: one compact entry per project (`Known`: a
//! boxed key and `ETag`, the name only when it is not the canonical one; by its layout
//! about 190 bytes with the hash map's spare room and the allocator's rounding, some
//! 110 MiB for 600,000 projects with 13-character names and 24-character ETags, where
//! the first layout measured 300 bytes and 170 MiB). A project's new state is stored only after
//! its changes were applied, in batches of at most [`STORE_BATCH`] projects (one
//! transaction each), and whenever the next page is not ready yet: a master killed in the
//! middle of a poll has stored every page it applied while it waited, and reads again only
//! the others (and at most one batch it was busy with). The list's `ETag` is stored only
//! once every page it named was read.

use piwheels_db::{MAX_ETAG, UpstreamProject};

use super::{CloudGazer, Known, Seen};
use crate::error::Result;

/// The most projects stored in one transaction.
pub(super) const STORE_BATCH: usize = 500;

/// An `ETag` worth keeping: one the database can store (else the page is read in full
/// next time).
pub(super) fn keepable(etag: Option<String>) -> Option<String> {
    etag.filter(|e| !e.is_empty() && e.chars().count() <= MAX_ETAG && !e.contains('\0'))
}

impl CloudGazer {
    /// Loads the stored state, once.
    pub(super) async fn load_state(&mut self) -> Result<()> {
        if self.loaded {
            return Ok(());
        }
        let db = &self.hub.db;
        let projects = db.upstream_projects().await?;
        self.seen.reserve(projects.len());
        for p in projects {
            let seen = Seen {
                serial: p.serial,
                etag: p.etag,
                name: p.name,
                refused: p.refused,
            };
            let known = Known::new(&p.package, seen);
            self.seen.insert(p.package.into_boxed_str(), known);
        }
        self.list_etag = db.upstream_list_etag().await?;
        self.stored_list_etag = self.list_etag.clone();
        self.loaded = true;
        tracing::debug!(
            task = "cloud_gazer",
            projects = self.seen.len(),
            "loaded the upstream state"
        );
        Ok(())
    }

    /// Records what was read of a project whose changes are applied (stored at the next
    /// [`store_state`](Self::store_state)).
    pub(super) fn note(&mut self, canon: String, seen: Seen) {
        self.unstored.push(UpstreamProject {
            package: canon.clone(),
            name: seen.name.clone(),
            serial: seen.serial,
            etag: seen.etag.clone(),
            refused: seen.refused,
        });
        let known = Known::new(&canon, seen);
        self.seen.insert(canon.into_boxed_str(), known);
    }

    /// Stores what was noted; with `all` false, only once a batch is full.
    pub(super) async fn store_state(&mut self, all: bool) -> Result<()> {
        if self.unstored.is_empty() || (!all && self.unstored.len() < STORE_BATCH) {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.unstored);
        self.hub.db.save_upstream_projects(&batch).await?;
        Ok(())
    }

    /// Forgets a project gone upstream.
    pub(super) async fn forget(&mut self, canon: &str) -> Result<()> {
        self.seen.remove(canon);
        self.unstored.retain(|p| p.package != canon);
        self.hub
            .db
            .forget_upstream_projects(&[canon.to_owned()])
            .await?;
        Ok(())
    }

    /// Keeps the project list's `ETag` (none: the list is read in full next time), and
    /// stores it if it changed.
    pub(super) async fn keep_list_etag(&mut self, etag: Option<String>) -> Result<()> {
        self.list_etag = keepable(etag);
        if self.list_etag != self.stored_list_etag {
            self.hub
                .db
                .set_upstream_list_etag(self.list_etag.as_deref())
                .await?;
            self.stored_list_etag = self.list_etag.clone();
        }
        Ok(())
    }
}
