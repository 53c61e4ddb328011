//! LogQL: Loki's query language over `argus_model::LogQueryable`.
//!
//! - [`parse`] turns a query into a syntax tree ([`ast`]).
//! - Log queries ([`select_streams`]) read entries through the storage trait, passing down the
//!   text `|=` filters require so the index can skip lines, run each entry through its
//!   pipeline ([`pipeline`]) and group the survivors by their final labels.
//! - Metric queries ([`metric::evaluate`]) compute each range aggregation per step from the
//!   entries, then evaluate the rest of the expression — vector aggregations, binary
//!   operations, `label_replace` — with the PromQL engine over those computed series, so
//!   LogQL's vector semantics are exactly PromQL's.

pub mod ast;
mod lex;
pub mod metric;
mod parse;
pub mod pipeline;
mod template;

use std::collections::HashMap;

use argus_model::{Direction, Labels, LogQueryable, LogSelect, TimeRange};

pub use parse::{ParseError, parse};

use crate::error::{Error, Result};
use ast::{LineFilterOp, LinePattern, LogExpr, Stage};

/// Entries of one result stream, in the query's direction: (nanoseconds, line).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamResult {
    pub labels: Labels,
    pub entries: Vec<(i64, String)>,
}

/// The entries of `expr` within `range` (nanoseconds, both ends included), at most `limit`
/// of them, the newest or oldest first as `direction` says, grouped into streams by their
/// labels after the pipeline (streams sorted by labels).
pub fn select_streams(
    expr: &LogExpr,
    storage: &dyn LogQueryable,
    range: TimeRange,
    direction: Direction,
    limit: usize,
) -> Result<Vec<StreamResult>> {
    let select = log_select(expr, range, direction);
    let mut streams: HashMap<Labels, Vec<(i64, String)>> = HashMap::new();
    let mut taken = 0;
    for record in storage.select_logs(&select)? {
        if taken >= limit {
            break;
        }
        let record = record?;
        if let Some(processed) = pipeline::process(&expr.stages, &record.stream, &record.entry) {
            let line = processed.line.clone();
            streams.entry(processed.into_labels()).or_default().push((record.entry.timestamp, line));
            taken += 1;
        }
    }
    let mut result: Vec<StreamResult> =
        streams.into_iter().map(|(labels, entries)| StreamResult { labels, entries }).collect();
    result.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(result)
}

/// What to ask storage for: the selector, and the text of the `|=` filters that come before
/// anything rewrites the line (those hold for the stored line itself).
pub(crate) fn log_select(expr: &LogExpr, range: TimeRange, direction: Direction) -> LogSelect {
    let mut contains = Vec::new();
    for stage in &expr.stages {
        match stage {
            Stage::LineFilter(filter)
                if filter.op == LineFilterOp::Contains && filter.patterns.len() == 1 =>
            {
                if let LinePattern::Text(text) = &filter.patterns[0] {
                    contains.push(text.clone());
                }
            }
            Stage::LineFormat(_) | Stage::Decolorize => break,
            _ => {}
        }
    }
    LogSelect { matchers: expr.matchers.clone(), range, direction, contains }
}

/// The error of a metric query whose pipeline left an error label on an entry.
pub(crate) fn pipeline_error(error: &str, labels: &Labels) -> Error {
    Error::BadData(format!(
        "pipeline error: '{error}' for series: '{labels}'. Use a label filter to intentionally skip this error. \
         (e.g | __error__!=\"{error}\"). To skip all errors you can use | __error__=\"\""
    ))
}
