//! CURVE key pairs and their files (ZeroMQ's Z85 text, czmq's certificate layout).

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Why a key could not be made, read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Reading or writing a key file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// The file holds no key of the kind asked for, or a malformed one.
    #[error("{path}: {why}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        why: &'static str,
    },
    /// A key given as text is not 40 characters of Z85.
    #[error("not a CURVE key (40 characters of Z85): {0:?}")]
    BadText(String),
    /// libzmq could not make a key pair (no CURVE in the linked libzmq).
    #[error("libzmq could not make a CURVE key pair: {0}")]
    Generate(zmq::Error),
}

macro_rules! key_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name([u8; 32]);

        impl $name {
            /// The key from its 32 bytes.
            pub const fn from_bytes(bytes: [u8; 32]) -> Self {
                $name(bytes)
            }

            /// The key's 32 bytes.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// The key as 40 characters of Z85.
            pub fn to_z85(&self) -> String {
                zmq::z85_encode(&self.0).expect("32 bytes are a multiple of 4")
            }

            /// The key from 40 characters of Z85 (surrounding white space ignored).
            pub fn from_z85(text: &str) -> Result<Self, KeyError> {
                let text = text.trim();
                let bad = || KeyError::BadText(crate::quote::cut(text, 60).into_owned());
                if text.len() != 40 {
                    return Err(bad());
                }
                let bytes = zmq::z85_decode(text).map_err(|_| bad())?;
                Ok($name(bytes.try_into().map_err(|_| bad())?))
            }
        }
    };
}

key_type!(
    /// A CURVE public key: shown to peers, listed in allow-lists. Displayed as Z85.
    PublicKey
);
key_type!(
    /// A CURVE secret key. Never displayed (its `Debug` hides it).
    SecretKey
);

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_z85())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// A CURVE key pair.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct KeyPair {
    /// The public half.
    pub public: PublicKey,
    /// The secret half.
    pub secret: SecretKey,
}

impl KeyPair {
    /// A new random key pair (libzmq's `zmq_curve_keypair`, libsodium underneath).
    pub fn generate() -> Result<Self, KeyError> {
        let pair = zmq::CurveKeyPair::new().map_err(KeyError::Generate)?;
        Ok(KeyPair {
            public: PublicKey(pair.public_key),
            secret: SecretKey(pair.secret_key),
        })
    }

    /// Writes `BASE.key` (the public key, mode 0644) and `BASE.key_secret` (both keys,
    /// mode 0600, made so: never readable by others, not even for a moment), in czmq's
    /// certificate layout. Existing files are not overwritten. Returns both paths.
    pub fn write(&self, base: &Path) -> Result<(PathBuf, PathBuf), KeyError> {
        let public_path = with_suffix(base, ".key");
        let secret_path = with_suffix(base, ".key_secret");
        let public = certificate("Public", &self.public, None);
        let secret = certificate("**Secret**", &self.public, Some(&self.secret));
        write_new(&secret_path, 0o600, &secret)?;
        write_new(&public_path, 0o644, &public)?;
        Ok((public_path, secret_path))
    }

    /// Reads a secret key file (`NAME.key_secret`: both keys, as [`KeyPair::write`],
    /// czmq and pyzmq write them).
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let text = read_text(path)?;
        let secret = field(&text, "secret-key")
            .ok_or_else(|| malformed(path, "no secret-key in this file"))?;
        let secret = SecretKey::from_z85(secret).map_err(|_| malformed(path, "bad secret-key"))?;
        let public = field(&text, "public-key")
            .ok_or_else(|| malformed(path, "no public-key in this file"))?;
        let public = PublicKey::from_z85(public).map_err(|_| malformed(path, "bad public-key"))?;
        Ok(KeyPair { public, secret })
    }
}

impl PublicKey {
    /// Reads a public key file, and when it stops being valid: its certificate's
    /// `expires = "YYYY-MM-DDTHH:MM:SSZ"` metadata (czmq's), if it has one. A file with an
    /// `expires` that is no such time is malformed (it admits nobody).
    pub fn read_with_expiry(path: &Path) -> Result<(Self, Option<SystemTime>), KeyError> {
        let key = PublicKey::read(path)?;
        let text = read_text(path)?;
        let Some(expires) = field(&text, "expires") else {
            return Ok((key, None));
        };
        let when = chrono::DateTime::parse_from_rfc3339(expires)
            .map_err(|_| malformed(path, "expires is not a time such as 2027-01-31T00:00:00Z"))?;
        Ok((key, Some(SystemTime::from(when))))
    }

    /// Reads a public key file (`NAME.key`, `NAME.key_secret`, or a file of just the Z85
    /// public key).
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let text = read_text(path)?;
        match field(&text, "public-key") {
            Some(z85) => PublicKey::from_z85(z85).map_err(|_| malformed(path, "bad public-key")),
            None => PublicKey::from_z85(&text)
                .map_err(|_| malformed(path, "no public-key in this file")),
        }
    }
}

fn malformed(path: &Path, why: &'static str) -> KeyError {
    KeyError::Malformed {
        path: path.to_owned(),
        why,
    }
}

fn with_suffix(base: &Path, suffix: &str) -> PathBuf {
    let mut name = base.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn certificate(kind: &str, public: &PublicKey, secret: Option<&SecretKey>) -> String {
    let mut text = format!(
        "#   ****  Generated by piw-keygen  ****\n\
         #   ZeroMQ CURVE {kind} Certificate\n\
         #   Exchange securely, or use a secure mechanism to verify the contents\n\
         #   of this file after exchange. Store public certificates in your home\n\
         #   directory, in the .curve subdirectory.\n\n\
         metadata\n\
         curve\n    public-key = \"{public}\"\n"
    );
    if let Some(secret) = secret {
        text.push_str(&format!("    secret-key = \"{}\"\n", secret.to_z85()));
    }
    text
}

/// The quoted value of `name = "..."` in a certificate.
fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let (key, value) = line.trim().split_once('=')?;
        (key.trim() == name).then(|| value.trim().trim_matches('"'))
    })
}

/// Key files are tiny: anything past this is not one (and is not read whole).
const MAX_KEY_FILE: u64 = 4096;

fn read_text(path: &Path) -> Result<String, KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    let len = fs::metadata(path).map_err(io)?.len();
    if len > MAX_KEY_FILE {
        return Err(malformed(path, "too large for a key file"));
    }
    let bytes = fs::read(path).map_err(io)?;
    String::from_utf8(bytes).map_err(|_| malformed(path, "not text"))
}

fn write_new(path: &Path, mode: u32, text: &str) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io)?;
    // The umask may have taken bits away from the public file's mode; put them back.
    fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode)).map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}
