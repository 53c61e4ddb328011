//! Label sets: the identity of a series.
//!
//! A [`Labels`] is always sorted by name with unique names and no empty values; every
//! constructor upholds this, so code that receives one can rely on it (hashing, comparison and
//! the postings index all do).
//!
//! Both the set and its strings are shared (`Arc`): cloning a label set, which query evaluation
//! does for every series at every step, costs a reference count, and the engine hands out its
//! interned strings without copying them.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use xxhash_rust::xxh3::{Xxh3, xxh3_64};

/// Name of the label that holds the metric name.
pub const METRIC_NAME: &str = "__name__";

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    pub name: Arc<str>,
    pub value: Arc<str>,
}

impl Label {
    pub fn new(name: impl Into<Arc<str>>, value: impl Into<Arc<str>>) -> Self {
        Self { name: name.into(), value: value.into() }
    }
}

/// Why a list of labels is not a valid label set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelsError {
    #[error("label set is empty")]
    Empty,
    #[error("duplicate label name {0:?}")]
    DuplicateName(String),
    #[error("empty label name")]
    EmptyName,
}

/// A sorted set of labels with unique names; the ordering is Prometheus's (name, then value,
/// pair by pair, then length).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Labels(Arc<[Label]>);

impl Hash for Labels {
    /// Feeds the [`Labels::stable_hash`] alone: one word instead of every name and value
    /// makes maps keyed by label sets (groups and series in the query engine) much cheaper.
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.stable_hash());
    }
}

impl Labels {
    /// Builds a label set from labels in any order: drops empty-valued labels (Prometheus treats
    /// them as absent), sorts, and rejects empty or duplicate names. Never trusts the input order.
    pub fn new(mut labels: Vec<Label>) -> Result<Self, LabelsError> {
        labels.retain(|l| !l.value.is_empty());
        if labels.iter().any(|l| l.name.is_empty()) {
            return Err(LabelsError::EmptyName);
        }
        if !labels.is_sorted_by(|a, b| a.name < b.name) {
            labels.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        }
        if let Some(pair) = labels.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(LabelsError::DuplicateName(pair[0].name.to_string()));
        }
        Ok(Self(labels.into()))
    }

    /// Builds a label set from `labels`, leaving the vector empty with its capacity kept for
    /// the next set. Labels already sorted by unique name with no empty value, as a block
    /// index stores them, take one allocation and no sort; any others follow [`Labels::new`].
    pub fn drain_from(labels: &mut Vec<Label>) -> Result<Self, LabelsError> {
        let valid = labels.windows(2).all(|w| w[0].name < w[1].name)
            && labels.iter().all(|l| !l.name.is_empty() && !l.value.is_empty());
        if !valid {
            return Self::new(std::mem::take(labels));
        }
        Ok(Self(labels.drain(..).collect()))
    }

    /// Builds a label set from `(name, value)` pairs; see [`Labels::new`].
    pub fn from_pairs<N: Into<Arc<str>>, V: Into<Arc<str>>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Result<Self, LabelsError> {
        Self::new(pairs.into_iter().map(|(n, v)| Label::new(n, v)).collect())
    }

    pub fn empty() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    /// The value of label `name`, or `None` when the set does not have it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.binary_search_by(|l| (*l.name).cmp(name)).ok().map(|i| &*self.0[i].value)
    }

    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// A stable 64-bit hash of the set (xxh3, seedless), identical across processes and
    /// versions, so it can place series on shards and nodes. Different sets can collide; users
    /// must compare the labels themselves on a hash match.
    pub fn stable_hash(&self) -> u64 {
        hash_label_pairs(self.0.iter().map(|l| (&*l.name, &*l.value)))
    }

    /// The set without the labels named in `names`.
    pub fn without<S: AsRef<str>>(&self, names: &[S]) -> Labels {
        if !self.0.iter().any(|l| names.iter().any(|n| n.as_ref() == &*l.name)) {
            return self.clone();
        }
        Labels(self.0.iter().filter(|l| !names.iter().any(|n| n.as_ref() == &*l.name)).cloned().collect())
    }

    /// Only the labels named in `names`.
    pub fn keep_only<S: AsRef<str>>(&self, names: &[S]) -> Labels {
        Labels(self.0.iter().filter(|l| names.iter().any(|n| n.as_ref() == &*l.name)).cloned().collect())
    }

    /// Whether `other` is this very set, shared (a clone of it): a test that costs a pointer
    /// comparison and implies equality. Equal sets built apart are not the same.
    pub fn is_same_set(&self, other: &Labels) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    pub fn without_metric_name(&self) -> Labels {
        self.without(&[METRIC_NAME])
    }

    /// The set with label `name` set to `value`, or removed when `value` is empty.
    pub fn with(&self, name: &str, value: &str) -> Labels {
        let mut labels = self.0.to_vec();
        match labels.binary_search_by(|l| (*l.name).cmp(name)) {
            Ok(i) if value.is_empty() => {
                labels.remove(i);
            }
            Ok(i) => labels[i].value = value.into(),
            Err(_) if value.is_empty() => {}
            Err(i) => labels.insert(i, Label::new(name, value)),
        }
        Labels(labels.into())
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Serialized as a JSON object of name to value, the shape every Prometheus API uses
/// (`"metric": {"__name__": "up", "job": "a"}`).
impl serde::Serialize for Labels {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for label in self.0.iter() {
            map.serialize_entry(&*label.name, &*label.value)?;
        }
        map.end()
    }
}

