//! PromQL's regular expressions on the `regex` crate: RE2 syntax read the way Go reads it,
//! fully anchored, with `.` matching newlines (Prometheus 3). Used by label matchers and
//! `label_replace`, so both agree with Prometheus on every pattern.
//!
//! The two engines share RE2 syntax but differ in a few places; [`compile_anchored`] rewrites
//! those before compiling (see `translate_go_regex`).

use std::sync::OnceLock;

use regex::Regex;

use crate::cache::StringMemo;

/// Compiles `pattern` as Prometheus does: `^(?s:pattern)$` with Go's meaning of the pattern.
///
/// Compiled regexes are remembered by pattern: dashboards send the same selectors again and
/// again, and building the automaton of a small pattern costs more than answering a small
/// query with it. A `Regex` clone shares the compiled program.
pub fn compile_anchored(pattern: &str) -> Result<Regex, regex::Error> {
    static COMPILED: OnceLock<StringMemo<Regex>> = OnceLock::new();
    COMPILED
        .get_or_init(|| StringMemo::new(512))
        .get_or_try_insert(pattern, || Regex::new(&format!("^(?s:{})$", translate_go_regex(pattern))))
}

/// Rewrites an RE2 (Go) pattern so that the `regex` crate matches exactly what Go would:
///
/// - `\d \D \w \W \s \S` are ASCII-only in Go but Unicode-aware in `regex`, so they become
///   explicit ASCII classes; `\b \B` become ASCII word boundaries.
/// - A `{` that does not start a valid `{n}`, `{n,}` or `{n,m}` is a literal in Go but an
///   error in `regex`: it is escaped.
/// - Inside brackets, Go has no nested classes or set operations, so a `[` that does not
///   open `[:name:]` and the characters `&` and `~` are escaped.
/// - `\Q…\E` (quoted literal text, unknown to `regex`) is replaced by the escaped text.
///
/// Everything else is copied unchanged; invalid patterns stay invalid.
fn translate_go_regex(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut in_class = false;
    let mut i = 0;
    while let Some(c) = pattern[i..].chars().next() {
        let rest = &pattern[i..];
        i += c.len_utf8();
        match c {
            '\\' => {
                let Some(e) = pattern[i..].chars().next() else {
                    // A trailing backslash: keep it so `regex` reports the error.
                    out.push('\\');
                    break;
                };
                i += e.len_utf8();
                if e == 'Q' && !in_class {
                    let quoted = &pattern[i..];
                    let (text, consumed) = match quoted.find("\\E") {
                        Some(end) => (&quoted[..end], end + 2),
                        None => (quoted, quoted.len()),
                    };
                    out.push_str(&regex::escape(text));
                    i += consumed;
                } else if let Some(class) = ascii_class_escape(e, in_class) {
                    out.push_str(class);
                } else {
                    out.push('\\');
                    out.push(e);
                    // `\p{Greek}`, `\x{263a}`: copy the braces along so they are not
                    // mistaken for a repetition below.
                    if matches!(e, 'p' | 'P' | 'x') && pattern[i..].starts_with('{') {
                        let end = pattern[i..].find('}').map_or(pattern.len(), |off| i + off + 1);
                        out.push_str(&pattern[i..end]);
                        i = end;
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                if pattern[i..].starts_with('^') {
                    out.push('^');
                    i += 1;
                }
                // A `]` right after the opening bracket is a literal in both dialects.
                if pattern[i..].starts_with(']') {
                    out.push_str("\\]");
                    i += 1;
                }
            }
            '[' => match named_class_len(rest) {
                Some(len) => {
                    out.push_str(&rest[..len]);
                    i += len - 1;
                }
                None => out.push_str("\\["),
            },
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            '{' if !in_class && !is_repetition(rest) => out.push_str("\\{"),
            _ => out.push(c),
        }
    }
    out
}

/// Go's meaning of the Perl class escapes and word boundaries, spelled for `regex`, outside
/// or inside brackets. Inside brackets Go's `\S` differs from `[:^space:]` only in `\v`.
fn ascii_class_escape(e: char, in_class: bool) -> Option<&'static str> {
    let s = match (e, in_class) {
        ('d', false) => "[0-9]",
        ('D', false) => "[^0-9]",
        ('w', false) => "[0-9A-Za-z_]",
        ('W', false) => "[^0-9A-Za-z_]",
        ('s', false) => "[\\t\\n\\f\\r ]",
        ('S', false) => "[^\\t\\n\\f\\r ]",
        ('b', false) => "(?-u:\\b)",
        ('B', false) => "(?-u:\\B)",
        ('d', true) => "0-9",
        ('D', true) => "[:^digit:]",
        ('w', true) => "0-9A-Za-z_",
        ('W', true) => "[:^word:]",
        ('s', true) => "\\t\\n\\f\\r ",
        ('S', true) => "[:^space:]",
        _ => return None,
    };
    Some(s)
}

/// Length of a `[:name:]` or `[:^name:]` at the start of `s` (inside brackets), if any.
fn named_class_len(s: &str) -> Option<usize> {
    let body = s.strip_prefix("[:")?;
    let end = body.find(":]")?;
    let name = body[..end].strip_prefix('^').unwrap_or(&body[..end]);
    (!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphabetic())).then_some(2 + end + 2)
}

