//! Project data: everything a project's pages show (the original's `PROJDATA`).
//!
//! The original computes this in one SQL function with a scoring rule over ABIs compared
//! as strings. Here the rows are read in one snapshot and each (version, target) status is
//! decided in Rust, with the same rule the build queue uses for "done": a wheel that
//! installs on the target is a success, whoever built it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::Utc;
use indexmap::IndexMap;

use crate::Database;
use crate::abi::{PlatformAliases, Target, WheelTags, satisfies};
use crate::backend::{Conn, Row, Stmt, Value};
use crate::error::Result;
use crate::types::{BuildStatus, Downloads, ProjectData, ProjectFile, Release, TargetStatus};

/// A build as the status rule needs it.
struct BuildRow {
    id: i64,
    version: String,
    target: Target,
    status: bool,
}

/// A wheel's tags, for the status rule.
struct Tags {
    py: String,
    abi: String,
    platform: String,
    version: String,
    build_id: i64,
}

/// The statements of a project's data, sent as one batch (one round trip on PostgreSQL),
/// in the order their rows are needed: the package, its display name, the targets, its
/// versions, builds, preinstalled packages, wheels and dependencies.
fn statements(package: &str) -> Vec<Stmt<'_>> {
    let p = || vec![Value::Text(package)];
    vec![
        Stmt::new(
            "SELECT skip, description FROM packages WHERE package = $1",
            p(),
        ),
        Stmt::new(
            "SELECT name FROM package_names WHERE package = $1 ORDER BY seen DESC, name LIMIT 1",
            p(),
        ),
        Stmt::new(
            "SELECT abi_tag, platform_tag FROM build_targets WHERE skip = ''",
            vec![],
        ),
        Stmt::new(
            "SELECT version, released, skip, yanked FROM versions WHERE package = $1 \
             ORDER BY released DESC, version DESC",
            p(),
        ),
        Stmt::new(
            "SELECT build_id, version, abi_tag, platform_tag, status FROM builds WHERE package = $1 ORDER BY build_id",
            p(),
        ),
        Stmt::new(
            "SELECT abi_tag, apt_package FROM preinstalled_apt_packages \
             WHERE abi_tag IN (SELECT DISTINCT abi_tag FROM builds WHERE package = $1)",
            p(),
        ),
        Stmt::new(
            "SELECT f.filename, f.location, f.filehash, f.filesize, b.abi_tag, f.abi_tag, f.platform_tag, \
                    f.requires_python, f.build_id, b.version, f.py_version_tag \
               FROM files f JOIN builds b ON b.build_id = f.build_id WHERE b.package = $1",
            p(),
        ),
        Stmt::new(
            "SELECT d.filename, d.tool, d.dependency \
               FROM dependencies d JOIN files f ON f.filename = d.filename \
               JOIN builds b ON b.build_id = f.build_id WHERE b.package = $1",
            p(),
        ),
    ]
}

/// What the batch gives, gathered row by row.
#[derive(Default)]
struct Gathered {
    package: Option<(String, String)>,
    name: Option<String>,
    targets: Vec<Target>,
    releases: IndexMap<String, Release>,
    builds: Vec<BuildRow>,
    preinstalled: HashMap<String, BTreeSet<String>>,
    tags: Vec<Tags>,
    file_version: HashMap<String, String>,
}

