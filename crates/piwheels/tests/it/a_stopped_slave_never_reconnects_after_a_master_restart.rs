//! Issue 14, item 9: a slave stopped (SIGSTOP) across a master restart did not reconnect
//! within 45 s of being continued: it spoke to the new master as a stranger and waited
//! five minutes for a reply. Run as real processes: `piw-master` (killed and started
//! again on the same ports) and `piw-slave`.

use crate::support;

use std::time::{Duration, Instant};

use support::*;

/// How long a continued slave may take to say HELLO to the new master.
const RECONNECT: Duration = Duration::from_secs(45);

/// How many times the slave's log says it connected.
fn connections(farm: &Farm, n: usize) -> usize {
    std::fs::read_to_string(farm.dir.path().join(format!("slave{n}.log")))
        .unwrap_or_default()
        .matches("connected to the master")
        .count()
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) on the test's own child.
    assert_eq!(unsafe { libc::kill(pid as i32, sig) }, 0);
}

#[test]
fn a_slave_stopped_across_a_master_restart_reconnects_when_continued() {
    let test = "a_slave_stopped_across_a_master_restart_reconnects_when_continued";
    if let Err(why) = python_ready() {
        return skip(test, &why);
    }
    // Nothing to build: the slave only idles.
    let mut farm = Farm::start("http://127.0.0.1:9/simple", &[]);
    let slave = farm.start_slave();
    let pid = farm.slaves[slave].id();
    wait_until(Duration::from_secs(120), "the slave to connect", || {
        (connections(&farm, 1) == 1).then_some(())
    });

    signal(pid, libc::SIGSTOP);
    farm.restart_master();
    // Stopped long enough that the new master is up and the old connection is gone.
    std::thread::sleep(Duration::from_secs(3));
    signal(pid, libc::SIGCONT);
    let continued = Instant::now();
    wait_until(RECONNECT, "the continued slave to say HELLO again", || {
        (connections(&farm, 1) == 2).then_some(())
    });
    println!(
        "reconnected {:.1} s after SIGCONT",
        continued.elapsed().as_secs_f64()
    );
}
