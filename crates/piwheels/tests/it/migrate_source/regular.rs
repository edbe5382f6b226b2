//! The bulk of the fixture: rows computed from their index and the seed, one streaming
//! pass per table, so any scale fits in bounded memory (nothing is kept but counters).
//!
//! Items are spread over their parents evenly: parent `i` of `n` owns items
//! `floor(i*m/n) .. floor((i+1)*m/n)` of `m` ([`Spread`]), which can be inverted in O(1)
//! (downloads pick a file by index). Every tenth build (`b % 10 == 9`) failed and has no
//! files; the files are spread over the successful ones.

use chrono::DateTime;
use tokio_postgres::Client;

use super::Scale;
use super::copy::CopyWriter;

/// The builders' ABIs the generated builds cycle through.
pub const ABIS: [&str; 3] = ["cp39", "cp311", "cp313"];

/// Platforms of a build's third and later files.
const EXTRA_PLATFORMS: [&str; 4] = [
    "linux_aarch64",
    "manylinux_2_28_armv7l",
    "manylinux_2_28_aarch64",
    "musllinux_1_2_armv7l",
];

/// The most files one generated build may have (2 + [`EXTRA_PLATFORMS`]).
pub const MAX_FILES_PER_BUILD: u64 = 2 + EXTRA_PLATFORMS.len() as u64;

/// `m` items spread over `n` parents.
#[derive(Debug, Clone, Copy)]
pub struct Spread {
    n: u64,
    m: u64,
}

impl Spread {
    fn new(n: u64, m: u64) -> Self {
        Self { n, m }
    }
    fn start(&self, i: u64) -> u64 {
        ((u128::from(i) * u128::from(self.m)) / u128::from(self.n)) as u64
    }
    fn range(&self, i: u64) -> std::ops::Range<u64> {
        self.start(i)..self.start(i + 1)
    }
    /// The parent of item `x`.
    fn parent(&self, x: u64) -> u64 {
        (((u128::from(x) + 1) * u128::from(self.n) - 1) / u128::from(self.m)) as u64
    }
    fn max_per_parent(&self) -> u64 {
        self.m.div_ceil(self.n)
    }
}

