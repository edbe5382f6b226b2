//! TheSecretary: stands in front of TheScribe and keeps a busy package's pages from being
//! rewritten over and over (piwheels.md §1.3, §6.2).
//!
//! The first `PROJECT` or `BOTH` request for a package goes to the scribe at once, and
//! opens a window of `rewrite-delay` (3 s in dev mode) for it. Further requests for that
//! package within the window are merged (a `BOTH` upgrades a `PROJECT`) and sent once when
//! the window ends, which opens the next window; a window that ends with nothing merged
//! closes. So a page is never more than one window out of date, and is rewritten at most
//! once per window. (The original held even the first request for the whole window.)
//!
//! `DELPKG` and `DELVER` cancel what is pending for the package and go straight through;
//! `HOME`, `SEARCH` and `LOG` go straight through. While the master is paused, `PROJECT`
//! and `BOTH` are held, not sent, until it resumes.
//!
//! Nothing held is lost with the process: every change to the database records the
//! rewrites it owes in its own transaction, TheScribe clears them once written, and at
//! shutdown what is held is added with
//! [`Database::save_rewrites_pending`](piwheels_db::Database::save_rewrites_pending). At
//! start everything owed is taken up and sent at once.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};
use piwheels_db::{PendingRewrite, RewriteCommand};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::error::Result;
use crate::hub::{Hub, Task, WebRequest};

/// One package's state.
#[derive(Debug)]
struct Entry {
    /// The rewrite waiting for the window to end (or the master to resume).
    held: Option<RewriteCommand>,
    /// When the held rewrite was first asked for.
    added_at: DateTime<Utc>,
    /// Which window of the queue is this entry's (0: none open).
    window: u64,
}

/// The coalescing task (see the module docs).
pub struct TheSecretary {
    hub: Hub,
    inbox: mpsc::UnboundedReceiver<WebRequest>,
    scribe: mpsc::UnboundedSender<WebRequest>,
    entries: HashMap<String, Entry>,
    /// Open windows in the order they end: (end, package, window id). All windows are as
    /// long, so they end in the order they opened; ids tell a stale one from the current.
    windows: VecDeque<(Instant, String, u64)>,
    next_window: u64,
    loaded: bool,
}

impl std::fmt::Debug for TheSecretary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TheSecretary")
            .field("entries", &self.entries.len())
            .field("windows", &self.windows.len())
            .finish_non_exhaustive()
    }
}

fn request(pkg: String, cmd: RewriteCommand) -> WebRequest {
    match cmd {
        RewriteCommand::Project => WebRequest::Project(pkg),
        RewriteCommand::Both => WebRequest::Both(pkg),
    }
}

fn upgrade(held: Option<RewriteCommand>, cmd: RewriteCommand) -> RewriteCommand {
    match (held, cmd) {
        (Some(RewriteCommand::Both), _) | (_, RewriteCommand::Both) => RewriteCommand::Both,
        _ => RewriteCommand::Project,
    }
}

impl TheSecretary {
    /// A secretary reading web requests from `inbox` and passing them on to `scribe`.
    pub fn new(
        hub: Hub,
        inbox: mpsc::UnboundedReceiver<WebRequest>,
        scribe: mpsc::UnboundedSender<WebRequest>,
    ) -> TheSecretary {
        TheSecretary {
            hub,
            inbox,
            scribe,
            entries: HashMap::new(),
            windows: VecDeque::new(),
            next_window: 1,
            loaded: false,
        }
    }

    /// The rewrites held now (package, what), oldest first.
    pub fn pending(&self) -> Vec<PendingRewrite> {
        let mut out: Vec<PendingRewrite> = self
            .entries
            .iter()
            .filter_map(|(p, e)| {
                e.held.map(|command| PendingRewrite {
                    package: p.clone(),
                    added_at: e.added_at,
                    command,
                })
            })
            .collect();
        out.sort_by(|a, b| a.added_at.cmp(&b.added_at).then(a.package.cmp(&b.package)));
        out
    }

    fn delay(&self) -> Duration {
        self.hub.config.effective_rewrite_delay()
    }

    fn send(&self, req: WebRequest) {
        if self.scribe.send(req).is_err() {
            tracing::warn!("the scribe is not running; a web request is lost");
        }
    }

    fn open_window(&mut self, pkg: &str, end: Instant) -> u64 {
        let id = self.next_window;
        self.next_window += 1;
        // Windows reloaded at start may end earlier than ones already open: keep order.
        let at = self.windows.partition_point(|(e, _, _)| *e <= end);
        self.windows.insert(at, (end, pkg.to_owned(), id));
        id
    }

