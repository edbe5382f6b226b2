//! Download figures read from the access log (`downloads`), for the pages people see: each
//! package's downloads in the last 30 days and ever, and the most downloaded packages.
//!
//! A download row names a file; the file's build names the package. A download of a file
//! the database does not know (or no longer knows: its package or version was deleted)
//! counts for no package, and breaks nothing.
//!
//! Every read goes from the packages asked for to their files, then to their downloads
//! through the index on `downloads(filename)`: a chunk of packages costs their own
//! downloads, never a scan of the whole log. The most downloaded packages are read from
//! the last 30 days' rows (the index on `downloads(accessed_at)`), counted per file before
//! the files are joined to their packages.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};

use crate::Database;
use crate::backend::{Conn, Value, params};
use crate::error::{Error, Result};
use crate::types::Downloads;

/// Packages counted in one statement (well within both backends' parameter limits).
const PACKAGES_PER_STATEMENT: usize = 500;

/// The most packages [`Database::top_projects`] returns.
pub const MAX_TOP_PROJECTS: usize = 1000;

/// Where "recent" starts: 30 days before `now`.
pub(crate) fn recent_since(now: DateTime<Utc>) -> DateTime<Utc> {
    now - TimeDelta::days(30)
}

/// Each of `packages`' downloads (in the last 30 days before `now`, and ever); a package
/// with none (or that does not exist) is left out.
pub(crate) fn downloads_of(
    c: &mut dyn Conn,
    packages: &[String],
    now: DateTime<Utc>,
) -> Result<BTreeMap<String, Downloads>> {
    let since = recent_since(now);
    let mut out = BTreeMap::new();
    for chunk in packages.chunks(PACKAGES_PER_STATEMENT) {
        let sql = format!(
            "SELECT b.package, \
                    CAST(COALESCE(SUM(CASE WHEN d.accessed_at > $1 THEN 1 ELSE 0 END), 0) AS BIGINT), \
                    COUNT(*) \
               FROM builds b \
               JOIN files f ON f.build_id = b.build_id \
               JOIN downloads d ON d.filename = f.filename \
              WHERE b.package IN ({}) \
              GROUP BY b.package",
            super::placeholders(2, chunk.len())
        );
        let mut values = vec![Value::Time(since)];
        values.extend(chunk.iter().map(|p| Value::Text(p)));
        c.query_each(&sql, &values, &mut |r| {
            let d = Downloads {
                recent: r.int(1)?,
                all: r.int(2)?,
            };
            out.insert(r.text(0)?, d);
            Ok(())
        })?;
    }
    Ok(out)
}

impl Database {
    /// Each package's downloads in the last 30 days and ever, in the order asked (zeros
    /// for a package without any, or that does not exist), read in one transaction.
    pub async fn package_downloads(&self, packages: &[String]) -> Result<Vec<Downloads>> {
        let packages = packages.to_vec();
        self.read("package_downloads", move |c| {
            let found = downloads_of(c, &packages, Utc::now())?;
            Ok(packages
                .iter()
                .map(|p| found.get(p).copied().unwrap_or_default())
                .collect())
        })
        .await
    }

    /// The `limit` packages downloaded most in the last 30 days (at most [`MAX_TOP_PROJECTS`]),
    /// most first (then by name), with their downloads in those 30 days; packages without
    /// any are left out.
    pub async fn top_projects(&self, limit: usize) -> Result<Vec<(String, i64)>> {
        if limit > MAX_TOP_PROJECTS {
            return Err(Error::invalid(
                "top_projects",
                format!("{limit} packages asked for; the limit is {MAX_TOP_PROJECTS}"),
            ));
        }
        let limit = i64::try_from(limit).unwrap_or(0);
        self.read("top_projects", move |c| {
            c.query_map(
                "SELECT b.package, CAST(SUM(r.n) AS BIGINT) AS n \
                   FROM (SELECT filename, COUNT(*) AS n FROM downloads \
                          WHERE accessed_at > $1 GROUP BY filename) r \
                   JOIN files f ON f.filename = r.filename \
                   JOIN builds b ON b.build_id = f.build_id \
                  GROUP BY b.package \
                  ORDER BY n DESC, b.package \
                  LIMIT $2",
                params![recent_since(Utc::now()), limit],
                |r| Ok((r.text(0)?, r.int(1)?)),
            )
        })
        .await
    }
}
