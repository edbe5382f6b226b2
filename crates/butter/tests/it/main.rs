//! butter's integration tests, one binary: one module per kernel family, against the real kernel.
//!
//! Each former test file is a module here (run one with
//! `cargo nextest run -p butter <module>::`); one binary links once instead of once per
//! file. Under `cargo test` the tests share this process: see `test_support` for what
//! that rules out.

mod common;

mod container;
mod eventfd;
mod fanotify;
mod inotify;
mod inotify_parse;
mod memfd;
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
