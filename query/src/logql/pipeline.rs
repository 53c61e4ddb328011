//! Running a log pipeline over one entry: line filters, parsers (`json`, `logfmt`, `regexp`,
//! `pattern`), label filters, `line_format`, `label_format`, `drop`, `keep`, and the `unwrap`
//! that turns a label into a sample value.
//!
//! Labels start as the stream's, plus the entry's structured metadata. A parser adds what it
//! extracts (a name already taken by a stream label gets the suffix `_extracted`); a parser
//! that fails sets `__error__` (`JSONParserErr`, `LogfmtParserErr`) and `__error_details__`
//! and the entry goes on, as in Loki, so that `| __error__=""` can drop it. A label filter
//! that cannot read a label as a number keeps the entry and sets `__error__=LabelFilterErr`.

use std::collections::BTreeMap;

use argus_model::labels::sanitize_label_name;
use argus_model::{Labels, LogEntry};
use serde_json::Value;

use super::ast::*;
use super::parse::{parse_bytes, parse_go_duration};
use super::template;

pub const ERROR_LABEL: &str = "__error__";
pub const ERROR_DETAILS_LABEL: &str = "__error_details__";

/// The labels and line of an entry part-way through a pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Processed {
    pub labels: BTreeMap<String, String>,
    pub line: String,
}

impl Processed {
    pub fn error(&self) -> Option<&str> {
        self.labels.get(ERROR_LABEL).map(String::as_str)
    }

    fn set_error(&mut self, error: &str, details: String) {
        if !self.labels.contains_key(ERROR_LABEL) {
            self.labels.insert(ERROR_LABEL.to_string(), error.to_string());
            self.labels.insert(ERROR_DETAILS_LABEL.to_string(), details);
        }
    }

    /// The final labels (empty values dropped, as everywhere in Argus).
    pub fn into_labels(self) -> Labels {
        Labels::from_pairs(self.labels).unwrap_or_default()
    }
}

/// Runs `stages` over an entry of a stream: `None` when a filter drops it.
pub fn process(stages: &[Stage], stream: &Labels, entry: &LogEntry) -> Option<Processed> {
    let mut current = start(stream, entry);
    run(stages, stream, entry.timestamp, &mut current).then_some(current)
}

/// An entry before any stage: its stream's labels and structured metadata, and its line.
pub fn start(stream: &Labels, entry: &LogEntry) -> Processed {
    let mut labels: BTreeMap<String, String> =
        stream.iter().map(|l| (l.name.to_string(), l.value.to_string())).collect();
    for label in entry.metadata.iter() {
        labels.insert(label.name.to_string(), label.value.to_string());
    }
    Processed { labels, line: entry.line.clone() }
}

/// Runs `stages` over `current`; false when a filter drops it.
pub fn run(stages: &[Stage], stream: &Labels, timestamp: i64, current: &mut Processed) -> bool {
    stages.iter().all(|stage| apply(stage, stream, timestamp, current))
}

/// Applies one stage; false when it drops the entry.
fn apply(stage: &Stage, stream: &Labels, timestamp: i64, current: &mut Processed) -> bool {
    match stage {
        Stage::LineFilter(filter) => return line_filter_holds(filter, &current.line),
        Stage::Json(extractions) => json(extractions, stream, current),
        Stage::Logfmt { strict, keep_empty, extractions } => {
            logfmt(*strict, *keep_empty, extractions, stream, current)
        }
        Stage::Regexp(regex) => {
            if let Some(captures) = regex.captures(&current.line) {
                let found: Vec<(String, String)> = regex
                    .capture_names()
                    .flatten()
                    .filter_map(|name| {
                        captures.name(name).map(|m| (name.to_string(), m.as_str().to_string()))
                    })
                    .collect();
                for (name, value) in found {
                    add_extracted(&mut current.labels, stream, &name, value);
                }
            }
        }
        Stage::Pattern(pattern) => {
            if let Some(found) = match_pattern(pattern, &current.line) {
                for (name, value) in found {
                    add_extracted(&mut current.labels, stream, &name, value);
                }
            }
        }
        Stage::LabelFilter(filter) => {
            let errored = current.error().is_some();
            match label_filter(filter, &current.labels, errored) {
                Ok(holds) => return holds,
                Err(details) => current.set_error("LabelFilterErr", details),
            }
        }
        Stage::LineFormat(template) => {
            let labels = &current.labels;
            current.line =
                template::render(template, |n| labels.get(n).map(String::as_str), &current.line, timestamp);
        }
        Stage::LabelFormat(formats) => label_format(formats, timestamp, current),
        Stage::Drop(selections) => current.labels.retain(|name, value| !selected(selections, name, value)),
        Stage::Keep(selections) => current.labels.retain(|name, value| selected(selections, name, value)),
        Stage::Decolorize => current.line = decolorize(&current.line),
        // Metric queries split the pipeline at the unwrap and read the value there.
        Stage::Unwrap(_) => {}
    }
    true
}

