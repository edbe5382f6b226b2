//! Packages, versions, names and descriptions (the original's `NEWPKG`, `NEWVER`,
//! `NEWPKGNAME`, `GETPKGNAMES`, `SETDESC`, `SKIPPKG`, `SKIPVER`, `DELPKG`, `DELVER`,
//! `YANKVER`, `UNYANKVER`, `PKGEXISTS`, `VEREXISTS`, `PKGDELETED`, `VERSDELETED`,
//! `GETSKIP`, `ALLPKGS`, `ALLVERS`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::journal::owe_now;
use super::queue::{refresh_package, refresh_version};
use super::{check_name, check_package, check_skip, check_version, lock_package};
use crate::Database;
use crate::backend::{Conn, params};
use crate::error::{Error, Result};
use crate::types::RewriteCommand;

/// The skip reason that marks a package or version deleted upstream.
pub const DELETED: &str = "deleted";

/// The time used where upstream gave none (the original's default).
fn epoch() -> DateTime<Utc> {
    DateTime::UNIX_EPOCH
}

impl Database {
    /// Every package's canonical name.
    pub async fn all_packages(&self) -> Result<BTreeSet<String>> {
        self.read("all_packages", |c| {
            let mut out = BTreeSet::new();
            c.query_each("SELECT package FROM packages", params![], &mut |r| {
                out.insert(r.text(0)?);
                Ok(())
            })?;
            Ok(out)
        })
        .await
    }

    /// Up to `limit` packages' canonical names after `after` (`""` for the first), in the
    /// database's order: for going through every package in bounded memory.
    pub async fn packages_after(&self, after: &str, limit: usize) -> Result<Vec<String>> {
        let after = after.to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read("packages_after", move |c| {
            c.query_map(
                "SELECT package FROM packages WHERE package > $1 ORDER BY package LIMIT $2",
                params![&after, limit],
                |r| r.text(0),
            )
        })
        .await
    }

    /// Every (package, version).
    pub async fn all_package_versions(&self) -> Result<BTreeSet<(String, String)>> {
        self.read("all_package_versions", |c| {
            let mut out = BTreeSet::new();
            c.query_each(
                "SELECT package, version FROM versions",
                params![],
                &mut |r| {
                    out.insert((r.text(0)?, r.text(1)?));
                    Ok(())
                },
            )?;
            Ok(out)
        })
        .await
    }

    /// Adds a package (by canonical name); `false` if it was already there (and then nothing
    /// changes).
    pub async fn add_new_package(
        &self,
        package: &str,
        skip: &str,
        description: &str,
    ) -> Result<bool> {
        let op = "add_new_package";
        check_package(op, package)?;
        check_skip(op, skip)?;
        let description = super::access::clip(description, 200);
        let (package, skip) = (package.to_owned(), skip.to_owned());
        self.write(op, move |c| {
            let n = c.execute(
                "INSERT INTO packages (package, skip, description) VALUES ($1, $2, $3) \
                 ON CONFLICT (package) DO NOTHING",
                params![&package, &skip, &description],
            )?;
            if n == 1 {
                owe_now(c, &package, RewriteCommand::Both)?;
            }
            Ok(n == 1)
        })
        .await
    }

    /// Adds a version of a package; `false` if it was already there (and then nothing
    /// changes). `released` defaults to the epoch, as in the original. The version joins the
    /// build queue unless it or its package is skipped.
    pub async fn add_new_package_version(
        &self,
        package: &str,
        version: &str,
        released: Option<DateTime<Utc>>,
        skip: &str,
    ) -> Result<bool> {
        let op = "add_new_package_version";
        check_package(op, package)?;
        check_version(op, version)?;
        check_skip(op, skip)?;
        let (package, version, skip) = (package.to_owned(), version.to_owned(), skip.to_owned());
        let released = released.unwrap_or_else(epoch);
        let aliases = self.aliases();
        self.write(op, move |c| {
            if !lock_package(c, &package)? {
                return Err(Error::not_found(op, format!("package {package}")));
            }
            let n = c.execute(
                "INSERT INTO versions (package, version, released, skip, yanked) \
                 VALUES ($1, $2, $3, $4, FALSE) ON CONFLICT (package, version) DO NOTHING",
                params![&package, &version, released, &skip],
            )?;
            if n == 1 {
                refresh_version(c, &package, &version, &aliases)?;
                owe_now(c, &package, RewriteCommand::Project)?;
            }
            Ok(n == 1)
        })
        .await
    }

