//! MrChase: the admin tools' requests on the import queue (piwheels.md §3.4) — `piw-add`
//! (`ADDPKG`, `ADDVER`), `piw-remove` (`REMPKG`, `REMVER`), `piw-rebuild` (`REBUILD`) and
//! `piw-import` (`IMPORT`, then `SEND`/`SENT` for each file).
//!
//! Every request gets exactly one reply, as a REQ client needs: a malformed one gets
//! `ERROR` with what was wrong, and the task keeps serving. Names and versions are checked
//! against the rules of [`piwheels_db::names`] (a name that breaks them, such as `../x`,
//! `a/b` or `x y`, or a version with a path separator, whitespace or a control character,
//! gets `ERROR` saying what is wrong with it), then names are canonicalised here. A new
//! version that is not PEP 440 is taken only if the upstream index lists it for the
//! package, with a warning.
//!
//! Unlike the original (piwheels.md §13.3), deletions leave TheScribe the database rows it needs
//! to find the files it must remove: a deleted version or package is first marked skipped
//! (`deleted`), so nothing builds or shows it, the web and skip requests go out, and the
//! rows themselves are deleted a grace period later ([`DELETE_GRACE`] by default; see
//! [`crate::deletion`], which CloudGazer uses too).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use piwheels_db::names::{self, Name, PackageVersion};
use piwheels_db::{NewBuild, NewFile, Target};
use piwheels_protocol::import::{
    AddPackage, AddVersion, ImportProtocol, ImportReply, ImportRequest, RebuildTarget,
    RemovePackage, RemoveVersion,
};
use piwheels_protocol::states::{BuildState, FileState};
use piwheels_protocol::transport::asynchronous::Router;
use piwheels_protocol::transport::{Identity, SocketOptions, zmq};

use crate::admin_auth::{AdminGuard, secure_ipc_logged};
use crate::deletion::{DELETE_GRACE, DELETED, Deletion, delete_later};
use crate::error::Result;
use crate::hub::{Hub, SkipRequest, StatsMessage, Task, WebRequest};
use crate::incoming::Build;
use crate::log_limit::PeerWarnings;
use crate::output::record::{NegativeSize, new_file};
use crate::output::{Staged, wheel};
use crate::slave_id::SlaveId;
use crate::upstream::{Fetched, IndexClient, UpstreamError, index_url};

/// How many times one imported file may fail verification before the import is abandoned.
const MAX_ATTEMPTS: u32 = 3;

/// How long asking the upstream index about a version may take (the admin tool waits).
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(10);

/// An import in progress for one tool (REQ identity).
#[derive(Debug)]
struct Import {
    build: Build,
    /// The build target it is recorded under.
    target: Target,
    /// The wheels received and verified so far, staged until the build is recorded.
    staged: Vec<Staged>,
    /// The file last asked for, and how many times it has been sent.
    current: Option<(String, u32)>,
}

/// The task: the import queue's ROUTER and the imports in progress.
pub struct MrChase {
    hub: Hub,
    router: Router<ImportProtocol>,
    imports: HashMap<Identity, Import>,
    grace: Duration,
    /// The rate limit on warnings about tools' requests.
    warnings: PeerWarnings<Identity>,
    /// The upstream index, once asked about a version that is not PEP 440.
    upstream: Option<IndexClient>,
    /// The ZAP handler of the import queue's context, when it is guarded.
    _guard: AdminGuard,
}

impl std::fmt::Debug for MrChase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MrChase")
            .field("router", &self.router)
            .field("imports", &self.imports.len())
            .finish_non_exhaustive()
    }
}

/// A reply: `DONE text` or `ERROR text`.
fn done(what: &str) -> ImportReply {
    ImportReply::Done(what.to_owned())
}

fn error(what: impl Into<String>) -> ImportReply {
    ImportReply::Error(what.into())
}

/// The `ERROR` reply to a name or version that breaks the rules (logged at debug level:
/// the tool shows the reason, and a peer cannot fill the log with refusals).
fn refused(e: impl std::fmt::Display) -> ImportReply {
    tracing::debug!(task = "mr_chase", error = %e, "request refused");
    error(e.to_string())
}

