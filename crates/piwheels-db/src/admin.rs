//! Creating and upgrading databases: the work of `piw-initdb`.
//!
//! On PostgreSQL this follows the original's least-privilege model without its stored
//! procedures: `piw-initdb` connects as a superuser, which owns the schema; the master's
//! user (by default `piwheels`, which must exist and must not be a superuser or own the
//! database) may read and write rows but not change the schema: it gets `SELECT`,
//! `INSERT`, `UPDATE` and `DELETE` on the tables, and on `configuration` only `SELECT` and
//! `UPDATE` of the upstream serial. SQLite has no users: whoever can write the file can do
//! anything, so keep the file's permissions tight.
//!
//! ```no_run
//! # async fn example() -> piwheels_db::Result<()> {
//! use piwheels_db::admin::Admin;
//! let admin = Admin::connect("postgres://postgres@/piwheels").await?;
//! println!("{:?}", admin.state().await?);
//! admin.initialize(Some("piwheels")).await?;
//! # Ok(()) }
//! ```

use crate::backend::{Conn, Kind, params};
use crate::db::{Database, Options};
use crate::error::{Error, Result};
use crate::ops::queue;
use crate::schema::{self, Removed, SCHEMA_VERSION, SchemaState, Upgrade};

/// A connection for creating and upgrading a database (see the module docs).
#[derive(Debug, Clone)]
pub struct Admin {
    db: Database,
}

impl Admin {
    /// Connects to `dsn` without checking its schema (an SQLite file is created if
    /// missing). On PostgreSQL the user must be a superuser.
    pub async fn connect(dsn: &str) -> Result<Self> {
        let db = Database::connect(
            dsn,
            Options {
                pool_size: Some(1),
                ..Options::default()
            },
            true,
        )
        .await?;
        let admin = Self { db };
        if admin.kind() == Kind::Postgres {
            admin
                .db
                .read("connect", |c| {
                    let superuser = c
                        .query_opt(
                            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
                            params![],
                            |r| r.bool(0),
                        )?
                        .unwrap_or(false);
                    if superuser {
                        Ok(())
                    } else {
                        Err(Error::invalid(
                            "connect",
                            "piw-initdb must connect as a PostgreSQL superuser (it owns the schema)",
                        ))
                    }
                })
                .await?;
        }
        Ok(admin)
    }

    /// Which backend this is.
    pub fn kind(&self) -> Kind {
        self.db.kind()
    }

    /// What the database holds now.
    pub async fn state(&self) -> Result<SchemaState> {
        self.db.read("state", schema::detect).await
    }

    /// Creates the schema, or upgrades it to [`SCHEMA_VERSION`], in one transaction; on
    /// PostgreSQL then grants `user` (required there) what the master needs. Returns the
    /// versions migrated through (empty if it was current); [`upgrade`](Self::upgrade)
    /// also says which rows it removed.
    pub async fn initialize(&self, user: Option<&str>) -> Result<Vec<i64>> {
        Ok(self.upgrade(user).await?.versions)
    }

    /// [`initialize`](Self::initialize), saying also which rows the upgrade removed
    /// because they break the rules of the new schema (see [`schema::Removed`]).
    pub async fn upgrade(&self, user: Option<&str>) -> Result<Upgrade> {
        self.upgrade_to(SCHEMA_VERSION, user).await
    }

    /// What [`upgrade`](Self::upgrade) would remove, changing nothing (for `piw-initdb` to
    /// show before it asks).
    pub async fn pending_removals(&self) -> Result<Vec<Removed>> {
        self.db
            .read("pending_removals", schema::pending_removals)
            .await
    }

    /// Like [`initialize`](Self::initialize), but stops at `version` (for testing upgrade
    /// paths from every earlier version).
    #[doc(hidden)]
    pub async fn migrate_to(&self, version: i64, user: Option<&str>) -> Result<Vec<i64>> {
        Ok(self.upgrade_to(version, user).await?.versions)
    }

    /// Like [`upgrade`](Self::upgrade), but stops at `version`.
    #[doc(hidden)]
    pub async fn upgrade_to(&self, version: i64, user: Option<&str>) -> Result<Upgrade> {
        let op = "initialize";
        let user = master_user(op, self.kind(), user)?;
        self.db
            .write(op, move |c| {
                if let Some(user) = &user
                    && c.kind() == Kind::Postgres
                {
                    check_master_user(c, user)?;
                }
                let done = schema::migrate(c, version)?;
                if let (Some(user), Kind::Postgres) = (&user, c.kind()) {
                    grant(c, user)?;
                }
                Ok(done)
            })
            .await
    }

    /// Recomputes the whole build queue (see [`Database::rebuild_build_queue`]).
    pub async fn rebuild_build_queue(&self) -> Result<u64> {
        let aliases = self.db.options().platform_aliases.clone();
        self.db
            .write("rebuild_build_queue", move |c| queue::rebuild(c, &aliases))
            .await
    }
}

/// The master's user to grant, which PostgreSQL needs (SQLite has no users).
pub(crate) fn master_user(
    op: &'static str,
    kind: Kind,
    user: Option<&str>,
) -> Result<Option<String>> {
    match (kind, user) {
        (Kind::Postgres, None) => Err(Error::invalid(
            op,
            "on PostgreSQL, name the master's (unprivileged) user",
        )),
        (_, user) => Ok(user.map(str::to_owned)),
    }
}

/// The master's user must exist, must not be a superuser and must not own the database.
pub(crate) fn check_master_user(c: &mut dyn Conn, user: &str) -> Result<()> {
    let op = "initialize";
    let row = c.query_opt(
        "SELECT r.rolsuper, d.datdba = r.oid FROM pg_roles r, pg_database d \
         WHERE r.rolname = $1 AND d.datname = current_database()",
        params![user],
        |r| Ok((r.bool(0)?, r.bool(1)?)),
    )?;
    match row {
        None => Err(Error::invalid(
            op,
            format!(
                "PostgreSQL user {user:?} does not exist; create it first (CREATE ROLE \"{user}\" LOGIN)"
            ),
        )),
        Some((true, _)) => Err(Error::invalid(
            op,
            format!(
                "PostgreSQL user {user:?} is a superuser; the master's user must be unprivileged"
            ),
        )),
        Some((_, true)) => Err(Error::invalid(
            op,
            format!("PostgreSQL user {user:?} owns the database; the master's user must not"),
        )),
        Some(_) => Ok(()),
    }
}

/// Grants the master's user exactly what it needs (see the module docs).
pub(crate) fn grant(c: &mut dyn Conn, user: &str) -> Result<()> {
    let (user, db, schema) = c
        .query_opt(
            "SELECT quote_ident($1), quote_ident(current_database()), quote_ident(current_schema())",
            params![user],
            |r| Ok((r.text(0)?, r.text(1)?, r.text(2)?)),
        )?
        .ok_or_else(|| Error::corrupt("initialize", "no current database"))?;
    c.batch(&format!(
        "REVOKE ALL ON DATABASE {db} FROM PUBLIC;
         GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {user};
         REVOKE ALL ON SCHEMA {schema} FROM PUBLIC;
         GRANT USAGE ON SCHEMA {schema} TO {user};
         REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {user};
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {user};
         REVOKE INSERT, UPDATE, DELETE ON configuration FROM {user};
         GRANT UPDATE (upstream_serial) ON configuration TO {user};
         GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema} TO {user};"
    ))
}
