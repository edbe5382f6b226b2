//! butter's integration tests, one binary: one module per kernel family, against the real
//! kernel.
//!
//! One module per subject (run one with `cargo nextest run -p butter <module>::`): one
//! binary links once instead of once per module. Under `cargo test` the tests run as
//! threads of this one process, so none may change process-wide state unguarded (see the
//! `test_support` crate).

mod common;

mod container;
mod eventfd;
mod fanotify;
mod inotify;
mod inotify_parse;
mod memfd;
mod netns;
mod pipe;
mod recursive;
mod sandbox;
mod seccomp;
mod sendfile;
#[cfg(feature = "tokio")]
mod sendfile_async;
mod signalfd;
mod timerfd;
#[cfg(feature = "tokio")]
mod tokio;
