//! `piw-import`: gives a running master wheels built elsewhere, as one successful build.
//!
//! ```text
//! piw-import [-y] [-d] [--package NAME] [--package-version VER] [--abi ABI]
//!            [--duration DUR] [--output FILE] [--dependencies FILE]
//!            [--import-queue ADDR] [--file-queue ADDR] WHEEL...
//! ```
//!
//! The package and version default to the first wheel's `METADATA`, the builder's ABI to
//! the first wheel's ABI tag. The package and version must exist in the master's database
//! and the ABI must be one of its build targets. MrChase logs the build, then asks for
//! each wheel, which is uploaded to the file queue (`tcp://localhost:5556` by default) as
//! slave 0 and verified before it is published.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use chrono::TimeDelta;
use clap::Parser;
use piwheels::master_keys::MasterKeyOpts;
use piwheels::{CommonOpts, ImportQueue, confirm, declined, fail};
use piwheels_db::names;
use piwheels_protocol::import::{ImportReply, ImportRequest};
use piwheels_protocol::states::{BuildState, FileState};
use piwheels_protocol::transport::zmq;
use piwheels_slave::StopFlag;
use piwheels_slave::dpkg::Dpkg;
use piwheels_slave::elf::LibraryResolver;
use piwheels_slave::wheel::WheelAnalyser;

/// The build log of an import unless one is given.
const DEFAULT_OUTPUT: &str = "Imported manually via piw-import";

/// Import wheels built elsewhere into the piwheels repository.
#[derive(Debug, Parser)]
#[command(name = "piw-import", version, long_about = None)]
struct Opts {
    #[command(flatten)]
    common: CommonOpts,
    #[command(flatten)]
    keys: MasterKeyOpts,
    /// The wheels.
    #[arg(required = true, value_name = "WHEEL")]
    files: Vec<PathBuf>,
    /// The package (default: the first wheel's Name).
    #[arg(long, value_name = "NAME")]
    package: Option<String>,
    /// The version (default: the first wheel's Version).
    #[arg(long, value_name = "VER")]
    package_version: Option<String>,
    /// The builder's ABI (default: the first wheel's ABI tag).
    #[arg(long, value_name = "ABI")]
    abi: Option<String>,
    /// How long the build took, such as 90s, 5m or 1:30:00.
    #[arg(long, value_name = "DUR", default_value = "0s", value_parser = piwheels_slave::parse_duration)]
    duration: Duration,
    /// The build log, from this file.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Debian packages every wheel needs, listed in this file (separated by white space).
    #[arg(long, value_name = "FILE")]
    dependencies: Option<PathBuf>,
    /// Proceed without asking.
    #[arg(short, long)]
    yes: bool,
    /// Delete the wheels once imported.
    #[arg(short, long)]
    delete: bool,
    /// The master's import queue.
    #[arg(long, value_name = "ADDR", default_value = "ipc:///tmp/piw-import")]
    import_queue: String,
    /// The master's file queue, where the wheels are uploaded.
    #[arg(long, value_name = "ADDR", default_value = "tcp://localhost:5556")]
    file_queue: String,
    /// How long to wait for the master, in seconds.
    #[arg(
        long = "master-timeout",
        alias = "timeout",
        value_name = "SECS",
        default_value = "60"
    )]
    timeout: u64,
}

/// The wheels' descriptions, in the order given.
fn describe(opts: &Opts) -> anyhow::Result<Vec<(PathBuf, FileState)>> {
    // The wheels were built elsewhere: their libraries are not looked up on this system.
    let analyser = WheelAnalyser::new(
        LibraryResolver::new(Vec::new(), Vec::new()),
        Dpkg::new("/nonexistent/dpkg/info"),
    );
    let apt: Option<Vec<String>> = match &opts.dependencies {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let mut deps: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
            deps.sort();
            deps.dedup();
            Some(deps)
        }
    };
    let mut out = Vec::new();
    for path in &opts.files {
        let mut state = analyser.analyse(path)?;
        state.dependencies.shift_remove("");
        state.dependencies.shift_remove("apt");
        if let Some(apt) = &apt {
            state.dependencies.insert("apt".into(), apt.clone());
        }
        out.push((path.clone(), state));
    }
    Ok(out)
}

