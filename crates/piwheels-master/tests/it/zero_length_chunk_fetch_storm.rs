//! Issue 14, item 7: a zero-length CHUNK made the master FETCH again at once: 476,000
//! round trips in 40 s. A client answering every FETCH with an empty chunk (or with a
//! byte, or repeating HELLO) must get a handful of FETCHes, not thousands; a well-behaved
//! client still completes its transfer, also after a transient fault of its own.

use crate::core_support;

use std::time::Duration;

use core_support::*;
use piwheels_master::file_juggler::FileJuggler;
use piwheels_master::hub::{Hub, supervise};
use piwheels_protocol::transfer::{ServerFrame, chunk_frames, hello_frames};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How long each hostile client is watched.
const WINDOW: Duration = Duration::from_secs(2);
/// The most FETCHes a hostile client may draw in [`WINDOW`]. The master's pipeline is 2;
/// a HELLO restores it at most once a second, and not while the transfer backs off.
const MAX_FETCHES: usize = 10;

struct Juggler {
    /// Kept for its temporary directory.
    _env: Env,
    hub: Hub,
    endpoint: String,
    task: JoinHandle<()>,
}

impl Juggler {
    async fn start() -> Juggler {
        let env = Env::new().await;
        let (hub, mut inboxes) = env.hub().await;
        let fs = std::mem::replace(&mut inboxes.fs, tokio::sync::mpsc::unbounded_channel().1);
        let juggler = FileJuggler::bind(hub.clone(), fs).unwrap();
        let endpoint = juggler.endpoint().to_owned();
        let task = supervise(juggler, hub.quit.clone());
        Juggler {
            _env: env,
            hub,
            endpoint,
            task,
        }
    }

    async fn stop(self) {
        self.hub.quit.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the file juggler did not stop")
            .unwrap();
    }
}

/// How a hostile client answers each FETCH.
#[derive(Debug, Clone, Copy)]
enum Hostile {
    /// With an empty chunk at the offset asked for.
    Empty,
    /// With an empty chunk, then HELLO again at once.
    EmptyAndHello,
    /// With one byte of the bytes asked for.
    OneByte,
    /// Not at all; it only says HELLO, again and again.
    HelloStorm,
}

/// Runs `how` against a fresh transfer of `size` bytes for `WINDOW`; returns the FETCHes
/// the master sent it.
async fn hostile(j: &Juggler, slave_id: u64, size: usize, how: Hostile) -> usize {
    let data = noise(size, slave_id);
    let name = "foo-1.0-py3-none-any.whl";
    j.hub
        .fs
        .prepare(sid(slave_id), file_state(name, &data, "any"))
        .await
        .unwrap();
    let mut d = dealer(&j.endpoint);
    d.send(hello_frames(slave_id)).await.unwrap();
    let until = Instant::now() + WINDOW;
    let mut fetches = 0;
    let mut hellos = 0;
    loop {
        let wait = match how {
            // A storm: another HELLO every millisecond while nothing comes.
            Hostile::HelloStorm => Duration::from_millis(1),
            _ => until.saturating_duration_since(Instant::now()),
        };
        let frames = match tokio::time::timeout(wait, d.recv()).await {
            Ok(frames) => frames.unwrap(),
            Err(_) if Instant::now() >= until => break,
            Err(_) => {
                d.send(hello_frames(slave_id)).await.unwrap();
                hellos += 1;
                continue;
            }
        };
        if Instant::now() >= until {
            break;
        }
        let ServerFrame::Fetch { offset, .. } = ServerFrame::parse(&frames).unwrap() else {
            panic!("{how:?}: DONE for a file never sent");
        };
        fetches += 1;
        match how {
            Hostile::Empty => d.send(chunk_frames(offset, Vec::new())).await.unwrap(),
            Hostile::EmptyAndHello => {
                d.send(chunk_frames(offset, Vec::new())).await.unwrap();
                d.send(hello_frames(slave_id)).await.unwrap();
                hellos += 1;
            }
            Hostile::OneByte => {
                let byte = data[offset as usize..][..1].to_vec();
                d.send(chunk_frames(offset, byte)).await.unwrap();
            }
            Hostile::HelloStorm => {
                d.send(hello_frames(slave_id)).await.unwrap();
                hellos += 1;
            }
        }
    }
    println!("{how:?}: {fetches} FETCHes in {WINDOW:?} ({hellos} HELLOs sent)");
    fetches
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_length_chunk_fetch_storm() {
    let j = Juggler::start().await;
    let mut counts = Vec::new();
    for (id, how) in [
        (11, Hostile::Empty),
        (12, Hostile::EmptyAndHello),
        (13, Hostile::OneByte),
        (14, Hostile::HelloStorm),
    ] {
        counts.push((how, hostile(&j, id, 3 << 20, how).await));
    }
    for (how, fetches) in &counts {
        assert!(
            *fetches <= MAX_FETCHES,
            "{how:?}: {fetches} FETCHes in {WINDOW:?} (at most {MAX_FETCHES} expected); all: \
             {counts:?}"
        );
        assert!(*fetches >= 1, "{how:?}: the transfer never started");
    }

    // A well-behaved client afterwards completes its transfer, and the file is published.
    let data = wheel("foo", "1.0", 3 << 20);
    let name = "foo-1.0-py3-none-any.whl";
    j.hub
        .fs
        .prepare(sid(21), file_state(name, &data, "any"))
        .await
        .unwrap();
    let sent = send_file(&j.endpoint, 21, &data, None).await;
    assert!(sent.done, "{sent:?}");
    j.hub.fs.verify(sid(21), "foo", "1.0").await.unwrap();
    j.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_with_a_transient_fault_still_completes() {
    // The client's first answer is empty (say, a read that came back short); after that
    // it behaves, and says HELLO again when it hears nothing, as a slave does.
    let j = Juggler::start().await;
    let data = wheel("foo", "1.0", 3 << 20);
    let name = "foo-1.0-py3-none-any.whl";
    j.hub
        .fs
        .prepare(sid(31), file_state(name, &data, "any"))
        .await
        .unwrap();
    let mut d = dealer(&j.endpoint);
    d.send(hello_frames(31)).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut faults = 0;
    loop {
        assert!(Instant::now() < deadline, "the transfer never completed");
        let frames = match tokio::time::timeout(Duration::from_secs(1), d.recv()).await {
            Ok(frames) => frames.unwrap(),
            Err(_) => {
                d.send(hello_frames(31)).await.unwrap();
                continue;
            }
        };
        match ServerFrame::parse(&frames).unwrap() {
            ServerFrame::Done => break,
            ServerFrame::Fetch { offset, length } => {
                let chunk = if faults == 0 {
                    faults += 1;
                    Vec::new()
                } else {
                    data[offset as usize..(offset + length) as usize].to_vec()
                };
                d.send(chunk_frames(offset, chunk)).await.unwrap();
            }
        }
    }
    let staged = j.hub.fs.verify(sid(31), "foo", "1.0").await.unwrap();
    assert_eq!(
        std::fs::read(staged.path()).unwrap(),
        data,
        "whole and staged"
    );
    j.stop().await;
}
