//! The PromQL test-script language of Prometheus (`promql/promqltest/README.md` and `test.go`):
//! the commands `load`, `load_with_nhcb`, `clear` and `eval` (with its deprecated `eval_fail`,
//! `eval_warn`, `eval_info`, `eval_ordered` forms), `expect` lines, and series descriptions
//! (`metric{a="b"} 1+2x3 _ stale`), parsed as upstream parses them.
//!
//! Pure: no storage and no engine. Native-histogram values (`{{…}}`) are recognised and kept as
//! placeholders so that the positions of the values around them stay right; they are never
//! decoded (native histograms are out of scope for Argus). Start-timestamp lines (`metric@st …`,
//! used only by `start_timestamps.test`) are skipped.
//!
//! Where upstream rejects a whole file for one bad line, this parser keeps going: a bad `eval`
//! becomes a case carrying its error (so it counts as failed) and a bad `load` line is reported
//! in [`Load::errors`].

use argus_model::{Labels, MatchOp, Matcher};

/// One command of a script, in file order.
#[derive(Debug, Clone)]
pub enum Command {
    Load(Load),
    Clear,
    Eval(Eval),
    /// A line that is no command (upstream fails the whole file on it).
    Invalid {
        line: usize,
        message: String,
    },
}

/// `load <interval>`: series whose points start at t=0 and are `interval_ms` apart.
#[derive(Debug, Clone)]
pub struct Load {
    pub line: usize,
    pub interval_ms: i64,
    /// `load_with_nhcb`: classic histograms also loaded as native histograms with custom buckets.
    pub with_nhcb: bool,
    /// Later definitions of the same label set replace earlier ones, as upstream.
    pub series: Vec<SeriesDesc>,
    /// Lines of the block that could not be parsed: `(line, message)`.
    pub errors: Vec<(usize, String)>,
}

/// A label set and its points, one per position (the position is the time index).
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesDesc {
    pub labels: Labels,
    pub values: Vec<SeqValue>,
}

/// One position of a series description.
#[derive(Debug, Clone, Copy)]
pub enum SeqValue {
    /// `_`: no sample at this position.
    Omitted,
    Float(f64),
    /// `{{…}}`: a native histogram, not decoded.
    Histogram,
}

impl PartialEq for SeqValue {
    /// Bit equality for floats, so NaNs (and the stale marker) compare as written.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (SeqValue::Omitted, SeqValue::Omitted) | (SeqValue::Histogram, SeqValue::Histogram) => true,
            (SeqValue::Float(a), SeqValue::Float(b)) => a.to_bits() == b.to_bits(),
            _ => false,
        }
    }
}

impl SeriesDesc {
    /// Whether any position holds a native histogram.
    pub fn has_histogram(&self) -> bool {
        self.values.iter().any(|v| matches!(v, SeqValue::Histogram))
    }
}

/// What an `eval` evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalKind {
    Instant { time: i64 },
    Range { start: i64, end: i64, step: i64 },
}

/// How an expected message is matched.
#[derive(Debug, Clone, PartialEq)]
pub enum TextMatch {
    /// No message given: anything matches.
    Any,
    /// `msg:` and `expected_fail_message`: exact equality.
    Exact(String),
    /// `regex:` and `expected_fail_regexp`: an RE2 pattern that must match somewhere (unanchored).
    Regex(String),
}

impl TextMatch {
    pub fn matches(&self, text: &str) -> bool {
        match self {
            TextMatch::Any => true,
            TextMatch::Exact(expected) => expected == text,
            TextMatch::Regex(pattern) => unanchored_regex(pattern).is_ok_and(|m| m.matches(text)),
        }
    }
}

impl std::fmt::Display for TextMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TextMatch::Any => f.write_str("any message"),
            TextMatch::Exact(m) => write!(f, "message {m:?}"),
            TextMatch::Regex(p) => write!(f, "pattern {p:?}"),
        }
    }
}

