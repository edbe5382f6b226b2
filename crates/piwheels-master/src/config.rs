//! What the master is told to do: the options of `piw-master` (piwheels.md §8.2) and the ones this
//! master adds, as one plain struct. `piw-master` fills it from the command line, the
//! environment and `piwheels.conf`; tests build it directly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use piwheels_db::Target;
use piwheels_protocol::auth::{KeyPair, Network};

/// The master's configuration. [`MasterConfig::new`] gives the defaults for a database and
/// an output directory.
#[derive(Debug, Clone)]
pub struct MasterConfig {
    /// The database (`dsn`): `sqlite:PATH` or a PostgreSQL URL.
    pub dsn: String,
    /// Where the web output is written (`output-path`).
    pub output_path: PathBuf,
    /// `dev-mode`: page rewrites are held for 3 s at most, and the logs are verbose. Unlike
    /// the original, new packages are not marked skipped.
    pub dev_mode: bool,
    /// The upstream simple index that CloudGazer follows (`pypi-simple`), such as
    /// `https://example.org/simple`. `None`: the index pip is configured with, read at
    /// start-up from pip's own configuration.
    pub upstream: Option<String>,
    /// The upstream JSON API (`pypi-json`), such as `https://example.org/pypi`, from which
    /// CloudGazer takes the summary of each project whose page changed (`<url>/<name>/json`,
    /// `info.summary`). `None` (no default: a plain simple index has none): descriptions
    /// are left as they are, and projects link to their simple page upstream.
    pub upstream_json: Option<String>,
    /// The upstream's XML-RPC endpoint (`pypi-xmlrpc`), such as `https://example.org/pypi`:
    /// when set, CloudGazer follows the upstream through its changelog
    /// (`changelog_since_serial`) from the serial stored in the database, falling back to
    /// the simple index's diff when the changelog cannot be read (see
    /// [`cloud_gazer::changelog`](crate::cloud_gazer::changelog)). `None`: the diff only.
    pub upstream_xmlrpc: Option<String>,
    /// The index URL handed to slaves in `ACK`, for `pip wheel --index-url`. `None`: the
    /// upstream index.
    pub build_index: Option<String>,
    /// Which upstream projects to follow: `None` follows every project of the upstream
    /// index; a list follows only those (canonical names).
    pub follow: Option<Vec<String>>,
    /// How often CloudGazer polls the upstream index.
    pub upstream_poll: Duration,
    /// How many requests CloudGazer makes to the upstream at once (`upstream-concurrency`),
    /// for project pages and for summaries alike; 1 to
    /// [`MAX_UPSTREAM_CONCURRENCY`](crate::cloud_gazer::MAX_UPSTREAM_CONCURRENCY).
    pub upstream_concurrency: usize,
    /// How long one request to the upstream may take, reading the answer included
    /// (`upstream-timeout`); the project list, which is large, is given
    /// [`LIST_TIMEOUT_FACTOR`](crate::upstream::LIST_TIMEOUT_FACTOR) times that.
    pub upstream_timeout: Duration,
    /// Build targets to enable at start-up (in addition to those the database has).
    pub targets: Vec<Target>,
    /// Monitors' status socket (PUB), `status-queue`.
    pub status_queue: String,
    /// Monitors' control socket (PULL), `control-queue`.
    pub control_queue: String,
    /// Admin tools' socket (ROUTER), `import-queue`.
    pub import_queue: String,
    /// `piw-logger`'s socket (PULL), `log-queue`.
    pub log_queue: String,
    /// Build slaves' socket (ROUTER), `slave-queue`.
    pub slave_queue: String,
    /// File transfers' socket (ROUTER), `file-queue`.
    pub file_queue: String,
    /// Where the embedded web server listens (`web-listen`); `None` turns it off.
    pub web_listen: Option<SocketAddr>,
    /// Where the metrics server listens (`metrics-listen`), serving `GET /metrics` in the
    /// Prometheus text format; `None` (the default) turns it off.
    pub metrics_listen: Option<SocketAddr>,
    /// The public URL of the site, for links in project pages, JSON and sitemaps
    /// (`site-url`).
    pub site_url: String,
    /// Where users report a problem with a project (`report-url`), linked from each
    /// project page; `{package}` in it is replaced by the project's name. `None`: no link.
    pub report_url: Option<String>,
    /// How often TheArchitect re-reads the build queue even when nothing announced new
    /// versions (`queue-period`).
    pub queue_period: Duration,
    /// How long TheSecretary coalesces further rewrites of a page after writing it at once
    /// (`rewrite-delay`; 3 s in dev mode).
    pub rewrite_delay: Duration,
    /// Slaves silent for longer are forgotten (the slave's `busy_timeout` if it is shorter).
    pub busy_timeout: Duration,
    /// Below this much free space on the output's filesystem, every slave is put to sleep.
    pub min_free_space: u64,
    /// The largest file a build may declare (`max-wheel-size`): 1 GiB. A `BUILT` that
    /// declares a larger one is refused before any transfer and logged as a failed build
    /// whose log says why (it is not built again, and is no strike against the slave);
    /// FileJuggler refuses to expect one too (imports included).
    pub max_wheel_size: u64,
    /// The most files a build may declare (`max-build-files`): 64. `pip wheel --no-deps`
    /// makes one wheel; a few backends make several; 64 leaves room for them while bounding
    /// the transfers, checks and database rows one `BUILT` can cause. A build over it is
    /// logged as failed, as for `max_wheel_size`.
    pub max_build_files: usize,
    /// When a slave that breaks the protocol repeatedly is refused jobs for a while.
    pub cool_off: crate::slave_driver::CoolOffPolicy,
    /// Who may use the queues: the master's key, the allow-list, plain networks.
    pub auth: QueueAuth,
    /// The group the `ipc://` socket files of the import, status, control and log queues
    /// are given, when it exists (mode 0660: see [`crate::admin_auth::secure_ipc`]).
    pub ipc_group: String,
}

