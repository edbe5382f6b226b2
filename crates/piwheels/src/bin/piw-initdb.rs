//! `piw-initdb`: creates or upgrades a piwheels database, and enables build targets.
//!
//! ```text
//! piw-initdb [-d DSN] [-u USER] [--target ABI/PLATFORM]... [-y]
//! ```
//!
//! The database is an SQLite file (`sqlite:/path`, the default being
//! `sqlite:/var/lib/piwheels/piwheels.db`) or a PostgreSQL server (a `postgres://` URL or a
//! libpq `key=value` string). On PostgreSQL, connect as a superuser: the schema belongs to
//! it, and the master's user (`--user`, default `piwheels`), which must already exist, is
//! granted what the master needs and no more. Nothing changes until you agree (or give
//! `-y`).
//!
//! An upgrade that adds a rule (schema version 2 keeps the package name and version rules)
//! removes the rows an older database holds that break it: nothing could ever be served
//! from them. It lists them before it asks, and prints `removed ...` for each once done.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use piwheels::{CommonOpts, DEFAULT_DSN, confirm, declined, fail, parse_target, redact_dsn};
use piwheels_db::admin::Admin;
use piwheels_db::schema::{Migration, Removed, SCHEMA_VERSION, SchemaState};
use piwheels_db::{Database, Kind, Target};

/// How many of the rows an upgrade would remove are listed before it asks (all are
/// listed once removed).
const SHOWN: usize = 20;

/// Create or upgrade a piwheels database.
#[derive(Debug, Parser)]
#[command(name = "piw-initdb", version, about, long_about = None)]
struct Opts {
    #[command(flatten)]
    common: CommonOpts,
    /// The database: an SQLite file (sqlite:/path) or a PostgreSQL address, as a superuser.
    #[arg(short, long, default_value = DEFAULT_DSN)]
    dsn: String,
    /// PostgreSQL only: the (existing, unprivileged) user the master connects as.
    #[arg(short, long, default_value = "piwheels")]
    user: String,
    /// Enable a build target: a slave's ABI and platform, such as cp311/linux_armv7l
    /// (repeatable).
    #[arg(long = "target", value_name = "ABI/PLATFORM", value_parser = parse_target)]
    targets: Vec<Target>,
    /// Proceed without asking.
    #[arg(short, long)]
    yes: bool,
    /// Log everything.
    #[arg(long)]
    debug: bool,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let opts: Opts = piwheels::config::parse();
    piwheels::init_logging(&opts.common, opts.debug);
    match run(&opts).await {
        Ok(code) => code,
        Err(e) => fail(e),
    }
}

/// What the database is now.
struct Found {
    state: SchemaState,
    kind: Kind,
    /// What the upgrade would remove: rows that break rules the new schema keeps.
    doomed: Vec<Removed>,
}

/// Looks at the database (`missing`: an SQLite file that does not exist yet, which is
/// an empty database and is only created once agreed to).
async fn inspect(dsn: &str, missing: bool) -> anyhow::Result<Found> {
    if missing {
        return Ok(Found {
            state: SchemaState::Empty,
            kind: Kind::Sqlite,
            doomed: Vec::new(),
        });
    }
    let admin = Admin::connect(dsn).await?;
    let state = admin.state().await?;
    let doomed = if state.plan().is_ok_and(|p| !p.is_empty()) {
        admin.pending_removals().await?
    } else {
        Vec::new()
    };
    Ok(Found {
        state,
        kind: admin.kind(),
        doomed,
    })
}

/// The changes to ask about, one line each: the directory to create, the migrations,
/// the rows they remove (the first few), the build targets to enable.
fn changes(
    dir: Option<&Path>,
    plan: &[Migration],
    doomed: &[Removed],
    new_targets: &[&Target],
) -> Vec<String> {
    let mut changes: Vec<String> = Vec::new();
    if let Some(dir) = dir {
        changes.push(format!("create the directory {}", dir.display()));
    }
    changes.extend(
        plan.iter()
            .map(|m| format!("schema version {}: {}", m.version, m.description)),
    );
    if !doomed.is_empty() {
        changes.push(format!(
            "remove {} row(s) that break the package name and version rules:",
            doomed.len()
        ));
        changes.extend(doomed.iter().take(SHOWN).map(|r| format!("    {r}")));
        if doomed.len() > SHOWN {
            changes.push(format!("    ... and {} more", doomed.len() - SHOWN));
        }
    }
    changes.extend(
        new_targets
            .iter()
            .map(|t| format!("enable the build target {t}")),
    );
    changes
}

async fn run(opts: &Opts) -> anyhow::Result<ExitCode> {
    let shown = redact_dsn(&opts.dsn);
    let sqlite = piwheels_db::sqlite_path(&opts.dsn);
    let missing = sqlite.as_ref().is_some_and(|p| !p.exists());
    let Found {
        state,
        kind,
        doomed,
    } = inspect(&opts.dsn, missing).await?;
    tracing::info!("{shown}: {state:?}");
    let plan = state.plan()?;
    let user = (kind == Kind::Postgres).then_some(opts.user.as_str());
    let dir = sqlite
        .as_ref()
        .and_then(|p| p.parent())
        .filter(|d| !d.as_os_str().is_empty() && !d.exists());
    let current_targets: Vec<Target> = if plan.is_empty() {
        Database::open(&opts.dsn)
            .await?
            .build_targets()
            .await?
            .into_iter()
            .map(|(t, _)| t)
            .collect()
    } else {
        Vec::new()
    };
    let new_targets: Vec<&Target> = opts
        .targets
        .iter()
        .filter(|t| !current_targets.contains(t))
        .collect();
    let changes = changes(dir, plan, &doomed, &new_targets);
    if !changes.is_empty() && !opts.yes {
        eprintln!("piw-initdb will change {shown}:");
        for c in &changes {
            eprintln!("  - {c}");
        }
        if let Some(user) = user {
            eprintln!("  - grant {user:?} what the master needs (rows, not the schema)");
        }
        if !confirm("Proceed?") {
            return Ok(declined());
        }
    }
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    // On PostgreSQL the grants are renewed every time (a new table gets them too).
    let upgrade = Admin::connect(&opts.dsn).await?.upgrade(user).await?;
    for v in &upgrade.versions {
        tracing::info!("migrated to schema version {v}");
    }
    // Every row removed is said, once it is gone, on the standard output.
    for r in &upgrade.removed {
        println!("removed {r}");
    }
    let db = Database::open(&opts.dsn).await?;
    for t in &new_targets {
        db.add_build_target(t).await?;
    }
    say_done(&shown, &db, &upgrade.versions).await?;
    Ok(ExitCode::SUCCESS)
}

/// Says, on the standard output, the schema version (and whether it was `done` now) and
/// the build targets.
async fn say_done(shown: &str, db: &Database, done: &[i64]) -> anyhow::Result<()> {
    let targets: Vec<String> = db
        .build_targets()
        .await?
        .into_iter()
        .map(|(t, skip)| {
            if skip.is_empty() {
                t.to_string()
            } else {
                format!("{t} (skipped: {skip})")
            }
        })
        .collect();
    println!(
        "{shown}: schema version {SCHEMA_VERSION}{}; build targets: {}",
        if done.is_empty() {
            " (already current)"
        } else {
            ""
        },
        if targets.is_empty() {
            "none (enable some with --target ABI/PLATFORM)".to_owned()
        } else {
            targets.join(", ")
        }
    );
    Ok(())
}

#[cfg(test)]
#[path = "legacy/piw_initdb.rs"]
mod legacy_tests;
