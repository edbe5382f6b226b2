//! Project data: everything a project's pages show (the original's `PROJDATA`).
//!
//! The original computes this in one SQL function with a scoring rule over ABIs compared
//! as strings. Here the rows are read in one snapshot and each (version, target) status is
//! decided in Rust, with the same rule the build queue uses for "done": a wheel that
//! installs on the target is a success, whoever built it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use indexmap::IndexMap;

use super::packages::display_name;
use super::queue::enabled_targets;
use crate::Database;
use crate::abi::{PlatformAliases, Target, WheelTags, satisfies};
use crate::backend::{Conn, params};
use crate::error::Result;
use crate::types::{BuildStatus, ProjectData, ProjectFile, Release, TargetStatus};

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

fn project_data(
    c: &mut dyn Conn,
    package: &str,
    aliases: &PlatformAliases,
) -> Result<Option<ProjectData>> {
    let Some((skip, description)) = c.query_opt(
        "SELECT skip, description FROM packages WHERE package = $1",
        params![package],
        |r| Ok((r.text(0)?, r.text(1)?)),
    )?
    else {
        return Ok(None);
    };
    let name = display_name(c, package)?.unwrap_or_else(|| package.to_owned());
    let targets = enabled_targets(c)?;

    let mut releases: IndexMap<String, Release> = IndexMap::new();
    c.query_each(
        "SELECT version, released, skip, yanked FROM versions WHERE package = $1 \
         ORDER BY released DESC, version DESC",
        params![package],
        &mut |r| {
            let own_skip = r.text(2)?;
            releases.insert(
                r.text(0)?,
                Release {
                    released: r.time(1)?,
                    skip: if own_skip.is_empty() {
                        skip.clone()
                    } else {
                        own_skip
                    },
                    yanked: r.bool(3)?,
                    files: BTreeMap::new(),
                    targets: BTreeMap::new(),
                },
            );
            Ok(())
        },
    )?;

    let builds = c.query_map(
        "SELECT build_id, version, abi_tag, platform_tag, status FROM builds WHERE package = $1 \
         ORDER BY build_id",
        params![package],
        |r| {
            Ok(BuildRow {
                id: r.int(0)?,
                version: r.text(1)?,
                target: Target::new(r.text(2)?, r.text(3)?),
                status: r.bool(4)?,
            })
        },
    )?;

    let preinstalled = preinstalled_for(c, package)?;
    let mut tags = Vec::new();
    let mut file_version: HashMap<String, String> = HashMap::new();
    c.query_each(
        "SELECT f.filename, f.location, f.filehash, f.filesize, b.abi_tag, f.abi_tag, f.platform_tag, \
                f.requires_python, f.build_id, b.version, f.py_version_tag \
           FROM files f JOIN builds b ON b.build_id = f.build_id WHERE b.package = $1",
        params![package],
        &mut |r| {
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
            tags.push(Tags {
                py: r.text(10)?,
                abi: file.abi_file.clone(),
                platform: file.platform.clone(),
                version: version.clone(),
                build_id: file.build_id,
            });
            if let Some(release) = releases.get_mut(&version) {
                file_version.insert(filename.clone(), version);
                release.files.insert(filename, file);
            }
            Ok(())
        },
    )?;
    c.query_each(
        "SELECT d.filename, d.tool, d.dependency \
           FROM dependencies d JOIN files f ON f.filename = d.filename \
           JOIN builds b ON b.build_id = f.build_id WHERE b.package = $1",
        params![package],
        &mut |r| {
            let filename = r.text(0)?;
            let Some(file) = file_version
                .get(&filename)
                .and_then(|v| releases.get_mut(v))
                .and_then(|rel| rel.files.get_mut(&filename))
            else {
                return Ok(());
            };
            let dependency = r.text(2)?;
            match r.text(1)?.as_str() {
                "apt" => {
                    let hidden = preinstalled
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
            Ok(())
        },
    )?;

    for (version, release) in &mut releases {
        for t in &targets {
            release.targets.insert(
                t.clone(),
                status(version, release, t, &builds, &tags, aliases),
            );
        }
    }
    Ok(Some(ProjectData {
        package: package.to_owned(),
        name,
        description,
        skip,
        releases,
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

/// The preinstalled Debian packages of the ABIs that built this package.
fn preinstalled_for(c: &mut dyn Conn, package: &str) -> Result<HashMap<String, BTreeSet<String>>> {
    let mut out: HashMap<String, BTreeSet<String>> = HashMap::new();
    c.query_each(
        "SELECT abi_tag, apt_package FROM preinstalled_apt_packages \
         WHERE abi_tag IN (SELECT DISTINCT abi_tag FROM builds WHERE package = $1)",
        params![package],
        &mut |r| {
            out.entry(r.text(0)?).or_default().insert(r.text(1)?);
            Ok(())
        },
    )?;
    Ok(out)
}

impl Database {
    /// Everything the project's pages show: display name, description, and each version
    /// (newest release first) with its wheels and how each enabled target fares. `None` if
    /// there is no such package.
    pub async fn project_data(&self, package: &str) -> Result<Option<ProjectData>> {
        let package = package.to_owned();
        let aliases = self.aliases();
        self.read("project_data", move |c| project_data(c, &package, &aliases))
            .await
    }
}