/// A regex that matches anywhere in the text, as Go's `MatchString`. `.` also matches a newline
/// here (Go's does not by default); error messages have none, so it makes no difference.
fn unanchored_regex(pattern: &str) -> Result<Matcher, String> {
    Matcher::new(MatchOp::RegexMatch, "message", format!(".*(?:{pattern}).*")).map_err(|e| e.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnotationKind {
    Warn,
    NoWarn,
    Info,
    NoInfo,
}

/// The expected result of an `eval`.
#[derive(Debug, Clone, PartialEq)]
pub enum ExpectedResult {
    /// A line holding only a number.
    Scalar(f64),
    /// Series lines (possibly none: an empty result). Upstream keys them by label set, so a
    /// repeated label set replaces the earlier line; that is done here too.
    Series(Vec<ExpectedSeries>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedSeries {
    pub labels: Labels,
    pub values: Vec<SeqValue>,
    /// 1-based position among the result lines, checked when the result is ordered.
    pub position: usize,
}

/// An `eval` command with everything its block says.
#[derive(Debug, Clone)]
pub struct Eval {
    /// 1-based line of the `eval` command.
    pub line: usize,
    pub query: String,
    pub kind: EvalKind,
    /// The query must fail (`eval_fail` or `expect fail`).
    pub fail: bool,
    /// Every one must match the error message.
    pub fail_checks: Vec<TextMatch>,
    /// `eval_ordered` or `expect ordered`.
    pub ordered: bool,
    /// `eval_warn` / `eval_info` and `expect warn|no_warn|info|no_info` lines.
    pub annotations: Vec<(AnnotationKind, TextMatch)>,
    /// `expect range vector from … to … step …`: the instant query returns a range vector with
    /// points on this grid; the query is evaluated at its end.
    pub range_vector: Option<(i64, i64, i64)>,
    /// `expect string "…"`.
    pub string: Option<String>,
    pub result: ExpectedResult,
    /// Why the block could not be parsed; the case then fails without running.
    pub error: Option<String>,
}

impl Eval {
    /// Whether the expected result holds a native histogram.
    pub fn expects_histogram(&self) -> bool {
        match &self.result {
            ExpectedResult::Scalar(_) => false,
            ExpectedResult::Series(series) => {
                series.iter().any(|s| s.values.iter().any(|v| matches!(v, SeqValue::Histogram)))
            }
        }
    }

    /// Upstream skips the range-mode re-run for these (`excludeFromRangeQuery`).
    pub fn excluded_from_range_mode(&self) -> bool {
        self.range_vector.is_some() || self.string.is_some()
    }

    /// The time the instant query runs at (the end of an expected range vector, as upstream).
    pub fn instant_time(&self) -> Option<i64> {
        match self.kind {
            EvalKind::Instant { time } => Some(self.range_vector.map_or(time, |(_, end, _)| end)),
            EvalKind::Range { .. } => None,
        }
    }
}

/// Parses a whole script. Never fails: problems become [`Command::Invalid`], [`Eval::error`] or
/// [`Load::errors`].
pub fn parse_script(input: &str) -> Vec<Command> {
    // As upstream's getLines: trimmed, and comment lines blank (so a comment ends a block).
    let lines: Vec<&str> = input
        .split('\n')
        .map(|l| {
            let l = l.trim();
            if l.starts_with('#') { "" } else { l }
        })
        .collect();
    let mut commands = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.is_empty() {
            i += 1;
            continue;
        }
        let word = line.split([' ', '\t']).next().unwrap_or("").to_ascii_lowercase();
        if word == "clear" {
            commands.push(Command::Clear);
        } else if word.starts_with("load") {
            let (next, command) = parse_load(&lines, i);
            commands.push(command);
            i = next;
        } else if word.starts_with("eval") {
            let (next, eval) = parse_eval(&lines, i);
            commands.push(Command::Eval(eval));
            i = next;
        } else {
            commands.push(Command::Invalid { line: i + 1, message: format!("invalid command {line:?}") });
        }
        i += 1;
    }
    commands
}

/// Parses a `load` block starting at `lines[i]`; returns the index of its last line.
fn parse_load(lines: &[&str], mut i: usize) -> (usize, Command) {
    let header = lines[i];
    let line = i + 1;
    let mut words = header.split_whitespace();
    let keyword = words.next().unwrap_or("");
    let interval = words.collect::<Vec<_>>().join(" ");
    let with_nhcb = match keyword {
        "load" => false,
        "load_with_nhcb" => true,
        _ => {
            return (
                i,
                Command::Invalid {
                    line,
                    message: "invalid load command. (load[_with_nhcb] <step:duration>)".into(),
                },
            );
        }
    };
    let interval_ms = match parse_duration(&interval) {
        Ok(ms) => ms,
        Err(e) => {
            return (
                i,
                Command::Invalid { line, message: format!("invalid step definition {interval:?}: {e}") },
            );
        }
    };
    let mut load = Load { line, interval_ms, with_nhcb, series: Vec::new(), errors: Vec::new() };
    while i + 1 < lines.len() && !lines[i + 1].is_empty() {
        i += 1;
        if is_start_timestamp_line(lines[i]) {
            continue;
        }
        match parse_series_desc(lines[i]) {
            Ok(desc) => {
                load.series.retain(|s| s.labels != desc.labels);
                load.series.push(desc);
            }
            Err(e) => load.errors.push((i + 1, e)),
        }
    }
    (i, Command::Load(load))
}

/// `metric{…}@st <offsets>`: start timestamps for the next line (upstream's ST support).
fn is_start_timestamp_line(line: &str) -> bool {
    line.split([' ', '\t']).next().is_some_and(|w| w.ends_with("@st"))
}

/// Parses an `eval` block starting at `lines[i]`; returns the index of its last line.
fn parse_eval(lines: &[&str], i: usize) -> (usize, Eval) {
    let header = lines[i];
    let mut eval = Eval {
        line: i + 1,
        query: String::new(),
        kind: EvalKind::Instant { time: 0 },
        fail: false,
        fail_checks: Vec::new(),
        ordered: false,
        annotations: Vec::new(),
        range_vector: None,
        string: None,
        result: ExpectedResult::Series(Vec::new()),
        error: None,
    };
    if let Err(e) = parse_eval_header(header, &mut eval) {
        eval.query = header.to_string();
        eval.error = Some(e);
        return (skip_block(lines, i), eval);
    }
    match parse_eval_body(lines, i, &mut eval) {
        Ok(last) => (last, eval),
        Err((at, e)) => {
            eval.error = Some(format!("line {}: {e}", at + 1));
            (skip_block(lines, at), eval)
        }
    }
}

/// Index of the last non-blank line of the block that `lines[i]` is in.
fn skip_block(lines: &[&str], mut i: usize) -> usize {
    while i + 1 < lines.len() && !lines[i + 1].is_empty() {
        i += 1;
    }
    i
}

/// `eval[_fail|_warn|_ordered|_info] instant at <time> <query>` or
/// `eval[_fail|_warn|_info] range from <start> to <end> step <step> <query>`.
fn parse_eval_header(header: &str, eval: &mut Eval) -> Result<(), String> {
    const USAGE: &str = "invalid evaluation command. Must be either 'eval[_fail|_warn|_ordered] instant [at <offset:duration>] <query>' or 'eval[_fail|_warn] range from <from> to <to> step <step> <query>'";
    let (keyword, rest) = split_word(header);
    let modifier = keyword.strip_prefix("eval").ok_or(USAGE)?;
    let (mode, rest) = split_word(rest);
    let modifier = match modifier {
        "" => None,
        "_fail" => Some("fail"),
        "_warn" => Some("warn"),
        "_info" => Some("info"),
        "_ordered" if mode == "instant" => Some("ordered"),
        _ => return Err(USAGE.into()),
    };
    match mode {
        "instant" => {
            let (at, rest) = split_word(rest);
            if at != "at" {
                return Err(USAGE.into());
            }
            let (time, query) = split_word(rest);
            let time =
                parse_duration(time).map_err(|e| format!("invalid timestamp definition {time:?}: {e}"))?;
            eval.kind = EvalKind::Instant { time };
            eval.query = query.to_string();
        }
        "range" => {
            let mut words = Vec::new();
            let mut rest = rest;
            for _ in 0..6 {
                let (word, tail) = split_word(rest);
                words.push(word);
                rest = tail;
            }
            if words[0] != "from" || words[2] != "to" || words[4] != "step" {
                return Err(USAGE.into());
            }
            let (start, end, step) = parse_grid(words[1], words[3], words[5])?;
            eval.kind = EvalKind::Range { start, end, step };
            eval.query = rest.to_string();
        }
        _ => return Err(USAGE.into()),
    }
    if eval.query.is_empty() {
        return Err(USAGE.into());
    }
    match modifier {
        Some("fail") => eval.fail = true,
        Some("ordered") => eval.ordered = true,
        Some("warn") => eval.annotations.push((AnnotationKind::Warn, TextMatch::Any)),
        Some("info") => eval.annotations.push((AnnotationKind::Info, TextMatch::Any)),
        _ => {}
    }
    Ok(())
}

/// `from`, `to` and `step` durations, with upstream's check that the end is not before the start.
fn parse_grid(from: &str, to: &str, step: &str) -> Result<(i64, i64, i64), String> {
    let start =
        parse_duration(from).map_err(|e| format!("invalid start timestamp definition {from:?}: {e}"))?;
    let end = parse_duration(to).map_err(|e| format!("invalid end timestamp definition {to:?}: {e}"))?;
    if end < start {
        return Err(format!(
            "invalid test definition, end timestamp ({to}) is before start timestamp ({from})"
        ));
    }
    let step = parse_duration(step).map_err(|e| format!("invalid step definition {step:?}: {e}"))?;
    Ok((start, end, step))
}

/// The lines after an `eval` header, as upstream's `parseEval` loop (including where it stops
/// early). Returns the index of the last line consumed, or the failing line and the error.
fn parse_eval_body(lines: &[&str], mut i: usize, eval: &mut Eval) -> Result<usize, (usize, String)> {
    let mut series: Vec<ExpectedSeries> = Vec::new();
    let mut position = 1;
    let eval_fail_form = eval.fail;
    while i + 1 < lines.len() && !lines[i + 1].is_empty() {
        i += 1;
        let line = lines[i];
        let err = |e: String| (i, e);
        if eval_fail_form && let Some(message) = line.strip_prefix("expected_fail_message") {
            eval.fail_checks.push(TextMatch::Exact(message.trim().to_string()));
            break;
        }
        if eval_fail_form && let Some(pattern) = line.strip_prefix("expected_fail_regexp") {
            let pattern = pattern.trim();
            unanchored_regex(pattern)
                .map_err(|e| err(format!("invalid regexp '{pattern}' for expected_fail_regexp: {e}")))?;
            eval.fail_checks.push(TextMatch::Regex(pattern.to_string()));
            break;
        }
        if line.starts_with("expect range vector") {
            eval.range_vector = Some(parse_expect_range_vector(line).map_err(err)?);
            position += 1;
            continue;
        }
        if line.starts_with("expect string") {
            eval.string = Some(parse_expect_string(line).map_err(err)?);
            position += 1;
            continue;
        }
        if line.split(' ').next() == Some("expect") {
            parse_expect(line, eval).map_err(err)?;
            continue;
        }
        if let Some(value) = parse_go_number(line) {
            eval.result = ExpectedResult::Scalar(value);
            return Ok(i);
        }
        let desc = parse_series_desc(line).map_err(err)?;
        if desc.values.len() > 1
            && matches!(eval.kind, EvalKind::Instant { .. })
            && eval.range_vector.is_none()
        {
            return Err(err("expecting multiple values in instant evaluation not allowed. consider using 'expect range vector' directive to enable a range vector result for an instant query".into()));
        }
        series.retain(|s| s.labels != desc.labels);
        series.push(ExpectedSeries { labels: desc.labels, values: desc.values, position });
        position += 1;
    }
    eval.result = ExpectedResult::Series(series);
    Ok(i)
}

/// `expect <type> [msg|regex: <text>]`.
fn parse_expect(line: &str, eval: &mut Eval) -> Result<(), String> {
    const USAGE: &str = "invalid expect statement, must match `expect <type> <match_type>: <string>` format";
    let rest = line.trim().strip_prefix("expect").ok_or(USAGE)?;
    if !rest.starts_with(char::is_whitespace) {
        return Err(USAGE.into());
    }
    let (kind, rest) = split_word(rest.trim_start());
    let matcher = if rest.is_empty() {
        TextMatch::Any
    } else if let Some(message) = rest.strip_prefix("msg:").filter(|m| !m.is_empty()) {
        TextMatch::Exact(message.trim().to_string())
    } else if let Some(pattern) = rest.strip_prefix("regex:").filter(|m| !m.is_empty()) {
        let pattern = pattern.trim();
        unanchored_regex(pattern).map_err(|_| format!("invalid regex {pattern} for {kind}"))?;
        TextMatch::Regex(pattern.to_string())
    } else {
        return Err(USAGE.into());
    };
    let annotation = match kind {
        "ordered" => {
            eval.ordered = true;
            return Ok(());
        }
        "fail" => {
            // Only `expect fail` lines can precede this one in `fail_checks`: the deprecated
            // `expected_fail_*` lines end the block.
            if !eval.fail_checks.is_empty() {
                return Err("invalid expect lines, multiple expect fail lines are not allowed".into());
            }
            eval.fail = true;
            eval.fail_checks.push(matcher);
            return Ok(());
        }
        "warn" => AnnotationKind::Warn,
        "no_warn" => AnnotationKind::NoWarn,
        "info" => AnnotationKind::Info,
        "no_info" => AnnotationKind::NoInfo,
        _ => return Err(format!("invalid expected error/annotation type {kind}")),
    };
    eval.annotations.push((annotation, matcher));
    let has = |k: AnnotationKind| eval.annotations.iter().any(|(a, _)| *a == k);
    if has(AnnotationKind::Info) && has(AnnotationKind::NoInfo) {
        return Err("invalid expect lines, info and no_info cannot be used together".into());
    }
    if has(AnnotationKind::Warn) && has(AnnotationKind::NoWarn) {
        return Err("invalid expect lines, warn and no_warn cannot be used together".into());
    }
    Ok(())
}

/// `expect range vector from <start> to <end> step <step>`.
fn parse_expect_range_vector(line: &str) -> Result<(i64, i64, i64), String> {
    let invalid = || format!("invalid range vector definition {line:?}");
    let rest = line.strip_prefix("expect range vector").ok_or_else(invalid)?;
    let words: Vec<&str> = rest.split_whitespace().collect();
    match words.as_slice() {
        ["from", from, "to", to, "step", step] => parse_grid(from, to, step),
        _ => Err(invalid()),
    }
}

/// `expect string "…"` (Go `strconv.Unquote` syntax: double quotes or backquotes).
fn parse_expect_string(line: &str) -> Result<String, String> {
    let literal = line
        .strip_prefix("expect string ")
        .filter(|s| !s.is_empty())
        .ok_or("expected string literal not valid - a quoted string literal is required")?;
    go_unquote(literal).ok_or_else(|| {
        "expected string literal not valid - check that the string is correctly quoted".to_string()
    })
}

/// The first whitespace-separated word and the rest (left-trimmed).
fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(at) => (&s[..at], s[at..].trim_start()),
        None => (s, ""),
    }
}

/// A Prometheus duration (`model.ParseDuration`): `0`, or number-unit pairs with units in the
/// order y w d h m s ms (a year is 365 days). Returns milliseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    if s == "0" {
        return Ok(0);
    }
    let invalid = || format!("not a valid duration string: {s:?}");
    if s.is_empty() {
        return Err(invalid());
    }
    let mut rest = s;
    let mut total: i64 = 0;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let letters =
            rest[digits..].find(|c: char| !c.is_ascii_alphabetic()).map_or(rest.len(), |n| digits + n);
        if digits == 0 || letters == digits {
            return Err(invalid());
        }
        let n: i64 = rest[..digits].parse().map_err(|_| invalid())?;
        let unit = &rest[digits..letters];
        let index = UNITS[next_unit..].iter().position(|(u, _)| *u == unit).ok_or_else(invalid)? + next_unit;
        total = n.checked_mul(UNITS[index].1).and_then(|ms| total.checked_add(ms)).ok_or_else(invalid)?;
        next_unit = index + 1;
        rest = &rest[letters..];
    }
    Ok(total)
}

