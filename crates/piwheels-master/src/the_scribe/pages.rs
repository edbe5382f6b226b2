//! The HTML pages and sitemaps, from askama templates compiled into the binary
//! (`templates/`); everything they show is HTML-escaped by askama.

use askama::Template;
use chrono::{SecondsFormat, TimeDelta, Utc};
use piwheels_db::Target;
use piwheels_protocol::monitor::MasterStats;

use super::figures::{TopProject, thousands};
use super::model::{Prepared, Site};
use super::targets::{Cell, TargetRow, os_python, target_rows};

fn render(t: &impl Template) -> String {
    t.render().expect("the templates' values always render")
}

/// A page with nothing but the site's address in it (faq, packages, json, 404).
macro_rules! fixed_page {
    ($name:ident, $path:literal) => {
        #[derive(Template)]
        #[template(path = $path)]
        struct $name<'a> {
            site_url: &'a str,
        }
    };
}

fixed_page!(FaqPage, "faq.html");
fixed_page!(PackagesPage, "packages.html");
fixed_page!(JsonPage, "json.html");
fixed_page!(NotFoundPage, "404.html");

/// The fixed pages written at start-up: (file name, contents).
pub fn fixed_pages(site: &Site) -> Vec<(&'static str, String)> {
    let site_url = site.site_url.as_str();
    vec![
        ("faq.html", render(&FaqPage { site_url })),
        ("packages.html", render(&PackagesPage { site_url })),
        ("json.html", render(&JsonPage { site_url })),
        ("404.html", render(&NotFoundPage { site_url })),
    ]
}

#[derive(Template)]
#[template(path = "simple_root.html")]
struct SimpleRoot<'a> {
    names: Vec<&'a str>,
}

/// `simple/index.html`: every package, in the order given (sorted by the caller).
pub fn simple_root<'a>(names: impl Iterator<Item = &'a str>) -> String {
    render(&SimpleRoot {
        names: names.collect(),
    })
}

struct SimpleLink<'a> {
    url: &'a str,
    hash: &'a str,
    filename: &'a str,
    requires_python: Option<&'a str>,
    yanked: bool,
    metadata: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "simple_project.html")]
struct SimpleProject<'a> {
    package: &'a str,
    links: Vec<SimpleLink<'a>>,
}

/// `simple/<package>/index.html` (PEP 503, with PEP 592 yanks and PEP 658/714 metadata).
pub fn simple_project(p: &Prepared<'_>) -> String {
    let links = p
        .releases
        .iter()
        .flat_map(|r| {
            r.files.iter().map(move |f| SimpleLink {
                url: &f.url,
                hash: &f.file.hash,
                filename: f.name,
                requires_python: f.file.requires_python.as_deref(),
                yanked: r.release.yanked,
                metadata: f.metadata_hash.as_deref(),
            })
        })
        .collect();
    render(&SimpleProject {
        package: &p.data.package,
        links,
    })
}

/// A column of the releases table: one build target.
struct Column {
    label: String,
    title: String,
}

struct FileRow<'a> {
    name: &'a str,
    url: &'a str,
    size: String,
    hash: &'a str,
    requires_python: Option<&'a str>,
    apt: String,
}

struct ReleaseRow<'a> {
    version: &'a str,
    /// The release day (`2024-05-01`), shown.
    released: String,
    /// The full release time in UTC, on hover.
    released_full: String,
    /// The release time, RFC 3339.
    released_iso: String,
    yanked: bool,
    prerelease: bool,
    cells: Vec<Cell>,
    files: Vec<FileRow<'a>>,
}

#[derive(Template)]
#[template(path = "project.html")]
struct ProjectPage<'a> {
    site_url: &'a str,
    package: &'a str,
    name: &'a str,
    description: &'a str,
    skip: &'a str,
    upstream_url: Option<String>,
    report_url: Option<String>,
    install_apt: Option<String>,
    pip_deps: Vec<&'a str>,
    release_count: usize,
    file_count: usize,
    columns: Vec<Column>,
    releases: Vec<ReleaseRow<'a>>,
    downloads_recent: String,
    downloads_all: String,
}

