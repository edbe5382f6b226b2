//! `--master-key FILE --key FILE`: how the admin tools and the monitor speak CURVE to a
//! master whose import, status and control queues are on the network (see
//! `piwheels_master::admin_auth`).
//!
//! `--master-key` is the master's public key file (`NAME.key`, as `piw-keygen` writes
//! it), `--key` the tool's own key pair (`NAME.key_secret`), whose public half the master's
//! allow-list folder must hold. Both or neither: without them the tools speak the NULL
//! mechanism, as the original's do (over `ipc://`, or to a master that admits them by
//! address).
//!
//! The keys apply to network endpoints only: the master's `ipc://` queues speak NULL
//! (their file's mode and group guard them), so [`on_endpoint`] leaves those sockets NULL.
//! One `piwheels.conf` can so serve the master, its slaves and its tools on one host: the
//! master's own key is `master-secret-key`, which no tool reads.

use std::path::PathBuf;

use piwheels_protocol::auth::{KeyError, KeyPair, PublicKey};
use piwheels_protocol::transport::Security;

/// The key options of every tool that talks to the master's import, status or control
/// queue.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct MasterKeyOpts {
    /// The master's public key file (NAME.key): speak CURVE to its queues (with --key).
    #[arg(long, value_name = "FILE")]
    pub master_key: Option<PathBuf>,
    /// This tool's own key pair (NAME.key_secret), in the master's allow-list (with
    /// --master-key).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
}

/// Why the key options cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    /// One of `--master-key` and `--key` without the other.
    #[error(
        "--master-key and --key go together: give both (the master's NAME.key and this \
         tool's NAME.key_secret) to speak CURVE, or neither"
    )]
    Half,
    /// A key file could not be read.
    #[error("cannot use the key file {}", path.display())]
    Key {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        #[source]
        source: KeyError,
    },
}

impl MasterKeyOpts {
    /// The security of the tool's sockets: a CURVE client with both keys, NULL with
    /// neither.
    ///
    /// # Errors
    ///
    /// [`MasterKeyError::Half`] with one of the two, [`MasterKeyError::Key`] for a file
    /// that cannot be read or holds no key (a `--key` file without the secret half).
    pub fn security(&self) -> Result<Security, MasterKeyError> {
        match (&self.master_key, &self.key) {
            (None, None) => Ok(Security::Null),
            (Some(master), Some(own)) => {
                let server = PublicKey::read(master).map_err(|source| MasterKeyError::Key {
                    path: master.clone(),
                    source,
                })?;
                let own = KeyPair::read(own).map_err(|source| MasterKeyError::Key {
                    path: own.clone(),
                    source,
                })?;
                Ok(Security::CurveClient { server, own })
            }
            _ => Err(MasterKeyError::Half),
        }
    }
}

/// The security for a socket connecting to `endpoint`: `security` on TCP, NULL on the
/// master's local (`ipc://`, `inproc://`) queues, which the master never guards with CURVE.
pub fn on_endpoint(security: Security, endpoint: &str) -> Security {
    if endpoint.starts_with("tcp://") {
        security
    } else {
        Security::Null
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_apply_to_network_endpoints_only() {
        let own = KeyPair::generate().unwrap();
        let curve = Security::CurveClient {
            server: KeyPair::generate().unwrap().public,
            own,
        };
        assert_eq!(on_endpoint(curve, "tcp://10.0.0.1:5557"), curve);
        assert_eq!(on_endpoint(curve, "ipc:///tmp/piw-import"), Security::Null);
        assert_eq!(on_endpoint(curve, "inproc://x"), Security::Null);
    }
}
