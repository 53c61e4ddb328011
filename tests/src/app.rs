//! `Argus`: one `argus server` process on a loopback port picked at run time, with its data
//! directory and captured log.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// Path of the `argus` binary: `$ARGUS_BIN`, or the one cargo built beside this test binary.
pub fn argus_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("ARGUS_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> → target/<profile>/argus
    let path = exe.parent().and_then(Path::parent).expect("target dir").join("argus");
    assert!(
        path.is_file(),
        "{} not found: run the tests with `cargo test --workspace`, which builds it",
        path.display()
    );
    path
}

pub struct Argus {
    child: Child,
    pub addr: String,
    pub data_dir: PathBuf,
    log: Arc<Mutex<String>>,
}

impl Argus {
    /// Starts a server on `data_dir` and waits until it accepts requests.
    pub fn start(data_dir: &Path) -> Argus {
        Self::start_with(data_dir, &[])
    }

    pub fn start_with(data_dir: &Path, extra_args: &[&str]) -> Argus {
        Self::start_on(data_dir, "127.0.0.1:0", extra_args)
    }

    /// Starts a server listening on `listen` (e.g. the address of a server that was stopped).
    pub fn start_on(data_dir: &Path, listen: &str, extra_args: &[&str]) -> Argus {
        let mut child = Command::new(argus_bin())
            .args(["server", "--listen", listen, "--data-dir"])
            .arg(data_dir)
            .args(extra_args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning argus");
        let log = Arc::new(Mutex::new(String::new()));
        let (ready_tx, ready_rx) = mpsc::channel();
        let stderr = child.stderr.take().expect("piped stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("argus is ready")
                    && let Some(addr) = field(&line, "address=")
                {
                    let _ = ready_tx.send(addr);
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let addr = match ready_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!("argus did not become ready; log:\n{}", log.lock().unwrap());
            }
        };
        Argus { child, addr, data_dir: data_dir.to_path_buf(), log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(mut self) {
        self.child.kill().expect("sending SIGKILL");
        self.child.wait().expect("reaping argus");
    }

    /// SIGTERM, then waits for a clean exit and returns whether it exited with success.
    pub fn terminate(mut self) -> bool {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) with a pid we own and a valid signal number has no memory effects.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        self.child.wait().expect("reaping argus").success()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("polling argus").is_none()
    }
}

impl Drop for Argus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of a `key=value` field in a log line.
fn field(line: &str, key: &str) -> Option<String> {
    let start = line.find(key)? + key.len();
    let value = line[start..].split_whitespace().next()?;
    Some(value.trim_matches('"').to_string())
}
