//! The list of excluded cases, `exclusions.txt` beside this file: one per line,
//! `file.test:<line of the eval> <reason>` or `file.test:* <reason>` for a whole file; `#` starts
//! a comment line. Native-histogram cases are not listed there: they are found automatically.

use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct Exclusions {
    files: HashMap<String, FileExclusions>,
}

#[derive(Debug, Default, Clone)]
pub struct FileExclusions {
    pub whole: Option<String>,
    pub lines: HashMap<usize, String>,
}

impl Exclusions {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut exclusions = Exclusions::default();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |why: &str| format!("exclusions.txt line {}: {why}: {raw:?}", n + 1);
            let (location, reason) =
                line.split_once(char::is_whitespace).ok_or_else(|| bad("no reason given"))?;
            let reason = reason.trim().to_string();
            let (file, target) =
                location.rsplit_once(':').ok_or_else(|| bad("expected file.test:<line> or file.test:*"))?;
            let entry = exclusions.files.entry(file.to_string()).or_default();
            if target == "*" {
                if entry.whole.is_some() {
                    return Err(bad("file excluded twice"));
                }
                entry.whole = Some(reason);
            } else {
                let eval_line: usize = target.parse().map_err(|_| bad("line is not a number"))?;
                if entry.lines.insert(eval_line, reason).is_some() {
                    return Err(bad("line excluded twice"));
                }
            }
        }
        Ok(exclusions)
    }

    pub fn for_file(&self, file: &str) -> FileExclusions {
        self.files.get(file).cloned().unwrap_or_default()
    }

    /// Files the list names, to report entries for files that do not exist.
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines_and_whole_files() {
        let e = Exclusions::parse("# c\n\nlimit.test:* experimental\nfunctions.test:12 needs   x\n").unwrap();
        assert_eq!(e.for_file("limit.test").whole.as_deref(), Some("experimental"));
        assert_eq!(e.for_file("functions.test").lines.get(&12).map(String::as_str), Some("needs   x"));
        assert!(e.for_file("other.test").whole.is_none());
        for bad in [
            "a.test:1",
            "a.test reason",
            "a.test:x reason",
            "a.test:1 r\na.test:1 r",
            "a.test:* r\na.test:* r",
        ] {
            assert!(Exclusions::parse(bad).is_err(), "{bad}");
        }
    }
}
