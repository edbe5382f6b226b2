//! SlaveDriver's builds: from `BUILT` through the transfers (`SEND`/`SENT`, each file
//! verified and staged beside the loop) to the build logged in the database (retried) and
//! only then its wheels published and its pages asked for.
//!
//! Nothing of a build is visible before its row commits: its wheels wait in the output's
//! staging folder ([`crate::output`]) and are removed if the build fails or is abandoned.
//! A build the database cannot take (it is down) is kept, with its staged wheels, and
//! logged as soon as the database works again; the slave is not kept waiting.

use std::collections::VecDeque;

use piwheels_db::{NewBuild, Target};
use piwheels_protocol::quote::Quoted;
use piwheels_protocol::slave::{BuiltReport, SlaveReply};
use piwheels_protocol::states::{BuildState, FileState};
use piwheels_protocol::transport::Identity;

use super::{Answer, Completion, Core, Slave, SlaveDriver};
use crate::error::Result;
use crate::hub::{FsError, Hub, Remedy, WebRequest};
use crate::incoming::Build;
use crate::output::record::new_file;
use crate::output::{Staged, wheel};
use crate::slave_id::SlaveId;

/// How often a file is asked for before the build is logged as failed (a slave whose
/// uploads keep failing verification would otherwise be asked for ever).
pub const MAX_SEND_ATTEMPTS: u32 = 3;

/// Most builds kept while the database cannot take them; beyond this the oldest is
/// dropped and its job goes back in the queue.
pub const MAX_UNLOGGED: usize = 1000;

/// A finished build on its way to the database, with its staged wheels.
#[derive(Debug)]
pub(super) struct Pending {
    /// Who built it.
    pub(super) slave_id: SlaveId,
    pub(super) build: NewBuild,
    /// The build log.
    pub(super) output: String,
    pub(super) staged: Vec<Staged>,
}

/// Which build was logged, for its completion.
#[derive(Debug)]
pub(super) struct Finished {
    pub(super) slave_id: SlaveId,
    pub(super) target: Target,
    pub(super) package: String,
    pub(super) version: String,
    pub(super) status: bool,
}

impl Finished {
    fn of(p: &Pending) -> Self {
        let b = &p.build;
        Finished {
            slave_id: p.slave_id,
            target: b.target.clone(),
            package: b.package.clone(),
            version: b.version.clone(),
            status: b.status,
        }
    }
}

/// How logging a build ended.
#[derive(Debug)]
pub(super) enum Logged {
    /// Recorded (and its wheels published) as this build id.
    Done(i64),
    /// The database refused it for good (its version is gone): dropped.
    Dropped(String),
    /// The database failed: kept, to log again once it works.
    Kept(Box<Pending>),
}

impl Core {
    /// A token for work done beside the loop, that its completion is matched by.
    fn new_token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    /// `BUILT`: check what it declares, then start the transfers, or log the build.
    pub(super) async fn built(
        &mut self,
        peer: &Identity,
        slave: &mut Slave,
        report: BuiltReport,
    ) -> Answer {
        let id = slave.id();
        let job = slave
            .job()
            .cloned()
            .expect("accepts() checked the last reply");
        if slave.state.skipped {
            slave.state.skipped = false;
            tracing::info!(slave = %id, package = %job.package, "build skipped; not recorded");
            return Some(SlaveReply::Done);
        }
        let BuiltReport {
            mut status,
            duration,
            mut output,
            files,
        } = report;
        tracing::info!(slave = %id, package = %job.package, version = %job.version, status,
            files = files.len(), "build finished");
        if let Some(why) = self.over_limits(&files) {
            // An honest build can be this large: it is logged as failed, so the version
            // is not built again and again, and it is no strike (every slave that built
            // it would be put in cool-off in turn).
            if self.warnings.allow(peer) {
                tracing::warn!(slave = %id, package = %job.package, version = %job.version,
                    %why, "the build breaks the limits; refused before any transfer and logged as failed");
            }
            status = false;
            output.push_str(&format!("\n\nRefused by the master: {why}.\n"));
        } else if status {
            // Every declared file must be a wheel of the job: one that is not fails the
            // build before anything is transferred.
            let refused: Vec<String> = files
                .iter()
                .filter_map(|f| wheel::check_declared(f, &job.package, &job.version).err())
                .map(|r| r.to_string())
                .collect();
            if !refused.is_empty() {
                tracing::warn!(slave = %id, package = %job.package, version = %job.version,
                    refused = %refused.join("; "), "the build declared files that are not its wheels; logging it as failed");
                status = false;
                output.push_str("\n\nThe master refused the build's files:\n");
                for r in &refused {
                    output.push_str(&format!("  {r}\n"));
                }
            }
        }
        let build = Build::new(BuildState {
            slave_id: id.as_i64(),
            package: job.package.clone(),
            version: job.version.clone(),
            abi_tag: slave.state.native_abi().to_owned(),
            status,
            duration,
            output,
            files: if status { files } else { Vec::new() },
        });
        slave.state.build = Some(build);
        slave.staged.clear();
        self.next_transfer_or_log(peer, slave).await
    }

