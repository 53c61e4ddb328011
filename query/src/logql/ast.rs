//! The LogQL syntax tree, as [`super::parse`] builds it.

use std::time::Duration;

use argus_model::Matcher;
use regex::Regex;

/// A whole query: log lines, or numbers computed from them.
#[derive(Debug, Clone)]
pub enum Query {
    Log(LogExpr),
    Metric(MetricExpr),
}

/// `{stream selector} | stage | stage …`
#[derive(Debug, Clone)]
pub struct LogExpr {
    pub matchers: Vec<Matcher>,
    pub stages: Vec<Stage>,
}

/// One stage of a log pipeline.
#[derive(Debug, Clone)]
pub enum Stage {
    /// `|= "a" or "b"`, `!= "a"`, `|~ "re"`, `!~ "re"`.
    LineFilter(LineFilter),
    Json(Vec<Extraction>),
    Logfmt {
        strict: bool,
        keep_empty: bool,
        extractions: Vec<Extraction>,
    },
    Regexp(Regex),
    Pattern(Pattern),
    LabelFilter(LabelFilter),
    LineFormat(Template),
    /// `label_format new=old, new2="{{.template}}"`.
    LabelFormat(Vec<LabelFormat>),
    Drop(Vec<LabelSelection>),
    Keep(Vec<LabelSelection>),
    /// Only valid inside a range aggregation, last.
    Unwrap(Unwrap),
    Decolorize,
}

#[derive(Debug, Clone)]
pub struct LineFilter {
    pub op: LineFilterOp,
    /// Alternatives joined by `or`: the filter holds if any does (for `|=`, `|~`) or if none
    /// does (for `!=`, `!~`).
    pub patterns: Vec<LinePattern>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFilterOp {
    Contains,
    NotContains,
    Matches,
    NotMatches,
}

#[derive(Debug, Clone)]
pub enum LinePattern {
    Text(String),
    Regex(Regex),
}

/// `name="expression"` of `| json` or `| logfmt`: the label to set and where to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extraction {
    pub label: String,
    /// For json, a path of object keys and array indices; for logfmt, one key.
    pub path: Vec<PathStep>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    Key(String),
    Index(usize),
}

/// A `| pattern` expression: literal text and `<name>` captures (`<_>` captures nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    pub parts: Vec<PatternPart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatternPart {
    Literal(String),
    Capture(Option<String>),
}

