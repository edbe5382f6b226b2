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

use std::process::ExitCode;

use clap::Parser;
use piwheels::{CommonOpts, DEFAULT_DSN, confirm, declined, fail, redact_dsn};
use piwheels_db::admin::Admin;
use piwheels_db::schema::{SCHEMA_VERSION, SchemaState};
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

fn parse_target(s: &str) -> Result<Target, String> {
    match s.split_once('/') {
        Some((abi, platform))
            if !abi.is_empty() && !platform.is_empty() && !platform.contains('/') =>
        {
            Ok(Target::new(abi, platform))
        }
        _ => Err(format!(
            "{s:?} is not ABI/PLATFORM (such as cp311/linux_armv7l)"
        )),
    }
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

async fn run(opts: &Opts) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let shown = redact_dsn(&opts.dsn);
    // A missing SQLite file is an empty database; it is only created once agreed to.
    let sqlite = piwheels_db::sqlite_path(&opts.dsn);
    let missing = sqlite.as_ref().is_some_and(|p| !p.exists());
    let (state, kind, doomed) = if missing {
        (SchemaState::Empty, Kind::Sqlite, Vec::new())
    } else {
        let admin = Admin::connect(&opts.dsn).await?;
        let state = admin.state().await?;
        // What the upgrade would remove: rows that break rules the new schema keeps.
        let doomed = if state.plan().is_ok_and(|p| !p.is_empty()) {
            admin.pending_removals().await?
        } else {
            Vec::new()
        };
        (state, admin.kind(), doomed)
    };
    tracing::info!("{shown}: {state:?}");
    let plan = state.plan()?;
    let user = (kind == Kind::Postgres).then_some(opts.user.as_str());

    let mut changes: Vec<String> = Vec::new();
    let dir = sqlite
        .as_ref()
        .and_then(|p| p.parent())
        .filter(|d| !d.as_os_str().is_empty() && !d.exists());
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
    changes.extend(
        new_targets
            .iter()
            .map(|t| format!("enable the build target {t}")),
    );

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
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
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
    let done = upgrade.versions;
    let db = Database::open(&opts.dsn).await?;
    for t in &new_targets {
        db.add_build_target(t).await?;
    }
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
    Ok(ExitCode::SUCCESS)
}
