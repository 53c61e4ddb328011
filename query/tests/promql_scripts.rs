//! Prometheus's PromQL engine test scripts (`promql/promqltest/testdata/*.test`, kept in
//! `../shared/promql-testdata`) run against Argus's engine: every `eval` case of every file,
//! compared as upstream compares. Prints per file and in total `N passed, M failed, K excluded`
//! and the first failures of each file, then asserts that the target files (the
//! non-experimental ones Argus implements) have no more failures than `PROMQL_MAX_FAILURES`.
//!
//! Environment:
//! - `PROMQL_MAX_FAILURES`: allowed failures in the target files (default below);
//! - `PROMQL_FILES=functions,operators`: run only files whose name contains one of these;
//! - `PROMQL_SHOW=N`: failures printed per file (default 5);
//! - `PROMQL_REPORT=path`: write every failure there;
//! - `PROMQL_VARIANTS=0`: skip upstream's range-mode and `@`-modifier re-runs of instant cases.
//!
//! Exclusions are listed in `promql_scripts/exclusions.txt`; native-histogram cases are
//! excluded automatically.

#[path = "promql_scripts/compare.rs"]
mod compare;
#[path = "promql_scripts/exclusions.rs"]
mod exclusions;
#[path = "promql_scripts/native.rs"]
mod native;
#[path = "promql_scripts/runner.rs"]
mod runner;
#[path = "promql_scripts/script.rs"]
mod script;
#[path = "promql_scripts/variants.rs"]
mod variants;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use exclusions::Exclusions;
use runner::{FileReport, Kind, RunOptions, run_file};

const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/promql-testdata");
const EXCLUSIONS: &str = include_str!("promql_scripts/exclusions.txt");

/// Files whose failures count against `PROMQL_MAX_FAILURES`.
const TARGET_FILES: [&str; 12] = [
    "aggregators.test",
    "at_modifier.test",
    "collision.test",
    "functions.test",
    "literals.test",
    "name_label_dropping.test",
    "operators.test",
    "range_queries.test",
    "selectors.test",
    "staleness.test",
    "subquery.test",
    "trig_functions.test",
];

thread_local! {
    /// Set on the threads that run scripts, whose engine panics are caught and reported.
    static QUIET_PANICS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Failures allowed in the target files when `PROMQL_MAX_FAILURES` is not set.
const DEFAULT_MAX_FAILURES: usize = 0;

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

fn script_files(dir: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| {
        panic!(
            "the PromQL test scripts are missing: cannot read {} ({e}); they live in the shared \
             checkout next to the workspace (../shared/promql-testdata)",
            dir.display()
        )
    });
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "test"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .test files in {}", dir.display());
    files
}

fn shorten(text: &str, max: usize) -> String {
    let one_line = text.replace('\n', "\\n");
    if one_line.chars().count() <= max {
        return one_line;
    }
    let cut: String = one_line.chars().take(max).collect();
    format!("{cut}…")
}

fn counts(passed: usize, failed: usize, excluded: usize) -> String {
    format!("{passed} passed, {failed} failed, {excluded} excluded")
}

