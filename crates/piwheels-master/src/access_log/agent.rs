//! What a User-Agent tells about the client (piwheels.md §3.5).
//!
//! pip (since 6.0) and uv send `name/version {json}`: the JSON says the CPU, the
//! distribution, the OS, the Python implementation, the installer and setuptools' version.
//! [`client_info`] reads it for downloads and searches; [`product`] reduces any other
//! User-Agent to its product name for page hits. Both serve every classifier of access
//! records: `piw-logger`'s log lines and the web server's own requests.
//!
//! The text is untrusted: every value is cut to what its database column holds, NULs and
//! other control characters are removed, and JSON that does not parse (or is too deep, or
//! longer than [`MAX_JSON`]) gives no values rather than an error.

use serde_json::Value;

/// The longest value of a [`ClientInfo`] field (the database's `VARCHAR(100)`).
pub const MAX_FIELD: usize = 100;
/// The longest installer name (the database's `VARCHAR(20)`).
pub const MAX_INSTALLER_NAME: usize = 20;
/// The longest reduced User-Agent [`product`] gives.
pub const MAX_PRODUCT: usize = 200;
/// The longest JSON read from a User-Agent; pip's is under 1 KiB.
pub const MAX_JSON: usize = 8192;

/// The client as a pip- or uv-style User-Agent describes it; each field `None` when it
/// does not say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// CPU architecture (`cpu`).
    pub arch: Option<String>,
    /// Distribution name (`distro.name`).
    pub distro_name: Option<String>,
    /// Distribution version (`distro.version`).
    pub distro_version: Option<String>,
    /// OS name (`system.name`).
    pub os_name: Option<String>,
    /// OS release (`system.release`).
    pub os_version: Option<String>,
    /// Python implementation (`implementation.name`, else `CPython` when the JSON gives a
    /// `python` version; `None` when it says nothing of Python).
    pub py_name: Option<String>,
    /// Python version (`implementation.version`, else `python`).
    pub py_version: Option<String>,
    /// Installer name (`installer.name`, else an installer's product: `pip`, `uv`).
    pub installer_name: Option<String>,
    /// Installer version (`installer.version`, else an installer's product version).
    pub installer_version: Option<String>,
    /// setuptools' version (`setuptools_version`).
    pub setuptools_version: Option<String>,
}

/// Whether the User-Agent is an installer's (pip or uv), whose index requests are searches.
pub fn is_installer(user_agent: &str) -> bool {
    user_agent.starts_with("pip/") || user_agent.starts_with("uv/")
}

/// Reads the client's description from a pip- or uv-style User-Agent: the JSON from the
/// first `{`, with the installer taken from the product (`pip/1.5.6`, before pip sent
/// JSON) where the JSON does not name it and the User-Agent [is an
/// installer's](is_installer). Any other client (`curl/8.5`, a browser) gives all `None`.
pub fn client_info(user_agent: &str) -> ClientInfo {
    let (product, json) = match user_agent.find('{') {
        Some(at) => (&user_agent[..at], Some(&user_agent[at..])),
        None => (user_agent, None),
    };
    let mut info = ClientInfo::default();
    if let Some(json) = json.filter(|j| j.len() <= MAX_JSON)
        && let Ok(Value::Object(map)) = serde_json::from_str::<Value>(json)
    {
        let get = |path: &[&str]| -> Option<String> {
            let mut v = map.get(path[0])?;
            for key in &path[1..] {
                v = v.as_object()?.get(*key)?;
            }
            v.as_str().and_then(|s| clean(s, MAX_FIELD))
        };
        info.arch = get(&["cpu"]);
        info.distro_name = get(&["distro", "name"]);
        info.distro_version = get(&["distro", "version"]);
        info.os_name = get(&["system", "name"]);
        info.os_version = get(&["system", "release"]);
        info.py_name = get(&["implementation", "name"]);
        info.py_version = get(&["implementation", "version"]);
        let python = get(&["python"]);
        if info.py_name.is_none() && python.is_some() {
            info.py_name = Some("CPython".to_owned());
        }
        if info.py_version.is_none() {
            info.py_version = python;
        }
        info.installer_name =
            get(&["installer", "name"]).and_then(|s| clean(&s, MAX_INSTALLER_NAME));
        info.installer_version = get(&["installer", "version"]);
        info.setuptools_version = get(&["setuptools_version"]);
    }
    if info.installer_name.is_none()
        && is_installer(user_agent)
        && let Some((name, version)) = product.trim().split_once('/')
    {
        info.installer_name = clean(name, MAX_INSTALLER_NAME);
        if info.installer_version.is_none() {
            info.installer_version =
                clean(version.split_whitespace().next().unwrap_or(""), MAX_FIELD);
        }
    }
    info
}

