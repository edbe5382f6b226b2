//! Who builds run as. Never root: a slave started as root runs its builds as an
//! unprivileged user (`--run-as`, `nobody` by default), switched to in the child before
//! `exec`; any other slave runs them as itself.

use std::ffi::CString;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use nix::unistd::{Gid, Uid, User};

use crate::SlaveError;

/// The user a build runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildUser {
    /// User name (as the password database has it; the uid in decimal if it has none).
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups (including the primary one).
    pub groups: Vec<u32>,
    /// Whether the child must switch to this user (the slave runs as root).
    pub switch: bool,
}

impl BuildUser {
    /// Works out the build user from `--run-as` (a name or a uid).
    ///
    /// As root: `run_as`, or `nobody`; it must exist and must not be root. As anyone else:
    /// the slave's own user; `run_as`, if given, must name that same user.
    ///
    /// # Errors
    ///
    /// [`SlaveError::User`] saying what is wrong.
    pub fn resolve(run_as: Option<&str>) -> Result<Self, SlaveError> {
        let euid = Uid::effective();
        if euid.is_root() {
            let wanted = run_as.unwrap_or("nobody");
            let user = lookup(wanted)?;
            if user.uid.is_root() {
                return Err(SlaveError::User(format!(
                    "--run-as {wanted}: builds never run as root; name an unprivileged user"
                )));
            }
            let cname = CString::new(user.name.clone())
                .map_err(|_| SlaveError::User(format!("bad user name {:?}", user.name)))?;
            let groups = nix::unistd::getgrouplist(&cname, user.gid)
                .map(|g| g.into_iter().map(Gid::as_raw).collect())
                .unwrap_or_else(|_| vec![user.gid.as_raw()]);
            Ok(BuildUser {
                name: user.name,
                uid: user.uid.as_raw(),
                gid: user.gid.as_raw(),
                groups,
                switch: true,
            })
        } else {
            let me = User::from_uid(euid).ok().flatten();
            if let Some(wanted) = run_as {
                let user = lookup(wanted)?;
                if user.uid != euid {
                    return Err(SlaveError::User(format!(
                        "--run-as {wanted}: only a slave started as root can run builds as \
                         another user; this one runs as uid {euid}"
                    )));
                }
            }
            Ok(BuildUser {
                name: me.map_or_else(|| euid.to_string(), |u| u.name),
                uid: euid.as_raw(),
                gid: Gid::effective().as_raw(),
                groups: Vec::new(),
                switch: false,
            })
        }
    }

    /// Gives `path` to the build user (when builds switch user; a no-op otherwise).
    ///
    /// # Errors
    ///
    /// `chown` failing.
    pub fn give(&self, path: &Path) -> io::Result<()> {
        if self.switch {
            std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid))?;
        }
        Ok(())
    }

    /// Makes `cmd` start a new session (so the build is a process group of its own),
    /// switch to this user if need be, and die if the thread that started it dies.
    pub fn prepare(&self, cmd: &mut Command) {
        let switch = self.switch;
        let uid = self.uid;
        let gid = self.gid;
        let groups: Vec<libc::gid_t> = self.groups.clone();
        // SAFETY: the closure runs in the forked child before exec and calls only
        // async-signal-safe functions (setsid, setgroups, setgid, setuid, prctl) on data
        // prepared before the fork; it allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setsid() < 0 {
                    return Err(io::Error::last_os_error());
                }
                if switch {
                    if libc::setgroups(groups.len(), groups.as_ptr()) < 0
                        || libc::setgid(gid) < 0
                        || libc::setuid(uid) < 0
                    {
                        return Err(io::Error::last_os_error());
                    }
                    if libc::getuid() == 0 || libc::geteuid() == 0 {
                        return Err(io::Error::from_raw_os_error(libc::EPERM));
                    }
                }
                // After the user switch, which clears it.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
}

fn lookup(wanted: &str) -> Result<User, SlaveError> {
    let found = match wanted.parse::<u32>() {
        Ok(uid) => User::from_uid(Uid::from_raw(uid)),
        Err(_) => User::from_name(wanted),
    };
    match found {
        Ok(Some(u)) => Ok(u),
        Ok(None) => Err(SlaveError::User(format!("--run-as {wanted}: no such user"))),
        Err(e) => Err(SlaveError::User(format!(
            "--run-as {wanted}: cannot look the user up: {e}"
        ))),
    }
}
