//! `label_replace` and `label_join`: the label-rewriting functions, applied per series.
//!
//! Prometheus evaluates their regular expressions with Go's RE2 engine; this module
//! translates the few places where the Rust `regex` crate reads the same pattern differently
//! (ASCII-only `\d \w \s \b`, literal `{` that is no repetition, `[` and `&&` inside brackets,
//! `\Q…\E`) and expands replacements exactly like Go's `Regexp.Expand`. Merging series that
//! end up with identical labels (an error in Prometheus) and the metric-name bookkeeping are
//! the evaluator's.

use argus_model::Labels;
use regex::{Captures, Regex};

/// A compiled `label_replace(v, dst, replacement, src, regex)`: compile once per call, then
/// [`LabelReplace::apply`] to every series.
#[derive(Debug, Clone)]
pub(crate) struct LabelReplace {
    dst: String,
    replacement: String,
    src: String,
    regex: Regex,
}

impl LabelReplace {
    /// Validates the arguments as Prometheus does: the regex first, then the destination
    /// name. The error texts are Prometheus's; the evaluator reports them as `bad_data`.
    ///
    /// The regex is fully anchored and `.` matches newlines (`^(?s:regex)$`, Prometheus 3).
    /// Any non-empty destination name is valid (Prometheus 3 accepts UTF-8 label names).
    pub(crate) fn new(dst: &str, replacement: &str, src: &str, regex: &str) -> Result<Self, String> {
        let compiled = argus_model::regex::compile_anchored(regex)
            .map_err(|_| format!("invalid regular expression in label_replace(): {regex}"))?;
        if !is_valid_label_name(dst) {
            return Err(format!("invalid destination label name in label_replace(): {dst}"));
        }
        Ok(Self {
            dst: dst.to_string(),
            replacement: replacement.to_string(),
            src: src.to_string(),
            regex: compiled,
        })
    }

    /// The series' new labels. If the regex matches the source label's value (a missing
    /// label is the empty string), the destination is set to the expanded replacement, or
    /// removed when that is empty; if it does not match, the labels are returned unchanged.
    pub(crate) fn apply(&self, labels: &Labels) -> Labels {
        let src_value = labels.get(&self.src).unwrap_or("");
        match self.regex.captures(src_value) {
            Some(caps) => labels.with(&self.dst, &expand(&caps, &self.replacement)),
            None => labels.clone(),
        }
    }
}

/// `label_replace` on one label set, for the tests; the evaluator uses [`LabelReplace`], which
/// compiles the regex once for all series.
#[cfg(test)]
pub(crate) fn label_replace(
    labels: &Labels,
    dst: &str,
    replacement: &str,
    src: &str,
    regex: &str,
) -> Result<Labels, String> {
    Ok(LabelReplace::new(dst, replacement, src, regex)?.apply(labels))
}

/// `label_join(v, dst, sep, src...)` on one label set: `dst` becomes the values of `srcs`
/// (missing ones as "") joined by `sep`, and is removed when that is empty. Source names are
/// validated before the destination, with Prometheus's error texts.
pub(crate) fn label_join(labels: &Labels, dst: &str, sep: &str, srcs: &[&str]) -> Result<Labels, String> {
    if let Some(bad) = srcs.iter().find(|s| !is_valid_label_name(s)) {
        return Err(format!("invalid source label name in label_join(): {bad}"));
    }
    if !is_valid_label_name(dst) {
        return Err(format!("invalid destination label name in label_join(): {dst}"));
    }
    let values: Vec<&str> = srcs.iter().map(|s| labels.get(s).unwrap_or("")).collect();
    Ok(labels.with(dst, &values.join(sep)))
}

/// Prometheus 3 validates label names in these functions with `model.UTF8Validation`: any
/// non-empty UTF-8 string, and Rust strings are always UTF-8.
fn is_valid_label_name(name: &str) -> bool {
    !name.is_empty()
}

/// Expands `$1`, `${1}`, `$name`, `${name}` and `$$` in `template` like Go's
/// `Regexp.Expand`: a name is the longest run of letters, digits and `_` (so `$1x` is the
/// group named `1x`), numbers with leading zeros are names, unknown or non-participating
/// groups expand to nothing, and a malformed `$` is kept literally.
fn expand(caps: &Captures<'_>, template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        rest = &rest[dollar + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        let Some((group, after)) = parse_group_ref(rest) else {
            out.push('$');
            continue;
        };
        rest = after;
        let matched = match group {
            GroupRef::Number(i) => caps.get(i),
            GroupRef::Name(name) => caps.name(name),
        };
        if let Some(m) = matched {
            out.push_str(m.as_str());
        }
    }
    out.push_str(rest);
    out
}

