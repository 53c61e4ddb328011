//! A parser for the Prometheus text exposition format, version 0.0.4, and for OpenMetrics 1.0
//! text ([`Format`]): text in, labelled samples out. It serves
//! `POST /api/v1/import/prometheus` and the scraping agent.
//!
//! OpenMetrics differs in what this parser reads as follows: timestamps are float seconds (not
//! integer milliseconds); a sample may end with an exemplar (`# {trace_id="a"} 1.0 [ts]`),
//! which is checked for shape and ignored; the exposition must end with `# EOF` and nothing may
//! follow it; `# UNIT` lines and the types `gaugehistogram`, `info`, `stateset` and `unknown`
//! are allowed; and the `<family>_created` samples of counters, histograms, gauge histograms
//! and summaries (creation times, not measurements) are skipped, as Prometheus does.
//!
//! It does not accept the quoted UTF-8 metric and label names of Prometheus 3 (names follow the
//! legacy rules), and apart from `_created` it does not check metric families: `# HELP` and
//! `# TYPE` lines are checked for shape, so nothing ties a `_bucket` line to its
//! `# TYPE ... histogram`. Duplicate series are all returned; callers decide. It does no I/O
//! and knows nothing about storage; callers decide what a missing timestamp means.
//!
//! Grammar, one line at a time (lines end in `\n`, a trailing `\r` is dropped; blanks are spaces
//! and tabs):
//!
//! ```text
//! line    = blank* ( sample | "#" comment | "" ) blank*
//! sample  = metric_name ( blank+ | blank* labels blank* ) value [ blank+ timestamp ]
//! labels  = "{" [ label { "," label } [ "," ] ] blank* "}"
//! label   = blank* label_name blank* "=" blank* '"' escaped_value '"' blank*
//! comment = blank+ "HELP" blank+ metric_name [ blank+ text ]
//!         | blank+ "TYPE" blank+ metric_name blank+ type
//!         | anything else (ignored)
//! type    = "counter" | "gauge" | "histogram" | "summary" | "untyped"
//! ```
//!
//! Values follow Go's `strconv.ParseFloat` as Prometheus uses it: decimal floats with optional
//! exponent, `NaN`, `Inf`, `Infinity` (any case, the infinities optionally signed). Hex floats and
//! `_` are refused, as Prometheus refuses them, and so is a finite-looking value too large for an
//! `f64` (Go reports it as out of range). Timestamps are signed 64-bit integer milliseconds.

use std::borrow::Cow;

use argus_model::labels::{is_valid_label_name, is_valid_metric_name};
use argus_model::{Label, Labels, LabelsError, METRIC_NAME, Sample, Timestamp};

/// One sample line of an exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSample {
    /// The series, `__name__` included. Labels with empty values are absent, as in Prometheus.
    pub labels: Labels,
    pub value: f64,
    /// Milliseconds since the Unix epoch, when the line gives one.
    pub timestamp: Option<Timestamp>,
}

impl ParsedSample {
    /// The sample, stamped with `default_t` when the line carried no timestamp.
    pub fn sample_or(&self, default_t: Timestamp) -> Sample {
        Sample::new(self.timestamp.unwrap_or(default_t), self.value)
    }
}

/// A line of the exposition that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ParseError {
    /// 1-based line number in the input.
    pub line: usize,
    pub reason: ParseErrorReason,
}

/// What is wrong with a line. Quoted input is cut to [`EXCERPT_CHARS`] characters so an error
/// about a huge line stays small.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorReason {
    #[error("expected a metric name at the start of the line")]
    MissingMetricName,
    #[error("invalid metric name {0:?}")]
    InvalidMetricName(String),
    #[error("expected a label name, found {0:?}")]
    ExpectedLabelName(String),
    #[error("invalid label name {0:?}")]
    InvalidLabelName(String),
    #[error("label {METRIC_NAME:?} inside braces repeats the metric name")]
    MetricNameLabel,
    #[error("expected '=' after label name {0:?}")]
    ExpectedEquals(String),
    #[error("expected '\"' to open the value of label {0:?}")]
    ExpectedQuote(String),
    #[error("unterminated value of label {0:?}")]
    UnterminatedLabelValue(String),
    #[error("expected ',' or '}}' after the value of label {0:?}")]
    ExpectedCommaOrBrace(String),
    #[error("line ends before the closing '}}' of the labels")]
    UnterminatedLabels,
    #[error("duplicate label name {0:?}")]
    DuplicateLabel(String),
    #[error("invalid label set: {0}")]
    LabelSet(LabelsError),
    #[error("expected a sample value")]
    MissingValue,
    #[error("invalid sample value {0:?}")]
    InvalidValue(String),
    #[error("sample value {0:?} is out of the range of a 64-bit float")]
    ValueOutOfRange(String),
    #[error("invalid timestamp {0:?}, expected integer milliseconds")]
    InvalidTimestamp(String),
    #[error("unexpected {0:?} after the timestamp")]
    TrailingText(String),
    #[error("expected a metric name after {0}")]
    MissingMetaName(&'static str),
    #[error("expected a metric type after the metric name in TYPE")]
    MissingType,
    #[error("invalid metric type {0:?}, expected one of counter, gauge, histogram, summary, untyped")]
    InvalidType(String),
    #[error("invalid timestamp {0:?}, expected seconds")]
    InvalidSecondsTimestamp(String),
    #[error("invalid exemplar {0:?}, expected # {{labels}} value [timestamp]")]
    InvalidExemplar(String),
    #[error("OpenMetrics exposition does not end with \"# EOF\"")]
    MissingEof,
    #[error("text after \"# EOF\"")]
    AfterEof,
}

/// Which text format an exposition is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// `text/plain; version=0.0.4`.
    #[default]
    Prometheus,
    /// `application/openmetrics-text`.
    OpenMetrics,
}

impl Format {
    /// The format a `Content-Type` header names; anything but OpenMetrics is read as the
    /// Prometheus text format, as Prometheus does.
    pub fn of_content_type(content_type: Option<&str>) -> Format {
        if crate::http::is_media_type(content_type, "application/openmetrics-text") {
            Format::OpenMetrics
        } else {
            Format::Prometheus
        }
    }
}

/// How much of an offending token an error quotes.
pub const EXCERPT_CHARS: usize = 64;

/// Parses a whole Prometheus-format exposition, stopping at the first bad line. For a partial
/// import that skips bad lines, use [`samples`].
pub fn parse(text: &str) -> Result<Vec<ParsedSample>, ParseError> {
    samples(text).collect()
}

/// As [`parse`], for an exposition in `format`.
pub fn parse_as(text: &str, format: Format) -> Result<Vec<ParsedSample>, ParseError> {
    samples_as(text, format).collect()
}

