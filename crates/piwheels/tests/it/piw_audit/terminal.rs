//! `piw-audit --fix` on a real terminal (tmux): it asks before repairing, `n` changes
//! nothing and says so in its exit status, `y` repairs; the progress bar is drawn on the
//! terminal, never when standard error is a pipe.

use std::path::Path;
use std::time::Duration;

use piwheels_db::Database;

use super::{
    audit, conf, damage, db_state, eventually, futures_executor_block, published, snapshot,
    start_writers,
};
use crate::support::tmux::Tmux;
use crate::support::wait_until;

/// Long enough for a loaded CI machine; every wait below gives up after it.
const LIMIT: Duration = Duration::from_secs(120);

/// The name of the first phase of the audit, which its progress bar shows.
const PHASE: &str = "package folders";

/// The question `--fix` asks.
const QUESTION: &str = "findings? [y/N]";

/// A shell command line: `piw-audit` on the configuration `conf` with `args` (and `home`
/// as its home).
fn command_line(conf: &Path, home: &Path, args: &str) -> String {
    format!(
        "HOME='{}' '{}' -c '{}' {args}",
        home.display(),
        env!("CARGO_BIN_EXE_piw-audit"),
        conf.display()
    )
}

/// What tmux recorded in `record` once it holds `until` (everything written before).
fn recorded_until(record: &Path, until: &str) -> String {
    wait_until(LIMIT, &format!("{until:?} in {}", record.display()), || {
        let text = String::from_utf8_lossy(&std::fs::read(record).unwrap_or_default()).into_owned();
        text.contains(until).then_some(text)
    })
}

/// Runs `piw-audit --fix` on a terminal of its own, waits for its question, checks what
/// was drawn before it, types `answer` and gives the screen once it has ended.
/// `stderr_to_pipe`: its standard error goes through a pipe (its standard input and
/// output stay on the terminal).
fn answer(dir: &Path, name: &str, line: &str, stderr_to_pipe: bool, answer: &str) -> String {
    let line = if stderr_to_pipe {
        format!("{{ {line} 2>&1 >/dev/tty; echo \"exit status $?\"; }} | cat")
    } else {
        format!("{line}; echo \"exit status $?\"")
    };
    let (tmux, record) = Tmux::start_recorded(dir, name, &format!("{line}; exec sleep 600"), LIMIT);
    tmux.wait("the question", |s| s.contains(QUESTION));
    let before = recorded_until(&record, QUESTION);
    tmux.keys(answer);
    tmux.keys("Enter");
    let screen = tmux.wait("the exit status", |s| s.contains("exit status "));
    let drawn = recorded_until(&record, "exit status ");
    if stderr_to_pipe {
        assert!(
            !drawn.contains(PHASE),
            "a progress bar was drawn with standard error on a pipe:\n{drawn}"
        );
    } else {
        assert!(
            before.contains(PHASE),
            "no progress bar ({PHASE:?}) was drawn on the terminal before the question:\n{before}"
        );
    }
    screen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_terminal_the_fix_asks_first_and_draws_its_progress() {
    let test = "on_a_terminal_the_fix_asks_first_and_draws_its_progress";
    if !Tmux::or_skip(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let dsn = format!("sqlite:{}", home.join("piwheels.db").display());
    Database::create(&dsn).await.unwrap();
    let outside = home.join("outside");
    std::fs::write(&outside, b"secret").unwrap();
    let (db, out, wheels, queue) = published(&dsn, home).await;
    damage(&out, &wheels, &outside);
    let before = (snapshot(&out), db_state(&db).await);
    let conf = conf(&dsn, &out, home);
    let fix = command_line(&conf, home, &format!("--fix --import-queue '{queue}'"));

    // n, with the progress bar on the terminal, and with standard error on a pipe (the
    // question is asked still: standard input is the terminal).
    for (name, stderr_to_pipe) in [("declined", false), ("declined-piped", true)] {
        let screen = tokio::task::block_in_place(|| answer(home, name, &fix, stderr_to_pipe, "n"));
        assert!(screen.contains("exit status 2"), "{screen}");
        assert!(screen.contains("nothing was changed"), "{screen}");
        assert_eq!(
            (snapshot(&out), db_state(&db).await),
            before,
            "something changed after n ({name})"
        );
    }

    // y repairs, and tells the master.
    let hub = start_writers(&db, &out, &queue);
    let screen = tokio::task::block_in_place(|| answer(home, "accepted", &fix, false, "y"));
    assert!(screen.contains("exit status 1"), "{screen}");
    assert!(screen.contains("fixed: 20 repaired, 0 failed;"), "{screen}");
    assert_ne!(snapshot(&out), before.0, "nothing was repaired after y");
    assert_eq!(std::fs::read(&outside).unwrap(), b"secret");
    eventually("no rewrites owed", || {
        futures_executor_block(db.load_rewrites_pending())
            .unwrap()
            .is_empty()
    })
    .await;
    eventually("the owed pages", || {
        out.join("simple/baz/index.html").is_file() && out.join("project/bar/index.html").is_file()
    })
    .await;
    let r = audit(&dsn, &out, home, &[]).await;
    assert_eq!(r.code, 0, "not clean after y:\n{}{}", r.stdout, r.stderr);
    hub.quit.cancel();
}
