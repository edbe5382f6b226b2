//! `piw-add`: adds a package, or a version of one, to a running master's database, or
//! changes one (skip, description, aliases, release time, yanked).
//!
//! ```text
//! piw-add [-y] [-s REASON | --unskip] [-d TEXT] [-a NAME]... [-r "YYYY-MM-DD HH:MM:SS"]
//!         [--yank | --unyank] [--import-queue ADDR] PACKAGE [VERSION]
//! ```
//!
//! The name must follow the packaging name rule (ASCII letters, digits, `.`, `_` and `-`,
//! starting and ending with a letter or digit), and the version must have no path
//! separator, whitespace or control character; anything else is refused before the master
//! is asked. A version that is not PEP 440 is taken by the master only if the upstream
//! index lists it.
//!
//! It asks the master's MrChase on the import queue (`ipc:///tmp/piw-import` by default),
//! so the master's pages and build queue follow at once. A VERSION of a package the master
//! does not know yet adds the package first.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, NaiveDateTime, Utc};
use clap::Parser;
use piwheels::master_keys::MasterKeyOpts;
use piwheels::{
    CommonOpts, DEFAULT_MASTER_TIMEOUT as DEFAULT_TIMEOUT, ask_master as ask, confirm, declined,
    fail, usage_error,
};
use piwheels_db::{canonicalize_name, names};
use piwheels_protocol::import::{AddPackage, AddVersion, ImportReply, ImportRequest};

/// Add a package or version to the piwheels database, or update one.
#[derive(Debug, Parser)]
#[command(name = "piw-add", version, long_about = None)]
struct Opts {
    #[command(flatten)]
    common: CommonOpts,
    #[command(flatten)]
    keys: MasterKeyOpts,
    /// The package's name.
    package: String,
    /// The version (omit it to add or update the package alone).
    #[arg(value_name = "VERSION")]
    package_version: Option<String>,
    /// Proceed without asking.
    #[arg(short, long)]
    yes: bool,
    /// Skip it (it is not built) for this reason.
    #[arg(short, long, value_name = "REASON", default_value = "")]
    skip: String,
    /// Build it again (clear its skip reason).
    #[arg(long, conflicts_with = "skip")]
    unskip: bool,
    /// The package's description.
    #[arg(short, long, value_name = "TEXT", default_value = "")]
    description: String,
    /// Another spelling of the package's name (repeatable); it must canonicalise to the
    /// package's name.
    #[arg(short, long = "alias", value_name = "NAME")]
    aliases: Vec<String>,
    /// When the version was released, in UTC (default: now).
    #[arg(short, long, value_name = "\"YYYY-MM-DD HH:MM:SS\"", value_parser = parse_released)]
    released: Option<DateTime<Utc>>,
    /// Mark the version yanked.
    #[arg(long, conflicts_with = "unyank")]
    yank: bool,
    /// Clear the version's yanked mark.
    #[arg(long)]
    unyank: bool,
    /// The master's import queue.
    #[arg(long, value_name = "ADDR", default_value = "ipc:///tmp/piw-import")]
    import_queue: String,
    /// How long to wait for the master's answer, in seconds.
    #[arg(long = "master-timeout", alias = "timeout", value_name = "SECS", default_value = DEFAULT_TIMEOUT)]
    timeout: u64,
}

/// A `--released` that is not a time.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a time such as \"2024-01-31 12:00:00\"")]
struct BadTime(String);

fn parse_released(s: &str) -> Result<DateTime<Utc>, BadTime> {
    let s = s.trim();
    for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    Err(BadTime(s.to_owned()))
}

