//! `piw-slave`: a build slave. Asks the master for jobs, builds wheels with pip, and sends
//! them back.
//!
//! ```text
//! piw-slave [-m HOST] [-t DURATION] [-d DIR] [-L LABEL] [--python PYTHON] [--run-as USER]
//!           [--extra-index-url URL]... [--slave-port PORT] [--file-port PORT] [--debug]
//!           [--no-sandbox] [--build-network index|full|none] [--build-proxy-allow HOST:PORT]...
//!           [--sandbox-bind PATH]...
//!           [--build-memory SIZE] [--build-processes N] [--build-file-size SIZE]
//! ```
//!
//! Builds are limited to `--timeout` of wall-clock time (default 3h; `90m`, `4h30m`, `36h`
//! and `3:00:00` are understood), after which every process of the build is ended. Started
//! as root, the slave runs builds as `--run-as` (default `nobody`), never as root, each in a
//! sandbox (see `piwheels_slave::sandbox`): new namespaces, a read-only view of the system
//! and the interpreter, the build directory the only place it can write, limits on
//! processes, file size and, if asked, memory. Its network is `--build-network`: `index`
//! (the default) gives it only loopback and a proxy run by the slave that reaches only the
//! index hosts (see `piwheels_slave::netproxy`); `full` the host's network; `none`
//! (or `--no-build-network`) loopback only. SIGTERM or SIGINT stops any build, says goodbye to the master and
//! exits.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use piwheels::{CommonOpts, fail, parse_size};
use piwheels_slave::netproxy::{Target, parse_allowed};
use piwheels_slave::sandbox::{BuildNetwork, SandboxConfig};
use piwheels_slave::{CurveKeys, DurationError, Slave, SlaveConfig, parse_duration};

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
    /// Run builds as plain processes of the build user, not in the sandbox (for machines
    /// where the slave cannot make namespaces).
    #[arg(long)]
    no_sandbox: bool,
    /// What sandboxed builds reach of the network: `index` (only loopback and the slave's
    /// proxy to the index hosts), `full` (the host's network), or `none` (only loopback:
    /// the index must be a file:// one bound in with --sandbox-bind).
    #[arg(
        long,
        value_name = "MODE",
        default_value = "index",
        conflicts_with = "no_build_network"
    )]
    build_network: BuildNetwork,
    /// The same as --build-network none.
    #[arg(long)]
    no_build_network: bool,
    /// With --build-network index: one more HOST:PORT the build proxy forwards to beyond
    /// the index URLs' hosts (where an index serves its files from; repeatable).
    #[arg(long = "build-proxy-allow", value_name = "HOST:PORT", value_parser = parse_allowed)]
    build_proxy_allow: Vec<Target>,
    /// A host path sandboxed builds also see, read-only, at the same place (repeatable).
    #[arg(long = "sandbox-bind", value_name = "PATH")]
    sandbox_binds: Vec<PathBuf>,
    /// The address-space limit of each build process (e.g. 8G; default none).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    build_memory: Option<u64>,
    /// How many processes the build user may have.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    build_processes: u64,
    /// The largest file a build may write.
    #[arg(long, value_name = "SIZE", default_value = "16G", value_parser = parse_size)]
    build_file_size: u64,
    /// The master's public key file (its NAME.key): the slave and file queues then speak
    /// CURVE. Needs --key.
    #[arg(long = "master-key", value_name = "FILE", requires = "key")]
    master_key: Option<PathBuf>,
    /// This slave's key file (NAME.key_secret, made by piw-keygen), whose public key the
    /// master's allow-list must hold. Needs --master-key.
    #[arg(long = "key", value_name = "FILE", requires = "master_key")]
    key: Option<PathBuf>,
}