/// True if `s` starts with a repetition Go accepts: `{n}`, `{n,}` or `{n,m}`.
fn is_repetition(s: &str) -> bool {
    let Some(body) = s.strip_prefix('{') else {
        return false;
    };
    let digits = |t: &str| t.bytes().take_while(u8::is_ascii_digit).count();
    let min = digits(body);
    if min == 0 {
        return false;
    }
    let after_min = &body[min..];
    if after_min.starts_with('}') {
        return true;
    }
    let Some(after_comma) = after_min.strip_prefix(',') else {
        return false;
    };
    after_comma[digits(after_comma)..].starts_with('}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialect_matches_go() {
        let matches = |re: &str, s: &str| compile_anchored(re).is_ok_and(|r| r.is_match(s));
        // Perl classes are ASCII-only in Go.
        assert!(matches(r"\d+", "123"));
        assert!(!matches(r"\d", "٣"));
        assert!(!matches(r"\w", "é"));
        assert!(matches(r"\W", "é"));
        assert!(!matches(r"\s", "\u{a0}"));
        assert!(matches(r"[\d\s]+", "1 2"));
        assert!(!matches(r"[\w]", "é"));
        assert!(matches(r"[^\d]", "x"));
        assert!(matches(r"[\D]", "é"));
        assert!(matches(r".*\bfoo\b.*", "a foo b"));
        // Unparsable braces are literals in Go.
        assert!(matches(r"a{b}", "a{b}"));
        assert!(matches(r"{", "{"));
        assert!(matches(r"x{,3}", "x{,3}"));
        assert!(matches(r"a{2}", "aa"));
        assert!(matches(r"a{1,}", "aaa"));
        assert!(matches(r"a{1,2}b", "aab"));
        assert!(matches(r"\p{Greek}+", "αβ"));
        assert!(matches(r"\x{41}", "A"));
        // No nested classes or set operations inside brackets.
        assert!(matches(r"[[]", "["));
        assert!(matches(r"[a&&b]", "&"));
        assert!(matches(r"[~]", "~"));
        assert!(matches(r"[[:alpha:]]+", "abc"));
        assert!(matches(r"[[:^digit:]]", "x"));
        assert!(matches(r"[]a]", "]"));
        // Quoted literal text.
        // As in Go, a quantifier after `\E` applies to the last quoted character.
        assert!(matches(r"\Qa.b*\E+", "a.b**"));
        assert!(!matches(r"\Qa.b\E", "axb"));
        // Anchoring and `.` matching newlines.
        assert!(matches("a.b", "a\nb"));
        assert!(!matches("b", "abc"));
        assert!(matches("(?i)ABC", "abc"));
        assert!(matches("a|b", "b"));
    }

    #[test]
    fn translation_never_panics() {
        // Every pattern of up to three characters from the syntax the translation touches.
        let alphabet: Vec<char> = "\\[]{}QEp^:a&x,1é".chars().collect();
        let mut patterns = vec![String::new()];
        for _ in 0..3 {
            let longer: Vec<String> =
                patterns.iter().flat_map(|p| alphabet.iter().map(move |c| format!("{p}{c}"))).collect();
            patterns.extend(longer);
        }
        patterns.sort();
        patterns.dedup();
        for p in &patterns {
            let _ = compile_anchored(p);
        }
        assert!(patterns.len() > 4000);
    }

    #[test]
    fn translation_is_identity_for_plain_patterns() {
        for p in ["source-value-(.*)", "(?P<x>a|b)+", "[a-z0-9]+", r"\.", "a{2,3}", "^x$"] {
            assert_eq!(translate_go_regex(p), p);
        }
        assert_eq!(translate_go_regex(r"\"), r"\");
    }
}
