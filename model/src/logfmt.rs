//! logfmt, the `key=value key2="quoted value"` form of log lines, as LogQL's `| logfmt` and the
//! agent's field extraction read it.

/// `key=value key2="quoted value" flag` pairs. Without `strict`, malformed pieces are
/// skipped; with it, they fail the line.
pub fn parse(line: &str, strict: bool) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut rest = line.trim_start();
    while !rest.is_empty() {
        let key_len = rest.find(|c: char| c == '=' || c.is_whitespace()).unwrap_or(rest.len());
        let key = &rest[..key_len];
        rest = &rest[key_len..];
        let value = if let Some(after) = rest.strip_prefix('=') {
            if after.starts_with('"') {
                match crate::quoted::read_quoted(after) {
                    Ok((value, used)) => {
                        rest = &after[used..];
                        value
                    }
                    Err(error) if strict => return Err(format!("logfmt syntax error: {error}")),
                    Err(_) => {
                        let end = after.find(char::is_whitespace).unwrap_or(after.len());
                        rest = &after[end..];
                        continue;
                    }
                }
            } else {
                let end = after.find(char::is_whitespace).unwrap_or(after.len());
                rest = &after[end..];
                after[..end].to_string()
            }
        } else {
            String::new()
        };
        if key.is_empty() {
            if strict {
                return Err("logfmt syntax error: unexpected '='".to_string());
            }
        } else {
            pairs.push((key.to_string(), value));
        }
        rest = rest.trim_start();
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_quoted_values_and_strictness() {
        let pairs = parse(r#"level=info msg="two words" flag path=/a=b"#, false).unwrap();
        let want: Vec<(String, String)> =
            [("level", "info"), ("msg", "two words"), ("flag", ""), ("path", "/a=b")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        assert_eq!(pairs, want);
        assert!(parse(r#"a="unterminated"#, true).is_err());
        assert!(parse(r#"=x"#, true).is_err());
        let skipped = parse(r#"a="unterminated b=1"#, false).unwrap();
        assert_eq!(skipped, [("b".to_string(), "1".to_string())], "the malformed piece is skipped");
    }
}
