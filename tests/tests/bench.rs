//! `argus bench` against a real server: a small workload is written, acknowledged and verified
//! exactly, and the verifier fails (naming what is missing) when the target lacks samples.

use std::process::Command;

use argus_tests::app::{Argus, argus_bin};

fn bench(args: &[&str]) -> std::process::Output {
    Command::new(argus_bin()).arg("bench").args(args).output().expect("running argus bench")
}

#[test]
fn write_then_verify_exactly_and_fail_on_missing_samples() {
    let dir = tempfile::tempdir().unwrap();
    let argus = Argus::start(dir.path());
    let url = argus.url("");
    let json = dir.path().join("write.json");
    let workload =
        ["--series", "500", "--samples-per-series", "40", "--interval", "15s", "--end", "1700000000"];
    let mut args = vec!["write", "--url", &url, "--batch", "700", "--concurrency", "3", "--verify"];
    args.extend(workload);
    args.extend(["--json", json.to_str().unwrap()]);
    let output = bench(&args);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["samples"], 20_000);
    assert_eq!(report["verify"]["ok"], true, "{report}");
    assert_eq!(report["verify"]["found_samples"], 20_000);
    assert!(report["samples_per_second"].as_f64().unwrap() > 0.0);

    // The same workload one step longer: 500 samples the target never got.
    let longer =
        ["--series", "500", "--samples-per-series", "41", "--interval", "15s", "--end", "1700000015"];
    let mut args = vec!["verify", "--url", &url];
    args.extend(longer);
    let output = bench(&args);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "verify must fail when samples are missing:\n{stdout}");
    assert!(stdout.contains("missing samples       500"), "{stdout}");
}