fn column(t: &Target, show_platform: bool) -> Column {
    let mut label = os_python(t);
    if show_platform {
        label = format!("{label} ({})", t.platform);
    }
    Column {
        label,
        title: t.to_string(),
    }
}

/// Bytes for people: `1.5 MB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit + 1 < UNITS.len() {
        size /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{size:.1} {}", UNITS[unit])
    }
}

/// A duration for people: `3 days, 4 hours`.
pub fn human_duration(d: TimeDelta) -> String {
    let secs = d.num_seconds().max(0);
    let (days, hours, mins) = (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60);
    let plural = |n: i64, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    if days > 0 {
        format!("{}, {}", plural(days, "day"), plural(hours, "hour"))
    } else if hours > 0 {
        format!("{}, {}", plural(hours, "hour"), plural(mins, "minute"))
    } else {
        plural(mins, "minute")
    }
}

/// `project/<package>/index.html`.
pub fn project_page(site: &Site, p: &Prepared<'_>) -> String {
    let data = p.data;
    let targets: Vec<&Target> = p
        .releases
        .first()
        .map(|r| r.release.targets.keys().collect())
        .unwrap_or_default();
    let platforms: std::collections::BTreeSet<&str> =
        targets.iter().map(|t| t.platform.as_str()).collect();
    let columns = targets
        .iter()
        .map(|t| column(t, platforms.len() > 1))
        .collect();
    // The install command comes from the newest usable release with wheels.
    let newest = p
        .releases
        .iter()
        .find(|r| !r.prerelease && !r.release.yanked && !r.files.is_empty());
    let mut apt = std::collections::BTreeSet::new();
    let mut pip = std::collections::BTreeSet::new();
    if let Some(r) = newest {
        for f in &r.files {
            apt.extend(f.file.apt_dependencies.iter().map(String::as_str));
            pip.extend(f.file.pip_dependencies.iter().map(String::as_str));
        }
    }
    let install_apt = (!apt.is_empty()).then(|| apt.into_iter().collect::<Vec<_>>().join(" "));
    let releases: Vec<ReleaseRow<'_>> = p
        .releases
        .iter()
        .map(|r| ReleaseRow {
            version: r.version,
            released: r.release.released.format("%Y-%m-%d").to_string(),
            released_full: r
                .release
                .released
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string(),
            released_iso: r
                .release
                .released
                .to_rfc3339_opts(SecondsFormat::Secs, true),
            yanked: r.release.yanked,
            prerelease: r.prerelease,
            cells: targets
                .iter()
                .map(|t| Cell::new(r.release.targets.get(*t)))
                .collect(),
            files: r
                .files
                .iter()
                .map(|f| FileRow {
                    name: f.name,
                    url: &f.url,
                    size: human_size(f.file.size),
                    hash: &f.file.hash,
                    requires_python: f.file.requires_python.as_deref(),
                    apt: f
                        .file
                        .apt_dependencies
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                        .join(" "),
                })
                .collect(),
        })
        .collect();
    let file_count = releases.iter().map(|r| r.files.len()).sum();
    render(&ProjectPage {
        site_url: &site.site_url,
        package: &data.package,
        name: &data.name,
        description: &data.description,
        skip: &data.skip,
        upstream_url: site.upstream_url(&data.package),
        report_url: site.report_url(&data.package),
        install_apt,
        pip_deps: pip.into_iter().collect(),
        release_count: releases.len(),
        file_count,
        columns,
        releases,
        downloads_recent: thousands(data.downloads.recent),
        downloads_all: thousands(data.downloads.all),
    })
}

#[derive(Template)]
#[template(path = "index.html")]
struct HomePage<'a> {
    site_url: &'a str,
    packages_built: i64,
    files_count: i64,
    builds_size: String,
    builds_time: String,
    new_last_hour: i64,
    downloads_last_hour: String,
    downloads_last_month: String,
    downloads_all: String,
    top_projects: Vec<TopProject>,
    disk_free: Option<String>,
    builds: Vec<(String, i64, i64)>,
    targets: Vec<TargetRow>,
    written: String,
}

