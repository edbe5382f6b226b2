//! The builder on real sdists: pip from a local index served on 127.0.0.1, a pure-Python
//! package, a C extension, and a build that outlives its timeout (with a grandchild in a
//! session of its own) whose every process must be ended.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use piwheels_slave::builder::{Build, BuildSpec};
use piwheels_slave::sandbox::{BuildNetwork, BuildSandbox, SandboxConfig};
use piwheels_slave::{BuildUser, PythonFacts};

/// Fails the build if it runs as root (builds never do).
const NOT_ROOT: &str =
    "import os, sys\nif os.getuid() == 0 or os.geteuid() == 0:\n    sys.exit('built as root!')\n";

/// The sandbox builds run in as root (as the slave makes it), with `config`.
fn sandbox(config: SandboxConfig) -> Option<BuildSandbox> {
    if !common::is_root() {
        return None;
    }
    let user = BuildUser::resolve(None).unwrap();
    let facts = PythonFacts::probe(&common::python(), &user).unwrap();
    Some(BuildSandbox::new(config, &facts.paths))
}

/// A build as the slave would start it: sandboxed when the tests run as root.
fn spec(name: &str, index: &str, dir: &Path, timeout: Duration) -> BuildSpec {
    BuildSpec {
        package: name.into(),
        version: "1.0".into(),
        index_url: index.into(),
        extra_index_urls: Vec::new(),
        python: common::python(),
        timeout,
        grace: Duration::from_secs(3),
        dir: dir.to_path_buf(),
        user: BuildUser::resolve(None).unwrap(),
        sandbox: sandbox(SandboxConfig::default()),
    }
}

/// A test's directory: `sdists/` to make sdists in, `builds/` (open to the build user)
/// for the builds, and `index/` for the local index.
struct Work {
    dir: tempfile::TempDir,
    sdists: PathBuf,
    builds: PathBuf,
}

