//! SlaveDriver's builds: from `BUILT` through the transfers (`SEND`/`SENT`, verified beside
//! the loop) to the build logged in the database (retried) and the pages asked for.

use piwheels_db::{NewBuild, NewFile, Target};
use piwheels_protocol::slave::{BuiltReport, SlaveReply};
use piwheels_protocol::states::{Build, BuildState, FileState};
use piwheels_protocol::transport::Identity;

use super::{Completion, SlaveDriver};
use crate::error::Result;
use crate::hub::WebRequest;

/// How often a file is asked for before the build is logged as failed (a slave whose
/// uploads keep failing verification would otherwise be asked for ever).
pub const MAX_SEND_ATTEMPTS: u32 = 3;

impl SlaveDriver {
    /// `BUILT`: start the transfers, or log the build.
    pub(super) async fn built(&mut self, peer: Identity, report: BuiltReport) -> Result<()> {
        let slave = self.slaves.get_mut(&peer).expect("known slave");
        let id = slave.state.slave_id;
        let job = slave
            .job()
            .cloned()
            .expect("accepts() checked the last reply");
        if slave.state.skipped {
            slave.state.skipped = false;
            tracing::info!(slave = id, package = %job.package, "build skipped; not recorded");
            return self.reply(&peer, SlaveReply::Done).await;
        }
        let BuiltReport {
            status,
            duration,
            output,
            files,
        } = report;
        tracing::info!(slave = id, package = %job.package, version = %job.version, status,
            files = files.len(), "build finished");
        let build = Build::new(BuildState {
            slave_id: id,
            package: job.package.clone(),
            version: job.version.clone(),
            abi_tag: slave.state.hello.abi.clone(),
            status,
            duration,
            output,
            files: if status { files } else { Vec::new() },
        });
        slave.state.build = Some(build);
        self.next_transfer_or_log(peer).await
    }

    /// Expects the next untransferred file and says `SEND`, or logs the build when none is
    /// left.
    pub(super) async fn next_transfer_or_log(&mut self, peer: Identity) -> Result<()> {
        let slave = self.slaves.get_mut(&peer).expect("known slave");
        let id = slave.state.slave_id;
        let build = slave.state.build.as_mut().expect("a build in progress");
        if build.status
            && let Some(file) = build.next_file().cloned()
        {
            match self.hub.fs.expect(id, file.clone()).await {
                Ok(()) => return self.reply(&peer, SlaveReply::Send(file.filename)).await,
                Err(e) => {
                    tracing::error!(slave = id, file = %file.filename, error = %e,
                        "cannot receive the file; logging the build as failed");
                    let slave = self.slaves.get_mut(&peer).expect("known slave");
                    let build = slave.state.build.as_mut().expect("a build in progress");
                    build.status = false;
                    build.output.push_str(&format!(
                        "\n\nThe master could not receive {}: {e}\n",
                        file.filename
                    ));
                }
            }
        }
        let slave = self.slaves.get_mut(&peer).expect("known slave");
        let target = slave.target();
        let build = slave.state.build.as_ref().expect("a build in progress");
        if !build.status {
            // A build that failed during its transfers: what was published of it goes.
            unpublish(&self.hub.config.output_path, build);
        }
        let new = new_build(build, target);
        let output = build.output.clone();
        let status = build.status;
        let token = self.next_token;
        self.next_token += 1;
        slave.busy = Some(token);
        self.spawn_log(peer, Some(token), new, output, status);
        Ok(())
    }

    /// `SENT`: verify the file beside the loop.
    pub(super) async fn sent(&mut self, peer: Identity) -> Result<()> {
        let slave = self.slaves.get_mut(&peer).expect("known slave");
        let id = slave.state.slave_id;
        let Some(SlaveReply::Send(filename)) = slave.state.last_reply.clone() else {
            unreachable!("accepts() checked the last reply");
        };
        if slave.state.skipped || slave.state.build.is_none() {
            slave.state.skipped = false;
            slave.state.build = None;
            tracing::info!(
                slave = id,
                "build skipped during its transfer; not recorded"
            );
            return self.reply(&peer, SlaveReply::Done).await;
        }
        let package = slave
            .state
            .build
            .as_ref()
            .map(|b| b.package.clone())
            .unwrap_or_default();
        let token = self.next_token;
        self.next_token += 1;
        slave.busy = Some(token);
        let fs = self.hub.fs.clone();
        let done = self.done_tx.clone();
        tokio::spawn(async move {
            let result = fs.verify(id, &package).await;
            let _ = done.send(Completion::Verified {
                peer,
                token,
                slave_id: id,
                filename,
                result,
            });
        });
        Ok(())
    }

