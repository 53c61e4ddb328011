//! LogQL semantics, table-driven: a fixed corpus of logfmt, JSON and plain lines in several
//! streams is pushed into a real log store, and each query's lines (by id), labels, metric
//! values or error are compared with what Loki answers for it.

use std::sync::Arc;
use std::time::Duration;

use argus_logstore::{LogConfig, LogStore};
use argus_model::{Direction, Labels, LogAppendable, LogEntry, LogStream, TimeRange};
use argus_query::logql::ast::Query;
use argus_query::logql::metric::{self, Evaluation};
use argus_query::logql::{parse, select_streams};
use argus_query::promql::EngineOptions;
use argus_query::promql::value::Value;

const SECOND: i64 = 1_000_000_000;
/// 2026-11-20T00:00:00Z.
const BASE: i64 = 1_795_132_800 * SECOND;

/// (id, stream, seconds after BASE, line).
const CORPUS: &[(&str, &str, i64, &str)] = &[
    (
        "a1",
        "api",
        1,
        r#"level=info method=GET path=/api/users status=200 duration=15ms size=512B msg="listed users""#,
    ),
    (
        "a2",
        "api",
        2,
        r#"level=error method=POST path=/api/orders status=500 duration=1.5s size=2KB msg="out of memory""#,
    ),
    (
        "a3",
        "api",
        3,
        r#"level=warn method=GET path=/api/users/42 status=404 duration=250ms size=128B msg="not found""#,
    ),
    (
        "a4",
        "api",
        4,
        r#"level=info method=DELETE path=/api/orders/7 status=204 duration=30ms size=0B msg="deleted""#,
    ),
    (
        "w1",
        "web",
        5,
        r#"{"level":"info","user":{"id":1,"name":"ann"},"latency":0.12,"tags":["a","b"],"msg":"page view"}"#,
    ),
    (
        "w2",
        "web",
        6,
        r#"{"level":"error","user":{"id":2,"name":"bob"},"latency":2.5,"msg":"timeout of memory pool"}"#,
    ),
    ("w3", "web", 7, "not json at all: Out of memory"),
    ("d1", "db", 8, "2026-11-20 10:00:00 ERROR connection refused from 10.0.0.1:5432"),
    ("d2", "db", 9, "2026-11-20 10:00:01 INFO query took 12ms rows=3"),
    ("d3", "db", 10, "2026-11-20 10:00:02 WARN slow query took 1200ms rows=1000"),
];

fn stream_labels(stream: &str) -> Labels {
    let env = if stream == "db" { "dev" } else { "prod" };
    Labels::from_pairs([("app", stream), ("env", env)]).unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<LogStore>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let config =
        LogConfig { retention: argus_model::time::HumanDuration::from_secs(0), ..LogConfig::default() };
    let store = LogStore::open(dir.path(), config).unwrap();
    let streams: Vec<LogStream> = ["api", "web", "db"]
        .iter()
        .map(|name| LogStream {
            labels: stream_labels(name),
            entries: CORPUS
                .iter()
                .filter(|(_, s, _, _)| s == name)
                .map(|(_, _, at, line)| LogEntry {
                    timestamp: BASE + at * SECOND,
                    line: line.to_string(),
                    metadata: Labels::empty(),
                })
                .collect(),
        })
        .collect();
    store.push(&streams).unwrap();
    store.commit().unwrap();
    Fixture { _dir: dir, store: Arc::new(store) }
}

/// What a case expects.
enum Expect {
    /// Ids of the original lines, oldest first.
    Ids(&'static [&'static str]),
    /// The lines after the pipeline, oldest first.
    Lines(&'static [&'static str]),
    /// The labels of the single result stream holding line `id`.
    LabelsOf(&'static str, &'static [(&'static str, &'static str)]),
    /// Instant metric result at BASE + 20 s: (labels as `{a="b"}`, value), sorted by labels.
    Metric(&'static [(&'static str, f64)]),
    /// The query fails; the message contains this.
    Error(&'static str),
}

use Expect::*;