/// A request's package name, checked as sent (see [`names::validate_name`]): whitespace
/// around it is refused like whitespace in it.
fn checked_name(name: &str) -> std::result::Result<Name, ImportReply> {
    names::validate_name(name).map_err(refused)
}

/// A request's version, checked as sent (see [`names::validate_version`]).
fn checked_version(version: &str) -> std::result::Result<PackageVersion, ImportReply> {
    names::validate_version(version).map_err(refused)
}

impl MrChase {
    /// Binds the import queue (`hub.config.import_queue`, a ROUTER), guarded as
    /// [`admin_auth`](crate::admin_auth) says: CURVE on the network when the master has a
    /// key; an `ipc://` socket file mode 0660 with the piwheels group, so admin tools run
    /// by the group can use it.
    pub fn bind(hub: Hub) -> Result<MrChase> {
        let ctx = zmq::Context::new();
        let endpoint = hub.config.import_queue.clone();
        let mut guard = AdminGuard::new(&ctx, Arc::clone(&hub.policy));
        let options = guard.options("import", &endpoint, &hub.config.auth, SocketOptions::new())?;
        let router = Router::<ImportProtocol>::bind(&ctx, &endpoint, &options)?;
        guard.watch("import", &endpoint, router.socket())?;
        secure_ipc_logged("import", &endpoint, &hub.config.ipc_group);
        Ok(MrChase {
            hub,
            router,
            imports: HashMap::new(),
            grace: DELETE_GRACE,
            warnings: PeerWarnings::new(Self::NAME),
            upstream: None,
            _guard: guard,
        })
    }

    /// Sets how long deleted rows are kept for TheScribe (default [`DELETE_GRACE`]).
    #[must_use]
    pub fn with_delete_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The endpoint bound (wildcards resolved).
    pub fn endpoint(&self) -> Result<String> {
        Ok(self.router.endpoint()?)
    }

    /// Answers one request from `peer`. Database failures are answered as `ERROR` too.
    async fn answer(&mut self, peer: &Identity, request: ImportRequest) -> ImportReply {
        let result = match request {
            ImportRequest::AddPackage(r) => self.add_package(r).await,
            ImportRequest::AddVersion(r) => self.add_version(r).await,
            ImportRequest::RemovePackage(r) => self.remove_package(r).await,
            ImportRequest::RemoveVersion(r) => self.remove_version(r).await,
            ImportRequest::Rebuild(r) => self.rebuild(r).await,
            ImportRequest::Import(r) => self.import(peer, r).await,
            ImportRequest::Sent => self.sent(peer).await,
        };
        result.unwrap_or_else(|e| {
            tracing::error!(task = "mr_chase", error = %e, "request failed");
            error(e.to_string())
        })
    }

    /// Records the spellings of a package: the aliases, then the display name last and
    /// newest (so it becomes the display name); the canonical name as of the epoch.
    async fn record_names(&mut self, canon: &str, display: &str, aliases: &[String]) -> Result<()> {
        let now = Utc::now();
        if display != canon {
            self.hub.db.add_package_name(canon, canon, None).await?;
        }
        for alias in aliases {
            if alias != display {
                let seen = now - TimeDelta::milliseconds(1);
                self.hub
                    .db
                    .add_package_name(canon, alias, Some(seen))
                    .await?;
            }
        }
        self.hub
            .db
            .add_package_name(canon, display, Some(now))
            .await?;
        Ok(())
    }

    fn check_aliases(canon: &str, aliases: &[String]) -> Option<ImportReply> {
        aliases
            .iter()
            .find_map(|a| names::validate_alias(a, canon).err())
            .map(|e| refused(format!("the alias: {e}")))
    }

    /// Whether the upstream index lists `version` for the package `name`.
    async fn upstream_lists(
        &mut self,
        name: &str,
        version: &str,
    ) -> std::result::Result<bool, UpstreamError> {
        let client = match &self.upstream {
            Some(c) => c.clone(),
            None => {
                let c = IndexClient::new(&index_url(&self.hub.config).await?, UPSTREAM_TIMEOUT)?;
                self.upstream = Some(c.clone());
                c
            }
        };
        Ok(match client.project(name, None).await? {
            Some(Fetched::Changed { value, .. }) => value
                .files
                .iter()
                .any(|f| f.version.as_deref() == Some(version)),
            Some(Fetched::Unchanged) | None => false,
        })
    }

