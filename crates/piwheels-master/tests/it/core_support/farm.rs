//! A farm of SlaveDriver, a real FileJuggler and TheArchitect over a real SQLite
//! database, and scripted slaves on real REQ sockets.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use piwheels_master::file_juggler::FileJuggler;
use piwheels_master::hub::{BuildQueue, Hub, WebRequest, supervise};
use piwheels_master::slave_driver::{SlaveDriver, Timing};
use piwheels_master::the_architect::TheArchitect;
use piwheels_protocol::monitor::StatusMessage;
use piwheels_protocol::slave::{
    Ack, BuiltReport, Job, SlaveHello, SlaveProtocol, SlaveReply, SlaveRequest, SlaveStats,
};
use piwheels_protocol::states::FileState;
use piwheels_protocol::transport::asynchronous::Req;
use piwheels_protocol::transport::{SocketOptions, zmq};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::{Env, target};

/// How long any one wait of these tests may take.
pub const WAIT: Duration = Duration::from_secs(20);

/// The farm.
pub struct Farm {
    pub env: Env,
    pub hub: Hub,
    pub web: mpsc::UnboundedReceiver<WebRequest>,
    pub status: mpsc::UnboundedReceiver<StatusMessage>,
    pub paused: watch::Sender<bool>,
    pub slaves: String,
    pub files: String,
    pub tasks: Vec<JoinHandle<()>>,
}

impl Farm {
    pub async fn start(tune: impl FnOnce(&mut Env, &mut Timing)) -> Farm {
        let mut env = Env::new().await;
        let mut timing = Timing {
            check_interval: Duration::from_millis(100),
            build_grace: Duration::from_secs(300),
            log_attempts: 3,
            retry_delay: Duration::from_millis(50),
            // Most tests want SLEEP at once; the long-polling test sets a hold.
            idle_hold: Duration::ZERO,
            deletion_exclusion: Duration::from_secs(3600),
            min_build_timeout: Duration::ZERO,
        };
        tune(&mut env, &mut timing);
        let (hub, inboxes) = env.hub().await;
        let juggler = FileJuggler::bind(hub.clone(), inboxes.fs).unwrap();
        let files = juggler.endpoint().to_owned();
        let driver = SlaveDriver::bind(hub.clone(), inboxes.skip, inboxes.slave_commands)
            .unwrap()
            .with_timing(timing);
        let slaves = driver.endpoint().to_owned();
        let tasks = vec![
            supervise(juggler, hub.quit.clone()),
            supervise(driver, hub.quit.clone()),
            supervise(
                TheArchitect::new(hub.clone(), inboxes.queue),
                hub.quit.clone(),
            ),
        ];
        // The first queue is in before any slave asks.
        let mut queue = hub.queue.clone();
        tokio::time::timeout(
            WAIT,
            queue.wait_for(|q: &Arc<BuildQueue>| q.contains_key(&target())),
        )
        .await
        .unwrap()
        .unwrap();
        Farm {
            env,
            hub,
            web: inboxes.web,
            status: inboxes.status,
            paused: inboxes.paused,
            slaves,
            files,
            tasks,
        }
    }

    /// A slave socket that names itself as the original's does (ZeroMQ picks its id).
    pub fn slave(&self) -> Slave {
        self.slave_with(SocketOptions::new().linger(Some(Duration::ZERO)))
    }

    /// A slave socket that names itself as this project's slave does.
    pub fn our_slave(&self) -> Slave {
        self.slave_with(
            SocketOptions::new()
                .linger(Some(Duration::ZERO))
                .routing_id(piwheels_protocol::slave::our_slave_routing_id()),
        )
    }

    pub fn slave_with(&self, options: SocketOptions) -> Slave {
        let ctx = zmq::Context::new();
        Slave {
            req: Req::connect(&ctx, &self.slaves, &options).unwrap(),
        }
    }

    /// A slave (as the original names itself) that has said HELLO; its id.
    pub async fn hello(&self, hello: SlaveHello) -> (Slave, i64) {
        self.hello_from(self.slave(), hello).await
    }

    /// One of our slaves that has said HELLO; its id.
    pub async fn our_hello(&self, hello: SlaveHello) -> (Slave, i64) {
        self.hello_from(self.our_slave(), hello).await
    }