pub fn line_filter_holds(filter: &LineFilter, line: &str) -> bool {
    let any = filter.patterns.iter().any(|pattern| match pattern {
        LinePattern::Text(text) => line.contains(text.as_str()),
        LinePattern::Regex(regex) => regex.is_match(line),
    });
    match filter.op {
        LineFilterOp::Contains | LineFilterOp::Matches => any,
        LineFilterOp::NotContains | LineFilterOp::NotMatches => !any,
    }
}

/// Adds an extracted label, renamed `<name>_extracted` when the stream has that label.
fn add_extracted(labels: &mut BTreeMap<String, String>, stream: &Labels, name: &str, value: String) {
    let name = sanitize_label_name(name);
    if stream.get(&name).is_some() {
        labels.insert(format!("{name}_extracted"), value);
    } else {
        labels.insert(name, value);
    }
}

fn json(extractions: &[Extraction], stream: &Labels, current: &mut Processed) {
    let value: Value = match serde_json::from_str(&current.line) {
        Ok(value @ Value::Object(_)) => value,
        Ok(_) => return current.set_error("JSONParserErr", "line is not a JSON object".to_string()),
        Err(error) => return current.set_error("JSONParserErr", error.to_string()),
    };
    if extractions.is_empty() {
        let mut found = Vec::new();
        flatten_json("", &value, &mut found);
        for (name, value) in found {
            add_extracted(&mut current.labels, stream, &name, value);
        }
        return;
    }
    for extraction in extractions {
        let mut at = &value;
        let mut found = true;
        for step in &extraction.path {
            let next = match step {
                PathStep::Key(key) => at.get(key.as_str()),
                PathStep::Index(index) => at.get(*index),
            };
            match next {
                Some(next) => at = next,
                None => {
                    found = false;
                    break;
                }
            }
        }
        if found && let Some(text) = json_text(at) {
            add_extracted(&mut current.labels, stream, &extraction.label, text);
        }
    }
}

/// Every scalar of a JSON object, nested keys joined by `_`; arrays are not flattened.
fn flatten_json(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    let Value::Object(members) = value else { return };
    for (key, member) in members {
        let name = if prefix.is_empty() { key.clone() } else { format!("{prefix}_{key}") };
        match member {
            Value::Object(_) => flatten_json(&name, member, out),
            other => {
                if let Some(text) = json_text(other) {
                    out.push((name, text));
                }
            }
        }
    }
}

/// A JSON scalar as label text; objects and arrays as their JSON, `null` as nothing.
fn json_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Array(_) => None,
        other => Some(other.to_string()),
    }
}

fn logfmt(
    strict: bool,
    keep_empty: bool,
    extractions: &[Extraction],
    stream: &Labels,
    current: &mut Processed,
) {
    let pairs = match argus_model::logfmt::parse(&current.line, strict) {
        Ok(pairs) => pairs,
        Err(details) => return current.set_error("LogfmtParserErr", details),
    };
    if extractions.is_empty() {
        for (key, value) in pairs {
            if !value.is_empty() || keep_empty {
                add_extracted(&mut current.labels, stream, &key, value);
            }
        }
        return;
    }
    for extraction in extractions {
        let Some(PathStep::Key(key)) = extraction.path.first() else { continue };
        if let Some((_, value)) = pairs.iter().rev().find(|(k, _)| k == key) {
            add_extracted(&mut current.labels, stream, &extraction.label, value.clone());
        }
    }
}