    /// Takes one request from the inbox.
    fn receive(&mut self, req: WebRequest) {
        let (pkg, cmd) = match req {
            WebRequest::Project(p) => (p, RewriteCommand::Project),
            WebRequest::Both(p) => (p, RewriteCommand::Both),
            WebRequest::Published(p) => {
                // New wheels: at once, superseding what is held, unless paused.
                if self.hub.is_paused() {
                    (p, RewriteCommand::Both)
                } else {
                    self.entries.remove(&p);
                    let end = Instant::now() + self.delay();
                    let window = self.open_window(&p, end);
                    self.entries.insert(
                        p.clone(),
                        Entry {
                            held: None,
                            added_at: Utc::now(),
                            window,
                        },
                    );
                    self.send(request(p, RewriteCommand::Both));
                    return;
                }
            }
            WebRequest::DeletePackage(ref p) | WebRequest::DeleteVersion(ref p, _) => {
                self.entries.remove(p);
                self.send(req);
                return;
            }
            other => {
                self.send(other);
                return;
            }
        };
        let paused = self.hub.is_paused();
        match self.entries.get_mut(&pkg) {
            Some(e) if e.window != 0 || paused || e.held.is_some() => {
                // A window is open (or the master is paused): merge.
                if e.held.is_none() {
                    e.added_at = Utc::now();
                }
                e.held = Some(upgrade(e.held, cmd));
            }
            _ if paused => {
                self.entries.insert(
                    pkg,
                    Entry {
                        held: Some(cmd),
                        added_at: Utc::now(),
                        window: 0,
                    },
                );
            }
            _ => {
                // The first request: at once, and a window for whatever follows.
                let end = Instant::now() + self.delay();
                let window = self.open_window(&pkg, end);
                self.entries.insert(
                    pkg.clone(),
                    Entry {
                        held: None,
                        added_at: Utc::now(),
                        window,
                    },
                );
                self.send(request(pkg, cmd));
            }
        }
    }

    /// Ends the windows due by `now`: sends what they hold (unless paused, when it stays
    /// held) and opens the next window for a package that had something.
    fn expire(&mut self, now: Instant) {
        let paused = self.hub.is_paused();
        while let Some((end, _, _)) = self.windows.front() {
            if *end > now {
                break;
            }
            let (_, pkg, id) = self.windows.pop_front().expect("front exists");
            let Some(e) = self.entries.get_mut(&pkg) else {
                continue;
            };
            if e.window != id {
                continue;
            }
            e.window = 0;
            if paused {
                if e.held.is_none() {
                    self.entries.remove(&pkg);
                }
                continue;
            }
            self.flush(pkg, now);
        }
    }

    /// Sends a package's held rewrite, if any, and opens its next window; with none, the
    /// entry goes.
    fn flush(&mut self, pkg: String, now: Instant) {
        let Some(e) = self.entries.get_mut(&pkg) else {
            return;
        };
        match e.held.take() {
            Some(cmd) => {
                let window = {
                    let end = now + self.delay();
                    self.open_window(&pkg, end)
                };
                if let Some(e) = self.entries.get_mut(&pkg) {
                    e.window = window;
                }
                self.send(request(pkg, cmd));
            }
            None => {
                if e.window == 0 {
                    self.entries.remove(&pkg);
                }
            }
        }
    }

    /// The master resumed: sends what waited for it, in the order it was asked for.
    fn resume(&mut self) {
        let now = Instant::now();
        let due: Vec<String> = self
            .pending()
            .into_iter()
            .map(|r| r.package)
            .filter(|p| self.entries.get(p).is_some_and(|e| e.window == 0))
            .collect();
        for pkg in due {
            self.flush(pkg, now);
        }
    }

    /// Takes up what the database says is owed (changes a previous run did not get to
    /// write, and what it held at shutdown): each is sent at once, as a first request,
    /// opening its window.
    async fn load(&mut self) -> Result<()> {
        if self.loaded {
            return Ok(());
        }
        let owed = self.hub.db.load_rewrites_pending().await?;
        if !owed.is_empty() {
            tracing::info!(count = owed.len(), "owed page rewrites taken up");
        }
        for r in owed {
            self.receive(request(r.package, r.command));
        }
        self.loaded = true;
        Ok(())
    }

    /// Saves what is held, for the next start.
    async fn save(&mut self) -> Result<()> {
        let pending: Vec<PendingRewrite> = self
            .pending()
            .into_iter()
            .filter(|r| crate::output::check_package(&r.package).is_ok())
            .collect();
        tracing::info!(count = pending.len(), "saving pending page rewrites");
        self.hub.db.save_rewrites_pending(&pending).await?;
        Ok(())
    }
}

impl Task for TheSecretary {
    const NAME: &'static str = "the_secretary";

    async fn run(&mut self) -> Result<()> {
        let quit = self.hub.quit.clone();
        let mut paused = self.hub.paused.clone();
        self.load().await?;
        loop {
            let next = self.windows.front().map(|(end, _, _)| *end);
            tokio::select! {
                biased;
                () = quit.cancelled() => break,
                req = self.inbox.recv() => match req {
                    Some(req) => self.receive(req),
                    None => {
                        quit.cancelled().await;
                        break;
                    }
                },
                changed = paused.changed() => {
                    if changed.is_err() {
                        quit.cancelled().await;
                        break;
                    }
                    if !*paused.borrow_and_update() {
                        self.resume();
                    }
                }
                () = async {
                    match next {
                        Some(end) => tokio::time::sleep_until(end).await,
                        None => std::future::pending().await,
                    }
                } => self.expire(Instant::now()),
            }
        }
        // Anything still in the inbox is kept too.
        while let Ok(req) = self.inbox.try_recv() {
            let (pkg, cmd) = match req {
                WebRequest::Project(p) => (p, RewriteCommand::Project),
                WebRequest::Both(p) | WebRequest::Published(p) => (p, RewriteCommand::Both),
                other => {
                    self.send(other);
                    continue;
                }
            };
            let e = self.entries.entry(pkg).or_insert(Entry {
                held: None,
                added_at: Utc::now(),
                window: 0,
            });
            e.held = Some(upgrade(e.held, cmd));
        }
        self.save().await
    }
}