/// Prints the Prometheus form, `{__name__="up", job="node"}`, with values escaped.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, label) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}=\"{}\"", label.name, label.value.escape_default())?;
        }
        f.write_str("}")
    }
}

/// The stable hash of a sorted label set given as pairs (see [`Labels::stable_hash`]): xxh3 of
/// every name and value, each followed by a `0xff` byte. Sets that fit a stack buffer (almost
/// all) are hashed in one shot, which gives the same value as streaming and is much faster.
pub fn hash_label_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)> + Clone) -> u64 {
    const STACK: usize = 512;
    let mut buffer = [0u8; STACK];
    let mut len = 0;
    for (name, value) in pairs.clone() {
        for part in [name, value] {
            let end = len + part.len() + 1;
            if end > STACK {
                return hash_streaming(pairs);
            }
            buffer[len..end - 1].copy_from_slice(part.as_bytes());
            buffer[end - 1] = 0xff;
            len = end;
        }
    }
    xxh3_64(&buffer[..len])
}

fn hash_streaming<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> u64 {
    let mut hasher = Xxh3::new();
    for (name, value) in pairs {
        hasher.update(name.as_bytes());
        hasher.update(&[0xff]);
        hasher.update(value.as_bytes());
        hasher.update(&[0xff]);
    }
    hasher.digest()
}

