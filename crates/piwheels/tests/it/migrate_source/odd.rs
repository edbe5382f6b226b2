//! The odd cases issue 20 names, written once whatever the scale, and listed in
//! [`Odd`] so that a migration test can check what was mapped and what was dropped.
//!
//! Not here because the 0.23 schema cannot hold them: files whose build row does not exist
//! (`files.build_id` is a foreign key), dependencies of missing files (same), versions of
//! missing packages, and NUL characters (PostgreSQL text cannot hold NUL). What the schema
//! allows instead: `package_names` rows of a package without versions, access-log rows
//! naming files and packages that do not exist, `rewrites_pending` rows for missing
//! packages.

use tokio_postgres::Client;

use super::copy::CopyWriter;

/// The ABIs of `build_abis`: cp39, cp311 and cp313 are built (their string order, cp311 <
/// cp313 < cp39, differs from their version order); cp37 and cp35 are skipped.
pub const BUILD_ABIS: &[(&str, &str)] = &[
    ("cp39", ""),
    ("cp311", ""),
    ("cp313", ""),
    ("cp37", "python 3.7 is end of life"),
    ("cp35", "too old"),
];

/// The apt packages of `preinstalled_apt_packages`, per ABI.
pub const PREINSTALLED: &[(&str, &[&str])] = &[
    ("cp39", &["libc6", "libgcc-s1", "libstdc++6", "zlib1g"]),
    ("cp311", &["libc6", "libgcc-s1", "libstdc++6", "zlib1g"]),
    ("cp313", &["libc6", "libgcc-s1", "libstdc++6"]),
    ("cp37", &["libc6"]),
];

/// The upstream serial the fixture's `configuration` row holds.
pub const PYPI_SERIAL: i64 = 23_456_789;

pub use super::odd_builds::LAST_ODD_BUILD;

/// The odd rows, by kind (names as stored).
#[derive(Debug, Clone, Default)]
pub struct Odd {
    /// Packages whose display name (the most recently seen of `package_names`) differs
    /// from the canonical name: (canonical, display).
    pub display_names: Vec<(String, String)>,
    /// Every `package_names` name of a package, when it has several: (canonical, names).
    pub aliases: Vec<(String, Vec<String>)>,
    /// Packages with `package_names` rows but no versions (their versions were deleted).
    pub orphan_names: Vec<String>,
    /// Packages skipped with a reason other than 'deleted': (package, reason).
    pub skipped_packages: Vec<(String, String)>,
    /// Packages marked 'deleted'.
    pub deleted_packages: Vec<String>,
    /// Versions skipped with a reason other than 'deleted': (package, version, reason).
    pub skipped_versions: Vec<(String, String, String)>,
    /// Versions marked 'deleted': (package, version).
    pub deleted_versions: Vec<(String, String)>,
    /// Yanked versions: (package, version).
    pub yanked_versions: Vec<(String, String)>,
    /// Timestamps no farm could have written: (table, row key, value).
    pub impossible_dates: Vec<(String, String, String)>,
    /// Names that a path, a terminal or a length limit will not take as they are: (package,
    /// why).
    pub hostile_packages: Vec<(String, String)>,
    /// Packages whose stored name is not canonical.
    pub non_canonical_packages: Vec<String>,
    /// Failed builds (status false, no files): build ids.
    pub failed_builds: Vec<i32>,
    /// Builds whose builder's ABI is a skipped ABI: build ids.
    pub skipped_abi_builds: Vec<i32>,
    /// armv6l files that are copies of an armv7l file of the same build: (armv6l, armv7l).
    pub armv6l_copies: Vec<(String, String)>,
    /// Files tagged `abi3`.
    pub abi3_files: Vec<String>,
    /// Files tagged `none` (pure wheels).
    pub none_files: Vec<String>,
    /// Files with a `location` other than the default `/simple`: (file, location).
    pub other_locations: Vec<(String, String)>,
    /// Access-log rows that name a file or package that does not exist: (table, name).
    pub dangling_access: Vec<(String, String)>,
    /// `rewrites_pending` rows of packages that do not exist.
    pub dangling_rewrites: Vec<String>,
    /// Access-log rows (all five tables) from IPv6 addresses (IPv4-mapped ones included).
    pub ipv6_rows: u64,
    /// Dependency rows per tool: apt, pip, ''.
    pub dependencies: [u64; 3],
    /// Files without `requires_python`.
    pub requires_python_null: u64,
}

