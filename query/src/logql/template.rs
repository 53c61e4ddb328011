//! The templates of `line_format` and `label_format`: the part of Go's text/template that
//! Loki queries use.
//!
//! An action `{{ … }}` holds a value — `.label`, `__line__`, `__timestamp__` or a string — and
//! functions applied to it in turn, written as a pipeline (`{{ .path | lower | trimPrefix "/" }}`)
//! or as a call with the value last (`{{ ToUpper .level }}`). The value is passed to each
//! function as its last argument, as Go does. A missing label renders as an empty string.
//!
//! Functions: `ToUpper`/`upper`, `ToLower`/`lower`, `Title`/`title`, `TrimSpace`/`trim`,
//! `trimPrefix p`, `trimSuffix s`, `Replace old new n`, `replace old new`, `default d`,
//! `substr start end`, `trunc n`, `repeat n`, `len`.

use argus_model::calendar::format_rfc3339_nanos;

use super::ast::{Template, TemplateFunction, TemplatePart, TemplateValue};

const FUNCTIONS: [(&str, usize); 18] = [
    ("ToUpper", 0),
    ("upper", 0),
    ("ToLower", 0),
    ("lower", 0),
    ("Title", 0),
    ("title", 0),
    ("TrimSpace", 0),
    ("trim", 0),
    ("trimPrefix", 1),
    ("trimSuffix", 1),
    ("Replace", 3),
    ("replace", 2),
    ("default", 1),
    ("substr", 2),
    ("trunc", 1),
    ("repeat", 1),
    ("len", 0),
    ("trimAll", 1),
];

pub fn parse(source: &str) -> Result<Template, String> {
    let mut parts = Vec::new();
    let mut rest = source;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            parts.push(TemplatePart::Text(rest[..open].to_string()));
        }
        let after = &rest[open + 2..];
        let close = after.find("}}").ok_or_else(|| format!("unclosed action in template {source:?}"))?;
        parts.push(action(after[..close].trim_matches(|c: char| c == '-' || c.is_whitespace()))?);
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        parts.push(TemplatePart::Text(rest.to_string()));
    }
    Ok(Template { source: source.to_string(), parts })
}

/// One action's words, split on spaces outside quotes.
fn words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        if rest.starts_with(['"', '`']) {
            let (value, used) = argus_model::quoted::read_quoted(rest)?;
            words.push(format!("\u{0}{value}"));
            rest = &rest[used..];
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            words.push(rest[..end].to_string());
            rest = &rest[end..];
        }
        rest = rest.trim_start();
    }
    Ok(words)
}

fn value_of(word: &str) -> Option<TemplateValue> {
    if let Some(literal) = word.strip_prefix('\u{0}') {
        return Some(TemplateValue::Literal(literal.to_string()));
    }
    match word {
        "__line__" => Some(TemplateValue::Line),
        "__timestamp__" => Some(TemplateValue::Timestamp),
        _ => word.strip_prefix('.').filter(|n| !n.is_empty()).map(|n| TemplateValue::Label(n.to_string())),
    }
}

fn action(text: &str) -> Result<TemplatePart, String> {
    let mut value = None;
    let mut functions = Vec::new();
    for (i, command) in text.split('|').enumerate() {
        let mut words = words(command)?;
        if words.is_empty() {
            return Err(format!("empty command in {{{{ {text} }}}}"));
        }
        if i == 0
            && words.len() == 1
            && let Some(v) = value_of(&words[0])
        {
            value = Some(v);
            continue;
        }
        let name = words.remove(0);
        let &(_, arity) = FUNCTIONS
            .iter()
            .find(|(f, _)| *f == name)
            .ok_or_else(|| format!("function {name:?} not defined"))?;
        if i == 0 {
            // A call with the value as its last argument.
            let last = words.pop().ok_or_else(|| format!("{name} needs an argument"))?;
            value = Some(value_of(&last).ok_or_else(|| format!("{last:?} is not a value"))?);
        }
        if words.len() != arity {
            return Err(format!("{name} takes {arity} argument(s) besides its input, got {}", words.len()));
        }
        let args =
            words.into_iter().map(|w| w.strip_prefix('\u{0}').map(str::to_string).unwrap_or(w)).collect();
        functions.push(TemplateFunction { name, args });
    }
    let value = value.ok_or_else(|| format!("no value in {{{{ {text} }}}}"))?;
    Ok(TemplatePart::Action { value, functions })
}