const CASES: &[(&str, Expect)] = &[
    // Stream selectors.
    (r#"{app="api"}"#, Ids(&["a1", "a2", "a3", "a4"])),
    (r#"{env="prod"}"#, Ids(&["a1", "a2", "a3", "a4", "w1", "w2", "w3"])),
    (r#"{app!="api", env="prod"}"#, Ids(&["w1", "w2", "w3"])),
    (r#"{app=~"a.*|d.*"}"#, Ids(&["a1", "a2", "a3", "a4", "d1", "d2", "d3"])),
    (r#"{app=~"ap"}"#, Ids(&[])),
    (r#"{app!~"api|web", env=~".+"}"#, Ids(&["d1", "d2", "d3"])),
    (r#"{app="nope"}"#, Ids(&[])),
    // Line filters: substring, exact and case-sensitive, across token boundaries.
    (r#"{env="prod"} |= "out of mem""#, Ids(&["a2", "w2"])),
    (r#"{env="prod"} |= "Out of mem""#, Ids(&["w3"])),
    (r#"{env="prod"} |= "of memory""#, Ids(&["a2", "w2", "w3"])),
    (r#"{app="api"} |= "users""#, Ids(&["a1", "a3"])),
    (r#"{app="api"} |= "/users/4""#, Ids(&["a3"])),
    (r#"{app="api"} != "GET""#, Ids(&["a2", "a4"])),
    (r#"{app="api"} |= "GET" != "404""#, Ids(&["a1"])),
    (r#"{app="db"} |= "10.0.0.1:5432""#, Ids(&["d1"])),
    (r#"{app="db"} |= "0.0.1""#, Ids(&["d1"])),
    (r#"{app="db"} |~ "took [0-9]+ms""#, Ids(&["d2", "d3"])),
    (r#"{app="db"} |~ "(?i)error|warn""#, Ids(&["d1", "d3"])),
    (r#"{app="db"} !~ "ERROR|WARN""#, Ids(&["d2"])),
    (r#"{app="db"} |= "ERROR" or "WARN""#, Ids(&["d1", "d3"])),
    (r#"{app="api"} |= "status=5""#, Ids(&["a2"])),
    (r#"{env=~".+"} |= "memory""#, Ids(&["a2", "w2", "w3"])),
    (r#"{env=~".+"} |= "emor""#, Ids(&["a2", "w2", "w3"])),
    (r#"{app="web"} |= "\"level\":\"error\"""#, Ids(&["w2"])),
    // logfmt and label filters.
    (r#"{app="api"} | logfmt | level="error""#, Ids(&["a2"])),
    (r#"{app="api"} | logfmt | level=~"info|warn""#, Ids(&["a1", "a3", "a4"])),
    (r#"{app="api"} | logfmt | status >= 400"#, Ids(&["a2", "a3"])),
    (r#"{app="api"} | logfmt | status == 204"#, Ids(&["a4"])),
    (r#"{app="api"} | logfmt | status != 200"#, Ids(&["a2", "a3", "a4"])),
    (r#"{app="api"} | logfmt | status < 300 and method="GET""#, Ids(&["a1"])),
    (r#"{app="api"} | logfmt | status >= 500 or method="DELETE""#, Ids(&["a2", "a4"])),
    (r#"{app="api"} | logfmt | (status >= 500 or method="DELETE") and level!="info""#, Ids(&["a2"])),
    (r#"{app="api"} | logfmt | status >= 400, method="GET""#, Ids(&["a3"])),
    (r#"{app="api"} | logfmt | duration > 100ms"#, Ids(&["a2", "a3"])),
    (r#"{app="api"} | logfmt | duration <= 30ms"#, Ids(&["a1", "a4"])),
    (r#"{app="api"} | logfmt | size > 500B"#, Ids(&["a1", "a2"])),
    (r#"{app="api"} | logfmt | size >= 2KB"#, Ids(&["a2"])),
    (r#"{app="api"} | logfmt | msg="out of memory""#, Ids(&["a2"])),
    (r#"{app="api"} | logfmt | path=~"/api/orders.*""#, Ids(&["a2", "a4"])),
    (r#"{app="api"} | logfmt method, code="status" | code="404""#, Ids(&["a3"])),
    (r#"{app="api"} | logfmt | missing="""#, Ids(&["a1", "a2", "a3", "a4"])),
    (r#"{app="api"} | logfmt | status > 100 | status < 300"#, Ids(&["a1", "a4"])),
    // json.
    (r#"{app="web"} | json | level="error""#, Ids(&["w2"])),
    (r#"{app="web"} | json | user_name="ann""#, Ids(&["w1"])),
    (r#"{app="web"} | json | latency > 1"#, Ids(&["w2", "w3"])),
    (r#"{app="web"} | json | __error__="" | latency > 1"#, Ids(&["w2"])),
    (r#"{app="web"} | json | __error__="""#, Ids(&["w1", "w2"])),
    (r#"{app="web"} | json | __error__="JSONParserErr""#, Ids(&["w3"])),
    (r#"{app="web"} | json | __error__!="""#, Ids(&["w3"])),
    (r#"{app="web"} | json name="user.name" | name="bob""#, Ids(&["w2"])),
    (r#"{app="web"} | json first="tags[0]" | first="a""#, Ids(&["w1"])),
    (r#"{app="web"} | json | __error__="" | user_id >= 2"#, Ids(&["w2"])),
    (
        r#"{app="web"} |= "ann" | json"#,
        LabelsOf(
            "w1",
            &[
                ("app", "web"),
                ("env", "prod"),
                ("latency", "0.12"),
                ("level", "info"),
                ("msg", "page view"),
                ("user_id", "1"),
                ("user_name", "ann"),
            ],
        ),
    ),
    (
        r#"{app="web"} |= "bob" | json | drop __error__, user_id"#,
        LabelsOf(
            "w2",
            &[
                ("app", "web"),
                ("env", "prod"),
                ("latency", "2.5"),
                ("level", "error"),
                ("msg", "timeout of memory pool"),
                ("user_name", "bob"),
            ],
        ),
    ),
    (
        r#"{app="web"} |= "ann" | json | keep app, level"#,
        LabelsOf("w1", &[("app", "web"), ("level", "info")]),
    ),
    // Names the stream already has get `_extracted`.
    (
        r#"{app="db"} |= "INFO" | regexp "(?P<app>query)" | line_format "{{.app}} {{.app_extracted}}""#,
        Lines(&["db query"]),
    ),
    (r#"{app="api"} |= "a1-never" | logfmt"#, Ids(&[])),
    // regexp and pattern.
    (r#"{app="db"} | regexp "(?P<level>[A-Z]+) (?P<rest>.*)" | level="INFO""#, Ids(&["d2"])),
    (r#"{app="db"} | regexp "took (?P<ms>[0-9]+)ms" | ms > 100"#, Ids(&["d3"])),
    (r#"{app="db"} | pattern "<_> <_> <level> <_>" | level="WARN""#, Ids(&["d3"])),
    (r#"{app="db"} | pattern "<date> <time> <level> <msg>" | msg=~"connection.*""#, Ids(&["d1"])),
    (r#"{app="db"} | regexp "rows=(?P<rows>[0-9]+)" | rows >= 3"#, Ids(&["d2", "d3"])),
    // line_format, label_format, decolorize.
    (
        r#"{app="api"} | logfmt | line_format "{{.method}} {{.status}}""#,
        Lines(&["GET 200", "POST 500", "GET 404", "DELETE 204"]),
    ),
    (
        r#"{app="api"} | logfmt | line_format "{{.level | ToUpper}}: {{ .msg }}" |= "ERROR""#,
        Lines(&["ERROR: out of memory"]),
    ),
    (
        r#"{app="api"} | logfmt | status=404 | line_format "{{ .path | trimPrefix \"/api\" | replace \"/\" \"_\" }}""#,
        Lines(&["_users_42"]),
    ),
    (
        r#"{app="db"} |= "INFO" | line_format "{{ __line__ | lower }}""#,
        Lines(&["2026-11-20 10:00:01 info query took 12ms rows=3"]),
    ),
    (
        r#"{app="api"} | logfmt | status=204 | label_format code=status | line_format "{{.code}}{{.status}}""#,
        Lines(&["204"]),
    ),
    (
        r#"{app="api"} | logfmt | status=204 | label_format who=`{{.method}}-{{.status}}` | line_format "{{.who}}""#,
        Lines(&["DELETE-204"]),
    ),
    (
        r#"{app="api"} | logfmt | level="warn" | label_format level=method | line_format "{{.level}}""#,
        Lines(&["GET"]),
    ),
    (r#"{app="db"} |= "INFO" | line_format "{{.missing | default \"none\"}}""#, Lines(&["none"])),
    (r#"{app="db"} |= "rows=3" | decolorize"#, Ids(&["d2"])),
    // Metric queries (instant at BASE + 20 s).
    (r#"count_over_time({app="api"}[1m])"#, Metric(&[(r#"{app="api", env="prod"}"#, 4.0)])),
    (r#"count_over_time({app="api"}[17s])"#, Metric(&[(r#"{app="api", env="prod"}"#, 1.0)])),
    (r#"sum(count_over_time({env=~".+"}[1m]))"#, Metric(&[("{}", 10.0)])),
    (
        r#"sum by (app) (count_over_time({env=~".+"} |= "memory" [1m]))"#,
        Metric(&[(r#"{app="api"}"#, 1.0), (r#"{app="web"}"#, 2.0)]),
    ),
    (r#"rate({app="db"}[1m])"#, Metric(&[(r#"{app="db", env="dev"}"#, 0.05)])),
    (r#"bytes_over_time({app="web"} |= "Out" [1m])"#, Metric(&[(r#"{app="web", env="prod"}"#, 30.0)])),
    (r#"bytes_rate({app="web"} |= "Out" [1m])"#, Metric(&[(r#"{app="web", env="prod"}"#, 0.5)])),
    (
        r#"sum by (level) (count_over_time({app="api"} | logfmt [1m]))"#,
        Metric(&[(r#"{level="error"}"#, 1.0), (r#"{level="info"}"#, 2.0), (r#"{level="warn"}"#, 1.0)]),
    ),
    (
        r#"sum_over_time({app="api"} | logfmt | unwrap status [1m]) by (method)"#,
        Metric(&[
            (r#"{method="DELETE"}"#, 204.0),
            (r#"{method="GET"}"#, 604.0),
            (r#"{method="POST"}"#, 500.0),
        ]),
    ),
    (
        r#"max_over_time({app="api"} | logfmt | unwrap duration(duration) [1m]) by (app)"#,
        Metric(&[(r#"{app="api"}"#, 1.5)]),
    ),
    (
        r#"min_over_time({app="api"} | logfmt | unwrap bytes(size) [1m]) by (app)"#,
        Metric(&[(r#"{app="api"}"#, 0.0)]),
    ),
    (
        r#"avg_over_time({app="api"} | logfmt | unwrap status [1m]) without (level, method, path, msg, duration, size)"#,
        Metric(&[(r#"{app="api", env="prod"}"#, 327.0)]),
    ),
    (
        r#"quantile_over_time(0.5, {app="api"} | logfmt | unwrap status [1m]) by (app)"#,
        Metric(&[(r#"{app="api"}"#, 304.0)]),
    ),
    (
        r#"last_over_time({app="api"} | logfmt | unwrap status [1m]) by (app)"#,
        Metric(&[(r#"{app="api"}"#, 204.0)]),
    ),
    (
        r#"first_over_time({app="api"} | logfmt | unwrap status [1m]) by (app)"#,
        Metric(&[(r#"{app="api"}"#, 200.0)]),
    ),
    (
        r#"stddev_over_time({app="db"} |= "rows" | regexp "rows=(?P<rows>[0-9]+)" | unwrap rows [1m]) by (app)"#,
        Metric(&[(r#"{app="db"}"#, 498.5)]),
    ),
    (
        r#"sum by (app) (count_over_time({app="web"} | json | __error__="" [1m]))"#,
        Metric(&[(r#"{app="web"}"#, 2.0)]),
    ),
    (r#"sum by (app) (count_over_time({app="web"} | json [1m]))"#, Error("pipeline error: 'JSONParserErr'")),
    (
        r#"sum(rate({app="api"} | logfmt | unwrap latency [1m]))"#,
        Error("rate counts lines and cannot take | unwrap"),
    ),
    (
        r#"sum_over_time({app="api"} | logfmt | unwrap status | __error__="" [1m]) by (app)"#,
        Metric(&[(r#"{app="api"}"#, 1308.0)]),
    ),
    (
        r#"sum_over_time({app="db"} | regexp "rows=(?P<rows>[0-9]+)" | unwrap rows | __error__="" [1m]) by (app)"#,
        Metric(&[(r#"{app="db"}"#, 1003.0)]),
    ),
    (r#"sum_over_time({app="api"} | logfmt | unwrap msg [1m]) by (app)"#, Error("SampleExtractionErr")),
    (r#"absent_over_time({app="nope"}[1m])"#, Metric(&[(r#"{app="nope"}"#, 1.0)])),
    (r#"absent_over_time({app="api"}[1m])"#, Metric(&[])),
    (r#"topk(1, sum by (app) (count_over_time({env=~".+"}[1m])))"#, Metric(&[(r#"{app="api"}"#, 4.0)])),
    (r#"bottomk(1, sum by (app) (count_over_time({env="prod"}[1m])))"#, Metric(&[(r#"{app="web"}"#, 3.0)])),
    (r#"count(count_over_time({env=~".+"}[1m]))"#, Metric(&[("{}", 3.0)])),
    (r#"avg(count_over_time({env=~".+"}[1m]))"#, Metric(&[("{}", 10.0 / 3.0)])),
    (
        r#"max without (env) (count_over_time({env=~".+"}[1m]))"#,
        Metric(&[(r#"{app="api"}"#, 4.0), (r#"{app="db"}"#, 3.0), (r#"{app="web"}"#, 3.0)]),
    ),
    (
        r#"sum(count_over_time({app="api"}[1m])) / sum(count_over_time({env=~".+"}[1m]))"#,
        Metric(&[("{}", 0.4)]),
    ),
    (r#"sum by (app) (count_over_time({env=~".+"}[1m])) > 3"#, Metric(&[(r#"{app="api"}"#, 4.0)])),
    (
        r#"sum by (app) (count_over_time({env=~".+"}[1m])) > bool 3"#,
        Metric(&[(r#"{app="api"}"#, 1.0), (r#"{app="db"}"#, 0.0), (r#"{app="web"}"#, 0.0)]),
    ),
    (
        r#"sum by (app) (count_over_time({env=~".+"}[1m])) * 2 + 1"#,
        Metric(&[(r#"{app="api"}"#, 9.0), (r#"{app="db"}"#, 7.0), (r#"{app="web"}"#, 7.0)]),
    ),
    (r#"2 ^ 3 ^ 2"#, Metric(&[("{}", 512.0)])),
    (r#"vector(1) + vector(1)"#, Metric(&[("{}", 2.0)])),
    (
        r#"sum by (app) (count_over_time({env=~".+"}[1m])) and on (app) sum by (app) (count_over_time({env="dev"}[1m]))"#,
        Metric(&[(r#"{app="db"}"#, 3.0)]),
    ),
    (
        r#"label_replace(sum by (app) (count_over_time({app="db"}[1m])), "service", "svc-$1", "app", "(.*)")"#,
        Metric(&[(r#"{app="db", service="svc-db"}"#, 3.0)]),
    ),
    (r#"count_over_time({app="api"}[1m] offset 10s)"#, Metric(&[(r#"{app="api", env="prod"}"#, 4.0)])),
    (r#"count_over_time({app="db"}[5s] offset 10s)"#, Metric(&[(r#"{app="db", env="dev"}"#, 3.0)])),
    (r#"sum(count_over_time({app="db"} |= "took" [1m]))"#, Metric(&[("{}", 2.0)])),
    // Parser errors.
    (r#"{app="api""#, Error("parse error at line 1")),
    (r#"{app=~".*"}"#, Error("at least one regexp or equality matcher")),
    (r#"{app="api"} | nosuch"#, Error("unknown pipeline stage")),
    (r#"{app="api"} | logfmt | status > "x""#, Error("operator \">\" cannot compare with a string")),
    (r#"count_over_time({app="api"})"#, Error("expected \"[\"")),
    (r#"sum_over_time({app="api"}[1m])"#, Error("needs an unwrapped label")),
    (r#"{app="api"} | unwrap status"#, Error("unwrap is only allowed inside a range aggregation")),
    (r#"{app="api"} |~ "(unclosed""#, Error("invalid regex")),
    (r#"sum(count_over_time({app="api"}[1m])"#, Error("expected \")\"")),
    (r#"{app="api"} | regexp "no captures""#, Error("named capture")),
    (r#"{app="api"} | line_format "{{ .x""#, Error("unclosed action")),
    (r#"nosuch({app="api"}[1m])"#, Error("unknown function")),
];

fn labels_text(labels: &Labels) -> String {
    labels.to_string()
}

#[test]
fn logql_cases_match_lokis_answers() {
    assert!(CASES.len() >= 80, "{} cases", CASES.len());
    let fixture = fixture();
    let range = TimeRange::new(BASE, BASE + 60 * SECOND);
    let mut failures = Vec::new();
    for (query, expect) in CASES {
        if let Err(failure) = check(&fixture, query, expect, range) {
            failures.push(format!("{query}\n    {failure}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

fn check(fixture: &Fixture, query: &str, expect: &Expect, range: TimeRange) -> Result<(), String> {
    let parsed = parse(query);
    let result = match (parsed, expect) {
        (Err(error), Error(want)) => {
            return if error.to_string().contains(want) {
                Ok(())
            } else {
                Err(format!("error {error:?}, want {want:?}"))
            };
        }
        (Err(error), _) => return Err(format!("parse error: {error}")),
        (Ok(query), _) => query,
    };
    match result {
        Query::Log(expr) => {
            let streams = select_streams(&expr, fixture.store.as_ref(), range, Direction::Forward, 1000)
                .map_err(|e| format!("evaluation failed: {e}"))?;
            let mut entries: Vec<(i64, String, Labels)> = streams
                .iter()
                .flat_map(|s| s.entries.iter().map(|(t, line)| (*t, line.clone(), s.labels.clone())))
                .collect();
            entries.sort_by_key(|(t, _, _)| *t);
            match expect {
                Ids(want) => {
                    let got: Vec<&str> = entries.iter().map(|(t, _, _)| id_at(*t)).collect();
                    (got == *want).then_some(()).ok_or(format!("got {got:?}, want {want:?}"))
                }
                Lines(want) => {
                    let got: Vec<&str> = entries.iter().map(|(_, line, _)| line.as_str()).collect();
                    (got == *want).then_some(()).ok_or(format!("got {got:?}, want {want:?}"))
                }
                LabelsOf(id, want) => {
                    let found: Vec<&Labels> =
                        entries.iter().filter(|(t, _, _)| id_at(*t) == *id).map(|(_, _, l)| l).collect();
                    let want = Labels::from_pairs(want.iter().copied()).unwrap();
                    (found == [&want]).then_some(()).ok_or(format!("got {found:?}, want {want}"))
                }
                other => Err(format!("a log query cannot give {}", describe(other))),
            }
        }
        Query::Metric(expr) => {
            let evaluation = Evaluation::Instant((BASE + 20 * SECOND) / 1_000_000);
            let evaluated = metric::evaluate(
                &expr,
                fixture.store.as_ref(),
                evaluation,
                &EngineOptions::default(),
                Duration::from_secs(30),
            );
            match (evaluated, expect) {
                (Err(error), Error(want)) => {
                    if error.to_string().contains(want) {
                        Ok(())
                    } else {
                        Err(format!("error {error}, want {want:?}"))
                    }
                }
                (Err(error), _) => Err(format!("evaluation failed: {error}")),
                (Ok(evaluated), Metric(want)) => {
                    let mut got: Vec<(String, f64)> = match evaluated.value {
                        Value::Vector(vector) => {
                            vector.iter().map(|s| (labels_text(&s.labels), s.v)).collect()
                        }
                        Value::Scalar { v, .. } => vec![("{}".to_string(), v)],
                        other => return Err(format!("unexpected {}", other.type_name())),
                    };
                    got.sort_by(|a, b| a.0.cmp(&b.0));
                    let same = got.len() == want.len()
                        && got
                            .iter()
                            .zip(want.iter())
                            .all(|(g, w)| g.0 == w.0 && (g.1 - w.1).abs() <= 1e-9 * w.1.abs().max(1.0));
                    same.then_some(()).ok_or(format!("got {got:?}, want {want:?}"))
                }
                (Ok(_), other) => Err(format!("a metric query cannot give {}", describe(other))),
            }
        }
    }
}

fn id_at(t: i64) -> &'static str {
    CORPUS.iter().find(|(_, _, at, _)| BASE + at * SECOND == t).map_or("?", |(id, _, _, _)| id)
}

fn describe(expect: &Expect) -> &'static str {
    match expect {
        Ids(_) => "line ids",
        Lines(_) => "lines",
        LabelsOf(..) => "labels",
        Metric(_) => "numbers",
        Error(_) => "an error",
    }
}