impl Work {
    fn new() -> Work {
        let dir = common::open_tempdir();
        let sdists = dir.path().join("sdists");
        std::fs::create_dir(&sdists).unwrap();
        let builds = dir.path().join("builds");
        std::fs::create_dir(&builds).unwrap();
        common::open_dir(&builds);
        Work {
            dir,
            sdists,
            builds,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Serves `sdists` (and the build back-ends) over HTTP from `index/`; `None`, with the
    /// skip said, without the back-ends.
    fn index(&self, test: &str, sdists: &[PathBuf]) -> Option<String> {
        match common::index_with(&self.path().join("index"), sdists) {
            Ok(i) => Some(i),
            Err(why) => {
                common::skip(test, &why);
                None
            }
        }
    }
}

fn pure_sdist(dir: &Path, name: &str) -> PathBuf {
    let module = name.replace('-', "_");
    let setup = format!(
        "{NOT_ROOT}from setuptools import setup\nsetup(name='{name}', version='1.0', py_modules=['{module}'],\n      install_requires=['Six>=1.0', 'pytest; extra == \"test\"'], python_requires='>=3.8',\n      extras_require={{'test': ['pytest']}})\n"
    );
    common::make_sdist(
        dir,
        name,
        "1.0",
        &[("setup.py", &setup), (&format!("{module}.py"), "x = 1\n")],
    )
}

#[test]
fn builds_a_pure_python_sdist() {
    let test = "builds_a_pure_python_sdist";
    let work = Work::new();
    let sdists = work.sdists.clone();
    let sdist = pure_sdist(&sdists, "piwtest-pure");
    let Some(index) = work.index(test, &[sdist]) else {
        return;
    };
    let builds = work.builds.clone();
    let mut build = Build::start(spec(
        "piwtest-pure",
        &index,
        &builds,
        Duration::from_secs(300),
    ))
    .unwrap();
    let dir = build.dir().unwrap().to_path_buf();
    let result = build.wait_forever().clone();
    assert!(result.status, "build failed:\n{}", result.output);
    assert!(!result.timed_out);
    assert!(result.duration > Duration::ZERO);
    assert!(
        result.output.contains("piwtest"),
        "the log is pip's: {}",
        result.output
    );
    assert_eq!(result.files.len(), 1, "{:?}", result.files);
    let wheel = &result.files[0];
    assert!(wheel.path.exists());
    let s = &wheel.state;
    assert_eq!(s.filename, "piwtest_pure-1.0-py3-none-any.whl");
    assert_eq!(
        (
            s.package_tag.as_str(),
            s.abi_tag.as_str(),
            s.platform_tag.as_str()
        ),
        ("piwtest_pure", "none", "any")
    );
    assert_eq!(s.requires_python.as_deref(), Some(">=3.8"));
    assert_eq!(s.dependencies["pip"], ["six"]);
    assert!(s.dependencies["apt"].is_empty());
    // Dropping the build removes its directory, wheel and all.
    drop(build);
    assert!(!dir.exists());
    assert_eq!(std::fs::read_dir(&builds).unwrap().count(), 0);
}

#[test]
fn builds_a_c_extension_with_its_apt_dependencies() {
    let test = "builds_a_c_extension_with_its_apt_dependencies";
    let python = common::python();
    if !Path::new("/usr/include/zlib.h").exists() {
        return common::skip(test, "no zlib headers (zlib1g-dev)");
    }
    let work = Work::new();
    let sdists = work.sdists.clone();
    let setup = format!(
        "{NOT_ROOT}from setuptools import setup, Extension\nsetup(name='piwtest-cext', version='1.0', packages=['piwtest_cext'],\n      ext_modules=[Extension('piwtest_cext._speed', ['speed.c'], libraries=['z'])])\n"
    );
    let c = "#include <Python.h>\n#include <zlib.h>\nstatic PyObject *v(PyObject *s, PyObject *a) { return PyUnicode_FromString(zlibVersion()); }\n\
static PyMethodDef m[] = {{\"zlib_version\", v, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};\n\
static struct PyModuleDef d = {PyModuleDef_HEAD_INIT, \"_speed\", NULL, -1, m};\n\
PyMODINIT_FUNC PyInit__speed(void) { return PyModule_Create(&d); }\n";
    let sdist = common::make_sdist(
        &sdists,
        "piwtest-cext",
        "1.0",
        &[
            ("setup.py", &setup),
            ("speed.c", c),
            ("piwtest_cext/__init__.py", ""),
        ],
    );
    let Some(index) = work.index(test, &[sdist]) else {
        return;
    };
    let user = BuildUser::resolve(None).unwrap();
    let facts = PythonFacts::probe(&python, &user).unwrap();
    let builds = work.builds.clone();
    let mut build = Build::start(spec(
        "piwtest-cext",
        &index,
        &builds,
        Duration::from_secs(600),
    ))
    .unwrap();
    let result = build.wait_forever().clone();
    assert!(result.status, "build failed:\n{}", result.output);
    assert_eq!(result.files.len(), 1);
    let s = &result.files[0].state;
    // What the interpreter reported is what it built.
    assert_eq!(s.abi_tag, facts.abi, "{s:?}");
    assert_eq!(s.platform_tag, facts.platform, "{s:?}");
    assert_eq!(s.py_version_tag, format!("cp{}", facts.py_version));
    let apt = &s.dependencies["apt"];
    if let Some(zlib) = common::dpkg_owner("/lib/x86_64-linux-gnu/libz.so.1")
        .or_else(|| common::dpkg_owner("/usr/lib/x86_64-linux-gnu/libz.so.1"))
    {
        assert!(apt.contains(&zlib), "{apt:?} lacks {zlib}");
    } else {
        assert!(!apt.is_empty() || s.dependencies.contains_key(""), "{s:?}");
    }
    assert!(!s.dependencies.contains_key(""), "{:?}", s.dependencies);
}

#[test]
fn a_failing_build_is_reported_with_its_log() {
    let test = "a_failing_build_is_reported_with_its_log";
    let work = Work::new();
    let sdists = work.sdists.clone();
    let sdist = common::make_sdist(
        &sdists,
        "piwtest-broken",
        "1.0",
        &[(
            "setup.py",
            "raise SystemExit('piwtest: this package cannot be built')\n",
        )],
    );
    let Some(index) = work.index(test, &[sdist]) else {
        return;
    };
    let builds = work.builds.clone();
    let mut build = Build::start(spec(
        "piwtest-broken",
        &index,
        &builds,
        Duration::from_secs(300),
    ))
    .unwrap();
    let result = build.wait_forever().clone();
    assert!(!result.status);
    assert!(result.files.is_empty());
    assert!(
        result.output.contains("this package cannot be built"),
        "{}",
        result.output
    );
    // A name that would be a pip option is refused before pip runs.
    let mut build = Build::start(spec(
        "--index-url=http://127.0.0.1:1/",
        &index,
        &builds,
        Duration::from_secs(30),
    ))
    .unwrap();
    let result = build.wait_forever().clone();
    assert!(!result.status);
    assert!(result.output.contains("refused"), "{}", result.output);
}

fn alive(pid: i32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let st = piwheels_slave::tree::parse_stat(&stat)?;
    Some(format!("pid {pid} state {} ppid {}", st.state, st.ppid))
}

#[test]
fn the_timeout_ends_every_process_of_the_build() {
    timeout_ends_every_process("the_timeout_ends_every_process_of_the_build", true);
}

#[test]
fn the_timeout_ends_every_process_of_an_unsandboxed_build() {
    let test = "the_timeout_ends_every_process_of_an_unsandboxed_build";
    if !common::is_root() {
        // Then every build is unsandboxed, as the test above shows.
        return common::skip(test, "as root only (where builds are otherwise sandboxed)");
    }
    timeout_ends_every_process(test, false);
}

/// The processes whose PID namespace is `ns` (a `pid:[inode]` link text).
fn in_namespace(ns: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/ns/pid"))
                .is_ok_and(|l| l.to_string_lossy() == ns)
        })
        .collect()
}

