//! The piwheels master's data store: packages, versions, build targets, builds, files and
//! their dependencies, the build queue, access logs and pending page rewrites — with the
//! semantics of piwheels 0.23, on SQLite (one file, the embedded default) or PostgreSQL
//! (production), behind one [`Database`].
//!
//! The logic is Rust over portable SQL, not stored procedures, so both backends give the
//! same answers; one test suite runs against both. What differs from the original:
//!
//! - **The build queue is kept, not recomputed.** `builds_pending` holds what each version
//!   still waits for and is brought up to date as versions and builds are logged, so
//!   [`Database::build_queue`] reads an index instead of sorting the whole
//!   wanted-minus-built set (the original's 22 s query).
//! - **Targets, not ABIs.** A build [`Target`] is an (ABI, platform) pair, so one farm can
//!   build for several architectures. ABIs order as Python versions (`cp39` < `cp310`), and
//!   an `abi3` wheel satisfies every target at or above its minimum version.
//! - A version is first tried on one target; if that gives no wheel for the others, it
//!   fans out to all of them at once (the original tried them one by one).
//! - The armv7l → armv6l copy is a configurable [`PlatformAliases`], and an alias copy never
//!   replaces a wheel really built for that platform.
//! - The upstream serial never goes backwards; access-log text is sanitised; lengths are
//!   checked identically on both backends.
//!
//! `piw-initdb` creates and upgrades databases through [`admin`]; [`Database::open`]
//! refuses one at another schema version.
//!
//! ```no_run
//! use piwheels_db::{Database, NewBuild, Target};
//! use chrono::{TimeDelta, Utc};
//!
//! # async fn example() -> piwheels_db::Result<()> {
//! piwheels_db::admin::Admin::connect("sqlite:/var/lib/piwheels/piwheels.db")
//!     .await?
//!     .initialize(None)
//!     .await?;
//! let db = Database::open("sqlite:/var/lib/piwheels/piwheels.db").await?;
//! db.set_build_targets(&[Target::new("cp311", "linux_armv7l")]).await?;
//! db.add_new_package("foo", "", "A package").await?;
//! db.add_new_package_version("foo", "1.0", Some(Utc::now()), "").await?;
//!
//! let queue = db.build_queue(100_000).await?;
//! assert_eq!(queue[&Target::new("cp311", "linux_armv7l")], [("foo".to_string(), "1.0".to_string())]);
//!
//! db.log_build(&NewBuild {
//!     package: "foo".into(),
//!     version: "1.0".into(),
//!     built_by: 1,
//!     target: Target::new("cp311", "linux_armv7l"),
//!     status: false,
//!     duration: TimeDelta::seconds(5),
//!     built_at: None,
//!     files: vec![],
//! })
//! .await?;
//! assert!(db.build_queue(100_000).await?.values().all(|jobs| jobs.is_empty()));
//! # Ok(()) }
//! ```

pub mod abi;
pub mod admin;
mod backend;
mod db;
mod error;
pub mod load;
pub mod names;
pub mod observe;
mod ops;
pub mod schema;
mod types;

pub use abi::{PlatformAliases, Target};
pub use backend::Kind;
pub use db::{Database, Options, sqlite_path};
pub use error::{Error, Result, SchemaProblem};
pub use names::canonicalize_name;
pub use observe::{QueryObserver, QueryTiming};
pub use ops::downloads::MAX_TOP_PROJECTS;
pub use ops::upstream::MAX_ETAG;
pub use types::*;
