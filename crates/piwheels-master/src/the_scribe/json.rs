//! The JSON documents: PEP 691 simple pages (API version 1.1) and the project JSON of
//! piwheels.md §6.4.

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use super::model::{Prepared, Site};

/// The API version of our PEP 691 pages (1.1: PEP 700's `versions` and `size`).
pub const API_VERSION: &str = "1.1";

#[derive(Serialize)]
struct Meta {
    #[serde(rename = "api-version")]
    api_version: &'static str,
}

const META: Meta = Meta {
    api_version: API_VERSION,
};

#[derive(Serialize)]
struct RootProject<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct Root<'a> {
    meta: Meta,
    projects: Vec<RootProject<'a>>,
}

/// `simple/index.json`: every project by name.
pub fn simple_root<'a>(names: impl Iterator<Item = &'a str>) -> Vec<u8> {
    let root = Root {
        meta: META,
        projects: names.map(|name| RootProject { name }).collect(),
    };
    serde_json::to_vec(&root).expect("serialising to memory cannot fail")
}

#[derive(Serialize)]
struct Hashes<'a> {
    sha256: &'a str,
}

/// `core-metadata`: the metadata file's hashes, or `false` when there is none.
enum CoreMetadata<'a> {
    Absent,
    Hash(&'a str),
}

impl Serialize for CoreMetadata<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            CoreMetadata::Absent => s.serialize_bool(false),
            CoreMetadata::Hash(h) => Hashes { sha256: h }.serialize(s),
        }
    }
}

#[derive(Serialize)]
struct SimpleFile<'a> {
    filename: &'a str,
    url: &'a str,
    hashes: Hashes<'a>,
    #[serde(rename = "requires-python", skip_serializing_if = "Option::is_none")]
    requires_python: Option<&'a str>,
    size: u64,
    yanked: bool,
    /// PEP 714's name only: pip before 23.1 fails on the dictionary form of the older
    /// `dist-info-metadata` key in JSON (the reason PEP 714 renamed it).
    #[serde(rename = "core-metadata")]
    core_metadata: CoreMetadata<'a>,
}

#[derive(Serialize)]
struct SimpleProject<'a> {
    meta: Meta,
    name: &'a str,
    files: Vec<SimpleFile<'a>>,
    versions: Vec<&'a str>,
}

/// `simple/<package>/index.json`: the project's files, newest version first.
pub fn simple_project(p: &Prepared<'_>) -> Vec<u8> {
    let mut files = Vec::new();
    let mut versions = Vec::new();
    for r in &p.releases {
        if !r.files.is_empty() {
            versions.push(r.version);
        }
        for f in &r.files {
            files.push(SimpleFile {
                filename: f.name,
                url: &f.url,
                hashes: Hashes {
                    sha256: &f.file.hash,
                },
                requires_python: f.file.requires_python.as_deref(),
                size: f.file.size,
                yanked: r.release.yanked,
                core_metadata: metadata(&f.metadata_hash),
            });
        }
    }
    let doc = SimpleProject {
        meta: META,
        name: &p.data.package,
        files,
        versions,
    };
    serde_json::to_vec(&doc).expect("serialising to memory cannot fail")
}

#[derive(Serialize)]
struct JsonFile<'a> {
    file_url: String,
    filehash: &'a str,
    filesize: u64,
    builder_abi: &'a str,
    file_abi_tag: &'a str,
    platform: &'a str,
    requires_python: Option<&'a str>,
    apt_dependencies: Vec<&'a str>,
    pip_dependencies: Vec<&'a str>,
}

/// A map serialised in the order given.
struct Ordered<T>(Vec<(String, T)>);

impl<T: Serialize> Serialize for Ordered<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

#[derive(Serialize)]
struct JsonRelease<'a> {
    released: String,
    prerelease: bool,
    yanked: bool,
    skip_reason: &'a str,
    files: Ordered<JsonFile<'a>>,
}

#[derive(Serialize)]
struct ProjectJson<'a> {
    package: &'a str,
    summary: &'a str,
    pypi_url: Option<String>,
    piwheels_url: String,
    releases: Ordered<JsonRelease<'a>>,
    /// Downloads ever (named as the original's project page names the figure,
    /// `downloads-all`).
    downloads_all: i64,
    /// Downloads in the last 30 days (the original's `downloads-30`).
    downloads_30: i64,
}

/// `project/<package>/json/index.json` (piwheels.md §6.4): releases newest version first, each
/// keyed by its version string as upstream wrote it.
pub fn project(site: &Site, p: &Prepared<'_>) -> Vec<u8> {
    let package = p.data.package.as_str();
    let releases = p
        .releases
        .iter()
        .map(|r| {
            let files = r
                .files
                .iter()
                .map(|f| {
                    let file = JsonFile {
                        file_url: site.absolute(&f.url),
                        filehash: &f.file.hash,
                        filesize: f.file.size,
                        builder_abi: &f.file.abi_builder,
                        file_abi_tag: &f.file.abi_file,
                        platform: &f.file.platform,
                        requires_python: f.file.requires_python.as_deref(),
                        apt_dependencies: f
                            .file
                            .apt_dependencies
                            .iter()
                            .map(String::as_str)
                            .collect(),
                        pip_dependencies: f
                            .file
                            .pip_dependencies
                            .iter()
                            .map(String::as_str)
                            .collect(),
                    };
                    (f.name.to_owned(), file)
                })
                .collect();
            let release = JsonRelease {
                released: r.release.released.format("%Y-%m-%d %H:%M:%S").to_string(),
                prerelease: r.prerelease,
                yanked: r.release.yanked,
                skip_reason: &r.release.skip,
                files: Ordered(files),
            };
            (r.version.to_owned(), release)
        })
        .collect();
    let doc = ProjectJson {
        package,
        summary: &p.data.description,
        pypi_url: site.upstream_url(package),
        piwheels_url: format!("{}/project/{package}", site.site_url),
        releases: Ordered(releases),
        downloads_all: p.data.downloads.all,
        downloads_30: p.data.downloads.recent,
    };
    serde_json::to_vec(&doc).expect("serialising to memory cannot fail")
}

/// `packages.json`: `[package, downloads in 30 days, downloads ever, summary]` for every
/// package, most downloaded (recently) first. The summary (`""` for none) comes after the
/// original's three columns, so readers of those (the search page, third parties) see the
/// same rows.
pub fn search_index(
    index: &std::collections::BTreeMap<String, piwheels_db::Downloads>,
    summaries: &std::collections::BTreeMap<String, String>,
) -> Vec<u8> {
    let mut rows: Vec<(&str, i64, i64, &str)> = index
        .iter()
        .map(|(p, d)| {
            let summary = summaries.get(p).map_or("", String::as_str);
            (p.as_str(), d.recent, d.all, summary)
        })
        .collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then(a.0.cmp(b.0)));
    serde_json::to_vec(&rows).expect("serialising to memory cannot fail")
}

fn metadata(h: &Option<String>) -> CoreMetadata<'_> {
    match h {
        Some(h) => CoreMetadata::Hash(h.as_str()),
        None => CoreMetadata::Absent,
    }
}