/// A label as a sample line spells it: the name borrowed from the text, the value too unless
/// escapes had to be undone.
pub type TextLabel<'a> = (&'a str, Cow<'a, str>);

/// The samples of a Prometheus-format exposition, one item per sample line, in input order. A
/// bad line yields an `Err` and iteration continues with the next line.
pub fn samples(text: &str) -> Samples<'_> {
    samples_as(text, Format::Prometheus)
}

/// As [`samples`], for an exposition in `format`. For OpenMetrics, a missing `# EOF` is an
/// `Err` after the last line.
pub fn samples_as(text: &str, format: Format) -> Samples<'_> {
    Samples { lines: SampleLines::new(text, format), labels: Vec::new() }
}

/// Iterator returned by [`samples`].
#[derive(Debug)]
pub struct Samples<'a> {
    lines: SampleLines<'a>,
    labels: Vec<TextLabel<'a>>,
}

impl Iterator for Samples<'_> {
    type Item = Result<ParsedSample, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (value, timestamp) = match self.lines.next_into(&mut self.labels)? {
            Ok(sample) => sample,
            Err(error) => return Some(Err(error)),
        };
        let labels = self.labels.iter().map(|(name, value)| Label::new(*name, &**value)).collect();
        Some(match Labels::new(labels) {
            Ok(labels) => Ok(ParsedSample { labels, value, timestamp }),
            Err(error) => {
                Err(ParseError { line: self.lines.lines_read, reason: ParseErrorReason::LabelSet(error) })
            }
        })
    }
}

/// The sample lines of an exposition read one at a time into the caller's label buffer, for
/// callers that want the labels without copying them (a scraper encodes them straight into
/// its request). [`Samples`] is this with owned label sets.
#[derive(Debug)]
pub struct SampleLines<'a> {
    lines: std::iter::Enumerate<std::str::Split<'a, char>>,
    format: Format,
    /// OpenMetrics: the `_created` name of the current family when its samples of that name
    /// are creation times (counters, histograms, gauge histograms, summaries).
    created_family: Option<String>,
    /// OpenMetrics: `# EOF` was read.
    eof: bool,
    done: bool,
    lines_read: usize,
}

impl<'a> SampleLines<'a> {
    pub fn new(text: &'a str, format: Format) -> Self {
        let lines = text.strip_suffix('\n').unwrap_or(text).split('\n').enumerate();
        Self { lines, format, created_family: None, eof: false, done: false, lines_read: 0 }
    }

    /// Reads the next sample: its labels replace the content of `labels` (sorted by name with
    /// unique names, `__name__` among them, no empty values) and its value and timestamp are
    /// returned; `None` after the last line. A bad line is an `Err`, and the next call goes
    /// on with the line after it.
    pub fn next_into(
        &mut self,
        labels: &mut Vec<TextLabel<'a>>,
    ) -> Option<Result<(f64, Option<Timestamp>), ParseError>> {
        if self.done {
            return None;
        }
        while let Some((index, raw)) = self.lines.next() {
            self.lines_read = index + 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            let parsed = match self.format {
                Format::Prometheus => parse_line(line, labels),
                Format::OpenMetrics => self.parse_open_metrics_line(line, labels),
            };
            match parsed {
                Ok(None) => continue,
                Ok(Some(sample)) => return Some(Ok(sample)),
                Err(reason) => return Some(Err(ParseError { line: index + 1, reason })),
            }
        }
        self.done = true;
        (self.format == Format::OpenMetrics && !self.eof)
            .then(|| Err(ParseError { line: self.lines_read.max(1), reason: ParseErrorReason::MissingEof }))
    }

    fn parse_open_metrics_line(
        &mut self,
        line: &'a str,
        labels: &mut Vec<TextLabel<'a>>,
    ) -> Result<Option<(f64, Option<Timestamp>)>, ParseErrorReason> {
        if self.eof {
            return Err(ParseErrorReason::AfterEof);
        }
        let line = line.trim_matches(is_blank_char);
        if line == "# EOF" {
            self.eof = true;
            return Ok(None);
        }
        if line.is_empty() {
            return Ok(None);
        }
        if let Some(comment) = line.strip_prefix('#') {
            if let Some((name, family_type)) = check_comment(comment, Format::OpenMetrics)? {
                let with_created =
                    matches!(family_type, "counter" | "histogram" | "gaugehistogram" | "summary");
                self.created_family = with_created.then(|| format!("{name}_created"));
            }
            return Ok(None);
        }
        let sample = parse_sample(line, Format::OpenMetrics, labels)?;
        let name = labels.iter().find(|(name, _)| *name == METRIC_NAME).map(|(_, value)| &**value);
        let created = self.created_family.as_deref().is_some_and(|created| name == Some(created));
        Ok((!created).then_some(sample))
    }
}

