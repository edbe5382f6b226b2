//! Debian's nginx, started by the bench in the foreground on a spare port with a config of
//! its own (pid, logs and temporary files in a temporary directory), serving the output
//! directory as the embedded server does; stopped when dropped.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running nginx.
pub struct Nginx {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// Where the nginx binary is, if installed.
pub fn find() -> Option<std::path::PathBuf> {
    ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.is_file())
}

/// A port nothing listens on now.
fn spare_port() -> std::io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// Its config: two workers, sendfile, keep-alive, no access log (the embedded server in the
/// bench logs nothing either), `404.html` for what is missing, gzip when `gzip`.
fn config(dir: &Path, root: &Path, addr: SocketAddr, gzip: bool) -> String {
    let d = dir.display();
    let user = if rustix::process::geteuid().is_root() {
        // Workers would drop to `nobody`, who cannot read the temporary directory.
        "user root;\n"
    } else {
        ""
    };
    let gzip = if gzip {
        "gzip on; gzip_types application/json application/vnd.pypi.simple.v1+json;\n"
    } else {
        ""
    };
    format!(
        "{user}daemon off;\nmaster_process on;\nworker_processes 2;\npid {d}/nginx.pid;\n\
         error_log {d}/error.log warn;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n\
           types {{ text/html html; application/json json; application/octet-stream whl; \
                    text/plain metadata; }}\n\
           default_type application/octet-stream;\n\
           access_log off;\n\
           sendfile on; tcp_nopush on; tcp_nodelay on;\n\
           keepalive_timeout 65; keepalive_requests 1000000;\n\
           client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n\
           fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
           {gzip}\
           server {{\n\
             listen {addr} backlog=4096;\n\
             root {root};\n\
             index index.html index.json;\n\
             error_page 404 /404.html;\n\
           }}\n\
         }}\n",
        root = root.display()
    )
}

impl Nginx {
    /// Starts `binary` over `root`, its files in `dir`; waits (up to 10 s) until it
    /// accepts connections.
    pub fn start(binary: &Path, dir: &Path, root: &Path, gzip: bool) -> Result<Nginx, String> {
        let addr = spare_port().map_err(|e| format!("no spare port: {e}"))?;
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, config(dir, root, addr, gzip))
            .map_err(|e| format!("writing {}: {e}", conf.display()))?;
        let child = Command::new(binary)
            .arg("-p")
            .arg(dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", binary.display()))?;
        let mut nginx = Nginx { child, addr };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if TcpStream::connect(addr).is_ok() {
                return Ok(nginx);
            }
            if let Ok(Some(status)) = nginx.child.try_wait() {
                let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
                return Err(format!("nginx exited ({status}): {log}"));
            }
            if Instant::now() > deadline {
                return Err(format!("nginx did not listen on {addr} within 10 s"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM: the master stops its workers (SIGKILL would leave them running).
        if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
