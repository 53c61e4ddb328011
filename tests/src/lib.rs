//! The end-to-end test harness: start the real `argus` binary (and real Prometheus) as
//! processes on loopback ports chosen at run time, talk to them over HTTP, kill them.
//!
//! Tests live in `tests/tests/*.rs`, named for what they prove.

pub mod app;
pub mod client;
pub mod loki;
pub mod prometheus;

/// Whether this run is CI, where a missing external tool is a failure, not a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Finds an external tool on PATH. Outside CI a missing tool skips the test (returns `None`,
/// after saying so); under `CI=true` it fails the test.
pub fn require_tool(name: &str) -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|path| path.is_file());
    if found.is_none() {
        assert!(!in_ci(), "{name} is required under CI=true but is not on PATH (.ci/run installs it)");
        eprintln!("SKIPPED: {name} is not installed (apt-get install {name})");
    }
    found
}
