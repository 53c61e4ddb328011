//! `Prometheus`: the real Prometheus server (Debian package `prometheus`) as a remote-write
//! client and a reference, on a loopback port picked at run time.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::client::client;

pub struct Prometheus {
    child: Child,
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts `binary` with the given config (`{{LISTEN}}` in it is replaced by its own
    /// address) and waits until `/-/ready` answers.
    pub fn start(binary: &Path, config: &str) -> Prometheus {
        Self::start_with_args(binary, config, &[])
    }

    /// As `start`, with extra command-line flags (e.g. `--web.enable-remote-write-receiver`).
    pub fn start_with_args(binary: &Path, config: &str, extra_args: &[&str]) -> Prometheus {
        let dir = tempfile::tempdir().expect("prometheus temp dir");
        let addr = free_loopback_addr();
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config.replace("{{LISTEN}}", &addr)).expect("writing prometheus config");
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("prometheus log file");
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            .args(extra_args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawning prometheus");
        let prometheus = Prometheus { child, addr, _dir: dir };
        prometheus.wait_ready();
        prometheus
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Prometheus's own log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("prometheus.log")).unwrap_or_default()
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if client().get(self.url("/-/ready")).send().is_ok_and(|r| r.status().is_success()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("prometheus did not become ready; log:\n{}", self.log());
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback address with a port that was free a moment ago (for programs that cannot
/// report the port they bound themselves).
pub fn free_loopback_addr() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    listener.local_addr().expect("local address").to_string()
}
