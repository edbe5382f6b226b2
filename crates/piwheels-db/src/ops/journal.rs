//! The journal of page rewrites the web output owes (`rewrites_pending`).
//!
//! Every operation that changes what a package's pages show records the rewrite it owes
//! in the same transaction as the change ([`owe`]): the change and the debt commit
//! together, or neither does. So a master killed between committing a change and writing
//! its pages finds the debt at its next start, and writes the pages then.
//!
//! Each row carries a generation, bumped by every change. The writer of the pages reads the
//! generations *before* it reads what it renders ([`Database::rewrite_generations`]), and
//! afterwards clears only the rows still at those generations
//! ([`Database::clear_rewrites`]): a change committed meanwhile leaves its row, and its
//! pages are written again.

use std::collections::HashMap;

use chrono::Utc;

use super::placeholders;
use crate::Database;
use crate::backend::{Conn, Stmt, Value, params};
use crate::error::Result;
use crate::types::{PendingRewrite, RewriteCommand};

/// Rows per statement when many are read or cleared at once.
const CHUNK: usize = 500;

/// The statement that records a rewrite of `package`'s pages as owed: a new row, or the
/// existing one with its generation bumped (and its command raised to `BOTH` if either is).
/// The first request's time is kept, as TheSecretary's windows count from it.
pub(crate) fn owe(package: &str, command: RewriteCommand) -> Stmt<'_> {
    Stmt::new(
        "INSERT INTO rewrites_pending (package, added_at, command, gen) VALUES ($1, $2, $3, 1) \
         ON CONFLICT (package) DO UPDATE SET gen = rewrites_pending.gen + 1, \
             command = CASE WHEN rewrites_pending.command = 'BOTH' THEN 'BOTH' \
                            ELSE excluded.command END",
        vec![
            Value::Text(package),
            Value::Time(Utc::now()),
            Value::Text(command.as_str()),
        ],
    )
}

/// Records, in the caller's transaction, a rewrite of `package`'s pages as owed (see
/// [`owe`]).
pub(crate) fn owe_now(c: &mut dyn Conn, package: &str, command: RewriteCommand) -> Result<()> {
    let o = owe(package, command);
    c.execute(&o.sql, &o.params)?;
    Ok(())
}

/// What a failed or successful build owes: the simple page too when it has wheels.
pub(crate) fn command_for(files: bool) -> RewriteCommand {
    if files {
        RewriteCommand::Both
    } else {
        RewriteCommand::Project
    }
}

impl Database {
    /// Records page rewrites as owed (merged with those already recorded), for work that is
    /// not a change of the database: a page rewrite asked for by an admin tool, or pages
    /// the start-up check found missing.
    pub async fn owe_rewrites(&self, rewrites: &[(String, RewriteCommand)]) -> Result<()> {
        let op = "owe_rewrites";
        for (package, _) in rewrites {
            super::check_package(op, package)?;
        }
        if rewrites.is_empty() {
            return Ok(());
        }
        let rewrites = rewrites.to_vec();
        self.write(op, move |c| {
            let stmts: Vec<Stmt<'_>> = rewrites.iter().map(|(p, cmd)| owe(p, *cmd)).collect();
            c.execute_then_commit(&stmts)
        })
        .await
    }

    /// The generation of each of these packages' owed rewrites (packages that owe nothing
    /// are left out). Read it *before* reading what the pages are made of; see
    /// [`clear_rewrites`](Self::clear_rewrites).
    pub async fn rewrite_generations(&self, packages: &[String]) -> Result<HashMap<String, i64>> {
        let packages = packages.to_vec();
        self.read("rewrite_generations", move |c| {
            let mut out = HashMap::new();
            for chunk in packages.chunks(CHUNK) {
                let sql = format!(
                    "SELECT package, gen FROM rewrites_pending WHERE package IN ({})",
                    placeholders(1, chunk.len())
                );
                let values: Vec<Value<'_>> = chunk.iter().map(|p| Value::Text(p)).collect();
                c.query_each(&sql, &values, &mut |r| {
                    out.insert(r.text(0)?, r.int(1)?);
                    Ok(())
                })?;
            }
            Ok(out)
        })
        .await
    }

    /// Clears owed rewrites that have been written: each (package, generation) read by
    /// [`rewrite_generations`](Self::rewrite_generations) before the pages were rendered.
    /// A row changed since (a higher generation) stays. Returns how many were cleared.
    pub async fn clear_rewrites(&self, done: &[(String, i64)]) -> Result<u64> {
        if done.is_empty() {
            return Ok(0);
        }
        let done = done.to_vec();
        self.write("clear_rewrites", move |c| {
            let mut cleared = 0;
            for chunk in done.chunks(CHUNK) {
                let stmts: Vec<Stmt<'_>> = chunk
                    .iter()
                    .map(|(p, g)| {
                        Stmt::new(
                            "DELETE FROM rewrites_pending WHERE package = $1 AND gen = $2",
                            vec![Value::Text(p), Value::Int(*g)],
                        )
                    })
                    .collect();
                cleared += c.pipeline(&stmts, &mut |_, _| Ok(()))?.iter().sum::<u64>();
            }
            Ok(cleared)
        })
        .await
    }

    /// Adds TheSecretary's held rewrites to the owed ones (at shutdown), merged with what
    /// is already recorded: nothing recorded is dropped, a package's command is raised to
    /// `BOTH` if either is, and the earlier request time is kept.
    pub async fn save_rewrites_pending(&self, rewrites: &[PendingRewrite]) -> Result<()> {
        let op = "save_rewrites_pending";
        for r in rewrites {
            super::check_package(op, &r.package)?;
        }
        if rewrites.is_empty() {
            return Ok(());
        }
        let rewrites = rewrites.to_vec();
        self.write(op, move |c| {
            let stmts: Vec<Stmt<'_>> = rewrites
                .iter()
                .map(|r| {
                    Stmt::new(
                        "INSERT INTO rewrites_pending (package, added_at, command, gen) \
                         VALUES ($1, $2, $3, 1) \
                         ON CONFLICT (package) DO UPDATE SET gen = rewrites_pending.gen + 1, \
                             added_at = CASE WHEN excluded.added_at < rewrites_pending.added_at \
                                             THEN excluded.added_at ELSE rewrites_pending.added_at END, \
                             command = CASE WHEN rewrites_pending.command = 'BOTH' THEN 'BOTH' \
                                            ELSE excluded.command END",
                        vec![
                            Value::Text(&r.package),
                            Value::Time(r.added_at),
                            Value::Text(r.command.as_str()),
                        ],
                    )
                })
                .collect();
            c.execute_then_commit(&stmts)
        })
        .await
    }

    /// The owed page rewrites, oldest first (TheSecretary, at start; TheScribe, when it
    /// retries after a failure).
    pub async fn load_rewrites_pending(&self) -> Result<Vec<PendingRewrite>> {
        self.read("load_rewrites_pending", |c| {
            c.query_map(
                "SELECT package, added_at, command FROM rewrites_pending ORDER BY added_at, package",
                params![],
                |r| {
                    let command = match r.text(2)?.as_str() {
                        "PROJECT" => RewriteCommand::Project,
                        "BOTH" => RewriteCommand::Both,
                        other => {
                            return Err(crate::Error::corrupt(
                                "load_rewrites_pending",
                                format!("rewrite command {other:?}"),
                            ));
                        }
                    };
                    Ok(PendingRewrite {
                        package: r.text(0)?,
                        added_at: r.time(1)?,
                        command,
                    })
                },
            )
        })
        .await
    }
}