/// The request, or why the options do not make one (a usage error): the name, aliases
/// and version are checked against the rules (`piwheels_db::names`) before anything is
/// sent.
fn request(opts: &Opts) -> anyhow::Result<ImportRequest> {
    let name = names::validate_name(&opts.package)?;
    let canon = name.canonical();
    for alias in &opts.aliases {
        names::validate_alias(alias, &canon).context("the alias")?;
    }
    match &opts.package_version {
        None => {
            if opts.yank || opts.unyank || opts.released.is_some() {
                bail!("--yank, --unyank and --released need a VERSION");
            }
            Ok(ImportRequest::AddPackage(AddPackage {
                package: name.into_string(),
                description: opts.description.clone(),
                skip: opts.skip.clone(),
                unskip: opts.unskip,
                aliases: opts.aliases.clone(),
            }))
        }
        Some(version) => {
            let version = names::validate_version(version)?;
            if !names::is_pep440(&version) {
                eprintln!(
                    "warning: {:?} is not a PEP 440 version; the master takes it only if the \
                     upstream index lists it for {canon}",
                    version.as_str()
                );
            }
            Ok(ImportRequest::AddVersion(AddVersion {
                package: name.into_string(),
                version: version.into_string(),
                skip: opts.skip.clone(),
                unskip: opts.unskip,
                released: opts.released.unwrap_or_else(Utc::now),
                yank: opts.yank,
                unyank: opts.unyank,
                aliases: opts.aliases.clone(),
            }))
        }
    }
}

/// What a reply means, in words.
fn explain(opts: &Opts, reply: &ImportReply) -> anyhow::Result<String> {
    let package = canonicalize_name(opts.package.trim());
    let version = opts.package_version.as_deref().unwrap_or("").trim();
    match reply {
        ImportReply::Done(what) => Ok(match what.as_str() {
            "NEWPKG" => format!("added package {package}"),
            "UPDPKG" => format!("updated package {package}"),
            "NEWVER" => format!("added version {package} {version}"),
            "UPDVER" => format!("updated version {package} {version}"),
            other => format!("done: {other}"),
        }),
        ImportReply::Error(why) => Err(anyhow!(match why.as_str() {
            "SKIPPKG" => format!("{package} exists already; skip it with piw-remove --skip"),
            "SKIPVER" => {
                format!("{package} {version} exists already; skip it with piw-remove --skip")
            }
            "YANKVER" => {
                format!("{package} {version} exists already; yank it with piw-remove --yank")
            }
            "NOPKG" => format!("there is no package {package}"),
            other => other.to_owned(),
        })),
        ImportReply::Send(file) => bail!("the master asked for a file ({file}) unexpectedly"),
    }
}

fn main() -> ExitCode {
    let opts: Opts = piwheels::config::parse();
    piwheels::init_logging(&opts.common, false);
    let security = match opts.keys.security() {
        Ok(s) => s,
        Err(e) => return usage_error(e),
    };
    let request = match request(&opts) {
        Ok(r) => r,
        Err(e) => return usage_error(e),
    };
    if !opts.yes && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        let what = match &opts.package_version {
            Some(v) => format!("Add or update {} {v}?", opts.package),
            None => format!("Add or update the package {}?", opts.package),
        };
        if !confirm(&what) {
            return declined();
        }
    }
    let timeout = Duration::from_secs(opts.timeout);
    let mut reply = match ask((&opts.import_queue, security), timeout, &request) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    // A version of a package the master does not know yet: add the package, then the
    // version (the original made the operator run piw-add twice).
    if matches!(&reply, ImportReply::Error(why) if why == "NOPKG") {
        let add_package = ImportRequest::AddPackage(AddPackage {
            package: opts.package.trim().to_owned(),
            description: opts.description.clone(),
            skip: String::new(),
            unskip: false,
            aliases: opts.aliases.clone(),
        });
        match ask((&opts.import_queue, security), timeout, &add_package) {
            Ok(ImportReply::Done(_)) => {
                println!("added package {}", canonicalize_name(opts.package.trim()));
            }
            Ok(other) => return fail(anyhow!("adding the package first: {other:?}")),
            Err(e) => return fail(e),
        }
        reply = match ask((&opts.import_queue, security), timeout, &request) {
            Ok(r) => r,
            Err(e) => return fail(e),
        };
    }
    match explain(&opts, &reply) {
        Ok(msg) => {
            println!("{msg}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

#[cfg(test)]
#[path = "legacy/piw_add.rs"]
mod legacy_tests;
