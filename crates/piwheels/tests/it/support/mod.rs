//! A whole farm for the end-to-end tests and the farm benchmark: generated sdists, a local
//! upstream index served over HTTP, and `piw-master`, `piw-slave` and `piw-add` run as real
//! processes. Nothing here reaches beyond 127.0.0.1.

#![allow(dead_code)]

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

pub mod tmux;

pub use test_support::process::output_within;
// The farm benchmark includes this file too (`#[path]`), and skips nothing.
#[allow(unused_imports)]
pub use test_support::{is_root, skip};

/// The interpreter builds and installs use: Debian's, which every user can run.
pub const PYTHON: &str = "/usr/bin/python3";

/// The wheels of the build back-ends pip needs for build isolation (setuptools, wheel),
/// fetched by `scripts/py-build-deps` (the test command runs it first); `Err` says why
/// there are none.
pub fn build_deps() -> Result<PathBuf, String> {
    test_support::setup::build_deps(None)
}

/// Whether Debian's Python, with pip and venv, is there.
pub fn python_ready() -> Result<(), String> {
    let ok = test_support::process::try_output_within(
        Command::new(PYTHON).args(["-c", "import pip, venv, sysconfig"]),
        b"",
        Duration::from_secs(60),
        "python3 -c 'import pip, venv, sysconfig'",
    )
    .is_ok_and(|out| out.status.success());
    if ok {
        Ok(())
    } else {
        Err(format!("{PYTHON} with pip and venv is not installed"))
    }
}

/// A local upstream index in `dir` holding the build back-ends' wheels and an sdist of
/// each `(name, version, C extension)`; `None` (after printing why `test` is skipped) when
/// Debian's Python or the back-ends' wheels are missing.
pub fn upstream_with(test: &str, dir: &Path, sdists: &[(&str, &str, bool)]) -> Option<Upstream> {
    if let Err(why) = python_ready() {
        skip(test, &why);
        return None;
    }
    let deps = match build_deps() {
        Ok(dir) => dir,
        Err(why) => {
            skip(test, &why);
            return None;
        }
    };
    let mut files: Vec<PathBuf> = fs::read_dir(&deps)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "whl"))
        .collect();
    for (name, version, c_extension) in sdists {
        files.push(make_sdist(dir, name, version, *c_extension, 0));
    }
    Some(Upstream::serve(&dir.join("upstream"), &files))
}