    /// `None` if a new `version` may be added: a PEP 440 one always; another only if the
    /// upstream index lists it (and then with a warning). Else the `ERROR` reply.
    async fn check_new_version(
        &mut self,
        display: &str,
        canon: &str,
        version: &str,
    ) -> Option<ImportReply> {
        if names::is_pep440(version) {
            return None;
        }
        let not_pep440 = format!("version {version:?} of {canon} is not a PEP 440 version");
        match self.upstream_lists(display, version).await {
            Ok(true) => {
                tracing::warn!(
                    task = "mr_chase",
                    package = canon,
                    version,
                    "adding a version that is not PEP 440: the upstream index lists it"
                );
                None
            }
            Ok(false) => Some(refused(format!(
                "{not_pep440}, and the upstream index does not list it"
            ))),
            Err(e) => Some(refused(format!(
                "{not_pep440}, and the upstream index could not be asked whether it lists it: {e}"
            ))),
        }
    }

    async fn add_package(&mut self, r: AddPackage) -> Result<ImportReply> {
        let name = match checked_name(&r.package) {
            Ok(n) => n,
            Err(reply) => return Ok(reply),
        };
        let canon = name.canonical().into_string();
        let display = name.into_string();
        if let Some(e) = Self::check_aliases(&canon, &r.aliases) {
            return Ok(e);
        }
        if !self.hub.db.package_exists(&canon).await? {
            self.hub
                .db
                .add_new_package(&canon, &r.skip, &r.description)
                .await?;
            self.record_names(&canon, &display, &r.aliases).await?;
            self.hub.web(WebRequest::Both(canon));
            return Ok(done("NEWPKG"));
        }
        if !r.skip.is_empty() {
            return Ok(error("SKIPPKG"));
        }
        if r.unskip {
            self.hub.db.skip_package(&canon, "").await?;
            self.hub.queue_changed.notify_one();
        }
        if !r.description.is_empty() {
            self.hub
                .db
                .set_package_description(&canon, &r.description)
                .await?;
        }
        self.record_names(&canon, &display, &r.aliases).await?;
        self.hub.web(WebRequest::Project(canon));
        Ok(done("UPDPKG"))
    }

    async fn add_version(&mut self, r: AddVersion) -> Result<ImportReply> {
        let (name, version) = match (checked_name(&r.package), checked_version(&r.version)) {
            (Ok(n), Ok(v)) => (n, v.into_string()),
            (Err(reply), _) | (_, Err(reply)) => return Ok(reply),
        };
        let canon = name.canonical().into_string();
        let display = name.into_string();
        if let Some(e) = Self::check_aliases(&canon, &r.aliases) {
            return Ok(e);
        }
        if !self.hub.db.package_exists(&canon).await? {
            return Ok(error("NOPKG"));
        }
        let new = !self.hub.db.version_exists(&canon, &version).await?;
        if new && let Some(reply) = self.check_new_version(&display, &canon, &version).await {
            return Ok(reply);
        }
        self.record_names(&canon, &display, &r.aliases).await?;
        if new {
            self.hub
                .db
                .add_new_package_version(&canon, &version, Some(r.released), &r.skip)
                .await?;
            if r.yank {
                self.hub.db.yank_version(&canon, &version).await?;
            }
            self.hub.web(WebRequest::Project(canon));
            self.hub.queue_changed.notify_one();
            return Ok(done("NEWVER"));
        }
        if !r.skip.is_empty() {
            return Ok(error("SKIPVER"));
        }
        if r.yank {
            return Ok(error("YANKVER"));
        }
        if r.unskip {
            self.hub
                .db
                .skip_package_version(&canon, &version, "")
                .await?;
            self.hub.queue_changed.notify_one();
        }
        if r.unyank {
            self.hub.db.unyank_version(&canon, &version).await?;
        }
        self.hub.web(WebRequest::Both(canon));
        Ok(done("UPDVER"))
    }

