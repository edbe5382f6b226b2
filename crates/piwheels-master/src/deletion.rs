//! Deleting a package, a version or builds in two steps, so TheScribe can still find the
//! files it must remove: the rows are first marked skipped ([`DELETED`]), so nothing builds
//! or shows them, the web requests go out, and the rows themselves are deleted a grace
//! period later ([`delete_later`]). MrChase (the admin tools' `piw-remove`, `piw-rebuild`)
//! and CloudGazer (what upstream deleted) both use it; neither owns it.

use std::time::Duration;

use crate::hub::{Hub, WebRequest};

/// How long deleted rows are kept (marked skipped `deleted`) after TheScribe has been
/// asked to remove their files, so it can still read which files those are.
pub const DELETE_GRACE: Duration = Duration::from_secs(10);

/// The skip reason of rows awaiting deletion.
pub const DELETED: &str = "deleted";

/// Rows to delete once TheScribe has removed their files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deletion {
    /// A package with everything of it.
    Package(String),
    /// A version with everything of it.
    Version(String, String),
    /// The builds of these versions of a package (the pages are rewritten afterwards).
    Builds(String, Vec<String>),
}

/// Deletes `what` after `grace`, on a task of its own, then asks for the pages once more
/// (a rewrite asked for during the grace period may have shown the rows again); a failure
/// is logged (the rows stay skipped, and CloudGazer finds them again if upstream lost
/// them).
pub fn delete_later(hub: &Hub, grace: Duration, what: Deletion) {
    let hub = hub.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = tokio::time::sleep(grace) => {}
            () = hub.quit.cancelled() => return,
        }
        // A page rewrite asked for in the meantime may have shown the rows again: the
        // pages are brought in line once more after they go.
        let result = match &what {
            Deletion::Package(p) => hub.db.delete_package(p).await.map(|_| {
                hub.web(WebRequest::DeletePackage(p.clone()));
            }),
            Deletion::Version(p, v) => hub.db.delete_version(p, v).await.map(|_| {
                hub.web(WebRequest::Both(p.clone()));
            }),
            Deletion::Builds(p, versions) => {
                let mut result = Ok(());
                for v in versions {
                    if let Err(e) = hub.db.delete_build(p, v).await {
                        result = Err(e);
                        break;
                    }
                }
                if result.is_ok() {
                    hub.web(WebRequest::Both(p.clone()));
                    hub.queue_changed.notify_one();
                }
                result
            }
        };
        match result {
            Ok(()) => tracing::info!(task = "deletion", ?what, "deleted"),
            Err(e) => tracing::error!(task = "deletion", ?what, error = %e, "deleting failed"),
        }
    });
}
