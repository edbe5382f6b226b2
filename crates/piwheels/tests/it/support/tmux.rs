//! A real program on a real terminal, driven through tmux: keys sent, the screen
//! captured, and (if asked) every byte the program wrote to the terminal recorded.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use test_support::process::output_within;

/// The session's name on the server of each [`Tmux`].
const SESSION: &str = "t";

/// A tmux server of a test's own (its socket in the test's folder), with one program in a
/// detached session of a fixed size (150 columns, 40 lines). The server is killed when
/// this is dropped, with whatever still runs in it.
pub struct Tmux {
    socket: String,
    /// How long [`Tmux::wait`] waits.
    limit: Duration,
}

impl Tmux {
    /// Whether tmux is installed.
    pub fn available() -> Result<(), String> {
        match Command::new("tmux").arg("-V").output() {
            Ok(o) if o.status.success() => Ok(()),
            _ => Err("tmux is not installed".into()),
        }
    }

    /// Whether `test` can run: without tmux it prints `SKIPPED <test>: ...` and gives
    /// false, unless `CI` is set (CI must run it: it panics).
    pub fn or_skip(test: &str) -> bool {
        match Tmux::available() {
            Ok(()) => true,
            Err(why) => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "{why}, and CI must run {test}"
                );
                test_support::skip(test, &why);
                false
            }
        }
    }

    /// Runs the shell command `command` in a new session of a server whose socket is
    /// `dir/name`; [`Tmux::wait`] gives up after `limit`.
    pub fn start(dir: &Path, name: &str, command: &str, limit: Duration) -> Tmux {
        let tmux = Tmux {
            socket: dir.join(name).display().to_string(),
            limit,
        };
        let out = tmux.run(&[
            "new-session",
            "-d",
            "-s",
            SESSION,
            "-x",
            "150",
            "-y",
            "40",
            command,
        ]);
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tmux
    }

    /// As [`Tmux::start`], and every byte written to the terminal from the start of
    /// `command` on is appended to the file it gives (the program waits for the recording
    /// to begin).
    pub fn start_recorded(
        dir: &Path,
        name: &str,
        command: &str,
        limit: Duration,
    ) -> (Tmux, PathBuf) {
        let record = dir.join(format!("{name}.record"));
        let tmux = Tmux::start(dir, name, &format!("read _ready; {command}"), limit);
        let out = tmux.run(&[
            "pipe-pane",
            "-t",
            SESSION,
            &format!("cat >> '{}'", record.display()),
        ]);
        assert!(
            out.status.success(),
            "tmux pipe-pane: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tmux.keys("Enter");
        (tmux, record)
    }

    /// Runs a tmux command on this server.
    pub fn run(&self, args: &[&str]) -> Output {
        output_within(
            Command::new("tmux").args(["-S", &self.socket]).args(args),
            b"",
            Duration::from_secs(30),
            "tmux",
        )
    }

    /// What the terminal shows now.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", SESSION]).stdout)
            .into_owned()
    }

    /// Types `keys` (tmux key names: `Enter`, `Escape`, or plain text).
    pub fn keys(&self, keys: &str) {
        let out = self.run(&["send-keys", "-t", SESSION, keys]);
        assert!(out.status.success(), "tmux send-keys {keys}");
    }

    /// Whether the session still runs (its program has not ended).
    pub fn running(&self) -> bool {
        self.run(&["has-session", "-t", SESSION]).status.success()
    }

    /// Waits until the screen shows what `pred` wants, and gives that screen.
    pub fn wait(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if pred(&screen) {
                return screen;
            }
            assert!(
                start.elapsed() < self.limit,
                "the terminal never showed {what} in {:?}:\n{screen}",
                self.limit
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}