    /// Why a `BUILT`'s declared files break `--max-build-files` or `--max-wheel-size`, if
    /// they do, in words for the build log.
    fn over_limits(&self, files: &[FileState]) -> Option<String> {
        let config = &self.hub.config;
        if files.len() > config.max_build_files {
            return Some(format!(
                "the build declared {} files, over --max-build-files {}",
                files.len(),
                config.max_build_files
            ));
        }
        files
            .iter()
            .find(|f| u64::try_from(f.filesize).is_ok_and(|size| size > config.max_wheel_size))
            .map(|f| {
                format!(
                    "{} is {} bytes, over --max-wheel-size {}",
                    Quoted::str(&f.filename),
                    f.filesize,
                    config.max_wheel_size
                )
            })
    }

    /// Expects the next untransferred file and says `SEND`, or logs the build when none is
    /// left.
    async fn next_transfer_or_log(&mut self, peer: &Identity, slave: &mut Slave) -> Answer {
        let id = slave.id();
        let build = slave.state.build.as_mut().expect("a build in progress");
        if build.status
            && let Some(file) = build.next_file().cloned()
        {
            match self
                .hub
                .fs
                .prepare_from(id, file.clone(), Some(slave.origin.clone()))
                .await
            {
                Ok(()) => return Some(SlaveReply::Send(file.filename)),
                Err(e) if e.remedy() == Remedy::Requeue => {
                    return Some(self.abandon_transfer(slave, &file.filename, &e));
                }
                Err(e) => {
                    tracing::error!(slave = %id, file = %Quoted::str(&file.filename), error = %e,
                        "cannot receive the file; logging the build as failed");
                    fail(
                        slave,
                        &format!("The master could not receive {}: {e}", file.filename),
                    );
                }
            }
        }
        let token = self.new_token();
        let target = slave.target();
        let build = slave.state.build.as_ref().expect("a build in progress");
        let pending = Pending {
            slave_id: id,
            build: new_build(id, build, target),
            output: build.output.clone(),
            staged: std::mem::take(&mut slave.staged),
        };
        slave.busy = Some(token);
        self.spawn_log(peer.clone(), Some(token), pending);
        None
    }

    /// The master cannot take the file (a full disk): neither the build nor the slave is
    /// at fault, so the build is dropped unrecorded and its job goes back in the queue
    /// (the disk guard pauses the farm meanwhile).
    fn abandon_transfer(&mut self, slave: &mut Slave, file: &str, e: &FsError) -> SlaveReply {
        tracing::error!(slave = %slave.id(), file = %Quoted::str(file), error = %e,
            "the master cannot store the build's file; the build goes back in the queue");
        self.release_work(slave, "the master could not store it");
        SlaveReply::Done
    }