const HOSTILE: &[(&str, &str)] = &[
    (
        "../../etc/passwd",
        "a path that climbs out of the output folder",
    ),
    (
        "ctl-\u{1}\u{1b}[31m-\u{7f}",
        "C0 control characters, an ANSI escape and DEL",
    ),
    ("tab\tand\nnewline\rcr", "tab, newline and carriage return"),
    ("back\\slash", "a backslash"),
    ("ünïcödé-ñame", "non-ASCII letters"),
];

fn long_name() -> String {
    "a".repeat(200)
}

fn s(v: &str) -> String {
    v.to_owned()
}

/// Writes the odd rows (and `build_abis`, `preinstalled_apt_packages`, the serial);
/// returns their list and adds the rows written per table to `rows`.
pub async fn write(
    client: &Client,
    rows: &mut std::collections::BTreeMap<&'static str, u64>,
) -> Result<Odd, tokio_postgres::Error> {
    let mut odd = Odd::default();
    client
        .execute(
            "UPDATE configuration SET pypi_serial = $1 WHERE id = 1",
            &[&PYPI_SERIAL],
        )
        .await?;

    let mut w = CopyWriter::start(client, "build_abis", "abi_tag, skip").await?;
    for (abi, skip) in BUILD_ABIS {
        w.text(abi).text(skip).end().await?;
    }
    *rows.entry("build_abis").or_default() += w.finish().await?;

    let mut w =
        CopyWriter::start(client, "preinstalled_apt_packages", "abi_tag, apt_package").await?;
    for (abi, pkgs) in PREINSTALLED {
        for p in *pkgs {
            w.text(abi).text(p).end().await?;
        }
    }
    *rows.entry("preinstalled_apt_packages").or_default() += w.finish().await?;

    write_packages(client, rows, &mut odd).await?;
    write_versions(client, rows, &mut odd).await?;
    super::odd_builds::write(client, rows, &mut odd).await?;

    super::odd_access::write(client, rows, &mut odd).await?;
    Ok(odd)
}

/// (package, version, released, skip, yanked).
type Version = (&'static str, &'static str, &'static str, &'static str, bool);

#[rustfmt::skip]
const VERSIONS: &[Version] = &[
    ("odd-aliases", "1.0", "2019-01-01 00:00:00", "", false),
    ("odd-skipped", "1.0", "2019-01-02 00:00:00", "", false),
    ("odd-deleted", "1.0", "2019-01-03 00:00:00", "deleted", false),
    ("odd-deleted", "2.0", "2019-01-04 00:00:00", "deleted", false),
    ("odd-versions", "1.0", "2020-01-01 00:00:00", "", false),
    ("odd-versions", "1.1", "2020-01-02 00:00:00", "broken", false),
    ("odd-versions", "1.2", "2020-01-03 00:00:00", "", true),
    ("odd-versions", "1.3", "2020-01-04 00:00:00", "deleted", false),
    ("odd-versions", "1.4", "2020-01-05 00:00:00", "broken", true),
    ("odd-versions", "0.0.1", "0001-01-01 00:00:00", "", false),
    ("odd-versions", "9999.0", "9999-12-31 23:59:59", "", false),
    ("odd-versions", "2.0", "2100-01-01 00:00:00", "", false),
    ("odd-abis", "1.0", "2021-01-01 00:00:00", "", false),
    ("odd-abis", "2.0", "2021-01-02 00:00:00", "", false),
    ("odd-abis", "3.0", "2021-01-03 00:00:00", "", false),
    ("CamelCase_Not.Canonical", "1.0", "2021-02-01 00:00:00", "", false),
];

