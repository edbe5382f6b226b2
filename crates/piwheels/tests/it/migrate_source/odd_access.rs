//! The odd rows of the access tables and `rewrites_pending` (see [`super::odd`]).

use std::collections::BTreeMap;

use tokio_postgres::Client;

use super::copy::CopyWriter;
use super::odd::Odd;

const LONG_UA_LEN: usize = 2000;

fn s(v: &str) -> String {
    v.to_owned()
}

/// Writes the odd access-log and rewrite rows; lists them in `odd`.
pub async fn write(
    client: &Client,
    rows: &mut BTreeMap<&'static str, u64>,
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

    write_hits(client, rows, odd).await
}

/// Writes the odd page hits, JSON downloads and rewrites; lists them in `odd`.
async fn write_hits(
    client: &Client,
    rows: &mut BTreeMap<&'static str, u64>,
    odd: &mut Odd,
) -> Result<(), tokio_postgres::Error> {
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