    /// `SENT`: verify the file beside the loop.
    pub(super) fn sent(&mut self, peer: &Identity, slave: &mut Slave) -> Answer {
        let token = self.new_token();
        let id = slave.id();
        let Some(SlaveReply::Send(filename)) = slave.state.last_reply.clone() else {
            unreachable!("accepts() checked the last reply");
        };
        let Some((package, version)) = (match &slave.state.build {
            Some(b) if !slave.state.skipped => Some((b.package.clone(), b.version.clone())),
            _ => None,
        }) else {
            slave.state.skipped = false;
            slave.state.build = None;
            slave.staged.clear();
            tracing::info!(
                slave = %id,
                "build skipped during its transfer; not recorded"
            );
            return Some(SlaveReply::Done);
        };
        slave.busy = Some(token);
        let fs = self.hub.fs.clone();
        let done = self.done_tx.clone();
        let peer = peer.clone();
        tokio::spawn(async move {
            let result = fs.verify(id, &package, &version).await;
            let _ = done.send(Completion::Verified {
                peer,
                token,
                slave_id: id,
                filename,
                result,
            });
        });
        None
    }

    /// Logs a build beside the loop (retrying database errors), then publishes its
    /// wheels; the completion answers the slave. With no slave to answer (an abandoned
    /// build, a retry), `token` is `None`.
    pub(super) fn spawn_log(&self, peer: Identity, token: Option<u64>, pending: Pending) {
        let hub = self.hub.clone();
        let done = self.done_tx.clone();
        let attempts = if token.is_some() {
            self.timing.log_attempts
        } else {
            1
        };
        let delay = self.timing.retry_delay;
        let build = Finished::of(&pending);
        tokio::spawn(async move {
            let result = log_and_publish(&hub, pending, attempts, delay).await;
            let _ = done.send(Completion::Logged {
                peer,
                token,
                build,
                result,
            });
        });
    }

    /// Logs the builds the database could not take, oldest first, one at a time: the
    /// first that fails again ends the round (the database is still down).
    pub(super) fn retry_unlogged(&mut self) {
        if self.retrying || self.unlogged.is_empty() {
            return;
        }
        self.retrying = true;
        let mut queue = std::mem::take(&mut self.unlogged);
        let hub = self.hub.clone();
        let done = self.done_tx.clone();
        tokio::spawn(async move {
            let mut logged = 0;
            while let Some(pending) = queue.pop_front() {
                let build = Finished::of(&pending);
                let result = log_and_publish(&hub, pending, 1, std::time::Duration::ZERO).await;
                match result {
                    Logged::Kept(pending) => {
                        queue.push_front(*pending);
                        break;
                    }
                    result => {
                        logged += 1;
                        let _ = done.send(Completion::Logged {
                            peer: Identity::new(Vec::new()),
                            token: None,
                            build,
                            result,
                        });
                    }
                }
            }
            if logged > 0 {
                tracing::info!(
                    logged,
                    left = queue.len(),
                    "builds kept through a database failure are logged"
                );
            }
            let _ = done.send(Completion::Retried(queue));
        });
    }

    /// Keeps a build the database could not take, dropping the oldest beyond
    /// [`MAX_UNLOGGED`] (its job goes back in the queue).
    fn keep_unlogged(&mut self, pending: Pending) {
        self.unlogged.push_back(pending);
        while self.unlogged.len() > MAX_UNLOGGED {
            if let Some(old) = self.unlogged.pop_front() {
                tracing::error!(package = %old.build.package, version = %old.build.version,
                    "too many builds wait for the database; dropping the oldest, to be built again");
                self.jobs
                    .release(&old.build.target, &old.build.package, &old.build.version);
            }
        }
    }

    /// A build's logging ended: the job lists, the pages and the kept builds follow.
    fn logged(&mut self, build: Finished, result: Logged) {
        let Finished {
            slave_id,
            target,
            package,
            version,
            status,
        } = build;
        match result {
            Logged::Done(build_id) => {
                tracing::info!(slave = %slave_id, package = %package, build_id, status, "build logged");
                // The database's queue says what is left to do now: the job is kept out
                // only until a queue read after this (a rebuild asked for later goes out
                // at once).
                self.jobs.logged(&target, &package, &version);
                self.hub.web(if status {
                    WebRequest::Published(package)
                } else {
                    WebRequest::Project(package)
                });
                self.hub.queue_changed.notify_one();
            }
            Logged::Dropped(why) => {
                tracing::warn!(slave = %slave_id, package = %package, %why, "build dropped");
            }
            Logged::Kept(pending) => {
                tracing::error!(slave = %slave_id, package = %package,
                    version = %pending.build.version, waiting = self.unlogged.len() + 1,
                    "the build could not be logged in the database; it is kept, and logged once the database works again");
                self.keep_unlogged(*pending);
            }
        }
    }