/// The captures of `pattern` in `line`, or `None` when the line does not have its shape.
/// A capture takes the shortest text up to the next literal; the last one takes the rest.
pub fn match_pattern(pattern: &Pattern, line: &str) -> Option<Vec<(String, String)>> {
    let mut found = Vec::new();
    let mut rest = line;
    let mut parts = pattern.parts.iter().peekable();
    while let Some(part) = parts.next() {
        match part {
            PatternPart::Literal(literal) => rest = rest.strip_prefix(literal.as_str())?,
            PatternPart::Capture(name) => {
                let end = match parts.peek() {
                    Some(PatternPart::Literal(next)) => rest.find(next.as_str())?,
                    _ => rest.len(),
                };
                if let Some(name) = name {
                    found.push((name.clone(), rest[..end].to_string()));
                }
                rest = &rest[end..];
            }
        }
    }
    Some(found)
}

/// Evaluates a label filter; `Err` with details when a value cannot be read as a number,
/// duration or size.
fn label_filter(
    filter: &LabelFilter,
    labels: &BTreeMap<String, String>,
    errored: bool,
) -> Result<bool, String> {
    let compared =
        |name: &str, compare: &dyn Fn(&str) -> Option<bool>| compare_label(labels, errored, name, compare);
    Ok(match filter {
        LabelFilter::And(left, right) => {
            label_filter(left, labels, errored)? && label_filter(right, labels, errored)?
        }
        LabelFilter::Or(left, right) => {
            label_filter(left, labels, errored)? || label_filter(right, labels, errored)?
        }
        LabelFilter::String(matcher) => {
            matcher.matches(labels.get(&matcher.name).map(String::as_str).unwrap_or(""))
        }
        LabelFilter::Number { name, op, value } => {
            compared(name, &|text| text.parse::<f64>().ok().map(|n| op.holds(n, *value)))?
        }
        LabelFilter::Duration { name, op, value } => {
            compared(name, &|text| parse_go_duration(text).map(|d| op.holds(d, *value)))?
        }
        LabelFilter::Bytes { name, op, value } => {
            compared(name, &|text| parse_bytes(text).map(|b| op.holds(b, *value)))?
        }
    })
}

/// A numeric comparison of label `name` as Loki makes it: an entry that already carries an
/// error passes (only string matchers filter those), one without the label does not, and a
/// value `compare` cannot read is an error.
fn compare_label(
    labels: &BTreeMap<String, String>,
    errored: bool,
    name: &str,
    compare: &dyn Fn(&str) -> Option<bool>,
) -> Result<bool, String> {
    if errored {
        return Ok(true);
    }
    let Some(text) = labels.get(name) else { return Ok(false) };
    compare(text.trim()).ok_or_else(|| format!("{name}={text:?} cannot be compared"))
}

fn label_format(formats: &[LabelFormat], timestamp: i64, current: &mut Processed) {
    let before = current.labels.clone();
    for format in formats {
        match format {
            LabelFormat::Rename { to, from } => {
                let value = before.get(from).cloned().unwrap_or_default();
                current.labels.remove(from);
                current.labels.insert(to.clone(), value);
            }
            LabelFormat::Template { to, template } => {
                let value = template::render(
                    template,
                    |n| before.get(n).map(String::as_str),
                    &current.line,
                    timestamp,
                );
                current.labels.insert(to.clone(), value);
            }
        }
    }
}

fn selected(selections: &[LabelSelection], name: &str, value: &str) -> bool {
    selections.iter().any(|s| s.name == name && s.matcher.as_ref().is_none_or(|m| m.matches(value)))
}

/// The line without ANSI escape sequences (colours, cursor moves).
fn decolorize(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Reads the value `unwrap` names and removes its label; when it cannot, sets
/// `__error__=SampleExtractionErr` and returns NaN (a later `| __error__=""` may drop it).
pub fn unwrap(unwrap: &Unwrap, current: &mut Processed) -> f64 {
    match unwrap_value(unwrap, &current.labels) {
        Ok(value) => {
            current.labels.remove(&unwrap.label);
            value
        }
        Err(details) => {
            current.set_error("SampleExtractionErr", details);
            f64::NAN
        }
    }
}

fn unwrap_value(unwrap: &Unwrap, labels: &BTreeMap<String, String>) -> Result<f64, String> {
    let text = labels.get(&unwrap.label).map(String::as_str).unwrap_or("").trim();
    let value = match unwrap.conversion {
        Conversion::Number => text.parse::<f64>().ok(),
        Conversion::Duration => parse_go_duration(text).map(|d| d.as_secs_f64()),
        Conversion::Bytes => parse_bytes(text).map(|b| b as f64),
    };
    value.ok_or_else(|| format!("cannot unwrap {}={text:?}", unwrap.label))
}
