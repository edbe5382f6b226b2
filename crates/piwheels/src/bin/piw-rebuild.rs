//! `piw-rebuild`: asks a running master to write pages again.
//!
//! ```text
//! piw-rebuild [-y] [--import-queue ADDR] {home,search,project,index} [PACKAGE]
//! ```
//!
//! `home` is the homepage (and sitemaps), `search` the search index, `project` a
//! package's project page and JSON, `index` its simple page too. Without a package,
//! `project` and `index` rewrite every package's pages (after asking, unless `-y`).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::anyhow;
use clap::{Parser, ValueEnum};
use piwheels::master_keys::MasterKeyOpts;
use piwheels::{
    CommonOpts, DEFAULT_MASTER_TIMEOUT as DEFAULT_TIMEOUT, ask_master as ask, confirm, declined,
    fail, usage_error,
};
use piwheels_db::names;
use piwheels_protocol::import::{ImportReply, ImportRequest, RebuildTarget};

/// Which pages to write again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Part {
    /// The homepage and sitemaps.
    Home,
    /// The search index.
    Search,
    /// Project pages and project JSON.
    Project,
    /// Simple pages, project pages and project JSON.
    Index,
}

/// Write pages of the piwheels site again.
#[derive(Debug, Parser)]
#[command(name = "piw-rebuild", version, long_about = None)]
struct Opts {
    #[command(flatten)]
    common: CommonOpts,
    #[command(flatten)]
    keys: MasterKeyOpts,
    /// What to write again.
    #[arg(value_enum)]
    part: Part,
    /// The package (`project` and `index` only; omitted: every package).
    package: Option<String>,
    /// Proceed without asking.
    #[arg(short, long)]
    yes: bool,
    /// The master's import queue.
    #[arg(long, value_name = "ADDR", default_value = "ipc:///tmp/piw-import")]
    import_queue: String,
    /// How long to wait for the master's answer, in seconds.
    #[arg(long = "master-timeout", alias = "timeout", value_name = "SECS", default_value = DEFAULT_TIMEOUT)]
    timeout: u64,
}

fn main() -> ExitCode {
    let opts: Opts = piwheels::config::parse();
    piwheels::init_logging(&opts.common, false);
    let security = match opts.keys.security() {
        Ok(s) => s,
        Err(e) => return usage_error(e),
    };
    let package = match opts.package.as_deref().map(names::validate_name) {
        None => None,
        Some(Ok(name)) => Some(name.into_string()),
        Some(Err(e)) => return usage_error(e),
    };
    let target = match (opts.part, package) {
        (Part::Home, None) => RebuildTarget::Home,
        (Part::Search, None) => RebuildTarget::Search,
        (Part::Home | Part::Search, Some(_)) => {
            return usage_error(anyhow!("home and search take no PACKAGE"));
        }
        (Part::Project, p) => RebuildTarget::Project(p),
        (Part::Index, p) => RebuildTarget::Both(p),
    };
    let everything = matches!(
        target,
        RebuildTarget::Project(None) | RebuildTarget::Both(None)
    );
    if everything
        && !opts.yes
        && !confirm("This rewrites the pages of every package, which takes a while. Proceed?")
    {
        return declined();
    }
    let reply = match ask(
        (&opts.import_queue, security),
        Duration::from_secs(opts.timeout),
        &ImportRequest::Rebuild(target),
    ) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    match reply {
        ImportReply::Done(_) => {
            println!("the master is rewriting the pages");
            ExitCode::SUCCESS
        }
        ImportReply::Error(why) => fail(anyhow!(why)),
        ImportReply::Send(file) => {
            fail(anyhow!("the master asked for a file ({file}) unexpectedly"))
        }
    }
}

#[cfg(test)]
#[path = "legacy/piw_rebuild.rs"]
mod legacy_tests;
