//! `piw-remove`: removes a package or a version from a running master (its files, pages
//! and rows), or only its builds, or skips or yanks it instead.
//!
//! ```text
//! piw-remove [-y] [-b] [-s REASON] [--yank] [--import-queue ADDR] PACKAGE [VERSION]
//! ```
//!
//! With `-b/--builds` only the builds go (so the version is built again unless skipped);
//! with `-s/--skip` nothing is deleted but it is no longer built or published; `--yank`
//! marks a version yanked. It asks the master's MrChase on the import queue.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail};
use clap::Parser;
use piwheels::master_keys::MasterKeyOpts;
use piwheels::{
    CommonOpts, DEFAULT_MASTER_TIMEOUT as DEFAULT_TIMEOUT, ask_master as ask, confirm, declined,
    fail, usage_error,
};
use piwheels_db::{canonicalize_name, names};
use piwheels_protocol::import::{ImportReply, ImportRequest, RemovePackage, RemoveVersion};

/// Remove, skip or yank a package or version of the piwheels database.
#[derive(Debug, Parser)]
#[command(name = "piw-remove", version, long_about = None)]
struct Opts {
    #[command(flatten)]
    common: CommonOpts,
    #[command(flatten)]
    keys: MasterKeyOpts,
    /// The package's name.
    package: String,
    /// The version (omit it for the whole package).
    #[arg(value_name = "VERSION")]
    package_version: Option<String>,
    /// Proceed without asking.
    #[arg(short, long)]
    yes: bool,
    /// Remove only the builds (the version is built again unless it is skipped).
    #[arg(short, long)]
    builds: bool,
    /// Skip it (no longer built or published) for this reason instead of removing it.
    #[arg(short, long, value_name = "REASON", default_value = "")]
    skip: String,
    /// Mark the version yanked instead of removing it.
    #[arg(long)]
    yank: bool,
    /// The master's import queue.
    #[arg(long, value_name = "ADDR", default_value = "ipc:///tmp/piw-import")]
    import_queue: String,
    /// How long to wait for the master's answer, in seconds.
    #[arg(long = "master-timeout", alias = "timeout", value_name = "SECS", default_value = DEFAULT_TIMEOUT)]
    timeout: u64,
}

fn request(opts: &Opts) -> anyhow::Result<(ImportRequest, String)> {
    let package = names::validate_name(&opts.package)?
        .canonical()
        .into_string();
    let doing = if opts.builds {
        "remove the builds of"
    } else if !opts.skip.is_empty() {
        "skip"
    } else if opts.yank {
        "yank"
    } else {
        "remove"
    };
    match &opts.package_version {
        None => {
            if opts.yank {
                bail!("--yank needs a VERSION");
            }
            Ok((
                ImportRequest::RemovePackage(RemovePackage {
                    package: package.clone(),
                    builds: opts.builds,
                    skip: opts.skip.clone(),
                }),
                format!("{doing} the package {package} (every version)"),
            ))
        }
        Some(v) => {
            let v = names::validate_version(v)?.into_string();
            Ok((
                ImportRequest::RemoveVersion(RemoveVersion {
                    package: package.clone(),
                    version: v.clone(),
                    builds: opts.builds,
                    skip: opts.skip.clone(),
                    yank: opts.yank,
                }),
                format!("{doing} {package} {v}"),
            ))
        }
    }
}

fn explain(opts: &Opts, reply: &ImportReply) -> anyhow::Result<String> {
    let package = canonicalize_name(opts.package.trim());
    let version = opts.package_version.as_deref().unwrap_or("").trim();
    match reply {
        ImportReply::Done(what) => Ok(match what.as_str() {
            "DELPKG" => format!("removed package {package}"),
            "SKIPPKG" => format!("skipped package {package}"),
            "DELPKGBLD" => format!("removed the builds of package {package}"),
            "DELVER" => format!("removed version {package} {version}"),
            "SKIPVER" => format!("skipped version {package} {version}"),
            "YANKVER" => format!("yanked version {package} {version}"),
            "DELVERBLD" => format!("removed the builds of {package} {version}"),
            other => format!("done: {other}"),
        }),
        ImportReply::Error(why) => Err(anyhow!(match why.as_str() {
            "NOPKG" => format!("there is no package {package}"),
            "NOVER" => format!("there is no version {package} {version}"),
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
    let (request, what) = match request(&opts) {
        Ok(r) => r,
        Err(e) => return usage_error(e),
    };
    if !opts.yes && !confirm(&format!("This will {what}. Proceed?")) {
        return declined();
    }
    let reply = match ask(
        (&opts.import_queue, security),
        Duration::from_secs(opts.timeout),
        &request,
    ) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    match explain(&opts, &reply) {
        Ok(msg) => {
            println!("{msg}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

#[cfg(test)]
#[path = "legacy/piw_remove.rs"]
mod legacy_tests;