/// A `--timeout` that cannot be used.
#[derive(Debug, thiserror::Error)]
enum BadTimeout {
    /// Not a duration.
    #[error(transparent)]
    NotADuration(#[from] DurationError),
    /// No time at all.
    #[error("the timeout must be longer than 0s")]
    Zero,
}

fn parse_timeout(s: &str) -> Result<Duration, BadTimeout> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err(BadTimeout::Zero);
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
    config.sandbox = (!opts.no_sandbox).then_some(SandboxConfig {
        network: if opts.no_build_network {
            BuildNetwork::None
        } else {
            opts.build_network
        },
        proxy_allow: opts.build_proxy_allow,
        binds: opts.sandbox_binds,
        memory: opts.build_memory,
        processes: Some(opts.build_processes),
        file_size: Some(opts.build_file_size),
    });
    if let (Some(master), Some(own)) = (&opts.master_key, &opts.key) {
        config.curve = match CurveKeys::read(master, own) {
            Ok(keys) => Some(keys),
            Err(e) => return fail(e),
        };
    }
    let mut slave = match Slave::new(config) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    if let Err(e) = piwheels_slave::stop_on_signals(&slave.stop_flag()) {
        return fail(e);
    }
    tracing::info!(
        "piw-slave {} starting: master {} ({}), label {:?}, timeout {}, builds {}",
        env!("CARGO_PKG_VERSION"),
        slave.config().master,
        if slave.config().curve.is_some() {
            "CURVE"
        } else {
            "no encryption"
        },
        slave.config().label,
        piwheels_slave::format_duration(slave.config().build_timeout),
        match slave.sandbox() {
            Some(sb) => format!("sandboxed, network {}", sb.config.network),
            None => "not sandboxed".to_owned(),
        }
    );
    match slave.run() {
        Ok(()) => {
            tracing::info!("piw-slave stopped");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::path::Path;

    #[test]
    fn master_key_and_key_go_together() {
        let ok = Opts::try_parse_from([
            "piw-slave",
            "--master-key",
            "/k/master.key",
            "--key",
            "/k/me.key_secret",
        ])
        .unwrap();
        assert_eq!(ok.master_key.as_deref(), Some(Path::new("/k/master.key")));
        assert_eq!(ok.key.as_deref(), Some(Path::new("/k/me.key_secret")));
        assert!(Opts::try_parse_from(["piw-slave", "--master-key", "/k/master.key"]).is_err());
        assert!(Opts::try_parse_from(["piw-slave", "--key", "/k/me.key_secret"]).is_err());
        let none = Opts::try_parse_from(["piw-slave"]).unwrap();
        assert_eq!((none.master_key, none.key), (None, None));
    }

    #[test]
    fn unreadable_key_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let pair = piwheels_protocol::auth::KeyPair::generate().unwrap();
        pair.write(&dir.path().join("me")).unwrap();
        let master = dir.path().join("master.key");
        let own = dir.path().join("me.key_secret");
        let err = CurveKeys::read(&master, &own).unwrap_err().to_string();
        assert!(
            err.contains("--master-key") && err.contains("master.key"),
            "{err}"
        );
        std::fs::copy(dir.path().join("me.key"), &master).unwrap();
        let keys = CurveKeys::read(&master, &own).unwrap();
        assert_eq!(keys.own, pair);
        let err = CurveKeys::read(&master, &dir.path().join("me.key"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("--key"), "{err}");
    }

    /// One `piwheels.conf` for a master, its slave and its tools on one host (sections
    /// are cosmetic: every program reads every key): the slave takes `master-key` and
    /// `key`, never the master's `master-secret-key`.
    #[test]
    fn a_conf_shared_with_the_master_gives_the_slave_its_own_keys() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("piwheels.conf");
        std::fs::write(
            &file,
            "[master]\nmaster-secret-key = /k/master.key_secret\nallow-list = /k/slaves\n\
             [slave]\nmaster-key = /k/master.key\nkey = /k/me.key_secret\n",
        )
        .unwrap();
        let opts: Opts =
            piwheels::config::try_parse_from(["piw-slave"], std::slice::from_ref(&file)).unwrap();
        assert_eq!(opts.master_key.as_deref(), Some(Path::new("/k/master.key")));
        assert_eq!(opts.key.as_deref(), Some(Path::new("/k/me.key_secret")));
    }
}

#[cfg(test)]
#[path = "legacy/piw_slave.rs"]
mod legacy_tests;
