//! `piw-keygen`: makes a CURVE key pair for a piwheels master or build slave.
//!
//! ```text
//! piw-keygen NAME
//! ```
//!
//! Writes `NAME.key` (the public key, mode 0644: give it to the other side; a master's
//! allow-list folder holds one per admitted slave) and `NAME.key_secret` (both keys, mode
//! 0600: keep it where only the service's user can read it). The files are ZeroMQ's Z85
//! text in czmq's certificate layout, the same as pyzmq's `zmq.auth.create_certificates`
//! writes. Existing files are never overwritten. Prints the public key.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use piwheels::fail;
use piwheels_protocol::auth::KeyPair;

/// Make a CURVE key pair (NAME.key, NAME.key_secret) for a piwheels master or slave.
#[derive(Debug, Parser)]
#[command(name = "piw-keygen", version, about, long_about = None)]
struct Opts {
    /// The files' path without suffix: NAME.key and NAME.key_secret are written.
    name: PathBuf,
}

fn main() -> ExitCode {
    let opts = Opts::parse();
    let written = KeyPair::generate().and_then(|pair| {
        let (public, secret) = pair.write(&opts.name)?;
        Ok((pair, public, secret))
    });
    match written {
        Ok((pair, public, secret)) => {
            println!("{}", pair.public);
            eprintln!(
                "wrote {} (public) and {} (secret, mode 0600)",
                public.display(),
                secret.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}
