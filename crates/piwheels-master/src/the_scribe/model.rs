//! A project's data made ready for its pages: releases in PEP 440 order (newest first),
//! each file with its URL and, when a PEP 658 metadata file sits next to it, that file's
//! hash.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use pep440_rs::Version;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use piwheels_db::{ProjectData, ProjectFile, Release};
use sha2::{Digest, Sha256};

/// Where a project's upstream page is (its `pypi_url` and the project page's link).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamLink {
    /// `<base>/project/<package>`: the index's own project pages, as the original links
    /// (an index whose simple URL ends in `/simple` and that has a JSON API, as
    /// warehouse does, the JSON API's `info.project_url`).
    Project(String),
    /// `<simple>/<package>/`: the project's simple page, which every PEP 503 index has
    /// (any other index: a plain simple index has no project pages).
    Simple(String),
}

impl UpstreamLink {
    /// The link for an index whose simple URL is `simple` and that has a JSON API or not.
    pub fn new(simple: &str, json_api: bool) -> UpstreamLink {
        let simple = simple.trim().trim_end_matches('/');
        match simple.strip_suffix("/simple") {
            Some(base) if json_api => UpstreamLink::Project(base.to_owned()),
            _ => UpstreamLink::Simple(simple.to_owned()),
        }
    }

    /// The upstream page of `package` (a canonical name).
    pub fn url(&self, package: &str) -> String {
        match self {
            UpstreamLink::Project(base) => format!("{base}/project/{package}"),
            UpstreamLink::Simple(simple) => format!("{simple}/{package}/"),
        }
    }
}

/// What every page needs to know of the site.
#[derive(Debug, Clone)]
pub struct Site {
    /// The output directory.
    pub out: PathBuf,
    /// The public URL of the site, without a trailing slash.
    pub site_url: String,
    /// Where projects' upstream pages are; `None` when the upstream index is not known.
    pub upstream: Option<UpstreamLink>,
    /// Where users report a problem with a project (`{package}` stands for its name);
    /// `None`: the pages have no such link.
    pub report_url: Option<String>,
}

impl Site {
    /// The site for a master's configuration.
    pub fn new(config: &crate::MasterConfig) -> Site {
        let upstream = config
            .upstream
            .as_deref()
            .map(|u| UpstreamLink::new(u, config.upstream_json.is_some()));
        Site {
            out: config.output_path.clone(),
            site_url: config.site_url.trim_end_matches('/').to_owned(),
            upstream,
            report_url: config
                .report_url
                .as_deref()
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_owned),
        }
    }

    /// Where to report a problem with `package` (a canonical name), when configured: the
    /// configured URL with `{package}` replaced by the name, percent-encoded.
    pub fn report_url(&self, package: &str) -> Option<String> {
        self.report_url.as_ref().map(|u| {
            u.replace(
                "{package}",
                &utf8_percent_encode(package, SEGMENT).to_string(),
            )
        })
    }

    /// The upstream page of `package`, when the upstream is known (see [`UpstreamLink`]).
    pub fn upstream_url(&self, package: &str) -> Option<String> {
        self.upstream.as_ref().map(|u| u.url(package))
    }

    /// A URL on this site, absolute (URLs that are already absolute are kept).
    pub fn absolute(&self, url: &str) -> String {
        if url.starts_with("http://") || url.starts_with("https://") {
            url.to_owned()
        } else {
            format!("{}{url}", self.site_url)
        }
    }
}

/// Characters escaped in a path segment of a URL.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// How versions sort: PEP 440 versions above unparsable ("legacy") ones, as the original's
/// vendored `LegacyVersion` sorts; legacy strings among themselves by text.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum VersionKey<'a> {
    /// An unparsable version.
    Legacy(&'a str),
    /// A PEP 440 version.
    Pep440(Version),
}

impl<'a> VersionKey<'a> {
    /// The key of a version string.
    pub fn of(v: &'a str) -> Self {
        match Version::from_str(v) {
            Ok(version) => VersionKey::Pep440(version),
            Err(_) => VersionKey::Legacy(v),
        }
    }