/// A well-mixed 64-bit value of (seed, salt, index) (splitmix64).
pub fn mix(seed: u64, salt: u64, i: u64) -> u64 {
    let mut z =
        seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn ts(secs: i64) -> String {
    DateTime::from_timestamp(secs, 0)
        .expect("a representable time")
        .naive_utc()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

const T2015: i64 = 1_420_070_400;
const T2016: i64 = 1_451_606_400;
const T2017: i64 = 1_483_228_800;
const T2019: i64 = 1_546_300_800;
const T2020: i64 = 1_577_836_800;

/// What the generated part holds of each kind the migration must map (counts, not lists:
/// at PyPI size the lists would not fit in memory).
#[derive(Debug, Clone, Default)]
pub struct Regular {
    /// Packages whose display name differs from the canonical name.
    pub display_names: u64,
    /// Skipped packages (reason 'binary only').
    pub skipped_packages: u64,
    /// Skipped versions (reason 'broken').
    pub skipped_versions: u64,
    /// Yanked versions.
    pub yanked_versions: u64,
    /// Failed builds (no files).
    pub failed_builds: u64,
    /// armv6l copies of armv7l files.
    pub armv6l_copies: u64,
    /// Files tagged `none`.
    pub none_files: u64,
    /// Files tagged `abi3`.
    pub abi3_files: u64,
    /// Files without `requires_python`.
    pub requires_python_null: u64,
    /// Files whose location is not `/simple`.
    pub other_locations: u64,
    /// Dependency rows per tool: apt, pip, ''.
    pub dependencies: [u64; 3],
    /// Download rows naming files that do not exist.
    pub dangling_downloads: u64,
    /// Access-log rows (all five tables) from IPv6 addresses.
    pub ipv6_rows: u64,
}

/// The generator of the regular rows.
pub struct Gen {
    seed: u64,
    /// How many rows of each table the generated (non-odd) part holds.
    z: Scale,
    versions: Spread,
    builds: Spread,
    files: Spread,
    successful: u64,
    first_build_id: i64,
}

/// Why a scale cannot be generated.
#[derive(Debug, thiserror::Error)]
#[error("scale cannot be generated: {0}")]
pub struct BadScale(pub String);

impl Gen {
    /// A generator of `z` rows; build ids start after `last_odd_build`.
    pub fn new(seed: u64, z: Scale, last_odd_build: i32) -> Result<Self, BadScale> {
        if z.packages == 0 || z.versions == 0 || z.builds < 10 || z.files == 0 {
            return Err(BadScale(format!(
                "too small once the odd rows are taken: {z:?}"
            )));
        }
        let successful = z.builds - z.builds / 10;
        let files = Spread::new(successful, z.files);
        if files.max_per_parent() > MAX_FILES_PER_BUILD {
            return Err(BadScale(format!(
                "{} files over {successful} successful builds: more than {MAX_FILES_PER_BUILD} per build",
                z.files
            )));
        }
        if z.builds + u64::try_from(last_odd_build).unwrap_or(0) > i32::MAX as u64 {
            return Err(BadScale("build ids beyond INTEGER".into()));
        }
        Ok(Self {
            seed,
            z,
            versions: Spread::new(z.packages, z.versions),
            builds: Spread::new(z.versions, z.builds),
            files,
            successful,
            first_build_id: i64::from(last_odd_build) + 1,
        })
    }

    fn package(i: u64) -> String {
        format!("pkg-{i}")
    }
    fn version(&self, i: u64, k: u64) -> String {
        let j = k - self.versions.start(i);
        format!("{}.{}", j / 10, j % 10)
    }
    fn builder_abi(k: u64, j: u64) -> &'static str {
        ABIS[((k + j) % 3) as usize]
    }

    /// The (py, abi, platform) tags and armv6l-copy flag of file `m` of `c` of build `b`
    /// with builder ABI `abi`.
    fn tags(
        &self,
        b: u64,
        abi: &'static str,
        m: u64,
        c: u64,
    ) -> (&'static str, &'static str, &'static str) {
        let variant = mix(self.seed, 7, b) % 10;
        if variant == 0 && c == 1 {
            return ("py3", "none", "any");
        }
        let file_abi = if variant == 1 && c <= 2 { "abi3" } else { abi };
        match m {
            0 => (abi, file_abi, "linux_armv7l"),
            1 => (abi, file_abi, "linux_armv6l"),
            _ => (abi, file_abi, EXTRA_PLATFORMS[(m - 2) as usize]),
        }
    }

    fn filename(i: u64, ver: &str, j: u64, tags: (&str, &str, &str)) -> String {
        let build_tag = if j > 0 {
            format!("-{j}")
        } else {
            String::new()
        };
        format!(
            "pkg_{i}-{ver}{build_tag}-{}-{}-{}.whl",
            tags.0, tags.1, tags.2
        )
    }

    /// The filename of successful build `s`'s file `m`, found from the indexes alone.
    fn file_of(&self, s: u64, m: u64) -> String {
        let b = s + s / 9;
        let k = self.builds.parent(b);
        let i = self.versions.parent(k);
        let j = b - self.builds.start(k);
        let c = self.files.range(s).count() as u64;
        let tags = self.tags(b, Self::builder_abi(k, j), m, c);
        Self::filename(i, &self.version(i, k), j, tags)
    }

    /// Streams packages and package_names.
    pub async fn packages(
        &self,
        client: &Client,
        reg: &mut Regular,
    ) -> Result<(u64, u64), tokio_postgres::Error> {
        let mut w = CopyWriter::start(client, "packages", "package, skip, description").await?;
        for i in 0..self.z.packages {
            let skip = if i % 97 == 96 {
                reg.skipped_packages += 1;
                "binary only"
            } else {
                ""
            };
            w.text(&Self::package(i))
                .text(skip)
                .plain(format_args!("Package number {i}"));
            w.end().await?;
        }
        let packages = w.finish().await?;
        let mut w = CopyWriter::start(client, "package_names", "package, name, seen").await?;
        for i in 0..self.z.packages {
            let p = Self::package(i);
            w.text(&p)
                .text(&p)
                .plain(ts(T2017 + i as i64))
                .end()
                .await?;
            if i % 5 == 0 {
                reg.display_names += 1;
                w.text(&p)
                    .plain(format_args!("Pkg_{i}"))
                    .plain(ts(T2020 + i as i64))
                    .end()
                    .await?;
            }
        }
        Ok((packages, w.finish().await?))
    }

    /// Streams versions.
    pub async fn versions(
        &self,
        client: &Client,
        reg: &mut Regular,
    ) -> Result<u64, tokio_postgres::Error> {
        let mut w = CopyWriter::start(
            client,
            "versions",
            "package, version, released, skip, yanked",
        )
        .await?;
        for i in 0..self.z.packages {
            let p = Self::package(i);
            for k in self.versions.range(i) {
                let skip = if k % 53 == 52 {
                    reg.skipped_versions += 1;
                    "broken"
                } else {
                    ""
                };
                let yanked = k % 31 == 30;
                reg.yanked_versions += u64::from(yanked);
                w.text(&p)
                    .text(&self.version(i, k))
                    .plain(ts(T2015 + 60 * k as i64));
                w.text(skip).plain(yanked).end().await?;
            }
        }
        w.finish().await
    }

    /// Streams builds.
    pub async fn builds(
        &self,
        client: &Client,
        reg: &mut Regular,
    ) -> Result<u64, tokio_postgres::Error> {
        let mut w = CopyWriter::start(
            client,
            "builds",
            "build_id, package, version, built_by, built_at, duration, status, abi_tag",
        )
        .await?;
        for i in 0..self.z.packages {
            let p = Self::package(i);
            for k in self.versions.range(i) {
                let v = self.version(i, k);
                for b in self.builds.range(k) {
                    let j = b - self.builds.start(k);
                    let r = mix(self.seed, 3, b);
                    let status = b % 10 != 9;
                    reg.failed_builds += u64::from(!status);
                    let secs = r % 7200;
                    w.plain(self.first_build_id + b as i64).text(&p).text(&v);
                    w.plain(r % 40).plain(ts(T2016 + 30 * b as i64));
                    w.plain(format_args!(
                        "{:02}:{:02}:{:02}.{:03}",
                        secs / 3600,
                        secs / 60 % 60,
                        secs % 60,
                        r >> 54
                    ));
                    w.plain(status).plain(Self::builder_abi(k, j)).end().await?;
                }
            }
        }
        w.finish().await
    }

    /// Where successful build `b`'s files belong: (package index, version, build of the
    /// version, files, builder ABI); `None` for a failed build.
    fn build_files(&self, b: u64) -> Option<(u64, String, u64, u64, &'static str)> {
        if b % 10 == 9 {
            return None;
        }
        let k = self.builds.parent(b);
        let i = self.versions.parent(k);
        let j = b - self.builds.start(k);
        let c = self.files.range(b - b / 10).count() as u64;
        Some((i, self.version(i, k), j, c, Self::builder_abi(k, j)))
    }

    /// Streams files and their dependencies (two passes over the same indexes, in build
    /// order, which is package and version order too).
    pub async fn files(
        &self,
        client: &Client,
        reg: &mut Regular,
    ) -> Result<(u64, u64), tokio_postgres::Error> {
        let mut w = CopyWriter::start(
            client,
            "files",
            "filename, build_id, filesize, filehash, package_tag, package_version_tag, \
             py_version_tag, abi_tag, platform_tag, requires_python, location",
        )
        .await?;
        let mut f = 0u64;
        for b in 0..self.z.builds {
            let Some((i, v, j, c, abi)) = self.build_files(b) else {
                continue;
            };
            for m in 0..c {
                let tags = self.tags(b, abi, m, c);
                let name = Self::filename(i, &v, j, tags);
                let copy = tags.2 == "linux_armv6l";
                reg.armv6l_copies += u64::from(copy);
                reg.none_files += u64::from(tags.1 == "none");
                reg.abi3_files += u64::from(tags.1 == "abi3");
                let rp = if f.is_multiple_of(3) {
                    reg.requires_python_null += 1;
                    None
                } else {
                    Some(format!(">=3.{}", 7 + f % 5))
                };
                let loc = if f % 7 == 6 {
                    reg.other_locations += 1;
                    "/archive"
                } else {
                    "/simple"
                };
                // An armv6l copy has the size and hash of the armv7l file it copies.
                let r = if m <= 1 {
                    mix(self.seed, 5, b)
                } else {
                    mix(self.seed, 6, f)
                };
                w.text(&name)
                    .plain(self.first_build_id + b as i64)
                    .plain(r % 5_000_000 + 1000);
                w.plain(format_args!(
                    "{:016x}{:016x}{:016x}{:016x}",
                    r,
                    mix(r, 1, 0),
                    mix(r, 2, 0),
                    mix(r, 3, 0)
                ));
                w.plain(format_args!("pkg_{i}"))
                    .text(&v)
                    .plain(tags.0)
                    .plain(tags.1)
                    .plain(tags.2);
                w.opt(rp.as_deref()).plain(loc);
                w.end().await?;
                f += 1;
            }
        }
        assert_eq!(f, self.z.files, "the spread of files over builds");
        let files = w.finish().await?;
        let mut w = CopyWriter::start(client, "dependencies", "filename, tool, dependency").await?;
        let mut f = 0u64;
        for b in 0..self.z.builds {
            let Some((i, v, j, c, abi)) = self.build_files(b) else {
                continue;
            };
            for m in 0..c {
                let name = Self::filename(i, &v, j, self.tags(b, abi, m, c));
                if f % 4 != 3 {
                    reg.dependencies[0] += 1;
                    w.text(&name).plain("apt").plain("libc6").end().await?;
                    if f.is_multiple_of(2) {
                        reg.dependencies[0] += 1;
                        w.text(&name)
                            .plain("apt")
                            .plain(format_args!("libfoo{}", f % 50));
                        w.end().await?;
                    }
                }
                if f.is_multiple_of(5) {
                    reg.dependencies[1] += 1;
                    w.text(&name).plain("pip").plain("numpy").end().await?;
                }
                if f.is_multiple_of(23) {
                    reg.dependencies[2] += 1;
                    w.text(&name).plain("").plain("libunknown").end().await?;
                }
                f += 1;
            }
        }
        Ok((files, w.finish().await?))
    }

    /// An address for access row `r`: one in four is IPv6 (counted in `reg`).
    fn addr(&self, salt: u64, r: u64, reg: &mut Regular) -> String {
        let h = mix(self.seed, salt, r);
        if r.is_multiple_of(4) {
            reg.ipv6_rows += 1;
            format!("2001:db8:{:x}::{:x}", h >> 48, h & 0xffff)
        } else {
            let [a, b, c, d] = ((h as u32) | 0x0100_0000).to_be_bytes();
            format!("{a}.{b}.{c}.{d}")
        }
    }

    /// The ten optional fields of a download or search row `r`: one in six has none.
    fn opt_fields(w: &mut CopyWriter, r: u64) {
        const ARCHES: [&str; 3] = ["armv7l", "armv6l", "aarch64"];
        if r.is_multiple_of(6) {
            for _ in 0..10 {
                w.opt(None);
            }
        } else {
            w.plain(ARCHES[(r % 3) as usize])
                .plain("Raspbian GNU/Linux")
                .plain(11 + r % 2);
            w.plain("Linux").plain("6.1.21-v7+").plain("CPython");
            w.plain(format_args!("3.{}.2", 9 + r % 3));
            w.plain("pip").plain("23.0.1").plain("66.1.1");
        }
    }

    /// Streams the five access tables: rows written to each.
    pub async fn access(
        &self,
        client: &Client,
        reg: &mut Regular,
    ) -> Result<[u64; 5], tokio_postgres::Error> {
        let (downloads, searches) = self.logs(client, reg).await?;
        let [hits, json, pages] = self.hits(client, reg).await?;
        Ok([downloads, searches, hits, json, pages])
    }

    /// Streams downloads and searches.
    async fn logs(
        &self,
        client: &Client,
        reg: &mut Regular,
    ) -> Result<(u64, u64), tokio_postgres::Error> {
        const LOG_COLS: &str = "accessed_by, accessed_at, arch, distro_name, distro_version, \
            os_name, os_version, py_name, py_version, installer_name, installer_version, \
            setuptools_version";
        let seed = self.seed;
        let mut w =
            CopyWriter::start(client, "downloads", &format!("filename, {LOG_COLS}")).await?;
        for r in 0..self.z.downloads {
            let h = mix(seed, 11, r);
            let s = h % self.successful;
            let c = self.files.range(s).count() as u64;
            if r % 50 == 49 || c == 0 {
                reg.dangling_downloads += 1;
                w.plain(format_args!("gone_{r}-1.0-py3-none-any.whl"));
            } else {
                w.text(&self.file_of(s, (h >> 32) % c));
            }
            w.plain(self.addr(12, r, reg))
                .plain(ts(T2019 + 3 * r as i64));
            Self::opt_fields(&mut w, r);
            w.end().await?;
        }
        let downloads = w.finish().await?;
        let mut w = CopyWriter::start(client, "searches", &format!("package, {LOG_COLS}")).await?;
        for r in 0..self.z.searches {
            let h = mix(seed, 13, r);
            if r % 10 == 9 {
                w.plain(format_args!("not-a-package-{}", h % 1000));
            } else {
                w.plain(Self::package(h % self.z.packages));
            }
            w.plain(self.addr(14, r, reg))
                .plain(ts(T2019 + 7 * r as i64));
            Self::opt_fields(&mut w, r);
            w.end().await?;
        }
        Ok((downloads, w.finish().await?))
    }

    /// Streams project page hits, project JSON downloads and web page hits.
    async fn hits(
        &self,
        client: &Client,
        reg: &mut Regular,
    ) -> Result<[u64; 3], tokio_postgres::Error> {
        const AGENTS: [(&str, bool); 4] = [
            ("Mozilla/5.0 (X11; Linux armv7l) Firefox/115.0", false),
            ("Mozilla/5.0 (compatible; Googlebot/2.1)", true),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0",
                false,
            ),
            ("Mozilla/5.0 (compatible; bingbot/2.0)", true),
        ];
        const PAGES: [&str; 6] = ["home", "packages", "faq", "stats", "blog", "json"];
        let seed = self.seed;
        let mut out = [0; 3];
        let mut w = CopyWriter::start(
            client,
            "project_page_hits",
            "package, accessed_by, accessed_at, user_agent, bot",
        )
        .await?;
        for r in 0..self.z.project_page_hits {
            let h = mix(seed, 15, r);
            let (ua, bot) = AGENTS[(h >> 40) as usize % 4];
            w.plain(Self::package(h % self.z.packages))
                .plain(self.addr(16, r, reg));
            w.plain(ts(T2019 + 5 * r as i64))
                .plain(ua)
                .plain(bot)
                .end()
                .await?;
        }
        out[0] = w.finish().await?;
        let mut w = CopyWriter::start(
            client,
            "project_json_downloads",
            "package, accessed_by, accessed_at, user_agent",
        )
        .await?;
        for r in 0..self.z.project_json_downloads {
            let h = mix(seed, 17, r);
            w.plain(Self::package(h % self.z.packages))
                .plain(self.addr(18, r, reg));
            w.plain(ts(T2019 + 11 * r as i64))
                .plain(format_args!("pip/{}.0", 20 + h % 5))
                .end()
                .await?;
        }
        out[1] = w.finish().await?;
        let mut w = CopyWriter::start(
            client,
            "web_page_hits",
            "page, accessed_by, accessed_at, user_agent, bot",
        )
        .await?;
        for r in 0..self.z.web_page_hits {
            let h = mix(seed, 19, r);
            let (ua, bot) = AGENTS[(h >> 40) as usize % 4];
            w.plain(PAGES[(h % 6) as usize])
                .plain(self.addr(20, r, reg));
            w.plain(ts(T2019 + 13 * r as i64))
                .plain(ua)
                .plain(bot)
                .end()
                .await?;
        }
        out[2] = w.finish().await?;
        Ok(out)
    }
}
