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

/// The highest build id the odd builds use; generated builds follow it.
pub const LAST_ODD_BUILD: i32 = 9;

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

const LONG_UA_LEN: usize = 2000;

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

    // Versions: (package, version, released, skip, yanked).
    let mut versions: Vec<(String, &str, &str, &str, bool)> = vec![
        (s("odd-aliases"), "1.0", "2019-01-01 00:00:00", "", false),
        (s("odd-skipped"), "1.0", "2019-01-02 00:00:00", "", false),
        (
            s("odd-deleted"),
            "1.0",
            "2019-01-03 00:00:00",
            "deleted",
            false,
        ),
        (
            s("odd-deleted"),
            "2.0",
            "2019-01-04 00:00:00",
            "deleted",
            false,
        ),
        (s("odd-versions"), "1.0", "2020-01-01 00:00:00", "", false),
        (
            s("odd-versions"),
            "1.1",
            "2020-01-02 00:00:00",
            "broken",
            false,
        ),
        (s("odd-versions"), "1.2", "2020-01-03 00:00:00", "", true),
        (
            s("odd-versions"),
            "1.3",
            "2020-01-04 00:00:00",
            "deleted",
            false,
        ),
        (
            s("odd-versions"),
            "1.4",
            "2020-01-05 00:00:00",
            "broken",
            true,
        ),
        (s("odd-versions"), "0.0.1", "0001-01-01 00:00:00", "", false),
        (
            s("odd-versions"),
            "9999.0",
            "9999-12-31 23:59:59",
            "",
            false,
        ),
        (s("odd-versions"), "2.0", "2100-01-01 00:00:00", "", false),
        (s("odd-abis"), "1.0", "2021-01-01 00:00:00", "", false),
        (s("odd-abis"), "2.0", "2021-01-02 00:00:00", "", false),
        (s("odd-abis"), "3.0", "2021-01-03 00:00:00", "", false),
        (
            s("CamelCase_Not.Canonical"),
            "1.0",
            "2021-02-01 00:00:00",
            "",
            false,
        ),
    ];
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
        if released.starts_with("0001")
            || released.starts_with("9999")
            || released.starts_with("2100")
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
        w.text(p)
            .text(v)
            .plain(released)
            .text(skip)
            .plain(yanked)
            .end()
            .await?;
    }
    *rows.entry("versions").or_default() += w.finish().await?;

    // Builds: (id, package, version, built_by, built_at, duration, status, builder ABI).
    let builds: &[(i32, &str, &str, i32, &str, &str, bool, &str)] = &[
        (
            1,
            "odd-abis",
            "1.0",
            0,
            "2021-02-01 00:00:00",
            "00:00:00.5",
            false,
            "cp39",
        ),
        (
            2,
            "odd-abis",
            "1.0",
            1,
            "2021-02-01 00:10:00",
            "00:12:34.567",
            true,
            "cp311",
        ),
        (
            3,
            "odd-abis",
            "1.0",
            2,
            "2021-02-01 00:20:00",
            "00:01:02",
            true,
            "cp313",
        ),
        (
            4,
            "odd-abis",
            "2.0",
            3,
            "2021-02-02 00:00:00",
            "00:00:09",
            true,
            "cp311",
        ),
        (
            5,
            "odd-abis",
            "2.0",
            4,
            "2021-02-02 00:10:00",
            "00:00:03",
            false,
            "cp37",
        ),
        (
            6,
            "odd-abis",
            "3.0",
            i32::MAX,
            "2021-02-03 00:00:00",
            "2 days 03:04:05",
            true,
            "cp39",
        ),
        (
            7,
            "../../etc/passwd",
            "1.0",
            5,
            "2022-03-05 00:00:00",
            "00:00:07",
            true,
            "cp311",
        ),
        (
            8,
            "odd-versions",
            "0.0.1",
            6,
            "0001-01-01 00:00:00",
            "00:00:01",
            false,
            "cp39",
        ),
        (
            9,
            "odd-versions",
            "9999.0",
            7,
            "9999-12-31 23:59:59",
            "00:00:01",
            false,
            "cp311",
        ),
    ];
    assert_eq!(builds.last().map(|b| b.0), Some(LAST_ODD_BUILD));
    let mut w = CopyWriter::start(
        client,
        "builds",
        "build_id, package, version, built_by, built_at, duration, status, abi_tag",
    )
    .await?;
    for &(id, p, v, by, at, duration, status, abi) in builds {
        w.plain(id)
            .text(p)
            .text(v)
            .plain(by)
            .plain(at)
            .plain(duration)
            .plain(status)
            .text(abi);
        w.end().await?;
        if !status {
            odd.failed_builds.push(id);
        }
        if BUILD_ABIS
            .iter()
            .any(|(a, skip)| *a == abi && !skip.is_empty())
        {
            odd.skipped_abi_builds.push(id);
        }
        if at.starts_with("0001") || at.starts_with("9999") {
            odd.impossible_dates
                .push((s("builds.built_at"), id.to_string(), s(at)));
        }
    }
    *rows.entry("builds").or_default() += w.finish().await?;

    // Files: (filename, build, size, hash digit, package tag, version, py, abi, platform,
    // requires_python, location).
    type F<'a> = (
        &'a str,
        i32,
        i32,
        char,
        &'a str,
        &'a str,
        &'a str,
        &'a str,
        &'a str,
        Option<&'a str>,
        &'a str,
    );
    let files: &[F] = &[
        (
            "odd_abis-1.0-cp311-cp311-linux_armv7l.whl",
            2,
            123_456,
            'a',
            "odd_abis",
            "1.0",
            "cp311",
            "cp311",
            "linux_armv7l",
            Some(">=3.11"),
            "/simple",
        ),
        (
            "odd_abis-1.0-cp311-cp311-linux_armv6l.whl",
            2,
            123_456,
            'a',
            "odd_abis",
            "1.0",
            "cp311",
            "cp311",
            "linux_armv6l",
            Some(">=3.11"),
            "/simple",
        ),
        (
            "odd_abis-1.0-cp311-cp311-linux_aarch64.whl",
            2,
            234_567,
            'b',
            "odd_abis",
            "1.0",
            "cp311",
            "cp311",
            "linux_aarch64",
            None,
            "/simple",
        ),
        (
            "odd_abis-1.0-cp311-cp311-manylinux_2_28_armv7l.whl",
            2,
            345_678,
            'c',
            "odd_abis",
            "1.0",
            "cp311",
            "cp311",
            "manylinux_2_28_armv7l",
            None,
            "/simple",
        ),
        (
            "odd_abis-1.0-cp313-abi3-linux_armv7l.whl",
            3,
            99_999,
            'd',
            "odd_abis",
            "1.0",
            "cp313",
            "abi3",
            "linux_armv7l",
            Some(">=3.8"),
            "/simple",
        ),
        (
            "odd_abis-1.0-cp313-abi3-linux_armv6l.whl",
            3,
            99_999,
            'd',
            "odd_abis",
            "1.0",
            "cp313",
            "abi3",
            "linux_armv6l",
            Some(">=3.8"),
            "/simple",
        ),
        (
            "odd_abis-2.0-py3-none-any.whl",
            4,
            1_024,
            'e',
            "odd_abis",
            "2.0",
            "py3",
            "none",
            "any",
            None,
            "/simple",
        ),
        (
            "odd_abis-3.0-cp39-cp39-linux_armv7l.whl",
            6,
            i32::MAX,
            'f',
            "odd_abis",
            "3.0",
            "cp39",
            "cp39",
            "linux_armv7l",
            Some(">=3.9"),
            "/archive",
        ),
        (
            ".._.._etc_passwd-1.0-py3-none-any.whl",
            7,
            1,
            '0',
            ".._.._etc_passwd",
            "1.0",
            "py3",
            "none",
            "any",
            None,
            "/simple",
        ),
    ];
    let mut w = CopyWriter::start(
        client,
        "files",
        "filename, build_id, filesize, filehash, package_tag, package_version_tag, \
         py_version_tag, abi_tag, platform_tag, requires_python, location",
    )
    .await?;
    for &(name, build, size, h, pkg, ver, py, abi, plat, rp, loc) in files {
        let hash: String = std::iter::repeat_n(h, 64).collect();
        w.text(name)
            .plain(build)
            .plain(size)
            .plain(&hash)
            .text(pkg)
            .text(ver);
        w.text(py).text(abi).text(plat).opt(rp).text(loc);
        w.end().await?;
        odd.requires_python_null += u64::from(rp.is_none());
        match abi {
            "none" => odd.none_files.push(s(name)),
            "abi3" => odd.abi3_files.push(s(name)),
            _ => {}
        }
        if plat == "linux_armv6l" {
            odd.armv6l_copies
                .push((s(name), name.replace("linux_armv6l", "linux_armv7l")));
        }
        if loc != "/simple" {
            odd.other_locations.push((s(name), s(loc)));
        }
    }
    *rows.entry("files").or_default() += w.finish().await?;

    let deps: &[(&str, &str, &str)] = &[
        ("odd_abis-1.0-cp311-cp311-linux_armv7l.whl", "apt", "libc6"),
        (
            "odd_abis-1.0-cp311-cp311-linux_armv7l.whl",
            "apt",
            "libopenblas0-pthread",
        ),
        ("odd_abis-1.0-cp311-cp311-linux_armv7l.whl", "pip", "numpy"),
        (
            "odd_abis-1.0-cp311-cp311-linux_armv7l.whl",
            "",
            "libmystery",
        ),
        ("odd_abis-1.0-cp311-cp311-linux_armv6l.whl", "apt", "libc6"),
        (
            "odd_abis-1.0-cp311-cp311-linux_armv6l.whl",
            "apt",
            "libopenblas0-pthread",
        ),
        ("odd_abis-1.0-cp311-cp311-linux_armv6l.whl", "pip", "numpy"),
        ("odd_abis-1.0-cp313-abi3-linux_armv7l.whl", "apt", "libssl3"),
        ("odd_abis-2.0-py3-none-any.whl", "pip", "requests"),
    ];
    let mut w = CopyWriter::start(client, "dependencies", "filename, tool, dependency").await?;
    for (f, tool, dep) in deps {
        odd.dependencies[match *tool {
            "apt" => 0,
            "pip" => 1,
            _ => 2,
        }] += 1;
        w.text(f).text(tool).text(dep).end().await?;
    }
    *rows.entry("dependencies").or_default() += w.finish().await?;

    write_access(client, rows, &mut odd).await?;
    Ok(odd)
}

