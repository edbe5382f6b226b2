//! `piw-monitor`: watch and steer a running master.
//!
//! ```text
//! piw-monitor [-c FILE] [--status-queue ADDR] [--control-queue ADDR]
//!             [--once --json | --watch] [--deadline SECS]
//!             [--master-key MASTER.key --key OWN.key_secret]
//! ```
//!
//! Full screen by default (`?` lists the keys). `--once --json` prints one snapshot of the
//! master and its slaves as JSON once the master's replay has settled; `--watch` prints a
//! line each time something shown changes. Neither needs a terminal. See
//! [`piwheels::monitor`].

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::anyhow;
use clap::Parser;
use piwheels::master_keys::MasterKeyOpts;
use piwheels::monitor::{self, conn::Connection};
use piwheels::{fail, usage_error};

/// Watch and steer a piwheels master.
#[derive(Debug, Parser)]
#[command(name = "piw-monitor", version, long_about = None)]
struct Opts {
    /// Read this configuration file after the default ones.
    #[arg(short = 'c', long, value_name = "FILE")]
    configuration: Option<PathBuf>,
    /// The master's status queue (it publishes there).
    #[arg(long, value_name = "ADDR", default_value = "ipc:///tmp/piw-status")]
    status_queue: String,
    /// The master's control queue (commands go there).
    #[arg(long, value_name = "ADDR", default_value = "ipc:///tmp/piw-control")]
    control_queue: String,
    /// Print one snapshot and exit (with --json).
    #[arg(long, requires = "json", conflicts_with = "watch")]
    once: bool,
    /// Print the snapshot as JSON (with --once).
    #[arg(long, requires = "once")]
    json: bool,
    /// Print one line each time something changes, for logs.
    #[arg(long)]
    watch: bool,
    /// How long --once waits for the master to answer, in seconds.
    #[arg(long, value_name = "SECS", default_value = "10")]
    deadline: u64,
    #[command(flatten)]
    keys: MasterKeyOpts,
}

fn main() -> ExitCode {
    let opts: Opts = piwheels::config::parse();
    let security = match opts.keys.security() {
        Ok(s) => s,
        Err(e) => return usage_error(e),
    };
    let mut conn = match Connection::connect(&opts.status_queue, &opts.control_queue, security) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let result = if opts.once {
        monitor::once(&mut conn, Duration::from_secs(opts.deadline)).map(|snapshot| {
            // A reader that went away is no error of ours.
            let _ = writeln!(std::io::stdout().lock(), "{snapshot:#}");
        })
    } else if opts.watch {
        monitor::watch(&mut conn, &mut std::io::stdout().lock(), || false)
    } else if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return usage_error(anyhow!(
            "not on a terminal: use --once --json for a snapshot or --watch for a log"
        ));
    } else {
        return match monitor::run_tui(&mut conn) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(e),
        };
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

#[cfg(test)]
#[path = "legacy/piw_monitor.rs"]
mod legacy_tests;
