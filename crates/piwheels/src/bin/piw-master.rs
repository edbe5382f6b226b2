//! `piw-master`: runs the piwheels master.
//!
//! ```text
//! piw-master [-d DSN] [-o PATH] [--target ABI/PLATFORM]... [--pypi-simple URL]
//!            [--web-listen ADDR|off] [--metrics-listen ADDR] [--dev-mode] [--debug [TASK]]... [options]
//! ```
//!
//! The database defaults to the embedded SQLite file `sqlite:/var/lib/piwheels/piwheels.db`
//! (the same default as every other `piw-*` tool); an SQLite database that does not exist
//! yet is created on first start, so a single-machine farm needs no `piw-initdb` step. A
//! PostgreSQL database must be made with `piw-initdb` first. The output directory defaults
//! to `/var/www`, as the original's.
//!
//! Nothing is built until a build target (a slave's ABI and platform) is enabled: with
//! `--target` here (added to the database's targets at every start) or with `piw-initdb
//! --target`. The master says so at start-up when none is enabled.
//!
//! Every long option can also be given in `piwheels.conf` (see the `piwheels` crate's
//! `config` module). The original's in-process queue options (`--web-queue`,
//! `--builds-queue`, `--db-queue`, `--fs-queue`, `--stats-queue`) have no meaning here (tasks
//! talk through channels) and are not accepted.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use piwheels::{CommonOpts, DEFAULT_DSN, fail, parse_size, parse_target, redact_dsn};
use piwheels_db::Target;
use piwheels_master::MasterConfig;
use piwheels_master::config::QueueAuth;
use piwheels_master::master::Master;
use piwheels_protocol::auth::{KeyPair, Network};

/// The task names `--debug` patterns match (the original's thread names without their
/// `master.` prefix).
const TASKS: &[&str] = &[
    "big_brother",
    "cloud_gazer",
    "file_juggler",
    "lumberjack",
    "master",
    "metrics",
    "mr_chase",
    "slave_driver",
    "the_architect",
    "the_scribe",
    "the_secretary",
    "upstream",
    "web_server",
];