/// A free TCP port on 127.0.0.1 (free when asked; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes `name-version.tar.gz`, an sdist of a setuptools project whose import name is
/// `name` with `-` as `_`. `c_extension` adds a compiled module `_speed` with a function
/// `add`; `payload` bytes of incompressible data make the wheel that large.
pub fn make_sdist(
    dir: &Path,
    name: &str,
    version: &str,
    c_extension: bool,
    payload: usize,
) -> PathBuf {
    let module = name.replace('-', "_");
    // The file and its top directory use the normalised name (PEP 625).
    let base = format!("{module}-{version}");
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    files.push((
        "PKG-INFO".into(),
        format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: test package {name}\nRequires-Python: >=3.7\n").into_bytes(),
    ));
    files.push((
        "pyproject.toml".into(),
        b"[build-system]\nrequires = [\"setuptools\", \"wheel\"]\nbuild-backend = \"setuptools.build_meta\"\n".to_vec(),
    ));
    let ext = if c_extension {
        format!("ext_modules=[Extension('{module}._speed', ['src/speed.c'])],")
    } else {
        String::new()
    };
    let data = if payload > 0 {
        "package_data={'%M': ['payload.bin']}, include_package_data=True,".replace("%M", &module)
    } else {
        String::new()
    };
    files.push((
        "setup.py".into(),
        format!(
            "from setuptools import setup, Extension\n\
             setup(name='{name}', version='{version}', packages=['{module}'], \
             python_requires='>=3.7', install_requires=['attrs; extra == \"x\"'], {ext} {data})\n"
        )
        .into_bytes(),
    ));
    let init = if c_extension {
        "from ._speed import add\nVALUE = add(40, 2)\n".to_string()
    } else {
        format!("VALUE = {:?}\n", format!("{name} {version}"))
    };
    files.push((format!("{module}/__init__.py"), init.into_bytes()));
    if c_extension {
        files.push((
            "src/speed.c".into(),
            br#"#define PY_SSIZE_T_CLEAN
#include <Python.h>
static PyObject *add(PyObject *self, PyObject *args) {
    long a, b;
    if (!PyArg_ParseTuple(args, "ll", &a, &b)) return NULL;
    return PyLong_FromLong(a + b);
}
static PyMethodDef methods[] = {{"add", add, METH_VARARGS, "Adds."}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speed", NULL, -1, methods};
PyMODINIT_FUNC PyInit__speed(void) { return PyModule_Create(&module); }
"#
            .to_vec(),
        ));
        files.push(("MANIFEST.in".into(), b"include src/speed.c\n".to_vec()));
    }
    if payload > 0 {
        // Incompressible: a SHA-256 chain.
        let mut bytes = Vec::with_capacity(payload + 32);
        let mut block = Sha256::digest(name.as_bytes());
        while bytes.len() < payload {
            bytes.extend_from_slice(&block);
            block = Sha256::digest(block);
        }
        bytes.truncate(payload);
        files.push((format!("{module}/payload.bin"), bytes));
    }
    let path = dir.join(format!("{base}.tar.gz"));
    let gz = flate2::write::GzEncoder::new(
        fs::File::create(&path).unwrap(),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    for (name, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(1_700_000_000);
        header.set_cksum();
        tar.append_data(&mut header, format!("{base}/{name}"), bytes.as_slice())
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
    path
}

/// A PEP 503 index in a directory, served over HTTP by Python's `http.server`.
pub struct Upstream {
    /// The index's root (`simple/` and `files/` inside).
    pub root: PathBuf,
    /// `http://127.0.0.1:PORT/simple`.
    pub url: String,
    server: Child,
}

impl Upstream {
    /// An index of `files` (sdists and wheels), grouped by project, served on a free port.
    pub fn serve(root: &Path, files: &[PathBuf]) -> Upstream {
        let files_dir = root.join("files");
        fs::create_dir_all(&files_dir).unwrap();
        let mut projects: std::collections::BTreeMap<String, Vec<(String, String)>> =
            Default::default();
        for f in files {
            let name = f.file_name().unwrap().to_str().unwrap().to_string();
            let target = files_dir.join(&name);
            if fs::hard_link(f, &target).is_err() {
                fs::copy(f, &target).unwrap();
            }
            let hash = hex::encode(Sha256::digest(fs::read(&target).unwrap()));
            projects
                .entry(project_of(&name))
                .or_default()
                .push((name, hash));
        }
        let simple = root.join("simple");
        fs::create_dir_all(&simple).unwrap();
        let mut index = String::from("<!DOCTYPE html><html><body>\n");
        for (project, files) in &projects {
            index += &format!("<a href=\"{project}/\">{project}</a>\n");
            let mut page = format!("<!DOCTYPE html><html><body><h1>Links for {project}</h1>\n");
            for (file, hash) in files {
                page += &format!("<a href=\"../../files/{file}#sha256={hash}\">{file}</a><br>\n");
            }
            page += "</body></html>\n";
            fs::create_dir_all(simple.join(project)).unwrap();
            fs::write(simple.join(project).join("index.html"), page).unwrap();
        }
        index += "</body></html>\n";
        fs::write(simple.join("index.html"), index).unwrap();
        let port = free_port();
        let server = Command::new(PYTHON)
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_port(port, Duration::from_secs(20));
        Upstream {
            root: root.to_owned(),
            url: format!("http://127.0.0.1:{port}/simple"),
            server,
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// The PEP 503 project of a distribution file name.
fn project_of(file: &str) -> String {
    let stem = file.split('-').next().unwrap_or(file);
    piwheels_db::canonicalize_name(stem)
}

/// Waits until something listens on the port.
pub fn wait_for_port(port: u16, limit: Duration) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < limit,
            "nothing listens on port {port} after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `f` every 20 ms until it gives `Some`, or panics after `limit` with `what`.
pub fn wait_until<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A child's environment with pip's own configuration taken away, so that pip sees only
/// the indexes it is given.
pub fn clean_pip_env(cmd: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PIP_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("PIP_CONFIG_FILE", "/dev/null")
        .env("PIP_NO_INPUT", "1")
}

/// A master and its slaves, run as processes, in a temporary directory.
pub struct Farm {
    /// Everything the farm writes.
    pub dir: tempfile::TempDir,
    /// The web output.
    pub output: PathBuf,
    /// The master's slave port.
    pub slave_port: u16,
    /// The master's file port.
    pub file_port: u16,
    /// The embedded web server's port.
    pub web_port: u16,
    /// `ipc://…` of the admin tools' socket.
    pub import_queue: String,
    master: Option<Child>,
    /// How the master is started (for a restart).
    master_cmd: Vec<std::ffi::OsString>,
    /// A command the master runs under (its arguments, then the master's path and options).
    master_wrapper: Vec<String>,
    /// Running slaves.
    pub slaves: Vec<Child>,
    slave_count: usize,
    /// More options for the slaves started from now on (such as `--key`).
    pub slave_args: Vec<String>,
}

/// The path of one of the workspace's binaries, built for these tests.
pub fn bin(name: &str) -> PathBuf {
    let exe = match name {
        "piw-master" => env!("CARGO_BIN_EXE_piw-master"),
        "piw-slave" => env!("CARGO_BIN_EXE_piw-slave"),
        "piw-add" => env!("CARGO_BIN_EXE_piw-add"),
        "piw-logger" => env!("CARGO_BIN_EXE_piw-logger"),
        "piw-monitor" => env!("CARGO_BIN_EXE_piw-monitor"),
        _ => panic!("no binary {name}"),
    };
    PathBuf::from(exe)
}

impl Farm {
    /// Starts a master on a new SQLite database that builds for this machine's CPython
    /// target and hands slaves `build_index` for `pip wheel`.
    pub fn start(build_index: &str, extra_args: &[&str]) -> Farm {
        Farm::start_under(build_index, extra_args, &[], |_| {})
    }

    /// As [`Farm::start`], with the master run as the last argument of `wrapper` (a command
    /// that runs the rest of its arguments, `{farm}` in them standing for the farm's folder;
    /// none: the master itself), after `prepare` has seen the farm's folder.
    pub fn start_under(
        build_index: &str,
        extra_args: &[&str],
        wrapper: &[&str],
        prepare: impl FnOnce(&Path),
    ) -> Farm {
        let dir = tempfile::Builder::new()
            .prefix("piw-farm")
            .tempdir()
            .unwrap();
        // Slaves building as an unprivileged user need to reach their build dirs.
        fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let output = dir.path().join("www");
        let (slave_port, file_port, web_port) = (free_port(), free_port(), free_port());
        let base = dir.path().to_owned();
        let ipc = move |name: &str| format!("ipc://{}/{name}", base.display());
        let import_queue = ipc("import");
        let mut farm = Farm {
            output,
            slave_port,
            file_port,
            web_port,
            import_queue,
            master: None,
            master_cmd: Vec::new(),
            master_wrapper: Vec::new(),
            slaves: Vec::new(),
            slave_count: 0,
            slave_args: Vec::new(),
            dir,
        };
        let target = python_target();
        let mut cmd = Command::new(bin("piw-master"));
        cmd.arg("--dsn")
            .arg(format!(
                "sqlite:{}",
                farm.dir.path().join("piwheels.db").display()
            ))
            .arg("--output-path")
            .arg(&farm.output)
            .args(["--slave-queue", &format!("tcp://127.0.0.1:{slave_port}")])
            .args(["--file-queue", &format!("tcp://127.0.0.1:{file_port}")])
            .args(["--import-queue", &farm.import_queue])
            .args(["--status-queue", &ipc("status")])
            .args(["--control-queue", &ipc("control")])
            .args(["--log-queue", &ipc("logger")])
            .args(["--web-listen", &format!("127.0.0.1:{web_port}")])
            .args(["--pypi-simple", build_index])
            .args(["--build-index", build_index])
            .args(["--target", &target])
            .args(["--dev-mode", "-v"])
            .args(extra_args);
        farm.master_cmd = cmd.get_args().map(ToOwned::to_owned).collect();
        let folder = farm.dir.path().to_str().unwrap().to_owned();
        farm.master_wrapper = wrapper
            .iter()
            .map(|w| w.replace("{farm}", &folder))
            .collect();
        prepare(farm.dir.path());
        farm.spawn_master();
        farm
    }

    /// Starts the master (its log appended to `master.log`) and waits for its web server.
    fn spawn_master(&mut self) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("master.log"))
            .unwrap();
        let mut cmd = match &self.master_wrapper[..] {
            [] => Command::new(bin("piw-master")),
            [first, rest @ ..] => {
                let mut cmd = Command::new(first);
                cmd.args(rest).arg(bin("piw-master"));
                cmd
            }
        };
        cmd.args(&self.master_cmd)
            .env("HOME", self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        self.master = Some(cmd.spawn().unwrap());
        wait_for_port(self.web_port, Duration::from_secs(30));
    }

    /// Kills the master (SIGKILL, as a crash) and starts it again on the same database,
    /// output and ports.
    pub fn restart_master(&mut self) {
        if let Some(mut m) = self.master.take() {
            let _ = m.kill();
            let _ = m.wait();
        }
        self.spawn_master();
    }

    /// Starts one more slave.
    pub fn start_slave(&mut self) -> usize {
        let build_dir = self
            .dir
            .path()
            .join(format!("build{}", self.slave_count + 1));
        self.start_slave_in(&[], &build_dir)
    }

    /// Starts one more slave as the last argument of `wrapper` (a command that runs the
    /// rest of its arguments, such as `setpriv --nnp`; none: the slave itself), building in
    /// `build_dir`.
    pub fn start_slave_in(&mut self, wrapper: &[&str], build_dir: &Path) -> usize {
        self.slave_count += 1;
        let n = self.slave_count;
        fs::create_dir_all(build_dir).unwrap();
        fs::set_permissions(
            build_dir,
            std::os::unix::fs::PermissionsExt::from_mode(0o1777),
        )
        .unwrap();
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("slave{n}.log")))
            .unwrap();
        let mut cmd = match wrapper {
            [] => Command::new(bin("piw-slave")),
            [first, rest @ ..] => {
                let mut cmd = Command::new(first);
                cmd.args(rest).arg(bin("piw-slave"));
                cmd
            }
        };
        cmd.args(["-m", "127.0.0.1"])
            .args(["--slave-port", &self.slave_port.to_string()])
            .args(["--file-port", &self.file_port.to_string()])
            .arg("--dir")
            .arg(build_dir)
            .args(["--label", &format!("test-slave-{n}")])
            .args(["--python", PYTHON, "-v"])
            .args(&self.slave_args)
            .env("HOME", self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if is_root() {
            cmd.args(["--run-as", "nobody"]);
        }
        clean_pip_env(&mut cmd);
        self.slaves.push(cmd.spawn().unwrap());
        self.slaves.len() - 1
    }

    /// Registers a package version with `piw-add`, as an operator would.
    pub fn add(&self, package: &str, version: &str) {
        let out = output_within(
            Command::new(bin("piw-add")).args([
                "--import-queue",
                &self.import_queue,
                "-y",
                package,
                version,
            ]),
            b"",
            Duration::from_secs(120),
            "piw-add",
        );
        assert!(
            out.status.success(),
            "piw-add {package} {version}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The wheels published for a package.
    pub fn wheels(&self, package: &str) -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = fs::read_dir(self.output.join("simple").join(package))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "whl"))
                    .collect()
            })
            .unwrap_or_default();
        found.sort();
        found
    }

    /// Waits until a wheel of `package` is published and its simple page links it.
    pub fn wait_for_wheel(&self, package: &str, limit: Duration) -> PathBuf {
        wait_until(limit, &format!("a published wheel of {package}"), || {
            let wheel = self.wheels(package).into_iter().next()?;
            let name = wheel.file_name()?.to_str()?.to_owned();
            let page = http_get(self.web_port, &format!("/simple/{package}/")).ok()?;
            page.contains(&name).then_some(wheel)
        })
    }

    /// The embedded web server's simple index URL.
    pub fn index_url(&self) -> String {
        format!("http://127.0.0.1:{}/simple", self.web_port)
    }

    /// The master's process id.
    pub fn master_pid(&self) -> u32 {
        self.master.as_ref().unwrap().id()
    }

    /// Kills slave `i` at once (SIGKILL).
    pub fn kill_slave(&mut self, i: usize) {
        let _ = self.slaves[i].kill();
        let _ = self.slaves[i].wait();
    }

    /// The logs of every process, for a failed test's output.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        let mut names: Vec<_> = fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .collect();
        names.sort();
        for p in names {
            out += &format!("===== {} =====\n", p.display());
            out += &fs::read_to_string(&p).unwrap_or_default();
        }
        out
    }
}