/// Parses one Prometheus-format line without its terminator into `labels` and the value and
/// timestamp: `Ok(None)` for blank and comment lines.
fn parse_line<'a>(
    line: &'a str,
    labels: &mut Vec<TextLabel<'a>>,
) -> Result<Option<(f64, Option<Timestamp>)>, ParseErrorReason> {
    let line = line.trim_matches(is_blank_char);
    if line.is_empty() {
        return Ok(None);
    }
    if let Some(comment) = line.strip_prefix('#') {
        check_comment(comment, Format::Prometheus)?;
        return Ok(None);
    }
    parse_sample(line, Format::Prometheus, labels).map(Some)
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn is_blank_char(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Checks the shape of `# HELP`, `# TYPE` (and, for OpenMetrics, `# UNIT`) lines; `comment` is
/// the line after `#`, trimmed at the end. Returns the family name and type of a `# TYPE` line.
/// As in Prometheus, the keyword only counts when blanks separate it from `#`, so `#HELP x` is
/// an ordinary comment.
fn check_comment(comment: &str, format: Format) -> Result<Option<(&str, &str)>, ParseErrorReason> {
    let body = comment.trim_start_matches(is_blank_char);
    if body.len() == comment.len() {
        return Ok(None);
    }
    let (keyword, rest) = split_token(body);
    match (keyword, format) {
        // The help text and unit may be anything, escapes included; nothing reads them.
        ("HELP", _) => meta_name(rest, "HELP").map(|_| None),
        ("UNIT", Format::OpenMetrics) => meta_name(rest, "UNIT").map(|_| None),
        ("TYPE", _) => {
            let family_type = meta_name(rest, "TYPE")?;
            let (name, _) = split_token(rest);
            let known = match format {
                Format::Prometheus => {
                    matches!(family_type, "counter" | "gauge" | "histogram" | "summary" | "untyped")
                }
                Format::OpenMetrics => matches!(
                    family_type,
                    "counter"
                        | "gauge"
                        | "histogram"
                        | "gaugehistogram"
                        | "summary"
                        | "info"
                        | "stateset"
                        | "unknown"
                ),
            };
            match family_type {
                "" => Err(ParseErrorReason::MissingType),
                _ if known => Ok(Some((name, family_type))),
                other => Err(ParseErrorReason::InvalidType(excerpt(other))),
            }
        }
        _ => Ok(None),
    }
}

/// Reads and checks the metric name of a HELP or TYPE line; returns what follows it.
fn meta_name<'a>(rest: &'a str, keyword: &'static str) -> Result<&'a str, ParseErrorReason> {
    let (name, rest) = split_token(rest);
    if name.is_empty() {
        return Err(ParseErrorReason::MissingMetaName(keyword));
    }
    if !is_valid_metric_name(name) {
        return Err(ParseErrorReason::InvalidMetricName(excerpt(name)));
    }
    Ok(rest)
}

/// Splits `s` at its first blank into the token before it and the rest after the blanks.
fn split_token(s: &str) -> (&str, &str) {
    match s.split_once(is_blank_char) {
        Some((token, rest)) => (token, rest.trim_start_matches(is_blank_char)),
        None => (s, ""),
    }
}

/// Parses a sample line already trimmed of blanks at both ends.
fn parse_sample<'a>(
    line: &'a str,
    format: Format,
    labels: &mut Vec<TextLabel<'a>>,
) -> Result<(f64, Option<Timestamp>), ParseErrorReason> {
    let mut cursor = Cursor::new(line);
    // Take the whole token up to a blank or brace, so `a-b 1` is reported as the bad name
    // `a-b` rather than as a bad value after `a`.
    let name = cursor.take_until(|b| is_blank(b) || b == b'{');
    if name.is_empty() {
        return Err(ParseErrorReason::MissingMetricName);
    }
    if !is_valid_metric_name(name) {
        return Err(ParseErrorReason::InvalidMetricName(excerpt(name)));
    }
    labels.clear();
    labels.push((METRIC_NAME, Cow::Borrowed(name)));
    cursor.skip_blanks();
    if cursor.eat(b'{') {
        parse_labels(&mut cursor, labels)?;
        cursor.skip_blanks();
    }

    let value = cursor.take_until(is_blank);
    if value.is_empty() {
        return Err(ParseErrorReason::MissingValue);
    }
    let value = parse_value(value)?;

    cursor.skip_blanks();
    // An OpenMetrics exemplar may follow the value directly.
    let timestamp = match format == Format::OpenMetrics && cursor.rest().starts_with('#') {
        true => "",
        false => cursor.take_until(is_blank),
    };
    let timestamp = match (timestamp, format) {
        ("", _) => None,
        (token, Format::Prometheus) => Some(parse_timestamp(token)?),
        (token, Format::OpenMetrics) => Some(parse_seconds_timestamp(token)?),
    };

    cursor.skip_blanks();
    let rest = cursor.rest();
    match (format, rest) {
        (_, "") => {}
        (Format::OpenMetrics, exemplar) if exemplar.starts_with('#') => check_exemplar(exemplar)?,
        (_, rest) => return Err(ParseErrorReason::TrailingText(excerpt(rest))),
    }

    check_label_set(labels)?;
    Ok((value, timestamp))
}

/// Parses the labels after `{` up to and including the closing `}`, appending them to `labels`.
fn parse_labels<'a>(
    cursor: &mut Cursor<'a>,
    labels: &mut Vec<TextLabel<'a>>,
) -> Result<(), ParseErrorReason> {
    loop {
        cursor.skip_blanks();
        // Reached at the start and after every comma, which is what makes a trailing comma legal.
        if cursor.eat(b'}') {
            return Ok(());
        }
        let name = cursor.take_until(|b| is_blank(b) || matches!(b, b'=' | b',' | b'}' | b'"' | b'{'));
        if name.is_empty() {
            return Err(match cursor.rest().chars().next() {
                None => ParseErrorReason::UnterminatedLabels,
                Some(c) => ParseErrorReason::ExpectedLabelName(c.to_string()),
            });
        }
        if !is_valid_label_name(name) {
            return Err(ParseErrorReason::InvalidLabelName(excerpt(name)));
        }
        if name == METRIC_NAME {
            return Err(ParseErrorReason::MetricNameLabel);
        }
        cursor.skip_blanks();
        if !cursor.eat(b'=') {
            return Err(ParseErrorReason::ExpectedEquals(excerpt(name)));
        }
        cursor.skip_blanks();
        if !cursor.eat(b'"') {
            return Err(ParseErrorReason::ExpectedQuote(excerpt(name)));
        }
        let Some(value) = cursor.label_value() else {
            return Err(ParseErrorReason::UnterminatedLabelValue(excerpt(name)));
        };
        labels.push((name, value));
        cursor.skip_blanks();
        if cursor.eat(b',') {
            continue;
        }
        if cursor.eat(b'}') {
            return Ok(());
        }
        return Err(if cursor.rest().is_empty() {
            ParseErrorReason::UnterminatedLabels
        } else {
            ParseErrorReason::ExpectedCommaOrBrace(excerpt(name))
        });
    }
}

/// Makes the parsed labels a valid label set in place: sorted by name, repeated names refused
/// (before empty values are dropped, or `{a="",a="x"}` would get through), empty values dropped
/// as Prometheus drops them.
fn check_label_set(labels: &mut Vec<TextLabel<'_>>) -> Result<(), ParseErrorReason> {
    labels.sort_unstable_by(|a, b| a.0.cmp(b.0));
    if let Some(pair) = labels.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(ParseErrorReason::DuplicateLabel(excerpt(pair[0].0)));
    }
    labels.retain(|(_, value)| !value.is_empty());
    Ok(())
}

/// Parses a sample value the way Prometheus does (Go's `ParseFloat`, minus `p` and `_`).
fn parse_value(token: &str) -> Result<f64, ParseErrorReason> {
    if let Some(special) = special_value(token) {
        return Ok(special);
    }
    // Rust's float grammar is wider than Go's (it takes `+nan`, for one), so check Go's first
    // and only then let Rust do the correctly rounded conversion.
    if !is_decimal_float(token) {
        return Err(ParseErrorReason::InvalidValue(excerpt(token)));
    }
    match token.parse::<f64>() {
        Ok(v) if v.is_infinite() => Err(ParseErrorReason::ValueOutOfRange(excerpt(token))),
        Ok(v) => Ok(v),
        Err(_) => Err(ParseErrorReason::InvalidValue(excerpt(token))),
    }
}

