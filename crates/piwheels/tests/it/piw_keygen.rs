//! `piw-keygen NAME` writes a CURVE key pair: `NAME.key` (0644) and `NAME.key_secret`
//! (0600) that the protocol crate reads back, prints the public key, and never
//! overwrites an existing pair.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use piwheels_protocol::auth::{KeyPair, PublicKey};

#[test]
fn writes_a_readable_pair_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let name = dir.path().join("slave1");
    let out = Command::new(env!("CARGO_BIN_EXE_piw-keygen"))
        .arg(&name)
        .output()
        .unwrap();
    assert!(out.status.success(), "piw-keygen failed: {out:?}");
    let printed = String::from_utf8(out.stdout).unwrap();
    let public = PublicKey::read(&dir.path().join("slave1.key")).unwrap();
    let pair = KeyPair::read(&dir.path().join("slave1.key_secret")).unwrap();
    assert_eq!(printed.trim(), public.to_string());
    assert_eq!(pair.public, public);
    let mode = |f: &str| {
        let meta = std::fs::metadata(dir.path().join(f)).unwrap();
        meta.permissions().mode() & 0o777
    };
    assert_eq!(
        (mode("slave1.key"), mode("slave1.key_secret")),
        (0o644, 0o600)
    );

    let again = Command::new(env!("CARGO_BIN_EXE_piw-keygen"))
        .arg(&name)
        .output()
        .unwrap();
    assert_eq!(
        again.status.code(),
        Some(1),
        "a second run did not fail: {again:?}"
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("slave1.key_secret"));
    assert_eq!(
        KeyPair::read(&dir.path().join("slave1.key_secret")).unwrap(),
        pair
    );
}
