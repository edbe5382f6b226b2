//! The README's first command, `scripts/farm`, as a new user runs it: with the tools already
//! built (`PIWHEELS_FARM_BIN`) and a local upstream index holding one sdist, it says what it
//! is doing, and once the first wheel is published it prints the pip command that installs
//! it from the farm; that command, run as printed, installs the package.

use crate::support;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::*;

/// How long the farm may take to build and publish the first wheel.
const FIRST_WHEEL: Duration = Duration::from_secs(300);

/// The script's process group, stopped (as Ctrl-C would) when the test ends either way.
struct Script(Child);

impl Drop for Script {
    fn drop(&mut self) {
        let group = -(self.0.id() as i32);
        // The script's trap stops the master, the slave and the announcer; the group's
        // SIGKILL afterwards leaves nothing behind if it did not.
        // SAFETY: kill(2) on the test's own child's process group.
        unsafe { libc::kill(group, libc::SIGTERM) };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // SAFETY: as above.
        unsafe { libc::kill(group, libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

#[test]
fn the_farm_script_says_when_the_first_wheel_is_there_and_how_to_install_it() {
    let test = "the_farm_script_says_when_the_first_wheel_is_there_and_how_to_install_it";
    let work = tempfile::Builder::new()
        .prefix("farm-script")
        .tempdir()
        .unwrap();
    // Builds run as nobody when the test runs as root: they must reach the build folder.
    std::fs::set_permissions(
        work.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let Some(upstream) = upstream_with(test, work.path(), &[("first-thing", "1.0", false)]) else {
        return;
    };

    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bin_dir = bin("piw-master").parent().unwrap().to_owned();
    let web_port = free_port();
    let mut cmd = Command::new(repo.join("scripts/farm"));
    cmd.arg("first-thing")
        .env("PIWHEELS_FARM_BIN", &bin_dir)
        .env("PIWHEELS_FARM_DIR", work.path().join("farm"))
        .env("PIWHEELS_UPSTREAM", &upstream.url)
        .env("PIWHEELS_FARM_WEB", format!("127.0.0.1:{web_port}"))
        .env("PIWHEELS_FARM_SLAVE_PORT", free_port().to_string())
        .env("PIWHEELS_FARM_FILE_PORT", free_port().to_string())
        .env("TMPDIR", work.path())
        .env("HOME", work.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0);
    clean_pip_env(&mut cmd);
    let mut script = Script(cmd.spawn().unwrap());

    // Every line the script prints, as it prints it.
    let (tx, rx) = mpsc::channel();
    let stdout = script.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    let mut said = Vec::new();
    let command = loop {
        let left = FIRST_WHEEL.saturating_sub(start.elapsed());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let done = line.trim_start().starts_with("pip install");
                said.push(line);
                if done {
                    break said.last().unwrap().trim().to_owned();
                }
            }
            Err(e) => panic!(
                "no pip command from scripts/farm after {:?} ({e}); it said:\n{}\nmaster log:\n{}",
                start.elapsed(),
                said.join("\n"),
                std::fs::read_to_string(work.path().join("farm/master.log")).unwrap_or_default()
            ),
        }
    };
    let text = said.join("\n");
    assert!(text.contains("waiting for the first wheel"), "{text}");
    assert!(
        text.contains("the first wheel is published: first_thing-1.0-py3-none-any.whl"),
        "{text}"
    );
    let index = format!("http://127.0.0.1:{web_port}/simple");
    assert_eq!(
        command,
        format!("pip install --index-url {index} first-thing"),
        "{text}"
    );
    // The command as printed, in a fresh venv that sees only that index.
    pip_install_and_run(work.path(), &index, &["first-thing"], "import first_thing");
}
