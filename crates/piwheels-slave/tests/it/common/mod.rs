//! Helpers shared by the slave's integration tests: skips, sdists and wheels made on the
//! spot, a local PEP 503 index served over HTTP on 127.0.0.1.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sha2::{Digest, Sha256};

pub use test_support::process;
pub use test_support::{is_root, skip};

/// The interpreter builds use: the system's (readable by `nobody` when the tests run as
/// root), or `python3` from `PATH`.
pub fn python() -> String {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3".into()
    } else {
        "python3".into()
    }
}

/// The directory holding setuptools and wheel wheels (see
/// [`test_support::setup::build_deps`]), fetched with [`python`].
pub fn build_deps() -> Result<PathBuf, String> {
    test_support::setup::build_deps(Some(Path::new(&python())))
}

/// A directory everyone may use (for build dirs when builds run as `nobody`).
pub fn open_tempdir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("piw-slave-test-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    // Every directory above must be searchable too.
    let mut p = dir.path().parent();
    while let Some(d) = p {
        if let Ok(m) = std::fs::metadata(d) {
            let mode = m.permissions().mode();
            if mode & 0o001 == 0 {
                let _ = std::fs::set_permissions(d, std::fs::Permissions::from_mode(mode | 0o011));
            }
        }
        p = d.parent();
    }
    dir
}

/// An sdist `<name>-<version>.tar.gz` in `dir` with `files` (relative path, text) under
/// `<name>-<version>/`, plus a `pyproject.toml` asking for setuptools and a `PKG-INFO`.
pub fn make_sdist(dir: &Path, name: &str, version: &str, files: &[(&str, &str)]) -> PathBuf {
    let base = format!("{name}-{version}");
    let path = dir.join(format!("{base}.tar.gz"));
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    let pyproject =
        "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n";
    let pkg_info = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n");
    let mut all: Vec<(&str, &str)> = vec![("pyproject.toml", pyproject), ("PKG-INFO", &pkg_info)];
    all.extend_from_slice(files);
    for (rel, text) in all {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(1_700_000_000);
        header.set_cksum();
        tar.append_data(&mut header, format!("{base}/{rel}"), text.as_bytes())
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
    path
}

/// PEP 503's canonical name.
pub fn canonical(name: &str) -> String {
    piwheels_slave::wheel::canonicalize_name(name)
}

/// A PEP 503 index in `root/simple/` of the distribution files given (grouped by the
/// project name before the first `-` of the file name).
pub fn make_index(root: &Path, files: &[PathBuf]) {
    let simple = root.join("simple");
    let store = root.join("files");
    std::fs::create_dir_all(&store).unwrap();
    let mut projects: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        std::fs::copy(f, store.join(&name)).unwrap();
        let project = match name.strip_suffix(".tar.gz") {
            Some(stem) => canonical(stem.rsplit_once('-').unwrap().0),
            None => canonical(name.split('-').next().unwrap()),
        };
        projects.entry(project).or_default().push(name);
    }
    std::fs::create_dir_all(&simple).unwrap();
    let mut root_page = String::from("<!DOCTYPE html><html><body>\n");
    for (project, names) in &projects {
        root_page.push_str(&format!("<a href=\"{project}/\">{project}</a>\n"));
        let mut page = String::from("<!DOCTYPE html><html><body>\n");
        for n in names {
            let hash = hex::encode(Sha256::digest(std::fs::read(store.join(n)).unwrap()));
            page.push_str(&format!(
                "<a href=\"../../files/{n}#sha256={hash}\">{n}</a>\n"
            ));
        }
        page.push_str("</body></html>\n");
        std::fs::create_dir_all(simple.join(project)).unwrap();
        std::fs::write(simple.join(project).join("index.html"), page).unwrap();
    }
    root_page.push_str("</body></html>\n");
    std::fs::write(simple.join("index.html"), root_page).unwrap();
}