/// Renders `template` for one entry: `label` looks a label up (`None` when absent).
pub fn render<'a>(
    template: &Template,
    label: impl Fn(&str) -> Option<&'a str>,
    line: &str,
    timestamp: i64,
) -> String {
    let mut out = String::new();
    for part in &template.parts {
        match part {
            TemplatePart::Text(text) => out.push_str(text),
            TemplatePart::Action { value, functions } => {
                let mut current = match value {
                    TemplateValue::Label(name) => label(name).unwrap_or_default().to_string(),
                    TemplateValue::Line => line.to_string(),
                    TemplateValue::Timestamp => format_rfc3339_nanos(timestamp),
                    TemplateValue::Literal(text) => text.clone(),
                };
                for function in functions {
                    current = apply(function, current);
                }
                out.push_str(&current);
            }
        }
    }
    out
}

fn apply(function: &TemplateFunction, input: String) -> String {
    let args = &function.args;
    let number = |i: usize| args[i].parse::<i64>().unwrap_or(0);
    match function.name.as_str() {
        "ToUpper" | "upper" => input.to_uppercase(),
        "ToLower" | "lower" => input.to_lowercase(),
        "Title" | "title" => title(&input),
        "TrimSpace" | "trim" => input.trim().to_string(),
        "trimAll" => input.trim_matches(|c| args[0].contains(c)).to_string(),
        "trimPrefix" => input.strip_prefix(args[0].as_str()).unwrap_or(&input).to_string(),
        "trimSuffix" => input.strip_suffix(args[0].as_str()).unwrap_or(&input).to_string(),
        "Replace" => match number(2) {
            n if n < 0 => input.replace(&args[0], &args[1]),
            n => input.replacen(&args[0], &args[1], n as usize),
        },
        "replace" => input.replace(&args[0], &args[1]),
        "default" if input.is_empty() => args[0].clone(),
        "default" => input,
        "substr" => substr(&input, number(0), number(1)),
        "trunc" => match number(0) {
            n if n >= 0 => input.chars().take(n as usize).collect(),
            n => {
                let len = input.chars().count();
                input.chars().skip(len.saturating_sub(n.unsigned_abs() as usize)).collect()
            }
        },
        "repeat" => input.repeat(number(0).max(0) as usize),
        "len" => input.chars().count().to_string(),
        _ => input,
    }
}

fn title(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut at_word_start = true;
    for c in input.chars() {
        if at_word_start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        at_word_start = !c.is_alphanumeric();
    }
    out
}

/// Characters `[start, end)` as sprig's `substr` takes them (a negative end means to the end).
fn substr(input: &str, start: i64, end: i64) -> String {
    let chars: Vec<char> = input.chars().collect();
    let start = start.clamp(0, chars.len() as i64) as usize;
    let end = if end < 0 { chars.len() } else { (end as usize).min(chars.len()) };
    if start >= end { String::new() } else { chars[start..end].iter().collect() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(source: &str) -> String {
        let template = parse(source).unwrap();
        let labels = [("level", "warn"), ("path", "/api/users"), ("empty", "")];
        render(
            &template,
            |name| labels.iter().find(|(n, _)| *n == name).map(|(_, v)| *v),
            "the line",
            1_500_000_000,
        )
    }

    #[test]
    fn values_pipelines_and_calls_render() {
        assert_eq!(rendered("{{.level}}: {{ __line__ }}"), "warn: the line");
        assert_eq!(
            rendered("{{ .level | ToUpper }} {{ ToUpper .level }} {{ upper .missing }}!"),
            "WARN WARN !"
        );
        assert_eq!(rendered(r#"{{ .path | trimPrefix "/api" | replace "/" "_" }}"#), "_users");
        assert_eq!(rendered(r#"{{ .empty | default "none" }} {{ .level | default "none" }}"#), "none warn");
        assert_eq!(rendered("{{ __timestamp__ }}"), "1970-01-01T00:00:01.5Z");
        assert_eq!(
            rendered(r#"{{ "lit" | title }} {{ .path | len }} {{ .path | substr 1 4 }}"#),
            "Lit 10 api"
        );
        assert_eq!(rendered("no actions"), "no actions");
    }

    #[test]
    fn malformed_templates_are_errors() {
        for bad in ["{{ .level", "{{ nosuch .level }}", "{{ trimPrefix .level }}", "{{ }}", "{{ | upper }}"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
