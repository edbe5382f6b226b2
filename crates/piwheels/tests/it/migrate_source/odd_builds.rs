//! The odd builds, files and dependencies (see [`super::odd`]).

use std::collections::BTreeMap;

use tokio_postgres::Client;

use super::copy::CopyWriter;
use super::odd::{BUILD_ABIS, Odd};

/// (id, package, version, built_by, built_at, duration, status, builder ABI).
type Build = (
    i32,
    &'static str,
    &'static str,
    i32,
    &'static str,
    &'static str,
    bool,
    &'static str,
);

#[rustfmt::skip]
const BUILDS: &[Build] = &[
    (1, "odd-abis", "1.0", 0, "2021-02-01 00:00:00", "00:00:00.5", false, "cp39"),
    (2, "odd-abis", "1.0", 1, "2021-02-01 00:10:00", "00:12:34.567", true, "cp311"),
    (3, "odd-abis", "1.0", 2, "2021-02-01 00:20:00", "00:01:02", true, "cp313"),
    (4, "odd-abis", "2.0", 3, "2021-02-02 00:00:00", "00:00:09", true, "cp311"),
    (5, "odd-abis", "2.0", 4, "2021-02-02 00:10:00", "00:00:03", false, "cp37"),
    (6, "odd-abis", "3.0", i32::MAX, "2021-02-03 00:00:00", "2 days 03:04:05", true, "cp39"),
    (7, "../../etc/passwd", "1.0", 5, "2022-03-05 00:00:00", "00:00:07", true, "cp311"),
    (8, "odd-versions", "0.0.1", 6, "0001-01-01 00:00:00", "00:00:01", false, "cp39"),
    (9, "odd-versions", "9999.0", 7, "9999-12-31 23:59:59", "00:00:01", false, "cp311"),
];

/// The highest build id the odd builds use; generated builds follow it.
pub const LAST_ODD_BUILD: i32 = 9;

/// (filename, build, size, hash digit, package tag, version, py, abi, platform,
/// requires_python, location).
type File = (
    &'static str,
    i32,
    i32,
    char,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
);

#[rustfmt::skip]
const FILES: &[File] = &[
    ("odd_abis-1.0-cp311-cp311-linux_armv7l.whl", 2, 123_456, 'a', "odd_abis", "1.0", "cp311", "cp311", "linux_armv7l", Some(">=3.11"), "/simple"),
    ("odd_abis-1.0-cp311-cp311-linux_armv6l.whl", 2, 123_456, 'a', "odd_abis", "1.0", "cp311", "cp311", "linux_armv6l", Some(">=3.11"), "/simple"),
    ("odd_abis-1.0-cp311-cp311-linux_aarch64.whl", 2, 234_567, 'b', "odd_abis", "1.0", "cp311", "cp311", "linux_aarch64", None, "/simple"),
    ("odd_abis-1.0-cp311-cp311-manylinux_2_28_armv7l.whl", 2, 345_678, 'c', "odd_abis", "1.0", "cp311", "cp311", "manylinux_2_28_armv7l", None, "/simple"),
    ("odd_abis-1.0-cp313-abi3-linux_armv7l.whl", 3, 99_999, 'd', "odd_abis", "1.0", "cp313", "abi3", "linux_armv7l", Some(">=3.8"), "/simple"),
    ("odd_abis-1.0-cp313-abi3-linux_armv6l.whl", 3, 99_999, 'd', "odd_abis", "1.0", "cp313", "abi3", "linux_armv6l", Some(">=3.8"), "/simple"),
    ("odd_abis-2.0-py3-none-any.whl", 4, 1_024, 'e', "odd_abis", "2.0", "py3", "none", "any", None, "/simple"),
    ("odd_abis-3.0-cp39-cp39-linux_armv7l.whl", 6, i32::MAX, 'f', "odd_abis", "3.0", "cp39", "cp39", "linux_armv7l", Some(">=3.9"), "/archive"),
    (".._.._etc_passwd-1.0-py3-none-any.whl", 7, 1, '0', ".._.._etc_passwd", "1.0", "py3", "none", "any", None, "/simple"),
];

#[rustfmt::skip]
const DEPENDENCIES: &[(&str, &str, &str)] = &[
    ("odd_abis-1.0-cp311-cp311-linux_armv7l.whl", "apt", "libc6"),
    ("odd_abis-1.0-cp311-cp311-linux_armv7l.whl", "apt", "libopenblas0-pthread"),
    ("odd_abis-1.0-cp311-cp311-linux_armv7l.whl", "pip", "numpy"),
    ("odd_abis-1.0-cp311-cp311-linux_armv7l.whl", "", "libmystery"),
    ("odd_abis-1.0-cp311-cp311-linux_armv6l.whl", "apt", "libc6"),
    ("odd_abis-1.0-cp311-cp311-linux_armv6l.whl", "apt", "libopenblas0-pthread"),
    ("odd_abis-1.0-cp311-cp311-linux_armv6l.whl", "pip", "numpy"),
    ("odd_abis-1.0-cp313-abi3-linux_armv7l.whl", "apt", "libssl3"),
    ("odd_abis-2.0-py3-none-any.whl", "pip", "requests"),
];

fn s(v: &str) -> String {
    v.to_owned()
}

/// Writes the odd builds, files and dependencies; lists them in `odd`.
pub async fn write(
    client: &Client,
    rows: &mut BTreeMap<&'static str, u64>,
    odd: &mut Odd,
) -> Result<(), tokio_postgres::Error> {
    assert_eq!(BUILDS.last().map(|b| b.0), Some(LAST_ODD_BUILD));
    let mut w = CopyWriter::start(
        client,
        "builds",
        "build_id, package, version, built_by, built_at, duration, status, abi_tag",
    )
    .await?;
    for &(id, p, v, by, at, duration, status, abi) in BUILDS {
        w.plain(id).text(p).text(v).plain(by).plain(at);
        w.plain(duration).plain(status).text(abi).end().await?;
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

    let mut w = CopyWriter::start(
        client,
        "files",
        "filename, build_id, filesize, filehash, package_tag, package_version_tag, \
         py_version_tag, abi_tag, platform_tag, requires_python, location",
    )
    .await?;
    for &(name, build, size, h, pkg, ver, py, abi, plat, rp, loc) in FILES {
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

    let mut w = CopyWriter::start(client, "dependencies", "filename, tool, dependency").await?;
    for (f, tool, dep) in DEPENDENCIES {
        odd.dependencies[match *tool {
            "apt" => 0,
            "pip" => 1,
            _ => 2,
        }] += 1;
        w.text(f).text(tool).text(dep).end().await?;
    }
    *rows.entry("dependencies").or_default() += w.finish().await?;
    Ok(())
}