/// Boolean combination of label comparisons.
#[derive(Debug, Clone)]
pub enum LabelFilter {
    And(Box<LabelFilter>, Box<LabelFilter>),
    Or(Box<LabelFilter>, Box<LabelFilter>),
    /// `name = "v"`, `name =~ "re"` …
    String(Matcher),
    /// `name > 10`, `name <= 1.5`, `name == 200`.
    Number {
        name: String,
        op: Comparison,
        value: f64,
    },
    /// `name > 250ms`.
    Duration {
        name: String,
        op: Comparison,
        value: Duration,
    },
    /// `name > 20MB`.
    Bytes {
        name: String,
        op: Comparison,
        value: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Equal,
    NotEqual,
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
}

impl Comparison {
    pub fn holds<T: PartialOrd>(self, left: T, right: T) -> bool {
        match self {
            Comparison::Equal => left == right,
            Comparison::NotEqual => left != right,
            Comparison::Greater => left > right,
            Comparison::GreaterOrEqual => left >= right,
            Comparison::Less => left < right,
            Comparison::LessOrEqual => left <= right,
        }
    }
}

/// A `line_format` or `label_format` template (Go text/template subset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub source: String,
    pub parts: Vec<TemplatePart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplatePart {
    Text(String),
    /// `{{ .name | fn arg | fn }}`: a value then functions applied in turn.
    Action {
        value: TemplateValue,
        functions: Vec<TemplateFunction>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateValue {
    Label(String),
    Line,
    Timestamp,
    Literal(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateFunction {
    pub name: String,
    pub args: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelFormat {
    Rename { to: String, from: String },
    Template { to: String, template: Template },
}

/// A label named by `drop` or `keep`, optionally only when its value matches.
#[derive(Debug, Clone)]
pub struct LabelSelection {
    pub name: String,
    pub matcher: Option<Matcher>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unwrap {
    pub label: String,
    pub conversion: Conversion,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    Number,
    /// `duration(label)` / `duration_seconds(label)`: a Go duration, as seconds.
    Duration,
    /// `bytes(label)`: a size such as `2.5KB`, as bytes.
    Bytes,
}

/// A LogQL expression that evaluates to numbers.
#[derive(Debug, Clone)]
pub enum MetricExpr {
    Range(RangeAggregation),
    Vector {
        op: VectorOp,
        grouping: Option<Grouping>,
        /// `topk`/`bottomk`'s k.
        parameter: Option<f64>,
        inner: Box<MetricExpr>,
    },
    Binary {
        op: BinaryOp,
        modifiers: BinaryModifiers,
        left: Box<MetricExpr>,
        right: Box<MetricExpr>,
    },
    Number(f64),
    /// `vector(1)`.
    VectorLiteral(f64),
    LabelReplace {
        inner: Box<MetricExpr>,
        destination: String,
        replacement: String,
        source: String,
        regex: String,
    },
    Parens(Box<MetricExpr>),
}

/// `count_over_time({…} | … [5m] offset 1h) by (…)`.
#[derive(Debug, Clone)]
pub struct RangeAggregation {
    pub op: RangeOp,
    pub log: LogExpr,
    pub range: Duration,
    pub offset: Duration,
    /// `quantile_over_time`'s φ.
    pub parameter: Option<f64>,
    pub grouping: Option<Grouping>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOp {
    CountOverTime,
    Rate,
    RateCounter,
    BytesOverTime,
    BytesRate,
    AbsentOverTime,
    SumOverTime,
    AvgOverTime,
    MaxOverTime,
    MinOverTime,
    StddevOverTime,
    StdvarOverTime,
    QuantileOverTime,
    FirstOverTime,
    LastOverTime,
}

impl RangeOp {
    pub const ALL: [(&'static str, RangeOp); 15] = [
        ("count_over_time", RangeOp::CountOverTime),
        ("rate", RangeOp::Rate),
        ("rate_counter", RangeOp::RateCounter),
        ("bytes_over_time", RangeOp::BytesOverTime),
        ("bytes_rate", RangeOp::BytesRate),
        ("absent_over_time", RangeOp::AbsentOverTime),
        ("sum_over_time", RangeOp::SumOverTime),
        ("avg_over_time", RangeOp::AvgOverTime),
        ("max_over_time", RangeOp::MaxOverTime),
        ("min_over_time", RangeOp::MinOverTime),
        ("stddev_over_time", RangeOp::StddevOverTime),
        ("stdvar_over_time", RangeOp::StdvarOverTime),
        ("quantile_over_time", RangeOp::QuantileOverTime),
        ("first_over_time", RangeOp::FirstOverTime),
        ("last_over_time", RangeOp::LastOverTime),
    ];

    /// Whether the operation reads unwrapped values rather than counting lines or bytes.
    pub fn needs_unwrap(self) -> bool {
        !matches!(
            self,
            RangeOp::CountOverTime
                | RangeOp::Rate
                | RangeOp::BytesOverTime
                | RangeOp::BytesRate
                | RangeOp::AbsentOverTime
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    pub without: bool,
    pub labels: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    Sort,
    SortDesc,
}

impl VectorOp {
    pub const ALL: [(&'static str, VectorOp); 11] = [
        ("sum", VectorOp::Sum),
        ("avg", VectorOp::Avg),
        ("min", VectorOp::Min),
        ("max", VectorOp::Max),
        ("count", VectorOp::Count),
        ("stddev", VectorOp::Stddev),
        ("stdvar", VectorOp::Stdvar),
        ("topk", VectorOp::Topk),
        ("bottomk", VectorOp::Bottomk),
        ("sort", VectorOp::Sort),
        ("sort_desc", VectorOp::SortDesc),
    ];

    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, op)| *op == self).map(|(name, _)| *name).expect("every op is listed")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    And,
    Or,
    Unless,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "^",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
            BinaryOp::Unless => "unless",
        }
    }
}

/// `bool`, `on (…)`/`ignoring (…)`, `group_left (…)`/`group_right (…)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BinaryModifiers {
    pub bool_modifier: bool,
    /// `(ignoring?, labels)`.
    pub matching: Option<(bool, Vec<String>)>,
    /// `(group_right?, labels)`.
    pub group: Option<(bool, Vec<String>)>,
}