/// A number as upstream's `parseNumber` reads it: Go `strconv.ParseInt(s, 0, 64)` (so `0x1f`,
/// `0o17`, `017` and `1_000` are integers), else `strconv.ParseFloat` (which also takes `Inf`,
/// `+inf`, `NaN`, case-insensitively). Hexadecimal floats are not supported.
pub fn parse_go_number(s: &str) -> Option<f64> {
    if let Some(i) = parse_go_int(s) {
        return Some(i as f64);
    }
    let lower = s.to_ascii_lowercase();
    let unsigned = lower.trim_start_matches(['+', '-']);
    if s.contains('_') || unsigned.starts_with("0x") || s.len() - unsigned.len() > 1 {
        return None;
    }
    // Rust and Go agree on decimal floats and on inf/infinity/nan in any case.
    s.parse::<f64>().ok()
}

fn parse_go_int(s: &str) -> Option<i64> {
    let (negative, body) = match s.as_bytes().first()? {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d, true)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d, true)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d, true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..], true)
    } else {
        (10, lower.as_str(), false)
    };
    // Underscores only between digits, or right after a base prefix (Go's underscoreOK).
    let bytes = digits.as_bytes();
    for (k, &b) in bytes.iter().enumerate() {
        if b == b'_' {
            let after_prefix = k == 0 && prefixed;
            let between = k > 0 && bytes[k - 1] != b'_' && k + 1 < bytes.len() && bytes[k + 1] != b'_';
            if !(between || after_prefix) || k + 1 == bytes.len() {
                return None;
            }
        }
    }
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    if clean.is_empty() {
        return None;
    }
    let magnitude = u64::from_str_radix(&clean, radix).ok()?;
    if negative {
        if magnitude > i64::MAX as u64 + 1 {
            return None;
        }
        Some((magnitude as i64).wrapping_neg())
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Parses a series description: `metric{a="b"} <values>`, `{__name__="m"} <values>` or
/// `metric <values>`, with upstream's value notation:
///
/// - `_` no sample, `_xN` N positions without samples;
/// - `v` one value: a number (`1`, `-2.5e3`, `Inf`, `-Inf`, `NaN`) or `stale`;
/// - `vxN` N+1 copies of v;
/// - `a+bxN` / `a-bxN` N+1 values a, a±b, … (accumulated by repeated addition, as upstream);
/// - `{{…}}`, `{{…}}xN`, `{{…}}+{{…}}xN`: native histograms (placeholders).
pub fn parse_series_desc(line: &str) -> Result<SeriesDesc, String> {
    let (labels, rest) = parse_metric(line)?;
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return Err(format!(
            "unexpected {:?} after the metric in {line:?}",
            rest.chars().next().unwrap_or(' ')
        ));
    }
    let mut values = Vec::new();
    for item in split_items(rest)? {
        parse_item(item, &mut values).map_err(|e| format!("bad series value {item:?}: {e}"))?;
    }
    Ok(SeriesDesc { labels, values })
}