    /// Records that upstream spells `package` as `name`, seen at `seen` (default: the
    /// epoch, so the canonical spelling never wins the display name from a real one). The
    /// display name is the spelling seen most recently; seeing a name again only moves its
    /// time forwards. `name` must canonicalise to `package`.
    pub async fn add_package_name(
        &self,
        package: &str,
        name: &str,
        seen: Option<DateTime<Utc>>,
    ) -> Result<()> {
        let op = "add_package_name";
        check_package(op, package)?;
        check_name(op, package, name)?;
        let (package, name) = (package.to_owned(), name.to_owned());
        let seen = seen.unwrap_or_else(epoch);
        self.write(op, move |c| {
            if !c.exists(
                "SELECT 1 FROM packages WHERE package = $1",
                params![&package],
            )? {
                return Err(Error::not_found(op, format!("package {package}")));
            }
            let new = !c.exists(
                "SELECT 1 FROM package_names WHERE name = $1",
                params![&name],
            )?;
            c.execute(
                "INSERT INTO package_names (name, package, seen) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET seen = CASE \
                     WHEN excluded.seen > package_names.seen THEN excluded.seen \
                     ELSE package_names.seen END",
                params![&name, &package, seen],
            )?;
            if new {
                // A new spelling: a new alias link to the project page.
                owe_now(c, &package, RewriteCommand::Project)?;
            }
            Ok(())
        })
        .await
    }

    /// The spellings of a package other than its canonical name, most recently seen first.
    pub async fn package_aliases(&self, package: &str) -> Result<Vec<String>> {
        let package = package.to_owned();
        self.read("package_aliases", move |c| aliases_of(c, &package))
            .await
    }

    /// The name to show for a package: the spelling seen most recently, else the canonical
    /// name. `None` if there is no such package.
    pub async fn display_name(&self, package: &str) -> Result<Option<String>> {
        let package = package.to_owned();
        self.read("display_name", move |c| display_name(c, &package))
            .await
    }

    /// Sets a package's description (cut to 200 characters, with an ellipsis, as the
    /// original does).
    pub async fn set_package_description(&self, package: &str, description: &str) -> Result<()> {
        let op = "set_package_description";
        let description = super::access::clip(description, 200);
        self.update_package(
            op,
            package,
            "UPDATE packages SET description = $2 WHERE package = $1",
            description,
        )
        .await
    }

    /// Sets a package's description (sanitised and cut as [`Self::set_package_description`]
    /// does) when it differs from the one stored; `true` if it changed (and then the
    /// package's pages are owed a rewrite), `false` if it was the same.
    pub async fn update_package_description(
        &self,
        package: &str,
        description: &str,
    ) -> Result<bool> {
        let op = "update_package_description";
        let description = super::access::clip(description, 200);
        let package = package.to_owned();
        self.write(op, move |c| {
            let n = c.execute(
                "UPDATE packages SET description = $2 WHERE package = $1 AND description <> $2",
                params![&package, &description],
            )?;
            if n == 0 {
                let exists = c
                    .query_opt(
                        "SELECT package FROM packages WHERE package = $1",
                        params![&package],
                        |r| r.text(0),
                    )?
                    .is_some();
                if !exists {
                    return Err(Error::not_found(op, format!("package {package}")));
                }
                return Ok(false);
            }
            owe_now(c, &package, RewriteCommand::Project)?;
            Ok(true)
        })
        .await
    }

