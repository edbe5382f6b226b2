//! A hook told how long each database operation took, so that a caller can keep figures
//! (the master's Prometheus metrics) without this crate depending on a metrics library.
//!
//! Every operation of [`Database`](crate::Database) goes through one runner, which times
//! it, waiting for a pooled connection included, and tells the installed
//! [`QueryObserver`] once it has ended, whether it succeeded or not.

use std::time::Duration;

/// What one database operation was and how it went, as told to a [`QueryObserver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryTiming {
    /// The operation's name (the [`Database`](crate::Database) method, such as
    /// `log_build` or `build_queue`): a fixed set, fit for a metrics label.
    pub op: &'static str,
    /// Whether it writes (it then waited its turn for SQLite's single writer).
    pub write: bool,
    /// How long it took, from asking for a connection to the end of its transaction.
    pub elapsed: Duration,
    /// Whether it succeeded.
    pub ok: bool,
}

/// Told of every database operation once it has ended (see [`QueryTiming`]); installed
/// with [`Database::observe_queries`](crate::Database::observe_queries).
///
/// It is called on the task that ran the operation, after its result is in: it must be
/// quick and must not block (update an atomic, a histogram).
pub trait QueryObserver: Send + Sync + 'static {
    /// One operation ended.
    fn observe(&self, timing: QueryTiming);
}
