//! The master's error type: what failed in a task, kept with its cause.

use std::path::PathBuf;

/// Why a task (or the master's start-up) failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] piwheels_db::Error),
    /// A socket failed.
    #[error(transparent)]
    Transport(#[from] piwheels_protocol::transport::TransportError),
    /// A file operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done, such as "writing".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A name that breaks the rules of [`piwheels_db::names`].
    #[error(transparent)]
    Name(#[from] piwheels_db::names::NameError),
    /// Anything else, said in words.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// An I/O error on a path.
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            what,
            path: path.into(),
            source,
        }
    }
}

impl From<crate::output::OutputError> for Error {
    fn from(e: crate::output::OutputError) -> Self {
        Error::Io {
            what: e.what,
            path: e.path,
            source: e.source,
        }
    }
}

/// A result with the master's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
