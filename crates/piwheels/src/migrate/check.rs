//! `piw-migrate --check`: compares a migrated database with its source. Per table, the
//! source's rows less those the migration dropped (and plus those it added) must be the
//! target's rows; and a sample of each source table, mapped again, must be in the target
//! field by field (or listed as dropped).

use std::collections::HashSet;

use piwheels_db::load::{Field, Loader, Table};

use super::MigrateError;
use super::map::ADDED_NAME;
use super::source::Source;
use super::steps::STEPS;

/// One of our tables, counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    /// Our table.
    pub table: &'static str,
    /// The source's rows of the tables that fill it.
    pub source: u64,
    /// Of those, dropped.
    pub dropped: u64,
    /// Rows the migration added.
    pub added: u64,
    /// The target's rows.
    pub target: u64,
}

impl Count {
    /// Whether the counts agree.
    pub fn ok(&self) -> bool {
        self.source - self.dropped.min(self.source) + self.added == self.target
    }
}

/// What the check found.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// Every table.
    pub counts: Vec<Count>,
    /// Source rows sampled.
    pub sampled: u64,
    /// Differences found in the samples.
    pub differences: Vec<String>,
}

impl CheckReport {
    /// Whether everything agrees.
    pub fn ok(&self) -> bool {
        self.differences.is_empty() && self.counts.iter().all(Count::ok)
    }
}

/// Compares the target at `target` with its source at `source`, sampling about `sample`
/// rows of each source table.
pub async fn check(source: &str, target: &str, sample: u64) -> Result<CheckReport, MigrateError> {
    let mut src = Source::connect(source).await?;
    let loader = Loader::inspect(target).await?;
    let report = loader.report().await?;
    if report.source != src.id() {
        return Err(MigrateError::Usage(format!(
            "the target was migrated from {}, not from {}",
            report.source,
            src.id()
        )));
    }
    let snap = src.snapshot().await?;
    let mut out = CheckReport::default();
    let mut source_rows = std::collections::BTreeMap::new();
    for s in super::source_tables() {
        source_rows.insert(s, snap.count(s).await?);
    }
    for table in Table::ALL {
        let sources: Vec<&str> = STEPS
            .iter()
            .filter(|s| s.target == table)
            .map(|s| s.source)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut count = Count {
            table: table.name(),
            source: 0,
            dropped: 0,
            added: 0,
            target: loader.count(table).await?,
        };
        for s in &sources {
            count.source += source_rows[s];
            count.dropped += report.dropped.iter().filter(|d| d.table == *s).count() as u64;
        }
        if table == Table::PackageNames {
            count.added = report
                .mapped
                .iter()
                .filter(|((_, what), _)| what == ADDED_NAME)
                .map(|(_, n)| n)
                .sum();
        }
        out.counts.push(count);
    }

    let mut mapper = super::mapper(&snap, &report.platform, &report).await?;
    mapper.resume(&report.dropped);
    let dropped: HashSet<(String, String)> = report
        .dropped
        .iter()
        .map(|d| (d.table.clone(), d.key.clone()))
        .collect();
    for step in STEPS {
        let rows = source_rows[step.source].max(1);
        let percent = (sample as f64 * 100.0 / rows as f64).clamp(0.0, 100.0);
        let (sql, _) = step.query(None);
        let sql = sample_query(&sql, step.source, percent, sample);
        let rows = snap.query(&sql).await?;
        out.sampled += rows.len() as u64;
        let mapped = mapper.map(step, &rows);
        for d in &mapped.dropped {
            if !dropped.contains(&(d.table.clone(), d.key.clone())) {
                out.differences.push(format!(
                    "{} {}: it should have been dropped ({}) but is not listed as dropped",
                    d.table, d.key, d.reason
                ));
            }
        }
        for (table, rows) in mapped.tables {
            for row in rows {
                // Pending rewrites of packages the target lacks are dropped as they are
                // written (see `drop_dangling_rewrites`).
                if let (Table::RewritesPending, Some(Field::Text(p))) = (table, row.first()) {
                    let key = serde_json::to_string(&[p]).unwrap_or_default();
                    if dropped.contains(&(step.source.to_owned(), key)) {
                        continue;
                    }
                }
                if let Some(diff) = compare(&loader, table, row).await? {
                    out.differences.push(diff);
                }
            }
        }
    }
    Ok(out)
}

/// A step's query over a sample of its table (`TABLESAMPLE SYSTEM`: whole pages, cheap on
/// a large table), at most `limit` rows, without its order.
fn sample_query(sql: &str, source: &str, percent: f64, limit: u64) -> String {
    let from = format!("FROM {source} t");
    let sql = sql.replacen(
        &from,
        &format!("{from} TABLESAMPLE SYSTEM ({percent:.6})"),
        1,
    );
    let sql = sql.split(" ORDER BY ").next().unwrap_or(&sql).to_owned();
    format!("{sql} LIMIT {limit}")
}

/// How many of our table's first columns are its key.
fn key_len(table: Table) -> Option<usize> {
    match table {
        Table::Packages
        | Table::PackageNames
        | Table::Builds
        | Table::Files
        | Table::RewritesPending => Some(1),
        Table::Versions | Table::BuildTargets | Table::PreinstalledAptPackages => Some(2),
        Table::Dependencies => Some(3),
        Table::Downloads
        | Table::Searches
        | Table::ProjectPageHits
        | Table::ProjectJsonDownloads
        | Table::WebPageHits => None,
    }
}

/// A field as the target gives it back for comparison (see [`Loader::row`]).
fn as_text(f: &Field) -> Option<String> {
    match f {
        Field::Null => None,
        Field::Bool(b) => Some(if *b { "1" } else { "0" }.to_owned()),
        Field::Int(i) => Some(i.to_string()),
        Field::Text(s) => Some(s.clone()),
        Field::Time(t) => Some(t.timestamp_micros().to_string()),
        Field::Ip(ip) => Some(ip.to_string()),
    }
}

/// Compares one mapped source row with the target's: the difference, if any.
async fn compare(
    loader: &Loader,
    table: Table,
    row: Vec<Field>,
) -> Result<Option<String>, MigrateError> {
    let Some(k) = key_len(table) else {
        let n = loader.matching(table, row.clone()).await?;
        return Ok((n == 0).then(|| format!("{}: no row holds {row:?}", table.name())));
    };
    let key: Vec<Field> = row[..k].to_vec();
    let Some(found) = loader.row(table, k, key.clone()).await? else {
        return Ok(Some(format!(
            "{}: the row {key:?} is missing",
            table.name()
        )));
    };
    let cols = table.columns();
    let mut diffs = Vec::new();
    for (i, (want, got)) in row.iter().zip(&found).enumerate() {
        let (want, got) = (as_text(want), as_text(got));
        if want != got {
            diffs.push(format!("{} is {got:?}, not {want:?}", cols[i]));
        }
    }
    Ok((!diffs.is_empty()).then(|| format!("{} {key:?}: {}", table.name(), diffs.join(", "))))
}