fn timeout_ends_every_process(test: &str, sandboxed: bool) {
    let work = Work::new();
    let sdists = work.sdists.clone();
    // setup.py starts a grandchild in a session of its own (out of the build's process
    // group and session) that ignores SIGTERM, records both pids and its PID namespace in
    // the build directory, and sleeps far past the timeout.
    let setup = format!(
        "{NOT_ROOT}import subprocess, time\n\
         child = subprocess.Popen([sys.executable, '-c', 'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)'], start_new_session=True)\n\
         with open(os.path.join(os.environ['HOME'], '..', 'pids.txt'), 'a') as f:\n    f.write('%d %d %s\\n' % (os.getpid(), child.pid, os.readlink('/proc/self/ns/pid')))\n\
         time.sleep(600)\n"
    );
    let sdist = common::make_sdist(&sdists, "piwtest-sleepy", "1.0", &[("setup.py", &setup)]);
    let Some(index) = work.index(test, &[sdist]) else {
        return;
    };
    let builds = work.builds.clone();
    let timeout = Duration::from_secs(25);
    let mut spec = spec("piwtest-sleepy", &index, &builds, timeout);
    if !sandboxed {
        spec.sandbox = None;
    }
    let sandboxed = spec.sandbox.is_some();
    let started = Instant::now();
    let mut build = Build::start(spec).unwrap();
    let result = build.wait_forever().clone();
    let took = started.elapsed();
    assert!(!result.status);
    assert!(result.timed_out, "{}", result.output);
    assert!(
        result.output.contains("Build timed out"),
        "a clear line in the log: {}",
        result.output
    );
    assert!(took >= timeout, "{took:?}");
    assert!(took < timeout + Duration::from_secs(30), "{took:?}");
    let text = std::fs::read_to_string(build.dir().unwrap().join("pids.txt"))
        .unwrap_or_else(|e| panic!("setup.py never ran ({e}); log:\n{}", result.output));
    let fields: Vec<&str> = text.split_whitespace().collect();
    assert!(fields.len() >= 3, "{text}");
    let ns = fields[2];
    let ours = std::fs::read_link("/proc/self/ns/pid").unwrap();
    if sandboxed {
        assert_ne!(ns, ours.to_string_lossy(), "the build has a PID namespace");
        assert_eq!(
            in_namespace(ns),
            Vec::<i32>::new(),
            "a build process survived"
        );
    } else {
        for pid in [fields[0], fields[1]].map(|p| p.parse().unwrap()) {
            assert_eq!(
                alive(pid),
                None,
                "a build process survived (or was not reaped)"
            );
        }
    }
    drop(build);
    assert_eq!(std::fs::read_dir(&builds).unwrap().count(), 0);
}

