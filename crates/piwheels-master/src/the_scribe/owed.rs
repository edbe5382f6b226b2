//! What TheScribe owes after a failure (a full disk): written again after [`RETRY`]
//! (doubling to [`MAX_RETRY`]), or at once when the disk guard says there is space again.

use piwheels_db::RewriteCommand;

use super::{BATCH, TheScribe, write_statics};

/// How long after a failed write what is owed is written again (doubling each time).
pub const RETRY: std::time::Duration = std::time::Duration::from_secs(15);

/// The longest wait between two retries.
pub const MAX_RETRY: std::time::Duration = std::time::Duration::from_secs(300);

/// Most build logs kept in memory while they cannot be written.
pub(super) const MAX_OWED_LOGS: usize = 1000;

/// What failed to be written and is owed, beside the package pages the database records.
#[derive(Debug, Default)]
pub(super) struct Owed {
    /// The fixed pages and static assets.
    pub(super) statics: bool,
    /// The root index.
    pub(super) root: bool,
    /// The homepage (BigBrother is asked for new statistics).
    pub(super) home: bool,
    /// Package pages (the database's journal says which).
    pub(super) pages: bool,
    /// Build logs, by build id.
    pub(super) logs: std::collections::BTreeMap<i64, String>,
}

impl Owed {
    pub(super) fn any(&self) -> bool {
        self.statics || self.root || self.home || self.pages || !self.logs.is_empty()
    }
}

impl TheScribe {
    /// Notes something owed, and schedules a retry if none is due.
    pub(super) fn owe(&mut self, f: impl FnOnce(&mut Owed)) {
        f(&mut self.owed);
        if self.retry.is_none() {
            self.retry = Some((tokio::time::Instant::now() + RETRY, RETRY));
        }
    }
    /// Writes again what failed (see the module docs); schedules the next try if something
    /// still fails.
    pub async fn retry_owed(&mut self) {
        let owed = std::mem::take(&mut self.owed);
        let backoff = self.retry.map_or(RETRY, |(_, d)| d);
        self.retry = None;
        if owed.statics
            && let Err(e) = write_statics(&self.hub.output, &self.site)
        {
            tracing::warn!(error = %e, "still cannot write the fixed pages");
            self.owed.statics = true;
        }
        if owed.root
            && let Err(e) = self.write_root().await
        {
            tracing::warn!(error = %e, "still cannot write the root index");
            self.owed.root = true;
        }
        if owed.home {
            // BigBrother has the statistics: it answers with a HOME request.
            self.hub.stat(crate::hub::StatsMessage::Home);
        }
        for (build_id, log) in owed.logs {
            if let Err(e) = self.write_log(build_id, log.clone()).await {
                tracing::warn!(build_id, error = %e, "still cannot write a build log");
                self.owed.logs.insert(build_id, log);
            }
        }
        if owed.pages {
            match self.hub.db.load_rewrites_pending().await {
                Ok(all) => {
                    tracing::info!(packages = all.len(), "writing the pages still owed");
                    for chunk in all.chunks(BATCH) {
                        let jobs = chunk
                            .iter()
                            .map(|r| (r.package.clone(), r.command == RewriteCommand::Both))
                            .collect();
                        if self.rewrite(jobs).await.iter().any(Result::is_err) {
                            self.owed.pages = true;
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the pages owed");
                    self.owed.pages = true;
                }
            }
        }
        if self.owed.any() {
            let next = (backoff * 2).min(MAX_RETRY);
            self.retry = Some((tokio::time::Instant::now() + backoff, next));
        } else {
            tracing::info!("everything owed to the output is written");
        }
    }
}