/// The metric at the start of a series line and the text after it.
pub fn parse_metric(line: &str) -> Result<(Labels, &str), String> {
    let mut pairs: LabelPairs = Vec::new();
    let name_len = line
        .char_indices()
        .take_while(|&(k, c)| {
            c == '_' || c == ':' || c.is_ascii_alphabetic() || (k > 0 && c.is_ascii_digit())
        })
        .count();
    let mut rest = &line[name_len..];
    if name_len == 0 && !rest.starts_with('{') {
        return Err(format!("expected a metric name or label set at the start of {line:?}"));
    }
    if rest.starts_with("{{") {
        return Err(format!("expected a label set, not a histogram, in {line:?}"));
    }
    if rest.starts_with('{') {
        let (set, after) = parse_label_set(rest)?;
        pairs = set;
        rest = after;
    }
    if name_len > 0 {
        pairs.retain(|(n, _)| n != "__name__");
        pairs.push(("__name__".to_string(), line[..name_len].to_string()));
    }
    // A later label of the same name wins, as with upstream's label builder.
    let mut unique: Vec<(String, String)> = Vec::new();
    for (n, v) in pairs {
        unique.retain(|(m, _)| *m != n);
        unique.push((n, v));
    }
    let labels = Labels::from_pairs(unique).map_err(|e| format!("invalid label set in {line:?}: {e}"))?;
    Ok((labels, rest))
}

/// Label names and values in the order written.
type LabelPairs = Vec<(String, String)>;