    /// A `SENT` file was checked: the next file, the same one again, or the end.
    async fn verified(
        &mut self,
        peer: &Identity,
        slave: &mut Slave,
        filename: String,
        result: std::result::Result<Staged, FsError>,
    ) -> Answer {
        let slave_id = slave.id();
        let e = match result {
            Ok(staged) => {
                slave.send_failures = 0;
                slave.staged.push(staged);
                if let Some(b) = slave.state.build.as_mut() {
                    b.mark_transferred(&filename);
                }
                return self.next_transfer_or_log(peer, slave).await;
            }
            Err(e) => e,
        };
        match e.remedy() {
            Remedy::Requeue => return Some(self.abandon_transfer(slave, &filename, &e)),
            Remedy::Refuse => {
                tracing::error!(slave = %slave_id, error = %e, "the file is refused; logging the build as failed");
                fail(slave, &format!("The master refused {filename}: {e}"));
                return self.next_transfer_or_log(peer, slave).await;
            }
            Remedy::SendAgain => {}
        }
        if slave.send_failures + 1 >= MAX_SEND_ATTEMPTS {
            tracing::error!(slave = %slave_id, file = %Quoted::str(&filename), error = %e,
                attempts = MAX_SEND_ATTEMPTS, "the file never arrived intact; logging the build as failed");
            slave.send_failures = 0;
            fail(
                slave,
                &format!(
                    "The master never received {filename} intact \
                     ({MAX_SEND_ATTEMPTS} attempts; last: {e})"
                ),
            );
            return self.next_transfer_or_log(peer, slave).await;
        }
        slave.send_failures += 1;
        tracing::warn!(slave = %slave_id, file = %Quoted::str(&filename), error = %e, "asking the slave to send it again");
        let file = slave
            .state
            .build
            .as_ref()
            .and_then(|b| b.file(&filename))
            .cloned();
        let Some(file) = file else {
            return Some(SlaveReply::Done);
        };
        match self
            .hub
            .fs
            .prepare_from(slave_id, file, Some(slave.origin.clone()))
            .await
        {
            Ok(()) => Some(SlaveReply::Send(filename)),
            Err(e) => Some(self.abandon_transfer(slave, &filename, &e)),
        }
    }

    /// Gives up what a slave was doing (after a protocol error, a `DIE`, a lost slave, a
    /// full disk): its job goes back in the queue at once, and its staged wheels and
    /// unfinished transfer are dropped.
    pub(super) fn release_work(&mut self, s: &mut Slave, why: &str) {
        let job = s.working_on().map(|(p, v)| (p.to_owned(), v.to_owned()));
        self.hub.fs.forget(s.id());
        s.staged.clear();
        s.state.build = None;
        s.send_failures = 0;
        s.build_started = None;
        if let Some((package, version)) = job {
            tracing::info!(slave = %s.id(), package = %package, version = %version, why,
                "build back in the queue");
            self.jobs.release(&s.target(), &package, &version);
        }
    }
}

