//! What CloudGazer last read of the upstream index (schema 4): each project's serial and
//! `ETag`, and the project list's `ETag`. The upstream serial itself is in `misc.rs`.
//!
//! Stored in batches: [`Database::save_upstream_projects`] writes any number of projects
//! in one transaction, [`ROWS_PER_STATEMENT`] rows per statement, sent as one pipeline
//! (one round trip on PostgreSQL).

use std::collections::HashMap;

use super::{check_len, check_name, check_package, values_list};
use crate::Database;
use crate::backend::{Stmt, Value, params};
use crate::error::Result;
use crate::types::UpstreamProject;

/// The longest `ETag` stored (an index's are tens of characters; a longer one is not kept,
/// and the page is simply read in full next time).
pub const MAX_ETAG: usize = 1000;

/// Rows per `INSERT` of a batch (5 parameters each; both backends take far more).
const ROWS_PER_STATEMENT: usize = 500;

/// Refuses an `ETag` that cannot be stored.
fn check_etag(op: &'static str, etag: Option<&str>) -> Result<()> {
    match etag {
        Some(e) => check_len(op, "the ETag", e, MAX_ETAG, true),
        None => Ok(()),
    }
}

impl Database {
    /// Every project's stored upstream state, in no particular order.
    pub async fn upstream_projects(&self) -> Result<Vec<UpstreamProject>> {
        self.read("upstream_projects", |c| {
            c.query_map(
                "SELECT package, name, serial, etag, refused FROM upstream_projects",
                params![],
                |r| {
                    Ok(UpstreamProject {
                        package: r.text(0)?,
                        name: r.text(1)?,
                        serial: r.opt_int(2)?,
                        etag: r.opt_text(3)?,
                        // Stored as the signed integer of the same bits.
                        refused: r.int(4)?.cast_unsigned(),
                    })
                },
            )
        })
        .await
    }

    /// Stores the upstream state of these projects (replacing what was stored of each) in
    /// one transaction; of a project given twice, the last one counts. Nothing is stored if
    /// any is invalid: a package key that is not a canonical name, a name that is not one
    /// of its spellings, an empty `ETag` or one past [`MAX_ETAG`] characters.
    pub async fn save_upstream_projects(&self, projects: &[UpstreamProject]) -> Result<()> {
        let op = "save_upstream_projects";
        let mut last: HashMap<&str, &UpstreamProject> = HashMap::with_capacity(projects.len());
        for p in projects {
            check_package(op, &p.package)?;
            check_name(op, &p.package, &p.name)?;
            check_etag(op, p.etag.as_deref())?;
            last.insert(&p.package, p);
        }
        if last.is_empty() {
            return Ok(());
        }
        let rows: Vec<UpstreamProject> = last.into_values().cloned().collect();
        self.write(op, move |c| {
            let stmts: Vec<Stmt<'_>> = rows
                .chunks(ROWS_PER_STATEMENT)
                .map(|chunk| {
                    let sql = format!(
                        "INSERT INTO upstream_projects (package, name, serial, etag, refused) \
                         VALUES {} ON CONFLICT (package) DO UPDATE SET name = excluded.name, \
                         serial = excluded.serial, etag = excluded.etag, refused = excluded.refused",
                        values_list(chunk.len(), 5)
                    );
                    let params = chunk
                        .iter()
                        .flat_map(|p| {
                            [
                                Value::Text(&p.package),
                                Value::Text(&p.name),
                                p.serial.into(),
                                p.etag.as_deref().into(),
                                Value::Int(p.refused.cast_signed()),
                            ]
                        })
                        .collect();
                    Stmt::new(sql, params)
                })
                .collect();
            c.execute_then_commit(&stmts)
        })
        .await
    }

    /// Forgets the upstream state of these packages (gone upstream), in one transaction.
    pub async fn forget_upstream_projects(&self, packages: &[String]) -> Result<()> {
        let op = "forget_upstream_projects";
        if packages.is_empty() {
            return Ok(());
        }
        let packages = packages.to_vec();
        self.write(op, move |c| {
            let stmts: Vec<Stmt<'_>> = packages
                .chunks(ROWS_PER_STATEMENT)
                .map(|chunk| {
                    Stmt::new(
                        format!(
                            "DELETE FROM upstream_projects WHERE package IN ({})",
                            super::placeholders(1, chunk.len())
                        ),
                        chunk.iter().map(|p| Value::Text(p)).collect(),
                    )
                })
                .collect();
            c.execute_then_commit(&stmts)
        })
        .await
    }

    /// The project list's stored `ETag`.
    pub async fn upstream_list_etag(&self) -> Result<Option<String>> {
        self.read("upstream_list_etag", |c| {
            Ok(c.query_opt(
                "SELECT etag FROM upstream_list WHERE id = 1",
                params![],
                |r| r.opt_text(0),
            )?
            .flatten())
        })
        .await
    }

    /// Stores the project list's `ETag` (`None` forgets it: the list is read in full next
    /// time). Refuses an empty one or one past [`MAX_ETAG`] characters.
    pub async fn set_upstream_list_etag(&self, etag: Option<&str>) -> Result<()> {
        let op = "set_upstream_list_etag";
        check_etag(op, etag)?;
        let etag = etag.map(str::to_owned);
        self.write(op, move |c| {
            c.execute(
                "INSERT INTO upstream_list (id, etag) VALUES (1, $1) \
                 ON CONFLICT (id) DO UPDATE SET etag = excluded.etag",
                params![etag.as_deref()],
            )
            .map(drop)
        })
        .await
    }
}