/// `{name="value", "quoted name"="v", "metric name"}`: pairs and the text after `}`.
fn parse_label_set(input: &str) -> Result<(LabelPairs, &str), String> {
    let mut rest = input.strip_prefix('{').ok_or("expected '{'")?.trim_start();
    let mut pairs = Vec::new();
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((pairs, after));
        }
        let (name, quoted, after) = if rest.starts_with(['"', '\'', '`']) {
            let (s, after) = parse_quoted(rest)?;
            (s, true, after)
        } else {
            let len = rest
                .char_indices()
                .take_while(|&(k, c)| c == '_' || c.is_ascii_alphabetic() || (k > 0 && c.is_ascii_digit()))
                .count();
            if len == 0 {
                return Err(format!("unexpected {:?} in label set", rest.chars().next().unwrap_or('?')));
            }
            (rest[..len].to_string(), false, &rest[len..])
        };
        rest = after.trim_start();
        if let Some(after) = rest.strip_prefix('=') {
            let (value, after) = parse_quoted(after.trim_start())?;
            pairs.push((name, value));
            rest = after.trim_start();
        } else if quoted {
            pairs.push(("__name__".to_string(), name));
        } else {
            return Err(format!("expected \"=\" after label name {name:?}"));
        }
        if let Some(after) = rest.strip_prefix(',') {
            rest = after.trim_start();
        } else if !rest.starts_with('}') {
            return Err("expected ',' or '}' in label set".into());
        }
    }
}

/// A quoted string at the start of `input` (double, single or back quotes) with PromQL/Go
/// escapes, and the text after it.
fn parse_quoted(input: &str) -> Result<(String, &str), String> {
    let quote = input.chars().next().ok_or("expected a quoted string")?;
    if !matches!(quote, '"' | '\'' | '`') {
        return Err(format!("expected a quoted string, found {quote:?}"));
    }
    let body = &input[1..];
    if quote == '`' {
        let end = body.find('`').ok_or("unterminated raw string")?;
        return Ok((body[..end].to_string(), &body[end + 1..]));
    }
    let mut out: Vec<u8> = Vec::new();
    let mut chars = body.char_indices();
    while let Some((k, c)) = chars.next() {
        if c == quote {
            return Ok((String::from_utf8_lossy(&out).into_owned(), &body[k + 1..]));
        }
        if c != '\\' {
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let (_, e) = chars.next().ok_or("unterminated escape")?;
        let simple = match e {
            'a' => Some(0x07),
            'b' => Some(0x08),
            'f' => Some(0x0c),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(0x0b),
            '\\' => Some(b'\\'),
            _ if e == quote => Some(e as u8),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            continue;
        }
        let (digits, radix) = match e {
            '0'..='7' => (2, 8),
            'x' => (2, 16),
            'u' => (4, 16),
            'U' => (8, 16),
            _ => return Err(format!("unknown escape sequence \\{e}")),
        };
        let mut text = String::new();
        if e.is_ascii_digit() {
            text.push(e);
        }
        for _ in 0..digits {
            text.push(chars.next().ok_or("unterminated escape")?.1);
        }
        let n = u32::from_str_radix(&text, radix).map_err(|_| format!("invalid escape \\{e}{text}"))?;
        if matches!(e, 'u' | 'U') {
            let c = char::from_u32(n).ok_or("escape is not a valid Unicode code point")?;
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        } else {
            out.push(u8::try_from(n).map_err(|_| "octal escape value > 255")?);
        }
    }
    Err("unterminated quoted string".into())
}

/// Go's `strconv.Unquote` for a whole literal: `"…"`, `` `…` `` or a one-character `'…'`.
pub fn go_unquote(literal: &str) -> Option<String> {
    let (value, rest) = parse_quoted(literal).ok()?;
    if !rest.is_empty() {
        return None;
    }
    if literal.starts_with('\'') && value.chars().count() != 1 {
        return None;
    }
    Some(value)
}

/// Splits the values part at whitespace, keeping `{{…}}` (which contains spaces) in one item.
fn split_items(values: &str) -> Result<Vec<&str>, String> {
    let mut items = Vec::new();
    let bytes = values.as_bytes();
    let mut start = None;
    let mut depth = 0usize;
    let mut k = 0;
    while k < bytes.len() {
        if bytes[k..].starts_with(b"{{") {
            depth += 1;
            start.get_or_insert(k);
            k += 2;
            continue;
        }
        if depth > 0 && bytes[k..].starts_with(b"}}") {
            depth -= 1;
            k += 2;
            continue;
        }
        if depth == 0 && bytes[k].is_ascii_whitespace() {
            if let Some(s) = start.take() {
                items.push(&values[s..k]);
            }
        } else {
            start.get_or_insert(k);
        }
        k += 1;
    }
    if depth > 0 {
        return Err("unterminated native histogram {{".into());
    }
    if let Some(s) = start {
        items.push(&values[s..]);
    }
    Ok(items)
}

/// Tokens of one series item, as upstream's value-sequence lexer makes them.
#[derive(Debug, Clone, PartialEq)]
enum Token<'a> {
    Number(&'a str),
    Stale,
    Add,
    Sub,
    Times,
    Blank,
}

fn lex_item(item: &str) -> Result<Vec<Token<'_>>, String> {
    let bytes = item.as_bytes();
    let mut tokens = Vec::new();
    let mut k = 0;
    while k < bytes.len() {
        let c = bytes[k];
        match c {
            b'+' => tokens.push(Token::Add),
            b'-' => tokens.push(Token::Sub),
            b'x' => tokens.push(Token::Times),
            b'_' => tokens.push(Token::Blank),
            b'0'..=b'9' | b'.' => {
                let end =
                    scan_number(bytes, k).ok_or_else(|| format!("bad number syntax at {:?}", &item[k..]))?;
                tokens.push(Token::Number(&item[k..end]));
                k = end;
                continue;
            }
            c if c.is_ascii_alphabetic() => {
                let end = k + bytes[k..]
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_' || **b == b':')
                    .count();
                let word = &item[k..end];
                match word.to_ascii_lowercase().as_str() {
                    "inf" | "nan" => tokens.push(Token::Number(word)),
                    "stale" => tokens.push(Token::Stale),
                    _ => return Err(format!("unexpected {word:?}, expected a number or \"stale\"")),
                }
                k = end;
                continue;
            }
            _ => return Err(format!("unexpected character in series sequence: {:?}", c as char)),
        }
        k += 1;
    }
    Ok(tokens)
}

