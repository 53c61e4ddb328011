//! Fuzzes the LogQL parser (`argus_query::logql::parse`) with arbitrary text: it must never
//! panic, and a log query it accepts must run its pipeline over a few lines without panicking.
#![no_main]

use argus_model::{Labels, LogEntry};
use argus_query::logql::ast::Query;
use argus_query::logql::{parse, pipeline};
use libfuzzer_sys::fuzz_target;

const LINES: [&str; 4] = [
    r#"level=info status=200 duration=15ms msg="ok""#,
    r#"{"level":"error","user":{"id":1},"size":"2KB"}"#,
    "plain text 10.0.0.1 took 12ms",
    "",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(Query::Log(expr)) = parse(text) else { return };
    let stream = Labels::from_pairs([("app", "fuzz")]).expect("valid labels");
    for line in LINES {
        let entry = LogEntry { timestamp: 1, line: line.to_string(), metadata: Labels::empty() };
        let _ = pipeline::process(&expr.stages, &stream, &entry);
    }
});
