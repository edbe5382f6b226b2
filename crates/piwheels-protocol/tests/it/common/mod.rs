//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub use test_support::process::{Peer, output_within, within};
pub use test_support::setup::peer_python as python;
pub use test_support::skip;

/// Bytes from hex digits (spaces allowed between them, for readable frames).
pub fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
