//! Native histograms are out of scope for Argus, so cases that read them are excluded, found
//! automatically: this keeps the label sets of the native-histogram series the loads since the
//! last `clear` defined (`{{…}}` values, and the custom-bucket twins `load_with_nhcb` makes of
//! classic histograms), and tells whether a query has a selector that could match one of them.

use argus_model::{Label, Labels};
use promql_parser::label::{Matcher, Matchers};
use promql_parser::parser::{Expr, VectorSelector};

use crate::script::Load;

#[derive(Debug, Default)]
pub struct NativeHistograms {
    series: Vec<Labels>,
}

impl NativeHistograms {
    pub fn clear(&mut self) {
        self.series.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Records the native-histogram series a load defines.
    pub fn record(&mut self, load: &Load) {
        for desc in &load.series {
            if desc.has_histogram() {
                self.add(desc.labels.clone());
            }
            if load.with_nhcb
                && let Some(twin) = nhcb_twin(&desc.labels)
            {
                self.add(twin);
            }
        }
    }

    fn add(&mut self, labels: Labels) {
        if !self.series.contains(&labels) {
            self.series.push(labels);
        }
    }

    /// Whether any selector of `expr` could select a recorded series.
    pub fn touched_by(&self, expr: &Expr) -> bool {
        !self.series.is_empty() && selectors(expr).iter().any(|vs| self.series.iter().any(|s| selects(vs, s)))
    }
}

/// The native histogram with custom buckets that upstream's `load_with_nhcb` builds from a
/// classic-histogram series: `x_bucket{le=…}`, `x_count` and `x_sum` all become `x` (without `le`).
fn nhcb_twin(labels: &Labels) -> Option<Labels> {
    let name = labels.metric_name()?;
    let base = ["_bucket", "_count", "_sum"].iter().find_map(|suffix| name.strip_suffix(suffix))?;
    if name.ends_with("_bucket") && labels.get("le").is_none() {
        return None;
    }
    let twin: Vec<Label> = labels
        .iter()
        .filter(|l| &*l.name != "le")
        .map(|l| if &*l.name == "__name__" { Label::new("__name__", base) } else { l.clone() })
        .collect();
    Labels::new(twin).ok()
}

/// Every vector selector in `expr`, including those of range selectors and inside subqueries.
fn selectors(expr: &Expr) -> Vec<&VectorSelector> {
    let mut out = Vec::new();
    collect(expr, &mut out);
    out
}

fn collect<'a>(expr: &'a Expr, out: &mut Vec<&'a VectorSelector>) {
    match expr {
        Expr::VectorSelector(vs) => out.push(vs),
        Expr::MatrixSelector(ms) => out.push(&ms.vs),
        Expr::Aggregate(a) => {
            collect(&a.expr, out);
            if let Some(p) = &a.param {
                collect(p, out);
            }
        }
        Expr::Unary(u) => collect(&u.expr, out),
        Expr::Binary(b) => {
            collect(&b.lhs, out);
            collect(&b.rhs, out);
        }
        Expr::Paren(p) => collect(&p.expr, out),
        Expr::Subquery(s) => collect(&s.expr, out),
        Expr::Call(c) => c.args.args.iter().for_each(|a| collect(a, out)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// Whether the selector's matchers (a missing label matches as `""`) accept the series.
fn selects(vs: &VectorSelector, series: &Labels) -> bool {
    if let Some(name) = &vs.name
        && series.metric_name().unwrap_or("") != name
    {
        return false;
    }
    let all = |set: &[Matcher]| set.iter().all(|m| m.is_match(series.get(&m.name).unwrap_or("")));
    let matchers: &Matchers = &vs.matchers;
    all(&matchers.matchers)
        && (matchers.or_matchers.is_empty() || matchers.or_matchers.iter().any(|set| all(set)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::{Command, parse_script};

    fn tracker(script: &str) -> NativeHistograms {
        let mut n = NativeHistograms::default();
        for command in parse_script(script) {
            if let Command::Load(load) = command {
                n.record(&load);
            }
        }
        n
    }

    fn touched(n: &NativeHistograms, query: &str) -> bool {
        n.touched_by(&promql_parser::parser::parse(query).unwrap())
    }

    #[test]
    fn finds_queries_that_read_histogram_series() {
        let n = tracker("load 1m\n  h{job=\"a\"} {{count:1}} 2\n  f{job=\"a\"} 1\n");
        assert!(touched(&n, "h"));
        assert!(touched(&n, "rate(h[5m])"));
        assert!(touched(&n, "sum(f) + histogram_count(h{job=~\"a|b\"})"));
        assert!(touched(&n, "max_over_time(h[5m:1m])"));
        assert!(touched(&n, "{__name__=~\"h|f\"}"));
        assert!(touched(&n, "{job=\"a\"}"));
        assert!(!touched(&n, "f"));
        assert!(!touched(&n, "h{job=\"b\"}"));
        assert!(!touched(&n, "h{missing!=\"\"}"));
        assert!(touched(&n, "h{missing=\"\"}"));
        assert!(!touched(&n, "1 + 2"));
    }

    #[test]
    fn nhcb_loads_make_custom_bucket_twins() {
        let n = tracker(
            "load_with_nhcb 1m\n  x_bucket{le=\"1\", a=\"b\"} 1\n  x_bucket{le=\"+Inf\", a=\"b\"} 2\n  x_count{a=\"b\"} 2\n  y 1\n",
        );
        assert!(touched(&n, "x"));
        assert!(touched(&n, "histogram_quantile(0.5, rate(x{a=\"b\"}[5m]))"));
        assert!(!touched(&n, "x_bucket"));
        assert!(!touched(&n, "y"));
        let plain = tracker("load 1m\n  x_bucket{le=\"1\"} 1\n");
        assert!(plain.is_empty());
    }
}
