//! Label matchers (`=`, `!=`, `=~`, `!~`) with Prometheus semantics.
//!
//! Regular expressions are RE2 syntax read as Go reads it, fully anchored, and `.` matches a
//! newline (Prometheus 3.x; see [`crate::regex`]). A label a series does not have matches as
//! the empty string. Common regex shapes are recognised once at construction and answered
//! without the regex engine: a literal, an alternation of literals (`a|b|c`, which the
//! postings index can turn into a union of exact lookups), a literal prefix (`foo.*`), `.*`
//! and `.+`.

use std::fmt;

use regex::Regex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    Equal,
    NotEqual,
    RegexMatch,
    RegexNoMatch,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::RegexMatch => "=~",
            MatchOp::RegexNoMatch => "!~",
        }
    }

    fn is_negative(self) -> bool {
        matches!(self, MatchOp::NotEqual | MatchOp::RegexNoMatch)
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid regular expression {pattern:?} in matcher: {source}")]
pub struct MatcherError {
    pattern: String,
    #[source]
    source: regex::Error,
}

/// How the positive form of a matcher tests a string.
#[derive(Debug, Clone)]
enum StringMatch {
    Literal(String),
    /// Alternation of literals, sorted and deduplicated.
    Set(Vec<String>),
    Prefix(String),
    Any,
    NonEmpty,
    Regex(Regex),
    /// A regex whose matches all start with `prefix`: the cheap test runs first and rejects
    /// most values (`host-0000[0-9]:9100` against thousands of hosts) without the regex.
    PrefixedRegex {
        prefix: String,
        regex: Regex,
    },
}

impl StringMatch {
    fn matches(&self, s: &str) -> bool {
        match self {
            StringMatch::Literal(l) => l == s,
            StringMatch::Set(set) => set.binary_search_by(|v| v.as_str().cmp(s)).is_ok(),
            StringMatch::Prefix(p) => s.starts_with(p.as_str()),
            StringMatch::Any => true,
            StringMatch::NonEmpty => !s.is_empty(),
            StringMatch::Regex(re) => re.is_match(s),
            StringMatch::PrefixedRegex { prefix, regex } => {
                s.starts_with(prefix.as_str()) && regex.is_match(s)
            }
        }
    }

    fn for_regex(pattern: &str) -> Result<Self, MatcherError> {
        if let Some(fast) = Self::regex_fast_path(pattern) {
            return Ok(fast);
        }
        let regex = crate::regex::compile_anchored(pattern)
            .map_err(|source| MatcherError { pattern: pattern.to_string(), source })?;
        Ok(match literal_prefix(pattern) {
            prefix if prefix.is_empty() => StringMatch::Regex(regex),
            prefix => StringMatch::PrefixedRegex { prefix, regex },
        })
    }

    fn regex_fast_path(pattern: &str) -> Option<Self> {
        let is_literal = |s: &str| !s.chars().any(regex_syntax::is_meta_character);
        match pattern {
            ".*" => return Some(StringMatch::Any),
            ".+" => return Some(StringMatch::NonEmpty),
            _ => {}
        }
        if is_literal(pattern) {
            return Some(StringMatch::Literal(pattern.to_string()));
        }
        if let Some(prefix) = pattern.strip_suffix(".*")
            && is_literal(prefix)
        {
            return Some(StringMatch::Prefix(prefix.to_string()));
        }
        let alternatives: Vec<&str> = pattern.split('|').collect();
        if alternatives.len() > 1 && alternatives.iter().all(|a| is_literal(a)) {
            let mut set: Vec<String> = alternatives.into_iter().map(String::from).collect();
            set.sort_unstable();
            set.dedup();
            return Some(StringMatch::Set(set));
        }
        None
    }
}

/// The literal text every match of `pattern` starts with: its leading characters up to the
/// first one that is a metacharacter or quantified. Empty when the pattern has an alternation
/// anywhere (a conservative rule: `a|b` has no common prefix).
fn literal_prefix(pattern: &str) -> String {
    if pattern.contains('|') {
        return String::new();
    }
    // Outside a class, these are the characters that are not themselves (`-`, `&` and `~`
    // are special only inside brackets, `#` only after a flag group, which starts with `(`).
    let special =
        |c: char| matches!(c, '\\' | '.' | '+' | '*' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '^' | '$');
    let chars: Vec<char> = pattern.chars().collect();
    let quantifier = |c: Option<&char>| matches!(c, Some('?' | '*' | '+' | '{'));
    chars
        .iter()
        .enumerate()
        .take_while(|&(i, &c)| !special(c) && !quantifier(chars.get(i + 1)))
        .map(|(_, &c)| c)
        .collect()
}

/// One label matcher, e.g. `job=~"api|web"`.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    positive: StringMatch,
}

impl Matcher {
    pub fn new(op: MatchOp, name: impl Into<String>, value: impl Into<String>) -> Result<Self, MatcherError> {
        let value = value.into();
        let positive = match op {
            MatchOp::Equal | MatchOp::NotEqual => StringMatch::Literal(value.clone()),
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => StringMatch::for_regex(&value)?,
        };
        Ok(Self { name: name.into(), op, value, positive })
    }