/// `NaN`, `Inf` and `Infinity` in any case; only the infinities take a sign, as in Go.
fn special_value(token: &str) -> Option<f64> {
    let (negative, unsigned) = match token.as_bytes().first() {
        Some(b'-') => (true, &token[1..]),
        Some(b'+') => (false, &token[1..]),
        _ => (false, token),
    };
    if unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity") {
        return Some(if negative { f64::NEG_INFINITY } else { f64::INFINITY });
    }
    if token.eq_ignore_ascii_case("nan") {
        return Some(f64::NAN);
    }
    None
}

/// True for Go's decimal float syntax:
/// `[+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?`.
fn is_decimal_float(token: &str) -> bool {
    let bytes = token.as_bytes();
    let mut i = usize::from(matches!(bytes.first(), Some(b'+' | b'-')));
    let int_digits = count_digits(bytes, i);
    i += int_digits;
    let mut frac_digits = 0;
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = count_digits(bytes, i);
        i += frac_digits;
    }
    if int_digits + frac_digits == 0 {
        return false;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_digits = count_digits(bytes, i);
        if exp_digits == 0 {
            return false;
        }
        i += exp_digits;
    }
    i == bytes.len()
}

fn count_digits(bytes: &[u8], from: usize) -> usize {
    bytes.get(from..).map_or(0, |tail| tail.iter().take_while(|b| b.is_ascii_digit()).count())
}

/// Parses a timestamp like Go's `ParseInt(s, 10, 64)`: optional sign, decimal digits, no
/// overflow. Rust's `i64::from_str` accepts exactly that.
fn parse_timestamp(token: &str) -> Result<Timestamp, ParseErrorReason> {
    token.parse::<i64>().map_err(|_| ParseErrorReason::InvalidTimestamp(excerpt(token)))
}

/// Parses an OpenMetrics timestamp, float seconds, into milliseconds.
fn parse_seconds_timestamp(token: &str) -> Result<Timestamp, ParseErrorReason> {
    let invalid = || ParseErrorReason::InvalidSecondsTimestamp(excerpt(token));
    let seconds = parse_value(token).map_err(|_| invalid())?;
    let millis = (seconds * 1000.0).round();
    if !millis.is_finite() || millis.abs() >= i64::MAX as f64 {
        return Err(invalid());
    }
    Ok(millis as Timestamp)
}

/// Checks an OpenMetrics exemplar, `# {labels} value [timestamp]`, which is then ignored.
fn check_exemplar(exemplar: &str) -> Result<(), ParseErrorReason> {
    let invalid = || ParseErrorReason::InvalidExemplar(excerpt(exemplar));
    let mut cursor = Cursor::new(exemplar);
    cursor.eat(b'#');
    cursor.skip_blanks();
    if !cursor.eat(b'{') {
        return Err(invalid());
    }
    let mut labels = Vec::new();
    parse_labels(&mut cursor, &mut labels).map_err(|_| invalid())?;
    cursor.skip_blanks();
    parse_value(cursor.take_until(is_blank)).map_err(|_| invalid())?;
    cursor.skip_blanks();
    let timestamp = cursor.take_until(is_blank);
    if !timestamp.is_empty() {
        parse_seconds_timestamp(timestamp).map_err(|_| invalid())?;
    }
    cursor.skip_blanks();
    if cursor.rest().is_empty() { Ok(()) } else { Err(invalid()) }
}