/// The first wheel's `Name` and `Version`, from its `METADATA`.
fn metadata_name_version(path: &Path) -> anyhow::Result<(String, String)> {
    let at = || path.display().to_string();
    let file = std::fs::File::open(path).with_context(at)?;
    let mut zip = zip::ZipArchive::new(file).with_context(at)?;
    let member = zip
        .file_names()
        .find(|m| {
            m.strip_suffix(".dist-info/METADATA")
                .is_some_and(|d| !d.contains('/'))
        })
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("{} has no .dist-info/METADATA", path.display()))?;
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut std::io::Read::take(
            zip.by_name(&member).with_context(at)?,
            piwheels_slave::wheel::MAX_METADATA,
        ),
        &mut text,
    )
    .with_context(|| format!("{}: {member}", path.display()))?;
    let metadata = piwheels_slave::wheel::Metadata::parse(&text);
    let name = metadata.get("Name").map(str::to_owned);
    let version = metadata.get("Version").map(str::to_owned);
    match (name, version) {
        (Some(n), Some(v)) => Ok((n, v)),
        _ => bail!("{}: METADATA has no Name or Version", path.display()),
    }
}

fn build_state(opts: &Opts, files: &[(PathBuf, FileState)]) -> anyhow::Result<BuildState> {
    let (first_path, first) = &files[0];
    let (package, version) = match (&opts.package, &opts.package_version) {
        (Some(p), Some(v)) => (p.clone(), v.clone()),
        (p, v) => {
            let (name, ver) = metadata_name_version(first_path)?;
            (p.clone().unwrap_or(name), v.clone().unwrap_or(ver))
        }
    };
    let package = names::validate_name(&package)?;
    let version = names::validate_version(&version)?.into_string();
    let abi = match &opts.abi {
        Some(a) => a.clone(),
        None if first.abi_tag == "none" => bail!("couldn't determine builder ABI"),
        None => first.abi_tag.clone(),
    };
    let output = match &opts.output {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        None => DEFAULT_OUTPUT.to_owned(),
    };
    Ok(BuildState {
        slave_id: 0,
        package: package.canonical().into_string(),
        version,
        abi_tag: abi,
        status: true,
        duration: TimeDelta::from_std(opts.duration).unwrap_or(TimeDelta::MAX),
        output,
        files: files.iter().map(|(_, f)| f.clone()).collect(),
    })
}

fn run(opts: &Opts) -> anyhow::Result<ExitCode> {
    let files = describe(opts)?;
    let state = build_state(opts, &files)?;
    if !opts.yes && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprintln!(
            "Importing {} {} for {} from:",
            state.package, state.version, state.abi_tag
        );
        for (path, _) in &files {
            eprintln!("  {}", path.display());
        }
        if !confirm("Proceed?") {
            return Ok(declined());
        }
    }
    let timeout = Duration::from_secs(opts.timeout);
    let ctx = zmq::Context::new();
    let security = opts.keys.security()?;
    let mut queue = ImportQueue::connect(&ctx, (&opts.import_queue, security), timeout)?;
    let mut request = ImportRequest::Import(state);
    loop {
        match queue.ask(&request)? {
            ImportReply::Send(name) => {
                let Some((path, _)) = files.iter().find(|(_, f)| f.filename == name) else {
                    bail!("the master asked for {name:?}, which is not being imported");
                };
                tracing::info!("sending {}", path.display());
                piwheels_slave::transfer::upload_secured(
                    &ctx,
                    &piwheels_protocol::transport::connectable(&opts.file_queue),
                    piwheels::master_keys::on_endpoint(security, &opts.file_queue),
                    0,
                    path,
                    timeout,
                    &StopFlag::new(),
                )
                .with_context(|| format!("uploading {}", path.display()))?;
                request = ImportRequest::Sent;
            }
            ImportReply::Done(_) => break,
            ImportReply::Error(why) => bail!(why),
        }
    }
    if opts.delete {
        for (path, _) in &files {
            if let Err(e) = std::fs::remove_file(path) {
                eprintln!("warning: cannot delete {}: {e}", path.display());
            }
        }
    }
    println!("imported {} wheel(s)", files.len());
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let opts: Opts = piwheels::config::parse();
    piwheels::init_logging(&opts.common, false);
    match run(&opts) {
        Ok(code) => code,
        Err(e) => fail(e),
    }
}

#[cfg(test)]
#[path = "legacy/piw_import.rs"]
mod legacy_tests;
