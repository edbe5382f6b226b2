//! The wire crate's integration tests, one binary: codec, golden frames, ranges, transfer,
//! the ZeroMQ transports, and the original's Python peers.
//!
//! One module per subject (run one with `cargo nextest run -p piwheels-protocol
//! <module>::`): one binary links once instead of once per module. Under `cargo test` the
//! tests run as threads of this one process, so none may change process-wide state
//! unguarded (see the `test_support` crate).

mod common;
#[macro_use]
mod transport_support;

mod a_request_on_a_broken_connection_waits_for_ever;
mod curve;
mod golden;
mod python_peer;
mod python_vectors;
mod ranges;
mod roundtrip;
mod send_to_a_peer_that_reads_no_more_never_blocks_forever;
mod sockets;
mod transfer;
mod transfer_peer;
mod transport;
#[cfg(feature = "tokio")]
mod transport_async;
mod zap;
