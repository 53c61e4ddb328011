//! Splitting a LogQL query into tokens. Numbers, durations (`5m`, `1.5s`) and sizes (`20MB`)
//! come out as one [`Token::Number`]-like word the parser classifies, so `[5m]` and `> 250ms`
//! need no lookahead here.

use argus_model::quoted::read_quoted;

#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    Ident(String),
    String(String),
    /// A word starting with a digit or `.`: `42`, `1.5e3`, `5m`, `250ms`, `20MB`.
    Word(String),
    /// `--strict`, `--keep-empty`.
    Flag(String),
    Symbol(&'static str),
}

/// A token and the byte offset it starts at.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned {
    pub token: Token,
    pub at: usize,
}

/// Longest first, so `|=` wins over `|` and `>=` over `>`.
const SYMBOLS: [&str; 26] = [
    "|=", "|~", "!=", "!~", "=~", "==", ">=", "<=", "{", "}", "(", ")", "[", "]", ",", "|", "=", ">", "<",
    "+", "-", "*", "/", "%", "^", "!",
];

pub fn tokenize(input: &str) -> Result<Vec<Spanned>, String> {
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < input.len() {
        let rest = &input[at..];
        let c = rest.chars().next().expect("not at the end");
        if c.is_whitespace() {
            at += c.len_utf8();
            continue;
        }
        if c == '#' {
            // A comment runs to the end of the line.
            at += rest.find('\n').unwrap_or(rest.len());
            continue;
        }
        let (token, len) = if c == '"' || c == '`' {
            let (value, len) = read_quoted(rest).map_err(|e| format!("at {at}: {e}"))?;
            (Token::String(value), len)
        } else if let Some(flag) = rest.strip_prefix("--") {
            let len = flag.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).unwrap_or(flag.len());
            (Token::Flag(flag[..len].to_string()), len + 2)
        } else if c.is_ascii_digit() || (c == '.' && rest[1..].starts_with(|d: char| d.is_ascii_digit())) {
            let len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '.')).unwrap_or(rest.len());
            let len = signed_exponent_len(rest, len);
            (Token::Word(rest[..len].to_string()), len)
        } else if c.is_ascii_alphabetic() || c == '_' {
            let len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
            (Token::Ident(rest[..len].to_string()), len)
        } else if let Some(symbol) = SYMBOLS.iter().find(|s| rest.starts_with(**s)) {
            (Token::Symbol(symbol), symbol.len())
        } else {
            return Err(format!("at {at}: unexpected character {c:?}"));
        };
        tokens.push(Spanned { token, at });
        at += len;
    }
    Ok(tokens)
}

/// Extends a number word over the sign of an exponent: `1e-3` lexes as one word.
fn signed_exponent_len(rest: &str, len: usize) -> usize {
    let word = &rest[..len];
    let after = &rest[len..];
    let ends_in_exponent =
        word.ends_with(['e', 'E']) && word[..word.len() - 1].bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if ends_in_exponent && after.starts_with(['+', '-']) {
        let digits = after[1..].find(|c: char| !c.is_ascii_digit()).unwrap_or(after.len() - 1);
        if digits > 0 {
            return len + 1 + digits;
        }
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(input: &str) -> Vec<Token> {
        tokenize(input).unwrap().into_iter().map(|t| t.token).collect()
    }

    #[test]
    fn tokens_of_a_pipeline() {
        use Token::*;
        assert_eq!(
            kinds(r#"{app="api"} |= `x` | json | dur > 1.5s and size <= 20MB # comment"#),
            [
                Symbol("{"),
                Ident("app".into()),
                Symbol("="),
                String("api".into()),
                Symbol("}"),
                Symbol("|="),
                String("x".into()),
                Symbol("|"),
                Ident("json".into()),
                Symbol("|"),
                Ident("dur".into()),
                Symbol(">"),
                Word("1.5s".into()),
                Ident("and".into()),
                Ident("size".into()),
                Symbol("<="),
                Word("20MB".into()),
            ]
        );
        assert_eq!(
            kinds("[5m] 1e-3 2-1"),
            [
                Symbol("["),
                Word("5m".into()),
                Symbol("]"),
                Word("1e-3".into()),
                Word("2".into()),
                Symbol("-"),
                Word("1".into())
            ]
        );
        assert_eq!(kinds("| logfmt --strict"), [Symbol("|"), Ident("logfmt".into()), Flag("strict".into())]);
    }

    #[test]
    fn bad_input_is_located() {
        assert!(tokenize(r#"{app="api}"#).unwrap_err().starts_with("at 5"));
        assert!(tokenize("{a=\"b\"} ; x").unwrap_err().contains("';'"));
    }
}