    /// Whether it is a pre-release (or development release); legacy versions never are.
    pub fn is_prerelease(&self) -> bool {
        match self {
            VersionKey::Pep440(v) => v.any_prerelease(),
            VersionKey::Legacy(_) => false,
        }
    }
}

/// A wheel, ready for the pages.
#[derive(Debug)]
pub struct PreparedFile<'a> {
    /// Its file name.
    pub name: &'a str,
    /// What the database says of it.
    pub file: &'a ProjectFile,
    /// Its URL: `<location>/<package>/<name>` (a path on this site, or absolute).
    pub url: String,
    /// SHA-256 of `<name>.metadata` next to it, when that exists.
    pub metadata_hash: Option<String>,
}

/// A release, ready for the pages.
#[derive(Debug)]
pub struct PreparedRelease<'a> {
    /// The version string as upstream wrote it.
    pub version: &'a str,
    /// What the database says of it.
    pub release: &'a Release,
    /// Whether it is a pre-release.
    pub prerelease: bool,
    /// Its wheels, by name.
    pub files: Vec<PreparedFile<'a>>,
}

/// A project, ready for the pages.
#[derive(Debug)]
pub struct Prepared<'a> {
    /// What the database says of it.
    pub data: &'a ProjectData,
    /// Its releases, newest version first.
    pub releases: Vec<PreparedRelease<'a>>,
}

/// Orders a project's releases (leaving out `exclude`, a version being deleted), gives each
/// file its URL and hashes the metadata files found in `simple_dir` (the package's
/// directory under `simple/`). Files whose names could not be paths are left out, with a
/// warning.
pub fn prepare<'a>(
    data: &'a ProjectData,
    exclude: Option<&str>,
    simple_dir: &Path,
) -> Prepared<'a> {
    let mut keyed: Vec<(VersionKey<'a>, &'a str, &'a Release)> = data
        .releases
        .iter()
        .filter(|(v, _)| Some(v.as_str()) != exclude)
        .map(|(v, r)| (VersionKey::of(v), v.as_str(), r))
        .collect();
    // Stable: equal versions ("1.0", "1.0.0") keep the database's order (newest release).
    keyed.sort_by(|a, b| b.0.cmp(&a.0).then(Ordering::Equal));
    let releases = keyed
        .into_iter()
        .map(|(key, version, release)| {
            let files = release
                .files
                .iter()
                .filter_map(|(name, file)| {
                    if let Err(e) = crate::output::check_filename(name) {
                        tracing::warn!(package = %data.package, error = %e, "file left off the pages");
                        return None;
                    }
                    let url = format!(
                        "{}/{}/{}",
                        file.location.trim_end_matches('/'),
                        data.package,
                        utf8_percent_encode(name, SEGMENT)
                    );
                    let metadata_hash = metadata_hash(&simple_dir.join(format!("{name}.metadata")));
                    Some(PreparedFile {
                        name,
                        file,
                        url,
                        metadata_hash,
                    })
                })
                .collect();
            PreparedRelease {
                version,
                release,
                prerelease: key.is_prerelease(),
                files,
            }
        })
        .collect();
    Prepared { data, releases }
}

/// SHA-256 (hex) of a file, `None` if it cannot be read (most often: there is none).
fn metadata_hash(path: &Path) -> Option<String> {
    match std::fs::read(path) {
        Ok(bytes) => Some(hex::encode(Sha256::digest(&bytes))),
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %path.display(), error = %e, "cannot read a metadata file");
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_order() {
        let mut vs = vec![
            "1.0",
            "1.10",
            "1.9",
            "2.0rc1",
            "banana",
            "1.0.post1",
            "0.1.dev0",
        ];
        vs.sort_by_key(|v| std::cmp::Reverse(VersionKey::of(v)));
        assert_eq!(
            vs,
            [
                "2.0rc1",
                "1.10",
                "1.9",
                "1.0.post1",
                "1.0",
                "0.1.dev0",
                "banana"
            ]
        );
        assert!(VersionKey::of("2.0rc1").is_prerelease());
        assert!(VersionKey::of("1.0.dev3").is_prerelease());
        assert!(!VersionKey::of("1.0.post1").is_prerelease());
        assert!(!VersionKey::of("banana").is_prerelease());
    }
}
