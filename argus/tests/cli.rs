//! The command line: `check-config` accepts the shipped example and refuses a typo, naming it.

use std::process::Command;

fn argus() -> Command {
    Command::new(env!("CARGO_BIN_EXE_argus"))
}

#[test]
fn check_config_accepts_the_example() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/argus.example.yaml");
    let output = argus().args(["check-config", example]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains("listen: 0.0.0.0:9797"), "{printed}");
}

#[test]
fn check_config_names_an_unknown_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wrongkey.yaml");
    std::fs::write(&path, "storage:\n  tsdb:\n    shards: 2\n    retention: 15d\n").unwrap();
    let output = argus().arg("check-config").arg(&path).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("retention"), "{stderr}");
}
