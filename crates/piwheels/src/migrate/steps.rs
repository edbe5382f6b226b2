//! The steps of a migration: which source table each reads, in which key order, and
//! into which of our tables its rows go.

use piwheels_db::load::Table;

/// How a step's rows are ordered and its position kept.
#[derive(Debug, Clone, Copy)]
pub enum Key {
    /// The table's key columns, with the SQL type each is compared as.
    Cols(&'static [(&'static str, &'static str)]),
    /// The row's address (`ctid`): tables without a key, read in physical order.
    Ctid,
}

impl Key {
    /// The number of position columns a row starts with.
    pub fn columns(&self) -> usize {
        match self {
            Key::Cols(cols) => cols.len(),
            Key::Ctid => 1,
        }
    }
}

/// One step.
#[derive(Debug, Clone, Copy)]
pub struct StepDef {
    /// Its name (kept in the target with its position).
    pub name: &'static str,
    /// The source table it reads.
    pub source: &'static str,
    /// Our table its rows go to.
    pub target: Table,
    /// The key.
    pub key: Key,
    /// The columns it reads (SQL expressions over the table, alias `t`).
    pub columns: &'static str,
    /// A condition on the rows it reads, if any.
    pub filter: Option<&'static str>,
}

/// Whether a source file is a 0.23 armv6l copy of an armv7l wheel of the same build
/// (same size and hash, the name differing only in the platform tag): such a file
/// becomes an alias copy (`twin_of`) of that wheel.
macro_rules! twin {
    () => {
        "t.platform_tag = 'linux_armv6l' AND EXISTS (SELECT 1 FROM files r \
         WHERE r.filename = regexp_replace(t.filename, '-linux_armv6l\\.whl$', '-linux_armv7l.whl') \
         AND r.platform_tag = 'linux_armv7l' AND r.build_id = t.build_id \
         AND r.filehash = t.filehash AND r.filesize = t.filesize)"
    };
}

const TWIN: &str = twin!();
const NOT_TWIN: &str = concat!("NOT (", twin!(), ")");

const FILE_COLUMNS: &str = "t.filename::text, t.build_id, t.filesize, t.filehash::text, \
     t.package_tag::text, t.package_version_tag::text, t.py_version_tag::text, \
     t.abi_tag::text, t.platform_tag::text, t.requires_python::text, t.location::text";

/// The ten optional fields of a download or search (`piwheels_db::load::ACCESS_FIELDS`).
macro_rules! access_fields {
    () => {
        "t.arch::text, t.distro_name::text, t.distro_version::text, t.os_name::text, \
         t.os_version::text, t.py_name::text, t.py_version::text, t.installer_name::text, \
         t.installer_version::text, t.setuptools_version::text"
    };
}

/// The columns of a download.
const DOWNLOAD_COLUMNS: &str = concat!(
    "t.filename::text, t.accessed_by, t.accessed_at, ",
    access_fields!()
);

/// The columns of a search.
const SEARCH_COLUMNS: &str = concat!(
    "t.package::text, t.accessed_by, t.accessed_at, ",
    access_fields!()
);

/// Every step, in order (parents before children).
pub const STEPS: &[StepDef] = &[
    StepDef {
        name: "build_abis",
        source: "build_abis",
        target: Table::BuildTargets,
        key: Key::Cols(&[("abi_tag", "text")]),
        columns: "t.abi_tag::text, t.skip::text",
        filter: None,
    },
    StepDef {
        name: "preinstalled_apt_packages",
        source: "preinstalled_apt_packages",
        target: Table::PreinstalledAptPackages,
        key: Key::Cols(&[("abi_tag", "text"), ("apt_package", "text")]),
        columns: "t.abi_tag::text, t.apt_package::text",
        filter: None,
    },
    StepDef {
        name: "packages",
        source: "packages",
        target: Table::Packages,
        key: Key::Cols(&[("package", "text")]),
        columns: "t.package::text, t.skip::text, t.description::text",
        filter: None,
    },
    StepDef {
        name: "package_names",
        source: "package_names",
        target: Table::PackageNames,
        key: Key::Cols(&[("name", "text")]),
        columns: "t.package::text, t.name::text, t.seen",
        filter: None,
    },
    StepDef {
        name: "versions",
        source: "versions",
        target: Table::Versions,
        key: Key::Cols(&[("package", "text"), ("version", "text")]),
        columns: "t.package::text, t.version::text, t.released, t.skip::text, t.yanked",
        filter: None,
    },
    StepDef {
        name: "builds",
        source: "builds",
        target: Table::Builds,
        key: Key::Cols(&[("build_id", "int")]),
        columns: "t.build_id, t.package::text, t.version::text, t.built_by, t.built_at, \
                  CASE WHEN t.duration BETWEEN INTERVAL '0' AND INTERVAL '1000 years' \
                  THEN CAST(EXTRACT(EPOCH FROM t.duration) * 1000000 AS BIGINT) END, \
                  t.status, t.abi_tag::text",
        filter: None,
    },
    StepDef {
        name: "files",
        source: "files",
        target: Table::Files,
        key: Key::Cols(&[("filename", "text")]),
        columns: FILE_COLUMNS,
        filter: Some(NOT_TWIN),
    },
    StepDef {
        name: "armv6l_copies",
        source: "files",
        target: Table::Files,
        key: Key::Cols(&[("filename", "text")]),
        columns: FILE_COLUMNS,
        filter: Some(TWIN),
    },
    StepDef {
        name: "dependencies",
        source: "dependencies",
        target: Table::Dependencies,
        key: Key::Cols(&[
            ("filename", "text"),
            ("tool", "text"),
            ("dependency", "text"),
        ]),
        columns: "t.filename::text, t.tool::text, t.dependency::text",
        filter: None,
    },
    StepDef {
        name: "downloads",
        source: "downloads",
        target: Table::Downloads,
        key: Key::Ctid,
        columns: DOWNLOAD_COLUMNS,
        filter: None,
    },
    StepDef {
        name: "searches",
        source: "searches",
        target: Table::Searches,
        key: Key::Ctid,
        columns: SEARCH_COLUMNS,
        filter: None,
    },
    StepDef {
        name: "project_page_hits",
        source: "project_page_hits",
        target: Table::ProjectPageHits,
        key: Key::Ctid,
        columns: "t.package::text, t.accessed_by, t.accessed_at, t.user_agent::text, t.bot",
        filter: None,
    },
    StepDef {
        name: "project_json_downloads",
        source: "project_json_downloads",
        target: Table::ProjectJsonDownloads,
        key: Key::Ctid,
        columns: "t.package::text, t.accessed_by, t.accessed_at, t.user_agent::text",
        filter: None,
    },
    StepDef {
        name: "web_page_hits",
        source: "web_page_hits",
        target: Table::WebPageHits,
        key: Key::Ctid,
        columns: "t.page::text, t.accessed_by, t.accessed_at, t.user_agent::text, t.bot",
        filter: None,
    },
    StepDef {
        name: "rewrites_pending",
        source: "rewrites_pending",
        target: Table::RewritesPending,
        key: Key::Cols(&[("package", "text")]),
        columns: "t.package::text, t.added_at, t.command::text",
        filter: None,
    },
];

impl StepDef {
    /// The query reading this step's rows after `position`, and its parameters: the
    /// position columns first (as text), then [`columns`](Self::columns).
    pub fn query(&self, position: Option<&[String]>) -> (String, Vec<String>) {
        let mut conds: Vec<String> = self.filter.iter().map(|f| (*f).to_owned()).collect();
        let params: Vec<String> = position.map(<[String]>::to_vec).unwrap_or_default();
        let sql = match self.key {
            Key::Ctid => {
                if position.is_some() {
                    conds.push("t.ctid > $1::text::tid".into());
                }
                format!(
                    "SELECT t.ctid::text, {} FROM {} t{}",
                    self.columns,
                    self.source,
                    where_clause(&conds)
                )
            }
            Key::Cols(cols) => {
                let names: Vec<String> = cols.iter().map(|(c, _)| format!("t.{c}")).collect();
                if position.is_some() {
                    let marks: Vec<String> = cols
                        .iter()
                        .enumerate()
                        .map(|(i, (_, ty))| format!("${}::text::{ty}", i + 1))
                        .collect();
                    conds.push(format!("({}) > ({})", names.join(", "), marks.join(", ")));
                }
                let as_text: Vec<String> = names.iter().map(|n| format!("{n}::text")).collect();
                format!(
                    "SELECT {}, {} FROM {} t{} ORDER BY {}",
                    as_text.join(", "),
                    self.columns,
                    self.source,
                    where_clause(&conds),
                    names.join(", ")
                )
            }
        };
        (sql, params)
    }
}

fn where_clause(conds: &[String]) -> String {
    if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    }
}