    async fn remove_package(&mut self, r: RemovePackage) -> Result<ImportReply> {
        let canon = match checked_name(&r.package) {
            Ok(n) => n.canonical().into_string(),
            Err(reply) => return Ok(reply),
        };
        if !self.hub.db.package_exists(&canon).await? {
            return Ok(error("NOPKG"));
        }
        let reply;
        if !r.skip.is_empty() {
            self.hub.db.skip_package(&canon, &r.skip).await?;
            reply = if r.builds { "DELPKGBLD" } else { "SKIPPKG" };
        } else if !r.builds {
            self.hub.db.skip_package(&canon, DELETED).await?;
            reply = "DELPKG";
        } else {
            reply = "DELPKGBLD";
        }
        // The web request goes first, while the rows still say which files there are.
        self.hub.web(WebRequest::DeletePackage(canon.clone()));
        let _ = self.hub.skip.send(SkipRequest::Package(canon.clone()));
        if r.builds {
            let versions = self
                .hub
                .db
                .project_data(&canon)
                .await?
                .map(|d| d.releases.keys().cloned().collect())
                .unwrap_or_default();
            delete_later(&self.hub, self.grace, Deletion::Builds(canon, versions));
        } else if r.skip.is_empty() {
            delete_later(&self.hub, self.grace, Deletion::Package(canon));
        }
        Ok(done(reply))
    }

    async fn remove_version(&mut self, r: RemoveVersion) -> Result<ImportReply> {
        let (canon, version) = match (checked_name(&r.package), checked_version(&r.version)) {
            (Ok(n), Ok(v)) => (n.canonical().into_string(), v.into_string()),
            (Err(reply), _) | (_, Err(reply)) => return Ok(reply),
        };
        if !self.hub.db.version_exists(&canon, &version).await? {
            return Ok(error("NOVER"));
        }
        let mut reply = "";
        if !r.skip.is_empty() {
            self.hub
                .db
                .skip_package_version(&canon, &version, &r.skip)
                .await?;
            reply = "SKIPVER";
        }
        if r.yank {
            self.hub.db.yank_version(&canon, &version).await?;
            self.hub.web(WebRequest::Both(canon.clone()));
            reply = "YANKVER";
        }
        if r.builds {
            reply = "DELVERBLD";
        }
        let delete = r.skip.is_empty() && !r.yank && !r.builds;
        if delete {
            self.hub
                .db
                .skip_package_version(&canon, &version, DELETED)
                .await?;
            reply = "DELVER";
        }
        if delete || r.builds || !r.skip.is_empty() {
            self.hub
                .web(WebRequest::DeleteVersion(canon.clone(), version.clone()));
            let _ = self
                .hub
                .skip
                .send(SkipRequest::Version(canon.clone(), version.clone()));
        }
        if r.builds {
            delete_later(
                &self.hub,
                self.grace,
                Deletion::Builds(canon.clone(), vec![version.clone()]),
            );
        }
        if delete {
            delete_later(&self.hub, self.grace, Deletion::Version(canon, version));
        }
        Ok(done(reply))
    }

    async fn rebuild(&mut self, r: RebuildTarget) -> Result<ImportReply> {
        let (package, both) = match r {
            RebuildTarget::Home => {
                self.hub.stat(StatsMessage::Home);
                return Ok(done("REBUILD"));
            }
            RebuildTarget::Search => {
                self.hub.stat(StatsMessage::Search);
                return Ok(done("REBUILD"));
            }
            RebuildTarget::Project(p) => (p, false),
            RebuildTarget::Both(p) => (p, true),
        };
        let packages: BTreeSet<String> = match package {
            Some(p) => {
                let canon = match checked_name(&p) {
                    Ok(n) => n.canonical().into_string(),
                    Err(reply) => return Ok(reply),
                };
                if !self.hub.db.package_exists(&canon).await? {
                    return Ok(error(format!("unknown package {p}")));
                }
                BTreeSet::from([canon])
            }
            None => self.hub.db.all_packages().await?,
        };
        for p in packages {
            self.hub.web(if both {
                WebRequest::Both(p)
            } else {
                WebRequest::Project(p)
            });
        }
        Ok(done("REBUILD"))
    }