/// End of the number starting at `start` (upstream's `scanNumber` without hexadecimal, which
/// series descriptions do not allow), or `None` when it is malformed.
fn scan_number(bytes: &[u8], start: usize) -> Option<usize> {
    let is = |k: usize, set: &[u8]| k < bytes.len() && set.contains(&bytes[k]);
    let digits = b"0123456789";
    let mut k = start;
    if is(k, b".") {
        k += 1;
    }
    if is(k, digits) {
        k += 1;
    }
    let (mut dot, mut exponent) = (bytes[start] == b'.', false);
    while is(k, b"0123456789._eE") {
        if is(k, b".") {
            if dot || exponent {
                return None;
            }
            dot = true;
            k += 1;
            if is(k, b"_.") {
                return None;
            }
            continue;
        }
        if is(k, b"eE") {
            if exponent {
                return None;
            }
            exponent = true;
            k += 1;
            if is(k, b"+-") {
                k += 1;
            }
            if k >= bytes.len() || is(k, b"._eE") {
                return None;
            }
            continue;
        }
        if is(k, b"_") {
            k += 1;
            if k >= bytes.len() || is(k, b"._eE") {
                return None;
            }
            continue;
        }
        while is(k, digits) {
            k += 1;
        }
    }
    if k == start {
        return None;
    }
    // What follows must not be alphanumeric, except the `x` of a repetition.
    if k < bytes.len() && bytes[k] != b'x' && bytes[k].is_ascii_alphanumeric() {
        return None;
    }
    Some(k)
}

/// Value of a NUMBER token (upstream's `parser.number`).
fn number_value(text: &str) -> Result<f64, String> {
    parse_go_number(text).ok_or_else(|| format!("error parsing number: {text:?}"))
}

/// A repetition count (`uint`: decimal only).
fn repetitions(token: &Token<'_>) -> Result<usize, String> {
    match token {
        Token::Number(text) => {
            text.parse::<usize>().map_err(|e| format!("invalid repetition in series values: {e}"))
        }
        other => Err(format!("expected a repetition count, found {other:?}")),
    }
}

/// Appends the positions one item describes.
fn parse_item(item: &str, out: &mut Vec<SeqValue>) -> Result<(), String> {
    if item.starts_with("{{") {
        return parse_histogram_item(item, out);
    }
    let tokens = lex_item(item)?;
    // series_value: stale | number | signed number; returns the value and the tokens used.
    let value = |tokens: &[Token<'_>]| -> Option<(f64, usize)> {
        match tokens {
            [Token::Stale, ..] => Some((argus_model::stale_nan(), 1)),
            [Token::Number(n), ..] => number_value(n).ok().map(|v| (v, 1)),
            [Token::Add, Token::Number(n), ..] => number_value(n).ok().map(|v| (v, 2)),
            [Token::Sub, Token::Number(n), ..] => number_value(n).ok().map(|v| (-v, 2)),
            _ => None,
        }
    };
    match tokens.as_slice() {
        [Token::Blank] => out.push(SeqValue::Omitted),
        [Token::Blank, Token::Times, n] => {
            let n = repetitions(n)?;
            out.extend(std::iter::repeat_n(SeqValue::Omitted, n));
        }
        _ => {
            let (first, used) = value(&tokens).ok_or("expected a number or \"stale\"")?;
            match &tokens[used..] {
                [] => out.push(SeqValue::Float(first)),
                [Token::Times, n] => {
                    let n = repetitions(n)?;
                    out.extend(std::iter::repeat_n(SeqValue::Float(first), n + 1));
                }
                [sign @ (Token::Add | Token::Sub), Token::Number(delta), Token::Times, n] => {
                    let mut delta = number_value(delta)?;
                    if *sign == Token::Sub {
                        delta = -delta;
                    }
                    let n = repetitions(n)?;
                    let mut v = first;
                    for _ in 0..=n {
                        out.push(SeqValue::Float(v));
                        v += delta;
                    }
                }
                rest => return Err(format!("unexpected {rest:?}")),
            }
        }
    }
    Ok(())
}