    /// Every package's description that is not empty, by canonical name (for the search
    /// index).
    pub async fn package_descriptions(&self) -> Result<BTreeMap<String, String>> {
        self.read("package_descriptions", |c| {
            let mut out = BTreeMap::new();
            c.query_each(
                "SELECT package, description FROM packages WHERE description <> ''",
                params![],
                &mut |r| {
                    out.insert(r.text(0)?, r.text(1)?);
                    Ok(())
                },
            )?;
            Ok(out)
        })
        .await
    }

    /// A package's description.
    pub async fn package_description(&self, package: &str) -> Result<Option<String>> {
        let package = package.to_owned();
        self.read("package_description", move |c| {
            c.query_opt(
                "SELECT description FROM packages WHERE package = $1",
                params![&package],
                |r| r.text(0),
            )
        })
        .await
    }

    /// Skips a package (every version leaves the build queue), or with `""` builds it again.
    pub async fn skip_package(&self, package: &str, reason: &str) -> Result<()> {
        let op = "skip_package";
        check_skip(op, reason)?;
        let (package, reason) = (package.to_owned(), reason.to_owned());
        let aliases = self.aliases();
        self.write(op, move |c| {
            if !lock_package(c, &package)? {
                return Err(Error::not_found(op, format!("package {package}")));
            }
            c.execute(
                "UPDATE packages SET skip = $2 WHERE package = $1",
                params![&package, &reason],
            )?;
            refresh_package(c, &package, &aliases)?;
            owe_now(c, &package, RewriteCommand::Project)?;
            Ok(())
        })
        .await
    }

    /// Skips a version (it leaves the build queue), or with `""` builds it again.
    pub async fn skip_package_version(
        &self,
        package: &str,
        version: &str,
        reason: &str,
    ) -> Result<()> {
        let op = "skip_package_version";
        check_skip(op, reason)?;
        let (package, version, reason) =
            (package.to_owned(), version.to_owned(), reason.to_owned());
        let aliases = self.aliases();
        self.write(op, move |c| {
            lock_package(c, &package)?;
            let n = c.execute(
                "UPDATE versions SET skip = $3 WHERE package = $1 AND version = $2",
                params![&package, &version, &reason],
            )?;
            if n == 0 {
                return Err(Error::not_found(op, format!("version {package} {version}")));
            }
            refresh_version(c, &package, &version, &aliases)?;
            owe_now(c, &package, RewriteCommand::Project)?;
            Ok(())
        })
        .await
    }

    /// Deletes a package with its versions, names, builds, files and dependencies; `false`
    /// if there was no such package.
    pub async fn delete_package(&self, package: &str) -> Result<bool> {
        let package = package.to_owned();
        self.write("delete_package", move |c| {
            let gone =
                c.execute("DELETE FROM packages WHERE package = $1", params![&package])? == 1;
            if gone {
                // The pages of a package the database no longer has are removed.
                owe_now(c, &package, RewriteCommand::Both)?;
            }
            Ok(gone)
        })
        .await
    }

    /// Deletes a version with its builds, files and dependencies; `false` if there was no
    /// such version.
    pub async fn delete_version(&self, package: &str, version: &str) -> Result<bool> {
        let (package, version) = (package.to_owned(), version.to_owned());
        self.write("delete_version", move |c| {
            let gone = c.execute(
                "DELETE FROM versions WHERE package = $1 AND version = $2",
                params![&package, &version],
            )? == 1;
            if gone {
                owe_now(c, &package, RewriteCommand::Both)?;
            }
            Ok(gone)
        })
        .await
    }

    /// Marks a version yanked upstream.
    pub async fn yank_version(&self, package: &str, version: &str) -> Result<()> {
        self.set_yanked("yank_version", package, version, true)
            .await
    }

    /// Clears a version's yanked mark.
    pub async fn unyank_version(&self, package: &str, version: &str) -> Result<()> {
        self.set_yanked("unyank_version", package, version, false)
            .await
    }

    /// Whether a package exists.
    pub async fn package_exists(&self, package: &str) -> Result<bool> {
        let package = package.to_owned();
        self.read("package_exists", move |c| {
            c.exists(
                "SELECT 1 FROM packages WHERE package = $1",
                params![&package],
            )
        })
        .await
    }