/// Who may use the master's queues: CURVE with an allow-list of public keys, NULL
/// (original piwheels) peers from listed networks, or, told `--insecure`, anyone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueAuth {
    /// The master's CURVE key pair (`--master-secret-key NAME.key_secret`). With it, the slave and file
    /// queues, and any import, status or control queue on TCP, speak CURVE.
    pub key: Option<KeyPair>,
    /// The folder of admitted public keys (`--allow-list DIR`), read again whenever it
    /// changes: deleting a key's file revokes it.
    pub allow_list: Option<PathBuf>,
    /// Networks whose NULL-mechanism (original piwheels) peers are admitted
    /// (`--allow-plain FROM`).
    pub allow_plain: Vec<Network>,
    /// `--insecure`: listen beyond loopback with no keys and no `--allow-plain`.
    pub insecure: bool,
    /// `--plain-slave-queue`: with `key` and `allow_plain`, where original (NULL) slaves
    /// connect for jobs (the slave queue itself speaks CURVE); checked by address.
    pub plain_slave_queue: Option<String>,
    /// `--plain-file-queue`: the same for file transfers.
    pub plain_file_queue: Option<String>,
}

impl MasterConfig {
    /// The defaults, for a database and an output directory.
    pub fn new(dsn: impl Into<String>, output_path: impl Into<PathBuf>) -> Self {
        MasterConfig {
            dsn: dsn.into(),
            output_path: output_path.into(),
            dev_mode: false,
            upstream: None,
            upstream_json: None,
            upstream_xmlrpc: None,
            build_index: None,
            follow: None,
            upstream_poll: Duration::from_secs(60),
            upstream_concurrency: 4,
            upstream_timeout: Duration::from_secs(30),
            targets: Vec::new(),
            status_queue: "ipc:///tmp/piw-status".into(),
            control_queue: "ipc:///tmp/piw-control".into(),
            import_queue: "ipc:///tmp/piw-import".into(),
            log_queue: "ipc:///tmp/piw-logger".into(),
            slave_queue: "tcp://*:5555".into(),
            file_queue: "tcp://*:5556".into(),
            web_listen: Some(SocketAddr::from(([127, 0, 0, 1], 8080))),
            metrics_listen: None,
            site_url: "http://127.0.0.1:8080".into(),
            report_url: None,
            queue_period: Duration::from_secs(300),
            rewrite_delay: Duration::from_secs(60),
            busy_timeout: Duration::from_secs(300),
            min_free_space: 1 << 30,
            max_wheel_size: 1 << 30,
            max_build_files: 64,
            cool_off: crate::slave_driver::CoolOffPolicy::default(),
            auth: QueueAuth::default(),
            ipc_group: crate::admin_auth::IPC_GROUP.into(),
        }
    }

    /// The coalescing window in effect (3 s at most in dev mode).
    pub fn effective_rewrite_delay(&self) -> Duration {
        if self.dev_mode {
            self.rewrite_delay.min(Duration::from_secs(3))
        } else {
            self.rewrite_delay
        }
    }
}