#[derive(Debug, PartialEq, Eq)]
enum GroupRef<'a> {
    Number(usize),
    Name(&'a str),
}

/// Parses the group reference after a `$` (Go's `extract`), returning it and the rest of
/// the template, or `None` when there is no well-formed reference.
fn parse_group_ref(s: &str) -> Option<(GroupRef<'_>, &str)> {
    let (braced, body) = match s.strip_prefix('{') {
        Some(inner) => (true, inner),
        None => (false, s),
    };
    let len: usize = body.chars().take_while(|c| c.is_alphanumeric() || *c == '_').map(char::len_utf8).sum();
    if len == 0 {
        return None;
    }
    let name = &body[..len];
    let rest = if braced { body[len..].strip_prefix('}')? } else { &body[len..] };
    Some((group_ref_of(name), rest))
}

/// A purely decimal name without a leading zero is a group number; anything else, including
/// a number Go's parser refuses to grow past 10^8 before its next digit, is a group name.
fn group_ref_of(name: &str) -> GroupRef<'_> {
    let mut num: usize = 0;
    for b in name.bytes() {
        if !b.is_ascii_digit() || num >= 100_000_000 {
            return GroupRef::Name(name);
        }
        num = num * 10 + usize::from(b - b'0');
    }
    if name.len() > 1 && name.starts_with('0') {
        return GroupRef::Name(name);
    }
    GroupRef::Number(num)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied()).unwrap_or_default()
    }

    fn testmetric(src: &str) -> Labels {
        labels(&[("__name__", "testmetric"), ("src", src), ("dst", "original-destination-value")])
    }

    fn replace(l: &Labels, dst: &str, repl: &str, src: &str, re: &str) -> Labels {
        label_replace(l, dst, repl, src, re).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn label_replace_cases_from_prometheus() {
        let m = testmetric("source-value-10");
        let with_dst =
            |dst: &str| labels(&[("__name__", "testmetric"), ("src", "source-value-10"), ("dst", dst)]);
        // Full-string match and replace.
        assert_eq!(
            replace(&m, "dst", "destination-value-$1", "src", "source-value-(.*)"),
            with_dst("destination-value-10")
        );
        // No substring match.
        assert_eq!(replace(&m, "dst", "destination-value-$1", "src", "value-(.*)"), m);
        // Multiple groups.
        assert_eq!(replace(&m, "dst", "$1-value-$2", "src", "(.*)-value-(.*)"), with_dst("source-value-10"));
        // Missing source label that does not match "".
        assert_eq!(replace(&m, "dst", "value-$1", "nonexistent-src", "source-value-(.*)"), m);
        // Missing source label that matches "".
        assert_eq!(replace(&m, "dst", "value-$1", "nonexistent-src", "(.*)"), with_dst("value-"));
        // No match.
        assert_eq!(replace(&m, "dst", "value-$1", "src", "non-matching-regex"), m);
        // An empty result drops the label.
        assert_eq!(
            replace(&m, "dst", "", "dst", ".*"),
            labels(&[("__name__", "testmetric"), ("src", "source-value-10")])
        );
        // A new destination label is inserted in order.
        let series = labels(&[("__name__", "series"), ("label", "a"), ("idx", "1")]);
        assert_eq!(
            replace(&series, "idx", "replaced", "idx", ".*"),
            labels(&[("__name__", "series"), ("label", "a"), ("idx", "replaced")])
        );
        assert_eq!(replace(&series, "aaa", "x", "label", "a").get("aaa"), Some("x"));
    }

    #[test]
    fn label_replace_errors() {
        let m = testmetric("x");
        assert_eq!(
            label_replace(&m, "dst", "value-$1", "src", "(.*").err(),
            Some("invalid regular expression in label_replace(): (.*".to_string())
        );
        assert_eq!(
            label_replace(&m, "", "", "src", "(.*)").err(),
            Some("invalid destination label name in label_replace(): ".to_string())
        );
        // UTF-8 names are valid in Prometheus 3.
        assert_eq!(replace(&m, "ünïcødé.name", "v", "src", ".*").get("ünïcødé.name"), Some("v"));
    }

    #[test]
    fn expansion_follows_go() {
        let m = labels(&[("src", "ab-cd")]);
        let r = |repl: &str, re: &str| replace(&m, "dst", repl, "src", re).get("dst").map(str::to_string);
        assert_eq!(r("${1}x", "(.*)-(.*)"), Some("abx".into()));
        // `$1x` names a group "1x", which does not exist.
        assert_eq!(r("$1x", "(.*)-(.*)"), None);
        assert_eq!(r("$2-$1", "(.*)-(.*)"), Some("cd-ab".into()));
        assert_eq!(r("$first/${second}", "(?P<first>.*)-(?P<second>.*)"), Some("ab/cd".into()));
        assert_eq!(r("$$1", "(.*)"), Some("$1".into()));
        assert_eq!(r("$", "(.*)"), Some("$".into()));
        assert_eq!(r("a$-b", "(.*)"), Some("a$-b".into()));
        assert_eq!(r("${1", "(.*)"), Some("${1".into()));
        assert_eq!(r("x$9", "(.*)"), Some("x".into()));
        assert_eq!(r("x$01", "(.*)"), Some("x".into()), "leading zero makes it a name");
        assert_eq!(r("$0", "a(b)-cd"), Some("ab-cd".into()));
        // A group that did not participate expands to nothing.
        assert_eq!(r("[$2]", "(ab-cd)|(x)"), Some("[]".into()));
    }

    #[test]
    fn group_refs() {
        assert_eq!(parse_group_ref("1x rest"), Some((GroupRef::Name("1x"), " rest")));
        assert_eq!(parse_group_ref("{1}x"), Some((GroupRef::Number(1), "x")));
        assert_eq!(parse_group_ref("10"), Some((GroupRef::Number(10), "")));
        assert_eq!(parse_group_ref("{name}"), Some((GroupRef::Name("name"), "")));
        assert_eq!(parse_group_ref("{}"), None);
        assert_eq!(parse_group_ref("{a"), None);
        assert_eq!(parse_group_ref("-"), None);
        assert_eq!(parse_group_ref(""), None);
        assert_eq!(parse_group_ref("9999999999"), Some((GroupRef::Name("9999999999"), "")));
    }

    #[test]
    fn regex_is_go_dialect_anchored_and_dotall() {
        let matches = |re: &str, s: &str| {
            let l = labels(&[("src", s)]);
            replace(&l, "hit", "yes", "src", re).get("hit") == Some("yes")
        };
        assert!(matches(r"\d+", "123"));
        assert!(!matches(r"\d", "٣"), "Perl classes are ASCII-only, as in Go");
        assert!(matches("a.b", "a\nb"));
        assert!(!matches("b", "abc"));
    }

    #[test]
    fn label_join_cases_from_prometheus() {
        let m = labels(&[
            ("__name__", "testmetric"),
            ("src", "a"),
            ("src1", "b"),
            ("src2", "c"),
            ("dst", "original-destination-value"),
        ]);
        let join = |dst: &str, sep: &str, srcs: &[&str]| label_join(&m, dst, sep, srcs).unwrap_or_default();
        assert_eq!(join("dst", "-", &["src", "src1", "src2"]).get("dst"), Some("a-b-c"));
        assert_eq!(join("dst", "-", &["src", "src3", "src1"]).get("dst"), Some("a--b"));
        // An empty result removes the destination.
        let without_dst = labels(&[("__name__", "testmetric"), ("src", "a"), ("src1", "b"), ("src2", "c")]);
        assert_eq!(join("dst", "", &["emptysrc", "emptysrc1", "emptysrc2"]), without_dst);
        assert_eq!(join("dst", ", ", &[]), without_dst);
        // A destination that did not exist is created.
        let m1 = labels(&[("__name__", "testmetric1"), ("src", "foo"), ("src1", "bar"), ("src2", "foobar")]);
        let joined = label_join(&m1, "dst", ", ", &["src", "src1", "src2"]).unwrap_or_default();
        assert_eq!(joined.get("dst"), Some("foo, bar, foobar"));
        assert_eq!(joined.len(), 5);
        assert_eq!(join("idx", ",", &["src", "src"]).get("idx"), Some("a,a"));
    }

    #[test]
    fn label_join_errors() {
        let m = labels(&[("a", "1")]);
        assert_eq!(
            label_join(&m, "", ",", &["a"]).err(),
            Some("invalid destination label name in label_join(): ".into())
        );
        assert_eq!(
            label_join(&m, "d", ",", &["a", ""]).err(),
            Some("invalid source label name in label_join(): ".into())
        );
        // Sources are checked first.
        assert!(label_join(&m, "", ",", &[""]).is_err_and(|e| e.contains("source")));
    }

    #[test]
    fn label_replace_struct_reuses_the_regex() {
        let lr = LabelReplace::new("dst", "v-$1", "src", "s-(.*)").unwrap_or_else(|e| panic!("{e}"));
        let a = lr.apply(&labels(&[("src", "s-1")]));
        let b = lr.apply(&labels(&[("src", "t-2")]));
        assert_eq!(a.get("dst"), Some("v-1"));
        assert_eq!(b.get("dst"), None);
    }
}
