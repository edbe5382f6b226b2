//! The async forms on a tokio runtime.

use crate::common;

use std::fs;
use std::time::Duration;

use butter::eventfd::{AsyncEventFd, EventFd};
use butter::inotify::{
    AsyncInotify, AsyncRecursiveWatcher, Event, Inotify, Mask, RecursiveWatcher, TreeEvent,
};
use butter::signalfd::{AsyncSignalFd, SigSet, Signal, SignalFd};
use butter::timerfd::{AsyncTimer, Timer, TimerVal};
use butter::{Async, EventSource};
use futures_util::StreamExt;
use tokio::time::timeout;

const LONG: Duration = Duration::from_secs(10);
const SHORT: Duration = Duration::from_millis(50);

#[tokio::test]
async fn eventfd_reads_wait_and_do_not_spin() {
    let mut ev: AsyncEventFd = Async::new(EventFd::new().unwrap()).unwrap();
    assert!(butter::is_nonblocking(std::os::fd::AsFd::as_fd(&ev)).unwrap());
    // Nothing there: the read pends (readiness cleared, no busy loop returning errors).
    assert!(timeout(SHORT, ev.read_event()).await.is_err());
    for round in 1..=5u64 {
        ev.get_ref().increment(round).unwrap();
        assert_eq!(
            timeout(LONG, ev.read_event()).await.unwrap().unwrap(),
            round
        );
        assert!(
            timeout(Duration::from_millis(5), ev.read_event())
                .await
                .is_err()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventfd_increments_from_another_task_arrive_as_a_stream() {
    let ev: AsyncEventFd = Async::new(EventFd::new().unwrap()).unwrap();
    let writer = rustix::io::dup(&ev).unwrap();
    let task = tokio::spawn(async move {
        for _ in 0..100 {
            butter::eventfd::eventfd_write(&writer, 1).unwrap();
            tokio::task::yield_now().await;
        }
    });
    let mut total = 0;
    let mut ev = ev;
    while total < 100 {
        total += timeout(LONG, ev.next()).await.unwrap().unwrap().unwrap();
    }
    task.await.unwrap();
    assert_eq!(total, 100);
}

#[tokio::test]
async fn async_increment_waits_while_the_counter_would_overflow() {
    let mut ev: AsyncEventFd = Async::new(EventFd::new().unwrap()).unwrap();
    ev.increment(u64::MAX - 1).await.unwrap();
    // Would overflow: pends until a read makes room.
    assert!(timeout(SHORT, ev.increment(1)).await.is_err());
    assert_eq!(ev.read_event().await.unwrap(), u64::MAX - 1);
    timeout(LONG, ev.increment(1)).await.unwrap().unwrap();
    assert_eq!(ev.read_event().await.unwrap(), 1);
}

#[tokio::test]
async fn inotify_stream_across_batches() {
    let dir = tempfile::tempdir().unwrap();
    let ino = Inotify::new().unwrap();
    ino.add_watch(dir.path(), Mask::CREATE).unwrap();
    let mut ino: AsyncInotify = Async::new(ino).unwrap();
    for batch in 0..3 {
        for n in 0..4 {
            fs::write(dir.path().join(format!("{batch}-{n}")), b"").unwrap();
        }
        let mut names = Vec::new();
        while names.len() < 4 {
            match timeout(LONG, ino.next()).await.unwrap().unwrap().unwrap() {
                Event::Watch(w) => names.push(w.name_os().unwrap().to_owned()),
                Event::Overflow => panic!("overflow"),
            }
        }
        assert_eq!(names[3], format!("{batch}-3").as_str());
        assert!(
            timeout(Duration::from_millis(5), ino.read_event())
                .await
                .is_err()
        );
    }
}

#[tokio::test]
async fn cancelled_reads_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ino = Inotify::new().unwrap();
    ino.add_watch(dir.path(), Mask::CREATE).unwrap();
    let mut ino: AsyncInotify = Async::new(ino).unwrap();
    // A read cancelled while waiting...
    assert!(timeout(SHORT, ino.read_event()).await.is_err());
    for n in 0..10 {
        fs::write(dir.path().join(n.to_string()), b"").unwrap();
    }
    // ...and reads cancelled after each event: the rest of the batch stays queued.
    let first = ino.read_event().await.unwrap();
    assert_eq!(first.as_watch().unwrap().name_bytes(), Some(&b"0"[..]));
    let rest = ino.read_events().await.unwrap();
    assert_eq!(rest.len(), 9);
}

#[tokio::test]
async fn periodic_timer_stream() {
    let t = Timer::new().unwrap();
    t.set(TimerVal::new().every(Duration::from_millis(5)))
        .unwrap();
    let mut t: AsyncTimer = Async::new(t).unwrap();
    let mut expirations = 0;
    for _ in 0..3 {
        expirations += timeout(LONG, t.next()).await.unwrap().unwrap().unwrap();
    }
    assert!(expirations >= 3);
    t.get_ref().disarm().unwrap();
    let _ = timeout(Duration::from_millis(1), t.read_event()).await;
    assert!(timeout(SHORT, t.read_event()).await.is_err());
}

#[test]
fn signals_arrive_on_a_runtime() {
    // Process-directed signals may go to any thread that does not block them, the test
    // harness's included: run in a forked, single-threaded child.
    common::check(common::in_child(|| {
        // Block before the runtime starts its threads: they inherit the mask.
        let sfd = SignalFd::new(&SigSet::from([Signal::SIGUSR1, Signal::SIGUSR2]))
            .map_err(|e| e.to_string())?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async move {
            let mut sfd: AsyncSignalFd = Async::new(sfd).map_err(|e| e.to_string())?;
            let pid = nix::unistd::Pid::this();
            for sig in [nix::sys::signal::SIGUSR2, nix::sys::signal::SIGUSR1] {
                nix::sys::signal::kill(pid, sig).map_err(|e| e.to_string())?;
                let info = timeout(LONG, sfd.read_event())
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
                if info.signal.as_raw() != sig as i32 || info.pid != std::process::id() {
                    return Err(format!("unexpected {info:?}"));
                }
            }
            sfd.get_ref()
                .disable(Signal::SIGUSR2)
                .map_err(|e| e.to_string())?;
            if sfd.get_ref().contains(Signal::SIGUSR2) {
                return Err("SIGUSR2 still enabled".into());
            }
            Ok(())
        })
    }));
}

#[tokio::test]
async fn recursive_watcher_stream() {
    let root = tempfile::tempdir().unwrap();
    let w = RecursiveWatcher::new(root.path(), Mask::CREATE).unwrap();
    let mut w: AsyncRecursiveWatcher = Async::new(w).unwrap();
    fs::create_dir_all(root.path().join("x/y")).unwrap();
    fs::write(root.path().join("x/y/z"), b"").unwrap();
    let want = root.path().join("x/y/z");
    loop {
        match timeout(LONG, w.next()).await.unwrap().unwrap().unwrap() {
            TreeEvent::Change(c) if c.path == want => break,
            _ => {}
        }
    }
    assert_eq!(w.rescan(), 0);
}

#[tokio::test]
async fn errors_surface_through_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let ino = Inotify::new().unwrap();
    let wd = ino.add_watch(dir.path(), Mask::CREATE).unwrap();
    let mut ino: AsyncInotify = Async::new(ino).unwrap();
    ino.get_ref().rm_watch(wd).unwrap();
    let ev = timeout(LONG, ino.read_event()).await.unwrap().unwrap();
    assert_eq!(
        ev.as_watch().unwrap().kind(),
        butter::inotify::EventKind::Ignored
    );
    let e = ino.get_ref().rm_watch(wd).unwrap_err();
    assert_eq!(e.errno(), butter::Errno::EINVAL);
    // The source still works afterwards.
    let mut back = ino.into_inner();
    assert!(back.wait(Some(Duration::ZERO)).unwrap().is_none());
}