    /// Whether a version exists.
    pub async fn version_exists(&self, package: &str, version: &str) -> Result<bool> {
        let (package, version) = (package.to_owned(), version.to_owned());
        self.read("version_exists", move |c| {
            c.exists(
                "SELECT 1 FROM versions WHERE package = $1 AND version = $2",
                params![&package, &version],
            )
        })
        .await
    }

    /// Whether a package is marked deleted upstream (skip reason `deleted`).
    pub async fn package_marked_deleted(&self, package: &str) -> Result<bool> {
        let package = package.to_owned();
        self.read("package_marked_deleted", move |c| {
            c.exists(
                "SELECT 1 FROM packages WHERE package = $1 AND skip = $2",
                params![&package, DELETED],
            )
        })
        .await
    }

    /// A package's versions marked deleted upstream.
    pub async fn versions_deleted(&self, package: &str) -> Result<BTreeSet<String>> {
        let package = package.to_owned();
        self.read("versions_deleted", move |c| {
            Ok(c.query_map(
                "SELECT version FROM versions WHERE package = $1 AND skip = $2",
                params![&package, DELETED],
                |r| r.text(0),
            )?
            .into_iter()
            .collect())
        })
        .await
    }

    /// Why a version is not built: its own skip reason, else its package's (`""` if
    /// neither is skipped). `None` if there is no such version.
    pub async fn version_skip(&self, package: &str, version: &str) -> Result<Option<String>> {
        let (package, version) = (package.to_owned(), version.to_owned());
        self.read("version_skip", move |c| {
            c.query_opt(
                "SELECT CASE WHEN v.skip <> '' THEN v.skip ELSE p.skip END \
                 FROM versions v JOIN packages p ON p.package = v.package \
                 WHERE v.package = $1 AND v.version = $2",
                params![&package, &version],
                |r| r.text(0),
            )
        })
        .await
    }

    async fn update_package(
        &self,
        op: &'static str,
        package: &str,
        sql: &'static str,
        value: String,
    ) -> Result<()> {
        let package = package.to_owned();
        self.write(op, move |c| {
            if c.execute(sql, params![&package, &value])? == 0 {
                return Err(Error::not_found(op, format!("package {package}")));
            }
            owe_now(c, &package, RewriteCommand::Project)?;
            Ok(())
        })
        .await
    }

    async fn set_yanked(
        &self,
        op: &'static str,
        package: &str,
        version: &str,
        yanked: bool,
    ) -> Result<()> {
        let (package, version) = (package.to_owned(), version.to_owned());
        self.write(op, move |c| {
            let n = c.execute(
                "UPDATE versions SET yanked = $3 WHERE package = $1 AND version = $2",
                params![&package, &version, yanked],
            )?;
            if n == 0 {
                return Err(Error::not_found(op, format!("version {package} {version}")));
            }
            // Yanked wheels are marked in the simple pages (PEP 592).
            owe_now(c, &package, RewriteCommand::Both)?;
            Ok(())
        })
        .await
    }
}

/// The display name of a package (see [`Database::display_name`]).
pub(crate) fn display_name(
    c: &mut dyn crate::backend::Conn,
    package: &str,
) -> Result<Option<String>> {
    if !c.exists(
        "SELECT 1 FROM packages WHERE package = $1",
        params![package],
    )? {
        return Ok(None);
    }
    let name = c.query_opt(
        "SELECT name FROM package_names WHERE package = $1 ORDER BY seen DESC, name LIMIT 1",
        params![package],
        |r| r.text(0),
    )?;
    Ok(Some(name.unwrap_or_else(|| package.to_owned())))
}

/// The spellings of a package other than its canonical name, most recently seen first
/// (see [`Database::package_aliases`]).
pub(crate) fn aliases_of(c: &mut dyn Conn, package: &str) -> Result<Vec<String>> {
    c.query_map(
        "SELECT name FROM package_names WHERE package = $1 AND name <> $1 \
         ORDER BY seen DESC, name",
        params![package],
        |r| r.text(0),
    )
}