impl Gathered {
    fn row(&mut self, i: usize, r: &dyn Row) -> Result<()> {
        match i {
            0 => self.package = Some((r.text(0)?, r.text(1)?)),
            1 => self.name = Some(r.text(0)?),
            2 => self.targets.push(Target::new(r.text(0)?, r.text(1)?)),
            3 => {
                // The package's own skip reason stands in until it is known (row 0 comes first).
                let own_skip = r.text(2)?;
                let skip = if own_skip.is_empty() {
                    self.package
                        .as_ref()
                        .map(|(s, _)| s.clone())
                        .unwrap_or_default()
                } else {
                    own_skip
                };
                self.releases.insert(
                    r.text(0)?,
                    Release {
                        released: r.time(1)?,
                        skip,
                        yanked: r.bool(3)?,
                        files: BTreeMap::new(),
                        targets: BTreeMap::new(),
                    },
                );
            }
            4 => self.builds.push(BuildRow {
                id: r.int(0)?,
                version: r.text(1)?,
                target: Target::new(r.text(2)?, r.text(3)?),
                status: r.bool(4)?,
            }),
            5 => {
                self.preinstalled
                    .entry(r.text(0)?)
                    .or_default()
                    .insert(r.text(1)?);
            }
            6 => {
                let filename = r.text(0)?;
                let version = r.text(9)?;
                let file = ProjectFile {
                    location: r.text(1)?,
                    hash: r.text(2)?,
                    size: r.int(3)?.max(0) as u64,
                    abi_builder: r.text(4)?,
                    abi_file: r.text(5)?,
                    platform: r.text(6)?,
                    requires_python: r.opt_text(7)?,
                    apt_dependencies: BTreeSet::new(),
                    pip_dependencies: BTreeSet::new(),
                    build_id: r.int(8)?,
                };
                self.tags.push(Tags {
                    py: r.text(10)?,
                    abi: file.abi_file.clone(),
                    platform: file.platform.clone(),
                    version: version.clone(),
                    build_id: file.build_id,
                });
                if let Some(release) = self.releases.get_mut(&version) {
                    self.file_version.insert(filename.clone(), version);
                    release.files.insert(filename, file);
                }
            }
            _ => {
                let filename = r.text(0)?;
                let Some(file) = self
                    .file_version
                    .get(&filename)
                    .and_then(|v| self.releases.get_mut(v))
                    .and_then(|rel| rel.files.get_mut(&filename))
                else {
                    return Ok(());
                };
                let dependency = r.text(2)?;
                match r.text(1)?.as_str() {
                    "apt" => {
                        let hidden = self
                            .preinstalled
                            .get(&file.abi_builder)
                            .is_some_and(|set| set.contains(&dependency));
                        if !hidden {
                            file.apt_dependencies.insert(dependency);
                        }
                    }
                    "pip" => {
                        file.pip_dependencies.insert(dependency);
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

fn project_data(
    c: &mut dyn Conn,
    package: &str,
    aliases: &PlatformAliases,
) -> Result<Option<ProjectData>> {
    let mut g = Gathered::default();
    c.pipeline(&statements(package), &mut |i, r| g.row(i, r))?;
    let Some((skip, description)) = g.package.take() else {
        return Ok(None);
    };
    g.targets.sort();
    for (version, release) in &mut g.releases {
        for t in &g.targets {
            release.targets.insert(
                t.clone(),
                status(version, release, t, &g.builds, &g.tags, aliases),
            );
        }
    }
    Ok(Some(ProjectData {
        package: package.to_owned(),
        name: g.name.unwrap_or_else(|| package.to_owned()),
        description,
        skip,
        releases: g.releases,
        downloads: Downloads::default(),
    }))
}

/// One (version, target) status: a wheel that installs on it (preferring one the target
/// built itself) is a success; else a skip; else the latest build of the target decides
/// (failed: fail; succeeded without a wheel for it: error); else pending.
fn status(
    version: &str,
    release: &Release,
    t: &Target,
    builds: &[BuildRow],
    tags: &[Tags],
    aliases: &PlatformAliases,
) -> TargetStatus {
    let built_by_target = |id: i64| builds.iter().any(|b| b.id == id && b.target == *t);
    let best = tags
        .iter()
        .filter(|f| f.version == version)
        .filter(|f| {
            satisfies(
                WheelTags {
                    py: &f.py,
                    abi: &f.abi,
                    platform: &f.platform,
                },
                t,
                aliases,
            )
        })
        .max_by_key(|f| (built_by_target(f.build_id), f.build_id))
        .map(|f| f.build_id);
    if let Some(id) = best {
        return TargetStatus {
            status: BuildStatus::Success,
            build_id: Some(id),
        };
    }
    if !release.skip.is_empty() {
        return TargetStatus {
            status: BuildStatus::Skip,
            build_id: None,
        };
    }
    match builds
        .iter()
        .rev()
        .find(|b| b.version == version && b.target == *t)
    {
        Some(b) if !b.status => TargetStatus {
            status: BuildStatus::Fail,
            build_id: Some(b.id),
        },
        Some(b) => TargetStatus {
            status: BuildStatus::Error,
            build_id: Some(b.id),
        },
        None => TargetStatus {
            status: BuildStatus::Pending,
            build_id: None,
        },
    }
}

impl Database {
    /// Everything the project's pages show: display name, description, and each version
    /// (newest release first) with its wheels and how each enabled target fares. `None` if
    /// there is no such package.
    pub async fn project_data(&self, package: &str) -> Result<Option<ProjectData>> {
        let package = package.to_owned();
        let aliases = self.aliases();
        self.read("project_data", move |c| {
            let mut data = project_data(c, &package, &aliases)?;
            if let Some(d) = &mut data {
                let found =
                    super::downloads::downloads_of(c, std::slice::from_ref(&package), Utc::now())?;
                d.downloads = found.get(&package).copied().unwrap_or_default();
            }
            Ok(data)
        })
        .await
    }

    /// What the pages of many packages are made of, read in one go (one transaction and
    /// one trip to a database thread, instead of two per package): for each package, in
    /// order, its [`project_data`](Self::project_data) and its
    /// [`package_aliases`](Self::package_aliases), or `None` if there is no such package.
    /// Each package's rows are read as those two calls read them, so pages made from
    /// either are the same.
    pub async fn projects_pages_data(
        &self,
        packages: &[String],
    ) -> Result<Vec<Option<(ProjectData, Vec<String>)>>> {
        let packages = packages.to_vec();
        let aliases = self.aliases();
        self.read("projects_pages_data", move |c| {
            // One statement counts the downloads of the whole chunk.
            let downloads = super::downloads::downloads_of(c, &packages, Utc::now())?;
            packages
                .iter()
                .map(|p| {
                    let Some(mut data) = project_data(c, p, &aliases)? else {
                        return Ok(None);
                    };
                    data.downloads = downloads.get(p).copied().unwrap_or_default();
                    Ok(Some((data, super::packages::aliases_of(c, p)?)))
                })
                .collect()
        })
        .await
    }
}