/// Run the piwheels master.
#[derive(Debug, Parser)]
#[command(name = "piw-master", version, about, long_about = None)]
struct Opts {
    #[command(flatten)]
    common: CommonOpts,
    /// The database: an SQLite file (sqlite:/path; created if missing) or a PostgreSQL
    /// address.
    #[arg(short, long, default_value = DEFAULT_DSN)]
    dsn: String,
    /// Where the web output (simple index, project pages, logs) is written.
    #[arg(
        short,
        long = "output-path",
        value_name = "PATH",
        default_value = "/var/www"
    )]
    output_path: PathBuf,
    /// Development mode: page rewrites held for 3 s at most, debug logging.
    #[arg(long = "dev-mode")]
    dev_mode: bool,
    /// Log debug messages: of every task, or (repeatable) of the tasks matching this
    /// pattern (`*` and `?` wildcards, e.g. slave_driver, the_*).
    #[arg(long, value_name = "TASK", num_args = 0..=1, default_missing_value = "*")]
    debug: Vec<String>,
    /// The upstream simple index to follow (default: the index pip is configured with).
    #[arg(long = "pypi-simple", value_name = "URL")]
    pypi_simple: Option<String>,
    /// The upstream JSON API, if the index has one (project summaries, from URL/NAME/json;
    /// no default). piwheels.conf: pypi_json or pypi-json.
    #[arg(long = "pypi-json", value_name = "URL")]
    pypi_json: Option<String>,
    /// Follow the upstream through its XML-RPC changelog (changelog_since_serial) at URL,
    /// from the serial stored in the database, instead of diffing the simple index's
    /// project list at every poll (the diff stays the fallback, and brings a new farm in
    /// line). No default. piwheels.conf: pypi_xmlrpc or pypi-xmlrpc.
    #[arg(long = "pypi-xmlrpc", value_name = "URL")]
    pypi_xmlrpc: Option<String>,
    /// The index slaves build from (pip --index-url; default: the upstream index).
    #[arg(long = "build-index", value_name = "URL")]
    build_index: Option<String>,
    /// Follow only this upstream project (repeatable; default: every project).
    #[arg(long = "follow", value_name = "PROJECT")]
    follow: Vec<String>,
    /// Enable a build target, such as cp311/linux_armv7l (repeatable; added to the
    /// database's targets).
    #[arg(long = "target", value_name = "ABI/PLATFORM", value_parser = parse_target)]
    targets: Vec<Target>,
    /// Where the embedded web server listens, or "off".
    #[arg(long = "web-listen", value_name = "ADDR|off", default_value = "127.0.0.1:8080", value_parser = parse_listen)]
    web_listen: Listen,
    /// Serve Prometheus metrics (GET /metrics, text format) on this address, such as
    /// 127.0.0.1:9090 (default: off). piwheels.conf: metrics_listen or metrics-listen.
    #[arg(long = "metrics-listen", value_name = "ADDR|off", default_value = "off", value_parser = parse_listen)]
    metrics_listen: Listen,
    /// The site's public URL, for links in pages and sitemaps (default: from --web-listen).
    #[arg(long = "site-url", value_name = "URL")]
    site_url: Option<String>,
    /// Where users report a problem with a project, linked from its page; {package} in it
    /// is replaced by the project's name (no default: no link).
    #[arg(long = "report-url", value_name = "URL")]
    report_url: Option<String>,
    /// Re-read the build queue at least this often (30s, 5m, 1h; plain numbers are seconds).
    #[arg(long = "queue-period", value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    queue_period: Duration,
    /// Coalesce rewrites of a page for this long after writing it.
    #[arg(long = "rewrite-delay", value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    rewrite_delay: Duration,
    /// Poll the upstream index this often.
    #[arg(long = "upstream-poll", value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    upstream_poll: Duration,
    /// Make at most this many requests to the upstream at once (project pages, summaries):
    /// 1 to 64.
    #[arg(long = "upstream-concurrency", value_name = "N", default_value = "4",
          value_parser = clap::value_parser!(u8).range(1..=64))]
    upstream_concurrency: u8,
    /// Give up on a request to the upstream after this many seconds, reading the answer
    /// included (the project list gets ten times as long): 1 to 3600.
    #[arg(long = "upstream-timeout", value_name = "SECS", default_value = "30",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    upstream_timeout: u64,
    /// Forget slaves silent for longer (or for their own busy timeout, if shorter).
    #[arg(long = "busy-timeout", value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    busy_timeout: Duration,
    /// Pause the farm when the output's filesystem has this little free space (bytes; K, M,
    /// G, T suffixes).
    #[arg(long = "min-free-space", value_name = "SIZE", default_value = "1G", value_parser = parse_size)]
    min_free_space: u64,
    /// Refuse a build that declares a file larger than this (bytes; K, M, G, T suffixes):
    /// it is logged as a failed build whose log says why.
    #[arg(long = "max-wheel-size", value_name = "SIZE", default_value = "1G", value_parser = parse_size)]
    max_wheel_size: u64,
    /// Refuse a build that declares more files than this: it is logged as a failed build
    /// whose log says why.
    #[arg(long = "max-build-files", value_name = "N", default_value = "64",
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    max_build_files: u64,
    /// A slave (by key, else by address) that breaks the protocol this many times within
    /// --cool-off-window gets no job for --cool-off-period; 0 turns it off.
    #[arg(long = "cool-off-strikes", value_name = "N", default_value = "3")]
    cool_off_strikes: u32,
    /// How far back --cool-off-strikes count.
    #[arg(long = "cool-off-window", value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    cool_off_window: Duration,
    /// How long a slave in cool-off gets no job.
    #[arg(long = "cool-off-period", value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    cool_off_period: Duration,
    /// Monitors' status socket (PUB).
    #[arg(
        long = "status-queue",
        value_name = "ADDR",
        default_value = "ipc:///tmp/piw-status"
    )]
    status_queue: String,
    /// Monitors' control socket (PULL).
    #[arg(
        long = "control-queue",
        value_name = "ADDR",
        default_value = "ipc:///tmp/piw-control"
    )]
    control_queue: String,
    /// The admin tools' socket (ROUTER).
    #[arg(
        long = "import-queue",
        value_name = "ADDR",
        default_value = "ipc:///tmp/piw-import"
    )]
    import_queue: String,
    /// The log queue (PULL): Lumberjack writes the access-log records that piw-logger
    /// (the original's too) pushes here to the database, in batches.
    #[arg(
        long = "log-queue",
        value_name = "ADDR",
        default_value = "ipc:///tmp/piw-logger"
    )]
    log_queue: String,
    /// The build slaves' socket (ROUTER; slaves connect to port 5555).
    #[arg(
        long = "slave-queue",
        value_name = "ADDR",
        default_value = "tcp://*:5555"
    )]
    slave_queue: String,
    /// The file-transfer socket (ROUTER; slaves and piw-import connect to port 5556).
    #[arg(
        long = "file-queue",
        value_name = "ADDR",
        default_value = "tcp://*:5556"
    )]
    file_queue: String,
    /// The master's key file (NAME.key_secret, made by piw-keygen): the slave and file
    /// queues then speak CURVE and admit the slaves whose public keys are in --allow-list.
    #[arg(
        long = "master-secret-key",
        value_name = "FILE",
        requires = "allow_list"
    )]
    key: Option<PathBuf>,
    /// The folder of admitted slaves' public keys (NAME.key files), read again whenever it
    /// changes: deleting a key's file revokes that slave. Needs --master-secret-key.
    #[arg(long = "allow-list", value_name = "DIR", requires = "key")]
    allow_list: Option<PathBuf>,
    /// Admit original (NULL, unencrypted) slaves from these addresses or networks, such as
    /// 192.0.2.0/24 (repeatable, or a comma list). With --master-secret-key they connect to
    /// --plain-slave-queue and --plain-file-queue.
    #[arg(long = "allow-plain", value_name = "FROM", value_delimiter = ',')]
    allow_plain: Vec<Network>,
    /// With --master-secret-key and --allow-plain: the slave socket for original (NULL) slaves, such as
    /// tcp://*:5555 while the CURVE slave queue moves to another port.
    #[arg(long = "plain-slave-queue", value_name = "ADDR")]
    plain_slave_queue: Option<String>,
    /// With --master-secret-key and --allow-plain: the file-transfer socket for original (NULL) slaves.
    #[arg(long = "plain-file-queue", value_name = "ADDR")]
    plain_file_queue: Option<String>,
    /// Let the slave and file queues listen beyond loopback with no --master-secret-key and no
    /// --allow-plain (anyone who reaches them can build and upload wheels).
    #[arg(long)]
    insecure: bool,
}