#[test]
fn promql_test_scripts() {
    let dir = PathBuf::from(TESTDATA);
    let exclusions = Exclusions::parse(EXCLUSIONS).unwrap_or_else(|e| panic!("{e}"));
    let filters: Vec<String> = std::env::var("PROMQL_FILES")
        .map(|v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let show = env_usize("PROMQL_SHOW", 5);
    let max_failures = env_usize("PROMQL_MAX_FAILURES", DEFAULT_MAX_FAILURES);
    let options = RunOptions { variants: env_usize("PROMQL_VARIANTS", 1) != 0 };

    let files: Vec<(String, PathBuf)> = script_files(&dir)
        .into_iter()
        .map(|p| (p.file_name().unwrap_or_default().to_string_lossy().into_owned(), p))
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .collect();
    for listed in exclusions.files() {
        if !files.iter().any(|(name, _)| name == listed) && filters.is_empty() {
            println!("note: exclusions.txt names {listed}, which is not in {}", dir.display());
        }
    }

    // Engine panics are caught and reported as failures; the script threads keep the panic
    // hook from printing each one (other threads, e.g. other tests, still print theirs).
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !QUIET_PANICS.get() {
            previous_hook(info);
        }
    }));
    let started = Instant::now();
    let reports: Vec<(String, FileReport)> = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .iter()
            .map(|(name, path)| {
                let file_exclusions = exclusions.for_file(name);
                let handle = scope.spawn(move || {
                    QUIET_PANICS.set(true);
                    let text = std::fs::read_to_string(path)
                        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
                    run_file(&text, &file_exclusions, options)
                });
                (name.clone(), handle)
            })
            .collect();
        handles
            .into_iter()
            .map(|(name, handle)| {
                let report = handle.join().unwrap_or_else(|payload| {
                    let message = payload
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    FileReport {
                        notes: vec![format!("the runner crashed on this file: {message}")],
                        ..FileReport::default()
                    }
                });
                (name, report)
            })
            .collect()
    });

    let mut out = String::new();
    let mut full = String::new();
    let mut excluded_list = String::new();
    let (mut total, mut target) = ((0, 0, 0), (0, 0, 0));
    let mut kinds: BTreeMap<Kind, usize> = BTreeMap::new();
    let mut error_messages: BTreeMap<String, usize> = BTreeMap::new();
    let mut exclusion_reasons: BTreeMap<String, usize> = BTreeMap::new();
    let (mut unprintable, mut queries) = (0, 0);
    for (name, report) in &reports {
        let (p, f, e) = (report.passed, report.failed(), report.excluded.len());
        let is_target = TARGET_FILES.contains(&name.as_str());
        let _ = writeln!(
            out,
            "{name:<28} {}{}  ({:.1}s, {} queries)",
            counts(p, f, e),
            if is_target { "" } else { "  [not a target file]" },
            report.elapsed.as_secs_f64(),
            report.queries
        );
        total = (total.0 + p, total.1 + f, total.2 + e);
        if is_target {
            target = (target.0 + p, target.1 + f, target.2 + e);
        }
        unprintable += report.unprintable_variants;
        queries += report.queries;
        for note in &report.notes {
            let _ = writeln!(out, "    note: {note}");
        }
        if let Some((d, q)) = &report.slowest
            && d.as_secs_f64() > 1.0
        {
            let _ = writeln!(out, "    slowest query: {:.1}s {}", d.as_secs_f64(), shorten(q, 100));
        }
        for ex in &report.excluded {
            *exclusion_reasons.entry(ex.reason.clone()).or_default() += 1;
            let _ = writeln!(excluded_list, "    {name}:{} {}", ex.line, ex.reason);
        }
        for (i, failure) in report.failures.iter().enumerate() {
            *kinds.entry(failure.kind).or_default() += 1;
            if matches!(failure.kind, Kind::EngineError | Kind::Panic | Kind::Parse) {
                let message = if failure.kind == Kind::Parse { &failure.why } else { &failure.got };
                *error_messages.entry(shorten(message, 90)).or_default() += 1;
            }
            let entry = format!(
                "    {name}:{} [{}] {}\n        expected: {}\n        got:      {}\n        why:      {}\n",
                failure.line,
                failure.phase,
                shorten(&failure.query, 160),
                shorten(&failure.expected, 200),
                shorten(&failure.got, 200),
                shorten(&failure.why, 300),
            );
            if i < show {
                out.push_str(&entry);
            } else if i == show {
                let _ = writeln!(out, "    … {} more failures in {name}", report.failures.len() - show);
            }
            full.push_str(&entry);
        }
    }
    let _ = writeln!(
        out,
        "\nTOTAL: {}  ({:.1}s, {queries} queries)",
        counts(total.0, total.1, total.2),
        started.elapsed().as_secs_f64()
    );
    let _ = writeln!(out, "target files: {}", counts(target.0, target.1, target.2));
    if !kinds.is_empty() {
        let _ = writeln!(out, "failures by kind:");
        let mut by_count: Vec<_> = kinds.iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(a.1));
        for (kind, n) in by_count {
            let _ = writeln!(out, "    {n:>5}  {}", kind.label());
        }
    }
    if !error_messages.is_empty() {
        let _ = writeln!(out, "most frequent errors (engine errors, panics, parse errors):");
        let mut by_count: Vec<_> = error_messages.iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (message, n) in by_count.into_iter().take(15) {
            let _ = writeln!(out, "    {n:>5}  {message}");
        }
    }
    if !exclusion_reasons.is_empty() {
        let _ = writeln!(out, "exclusions by reason:");
        for (reason, n) in &exclusion_reasons {
            let _ = writeln!(out, "    {n:>5}  {reason}");
        }
    }
    if options.variants {
        let _ = writeln!(
            out,
            "@-modifier variants not run (query did not print back faithfully): {unprintable} cases"
        );
    } else {
        let _ =
            writeln!(out, "range-mode and @-modifier re-runs of instant cases are off (PROMQL_VARIANTS=0)");
    }
    if !filters.is_empty() {
        let _ = writeln!(out, "only files matching PROMQL_FILES={filters:?} were run");
    }
    println!("{out}");
    if let Ok(path) = std::env::var("PROMQL_REPORT") {
        std::fs::write(&path, format!("{out}\nALL FAILURES\n{full}\nALL EXCLUDED CASES\n{excluded_list}"))
            .unwrap_or_else(|e| panic!("writing PROMQL_REPORT={path}: {e}"));
        println!("full report written to {path}");
    }
    assert!(
        target.1 <= max_failures,
        "{} failures in the target files, more than PROMQL_MAX_FAILURES={max_failures}",
        target.1
    );
}