    /// The build target of an import: the ABI's target for the files' platform, or the
    /// ABI's first target if every file is platform-independent.
    async fn import_target(
        &mut self,
        state: &BuildState,
    ) -> Result<std::result::Result<Target, NoTarget>> {
        let targets: Vec<Target> = self
            .hub
            .db
            .build_targets()
            .await?
            .into_iter()
            .map(|(t, _)| t)
            .filter(|t| t.abi == state.abi_tag)
            .collect();
        if targets.is_empty() {
            return Ok(Err(NoTarget::Abi(state.abi_tag.clone())));
        }
        let platforms: BTreeSet<&str> = state
            .files
            .iter()
            .map(|f| f.platform_tag.as_str())
            .filter(|p| *p != "any")
            .collect();
        if platforms.is_empty() {
            return Ok(Ok(targets[0].clone()));
        }
        Ok(targets
            .iter()
            .find(|t| platforms.contains(t.platform.as_str()))
            .cloned()
            .ok_or_else(|| NoTarget::Platform {
                abi: state.abi_tag.clone(),
                platforms: platforms.into_iter().map(str::to_owned).collect(),
            }))
    }

    async fn import(&mut self, peer: &Identity, mut state: BuildState) -> Result<ImportReply> {
        self.imports.remove(peer);
        state.slave_id = 0;
        if let Err(reply) = checked_name(&state.package).and(checked_version(&state.version)) {
            return Ok(reply);
        }
        state.package = names::canonicalize_name(&state.package);
        if !state.status {
            return Ok(error("importing a failed build is not supported"));
        }
        if state.files.is_empty() {
            return Ok(error("no files listed for import"));
        }
        let target = match self.import_target(&state).await? {
            Ok(t) => t,
            Err(why) => return Ok(error(why.to_string())),
        };
        if !self
            .hub
            .db
            .version_exists(&state.package, &state.version)
            .await?
        {
            return Ok(error(format!(
                "unknown package version {} {}",
                state.package, state.version
            )));
        }
        for f in &state.files {
            if let Err(refused) = wheel::check_declared(f, &state.package, &state.version) {
                return Ok(error(refused.to_string()));
            }
            if let Err(why) = imported_file(f) {
                return Ok(error(why.to_string()));
            }
        }
        // Unlike the original, the build is recorded only once every file has arrived and
        // been verified, so nothing is listed that is not there.
        let import = Import {
            build: Build::new(state),
            target,
            staged: Vec::new(),
            current: None,
        };
        self.next_file(peer, import).await
    }

    /// Asks for the next file to transfer (or the same one again), or records the build
    /// and publishes its wheels.
    async fn next_file(&mut self, peer: &Identity, mut import: Import) -> Result<ImportReply> {
        let Some(file) = import.build.next_file().cloned() else {
            return self.record(import).await;
        };
        let attempts = match &import.current {
            Some((name, n)) if *name == file.filename => n + 1,
            _ => 1,
        };
        if attempts > MAX_ATTEMPTS {
            return Ok(error(format!(
                "{} failed verification {MAX_ATTEMPTS} times; import abandoned",
                file.filename
            )));
        }
        if let Err(why) = self.hub.fs.prepare(SlaveId::IMPORT, file.clone()).await {
            return Ok(error(why.to_string()));
        }
        import.current = Some((file.filename.clone(), attempts));
        self.imports.insert(peer.clone(), import);
        Ok(ImportReply::Send(file.filename))
    }