/// Writes the odd versions (and one version of each hostile package); lists them in `odd`.
async fn write_versions(
    client: &Client,
    rows: &mut std::collections::BTreeMap<&'static str, u64>,
    odd: &mut Odd,
) -> Result<(), tokio_postgres::Error> {
    let mut versions: Vec<(String, &str, &str, &str, bool)> = VERSIONS
        .iter()
        .map(|&(p, v, r, skip, y)| (s(p), v, r, skip, y))
        .collect();
    for (name, _) in HOSTILE {
        versions.push((s(name), "1.0", "2022-03-04 05:06:07", "", false));
    }
    versions.push((long_name(), "1.0", "2022-03-04 05:06:08", "", false));
    for (p, v, released, skip, yanked) in &versions {
        let key = || (p.clone(), s(v));
        match *skip {
            "" => {}
            "deleted" => odd.deleted_versions.push(key()),
            reason => odd.skipped_versions.push((p.clone(), s(v), s(reason))),
        }
        if *yanked {
            odd.yanked_versions.push(key());
        }
        if ["0001", "9999", "2100"]
            .iter()
            .any(|y| released.starts_with(y))
        {
            odd.impossible_dates
                .push((s("versions.released"), format!("{p} {v}"), s(released)));
        }
    }
    let mut w = CopyWriter::start(
        client,
        "versions",
        "package, version, released, skip, yanked",
    )
    .await?;
    for (p, v, released, skip, yanked) in &versions {
        w.text(p).text(v).plain(released).text(skip).plain(yanked);
        w.end().await?;
    }
    *rows.entry("versions").or_default() += w.finish().await?;
    Ok(())
}

/// Writes the odd packages and their names; lists them in `odd`.
async fn write_packages(
    client: &Client,
    rows: &mut std::collections::BTreeMap<&'static str, u64>,
    odd: &mut Odd,
) -> Result<(), tokio_postgres::Error> {
    // Packages.
    let mut packages: Vec<(String, &str, &str)> = vec![
        (s("odd-aliases"), "", "one project, five names"),
        (s("odd-skipped"), "binary only", "skipped"),
        (s("odd-deleted"), "deleted", "deleted upstream"),
        (s("odd-versions"), "", "every kind of version"),
        (s("odd-orphan-names"), "", "names but no versions"),
        (s("odd-abis"), "", "builds on every ABI"),
        (
            s("CamelCase_Not.Canonical"),
            "",
            "stored under a name that is not canonical",
        ),
    ];
    odd.skipped_packages
        .push((s("odd-skipped"), s("binary only")));
    odd.deleted_packages.push(s("odd-deleted"));
    odd.non_canonical_packages
        .push(s("CamelCase_Not.Canonical"));
    for (name, why) in HOSTILE {
        packages.push((s(name), "", "hostile"));
        odd.hostile_packages.push((s(name), s(why)));
    }
    packages.push((long_name(), "", "a 200-character name"));
    odd.hostile_packages.push((
        long_name(),
        s("200 characters: no wheel filename fits in 255"),
    ));
    let mut w = CopyWriter::start(client, "packages", "package, skip, description").await?;
    for (p, skip, d) in &packages {
        w.text(p).text(skip).text(d).end().await?;
    }
    *rows.entry("packages").or_default() += w.finish().await?;

    // Names: every package's own name, then the aliases.
    let aliases = [
        ("odd-aliases", "odd_aliases", "2018-05-01 00:00:00"),
        ("odd-aliases", "Odd.Aliases", "2019-06-01 00:00:00"),
        ("odd-aliases", "ODD-ALIASES", "2021-02-03 04:05:06"),
        ("odd-aliases", "Odd-Aliases", "2023-07-08 09:10:11"),
        (
            "odd-orphan-names",
            "Odd_Orphan_Names",
            "2022-01-01 00:00:00",
        ),
    ];
    let mut w = CopyWriter::start(client, "package_names", "package, name, seen").await?;
    for (p, _, _) in &packages {
        w.text(p).text(p).plain("1970-01-01 00:00:00").end().await?;
    }
    for (p, n, seen) in aliases {
        w.text(p).text(n).plain(seen).end().await?;
    }
    *rows.entry("package_names").or_default() += w.finish().await?;
    odd.display_names.push((s("odd-aliases"), s("Odd-Aliases")));
    odd.display_names
        .push((s("odd-orphan-names"), s("Odd_Orphan_Names")));
    odd.aliases.push((
        s("odd-aliases"),
        [
            "odd-aliases",
            "odd_aliases",
            "Odd.Aliases",
            "ODD-ALIASES",
            "Odd-Aliases",
        ]
        .map(s)
        .to_vec(),
    ));
    odd.aliases.push((
        s("odd-orphan-names"),
        ["odd-orphan-names", "Odd_Orphan_Names"].map(s).to_vec(),
    ));
    odd.orphan_names.push(s("odd-orphan-names"));

    Ok(())
}