/// `index.html`, from the master's statistics, the build targets (with their skip
/// reasons, as [`piwheels_db::Database::build_targets`] gives them) and the most
/// downloaded projects.
pub fn home(
    site: &Site,
    s: &MasterStats,
    targets: &[(Target, String)],
    top_projects: Vec<TopProject>,
) -> String {
    let mut builds: Vec<(String, i64, i64)> = s
        .builds_last_hour
        .iter()
        .map(|(abi, n)| {
            (
                abi.clone(),
                *n,
                s.builds_pending.get(abi).copied().unwrap_or(0),
            )
        })
        .collect();
    for (abi, n) in &s.builds_pending {
        if !s.builds_last_hour.contains_key(abi) {
            builds.push((abi.clone(), 0, *n));
        }
    }
    let disk_free = (s.disk_size > 0).then(|| {
        format!(
            "{} of {} ({:.0}%)",
            human_size(s.disk_free.max(0) as u64),
            human_size(s.disk_size as u64),
            s.disk_free.max(0) as f64 * 100.0 / s.disk_size as f64
        )
    });
    render(&HomePage {
        site_url: &site.site_url,
        packages_built: s.packages_built,
        files_count: s.files_count,
        builds_size: human_size(s.builds_size.max(0) as u64),
        builds_time: human_duration(s.builds_time),
        new_last_hour: s.new_last_hour,
        downloads_last_hour: thousands(s.downloads_last_hour),
        downloads_last_month: thousands(s.downloads_last_month),
        downloads_all: thousands(s.downloads_all),
        top_projects,
        disk_free,
        builds,
        targets: target_rows(targets),
        written: s.timestamp.format("%Y-%m-%d %H:%M UTC").to_string(),
    })
}

#[derive(Template)]
#[template(path = "sitemap.xml", escape = "html")]
struct Sitemap<'a> {
    site_url: &'a str,
    urls: Vec<String>,
}

#[derive(Template)]
#[template(path = "sitemap_index.xml", escape = "html")]
struct SitemapIndex<'a> {
    site_url: &'a str,
    count: usize,
    today: String,
}

/// URLs per sitemap file (the sitemaps protocol's limit).
pub const SITEMAP_URLS: usize = 50_000;

/// The sitemaps: `sitemap0.xml` (the site's pages), `sitemap1.xml`… (50,000 projects
/// each), and `sitemap.xml`, the index of them. (file name, contents).
pub fn sitemaps<'a>(
    site: &Site,
    packages: impl ExactSizeIterator<Item = &'a str>,
) -> Vec<(String, String)> {
    let site_url = site.site_url.as_str();
    let mut out = Vec::new();
    let pages = ["/", "/packages.html", "/faq.html", "/json.html"];
    out.push((
        "sitemap0.xml".to_owned(),
        render(&Sitemap {
            site_url,
            urls: pages.iter().map(|p| p.to_string()).collect(),
        }),
    ));
    let all: Vec<&str> = packages.collect();
    for (i, chunk) in all.chunks(SITEMAP_URLS).enumerate() {
        out.push((
            format!("sitemap{}.xml", i + 1),
            render(&Sitemap {
                site_url,
                urls: chunk.iter().map(|p| format!("/project/{p}/")).collect(),
            }),
        ));
    }
    let index = render(&SitemapIndex {
        site_url,
        count: out.len(),
        today: Utc::now().format("%Y-%m-%d").to_string(),
    });
    out.push(("sitemap.xml".to_owned(), index));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(1_500_000), "1.5 MB");
        assert_eq!(human_duration(TimeDelta::seconds(59)), "0 minutes");
        assert_eq!(
            human_duration(TimeDelta::seconds(3_660)),
            "1 hour, 1 minute"
        );
        assert_eq!(
            human_duration(TimeDelta::seconds(2 * 86_400 + 7_200)),
            "2 days, 2 hours"
        );
    }
}