/// `--web-listen`, `--metrics-listen`: an address or off.
#[derive(Debug, Clone, Copy)]
struct Listen(Option<SocketAddr>);

/// A `--web-listen` or `--metrics-listen` that is neither an address nor off.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not ADDRESS:PORT (such as 127.0.0.1:8080) or off")]
struct BadListen(String);

fn parse_listen(s: &str) -> Result<Listen, BadListen> {
    if s.eq_ignore_ascii_case("off") || s.eq_ignore_ascii_case("none") {
        return Ok(Listen(None));
    }
    s.parse()
        .map(|a| Listen(Some(a)))
        .map_err(|_| BadListen(s.to_owned()))
}

/// A duration option that is not one (see [`parse_duration`]).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a duration (such as 30s, 5m, 1h or 1h30m)")]
struct BadDuration(String);

/// `90`, `90s`, `5m`, `2h`, `1d`, `1h30m`.
fn parse_duration(s: &str) -> Result<Duration, BadDuration> {
    let bad = || BadDuration(s.to_owned());
    let s = s.trim();
    if s.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = 0u64;
    let mut number = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: u64 = number.parse().map_err(|_| bad())?;
        number.clear();
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return Err(bad()),
        };
        total = n
            .checked_mul(unit)
            .and_then(|x| total.checked_add(x))
            .ok_or_else(bad)?;
    }
    if !number.is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

/// `*` and `?` wildcards.
fn glob(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    let pattern = pattern.strip_prefix("master.").unwrap_or(pattern);
    go(pattern.as_bytes(), name.as_bytes())
}