    /// Every file is in: records the build, then publishes its wheels.
    async fn record(&mut self, import: Import) -> Result<ImportReply> {
        let Import {
            build,
            target,
            staged,
            ..
        } = import;
        let files = build
            .files()
            .filter_map(|(f, _)| imported_file(f).ok())
            .collect();
        let counted = target.clone();
        let build_id = match self
            .hub
            .db
            .log_build(&NewBuild {
                package: build.package.clone(),
                version: build.version.clone(),
                built_by: 0,
                target,
                status: true,
                duration: build.duration,
                built_at: None,
                files,
            })
            .await
        {
            Ok(id) => id,
            Err(e) => return Ok(error(format!("cannot log the build: {e}"))),
        };
        self.hub.metrics.build_logged(&counted, true);
        let output = self.hub.output.clone();
        match tokio::task::spawn_blocking(move || output.publish(staged)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(task = "mr_chase", build_id, error = %e,
                "the import is recorded, but its wheels cannot be published yet; retrying"),
            Err(e) => tracing::error!(task = "mr_chase", build_id, error = %e, "publishing failed"),
        }
        self.hub.web(WebRequest::Log {
            build_id,
            log: build.output.clone(),
        });
        self.hub.web(WebRequest::Published(build.package.clone()));
        // The version no longer waits for the targets its wheels serve: SlaveDriver keeps
        // it out until TheArchitect has read the queue again.
        let _ = self.hub.skip.send(SkipRequest::Built(
            build.package.clone(),
            build.version.clone(),
        ));
        self.hub.queue_changed.notify_one();
        Ok(done("IMPORT"))
    }

    async fn sent(&mut self, peer: &Identity) -> Result<ImportReply> {
        let Some(mut import) = self.imports.remove(peer) else {
            return Ok(error("protocol violation"));
        };
        let (package, version) = (import.build.package.clone(), import.build.version.clone());
        match self
            .hub
            .fs
            .verify(SlaveId::IMPORT, &package, &version)
            .await
        {
            Ok(staged) => {
                if let Some((name, _)) = &import.current {
                    import.build.mark_transferred(&name.clone());
                }
                import.staged.push(staged);
            }
            Err(why) if why.retry() => {
                tracing::warn!(task = "mr_chase", package = %package, %why, "imported file failed verification; asking again");
            }
            Err(why) => {
                tracing::warn!(task = "mr_chase", package = %package, %why, "imported file refused; import abandoned");
                return Ok(error(why.to_string()));
            }
        }
        self.next_file(peer, import).await
    }
}

/// A wheel of an import as the database records it: as a build's, with the original's
/// `/simple` where the import names no location.
fn imported_file(f: &FileState) -> std::result::Result<NewFile, NegativeSize> {
    let mut file = new_file(f)?;
    if file.location.is_empty() {
        file.location = "/simple".to_owned();
    }
    Ok(file)
}

/// Why an import has no build target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum NoTarget {
    /// No build target has the import's ABI.
    #[error("invalid ABI: {0}")]
    Abi(String),
    /// None of the ABI's targets is for the files' platforms.
    #[error("invalid ABI: {abi} has no build target for {}", .platforms.join(", "))]
    Platform {
        /// The import's ABI.
        abi: String,
        /// The files' platforms.
        platforms: Vec<String>,
    },
}

impl Task for MrChase {
    const NAME: &'static str = "mr_chase";

    async fn run(&mut self) -> Result<()> {
        loop {
            let received = tokio::select! {
                r = self.router.recv() => r?,
                () = self.hub.quit.cancelled() => return Ok(()),
            };
            let (peer, reply) = match received {
                (peer, Ok(request)) => {
                    tracing::debug!(task = Self::NAME, %peer, request = request_name(&request), "request");
                    let reply = self.answer(&peer, request).await;
                    (peer, reply)
                }
                (peer, Err(e)) => {
                    if self.warnings.allow(&peer) {
                        tracing::warn!(task = Self::NAME, %peer, error = %e, "invalid request");
                    }
                    self.imports.remove(&peer);
                    (peer, error(e.to_string()))
                }
            };
            if let Err(e) = self.router.send_to(&peer, &reply).await {
                if e.is_protocol() {
                    tracing::error!(task = Self::NAME, %peer, error = %e, "cannot send the reply");
                    self.router
                        .send_to(&peer, &error("the reply could not be encoded"))
                        .await?;
                } else {
                    return Err(e.into());
                }
            }
        }
    }
}

fn request_name(r: &ImportRequest) -> &'static str {
    use piwheels_protocol::Message;
    r.name()
}
