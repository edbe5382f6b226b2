//! Statistics and the search index (the original's `INITSTATS`, `GETSTATS`, `GETSEARCH`
//! and `get_builds_last_hour`).

use std::collections::BTreeMap;

use chrono::{TimeDelta, Utc};

use crate::Database;
use crate::abi::Target;
use crate::backend::{Conn, micros, params};
use crate::error::Result;
use crate::types::{Downloads, Statistics};

fn builds_last_hour(c: &mut dyn Conn) -> Result<BTreeMap<Target, i64>> {
    let since = Utc::now() - TimeDelta::hours(1);
    let rows = c.query_map(
        "SELECT t.abi_tag, t.platform_tag, COUNT(b.build_id) \
           FROM build_targets t LEFT JOIN builds b \
             ON b.abi_tag = t.abi_tag AND b.platform_tag = t.platform_tag AND b.built_at > $1 \
          WHERE t.skip = '' GROUP BY t.abi_tag, t.platform_tag",
        params![since],
        |r| Ok((Target::new(r.text(0)?, r.text(1)?), r.int(2)?)),
    )?;
    Ok(rows.into_iter().collect())
}

impl Database {
    /// The farm's statistics, as BigBrother reports them every minute.
    pub async fn statistics(&self) -> Result<Statistics> {
        self.read("statistics", |c| {
            let now = Utc::now();
            // Builds of a week or more come from slaves with broken clocks (the original
            // leaves them out the same way).
            let builds_us = c.query_int(
                "SELECT CAST(COALESCE(SUM(CASE WHEN duration_us < $1 THEN duration_us ELSE 0 END), 0) AS BIGINT) \
                 FROM builds",
                params![micros(TimeDelta::weeks(1))],
            )?;
            let (files_count, packages_built, builds_size) = c
                .query_opt(
                    "SELECT COUNT(*), COUNT(DISTINCT package_tag), \
                            CAST(COALESCE(SUM(CASE WHEN twin_of IS NULL THEN filesize ELSE 0 END), 0) AS BIGINT) \
                       FROM files",
                    params![],
                    |r| Ok((r.int(0)?, r.int(1)?, r.int(2)?)),
                )?
                .unwrap_or_default();
            let new_last_hour = c.query_int(
                "SELECT COUNT(*) FROM versions WHERE released > $1",
                params![now - TimeDelta::hours(1)],
            )?;
            let (downloads_last_month, downloads_last_hour) = c
                .query_opt(
                    "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN accessed_at > $2 THEN 1 ELSE 0 END), 0) AS BIGINT) \
                       FROM downloads WHERE accessed_at > $1",
                    params![now - TimeDelta::days(30), now - TimeDelta::hours(1)],
                    |r| Ok((r.int(0)?, r.int(1)?)),
                )?
                .unwrap_or_default();
            Ok(Statistics {
                builds_time: TimeDelta::microseconds(builds_us),
                builds_size,
                packages_built,
                files_count,
                new_last_hour,
                downloads_last_month,
                downloads_last_hour,
                builds_last_hour: builds_last_hour(c)?,
            })
        })
        .await
    }

    /// Builds in the last hour, for every enabled target (zeros included).
    pub async fn builds_last_hour(&self) -> Result<BTreeMap<Target, i64>> {
        self.read("builds_last_hour", builds_last_hour).await
    }

    /// Every download ever (expensive on a large log: the master asks once at start).
    pub async fn downloads_all(&self) -> Result<i64> {
        self.read("downloads_all", |c| {
            c.query_int("SELECT COUNT(*) FROM downloads", params![])
        })
        .await
    }

    /// The search index: every package with its downloads in the last 30 days and ever.
    pub async fn search_index(&self) -> Result<BTreeMap<String, Downloads>> {
        self.read("search_index", |c| {
            let since = Utc::now() - TimeDelta::days(30);
            let mut index: BTreeMap<String, Downloads> = c
                .query_map("SELECT package FROM packages", params![], |r| Ok((r.text(0)?, Downloads::default())))?
                .into_iter()
                .collect();
            c.query_each(
                "SELECT b.package, \
                        CAST(COALESCE(SUM(CASE WHEN d.accessed_at > $1 THEN 1 ELSE 0 END), 0) AS BIGINT), \
                        COUNT(*) \
                   FROM downloads d JOIN files f ON f.filename = d.filename \
                   JOIN builds b ON b.build_id = f.build_id \
                  GROUP BY b.package",
                params![since],
                &mut |r| {
                    if let Some(entry) = index.get_mut(&r.text(0)?) {
                        *entry = Downloads { recent: r.int(1)?, all: r.int(2)? };
                    }
                    Ok(())
                },
            )?;
            Ok(index)
        })
        .await
    }
}
