//! Prometheus relabeling (`relabel_configs`, `metric_relabel_configs`), the actions `replace`
//! (the default), `keep`, `drop`, `labeldrop`, `labelkeep` and `labelmap`, with Prometheus's
//! defaults: separator `;`, regex `(.*)` (fully anchored), replacement `$1`.
//!
//! `source_labels` are joined with the separator (a missing label reads as empty) and matched
//! against the regex; `replace` writes the expanded replacement to `target_label` (an empty
//! result removes the label), `keep`/`drop` decide whether the series or target survives.
//! `$1` and `${name}` in replacements read as in Go (and in the `regex` crate).

use std::collections::BTreeMap;

use regex::Regex;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RelabelRule {
    #[serde(default)]
    pub source_labels: Vec<String>,
    #[serde(default = "default_separator")]
    pub separator: String,
    #[serde(default = "default_regex")]
    pub regex: String,
    #[serde(default)]
    pub target_label: Option<String>,
    #[serde(default = "default_replacement")]
    pub replacement: String,
    #[serde(default)]
    pub action: Action,
    #[serde(skip)]
    compiled: Option<Regex>,
}

impl PartialEq for RelabelRule {
    fn eq(&self, other: &Self) -> bool {
        (
            &self.source_labels,
            &self.separator,
            &self.regex,
            &self.target_label,
            &self.replacement,
            self.action,
        ) == (
            &other.source_labels,
            &other.separator,
            &other.regex,
            &other.target_label,
            &other.replacement,
            other.action,
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    #[default]
    Replace,
    Keep,
    Drop,
    LabelDrop,
    LabelKeep,
    LabelMap,
}

fn default_separator() -> String {
    ";".to_string()
}

fn default_regex() -> String {
    "(.*)".to_string()
}

fn default_replacement() -> String {
    "$1".to_string()
}

impl RelabelRule {
    /// Checks the regex and that `replace` has a target label.
    pub fn validate(&self) -> Result<(), String> {
        self.regex()?;
        if self.action == Action::Replace && self.target_label.is_none() {
            return Err("relabel action replace needs a target_label".to_string());
        }
        Ok(())
    }

    fn regex(&self) -> Result<Regex, String> {
        match &self.compiled {
            Some(regex) => Ok(regex.clone()),
            None => argus_model::regex::compile_anchored(&self.regex)
                .map_err(|e| format!("invalid relabel regex: {e}")),
        }
    }

    /// The rule with its regex compiled once.
    pub fn compiled(mut self) -> Result<RelabelRule, String> {
        self.validate()?;
        self.compiled = Some(self.regex()?);
        Ok(self)
    }
}

/// Applies `rules` in order; `None` when a `keep` or `drop` rule discards the labels.
pub fn relabel(
    rules: &[RelabelRule],
    mut labels: BTreeMap<String, String>,
) -> Option<BTreeMap<String, String>> {
    for rule in rules {
        let Ok(regex) = rule.regex() else { return None };
        let joined = || {
            let values: Vec<&str> =
                rule.source_labels.iter().map(|n| labels.get(n).map(String::as_str).unwrap_or("")).collect();
            values.join(&rule.separator)
        };
        match rule.action {
            Action::Keep if !regex.is_match(&joined()) => return None,
            Action::Drop if regex.is_match(&joined()) => return None,
            Action::Keep | Action::Drop => {}
            Action::Replace => {
                let value = joined();
                let Some(captures) = regex.captures(&value) else { continue };
                let mut target = String::new();
                captures.expand(rule.target_label.as_deref().unwrap_or_default(), &mut target);
                let mut replacement = String::new();
                captures.expand(&rule.replacement, &mut replacement);
                if target.is_empty() {
                    continue;
                }
                if replacement.is_empty() {
                    labels.remove(&target);
                } else {
                    labels.insert(target, replacement);
                }
            }
            Action::LabelDrop => labels.retain(|name, _| !regex.is_match(name)),
            Action::LabelKeep => labels.retain(|name, _| regex.is_match(name)),
            Action::LabelMap => {
                let mapped: Vec<(String, String)> = labels
                    .iter()
                    .filter_map(|(name, value)| {
                        let captures = regex.captures(name)?;
                        let mut new_name = String::new();
                        captures.expand(&rule.replacement, &mut new_name);
                        Some((new_name, value.clone()))
                    })
                    .collect();
                labels.extend(mapped);
            }
        }
    }
    Some(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(yaml: &str) -> RelabelRule {
        serde_norway::from_str::<RelabelRule>(yaml).unwrap().compiled().unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn replace_keep_drop_and_label_actions() {
        let base = labels(&[("__address__", "host-1:9100"), ("job", "node"), ("env", "prod")]);
        let instance = rule("source_labels: [__address__]\nregex: '(.*):\\d+'\ntarget_label: host\n");
        assert_eq!(relabel(&[instance], base.clone()).unwrap()["host"], "host-1");
        let keep = rule("source_labels: [env]\nregex: prod|staging\naction: keep\n");
        assert!(relabel(std::slice::from_ref(&keep), base.clone()).is_some());
        assert!(relabel(&[keep], labels(&[("env", "dev")])).is_none());
        let drop = rule("source_labels: [job, env]\nregex: node;prod\naction: drop\n");
        assert!(relabel(&[drop], base.clone()).is_none());
        let labeldrop = rule("regex: env|job\naction: labeldrop\n");
        assert_eq!(relabel(&[labeldrop], base.clone()).unwrap(), labels(&[("__address__", "host-1:9100")]));
        let labelkeep = rule("regex: job\naction: labelkeep\n");
        assert_eq!(relabel(&[labelkeep], base.clone()).unwrap(), labels(&[("job", "node")]));
        let labelmap = rule("regex: __(address)__\nreplacement: 'target_$1'\naction: labelmap\n");
        assert_eq!(relabel(&[labelmap], base.clone()).unwrap()["target_address"], "host-1:9100");
        let remove = rule("source_labels: [missing]\nregex: ''\ntarget_label: env\nreplacement: ''\n");
        assert!(
            !relabel(&[remove], base.clone()).unwrap().contains_key("env"),
            "an empty replacement removes"
        );
        let no_match = rule("source_labels: [job]\nregex: web\ntarget_label: env\nreplacement: x\n");
        assert_eq!(relabel(&[no_match], base.clone()).unwrap()["env"], "prod", "no match, no change");
    }

    #[test]
    fn bad_rules_are_refused() {
        assert!(
            serde_norway::from_str::<RelabelRule>("regex: '('\ntarget_label: x\n")
                .unwrap()
                .validate()
                .is_err()
        );
        assert!(serde_norway::from_str::<RelabelRule>("source_labels: [a]\n").unwrap().validate().is_err());
        assert!(serde_norway::from_str::<RelabelRule>("action: explode\n").is_err());
    }
}
