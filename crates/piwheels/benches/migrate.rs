//! `piw-migrate` at piwheels.org's size (issue 20): a generated 0.23 database of PyPI size
//! (500,000 packages, 5 M versions, 1 M builds, 1.25 M files, 10 M downloads and the other
//! access logs) is migrated to SQLite and to PostgreSQL by the release binary, each run
//! timed with its peak resident memory and rows per second. The floor, in the same run,
//! is reading every source row once (`COPY ... TO STDOUT`, discarded): no migration can
//! be faster than reading its source.
//!
//! ```text
//! cargo bench -p piwheels --bench migrate [-- --fraction F] [--source DSN] [--keep]
//!     [--backends sqlite,postgres]
//! ```
//!
//! `--fraction 0.1` generates a tenth of the size; `--source DSN` reuses a generated source
//! (`--keep` leaves the generated one, and prints its address).

#[path = "../tests/it/migrate_source/mod.rs"]
mod migrate_source;

use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::Instant;

use futures_util::StreamExt;
use migrate_source::Scale;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

/// The scale: PyPI's, times `fraction`.
fn scale(fraction: f64) -> Scale {
    let p = Scale::pypi();
    let f = |n: u64| ((n as f64 * fraction) as u64).max(1);
    Scale {
        seed: p.seed,
        packages: f(p.packages).max(60),
        versions: f(p.versions).max(200),
        builds: f(p.builds).max(150),
        files: f(p.files).max(240),
        downloads: f(p.downloads).max(500),
        searches: f(p.searches).max(100),
        project_page_hits: f(p.project_page_hits).max(80),
        project_json_downloads: f(p.project_json_downloads).max(60),
        web_page_hits: f(p.web_page_hits).max(50),
    }
}

/// Runs the release `piw-migrate`: (seconds, peak RSS in MiB, its standard output).
fn run_migrate(args: &[&str]) -> (f64, f64, String) {
    let start = Instant::now();
    // Reaped below by wait4, which also gives its resource usage.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(env!("CARGO_BIN_EXE_piw-migrate"))
        .args(args)
        .arg("-y")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("piw-migrate runs");
    let pid = child.id() as libc::pid_t;
    let mut stdout = child.stdout.expect("a pipe");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).ok();
        s
    });
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our child, and status and usage point to live values.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
    let secs = start.elapsed().as_secs_f64();
    let out = reader.join().unwrap_or_default();
    let status = std::process::ExitStatus::from_raw(status);
    assert!(status.success(), "piw-migrate failed ({status}):\n{out}");
    (secs, usage.ru_maxrss as f64 / 1024.0, out)
}

#[tokio::main]
async fn main() {
    let fraction: f64 = arg("--fraction")
        .and_then(|f| f.parse().ok())
        .unwrap_or(1.0);
    let backends = arg("--backends").unwrap_or_else(|| "sqlite,postgres".into());
    let super_dsn =
        test_support::setup::pg_superuser().expect("a PostgreSQL server (scripts/pg-env)");

    let mut guard = None;
    let source = match arg("--source") {
        Some(dsn) => dsn,
        None => {
            let scale = scale(fraction);
            println!("generating a 0.23 database: {scale:?}");
            let (dsn, g) = migrate_source::create(&super_dsn)
                .await
                .expect("a fixture database");
            let client = migrate_source::connect(&dsn).await.expect("a connection");
            let start = Instant::now();
            let exp = migrate_source::generate(&client, &scale)
                .await
                .expect("the fixture");
            let rows: u64 = exp.rows.values().sum();
            println!(
                "generated {rows} rows in {:.0} s",
                start.elapsed().as_secs_f64()
            );
            if flag("--keep") {
                println!("kept the source: {dsn}");
                std::mem::forget(g);
            } else {
                guard = Some(g);
            }
            dsn
        }
    };

    // The floor: every source row read once.
    let client = migrate_source::connect(&source)
        .await
        .expect("a connection");
    let start = Instant::now();
    let mut rows = 0u64;
    for table in migrate_source::TABLES {
        let n: i64 = client
            .query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])
            .await
            .expect("a count")
            .get(0);
        rows += n as u64;
        let stream = client
            .copy_out(&format!("COPY {table} TO STDOUT (FORMAT binary)"))
            .await
            .expect("COPY TO");
        futures_util::pin_mut!(stream);
        while let Some(chunk) = stream.next().await {
            chunk.expect("a chunk");
        }
    }
    let floor = start.elapsed().as_secs_f64();
    println!();
    println!("| run | rows | seconds | rows/s | peak RSS (MiB) | time / floor |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| floor: read every source row (COPY TO STDOUT) | {rows} | {floor:.1} | {:.0} | - | 1.00 |",
        rows as f64 / floor
    );

    let dir = tempfile::tempdir().expect("a temporary directory");
    for backend in backends.split(',') {
        let (target, pg_name) = match backend {
            "sqlite" => (
                format!("sqlite:{}", dir.path().join("piwheels.db").display()),
                None,
            ),
            "postgres" => {
                let (name, guard) = migrate_source::empty_target(&super_dsn)
                    .await
                    .expect("a target database");
                (format!("{super_dsn} dbname={name}"), Some((name, guard)))
            }
            other => panic!("unknown backend {other:?}"),
        };
        let user = pg_name
            .as_ref()
            .map_or_else(|| "piwheels".to_owned(), |(name, _)| name.clone());
        let (secs, rss, out) = run_migrate(&[
            "--source",
            &source,
            "-d",
            &target,
            "--platform",
            "linux_armv7l",
            "-u",
            &user,
            "-q",
        ]);
        let last = out.lines().last().unwrap_or_default().to_owned();
        println!(
            "| piw-migrate to {backend} | {rows} | {secs:.1} | {:.0} | {rss:.0} | {:.2} |",
            rows as f64 / secs,
            secs / floor
        );
        for line in out
            .lines()
            .filter(|l| l.starts_with("copied ") || l.starts_with("rebuilt "))
        {
            eprintln!("{backend}: {line}");
        }
        eprintln!("{backend}: {last}");
        drop(pg_name);
    }
    drop(guard);
}