#[test]
fn stopping_a_build_ends_it_and_cleans_up() {
    let test = "stopping_a_build_ends_it_and_cleans_up";
    let work = Work::new();
    let sdists = work.sdists.clone();
    let setup = format!("{NOT_ROOT}import time\ntime.sleep(600)\n");
    let sdist = common::make_sdist(&sdists, "piwtest-stopped", "1.0", &[("setup.py", &setup)]);
    let Some(index) = work.index(test, &[sdist]) else {
        return;
    };
    let builds = work.builds.clone();
    let mut build = Build::start(spec(
        "piwtest-stopped",
        &index,
        &builds,
        Duration::from_secs(600),
    ))
    .unwrap();
    assert!(build.wait(Duration::from_secs(3)).is_none());
    let t = Instant::now();
    build.stop();
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    assert_eq!(std::fs::read_dir(&builds).unwrap().count(), 0);
}

#[test]
fn builds_never_run_as_root() {
    if common::is_root() {
        let user = BuildUser::resolve(None).unwrap();
        assert!(user.switch);
        assert_ne!(user.uid, 0);
        assert_eq!(user.name, "nobody");
        let e = BuildUser::resolve(Some("root")).unwrap_err();
        assert!(e.to_string().contains("never run as root"), "{e}");
        let e = BuildUser::resolve(Some("0")).unwrap_err();
        assert!(e.to_string().contains("never run as root"), "{e}");
        assert!(BuildUser::resolve(Some("no-such-user-piw")).is_err());
        // The interpreter is asked as the build user.
        let facts = PythonFacts::probe(&common::python(), &user).unwrap();
        assert!(
            facts.abi.starts_with("cp") || facts.abi.starts_with("pp"),
            "{facts:?}"
        );
        assert!(!facts.platform.contains('-') && !facts.platform.contains('.'));
    } else {
        let user = BuildUser::resolve(None).unwrap();
        assert!(!user.switch);
        assert_eq!(user.uid, rustix::process::geteuid().as_raw());
        assert!(BuildUser::resolve(Some("root")).is_err());
    }
}

/// setup.py that records, in the build directory's `report.txt`, what a hostile build
/// can reach: `outside` (a host directory anyone may write), `/etc`, the host's
/// processes, the hostname, and a TCP listener on 127.0.0.1:`port`; then it builds.
fn probing_setup(name: &str, outside: &Path, port: u16) -> String {
    format!(
        "{NOT_ROOT}import socket, subprocess\n\
         report = open(os.path.join(os.environ['HOME'], '..', 'report.txt'), 'w')\n\
         def attempt(what, f):\n    try:\n        f()\n        report.write(what + ' ok\\n')\n    except OSError as e:\n        report.write('%s %s\\n' % (what, type(e).__name__))\n\
         attempt('outside', lambda: open({outside:?} + '/escaped', 'w').write('x'))\n\
         attempt('etc', lambda: open('/etc/piwtest-escaped', 'w').write('x'))\n\
         attempt('connect', lambda: socket.create_connection(('127.0.0.1', {port}), timeout=5).close())\n\
         report.write('hostname %s\\n' % socket.gethostname())\n\
         report.write('processes %d\\n' % len([p for p in os.listdir('/proc') if p.isdigit()]))\n\
         subprocess.Popen(['sleep', '600.{port}'], start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n\
         report.close()\n\
         from setuptools import setup\n\
         setup(name='{name}', version='1.0', py_modules=[])\n"
    )
}