impl Drop for Farm {
    fn drop(&mut self) {
        for s in &mut self.slaves {
            let _ = s.kill();
            let _ = s.wait();
        }
        if let Some(mut m) = self.master.take() {
            // SIGTERM first: the master shuts down cleanly.
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(m.id() as i32, libc::SIGTERM) };
            let start = Instant::now();
            while m.try_wait().ok().flatten().is_none() && start.elapsed() < Duration::from_secs(10)
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = m.kill();
            let _ = m.wait();
        }
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
    }
}

/// This machine's CPython build target as `ABI/PLATFORM` (such as `cp311/linux_x86_64`),
/// from the interpreter builds use.
pub fn python_target() -> String {
    let out = output_within(
        Command::new(PYTHON).args([
            "-c",
            "import sys, sysconfig; print('cp%d%d/%s' % (sys.version_info[0], sys.version_info[1], \
             sysconfig.get_platform().replace('-', '_').replace('.', '_')))",
        ]),
        b"",
        Duration::from_secs(60),
        "python3's build target",
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A plain HTTP/1.0 GET on 127.0.0.1: the body if the status is 200.
pub fn http_get(port: u16, path: &str) -> Result<String, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP header")?;
    if head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200") {
        Ok(body.to_owned())
    } else {
        Err(head.lines().next().unwrap_or("").to_owned())
    }
}

/// Installs `packages` from `index` into a fresh venv with pip (nothing else reachable)
/// and runs `check` there; panics with pip's output if anything fails.
pub fn pip_install_and_run(dir: &Path, index: &str, packages: &[&str], check: &str) {
    let venv = dir.join("venv");
    let out = output_within(
        Command::new(PYTHON).args(["-m", "venv"]).arg(&venv),
        b"",
        Duration::from_secs(300),
        "python3 -m venv",
    );
    assert!(
        out.status.success(),
        "python3 -m venv failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut cmd = Command::new(venv.join("bin/pip"));
    clean_pip_env(&mut cmd)
        .args([
            "install",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--index-url",
            index,
        ])
        .args(packages);
    let out = output_within(&mut cmd, b"", Duration::from_secs(600), "pip install");
    assert!(
        out.status.success(),
        "pip install {packages:?} from {index}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = output_within(
        Command::new(venv.join("bin/python")).args(["-c", check]),
        b"",
        Duration::from_secs(120),
        "the installed package's check",
    );
    assert!(
        out.status.success(),
        "{check}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
