//! `piw-slave`: a build slave. Asks the master for jobs, builds wheels with pip, and sends
//! them back.
//!
//! ```text
//! piw-slave [-m HOST] [-t DURATION] [-d DIR] [-L LABEL] [--python PYTHON] [--run-as USER]
//!           [--extra-index-url URL]... [--slave-port PORT] [--file-port PORT] [--debug]
//! ```
//!
//! Builds are limited to `--timeout` of wall-clock time (default 3h; `90m`, `4h30m`, `36h`
//! and `3:00:00` are understood), after which every process of the build is ended. Started
//! as root, the slave runs builds as `--run-as` (default `nobody`), never as root. SIGTERM
//! or SIGINT stops any build, says goodbye to the master and exits.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use piwheels::{CommonOpts, fail};
use piwheels_slave::{Slave, SlaveConfig, parse_duration};

/// Run a piwheels build slave.
#[derive(Debug, Parser)]
#[command(name = "piw-slave", version, about, long_about = None)]
struct Opts {
    #[command(flatten)]
    common: CommonOpts,
    /// The master's host name or address.
    #[arg(short, long, env = "PIW_MASTER", default_value = "localhost")]
    master: String,
    /// The longest a build may take (e.g. 3h, 90m, 4h30m, 36h); it is then ended.
    #[arg(short, long, env = "PIW_TIMEOUT", default_value = "3h", value_parser = parse_timeout)]
    timeout: Duration,
    /// Where build directories are made (default: the system's temporary directory).
    #[arg(short, long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// The label monitors show for this slave (default: the host name).
    #[arg(short = 'L', long)]
    label: Option<String>,
    /// The Python interpreter that builds (its pip runs `pip wheel`).
    #[arg(long, default_value = "python3")]
    python: String,
    /// When started as root: the unprivileged user (name or uid) builds run as.
    #[arg(long, value_name = "USER")]
    run_as: Option<String>,
    /// Also look for build dependencies on this index (repeatable; none by default).
    #[arg(long = "extra-index-url", value_name = "URL")]
    extra_index_urls: Vec<String>,
    /// The master's slave port.
    #[arg(long, default_value_t = 5555)]
    slave_port: u16,
    /// The master's file-transfer port.
    #[arg(long, default_value_t = 5556)]
    file_port: u16,
    /// Log every message.
    #[arg(long)]
    debug: bool,
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err("the timeout must be longer than 0s".into());
    }
    Ok(d)
}

fn main() -> ExitCode {
    let opts: Opts = piwheels::config::parse();
    piwheels::init_logging(&opts.common, opts.debug);
    let mut config = SlaveConfig::new(opts.master);
    config.build_timeout = opts.timeout;
    if let Some(dir) = opts.dir {
        config.dir = dir;
    }
    if let Some(label) = opts.label {
        config.label = label;
    }
    config.python = opts.python;
    config.run_as = opts.run_as;
    config.extra_index_urls = opts.extra_index_urls;
    config.slave_port = opts.slave_port;
    config.file_port = opts.file_port;
    let mut slave = match Slave::new(config) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    if let Err(e) = piwheels_slave::stop_on_signals(&slave.stop_flag()) {
        return fail(e);
    }
    tracing::info!(
        "piw-slave {} starting: master {}, label {:?}, timeout {}",
        env!("CARGO_PKG_VERSION"),
        slave.config().master,
        slave.config().label,
        piwheels_slave::format_duration(slave.config().build_timeout)
    );
    match slave.run() {
        Ok(()) => {
            tracing::info!("piw-slave stopped");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}