    pub async fn hello_from(&self, mut s: Slave, hello: SlaveHello) -> (Slave, i64) {
        match s.ask(SlaveRequest::Hello(hello)).await {
            SlaveReply::Ack(Ack {
                slave_id,
                index_url,
            }) => {
                assert_eq!(index_url, "http://127.0.0.1:9/simple");
                (s, slave_id)
            }
            other => panic!("expected ACK, got {other:?}"),
        }
    }

    /// Asks TheArchitect to read the queue, and waits until its jobs for the test target
    /// pass `test`.
    pub async fn wait_for_queue(&self, test: impl Fn(&[(String, String)]) -> bool) {
        self.hub.queue_changed.notify_one();
        let mut queue = self.hub.queue.clone();
        tokio::time::timeout(
            WAIT,
            queue.wait_for(|q: &Arc<BuildQueue>| q.get(&target()).is_some_and(|j| test(j))),
        )
        .await
        .expect("the queue never became what the test waits for")
        .unwrap();
    }

    /// Slave `s` (id `id`) reports a build of one file `name` (its bytes `data`), sends
    /// it when asked, and says SENT: the reply to SENT. Panics if the file is not asked
    /// for.
    pub async fn build_one(&self, s: &mut Slave, id: i64, name: &str, data: &[u8]) -> SlaveReply {
        assert_eq!(
            s.ask(built(true, vec![super::file_state(name, data, "any")]))
                .await,
            SlaveReply::Send(name.into())
        );
        assert!(
            super::send_file(&self.files, id as u64, data, None)
                .await
                .done
        );
        s.ask(SlaveRequest::Sent).await
    }

    pub async fn next_web(&mut self) -> WebRequest {
        tokio::time::timeout(WAIT, self.web.recv())
            .await
            .unwrap()
            .unwrap()
    }

    pub async fn stop(self) {
        self.hub.quit.cancel();
        for t in self.tasks {
            tokio::time::timeout(WAIT, t).await.unwrap().unwrap();
        }
    }
}

/// A scripted slave.
pub struct Slave {
    pub req: Req<SlaveProtocol>,
}

impl Slave {
    pub async fn ask(&mut self, msg: SlaveRequest) -> SlaveReply {
        self.req.send(&msg).await.unwrap();
        tokio::time::timeout(WAIT, self.req.recv())
            .await
            .unwrap_or_else(|_| panic!("no reply to {msg:?}"))
            .unwrap()
    }

    /// Sends and checks no reply comes.
    pub async fn unanswered(mut self, msg: SlaveRequest) {
        self.req.send(&msg).await.unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(700), self.req.recv())
                .await
                .is_err(),
            "{msg:?} was answered"
        );
    }
}

pub fn hello_for(platform: &str, build_timeout: TimeDelta) -> SlaveHello {
    SlaveHello {
        build_timeout,
        busy_timeout: TimeDelta::minutes(5),
        py_version: "311".into(),
        abi: "cp311".into(),
        platform: platform.into(),
        label: "test-slave".into(),
        os_name: "Debian GNU/Linux".into(),
        os_version: "12 (bookworm)".into(),
        board_revision: "unknown".into(),
        board_serial: "unknown".into(),
    }
}

pub fn hello() -> SlaveHello {
    hello_for("linux_x86_64", TimeDelta::hours(3))
}

pub fn stats() -> SlaveStats {
    SlaveStats {
        timestamp: Utc::now(),
        disk_size: 1 << 30,
        disk_free: 1 << 29,
        mem_size: 1 << 30,
        mem_free: 1 << 29,
        swap_size: 0,
        swap_free: 0,
        load_average: 0.5,
        cpu_temp: 0.0,
    }
}

pub fn idle() -> SlaveRequest {
    SlaveRequest::Idle(stats())
}

pub fn busy() -> SlaveRequest {
    SlaveRequest::Busy(stats())
}

pub fn built(status: bool, files: Vec<FileState>) -> SlaveRequest {
    SlaveRequest::Built(BuiltReport {
        status,
        duration: TimeDelta::seconds(5),
        output: format!("the build log (status {status})"),
        files,
    })
}

pub fn build(package: &str) -> SlaveReply {
    SlaveReply::Build(Job {
        package: package.into(),
        version: "1.0".into(),
    })
}
