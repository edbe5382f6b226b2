//! `--build-network index`: a sandboxed build reaches the index through the slave's build
//! proxy (its build dependencies come from a local index that way), and nothing else: not
//! another port of the host directly (its network namespace has only loopback), and not
//! through the proxy either (403, and the build log says why). As root only.

use crate::common;

use std::io::ErrorKind;
use std::net::TcpListener;
use std::time::Duration;

use piwheels_slave::builder::{Build, BuildSpec};
use piwheels_slave::sandbox::{BuildNetwork, BuildSandbox, SandboxConfig};
use piwheels_slave::{BuildUser, PythonFacts};

/// setup.py recording in `report.txt` (beside the build's home) what the build reaches of
/// the host's 127.0.0.1:`port`: directly, by `CONNECT` through the proxy, and by a plain
/// `GET` through it; then it builds. (Line ends are made with `chr`: setuptools turns a
/// `\r\n` escape in setup.py's text into a plain newline.)
fn setup(name: &str, port: u16) -> String {
    format!(
        "import os, socket\n\
         report = open(os.path.join(os.environ['HOME'], '..', 'report.txt'), 'w')\n\
         def attempt(what, f):\n    try:\n        report.write('%s %s\\n' % (what, f()))\n    except OSError as e:\n        report.write('%s %s\\n' % (what, type(e).__name__))\n\
         def direct():\n    socket.create_connection(('127.0.0.1', {port}), timeout=5).close()\n    return 'ok'\n\
         CRLF = chr(13) + chr(10)\n\
         def proxied(request):\n    request = request.replace('|', CRLF)\n    host, _, pport = os.environ['HTTPS_PROXY'].rpartition('/')[2].rpartition(':')\n    s = socket.create_connection((host, int(pport)), timeout=30)\n    s.sendall(request.encode())\n    return s.makefile('rb').readline().decode().split(' ')[1]\n\
         attempt('direct', direct)\n\
         attempt('connect', lambda: proxied('CONNECT 127.0.0.1:{port} HTTP/1.1|Host: 127.0.0.1:{port}||'))\n\
         attempt('get', lambda: proxied('GET http://127.0.0.1:{port}/ HTTP/1.1|Host: 127.0.0.1:{port}||'))\n\
         report.write('dns %s\\n' % bool(os.environ.get('NO_PROXY')))\n\
         report.close()\n\
         from setuptools import setup\n\
         setup(name='{name}', version='1.0', py_modules=[])\n"
    )
}

#[test]
fn an_index_mode_build_reaches_the_index_through_the_proxy_and_nothing_else() {
    let test = "an_index_mode_build_reaches_the_index_through_the_proxy_and_nothing_else";
    if !common::is_root() {
        return common::skip(test, "builds are sandboxed only by a slave running as root");
    }
    let work = common::open_tempdir();
    let sdists = work.path().join("sdists");
    let builds = work.path().join("builds");
    std::fs::create_dir(&sdists).unwrap();
    std::fs::create_dir(&builds).unwrap();
    common::open_dir(&builds);
    // Another port of the host's, which the build must not reach.
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    other.set_nonblocking(true).unwrap();
    let port = other.local_addr().unwrap().port();
    let name = "piwtest-index-only";
    let sdist = common::make_sdist(&sdists, name, "1.0", &[("setup.py", &setup(name, port))]);
    let index = match common::index_with(&work.path().join("index"), &[sdist]) {
        Ok(i) => i,
        Err(why) => return common::skip(test, &why),
    };
    let user = BuildUser::resolve(None).unwrap();
    let facts = PythonFacts::probe(&common::python(), &user).unwrap();
    let config = SandboxConfig::default();
    assert_eq!(config.network, BuildNetwork::Index, "index is the default");
    let spec = BuildSpec {
        package: name.into(),
        version: "1.0".into(),
        index_url: index.clone(),
        extra_index_urls: Vec::new(),
        python: common::python(),
        timeout: Duration::from_secs(300),
        grace: Duration::from_secs(3),
        dir: builds.clone(),
        user,
        sandbox: Some(BuildSandbox::new(config, &facts.paths)),
    };
    let mut build = Build::start(spec).unwrap();
    let result = build.wait_forever().clone();
    let report: std::collections::HashMap<String, String> =
        std::fs::read_to_string(build.dir().unwrap().join("report.txt"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
    // pip found setuptools (the build dependency) on the index through the proxy.
    assert!(result.status, "{}", result.output);
    assert_eq!(result.files.len(), 1, "{}", result.output);
    assert_eq!(
        report.get("direct").map(String::as_str),
        Some("ConnectionRefusedError"),
        "the host's 127.0.0.1 is out of reach: {report:?}"
    );
    assert_eq!(
        report.get("connect").map(String::as_str),
        Some("403"),
        "{report:?}"
    );
    assert_eq!(
        report.get("get").map(String::as_str),
        Some("403"),
        "{report:?}"
    );
    assert_eq!(
        report.get("dns").map(String::as_str),
        Some("False"),
        "{report:?}"
    );
    let said = format!("The build proxy refused CONNECT 127.0.0.1:{port} (403 Forbidden)");
    assert!(result.output.contains(&said), "{}", result.output);
    let said = format!("The build proxy refused GET http://127.0.0.1:{port}/ (403 Forbidden)");
    assert!(result.output.contains(&said), "{}", result.output);
    let index_host = index
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap();
    assert!(
        result
            .output
            .contains(&format!("only the index hosts ({index_host})")),
        "{}",
        result.output
    );
    match other.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the other port was reached: {other:?}"),
    }
}