/// True for a legacy Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A name made fit to be a legacy label name: every character that cannot be in one becomes
/// `_`, and a leading digit (or an empty name) gets a `_` before it. Parsers of log lines use
/// it for the keys they extract, as Loki does.
pub fn sanitize_label_name(name: &str) -> String {
    let mut out: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// Hashes for maps and sets keyed by a [`Labels`] or by its [`Labels::stable_hash`]: the key
/// is a hash already, so it passes through instead of being hashed again (SipHash, std's
/// default, costs as much as the rest of a lookup). Other keys are hashed with xxh3.
pub type PrehashedState = std::hash::BuildHasherDefault<Prehashed>;

/// The [`Hasher`] of [`PrehashedState`].
#[derive(Debug, Default, Clone, Copy)]
pub struct Prehashed(u64);

impl Hasher for Prehashed {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.0);
    }

    fn write_u64(&mut self, hash: u64) {
        self.0 ^= hash;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// True for a legacy Prometheus metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_sorts_and_drops_empty_values() {
        let labels = Labels::from_pairs([("b", "2"), ("a", "1"), ("c", "")]).unwrap();
        let names: Vec<_> = labels.iter().map(|l| &*l.name).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(labels.get("b"), Some("2"));
        assert_eq!(labels.get("c"), None);
    }

    #[test]
    fn new_rejects_duplicates_and_empty_names() {
        assert_eq!(Labels::from_pairs([("a", "1"), ("a", "2")]), Err(LabelsError::DuplicateName("a".into())));
        assert_eq!(Labels::from_pairs([("", "1")]), Err(LabelsError::EmptyName));
    }

    #[test]
    fn drain_from_agrees_with_new_and_keeps_the_buffer() {
        let pairs = |p: &[(&str, &str)]| p.iter().map(|(n, v)| Label::new(*n, *v)).collect::<Vec<_>>();
        for input in [
            pairs(&[("a", "1"), ("b", "2")]),
            pairs(&[("b", "2"), ("a", "1"), ("c", "")]),
            pairs(&[("a", "1"), ("a", "2")]),
            pairs(&[("", "1")]),
            Vec::new(),
        ] {
            let mut buffer = input.clone();
            assert_eq!(Labels::drain_from(&mut buffer), Labels::new(input));
            assert!(buffer.is_empty());
        }
        let mut buffer = Vec::with_capacity(8);
        buffer.push(Label::new("a", "1"));
        Labels::drain_from(&mut buffer).unwrap();
        assert_eq!(buffer.capacity(), 8, "a valid set leaves the buffer's allocation for the next");
    }

    #[test]
    fn prehashed_keys_pass_through() {
        use std::hash::BuildHasher;
        let labels = Labels::from_pairs([("a", "1")]).unwrap();
        assert_eq!(PrehashedState::default().hash_one(&labels), labels.stable_hash());
        assert_eq!(PrehashedState::default().hash_one(7u64), 7);
        assert_ne!(PrehashedState::default().hash_one("a"), PrehashedState::default().hash_one("b"));
    }

    #[test]
    fn hash_is_order_independent_and_separates_boundaries() {
        let a = Labels::from_pairs([("a", "1"), ("b", "2")]).unwrap();
        let b = Labels::from_pairs([("b", "2"), ("a", "1")]).unwrap();
        assert_eq!(a.stable_hash(), b.stable_hash());
        let d = Labels::from_pairs([("ab", "1")]).unwrap();
        let e = Labels::from_pairs([("a", "b1")]).unwrap();
        assert_ne!(d.stable_hash(), e.stable_hash());
    }

    #[test]
    fn one_shot_and_streaming_hashes_agree() {
        let short = Labels::from_pairs([("__name__", "up"), ("job", "node")]).unwrap();
        let long_value = "x".repeat(600);
        let long = Labels::from_pairs([("__name__", "up"), ("blob", long_value.as_str())]).unwrap();
        for labels in [short, long] {
            let pairs = || labels.iter().map(|l| (&*l.name, &*l.value));
            assert_eq!(hash_label_pairs(pairs()), hash_streaming(pairs()));
        }
    }

    #[test]
    fn derived_sets() {
        let labels = Labels::from_pairs([("__name__", "up"), ("job", "a"), ("zone", "z")]).unwrap();
        assert_eq!(labels.without(&["job"]).to_string(), r#"{__name__="up", zone="z"}"#);
        assert_eq!(labels.keep_only(&["job", "nope"]).to_string(), r#"{job="a"}"#);
        assert_eq!(labels.without_metric_name().to_string(), r#"{job="a", zone="z"}"#);
        assert_eq!(labels.with("job", "b").get("job"), Some("b"));
        assert_eq!(labels.with("job", "").get("job"), None);
        assert_eq!(
            labels.with("instance", "i").to_string(),
            r#"{__name__="up", instance="i", job="a", zone="z"}"#
        );
    }

    #[test]
    fn display_is_prometheus_form() {
        let labels = Labels::from_pairs([("__name__", "up"), ("job", "a\"b")]).unwrap();
        assert_eq!(labels.to_string(), r#"{__name__="up", job="a\"b"}"#);
    }

    #[test]
    fn name_validation() {
        assert!(is_valid_label_name("_a1"));
        assert!(!is_valid_label_name("1a"));
        assert!(!is_valid_label_name("a-b"));
        assert!(!is_valid_label_name(""));
        assert!(is_valid_metric_name("a:b_c"));
        assert!(!is_valid_label_name("a:b"));
        assert!(!is_valid_metric_name("a.b"));
    }
}