async fn write_access(
    client: &Client,
    rows: &mut std::collections::BTreeMap<&'static str, u64>,
    odd: &mut Odd,
) -> Result<(), tokio_postgres::Error> {
    const LOG_COLS: &str = "accessed_by, accessed_at, arch, distro_name, distro_version, \
        os_name, os_version, py_name, py_version, installer_name, installer_version, \
        setuptools_version";
    let full = [
        Some("armv7l"),
        Some("Raspbian GNU/Linux"),
        Some("11"),
        Some("Linux"),
        Some("6.1.21-v7+"),
        Some("CPython"),
        Some("3.11.2"),
        Some("pip"),
        Some("23.0.1"),
        Some("66.1.1"),
    ];
    let empty = [None; 10];
    let long_installer = [
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        Some("installer-of-20-ch"),
        None,
        None,
    ];
    // (name, address, time, optional fields)
    let downloads: &[(&str, &str, &str, &[Option<&str>; 10])] = &[
        (
            "odd_abis-1.0-cp311-cp311-linux_armv7l.whl",
            "2001:db8::1",
            "2023-01-01 00:00:00",
            &full,
        ),
        (
            "odd_abis-1.0-cp311-cp311-linux_armv6l.whl",
            "::ffff:192.0.2.1",
            "2023-01-01 00:00:01",
            &empty,
        ),
        (
            ".._.._etc_passwd-1.0-py3-none-any.whl",
            "192.0.2.7",
            "2023-01-01 00:00:02",
            &long_installer,
        ),
        (
            "gone-1.0-py3-none-any.whl",
            "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
            "0001-01-01 00:00:00",
            &full,
        ),
    ];
    odd.dangling_access
        .push((s("downloads"), s("gone-1.0-py3-none-any.whl")));
    odd.impossible_dates.push((
        s("downloads.accessed_at"),
        s("gone-1.0-py3-none-any.whl"),
        s("0001-01-01 00:00:00"),
    ));
    let mut w = CopyWriter::start(client, "downloads", &format!("filename, {LOG_COLS}")).await?;
    for (f, ip, at, opt) in downloads {
        odd.ipv6_rows += u64::from(ip.contains(':'));
        w.text(f).plain(ip).plain(at);
        for o in opt.iter() {
            w.opt(*o);
        }
        w.end().await?;
    }
    *rows.entry("downloads").or_default() += w.finish().await?;

    let searches: &[(&str, &str, &str, &[Option<&str>; 10])] = &[
        (
            "../../etc/passwd",
            "2001:db8::2",
            "2023-02-01 00:00:00",
            &full,
        ),
        (
            "no-such-package",
            "198.51.100.3",
            "2023-02-01 00:00:01",
            &empty,
        ),
    ];
    odd.dangling_access
        .push((s("searches"), s("no-such-package")));
    let mut w = CopyWriter::start(client, "searches", &format!("package, {LOG_COLS}")).await?;
    for (p, ip, at, opt) in searches {
        odd.ipv6_rows += u64::from(ip.contains(':'));
        w.text(p).plain(ip).plain(at);
        for o in opt.iter() {
            w.opt(*o);
        }
        w.end().await?;
    }
    *rows.entry("searches").or_default() += w.finish().await?;

    let long_ua = "Mozilla/5.0 ".repeat(LONG_UA_LEN / 12) + &"x".repeat(LONG_UA_LEN % 12);
    assert_eq!(long_ua.len(), LONG_UA_LEN);
    let mut w = CopyWriter::start(
        client,
        "project_page_hits",
        "package, accessed_by, accessed_at, user_agent, bot",
    )
    .await?;
    w.text("odd-aliases")
        .plain("2001:db8::3")
        .plain("2023-03-01 00:00:00")
        .text(&long_ua)
        .plain(false)
        .end()
        .await?;
    w.text("ctl-\u{1}\u{1b}[31m-\u{7f}")
        .plain("203.0.113.4")
        .plain("2023-03-01 00:00:01")
        .text("Googlebot/2.1")
        .plain(true)
        .end()
        .await?;
    w.text("no-such-package")
        .plain("203.0.113.5")
        .plain("2023-03-01 00:00:02")
        .text("curl/8.0")
        .plain(false)
        .end()
        .await?;
    odd.dangling_access
        .push((s("project_page_hits"), s("no-such-package")));
    *rows.entry("project_page_hits").or_default() += w.finish().await?;
    odd.ipv6_rows += 1;

    let mut w = CopyWriter::start(
        client,
        "project_json_downloads",
        "package, accessed_by, accessed_at, user_agent",
    )
    .await?;
    w.text("odd-versions")
        .plain("2001:db8::4")
        .plain("2023-04-01 00:00:00")
        .text("pip/23.0.1")
        .end()
        .await?;
    w.text("../../etc/passwd")
        .plain("203.0.113.6")
        .plain("2023-04-01 00:00:01")
        .text("")
        .end()
        .await?;
    *rows.entry("project_json_downloads").or_default() += w.finish().await?;
    odd.ipv6_rows += 1;

    let mut w = CopyWriter::start(
        client,
        "web_page_hits",
        "page, accessed_by, accessed_at, user_agent, bot",
    )
    .await?;
    w.text("a-page-name-of-thirty-chars-xx")
        .plain("2001:db8::5")
        .plain("2023-05-01 00:00:00")
        .text("Mozilla/5.0")
        .plain(false)
        .end()
        .await?;
    w.text("faq")
        .plain("203.0.113.7")
        .plain("9999-12-31 23:59:59")
        .text("bingbot/2.0")
        .plain(true)
        .end()
        .await?;
    odd.impossible_dates.push((
        s("web_page_hits.accessed_at"),
        s("faq"),
        s("9999-12-31 23:59:59"),
    ));
    *rows.entry("web_page_hits").or_default() += w.finish().await?;
    odd.ipv6_rows += 1;

    let mut w = CopyWriter::start(client, "rewrites_pending", "package, added_at, command").await?;
    for (p, at, cmd) in [
        ("odd-aliases", "2023-06-01 00:00:00", "PROJECT"),
        ("odd-versions", "2023-06-01 00:00:01", "BOTH"),
        ("../../etc/passwd", "2023-06-01 00:00:02", "BOTH"),
        ("no-such-package", "2023-06-01 00:00:03", "PROJECT"),
    ] {
        w.text(p).plain(at).plain(cmd).end().await?;
    }
    odd.dangling_rewrites.push(s("no-such-package"));
    *rows.entry("rewrites_pending").or_default() += w.finish().await?;
    Ok(())
}