    /// Logs a build beside the loop (retrying database errors); the completion answers the
    /// slave. With no slave to answer (an abandoned build), `peer` is still given, and the
    /// completion finds the slave has moved on.
    pub(super) fn spawn_log(
        &self,
        peer: Identity,
        token: Option<u64>,
        build: NewBuild,
        output: String,
        status: bool,
    ) {
        let db = self.hub.db.clone();
        let done = self.done_tx.clone();
        let timing = self.timing;
        let slave_id = build.built_by;
        tokio::spawn(async move {
            let mut delay = timing.retry_delay;
            let mut attempt = 1;
            let result = loop {
                match db.log_build(&build).await {
                    Ok(id) => break Ok(id),
                    Err(e) => {
                        let permanent = matches!(
                            e,
                            piwheels_db::Error::Invalid { .. }
                                | piwheels_db::Error::NotFound { .. }
                        );
                        if permanent || attempt >= timing.log_attempts {
                            tracing::error!(slave = slave_id, package = %build.package,
                                version = %build.version, status = build.status,
                                files = build.files.len(), attempts = attempt, error = %e,
                                "the build could not be logged in the database; it is lost and will be built again");
                            break Err(e.to_string());
                        }
                        tracing::warn!(slave = slave_id, package = %build.package, error = %e,
                            attempt, "logging the build failed; retrying");
                        tokio::time::sleep(delay).await;
                        delay *= 2;
                        attempt += 1;
                    }
                }
            };
            let _ = done.send(Completion::Logged {
                peer,
                token,
                slave_id,
                package: build.package,
                status,
                output,
                result,
            });
        });
    }

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
                    .filter(|s| s.state.slave_id == slave_id && s.busy == Some(token))
                else {
                    return Ok(());
                };
                slave.busy = None;
                match result {
                    Ok(()) => {
                        slave.send_failures = 0;
                        if let Some(b) = slave.state.build.as_mut() {
                            b.mark_transferred(&filename);
                        }
                        self.next_transfer_or_log(peer).await
                    }
                    Err(e) if slave.send_failures + 1 >= MAX_SEND_ATTEMPTS => {
                        tracing::error!(slave = slave_id, file = %filename, error = %e,
                            attempts = MAX_SEND_ATTEMPTS, "the file never arrived intact; logging the build as failed");
                        slave.send_failures = 0;
                        if let Some(b) = slave.state.build.as_mut() {
                            b.status = false;
                            b.output.push_str(&format!(
                                "\n\nThe master never received {filename} intact \
                                 ({MAX_SEND_ATTEMPTS} attempts; last: {e})\n"
                            ));
                        }
                        self.next_transfer_or_log(peer).await
                    }
                    Err(e) => {
                        slave.send_failures += 1;
                        tracing::warn!(slave = slave_id, file = %filename, error = %e, "asking the slave to send it again");
                        let file = slave
                            .state
                            .build
                            .as_ref()
                            .and_then(|b| b.file(&filename))
                            .cloned();
                        match file {
                            Some(file) => match self.hub.fs.expect(slave_id, file).await {
                                Ok(()) => self.reply(&peer, SlaveReply::Send(filename)).await,
                                Err(e) => {
                                    tracing::error!(slave = slave_id, error = %e, "cannot expect the file again; abandoning the build");
                                    self.slaves.get_mut(&peer).expect("known").state.build = None;
                                    self.reply(&peer, SlaveReply::Done).await
                                }
                            },
                            None => self.reply(&peer, SlaveReply::Done).await,
                        }
                    }
                }
            }
            Completion::Logged {
                peer,
                token,
                slave_id,
                package,
                status,
                output,
                result,
            } => {
                if let Ok(build_id) = result {
                    tracing::info!(slave = slave_id, package = %package, build_id, status, "build logged");
                    self.hub.web(WebRequest::Log {
                        build_id,
                        log: output,
                    });
                    self.hub.web(if status {
                        WebRequest::Published(package)
                    } else {
                        WebRequest::Project(package)
                    });
                    self.hub.queue_changed.notify_one();
                }
                let Some(slave) = self
                    .slaves
                    .get_mut(&peer)
                    .filter(|s| token.is_some() && s.state.slave_id == slave_id && s.busy == token)
                else {
                    return Ok(());
                };
                slave.busy = None;
                slave.state.build = None;
                self.reply(&peer, SlaveReply::Done).await
            }
        }
    }
}

/// The database's form of a finished build: its real files (the database adds the armv6l
/// copies itself).
fn new_build(build: &Build, target: Target) -> NewBuild {
    NewBuild {
        package: build.package.clone(),
        version: build.version.clone(),
        built_by: build.slave_id,
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

/// A wheel as the database records it; `Err` saying why for a negative size.
pub(crate) fn new_file(f: &FileState) -> Result<NewFile, String> {
    Ok(NewFile {
        filename: f.filename.clone(),
        filesize: u64::try_from(f.filesize)
            .map_err(|_| format!("{}: negative size {}", f.filename, f.filesize))?,
        filehash: f.filehash.clone(),
        package_tag: f.package_tag.clone(),
        package_version_tag: f.package_version_tag.clone(),
        py_version_tag: f.py_version_tag.clone(),
        abi_tag: f.abi_tag.clone(),
        platform_tag: f.platform_tag.clone(),
        requires_python: f.requires_python.clone(),
        dependencies: f
            .dependencies
            .iter()
            .map(|(tool, deps)| (tool.clone(), deps.iter().cloned().collect()))
            .collect(),
        location: f.location.clone(),
    })
}

/// Removes the files of `build` already published (and their metadata files and armv6l
/// links), for a build logged as failed after some of its files arrived.
fn unpublish(output: &std::path::Path, build: &Build) {
    let dir = output.join("simple").join(&build.package);
    for (file, transferred) in build.files() {
        if !transferred || crate::file_juggler::check_filename(&file.filename).is_err() {
            continue;
        }
        let mut names = vec![(file.filename.clone(), false)];
        if let Some(twin) = file.armv6_twin() {
            names.push((twin.filename, true));
        }
        for (name, links_only) in names {
            for path in [dir.join(&name), dir.join(format!("{name}.metadata"))] {
                let is_link =
                    std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
                if links_only && !is_link {
                    // A wheel really built for armv6l, not this build's link.
                    continue;
                }
                match std::fs::remove_file(&path) {
                    Ok(()) => {
                        tracing::info!(path = %path.display(), "removed a file of a failed build")
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "cannot remove a file of a failed build")
                    }
                }
            }
        }
    }
}