/// The first [`EXCERPT_CHARS`] characters of `s`, marked when cut.
fn excerpt(s: &str) -> String {
    match s.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

/// A position in one line.
///
/// Invariant: `pos` only ever stops at the end of the line or just before or after an ASCII
/// byte, which is always a `char` boundary, so slicing `line` at `pos` cannot panic. Every
/// `stop` predicate below matches ASCII bytes only.
struct Cursor<'a> {
    line: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(line: &'a str) -> Self {
        Self { line, pos: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.line[self.pos..]
    }

    fn skip_blanks(&mut self) {
        self.pos += self.rest().bytes().take_while(|&b| is_blank(b)).count();
    }

    /// Consumes `b` when it is next.
    fn eat(&mut self, b: u8) -> bool {
        let next = self.rest().as_bytes().first() == Some(&b);
        if next {
            self.pos += 1;
        }
        next
    }

    /// Consumes and returns everything before the first byte matching `stop` (an ASCII byte).
    fn take_until(&mut self, stop: impl Fn(u8) -> bool) -> &'a str {
        let rest = self.rest();
        let len = rest.bytes().position(stop).unwrap_or(rest.len());
        self.pos += len;
        &rest[..len]
    }

    /// Consumes a label value after its opening quote, up to and including the closing quote,
    /// and returns it unescaped; `None` when the line ends first. `\\`, `\"` and `\n` are
    /// escapes; any other backslash pair is kept as written, as Prometheus keeps it.
    fn label_value(&mut self) -> Option<std::borrow::Cow<'a, str>> {
        let rest = self.rest();
        let bytes = rest.as_bytes();
        // A value without escapes is borrowed from the line. Otherwise whole runs between
        // escapes are copied at once, not char by char. Runs start and end at `\` or `"` (ASCII),
        // so every slice below falls on char boundaries.
        if let Some(end) = rest.find(['"', '\\'])
            && bytes[end] == b'"'
        {
            self.pos += end + 1;
            return Some(std::borrow::Cow::Borrowed(&rest[..end]));
        }
        let mut value = String::new();
        let mut run_start = 0;
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            match b {
                b'"' => {
                    value.push_str(&rest[run_start..i]);
                    self.pos += i + 1;
                    return Some(std::borrow::Cow::Owned(value));
                }
                b'\\' => {
                    let unescaped = match bytes.get(i + 1) {
                        Some(b'\\') => Some('\\'),
                        Some(b'"') => Some('"'),
                        Some(b'n') => Some('\n'),
                        // A lone trailing backslash: the closing quote is missing anyway.
                        None => return None,
                        Some(_) => None,
                    };
                    if let Some(c) = unescaped {
                        value.push_str(&rest[run_start..i]);
                        value.push(c);
                        run_start = i + 2;
                    }
                    // Skipping the escaped byte is safe even when it starts a multi-byte
                    // char: continuation bytes are never `\` or `"`.
                    i += 2;
                }
                _ => i += 1,
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn one(text: &str) -> ParsedSample {
        let mut parsed = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(parsed.len(), 1, "{text:?}");
        parsed.remove(0)
    }

    fn reason(text: &str) -> ParseErrorReason {
        match parse(text) {
            Ok(parsed) => panic!("{text:?} parsed as {parsed:?}"),
            Err(e) => e.reason,
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied()).unwrap()
    }

    #[test]
    fn plain_sample_without_braces() {
        let s = one("up 1\n");
        assert_eq!(s.labels, labels(&[("__name__", "up")]));
        assert_eq!(s.value, 1.0);
        assert_eq!(s.timestamp, None);
    }

    #[test]
    fn labels_and_timestamp() {
        let s = one(r#"http_requests_total{method="post",code="200"} 1027 1395066363000"#);
        assert_eq!(
            s.labels,
            labels(&[("__name__", "http_requests_total"), ("method", "post"), ("code", "200")])
        );
        assert_eq!(s.value, 1027.0);
        assert_eq!(s.timestamp, Some(1_395_066_363_000));
    }

    #[test]
    fn empty_braces_and_trailing_comma() {
        assert_eq!(one("a{} 1").labels, labels(&[("__name__", "a")]));
        assert_eq!(one("a{ } 1").labels, labels(&[("__name__", "a")]));
        assert_eq!(one(r#"a{b="c",} 1"#).labels, labels(&[("__name__", "a"), ("b", "c")]));
        assert_eq!(
            one(r#"a{b="c", d="e" , } 1"#).labels,
            labels(&[("__name__", "a"), ("b", "c"), ("d", "e")])
        );
    }

    #[test]
    fn whitespace_variations() {
        let want = labels(&[("__name__", "a"), ("b", "c")]);
        for text in [
            r#"a{b="c"} 1 5"#,
            "  \ta{b=\"c\"}\t1\t5  ",
            r#"a { b = "c" } 1 5"#,
            r#"a{b="c"}1 5"#,
            "a{ b=\"c\" ,\t}   1    5\r",
            "\r\n\n  \t \na{b=\"c\"} 1 5\r\n\r\n",
        ] {
            let s = one(text);
            assert_eq!(s.labels, want, "{text:?}");
            assert_eq!((s.value, s.timestamp), (1.0, Some(5)), "{text:?}");
        }
    }

    #[test]
    fn escaped_label_values() {
        let s = one(r#"a{q="say \"hi\"",b="back\\slash",n="two\nlines",w="c:\\dir\\n"} 1"#);
        assert_eq!(s.labels.get("q"), Some(r#"say "hi""#));
        assert_eq!(s.labels.get("b"), Some(r"back\slash"));
        assert_eq!(s.labels.get("n"), Some("two\nlines"));
        // `\\n` is an escaped backslash followed by a plain `n`, not a newline.
        assert_eq!(s.labels.get("w"), Some(r"c:\dir\n"));
    }

    #[test]
    fn unknown_escapes_are_kept() {
        let s = one(r#"a{b="x\ty\u00e9\é"} 1"#);
        assert_eq!(s.labels.get("b"), Some(r"x\ty\u00e9\é"));
    }

    #[test]
    fn label_values_with_syntax_characters() {
        let s = one(r##"a{b="}",c=",",d="=",e="#",f="{x=\"y\"} 2 3", g=" "} 1"##);
        assert_eq!(s.labels.get("b"), Some("}"));
        assert_eq!(s.labels.get("c"), Some(","));
        assert_eq!(s.labels.get("d"), Some("="));
        assert_eq!(s.labels.get("e"), Some("#"));
        assert_eq!(s.labels.get("f"), Some(r#"{x="y"} 2 3"#));
        assert_eq!(s.labels.get("g"), Some(" "));
        assert_eq!(s.value, 1.0);
    }

    #[test]
    fn utf8_label_values() {
        let s = one("a{b=\"ünïcødé ✓ 🚀\"} 1");
        assert_eq!(s.labels.get("b"), Some("ünïcødé ✓ 🚀"));
    }

    #[test]
    fn empty_label_values_are_dropped() {
        assert_eq!(one(r#"a{b="",c="d"} 1"#).labels, labels(&[("__name__", "a"), ("c", "d")]));
    }

    #[test]
    fn special_values() {
        assert!(one("a NaN").value.is_nan());
        assert!(one("a nan").value.is_nan());
        assert_eq!(one("a +Inf").value, f64::INFINITY);
        assert_eq!(one("a -Inf").value, f64::NEG_INFINITY);
        assert_eq!(one("a Inf").value, f64::INFINITY);
        assert_eq!(one("a inf").value, f64::INFINITY);
        assert_eq!(one("a +inf").value, f64::INFINITY);
        assert_eq!(one("a -Infinity").value, f64::NEG_INFINITY);
        assert_eq!(one("a INFINITY").value, f64::INFINITY);
    }

    #[test]
    fn decimal_values() {
        for (text, want) in [
            ("0", 0.0),
            ("-0", -0.0),
            ("+3", 3.0),
            ("1.5", 1.5),
            ("-.5", -0.5),
            ("1.", 1.0),
            ("1.e3", 1000.0),
            ("007", 7.0),
            ("1e-3", 0.001),
            ("2.5E+2", 250.0),
            ("1.7976931348623157e308", f64::MAX),
            ("4.9e-324", 5e-324),
            // Underflow rounds to zero without error, as in Go.
            ("1e-400", 0.0),
        ] {
            let got = one(&format!("a {text}")).value;
            assert_eq!(got.to_bits(), want.to_bits(), "{text}");
        }
    }

    #[test]
    fn invalid_values() {
        for text in [
            "a 1x", "a x", "a +nan", "a -NaN", "a infin", "a 0x1p3", "a 0x10", "a 1_000", "a 1e", "a 1e+",
            "a .", "a .e1", "a +", "a 1..2", "a 1,5", "a true",
        ] {
            assert!(
                matches!(reason(text), ParseErrorReason::InvalidValue(_)),
                "{text:?}: {:?}",
                reason(text)
            );
        }
    }

    #[test]
    fn values_too_large_are_out_of_range() {
        assert_eq!(reason("a 1e400"), ParseErrorReason::ValueOutOfRange("1e400".into()));
        assert!(matches!(reason("a -2e308"), ParseErrorReason::ValueOutOfRange(_)));
    }

    #[test]
    fn timestamps() {
        assert_eq!(one("a 1 -1").timestamp, Some(-1));
        assert_eq!(one("a 1 0").timestamp, Some(0));
        assert_eq!(one("a 1 +7").timestamp, Some(7));
        assert_eq!(one("a 1 9223372036854775807").timestamp, Some(i64::MAX));
        assert_eq!(one("a 1 -9223372036854775808").timestamp, Some(i64::MIN));
    }

    #[test]
    fn invalid_timestamps() {
        for text in ["a 1 9223372036854775808", "a 1 1.5", "a 1 1e3", "a 1 x", "a 1 12ab", "a 1 -"] {
            assert!(
                matches!(reason(text), ParseErrorReason::InvalidTimestamp(_)),
                "{text:?}: {:?}",
                reason(text)
            );
        }
    }

    #[test]
    fn text_after_timestamp_is_refused() {
        assert_eq!(reason("a 1 2 3"), ParseErrorReason::TrailingText("3".into()));
        assert_eq!(reason("a 1 2 # note"), ParseErrorReason::TrailingText("# note".into()));
        // Without a timestamp the comment is read as one, and refused.
        assert_eq!(reason("a 1 # note"), ParseErrorReason::InvalidTimestamp("#".into()));
    }

    #[test]
    fn missing_value() {
        assert_eq!(reason("a"), ParseErrorReason::MissingValue);
        assert_eq!(reason("a{b=\"c\"}"), ParseErrorReason::MissingValue);
        assert_eq!(reason("a{b=\"c\"}   \t"), ParseErrorReason::MissingValue);
    }

    #[test]
    fn help_type_and_comments_are_skipped() {
        let text = "\
# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{code=\"200\"} 1027
# a free-form comment, with { braces } and \"quotes\"
#HELP not-a-name this is only a comment
#
  # TYPE  indented\tgauge
# HELP escaped Help with \\\\ and \\n escapes.
# HELP no_text
# TYPE  spaced   untyped   
indented 2
";
        let parsed = parse(text).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].labels.metric_name(), Some("http_requests_total"));
        assert_eq!(parsed[1].labels.metric_name(), Some("indented"));
    }

    #[test]
    fn samples_without_help_or_type() {
        let parsed = parse("a 1\nb 2\n").unwrap();
        assert_eq!(parsed.len(), 2);
    }

    #[test]
    fn bad_help_and_type_lines() {
        assert_eq!(reason("# TYPE a counters"), ParseErrorReason::InvalidType("counters".into()));
        assert_eq!(reason("# TYPE a Counter"), ParseErrorReason::InvalidType("Counter".into()));
        assert_eq!(reason("# TYPE a counter extra"), ParseErrorReason::InvalidType("counter extra".into()));
        assert_eq!(reason("# TYPE a"), ParseErrorReason::MissingType);
        assert_eq!(reason("# TYPE"), ParseErrorReason::MissingMetaName("TYPE"));
        assert_eq!(reason("# HELP"), ParseErrorReason::MissingMetaName("HELP"));
        assert_eq!(reason("# HELP 0a text"), ParseErrorReason::InvalidMetricName("0a".into()));
        assert_eq!(reason("# TYPE a-b gauge"), ParseErrorReason::InvalidMetricName("a-b".into()));
    }

    #[test]
    fn histogram_family() {
        let text = r#"# HELP rpc_seconds RPC latency.
# TYPE rpc_seconds histogram
rpc_seconds_bucket{le="0.05"} 24054
rpc_seconds_bucket{le="0.1"} 33444
rpc_seconds_bucket{le="+Inf"} 144320
rpc_seconds_sum 53423
rpc_seconds_count 144320
"#;
        let parsed = parse(text).unwrap();
        let got: Vec<(String, Option<&str>, f64)> = parsed
            .iter()
            .map(|s| (s.labels.metric_name().unwrap_or("").to_owned(), s.labels.get("le"), s.value))
            .collect();
        assert_eq!(
            got,
            [
                ("rpc_seconds_bucket".to_owned(), Some("0.05"), 24054.0),
                ("rpc_seconds_bucket".to_owned(), Some("0.1"), 33444.0),
                ("rpc_seconds_bucket".to_owned(), Some("+Inf"), 144320.0),
                ("rpc_seconds_sum".to_owned(), None, 53423.0),
                ("rpc_seconds_count".to_owned(), None, 144320.0),
            ]
        );
    }

    #[test]
    fn duplicate_labels_are_refused() {
        assert_eq!(reason(r#"a{b="1",b="2"} 1"#), ParseErrorReason::DuplicateLabel("b".into()));
        // Caught even when one of them is empty and would otherwise vanish.
        assert_eq!(reason(r#"a{b="",b="2"} 1"#), ParseErrorReason::DuplicateLabel("b".into()));
        assert_eq!(reason(r#"a{__name__="a"} 1"#), ParseErrorReason::MetricNameLabel);
        assert_eq!(reason(r#"a{__name__="b"} 1"#), ParseErrorReason::MetricNameLabel);
    }

    #[test]
    fn invalid_metric_names() {
        assert_eq!(reason("0abc 1"), ParseErrorReason::InvalidMetricName("0abc".into()));
        assert_eq!(reason("a-b 1"), ParseErrorReason::InvalidMetricName("a-b".into()));
        assert_eq!(reason("a.b{c=\"d\"} 1"), ParseErrorReason::InvalidMetricName("a.b".into()));
        assert_eq!(reason("é 1"), ParseErrorReason::InvalidMetricName("é".into()));
        assert_eq!(reason(r#"{"a.b"} 1"#), ParseErrorReason::MissingMetricName);
        assert_eq!(reason(r#"{b="c"} 1"#), ParseErrorReason::MissingMetricName);
        // Colons are legal in metric names.
        assert_eq!(one("job:rate5m 1").labels.metric_name(), Some("job:rate5m"));
    }

    #[test]
    fn invalid_label_names() {
        assert_eq!(reason(r#"a{0b="c"} 1"#), ParseErrorReason::InvalidLabelName("0b".into()));
        assert_eq!(reason(r#"a{b:c="d"} 1"#), ParseErrorReason::InvalidLabelName("b:c".into()));
        assert_eq!(reason(r#"a{b-c="d"} 1"#), ParseErrorReason::InvalidLabelName("b-c".into()));
        assert_eq!(reason(r#"a{,} 1"#), ParseErrorReason::ExpectedLabelName(",".into()));
        assert_eq!(reason(r#"a{b="c",,} 1"#), ParseErrorReason::ExpectedLabelName(",".into()));
        assert_eq!(reason(r#"a{="c"} 1"#), ParseErrorReason::ExpectedLabelName("=".into()));
    }

    #[test]
    fn malformed_labels() {
        assert_eq!(reason(r#"a{job} 1"#), ParseErrorReason::ExpectedEquals("job".into()));
        assert_eq!(reason(r#"a{job:"x"} 1"#), ParseErrorReason::InvalidLabelName("job:".into()));
        assert_eq!(reason(r#"a{job=x} 1"#), ParseErrorReason::ExpectedQuote("job".into()));
        assert_eq!(reason(r#"a{job='x'} 1"#), ParseErrorReason::ExpectedQuote("job".into()));
        assert_eq!(reason(r#"a{job="x" b="y"} 1"#), ParseErrorReason::ExpectedCommaOrBrace("job".into()));
        assert_eq!(reason(r#"a{job="x""#), ParseErrorReason::UnterminatedLabels);
        assert_eq!(reason(r#"a{job="x","#), ParseErrorReason::UnterminatedLabels);
        assert_eq!(reason("a{ 1"), ParseErrorReason::InvalidLabelName("1".into()));
        assert_eq!(reason("a{"), ParseErrorReason::UnterminatedLabels);
    }

    #[test]
    fn unterminated_quote() {
        let want = ParseErrorReason::UnterminatedLabelValue("b".into());
        assert_eq!(reason(r#"a{b="c} 1"#), want);
        assert_eq!(reason(r#"a{b="c\"} 1"#), want);
        assert_eq!(reason(r#"a{b="c\"#), want);
        // A value cannot span lines: the quote on the next line does not close it.
        assert_eq!(reason("a{b=\"c\n\"} 1"), want);
    }

    #[test]
    fn error_names_the_line_and_reason() {
        let err = parse("# HELP a x\na 1\n\n\r\nb{job 2\n").unwrap_err();
        assert_eq!(err.line, 5);
        assert_eq!(err.to_string(), r#"line 5: expected '=' after label name "job""#);
    }

    #[test]
    fn iterator_continues_after_a_bad_line() {
        let results: Vec<_> = samples("a 1\nbad line here\nb 2\n").collect();
        assert_eq!(results.len(), 3);
        assert!(results[0].is_ok());
        assert_eq!(results[1].as_ref().map_err(|e| e.line), Err(2));
        assert!(results[2].is_ok());
    }

    #[test]
    fn blank_input_has_no_samples() {
        assert_eq!(parse(""), Ok(vec![]));
        assert_eq!(parse("\n\n \t\r\n# only comments\n"), Ok(vec![]));
    }

    #[test]
    fn very_long_lines() {
        let long_value = "x\\\"".repeat(100_000);
        let s = one(&format!("a{{b=\"{long_value}\"}} 1"));
        assert_eq!(s.labels.get("b").map(str::len), Some(200_000));

        let many: Vec<String> = (0..2_000).map(|i| format!("l{i}=\"v{i}\"")).collect();
        let s = one(&format!("a{{{}}} 1 2", many.join(",")));
        assert_eq!(s.labels.len(), 2_001);
        assert_eq!(s.labels.get("l1999"), Some("v1999"));

        let long_name = "n".repeat(100_000);
        assert_eq!(one(&format!("{long_name} 1")).labels.metric_name(), Some(long_name.as_str()));

        // Errors quote only the start of a huge token.
        let err = parse(&format!("a {}", "9".repeat(100_000) + "x")).unwrap_err();
        assert!(err.to_string().len() < 200, "{err}");
    }

    #[test]
    fn sample_or_fills_missing_timestamp() {
        assert_eq!(one("a 1").sample_or(42), Sample::new(42, 1.0));
        assert_eq!(one("a 1 7").sample_or(42), Sample::new(7, 1.0));
    }

    /// Writes `v` in one of the spellings a Prometheus exposition may use.
    fn format_value(v: f64, style: u8) -> String {
        if v.is_nan() {
            return ["NaN", "nan", "NAN"][usize::from(style % 3)].to_owned();
        }
        if v.is_infinite() {
            let sign = if v > 0.0 { ["+", ""][usize::from(style % 2)] } else { "-" };
            return format!("{sign}{}", ["Inf", "inf", "Infinity"][usize::from(style % 3)]);
        }
        match style % 3 {
            0 => format!("{v}"),
            1 => format!("{v:?}"),
            _ => format!("{v:e}"),
        }
    }

    fn escape(value: &str) -> String {
        value.replace('\\', r"\\").replace('"', r#"\""#).replace('\n', r"\n")
    }

    fn blanks() -> impl Strategy<Value = String> {
        "[ \t]{0,2}"
    }

    prop_compose! {
        fn label_pairs()(
            pairs in proptest::collection::btree_map(
                "[a-zA-Z_][a-zA-Z0-9_]{0,12}",
                // Bias towards the characters that need escaping or look like syntax.
                prop_oneof![any::<String>(), "[\\\\\"\n{},=# a-z\u{e9}]{0,12}"],
                0..6,
            )
        ) -> Vec<(String, String)> {
            pairs.into_iter().filter(|(name, _)| name != METRIC_NAME).collect()
        }
    }

    proptest! {
        #[test]
        fn formatted_samples_parse_back(
            name in "[a-zA-Z_:][a-zA-Z0-9_:]{0,20}",
            pairs in label_pairs(),
            value in prop_oneof![
                any::<f64>(),
                Just(f64::NAN),
                Just(f64::INFINITY),
                Just(f64::NEG_INFINITY),
                Just(-0.0),
                Just(f64::MIN_POSITIVE / 3.0),
            ],
            style in any::<u8>(),
            timestamp in proptest::option::of(any::<i64>()),
            braces_when_empty in any::<bool>(),
            trailing_comma in any::<bool>(),
            pad in proptest::collection::vec(blanks(), 8),
        ) {
            let mut line = format!("{}{name}{}", pad[0], pad[1]);
            if !pairs.is_empty() || braces_when_empty {
                line.push('{');
                for (i, (label, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        line.push(',');
                    }
                    let (a, b, c) = (&pad[2], &pad[3], &pad[4]);
                    line.push_str(&format!("{a}{label}{b}={c}\"{}\"", escape(v)));
                }
                if trailing_comma && !pairs.is_empty() {
                    line.push(',');
                }
                line.push_str(&pad[5]);
                line.push('}');
            }
            line.push_str(&format!(" {}{}", pad[6], format_value(value, style)));
            if let Some(t) = timestamp {
                line.push_str(&format!(" {t}"));
            }
            line.push_str(&pad[7]);
            line.push('\n');

            let parsed = parse(&line).map_err(|e| TestCaseError::fail(format!("{line:?}: {e}")))?;
            prop_assert_eq!(parsed.len(), 1);
            let want = Labels::from_pairs(
                std::iter::once((METRIC_NAME.to_owned(), name)).chain(pairs),
            ).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&parsed[0].labels, &want, "{:?}", line);
            if value.is_nan() {
                prop_assert!(parsed[0].value.is_nan(), "{:?}", line);
            } else {
                prop_assert_eq!(parsed[0].value.to_bits(), value.to_bits(), "{:?}", line);
            }
            prop_assert_eq!(parsed[0].timestamp, timestamp);
        }

        #[test]
        fn never_panics_on_arbitrary_text(text in any::<String>()) {
            let _ = parse(&text);
            let _ = parse_as(&text, Format::OpenMetrics);
        }

        #[test]
        fn never_panics_on_exposition_like_text(
            text in "([a-z_:{}=\",\\\\ \t\n\r#.+0-9eE\u{e9}-]|NaN|Inf|HELP|TYPE){0,80}"
        ) {
            for result in samples(&text) {
                if let Err(e) = result {
                    prop_assert!(e.line >= 1 && e.line <= text.split('\n').count());
                }
            }
        }
    }

    fn open_metrics(text: &str) -> Result<Vec<ParsedSample>, ParseError> {
        parse_as(text, Format::OpenMetrics)
    }

    #[test]
    fn open_metrics_families_with_units_exemplars_and_created() {
        let text = concat!(
            "# TYPE http_requests counter\n",
            "# UNIT http_requests requests\n",
            "# HELP http_requests Requests served.\n",
            "http_requests_total{code=\"200\"} 1027 1700000000.25 # {trace_id=\"abc\"} 1.0 1700000000.1\n",
            "http_requests_created{code=\"200\"} 1699990000\n",
            "# TYPE latency histogram\n",
            "latency_bucket{le=\"0.1\"} 5 # {trace_id=\"x\"} 0.05\n",
            "latency_bucket{le=\"+Inf\"} 7\n",
            "latency_count 7\n",
            "latency_sum 1.5\n",
            "latency_created 1699990000\n",
            "# TYPE build info\n",
            "build_info{version=\"1.2\"} 1\n",
            "# TYPE temperature gauge\n",
            "temperature_created 3\n",
            "# EOF\n",
        );
        let parsed = open_metrics(text).unwrap();
        let names: Vec<&str> = parsed.iter().map(|s| s.labels.metric_name().unwrap()).collect();
        assert_eq!(
            names,
            [
                "http_requests_total",
                "latency_bucket",
                "latency_bucket",
                "latency_count",
                "latency_sum",
                "build_info",
                "temperature_created"
            ],
            "_created of counters and histograms skipped, a gauge's kept"
        );
        assert_eq!(parsed[0].timestamp, Some(1_700_000_000_250), "seconds become milliseconds");
        assert_eq!(parsed[0].value, 1027.0);
        assert_eq!(parsed[1].timestamp, None);
    }

    #[test]
    fn open_metrics_needs_a_final_eof_and_nothing_after_it() {
        let missing = open_metrics("a 1\nb 2\n").unwrap_err();
        assert_eq!((missing.line, missing.reason), (2, ParseErrorReason::MissingEof));
        let after = open_metrics("a 1\n# EOF\nb 2\n").unwrap_err();
        assert_eq!((after.line, after.reason), (3, ParseErrorReason::AfterEof));
        assert!(open_metrics("# EOF").unwrap().is_empty());
        assert_eq!(
            parse("a 1\n# EOF\nb 2\n").unwrap().len(),
            2,
            "# EOF is a plain comment in the Prometheus format"
        );
    }

    #[test]
    fn open_metrics_refuses_malformed_exemplars_and_timestamps() {
        for (line, reason) in [
            ("a 1 # trace 1", "InvalidExemplar"),
            ("a 1 # {trace_id=\"x\"}", "InvalidExemplar"),
            ("a 1 # {trace_id=\"x\"} 1 2 3", "InvalidExemplar"),
            ("a 1 1e400", "InvalidSecondsTimestamp"),
            ("a 1 yesterday", "InvalidSecondsTimestamp"),
        ] {
            let error = open_metrics(&format!("{line}\n# EOF\n")).unwrap_err();
            assert!(format!("{:?}", error.reason).starts_with(reason), "{line}: {error}");
        }
        assert!(parse("a 1 # {trace_id=\"x\"} 1").is_err(), "no exemplars in the Prometheus format");
        let types = "# TYPE a gaugehistogram\n# TYPE b stateset\n# TYPE c unknown\n# EOF\n";
        assert!(open_metrics(types).is_ok());
        assert!(parse("# TYPE c unknown\n").is_err());
    }

    #[test]
    fn sample_lines_borrow_the_text_and_agree_with_owned_samples() {
        let text = "a{job=\"x\",path=\"esc\\\"aped\",empty=\"\"} 1 5\nbad{ 1\nb 2\n";
        let mut lines = SampleLines::new(text, Format::Prometheus);
        let mut labels = Vec::new();
        assert_eq!(lines.next_into(&mut labels).unwrap().unwrap(), (1.0, Some(5)));
        let owned = samples(text).next().unwrap().unwrap();
        let pairs: Vec<(&str, &str)> = labels.iter().map(|(n, v)| (*n, &**v)).collect();
        let owned_pairs: Vec<(&str, &str)> = owned.labels.iter().map(|l| (&*l.name, &*l.value)).collect();
        assert_eq!(pairs, owned_pairs, "sorted, the empty value dropped");
        assert!(matches!(labels[1], ("job", Cow::Borrowed("x"))), "a plain value borrows the text");
        assert!(matches!(&labels[2], ("path", Cow::Owned(v)) if v == "esc\"aped"), "escapes undone");
        assert_eq!(lines.next_into(&mut labels).unwrap().unwrap_err().line, 2, "a bad line is an error");
        assert_eq!(lines.next_into(&mut labels).unwrap().unwrap(), (2.0, None), "and reading goes on");
        assert!(lines.next_into(&mut labels).is_none());
    }

    #[test]
    fn tricky_prometheus_inputs() {
        let text = concat!(
            "no_help_or_type 1\n",
            "dup{a=\"1\"} 1 1000\n",
            "dup{a=\"1\"} 2 1000\n",
            "esc{path=\"C:\\\\dir\\\"quoted\\\"\\nline\"} +Inf\n",
            "nan -Inf -1\n",
            "nan NaN\n",
        );
        let parsed = parse(text).unwrap();
        assert_eq!(parsed.len(), 6, "duplicate series are both returned");
        assert_eq!(parsed[1].timestamp, Some(1000));
        assert_eq!(parsed[3].labels.get("path"), Some("C:\\dir\"quoted\"\nline"));
        assert_eq!(parsed[3].value, f64::INFINITY);
        assert_eq!((parsed[4].value, parsed[4].timestamp), (f64::NEG_INFINITY, Some(-1)));
        assert!(parsed[5].value.is_nan());
        assert_eq!(
            Format::of_content_type(Some("application/openmetrics-text; version=1.0.0; charset=utf-8")),
            Format::OpenMetrics
        );
        assert_eq!(Format::of_content_type(Some("text/plain; version=0.0.4")), Format::Prometheus);
    }
}
