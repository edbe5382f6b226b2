//! Finding and ending every process of a build, however it detached itself.
//!
//! A build is started in a session of its own (`setsid`), with a marker variable
//! ([`MARKER_VAR`]) unique to it in its environment, and the slave is a child subreaper,
//! so descendants orphaned by the build are re-parented to the slave rather than to init.
//! A process belongs to the build if any of these holds:
//!
//! - it is in the build's session (the session id is the leader's pid);
//! - its chain of parents reaches the leader or a process already known to belong;
//! - its environment carries the build's marker (so a grandchild that started a new
//!   session and lost its parent is still found).
//!
//! The tree is scanned every second while the build runs, so a process is known before
//! its parent dies. To end the build: `SIGTERM` to every member, up to the grace period
//! for them to go, then `SIGSTOP` (no more forking) and `SIGKILL` to whatever is left,
//! rescanning all along; then every member that has become the slave's child is reaped.
//!
//! Without a PID namespace or cgroup this is best effort against a hostile build that
//! clears its environment and double-forks between two scans; it is exact for every
//! ordinary way builds detach (daemons, `start_new_session`, `setpgid`, `nohup`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

/// The environment variable that marks a build's processes.
pub const MARKER_VAR: &str = "PIWHEELS_BUILD_MARKER";

/// One line of `/proc/<pid>/stat`: what the scan needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// Process id.
    pub pid: i32,
    /// State letter (`R`, `S`, `Z` …).
    pub state: char,
    /// Parent's pid.
    pub ppid: i32,
    /// Session id.
    pub session: i32,
}

/// Parses `/proc/<pid>/stat` (the command name may hold spaces and parentheses).
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let (head, rest) = text.rsplit_once(')')?;
    let pid = head.split(" (").next()?.trim().parse().ok()?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let _pgrp = fields.next()?;
    let session = fields.next()?.parse().ok()?;
    Some(ProcStat {
        pid,
        state,
        ppid,
        session,
    })
}

fn all_processes() -> BTreeMap<i32, ProcStat> {
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            && let Some(st) = parse_stat(&text)
        {
            out.insert(pid, st);
        }
    }
    out
}

fn has_marker(pid: i32, marker: &[u8]) -> bool {
    std::fs::read(format!("/proc/{pid}/environ"))
        .is_ok_and(|env| env.split(|&b| b == 0).any(|var| var == marker))
}

/// The processes of one build (see the module docs).
#[derive(Debug)]
pub struct ProcessTree {
    leader: i32,
    marker: Vec<u8>,
    known: BTreeSet<i32>,
    me: i32,
}

impl ProcessTree {
    /// The tree of the build whose leader (a session leader) is `leader`, marked with
    /// `MARKER_VAR=marker`.
    pub fn new(leader: u32, marker: &str) -> Self {
        let leader = i32::try_from(leader).unwrap_or(i32::MAX);
        ProcessTree {
            leader,
            marker: format!("{MARKER_VAR}={marker}").into_bytes(),
            known: BTreeSet::from([leader]),
            me: std::process::id() as i32,
        }
    }

    /// Looks for members; returns the live ones (not zombies), the leader included while
    /// it lives. Every member found is remembered.
    pub fn scan(&mut self) -> Vec<i32> {
        let procs = all_processes();
        // A pid that has gone may be reused by a stranger: forget it.
        let leader = self.leader;
        self.known
            .retain(|pid| *pid == leader || procs.contains_key(pid));
        let mut live = Vec::new();
        for st in procs.values() {
            if st.pid == self.me {
                continue;
            }
            let member = self.known.contains(&st.pid)
                || st.session == self.leader
                || self.descends(st, &procs)
                || (st.state != 'Z' && has_marker(st.pid, &self.marker));
            if member {
                self.known.insert(st.pid);
                if st.state != 'Z' && st.state != 'X' {
                    live.push(st.pid);
                }
            }
        }
        live
    }

    fn descends(&self, st: &ProcStat, procs: &BTreeMap<i32, ProcStat>) -> bool {
        let mut ppid = st.ppid;
        for _ in 0..4096 {
            if ppid <= 1 || ppid == self.me {
                return false;
            }
            if self.known.contains(&ppid) {
                return true;
            }
            match procs.get(&ppid) {
                Some(p) => ppid = p.ppid,
                None => return false,
            }
        }
        false
    }

    /// Sends `signal` to every live member (and the build's process group).
    fn signal_all(&mut self, signal: Signal) -> usize {
        let live = self.scan();
        let _ = nix::sys::signal::killpg(Pid::from_raw(self.leader), signal);
        for &pid in &live {
            let _ = kill(Pid::from_raw(pid), signal);
        }
        live.len()
    }

    /// Reaps members that have become the slave's children (never the leader, which its
    /// `std::process::Child` reaps).
    pub fn reap(&mut self) {
        for &pid in &self.known {
            if pid == self.leader {
                continue;
            }
            let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
        }
    }

    /// Ends every member: `SIGTERM`, `grace` for them to go, then `SIGSTOP` and
    /// `SIGKILL`. `leader_gone` reaps the leader (it is polled as members are) and says
    /// whether it has exited. Returns how many processes had to be killed.
    pub fn terminate(&mut self, grace: Duration, mut leader_gone: impl FnMut() -> bool) -> usize {
        if self.signal_all(Signal::SIGTERM) == 0 {
            leader_gone();
            self.reap();
            return 0;
        }
        let deadline = Instant::now() + grace;
        let mut left = 1;
        while Instant::now() < deadline {
            leader_gone();
            self.reap();
            left = self.scan().len();
            if left == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut killed = 0;
        if left > 0 {
            let hard = Instant::now() + Duration::from_secs(10);
            loop {
                self.signal_all(Signal::SIGSTOP);
                let n = self.signal_all(Signal::SIGKILL);
                killed = killed.max(n);
                leader_gone();
                self.reap();
                if n == 0 || Instant::now() > hard {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // Zombies re-parented to the slave are reaped as they appear.
        let until = Instant::now() + Duration::from_secs(2);
        loop {
            let gone = leader_gone();
            self.reap();
            let ours = all_processes().values().any(|st| {
                st.ppid == self.me && st.pid != self.leader && self.known.contains(&st.pid)
            });
            if (gone && !ours) || Instant::now() > until {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        killed
    }

    /// Every process ever found to belong to the build.
    pub fn known(&self) -> &BTreeSet<i32> {
        &self.known
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines() {
        let st = parse_stat("1234 (a b) c) S 1 1234 1234 0 -1 4194560 ...").unwrap();
        assert_eq!(
            st,
            ProcStat {
                pid: 1234,
                state: 'S',
                ppid: 1,
                session: 1234
            }
        );
        assert!(parse_stat("garbage").is_none());
        let mine = std::fs::read_to_string("/proc/self/stat").unwrap();
        assert_eq!(parse_stat(&mine).unwrap().pid, std::process::id() as i32);
    }
}
