//! Quoted string literals as Prometheus, Loki and LogQL write them (Go syntax): `"..."` with
//! backslash escapes, or `` `...` `` taken raw.
//!
//! Escapes in double quotes: `\a \b \f \n \r \t \v \\ \" \'`, `\xHH` (a byte), `\ooo` (octal
//! byte), `\uHHHH` and `\UHHHHHHHH` (a code point). Bytes from `\x` and octal escapes must form
//! valid UTF-8 together with the rest.

/// Reads the quoted literal at the start of `input`; returns its value and the bytes it took.
pub fn read_quoted(input: &str) -> Result<(String, usize), String> {
    let mut chars = input.char_indices();
    match chars.next() {
        Some((_, '`')) => {
            let end = input[1..].find('`').ok_or("unterminated raw string")?;
            Ok((input[1..1 + end].to_string(), end + 2))
        }
        Some((_, '"')) => read_escaped(input),
        _ => Err("expected a quoted string".to_string()),
    }
}

fn read_escaped(input: &str) -> Result<(String, usize), String> {
    let bytes = input.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(input.len());
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let value = String::from_utf8(out).map_err(|_| "escapes form invalid UTF-8".to_string())?;
                return Ok((value, i + 1));
            }
            b'\n' => return Err("newline in string".to_string()),
            b'\\' => {
                let (decoded, used) = escape(&input[i + 1..])?;
                out.extend_from_slice(&decoded);
                i += 1 + used;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    Err("unterminated string".to_string())
}

/// Decodes the escape after a backslash; returns its bytes and how many input bytes it used.
fn escape(rest: &str) -> Result<(Vec<u8>, usize), String> {
    let c = rest.chars().next().ok_or("unterminated escape")?;
    let simple = |b: u8| Ok((vec![b], 1));
    match c {
        'a' => simple(0x07),
        'b' => simple(0x08),
        'f' => simple(0x0c),
        'n' => simple(b'\n'),
        'r' => simple(b'\r'),
        't' => simple(b'\t'),
        'v' => simple(0x0b),
        '\\' | '"' | '\'' => simple(c as u8),
        'x' => Ok((vec![hex(rest.get(1..3))? as u8], 3)),
        'u' | 'U' => {
            let digits = if c == 'u' { 4 } else { 8 };
            let code = hex(rest.get(1..1 + digits))?;
            let c = char::from_u32(code).ok_or_else(|| format!("invalid code point in escape \\{c}"))?;
            Ok((c.to_string().into_bytes(), 1 + digits))
        }
        '0'..='7' => {
            let digits = rest.get(..3).filter(|d| d.bytes().all(|b| (b'0'..=b'7').contains(&b)));
            let value =
                u32::from_str_radix(digits.ok_or("octal escape needs three digits")?, 8).expect("octal");
            let byte = u8::try_from(value).map_err(|_| "octal escape above \\377".to_string())?;
            Ok((vec![byte], 3))
        }
        other => Err(format!("unknown escape sequence \\{other}")),
    }
}

fn hex(digits: Option<&str>) -> Result<u32, String> {
    let digits = digits.filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit())).ok_or("invalid hex escape")?;
    Ok(u32::from_str_radix(digits, 16).expect("hex digits"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn double_quoted_strings_decode_go_escapes() {
        assert_eq!(read_quoted(r#""a\"b\\c\n" rest"#), Ok(("a\"b\\c\n".to_string(), 11)));
        assert_eq!(read_quoted(r#""\x41\101\u00e9\U0001F600\t""#).unwrap().0, "AAé😀\t");
        assert_eq!(read_quoted(r#""\xc3\xa9""#).unwrap().0, "é");
        assert_eq!(read_quoted("\"✓\"").unwrap(), ("✓".to_string(), 5));
    }

    #[test]
    fn raw_strings_take_everything_between_backticks() {
        assert_eq!(read_quoted(r"`a\nb` x"), Ok((r"a\nb".to_string(), 6)));
    }

    #[test]
    fn malformed_strings_are_errors() {
        for bad in [r#""abc"#, r#""\q""#, r#""\x4""#, r#""\xff""#, "\"a\nb\"", "`abc", "abc", r#""\400""#, ""]
        {
            assert!(read_quoted(bad).is_err(), "{bad:?}");
        }
    }
}