/// Any User-Agent reduced to its product name: the text before the first `/`, NULs and
/// other control characters removed, lower-cased, at most [`MAX_PRODUCT`] characters
/// (`Mozilla/5.0 (X11)` → `mozilla`).
pub fn product(user_agent: &str) -> String {
    let product = user_agent.split('/').next().unwrap_or("");
    product
        .chars()
        .filter(|c| !c.is_control())
        .flat_map(char::to_lowercase)
        .take(MAX_PRODUCT)
        .collect()
}

/// A value without NULs or other control characters, cut to `max` characters and trimmed;
/// `None` if nothing is left.
pub(crate) fn clean(s: &str, max: usize) -> Option<String> {
    let s: String = s.chars().filter(|c| !c.is_control()).take(max).collect();
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIP: &str = r#"pip/23.0.1 {"ci":null,"cpu":"armv7l","distro":{"id":"bookworm","libc":{"lib":"glibc","version":"2.36"},"name":"Raspbian GNU/Linux","version":"12"},"implementation":{"name":"CPython","version":"3.11.2"},"installer":{"name":"pip","version":"23.0.1"},"openssl_version":"OpenSSL 3.0.11 19 Sep 2023","python":"3.11.2","setuptools_version":"66.1.1","system":{"name":"Linux","release":"6.1.21-v7+"}}"#;
    const UV: &str = r#"uv/0.4.18 {"installer":{"name":"uv","version":"0.4.18"},"python":"3.12.3","implementation":{"name":"CPython","version":"3.12.3"},"distro":{"name":"Debian GNU/Linux","version":"12","id":"bookworm","libc":null},"system":{"name":"Linux","release":"6.6.31+rpt-rpi-v8"},"cpu":"aarch64","openssl_version":null,"setuptools_version":null,"rustc_version":null,"ci":null}"#;

    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    #[test]
    fn pip_json() {
        assert!(is_installer(PIP));
        assert_eq!(
            client_info(PIP),
            ClientInfo {
                arch: s("armv7l"),
                distro_name: s("Raspbian GNU/Linux"),
                distro_version: s("12"),
                os_name: s("Linux"),
                os_version: s("6.1.21-v7+"),
                py_name: s("CPython"),
                py_version: s("3.11.2"),
                installer_name: s("pip"),
                installer_version: s("23.0.1"),
                setuptools_version: s("66.1.1"),
            }
        );
    }

    #[test]
    fn uv_json() {
        assert!(is_installer(UV));
        let info = client_info(UV);
        assert_eq!(info.arch, s("aarch64"));
        assert_eq!(info.installer_name, s("uv"));
        assert_eq!(info.installer_version, s("0.4.18"));
        assert_eq!(info.py_version, s("3.12.3"));
        assert_eq!(info.os_version, s("6.6.31+rpt-rpi-v8"));
        assert_eq!(info.setuptools_version, None);
    }

    #[test]
    fn defaults_when_the_json_says_less() {
        // An old pip: no implementation, only python.
        let info = client_info(r#"pip/9.0.1 {"python":"3.5.3","cpu":"armv7l"}"#);
        assert_eq!(info.py_name, s("CPython"));
        assert_eq!(info.py_version, s("3.5.3"));
        assert_eq!(info.installer_name, s("pip"));
        assert_eq!(info.installer_version, s("9.0.1"));
        // No JSON at all: only the installer.
        let info = client_info("pip/1.5.6 CPython/2.7.9 Linux/4.1.19-v7+");
        assert_eq!(info.installer_name, s("pip"));
        assert_eq!(info.installer_version, s("1.5.6"));
        assert_eq!(info.arch, None);
    }

    #[test]
    fn hostile_json_gives_no_values() {
        for ua in [
            "pip/23.0 {",
            "pip/23.0 {\"cpu\":",
            "pip/23.0 {\"cpu\": 7, \"distro\": \"x\", \"system\": [1]}",
            "pip/23.0 [1, 2]",
        ] {
            let info = client_info(ua);
            assert_eq!(info.arch, None, "{ua}");
            assert_eq!(info.distro_name, None, "{ua}");
            assert_eq!(info.os_name, None, "{ua}");
            assert_eq!(info.installer_name, s("pip"), "{ua}");
        }
        let deep = format!("pip/1 {}{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
        assert_eq!(client_info(&deep).arch, None);
        let long = format!(
            "pip/1 {{\"cpu\":\"{}\",\"installer\":{{\"name\":\"{}\"}}}}",
            "x".repeat(5000),
            "y".repeat(50)
        );
        let info = client_info(&long);
        assert_eq!(info.arch.as_ref().map(String::len), Some(MAX_FIELD));
        assert_eq!(
            info.installer_name.as_ref().map(String::len),
            Some(MAX_INSTALLER_NAME)
        );
        let nul = r#"pip/1 {"cpu":"arm\u0000v7l","system":{"name":"\u0000"}}"#;
        let info = client_info(nul);
        assert_eq!(info.arch, s("armv7l"));
        assert_eq!(info.os_name, None);
    }

    #[test]
    fn product_tokens() {
        assert_eq!(product("Mozilla/5.0 (X11; Linux)"), "mozilla");
        assert_eq!(product("Wget"), "wget");
        assert_eq!(product("Cu\0rl/8"), "curl");
        assert_eq!(product("Go\0oglebot/2.1"), "googlebot");
        // Control characters go too, not only NULs.
        assert_eq!(product("cu\r\n\x1b[31mrl/8"), "cu[31mrl");
        assert_eq!(product(&"A".repeat(1000)).len(), MAX_PRODUCT);
        assert_eq!(product(&"é".repeat(1000)).chars().count(), MAX_PRODUCT);
        assert!(!is_installer("Mozilla/5.0"));
        assert!(!is_installer("pipx/1.0"));
    }

    #[test]
    fn other_clients_say_nothing() {
        const FIREFOX: &str =
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(client_info(FIREFOX), ClientInfo::default());
        // Not an installer: its product is not taken for one.
        assert_eq!(client_info("curl/8.5.0"), ClientInfo::default());
        assert_eq!(
            client_info(r#"curl/8.5.0 {"cpu":"x86_64"}"#),
            ClientInfo {
                arch: s("x86_64"),
                ..ClientInfo::default()
            }
        );
    }

    #[test]
    fn broken_json_leaves_only_the_installer() {
        let pip_only = ClientInfo {
            installer_name: s("pip"),
            installer_version: s("1"),
            ..ClientInfo::default()
        };
        assert_eq!(client_info("pip/1 {not json"), pip_only);
        assert_eq!(client_info("pip/1 [1]"), pip_only);
        // A JSON object that says nothing of Python does not make it CPython.
        assert_eq!(client_info(r#"pip/1 {"ci":null}"#), pip_only);
        let long = format!(r#"pip/1 {{"cpu":"armv7l","x":"{}"}}"#, "y".repeat(MAX_JSON));
        assert_eq!(client_info(&long), pip_only);
    }

    #[test]
    fn values_are_trimmed_and_cut_by_characters() {
        let info = client_info(&format!(
            r#"pip/1 {{"cpu":"  armv7l \t","distro":{{"name":"{}"}}}}"#,
            "é".repeat(300)
        ));
        assert_eq!(info.arch, s("armv7l"));
        assert_eq!(
            info.distro_name.as_ref().map(|n| n.chars().count()),
            Some(MAX_FIELD)
        );
    }

    #[test]
    fn ubuntu_uv() {
        const UV_UBUNTU: &str = r#"uv/0.4.18 {"installer":{"name":"uv","version":"0.4.18"},"python":"3.12.3","implementation":{"name":"CPython","version":"3.12.3"},"distro":{"name":"Ubuntu","version":"24.04","id":"noble","libc":null},"system":{"name":"Linux","release":"6.8.0"},"cpu":"x86_64","openssl_version":null,"setuptools_version":null,"rustc_version":null,"ci":null}"#;
        assert_eq!(
            client_info(UV_UBUNTU),
            ClientInfo {
                arch: s("x86_64"),
                distro_name: s("Ubuntu"),
                distro_version: s("24.04"),
                os_name: s("Linux"),
                os_version: s("6.8.0"),
                py_name: s("CPython"),
                py_version: s("3.12.3"),
                installer_name: s("uv"),
                installer_version: s("0.4.18"),
                setuptools_version: None,
            }
        );
    }
}
