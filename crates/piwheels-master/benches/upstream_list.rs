//! The memory and time of fetching a PyPI-sized project list (issue 16, item 5): the list
//! read whole into a string and parsed into a `serde_json::Value` (as the client did
//! before), next to the list parsed as it arrives (`IndexClient::projects` now), for the
//! PEP 691 JSON list and the PEP 503 HTML one.
//!
//! The list is generated on the fly by a small HTTP server on 127.0.0.1 in this process;
//! each measurement runs in a child process of its own (this program again), whose peak
//! RSS (`VmHWM`) is the figure, next to a child that fetches a one-project list (the
//! baseline: the runtime, the client, the libraries).
//!
//! ```text
//! cargo bench -p piwheels-master --bench upstream_list
//! PIWHEELS_BENCH_PROJECTS=20000 cargo bench -p piwheels-master --bench upstream_list
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use piwheels_master::upstream::{
    ACCEPT, Fetched, IndexClient, ProjectEntry, ProjectList, parse_project_list_html,
};
use serde_json::Value;

const SIMPLE_JSON: &str = "application/vnd.pypi.simple.v1+json";

/// Project `i`'s name: a few words of a small vocabulary, and a number (PyPI's names
/// average about 15 characters).
fn name(i: usize) -> String {
    const WORDS: [&str; 8] = [
        "py", "django", "flask", "data", "tools", "api", "client", "x",
    ];
    let h = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
    format!(
        "{}-{}-{}",
        WORDS[(h & 7) as usize],
        WORDS[((h >> 3) & 7) as usize],
        i
    )
}

/// Serves `/json/` (PEP 691) and `/html/` (PEP 503) lists of `projects` projects, made
/// as they are written.
fn serve(projects: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || answer(conn, projects));
        }
    });
    format!("http://{addr}")
}

fn answer(mut conn: TcpStream, projects: usize) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    let _ = reader.read_line(&mut line);
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let html = path.starts_with("/html");
    let n = if path.contains("one") { 1 } else { projects };
    let ctype = if html { "text/html" } else { SIMPLE_JSON };
    let mut out = format!("HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nConnection: close\r\n\r\n");
    out.push_str(if html {
        "<!DOCTYPE html><html><body>\n"
    } else {
        "{\"meta\":{\"api-version\":\"1.1\",\"_last-serial\":99999999},\"projects\":["
    });
    for i in 0..n {
        let name = name(i);
        if html {
            out.push_str(&format!("<a href=\"/simple/{name}/\">{name}</a>\n"));
        } else {
            let comma = if i + 1 < n { "," } else { "" };
            out.push_str(&format!(
                "{{\"name\":\"{name}\",\"_last-serial\":{}}}{comma}",
                20_000_000 + i
            ));
        }
        if out.len() > 1 << 16 {
            if conn.write_all(out.as_bytes()).is_err() {
                return;
            }
            out.clear();
        }
    }
    out.push_str(if html { "</body></html>\n" } else { "]}" });
    let _ = conn.write_all(out.as_bytes());
}

/// The peak RSS of this process, in KiB.
fn peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The client before: the whole answer in a string, then a `serde_json::Value` of it (or
/// the HTML parsed whole), then the list.
fn fetch_whole(url: &str) -> ProjectList {
    let resp = ureq::get(url).set("Accept", ACCEPT).call().unwrap();
    let json = resp.content_type() == SIMPLE_JSON;
    let mut bytes = Vec::new();
    resp.into_reader()
        .take((512 << 20) + 1)
        .read_to_end(&mut bytes)
        .unwrap();
    let text = String::from_utf8(bytes).unwrap();
    if !json {
        return parse_project_list_html(&text);
    }
    let doc: Value = serde_json::from_str(&text).unwrap();
    let projects = doc["projects"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| {
            let name = p.get("name")?.as_str()?.trim();
            (!name.is_empty()).then(|| ProjectEntry {
                name: name.to_owned(),
                last_serial: p.get("_last-serial").and_then(Value::as_i64),
            })
        })
        .collect();
    ProjectList {
        projects,
        last_serial: doc.pointer("/meta/_last-serial").and_then(Value::as_i64),
    }
}

/// A child's measurement: fetch `url` the `how` way; print the count, peak RSS and time.
fn child(how: &str, url: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let list = match how {
        "whole" => fetch_whole(url),
        _ => {
            let client = IndexClient::new(url, Duration::from_secs(600)).unwrap();
            match runtime.block_on(client.projects(None)).unwrap() {
                Fetched::Changed { value, .. } => value,
                Fetched::Unchanged => panic!("unchanged without an ETag"),
            }
        }
    };
    let secs = started.elapsed().as_secs_f64();
    println!("RESULT {} {} {secs:.3}", list.projects.len(), peak_kib());
}

#[derive(Clone, Copy)]
struct Row {
    count: usize,
    peak_mib: f64,
    secs: f64,
}

fn measure(how: &str, url: &str) -> Row {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args(["--child", how, url])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| {
            panic!(
                "{how} {url}: no result ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let f: Vec<&str> = line.split_whitespace().collect();
    Row {
        count: f[0].parse().unwrap(),
        peak_mib: f[1].parse::<f64>().unwrap() / 1024.0,
        secs: f[2].parse().unwrap(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(&args[i + 1], &args[i + 2]);
        return;
    }
    let projects: usize = std::env::var("PIWHEELS_BENCH_PROJECTS")
        .ok()
        .map(|v| v.parse().expect("PIWHEELS_BENCH_PROJECTS: a number"))
        .unwrap_or(600_000);
    let base = serve(projects);
    println!("the project list of {projects} projects, fetched from 127.0.0.1");
    println!(
        "{:<6} {:<34} {:>9} {:>14} {:>9} {:>8}",
        "format", "how", "projects", "peak RSS MiB", "over base", "time s"
    );
    for format in ["json", "html"] {
        let base_row = measure("streamed", &format!("{base}/{format}/one/"));
        let mut rows = Vec::new();
        for (how, label) in [
            ("streamed", "one project (baseline)"),
            ("whole", "before: read whole, parsed whole"),
            ("streamed", "now: parsed as it arrives"),
        ] {
            let row = if label.starts_with("one") {
                base_row
            } else {
                measure(how, &format!("{base}/{format}/"))
            };
            println!(
                "{format:<6} {label:<34} {:>9} {:>14.1} {:>9.1} {:>8.2}",
                row.count,
                row.peak_mib,
                row.peak_mib - base_row.peak_mib,
                row.secs
            );
            rows.push(row);
        }
        let (before, now) = (&rows[1], &rows[2]);
        assert_eq!(before.count, now.count, "{format}: both read every project");
        println!(
            "{format:<6} now / before: peak RSS {:.2}, over the baseline {:.2}, time {:.2}",
            now.peak_mib / before.peak_mib,
            (now.peak_mib - base_row.peak_mib) / (before.peak_mib - base_row.peak_mib),
            now.secs / before.secs
        );
    }
}