fn report(build: &Build) -> std::collections::HashMap<String, String> {
    std::fs::read_to_string(build.dir().unwrap().join("report.txt"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// A finished build of [`probing_setup`]'s package.
struct Probe {
    work: Work,
    port: u16,
    build: Build,
    result: piwheels_slave::BuildResult,
    report: std::collections::HashMap<String, String>,
}

impl Probe {
    fn outside(&self) -> PathBuf {
        self.work.path().join("outside")
    }
}

/// Builds [`probing_setup`]'s package in the sandbox (with `network`: `--build-network
/// full`, served over HTTP; without: `none`, read from a `file://` index bound in). `None` (with the skip said) when not
/// root or without the build dependencies.
fn probe(test: &str, name: &str, network: bool) -> Option<Probe> {
    if !common::is_root() {
        common::skip(test, "builds are sandboxed only by a slave running as root");
        return None;
    }
    let work = Work::new();
    let outside = work.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    common::open_dir(&outside);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let setup = probing_setup(name, &outside, port);
    let sdist = common::make_sdist(&work.sdists, name, "1.0", &[("setup.py", &setup)]);
    let served = work.index(test, &[sdist])?;
    let index_dir = work.path().join("index");
    let builds = work.builds.clone();
    let spec = if network {
        let mut spec = spec(name, &served, &builds, Duration::from_secs(300));
        spec.sandbox = sandbox(SandboxConfig {
            network: BuildNetwork::Full,
            ..SandboxConfig::default()
        });
        spec
    } else {
        let index = format!("file://{}/simple", index_dir.display());
        let mut spec = spec(name, &index, &builds, Duration::from_secs(300));
        spec.sandbox = sandbox(SandboxConfig {
            network: BuildNetwork::None,
            binds: vec![index_dir.clone()],
            ..SandboxConfig::default()
        });
        spec
    };
    let mut build = Build::start(spec).unwrap();
    let result = build.wait_forever().clone();
    let report = report(&build);
    drop(listener);
    Some(Probe {
        work,
        port,
        build,
        result,
        report,
    })
}

#[test]
fn a_sandboxed_build_writes_only_its_directory_and_sees_no_host_process() {
    let test = "a_sandboxed_build_writes_only_its_directory_and_sees_no_host_process";
    let Some(p) = probe(test, "piwtest-probe", true) else {
        return;
    };
    let r = &p.report;
    assert!(p.result.status, "{}", p.result.output);
    assert_eq!(
        r.get("outside").map(String::as_str),
        Some("FileNotFoundError"),
        "{r:?}"
    );
    assert!(!p.outside().join("escaped").exists());
    assert!(
        matches!(
            r.get("etc").map(String::as_str),
            Some("OSError" | "PermissionError")
        ),
        "{r:?}"
    );
    assert!(!Path::new("/etc/piwtest-escaped").exists());
    assert_eq!(
        r.get("hostname").map(String::as_str),
        Some("piwheels-build")
    );
    assert_ne!(butter::process::gethostname(), "piwheels-build");
    let seen: usize = r["processes"].parse().unwrap();
    assert!(seen < 20, "the build saw {seen} processes: the host's");
    // With --build-network full, the host's network is there.
    assert_eq!(r.get("connect").map(String::as_str), Some("ok"), "{r:?}");
    let marker = format!("600.{}", p.port);
    let left = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| c.windows(marker.len()).any(|w| w == marker.as_bytes()))
        })
        .count();
    assert_eq!(left, 0, "the detached sleep ended with the sandbox");
    let builds = p.work.builds.clone();
    drop(p.build);
    assert_eq!(std::fs::read_dir(&builds).unwrap().count(), 0);
}

#[test]
fn builds_without_network_reach_only_what_is_bound_in() {
    let test = "builds_without_network_reach_only_what_is_bound_in";
    let Some(p) = probe(test, "piwtest-offline", false) else {
        return;
    };
    assert!(p.result.status, "{}", p.result.output);
    assert_eq!(
        p.report.get("connect").map(String::as_str),
        Some("ConnectionRefusedError"),
        "the host's 127.0.0.1 is out of reach: {:?}",
        p.report
    );
    assert_eq!(p.result.files.len(), 1);
}
