//! Watches a directory tree and prints inotify events as they happen.
//!
//! ```sh
//! cargo run --release -p butter --example watch -- [DIR]
//! ```
//!
//! DIR defaults to the current directory. Every directory below it is watched too,
//! including those created while it runs. Stop it with Ctrl-C.

use std::process::ExitCode;

use butter::EventSource;
use butter::inotify::{Mask, RecursiveWatcher, TreeEvent};

fn main() -> ExitCode {
    let dir = std::env::args_os().nth(1).unwrap_or_else(|| ".".into());
    let mask = Mask::CREATE
        | Mask::DELETE
        | Mask::MODIFY
        | Mask::CLOSE_WRITE
        | Mask::ATTRIB
        | Mask::MOVE
        | Mask::DELETE_SELF
        | Mask::MOVE_SELF;
    let mut watcher = match RecursiveWatcher::new(&dir, mask) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("watch: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "watching {} ({} directories); press Ctrl-C to stop",
        watcher.root().display(),
        watcher.watched_dirs().count()
    );
    loop {
        match watcher.read_event() {
            Ok(TreeEvent::Change(c)) => {
                let what = format!("{:?}", c.kind);
                let dir = if c.is_dir { "/" } else { "" };
                let how = if c.scanned { "  (found by scan)" } else { "" };
                let cookie = if c.cookie != 0 {
                    format!("  [cookie {}]", c.cookie)
                } else {
                    String::new()
                };
                println!("{what:<13} {}{dir}{cookie}{how}", c.path.display());
            }
            Ok(TreeEvent::Overflow) => {
                println!("OVERFLOW      events were lost; the tree was rescanned")
            }
            Ok(TreeEvent::Unwatched { path, error }) => {
                eprintln!("not watched:  {}: {error}", path.display())
            }
            Err(e) => {
                eprintln!("watch: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
}
