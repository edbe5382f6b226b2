//! The piwheels master: it follows an upstream package index, hands (package, version)
//! builds to build slaves, receives and verifies their wheels, and publishes them as a
//! pip-installable index with project pages.
//!
//! One tokio runtime runs one task per job, each in its own module named after the
//! original's task (piwheels.md §1.3); they talk through the typed channels of [`hub`], not
//! in-process sockets. The sockets other programs use speak piwheels 0.23 exactly, so
//! original slaves, admin tools and monitors work with this master.
//!
//! | task | job |
//! |---|---|
//! | [`slave_driver`] | the build slaves' protocol (port 5555) |
//! | [`file_juggler`] | receiving files (port 5556), verified before they are published |
//! | [`the_architect`] | the build queue, read from the database |
//! | [`the_secretary`] | coalescing page rewrites |
//! | [`the_scribe`] | rendering the web output (written through [`output`]) |
//! | [`big_brother`] | statistics for monitors and the homepage |
//! | [`cloud_gazer`] | following the upstream index |
//! | [`mr_chase`] | the admin tools' requests (`piw-add`, `piw-remove`, …) |
//! | [`lumberjack`] | the access log: `piw-logger`'s records and the web server's own hits |
//! | [`web_server`] | serving the output directory |
//! | [`output`] | the output folder's one owner: names checked once, every write |
//! | [`deletion`] | deleting rows after TheScribe removed their files (MrChase, CloudGazer) |
//! | [`metrics`] | the figures the tasks keep, served to Prometheus (`metrics-listen`) |
//! | [`master`] | the main loop: monitors' status and control, pausing, the disk guard |

pub mod access_log;
pub mod admin_auth;
pub mod big_brother;
pub mod cloud_gazer;
pub mod config;
pub mod deletion;
pub mod error;
pub mod file_juggler;
pub mod hub;
mod incoming;
pub mod log_limit;
pub mod lumberjack;
pub mod master;
pub mod metrics;
pub mod mr_chase;
pub mod output;
pub mod queue_auth;
pub mod slave_driver;
pub mod slave_id;
pub mod the_architect;
pub mod the_scribe;
pub mod the_secretary;
pub mod upstream;
pub mod web_server;

pub use config::MasterConfig;
pub use error::{Error, Result};