/// `{{…}}`, `{{…}}xN`, `{{…}}+{{…}}xN`, `{{…}}-{{…}}xN`: counts positions only.
fn parse_histogram_item(item: &str, out: &mut Vec<SeqValue>) -> Result<(), String> {
    let close = |s: &str| s.find("}}").map(|k| k + 2).ok_or_else(|| "unterminated {{".to_string());
    let first = close(item)?;
    let rest = &item[first..];
    let count = if rest.is_empty() {
        1
    } else if let Some(n) = rest.strip_prefix('x') {
        n.parse::<usize>().map_err(|e| format!("invalid repetition: {e}"))? + 1
    } else if let Some(second) = rest.strip_prefix(['+', '-']) {
        if !second.starts_with("{{") {
            return Err("expected a histogram after the sign".into());
        }
        let end = close(second)?;
        let n = second[end..].strip_prefix('x').ok_or("expected x<count> after the histogram increment")?;
        n.parse::<usize>().map_err(|e| format!("invalid repetition: {e}"))? + 1
    } else {
        return Err(format!("unexpected {rest:?} after a histogram"));
    };
    out.extend(std::iter::repeat_n(SeqValue::Histogram, count));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(line: &str) -> Vec<Option<f64>> {
        parse_series_desc(line)
            .unwrap()
            .values
            .into_iter()
            .map(|v| match v {
                SeqValue::Float(f) => Some(f),
                SeqValue::Omitted => None,
                SeqValue::Histogram => panic!("histogram"),
            })
            .collect()
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied()).unwrap()
    }

    #[test]
    fn expands_value_notation_like_upstream() {
        assert_eq!(floats("m 1 2 3"), [Some(1.0), Some(2.0), Some(3.0)]);
        assert_eq!(floats("m 1+2x3"), [Some(1.0), Some(3.0), Some(5.0), Some(7.0)]);
        assert_eq!(floats("m 10-2x2"), [Some(10.0), Some(8.0), Some(6.0)]);
        assert_eq!(floats("m -1-1x2"), [Some(-1.0), Some(-2.0), Some(-3.0)]);
        assert_eq!(floats("m 5x2"), [Some(5.0); 3]);
        assert_eq!(floats("m _ _x3 1"), [None, None, None, None, Some(1.0)]);
        assert_eq!(floats("m _x0 1"), [Some(1.0)]);
        assert_eq!(
            floats("m +3 1e3 .5 1.5e-1 1_000"),
            [Some(3.0), Some(1000.0), Some(0.5), Some(0.15), Some(1000.0)]
        );
        assert_eq!(floats("m 0+0.1x3")[3], Some(0.1 + 0.1 + 0.1), "accumulated, not multiplied");
        assert_eq!(floats("m"), []);
        assert_eq!(floats("m   1    2 "), [Some(1.0), Some(2.0)]);
    }

    #[test]
    fn reads_special_values() {
        let v = floats("m Inf -Inf +Inf NaN nan -inf");
        assert_eq!(v[0], Some(f64::INFINITY));
        assert_eq!(v[1], Some(f64::NEG_INFINITY));
        assert_eq!(v[2], Some(f64::INFINITY));
        assert!(v[3].unwrap().is_nan() && v[4].unwrap().is_nan());
        assert_eq!(v[5], Some(f64::NEG_INFINITY));
        let stale = parse_series_desc("m 1 stale 2").unwrap().values;
        assert!(matches!(stale[1], SeqValue::Float(f) if argus_model::is_stale_nan(f)));
        // As upstream's lexer, a word runs on through `x`: these are unknown words, not repetitions.
        assert!(parse_series_desc("m stalex2").is_err());
        assert!(parse_series_desc("m Infx1").is_err());
    }

    #[test]
    fn octal_and_underscores_follow_go() {
        assert_eq!(parse_go_number("010"), Some(8.0));
        assert_eq!(parse_go_number("09"), Some(9.0), "invalid octal falls back to float");
        assert_eq!(parse_go_number("0x1f"), Some(31.0));
        assert_eq!(parse_go_number("-5"), Some(-5.0));
        assert_eq!(parse_go_number("1_000"), Some(1000.0));
        assert_eq!(parse_go_number("1__0"), None);
        assert_eq!(parse_go_number("1.5_0"), None);
        assert_eq!(parse_go_number("+Inf"), Some(f64::INFINITY));
        assert!(parse_go_number("NaN").unwrap().is_nan());
        assert_eq!(parse_go_number("--1"), None);
        assert_eq!(parse_go_number("{} 1"), None);
        assert_eq!(parse_go_number("foo"), None);
        assert_eq!(parse_go_number("1e-3"), Some(0.001));
    }

    #[test]
    fn rejects_malformed_values() {
        for bad in ["m 1x", "m 1+x3", "m 1+1", "m abc", "m 1a", "m 1..2", "m 1+-1x2", "m {{schema:1", "m 1e"]
        {
            assert!(parse_series_desc(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn histograms_keep_positions() {
        let values = parse_series_desc(
            "m 1 {{schema:1 sum:3 count:2 buckets:[1 1]}} {{count:1}}x2 {{}}+{{count:1}}x1 2",
        )
        .unwrap()
        .values;
        assert_eq!(values.len(), 1 + 1 + 3 + 2 + 1);
        assert_eq!(values[0], SeqValue::Float(1.0));
        assert!(values[1..7].iter().all(|v| *v == SeqValue::Histogram));
        assert_eq!(values[7], SeqValue::Float(2.0));
    }

    #[test]
    fn parses_metrics_and_label_sets() {
        let desc = parse_series_desc(r#"http_requests{job="api", group='canary',} 1"#).unwrap();
        assert_eq!(
            desc.labels,
            labels(&[("__name__", "http_requests"), ("job", "api"), ("group", "canary")])
        );
        let desc = parse_series_desc(r#"{__name__="x", a="\"q\"\n\x41\u00e9"} 1"#).unwrap();
        assert_eq!(desc.labels, labels(&[("__name__", "x"), ("a", "\"q\"\nAé")]));
        let desc = parse_series_desc(r#"{"my.metric", "a b"="c"} _"#).unwrap();
        assert_eq!(desc.labels, labels(&[("__name__", "my.metric"), ("a b", "c")]));
        let desc = parse_series_desc("{} 1 2").unwrap();
        assert!(desc.labels.is_empty());
        let desc = parse_series_desc("rule:name_total{le=`0.5`} 1").unwrap();
        assert_eq!(desc.labels, labels(&[("__name__", "rule:name_total"), ("le", "0.5")]));
        let desc = parse_series_desc("sum 3").unwrap();
        assert_eq!(desc.labels, labels(&[("__name__", "sum")]));
        assert!(parse_series_desc("m {a=\"b\"} 1").is_err(), "label set must follow the name directly");
        assert!(parse_series_desc("m{a!=\"b\"} 1").is_err());
        assert!(parse_series_desc("m{a=\"b\" 1").is_err());
        assert!(parse_series_desc("1 2").is_err());
    }

    #[test]
    fn durations_are_prometheus_durations() {
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("1m"), Ok(60_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("90s"), Ok(90_000));
        assert_eq!(parse_duration("100ms"), Ok(100));
        assert_eq!(parse_duration("1y"), Ok(365 * 86_400_000));
        assert_eq!(parse_duration("2w1d"), Ok(15 * 86_400_000));
        assert_eq!(parse_duration("1m1m").ok(), None);
        assert_eq!(parse_duration("1s1m").ok(), None);
        assert_eq!(parse_duration("").ok(), None);
        assert_eq!(parse_duration("-1m").ok(), None);
        assert_eq!(parse_duration("10").ok(), None);
    }

    fn evals(script: &str) -> Vec<Eval> {
        parse_script(script)
            .into_iter()
            .filter_map(|c| match c {
                Command::Eval(e) => Some(e),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn parses_commands_in_order() {
        let commands = parse_script(
            "# comment\nload 5m\n  a{x=\"1\"} 1 2\n  b 0+1x2\n\nclear\nload_with_nhcb 1m\n  c_bucket{le=\"1\"} 1\n\neval instant at 10m a\n  a{x=\"1\"} 2\n",
        );
        assert_eq!(commands.len(), 4);
        let Command::Load(load) = &commands[0] else { panic!("{commands:?}") };
        assert_eq!((load.line, load.interval_ms, load.with_nhcb, load.series.len()), (2, 300_000, false, 2));
        assert!(matches!(commands[1], Command::Clear));
        let Command::Load(nhcb) = &commands[2] else { panic!() };
        assert!(nhcb.with_nhcb);
        let Command::Eval(eval) = &commands[3] else { panic!() };
        assert_eq!(
            (eval.line, eval.query.as_str(), eval.kind),
            (10, "a", EvalKind::Instant { time: 600_000 })
        );
    }

    #[test]
    fn a_comment_ends_a_block_and_unknown_lines_are_invalid() {
        let commands = parse_script("load 1m\n  a 1\n# c\n  b 1\n");
        assert_eq!(commands.len(), 2);
        assert!(matches!(&commands[1], Command::Invalid { line: 4, .. }));
    }

    #[test]
    fn later_definitions_of_a_series_replace_earlier_ones() {
        let commands = parse_script("load 1m\n  a 1\n  a 2 3\n");
        let Command::Load(load) = &commands[0] else { panic!() };
        assert_eq!(load.series.len(), 1);
        assert_eq!(load.series[0].values, [SeqValue::Float(2.0), SeqValue::Float(3.0)]);
    }

    #[test]
    fn load_errors_are_kept_per_line() {
        let commands = parse_script("load 1m\n  a 1\n  b 1x\n  c@st _ -1m\n  c 2\n");
        let Command::Load(load) = &commands[0] else { panic!() };
        assert_eq!(load.series.len(), 2);
        assert_eq!(load.errors.len(), 1);
        assert_eq!(load.errors[0].0, 3);
    }

    #[test]
    fn parses_range_evals() {
        let [eval] =
            evals("eval range from 0 to 10m step 5m sum(a) by (x)\n  {x=\"1\"} 1 _ 3\n").try_into().unwrap();
        assert_eq!(eval.kind, EvalKind::Range { start: 0, end: 600_000, step: 300_000 });
        assert_eq!(eval.query, "sum(a) by (x)");
        let ExpectedResult::Series(series) = &eval.result else { panic!() };
        assert_eq!(series[0].values, [SeqValue::Float(1.0), SeqValue::Omitted, SeqValue::Float(3.0)]);
        let [bad] = evals("eval range from 10m to 0 step 5m a\n").try_into().unwrap();
        assert!(bad.error.unwrap().contains("before start"));
        let [bad] = evals("eval_ordered range from 0 to 1m step 1m a\n").try_into().unwrap();
        assert!(bad.error.is_some());
    }

    #[test]
    fn parses_expect_lines() {
        let [eval] = evals(
            "eval instant at 1m foo\n  expect fail msg: bad thing\n  expect warn regex: a.c\n  expect no_info\n  expect ordered\n",
        )
        .try_into()
        .unwrap();
        assert!(eval.fail && eval.ordered && eval.error.is_none());
        assert_eq!(eval.fail_checks, [TextMatch::Exact("bad thing".into())]);
        assert_eq!(eval.annotations.len(), 2);
        assert!(eval.annotations[0].1.matches("xxabcxx"));
        assert!(!eval.annotations[0].1.matches("ac"));

        let [eval] = evals("eval instant at 1m foo\n  expect fail\n").try_into().unwrap();
        assert_eq!(eval.fail_checks, [TextMatch::Any]);
        let [eval] = evals("eval instant at 1m foo\n  expect fail msg:vector x\n").try_into().unwrap();
        assert_eq!(eval.fail_checks, [TextMatch::Exact("vector x".into())]);

        for bad in [
            "expect fail\n  expect fail",
            "expect warn\n  expect no_warn",
            "expect info\n  expect no_info",
            "expect bogus",
            "expect fail msg:",
            "expect fail text: x",
            "expect fail regex: (",
        ] {
            let [eval] = evals(&format!("eval instant at 1m foo\n  {bad}\n")).try_into().unwrap();
            assert!(eval.error.is_some(), "{bad}");
        }
    }

    #[test]
    fn parses_deprecated_forms() {
        let [a, b, c, d] = evals(
            "eval_fail instant at 0 foo\n  expected_fail_message boom here\n\neval_fail instant at 0 foo\n  expected_fail_regexp bo+m\n\neval_ordered instant at 0 foo\n  foo 1\n\neval_warn instant at 0 foo\n",
        )
        .try_into()
        .unwrap();
        assert!(a.fail && b.fail);
        assert_eq!(a.fail_checks, [TextMatch::Exact("boom here".into())]);
        assert!(b.fail_checks[0].matches("a boooom"));
        assert!(c.ordered);
        assert_eq!(d.annotations, [(AnnotationKind::Warn, TextMatch::Any)]);
    }

    #[test]
    fn scalar_string_and_range_vector_expectations() {
        let [scalar, string, raw, range] = evals(
            "eval instant at 1m 1+1\n  2\n\neval instant at 1m \"a\"\n  expect string \"a\\tb\"\n\neval instant at 1m `x`\n  expect string `x\\n`\n\neval instant at 5m m[1m]\n  expect range vector from 10s to 1m step 10s\n  m{a=\"1\"} 1 2 _ 3\n",
        )
        .try_into()
        .unwrap();
        assert_eq!(scalar.result, ExpectedResult::Scalar(2.0));
        assert_eq!(string.string.as_deref(), Some("a\tb"));
        assert_eq!(raw.string.as_deref(), Some("x\\n"));
        assert_eq!(range.range_vector, Some((10_000, 60_000, 10_000)));
        assert_eq!(range.instant_time(), Some(60_000), "evaluated at the end of the expected range");
        assert!(range.excluded_from_range_mode());
        let [bad] = evals("eval instant at 1m m\n  m 1 2\n").try_into().unwrap();
        assert!(bad.error.unwrap().contains("multiple values"));
        let [bad] = evals("eval instant at 1m \"a\"\n  expect string a\n").try_into().unwrap();
        assert!(bad.error.is_some());
    }

    #[test]
    fn positions_count_result_lines_only() {
        let [eval] = evals("eval instant at 1m sort(m)\n  expect ordered\n  expect no_warn\n  m{a=\"2\"} 1\n  m{a=\"1\"} 2\n")
            .try_into()
            .unwrap();
        let ExpectedResult::Series(series) = &eval.result else { panic!() };
        assert_eq!(series.iter().map(|s| s.position).collect::<Vec<_>>(), [1, 2]);
    }

    #[test]
    fn a_bad_eval_block_is_skipped_whole() {
        let commands =
            parse_script("eval instant at 1m m\n  m 1 2\n  m{a=\"x\"} 3\n\neval instant at 1m m\n");
        assert_eq!(commands.len(), 2);
        assert!(matches!(&commands[1], Command::Eval(e) if e.error.is_none()));
    }

    #[test]
    fn unquotes_like_go() {
        assert_eq!(go_unquote("\"a\\\"b\"").as_deref(), Some("a\"b"));
        assert_eq!(go_unquote("`a\\b`").as_deref(), Some("a\\b"));
        assert_eq!(go_unquote("'ab'"), None);
        assert_eq!(go_unquote("\"ab"), None);
        assert_eq!(go_unquote("\"a\" b"), None);
        assert_eq!(go_unquote("\"\\101\\x42\"").as_deref(), Some("AB"));
    }
}