/// Serves `root` over HTTP on 127.0.0.1 (a directory path serves its `index.html`);
/// returns the base URL. The server thread lives as long as the test process.
pub fn serve(root: &Path) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let root = root.to_path_buf();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = root.clone();
            std::thread::spawn(move || {
                let _ = answer(stream, &root);
            });
        }
    });
    format!("http://127.0.0.1:{port}")
}

fn answer(stream: TcpStream, root: &Path) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request)? == 0 {
            return Ok(());
        }
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
                break;
            }
        }
        let mut parts = request.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
        let path = target.split(['?', '#']).next().unwrap_or("/");
        let safe = !path.split('/').any(|c| c == "..");
        let mut file = root.join(path.trim_start_matches('/'));
        if file.is_dir() {
            file = file.join("index.html");
        }
        let body = if safe {
            std::fs::read(&file).ok()
        } else {
            None
        };
        let head_only = method == "HEAD";
        match body {
            Some(body) => {
                let kind = if file.extension().is_some_and(|e| e == "html") {
                    "text/html"
                } else {
                    "application/octet-stream"
                };
                write!(
                    out,
                    "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )?;
                if !head_only {
                    out.write_all(&body)?;
                }
            }
            None => {
                write!(out, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")?;
            }
        }
        out.flush()?;
    }
}

/// A local index holding `sdists` and the build dependencies, served; its `/simple` URL.
/// `Err` with the reason to skip when the build dependencies cannot be had.
pub fn index_with(root: &Path, sdists: &[PathBuf]) -> Result<String, String> {
    let deps = build_deps()?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&deps)
        .map_err(|e| format!("{}: {e}", deps.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "whl"))
        .collect();
    if !files
        .iter()
        .any(|f| f.to_string_lossy().contains("setuptools-"))
    {
        return Err(format!("no setuptools wheel in {}", deps.display()));
    }
    files.extend_from_slice(sdists);
    make_index(root, &files);
    Ok(format!("{}/simple", serve(root)))
}

/// A wheel file (zip) at `dir/filename` with `members` (name, bytes).
pub fn make_wheel(dir: &Path, filename: &str, members: &[(&str, &[u8])]) -> PathBuf {
    let path = dir.join(filename);
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    for (name, data) in members {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap();
    path
}

/// Compiles a shared library from C `source` with `cc -shared`, linking `libs`; `Err`
/// with a reason to skip if there is no compiler (or library to link).
pub fn compile_so(dir: &Path, name: &str, source: &str, libs: &[&str]) -> Result<PathBuf, String> {
    let c = dir.join(format!("{name}.c"));
    std::fs::write(&c, source).unwrap();
    let out = dir.join(name);
    let mut cmd = Command::new("cc");
    cmd.args(["-shared", "-fPIC", "-Wl,--no-as-needed"])
        .arg(format!("-Wl,-soname,{name}"))
        .arg("-o")
        .arg(&out)
        .arg(&c);
    for l in libs {
        cmd.arg(format!("-l{l}"));
    }
    let result = process::try_output_within(&mut cmd, b"", Duration::from_secs(120), "cc")
        .map_err(|e| format!("no C compiler (cc): {e}"))?;
    if !result.status.success() {
        return Err(format!(
            "cc failed: {}",
            String::from_utf8_lossy(&result.stderr).trim()
        ));
    }
    Ok(out)
}

/// The Debian package that owns `path` per `dpkg -S`, if dpkg is there.
pub fn dpkg_owner(path: &str) -> Option<String> {
    let out = process::try_output_within(
        Command::new("dpkg").args(["-S", path]),
        b"",
        Duration::from_secs(60),
        "dpkg -S",
    )
    .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let pkg = text.lines().next()?.split(':').next()?.trim().to_owned();
    Some(pkg)
}

/// Makes a directory usable by everyone (sticky, like /tmp), for builds as `nobody`.
pub fn open_dir(dir: &Path) {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
}
