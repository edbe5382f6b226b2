//! The upstream serial and preinstalled Debian packages (the original's `GETPYPI`,
//! `SETPYPI`, and the `preinstalled_apt_packages` table). Pending rewrites (`SAVERWP`,
//! `LOADRWP`) are the journal's, in `journal.rs`.

use std::collections::BTreeSet;

use super::check_len;
use crate::Database;
use crate::backend::{Value, params};
use crate::error::{Error, Result};

impl Database {
    /// The last upstream serial the master read (0 at first).
    pub async fn upstream_serial(&self) -> Result<i64> {
        self.read("upstream_serial", |c| {
            c.query_int(
                "SELECT upstream_serial FROM configuration WHERE id = 1",
                params![],
            )
        })
        .await
    }

    /// Stores the upstream serial. It never goes backwards: a lower one is refused with
    /// [`Error::SerialBackwards`] and nothing changes (setting the same one again is fine).
    pub async fn set_upstream_serial(&self, serial: i64) -> Result<()> {
        self.write("set_upstream_serial", move |c| {
            let n = c.execute(
                "UPDATE configuration SET upstream_serial = $1 WHERE id = 1 AND upstream_serial <= $1",
                params![serial],
            )?;
            if n == 0 {
                let current = c.query_int("SELECT upstream_serial FROM configuration WHERE id = 1", params![])?;
                return Err(Error::SerialBackwards { current, new: serial });
            }
            Ok(())
        })
        .await
    }

    /// Makes `packages` the Debian packages preinstalled for an ABI (hidden from the
    /// dependencies shown on project pages).
    pub async fn set_preinstalled_apt_packages(
        &self,
        abi: &str,
        packages: &BTreeSet<String>,
    ) -> Result<()> {
        let op = "set_preinstalled_apt_packages";
        check_len(op, "the ABI tag", abi, 100, true)?;
        for p in packages {
            check_len(op, "a Debian package name", p, 255, true)?;
        }
        let (abi, packages) = (abi.to_owned(), packages.clone());
        self.write(op, move |c| {
            c.execute(
                "DELETE FROM preinstalled_apt_packages WHERE abi_tag = $1",
                params![&abi],
            )?;
            let rows: Vec<Vec<Value<'_>>> = packages
                .iter()
                .map(|p| vec![Value::Text(&abi), Value::Text(p)])
                .collect();
            c.bulk_insert(
                "preinstalled_apt_packages",
                &["abi_tag", "apt_package"],
                &rows,
            )
        })
        .await
    }

    /// The Debian packages preinstalled for an ABI.
    pub async fn preinstalled_apt_packages(&self, abi: &str) -> Result<BTreeSet<String>> {
        let abi = abi.to_owned();
        self.read("preinstalled_apt_packages", move |c| {
            Ok(c.query_map(
                "SELECT apt_package FROM preinstalled_apt_packages WHERE abi_tag = $1",
                params![&abi],
                |r| r.text(0),
            )?
            .into_iter()
            .collect())
        })
        .await
    }
}