/// The runner itself, on a small script with known right and wrong expectations: guards against
/// a runner that passes everything.
#[test]
fn runner_judges_cases() {
    let script = r#"
load 1m
  m{a="1"} 0+1x10
  m{a="2"} 5x10
  h {{count:1}}x10

# right
eval instant at 5m m
  m{a="1"} 5
  m{a="2"} 5

# wrong value
eval instant at 5m m
  m{a="1"} 6
  m{a="2"} 5

# right
eval range from 0 to 2m step 1m m{a="1"}
  m{a="1"} 0 1 2

# wrong point
eval range from 0 to 2m step 1m m{a="1"}
  m{a="1"} 0 1 3

# does not parse
eval instant at 1m sum(
  expect fail

# succeeds although a failure is expected
eval instant at 1m m
  expect fail

# right: empty result
eval instant at 1m nonexistent

# excluded by the list
eval instant at 1m m
  m 1

# excluded: reads a native histogram
eval instant at 1m h

clear

# right: nothing is left after clear
eval instant at 5m m
"#;
    let line_of = |needle: &str, nth: usize| {
        script
            .lines()
            .enumerate()
            .filter(|(_, l)| l.starts_with(needle))
            .nth(nth)
            .map(|(i, _)| i + 1)
            .unwrap()
    };
    let listed = line_of("eval instant at 1m m", 1);
    let file_exclusions = Exclusions::parse(&format!("x.test:{listed} listed")).unwrap().for_file("x.test");
    let report = run_file(script, &file_exclusions, RunOptions { variants: true });
    let failed: Vec<(usize, Kind)> = report.failures.iter().map(|f| (f.line, f.kind)).collect();
    assert_eq!(
        failed,
        [
            (line_of("eval instant at 5m m", 1), Kind::Mismatch),
            (line_of("eval range from 0 to 2m", 1), Kind::Mismatch),
            (line_of("eval instant at 1m sum(", 0), Kind::Parse),
            (line_of("eval instant at 1m m", 0), Kind::NoError),
        ],
        "{:#?}",
        report.failures
    );
    assert_eq!(report.passed, 4, "{:#?}", report.failures);
    let excluded: Vec<&str> = report.excluded.iter().map(|e| e.reason.as_str()).collect();
    assert_eq!(excluded, ["listed", "native histogram (selects a native-histogram series)"]);
    assert!(report.notes.is_empty(), "{:?}", report.notes);
}