    /// Shorthand for an `=` matcher, which cannot fail.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        let value = value.into();
        Self { name: name.into(), op: MatchOp::Equal, positive: StringMatch::Literal(value.clone()), value }
    }

    /// Whether a label value (`""` for a missing label) satisfies the matcher.
    pub fn matches(&self, value: &str) -> bool {
        self.positive.matches(value) != self.op.is_negative()
    }

    /// Whether a series without this label satisfies the matcher.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// True for `!=` and `!~`: the index answers these as "all series minus the positive form".
    pub fn is_negative(&self) -> bool {
        self.op.is_negative()
    }

    /// The exact values the positive form accepts, when that is a finite list (`=` or a regex
    /// that is a literal or an alternation of literals), so an index can look them up directly
    /// instead of testing every value.
    pub fn positive_values(&self) -> Option<Vec<&str>> {
        match &self.positive {
            StringMatch::Literal(l) => Some(vec![l.as_str()]),
            StringMatch::Set(set) => Some(set.iter().map(String::as_str).collect()),
            _ => None,
        }
    }

    /// Whether the positive form is a finite list of values ([`Matcher::positive_values`]),
    /// which an index looks up instead of scanning a label's values.
    pub fn names_its_values(&self) -> bool {
        matches!(self.positive, StringMatch::Literal(_) | StringMatch::Set(_))
    }

    /// Whether a value satisfies the positive form (ignoring `!`).
    pub fn matches_positive(&self, value: &str) -> bool {
        self.positive.matches(value)
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}\"{}\"", self.name, self.op.as_str(), self.value.escape_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(op: MatchOp, value: &str) -> Matcher {
        Matcher::new(op, "l", value).unwrap()
    }

    #[test]
    fn equality_and_inequality() {
        assert!(m(MatchOp::Equal, "a").matches("a"));
        assert!(!m(MatchOp::Equal, "a").matches("ab"));
        assert!(m(MatchOp::NotEqual, "a").matches("b"));
        assert!(m(MatchOp::NotEqual, "a").matches_empty());
        assert!(m(MatchOp::Equal, "").matches_empty());
    }

    #[test]
    fn literal_prefixes_stop_at_metacharacters_quantifiers_and_alternations() {
        assert_eq!(literal_prefix("host-0000[0-9]:9100"), "host-0000");
        assert_eq!(literal_prefix("host-00[0-9]{3}:9100"), "host-00");
        assert_eq!(literal_prefix("eth.+"), "eth");
        assert_eq!(literal_prefix("abc*"), "ab", "c may be absent");
        assert_eq!(literal_prefix("ab{2}"), "a");
        assert_eq!(literal_prefix("a|ab"), "");
        assert_eq!(literal_prefix("(?i)abc"), "");
        let hosts = m(MatchOp::RegexMatch, "host-0000[0-9]:9100");
        assert!(hosts.matches("host-00007:9100") && !hosts.matches("host-00017:9100"));
        assert!(
            !m(MatchOp::RegexMatch, "abc*").matches("abx") && m(MatchOp::RegexMatch, "abc*").matches("ab")
        );
    }

    #[test]
    fn regex_is_fully_anchored() {
        let re = m(MatchOp::RegexMatch, "a(b|c)");
        assert!(re.matches("ab"));
        assert!(!re.matches("xab"));
        assert!(!re.matches("abx"));
    }

    #[test]
    fn regex_dot_matches_newline() {
        assert!(m(MatchOp::RegexMatch, "a.b").matches("a\nb"));
        assert!(m(MatchOp::RegexMatch, "a.*").matches("a\n\nz"));
        assert!(m(MatchOp::RegexMatch, "(a.*)").matches("a\nz"));
    }

    #[test]
    fn regex_matching_empty_string() {
        assert!(m(MatchOp::RegexMatch, ".*").matches_empty());
        assert!(m(MatchOp::RegexMatch, "a|").matches_empty());
        assert!(m(MatchOp::RegexMatch, "(a)?").matches_empty());
        assert!(!m(MatchOp::RegexMatch, ".+").matches_empty());
        assert!(!m(MatchOp::RegexNoMatch, ".*").matches_empty());
        assert!(m(MatchOp::RegexNoMatch, ".+").matches_empty());
    }

    #[test]
    fn regex_reads_patterns_as_go() {
        assert!(m(MatchOp::RegexMatch, r"\d+").matches("123"));
        assert!(!m(MatchOp::RegexMatch, r"\d").matches("٣"), "Perl classes are ASCII-only in Go");
        assert!(m(MatchOp::RegexMatch, r"a{b}").matches("a{b}"), "a brace that is no repetition is literal");
    }

    #[test]
    fn fast_paths_agree_with_the_regex_engine() {
        let patterns = ["abc", "a|b|c", "foo.*", ".*", ".+", "a|", "x.*|y", "a\\.b", "[ab]c"];
        let inputs = ["", "a", "b", "abc", "foo", "foobar", "fo", "x", "xy", "y", "a.b", "aXb", "ac"];
        for pattern in patterns {
            let fast = m(MatchOp::RegexMatch, pattern);
            let slow = Regex::new(&format!("^(?s:{pattern})$")).unwrap();
            for input in inputs {
                assert_eq!(fast.matches(input), slow.is_match(input), "{pattern} vs {input}");
            }
        }
    }

    #[test]
    fn positive_values_for_literals_and_sets() {
        assert_eq!(m(MatchOp::RegexMatch, "b|a|b").positive_values(), Some(vec!["a", "b"]));
        assert_eq!(m(MatchOp::Equal, "x").positive_values(), Some(vec!["x"]));
        assert_eq!(m(MatchOp::RegexMatch, "x.*").positive_values(), None);
    }

    #[test]
    fn invalid_regex_is_an_error() {
        assert!(Matcher::new(MatchOp::RegexMatch, "l", "(").is_err());
    }
}