/// Logging: as every tool's, with debug messages for the tasks `--debug` names (all of
/// them in dev mode).
fn init_logging(opts: &Opts) {
    use tracing::Level;
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;

    let everything = opts.dev_mode || opts.debug.iter().any(|p| p == "*");
    if opts.debug.is_empty() || everything {
        piwheels::init_logging(&opts.common, everything);
        return;
    }
    let base = if opts.common.quiet {
        Level::ERROR
    } else if opts.common.verbose {
        Level::INFO
    } else {
        Level::WARN
    };
    let mut filter = Targets::new().with_default(LevelFilter::from_level(base));
    for task in TASKS {
        if opts.debug.iter().any(|p| glob(p, task)) {
            filter = filter.with_target(format!("piwheels_master::{task}"), Level::DEBUG);
        }
    }
    let console = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(true)
        .with_filter(filter);
    let _ = tracing_subscriber::registry().with(console).try_init();
}

async fn create_sqlite_if_missing(dsn: &str) -> anyhow::Result<()> {
    let Some(path) = piwheels_db::sqlite_path(dsn) else {
        return Ok(());
    };
    if path.exists() {
        return Ok(());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    piwheels_db::admin::Admin::connect(dsn)
        .await?
        .initialize(None)
        .await?;
    tracing::warn!("created the database {}", path.display());
    Ok(())
}

fn config(opts: &Opts) -> anyhow::Result<MasterConfig> {
    let mut c = MasterConfig::new(opts.dsn.clone(), opts.output_path.clone());
    c.dev_mode = opts.dev_mode;
    c.upstream = opts.pypi_simple.clone();
    c.upstream_json = opts.pypi_json.clone();
    c.upstream_xmlrpc = opts.pypi_xmlrpc.clone();
    c.build_index = opts.build_index.clone();
    c.follow = (!opts.follow.is_empty()).then(|| {
        opts.follow
            .iter()
            .map(|p| piwheels_db::canonicalize_name(p))
            .collect()
    });
    c.targets = opts.targets.clone();
    c.web_listen = opts.web_listen.0;
    c.metrics_listen = opts.metrics_listen.0;
    c.site_url = match (&opts.site_url, opts.web_listen.0) {
        (Some(url), _) => url.trim_end_matches('/').to_owned(),
        (None, Some(addr)) => format!("http://{addr}"),
        (None, None) => c.site_url.clone(),
    };
    c.report_url = opts.report_url.clone();
    c.queue_period = opts.queue_period;
    c.rewrite_delay = opts.rewrite_delay;
    c.upstream_poll = opts.upstream_poll;
    c.upstream_concurrency = usize::from(opts.upstream_concurrency);
    c.upstream_timeout = Duration::from_secs(opts.upstream_timeout);
    c.busy_timeout = opts.busy_timeout;
    c.min_free_space = opts.min_free_space;
    c.max_wheel_size = opts.max_wheel_size;
    c.max_build_files = usize::try_from(opts.max_build_files).unwrap_or(usize::MAX);
    c.cool_off = piwheels_master::slave_driver::CoolOffPolicy {
        strikes: opts.cool_off_strikes,
        window: opts.cool_off_window,
        period: opts.cool_off_period,
    };
    c.status_queue = opts.status_queue.clone();
    c.control_queue = opts.control_queue.clone();
    c.import_queue = opts.import_queue.clone();
    c.log_queue = opts.log_queue.clone();
    c.slave_queue = opts.slave_queue.clone();
    c.file_queue = opts.file_queue.clone();
    c.auth = QueueAuth {
        key: match &opts.key {
            Some(path) => Some(KeyPair::read(path).with_context(|| {
                format!(
                    "--master-secret-key {}: cannot read the master's key",
                    path.display()
                )
            })?),
            None => None,
        },
        allow_list: opts.allow_list.clone(),
        allow_plain: opts.allow_plain.clone(),
        insecure: opts.insecure,
        plain_slave_queue: opts.plain_slave_queue.clone(),
        plain_file_queue: opts.plain_file_queue.clone(),
    };
    if let Some(dir) = &c.auth.allow_list
        && !dir.is_dir()
    {
        anyhow::bail!("--allow-list {}: not a folder", dir.display());
    }
    Ok(c)
}

async fn run(opts: &Opts) -> anyhow::Result<()> {
    create_sqlite_if_missing(&opts.dsn).await?;
    let master = Master::start(config(opts)?).await?;
    let enabled = master
        .hub()
        .db
        .build_targets()
        .await?
        .into_iter()
        .filter(|(_, skip)| skip.is_empty())
        .count();
    if enabled == 0 {
        tracing::warn!(
            "no build target is enabled, so nothing will be built: enable one with \
             --target ABI/PLATFORM (such as cp311/linux_x86_64) or piw-initdb --target"
        );
    }
    eprintln!(
        "piw-master: database {}, output {}, slaves on {}, files on {}{}",
        redact_dsn(&opts.dsn),
        opts.output_path.display(),
        master.slave_endpoint(),
        master.file_endpoint(),
        match master.web_addr() {
            Some(a) => format!(", web on http://{a}"),
            None => String::new(),
        },
    );
    if let Some(a) = master.metrics_addr() {
        eprintln!("piw-master: metrics on http://{a}/metrics");
    }
    master.run_until_signal().await?;
    Ok(())
}

fn main() -> ExitCode {
    let opts: Opts = piwheels::config::parse();
    init_logging(&opts);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(anyhow::Error::new(e).context("cannot start the runtime")),
    };
    match runtime.block_on(run(&opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_ok(opts: &Opts) -> MasterConfig {
        config(opts).unwrap()
    }

    #[test]
    fn upstream_concurrency_is_1_to_64() {
        use clap::Parser;
        let parse = |n: &str| Opts::try_parse_from(["piw-master", "--upstream-concurrency", n]);
        assert_eq!(parse("8").unwrap().upstream_concurrency, 8);
        assert_eq!(parse("64").unwrap().upstream_concurrency, 64);
        for bad in ["0", "65", "-1", "many"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let default = Opts::try_parse_from(["piw-master"]).unwrap();
        assert_eq!(default.upstream_concurrency, 4);
    }

    #[test]
    fn pypi_xmlrpc_selects_the_changelog_mode() {
        use clap::Parser;
        let opts = Opts::try_parse_from(["piw-master", "--pypi-xmlrpc", "http://127.0.0.1:1/pypi"])
            .unwrap();
        assert_eq!(opts.pypi_xmlrpc.as_deref(), Some("http://127.0.0.1:1/pypi"));
        let default = Opts::try_parse_from(["piw-master"]).unwrap();
        assert_eq!(default.pypi_xmlrpc, None, "the diff by default");
    }

    #[test]
    fn report_url_reaches_the_config_and_has_no_default() {
        use clap::Parser;
        let url = "https://reports.example.test/new?title={package}";
        let opts = Opts::try_parse_from(["piw-master", "--report-url", url]).unwrap();
        assert_eq!(config_ok(&opts).report_url.as_deref(), Some(url));
        let default = Opts::try_parse_from(["piw-master"]).unwrap();
        assert_eq!(config_ok(&default).report_url, None, "no link by default");
    }

    #[test]
    fn upstream_timeout_is_1_to_3600_seconds() {
        use clap::Parser;
        let parse = |n: &str| Opts::try_parse_from(["piw-master", "--upstream-timeout", n]);
        assert_eq!(parse("5").unwrap().upstream_timeout, 5);
        assert_eq!(
            config_ok(&parse("120").unwrap()).upstream_timeout,
            Duration::from_secs(120)
        );
        for bad in ["0", "3601", "-1", "soon", "5s"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let default = Opts::try_parse_from(["piw-master"]).unwrap();
        assert_eq!(
            config_ok(&default).upstream_timeout,
            Duration::from_secs(30)
        );
    }

    #[test]
    fn metrics_listen_is_off_by_default() {
        use clap::Parser;
        let default = Opts::try_parse_from(["piw-master"]).unwrap();
        assert_eq!(config_ok(&default).metrics_listen, None);
        let on =
            Opts::try_parse_from(["piw-master", "--metrics-listen", "127.0.0.1:9090"]).unwrap();
        assert_eq!(
            config_ok(&on).metrics_listen,
            Some("127.0.0.1:9090".parse().unwrap())
        );
        assert!(Opts::try_parse_from(["piw-master", "--metrics-listen", "9090"]).is_err());
    }

    #[test]
    fn metrics_listen_from_the_configuration_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("piwheels.conf");
        std::fs::write(&file, "[master]\nmetrics_listen = 127.0.0.1:9191\n").unwrap();
        let opts: Opts =
            piwheels::config::try_parse_from(["piw-master"], std::slice::from_ref(&file)).unwrap();
        assert_eq!(
            config_ok(&opts).metrics_listen,
            Some("127.0.0.1:9191".parse().unwrap())
        );
    }

    #[test]
    fn queue_keys_and_plain_networks() {
        use clap::Parser;
        let dir = tempfile::tempdir().unwrap();
        let pair = KeyPair::generate().unwrap();
        pair.write(&dir.path().join("master")).unwrap();
        let secret = dir.path().join("master.key_secret");
        let secret = secret.to_str().unwrap();
        let allow = dir.path().to_str().unwrap();
        let opts = Opts::try_parse_from([
            "piw-master",
            "--master-secret-key",
            secret,
            "--allow-list",
            allow,
            "--allow-plain",
            "127.0.0.1,192.0.2.0/24",
            "--allow-plain",
            "::1",
            "--plain-slave-queue",
            "tcp://*:5565",
            "--plain-file-queue",
            "tcp://*:5566",
        ])
        .unwrap();
        let c = config(&opts).unwrap();
        assert_eq!(c.auth.key, Some(pair));
        assert_eq!(c.auth.allow_list.as_deref(), Some(dir.path()));
        let nets: Vec<String> = c.auth.allow_plain.iter().map(ToString::to_string).collect();
        assert_eq!(nets.len(), 3, "{nets:?}");
        assert_eq!(c.auth.plain_slave_queue.as_deref(), Some("tcp://*:5565"));
        assert_eq!(c.auth.plain_file_queue.as_deref(), Some("tcp://*:5566"));
        assert!(!c.auth.insecure);
        // --master-secret-key and --allow-list go together.
        assert!(Opts::try_parse_from(["piw-master", "--master-secret-key", secret]).is_err());
        assert!(Opts::try_parse_from(["piw-master", "--allow-list", allow]).is_err());
        assert!(Opts::try_parse_from(["piw-master", "--allow-plain", "nowhere"]).is_err());
        // An unreadable key file is a clear error naming it.
        let missing = dir.path().join("nothing.key_secret");
        let missing = missing.to_str().unwrap();
        let opts = Opts::try_parse_from([
            "piw-master",
            "--master-secret-key",
            missing,
            "--allow-list",
            allow,
        ])
        .unwrap();
        let err = format!("{:#}", config(&opts).unwrap_err());
        assert!(err.contains("nothing.key_secret"), "{err}");
        let insecure = Opts::try_parse_from(["piw-master", "--insecure"]).unwrap();
        assert!(config(&insecure).unwrap().auth.insecure);
        assert_eq!(
            config_ok(&Opts::try_parse_from(["piw-master"]).unwrap()).auth,
            QueueAuth::default()
        );
    }

    #[test]
    fn queue_keys_from_the_configuration_file() {
        // One file for the master and a slave on the same host (sections are cosmetic):
        // the master reads its own master-secret-key, not the slave's key.
        let dir = tempfile::tempdir().unwrap();
        let master = KeyPair::generate().unwrap();
        master.write(&dir.path().join("master")).unwrap();
        KeyPair::generate()
            .unwrap()
            .write(&dir.path().join("slave"))
            .unwrap();
        let file = dir.path().join("piwheels.conf");
        std::fs::write(
            &file,
            format!(
                "[master]\nmaster-secret-key = {0}/master.key_secret\nallow_list = {0}\ninsecure = yes\n\
                 [slave]\nmaster-key = {0}/master.key\nkey = {0}/slave.key_secret\n",
                dir.path().display()
            ),
        )
        .unwrap();
        let opts: Opts =
            piwheels::config::try_parse_from(["piw-master"], std::slice::from_ref(&file)).unwrap();
        let c = config(&opts).unwrap();
        assert_eq!(c.auth.key, Some(master));
        assert!(c.auth.insecure);
    }

    #[test]
    fn durations_sizes_and_globs() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("5m3").is_err());
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("1.5K"), Ok(1536));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("1Q").is_err());
        assert!(glob("the_*", "the_scribe"));
        assert!(glob("master.slave_driver", "slave_driver"));
        assert!(!glob("slave", "slave_driver"));
        assert!(matches!(parse_listen("off"), Ok(Listen(None))));
        assert!(parse_listen("nowhere").is_err());
        assert_eq!(
            parse_target("cp311/linux_x86_64"),
            Ok(Target::new("cp311", "linux_x86_64"))
        );
    }
}

#[cfg(test)]
#[path = "legacy/piw_master.rs"]
mod legacy_tests;