impl SlaveDriver {
    /// Finishes what ran beside the loop, answering its slave if it is still the one the
    /// work was for.
    pub(super) async fn complete(&mut self, completion: Completion) -> Result<()> {
        match completion {
            Completion::Verified {
                peer,
                token,
                slave_id,
                filename,
                result,
            } => {
                let Some(slave) = self
                    .slaves
                    .get_mut(&peer)
                    .filter(|s| s.id() == slave_id && s.busy == Some(token))
                else {
                    return Ok(());
                };
                slave.busy = None;
                let answer = self.core.verified(&peer, slave, filename, result).await;
                self.socket.answer(&peer, slave, answer).await
            }
            Completion::Logged {
                peer,
                token,
                build,
                result,
            } => {
                let slave_id = build.slave_id;
                self.core.logged(build, result);
                let Some(slave) = self
                    .slaves
                    .get_mut(&peer)
                    .filter(|s| token.is_some() && s.id() == slave_id && s.busy == token)
                else {
                    return Ok(());
                };
                slave.busy = None;
                slave.state.build = None;
                self.socket.reply(&peer, slave, SlaveReply::Done).await
            }
            Completion::Retried(left) => {
                let core = &mut self.core;
                core.retrying = false;
                let mut left = left;
                left.extend(core.unlogged.drain(..));
                core.unlogged = left;
                Ok(())
            }
        }
    }
}

/// Marks a slave's build failed, saying why in its log; what it staged goes.
fn fail(slave: &mut Slave, why: &str) {
    slave.staged.clear();
    if let Some(b) = slave.state.build.as_mut() {
        b.status = false;
        b.output.push_str(&format!("\n\n{why}\n"));
    }
}

/// Logs a build (retrying up to `attempts` times, the wait doubling from `delay`), then
/// publishes its staged wheels. A build the database refuses for one of its wheels
/// (another build published that name meanwhile) is logged as failed instead.
async fn log_and_publish(
    hub: &Hub,
    mut pending: Pending,
    attempts: u32,
    mut delay: std::time::Duration,
) -> Logged {
    let mut attempt = 1;
    loop {
        match hub.db.log_build(&pending.build).await {
            Ok(build_id) => {
                hub.metrics
                    .build_logged(&pending.build.target, pending.build.status);
                hub.web(WebRequest::Log {
                    build_id,
                    log: std::mem::take(&mut pending.output),
                });
                let staged = std::mem::take(&mut pending.staged);
                if !staged.is_empty() {
                    let output = hub.output.clone();
                    let published =
                        tokio::task::spawn_blocking(move || output.publish(staged)).await;
                    match published {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => tracing::error!(build_id, error = %e,
                            "the build is recorded, but its wheels cannot be published yet; retrying"),
                        Err(e) => tracing::error!(build_id, error = %e, "publishing failed"),
                    }
                }
                return Logged::Done(build_id);
            }
            Err(piwheels_db::Error::NotFound { what, .. }) => {
                return Logged::Dropped(format!("the database has no {what}"));
            }
            Err(piwheels_db::Error::Invalid { why, .. }) if pending.build.status => {
                tracing::warn!(package = %pending.build.package, version = %pending.build.version,
                    %why, "the database refuses the build's wheels; logging it as failed");
                pending.staged.clear();
                pending.build.status = false;
                pending.build.files.clear();
                pending.output.push_str(&format!(
                    "\n\nThe master refused the build's wheels: {why}\n"
                ));
            }
            Err(e @ piwheels_db::Error::Invalid { .. }) => {
                return Logged::Dropped(e.to_string());
            }
            Err(e) if attempt >= attempts => {
                tracing::warn!(package = %pending.build.package, error = %e, attempts = attempt,
                    "logging the build failed");
                return Logged::Kept(Box::new(pending));
            }
            Err(e) => {
                tracing::warn!(package = %pending.build.package, error = %e, attempt,
                    "logging the build failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
        }
    }
}

/// Builds kept through a database failure, oldest first.
pub(super) type Unlogged = VecDeque<Pending>;

/// The database's form of a finished build: its real files (the database adds the armv6l
/// copies itself).
fn new_build(slave_id: SlaveId, build: &Build, target: Target) -> NewBuild {
    NewBuild {
        package: build.package.clone(),
        version: build.version.clone(),
        built_by: slave_id.as_i64(),
        target,
        status: build.status,
        duration: build.duration,
        built_at: None,
        files: if build.status {
            // Every file here was transferred and verified against its size.
            build
                .files()
                .filter_map(|(f, _)| new_file(f).ok())
                .collect()
        } else {
            Vec::new()
        },
    }
}
