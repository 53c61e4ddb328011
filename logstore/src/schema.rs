//! The tantivy schema of a partition and how entries become documents and back.
//!
//! | field      | tantivy options               | holds                                              |
//! |------------|-------------------------------|----------------------------------------------------|
//! | `ts`       | i64, fast                     | the entry's time, nanoseconds since the epoch      |
//! | `order`    | u64, fast                     | push order: WAL record sequence << 24 + position   |
//! | `stream`   | u64, fast + indexed           | the stream id, [`Labels::stable_hash`]             |
//! | `labels`   | string (one term), stored     | the stream's labels as JSON pairs                  |
//! | `label`    | string (one term per label)   | `name=value`, to find streams by exact label       |
//! | `line`     | text (log tokenizer), stored  | the line, byte for byte                            |
//! | `metadata` | stored                        | structured metadata as JSON pairs, `[]` when none  |
//!
//! The `labels` field has one term per stream, so a partition's streams are read back from its
//! term dictionary on open without touching documents.
//!
//! Lines are tokenized by [`LOG_TOKENIZER`]: maximal runs of alphanumeric characters, case
//! kept, tokens longer than [`MAX_TOKEN_LEN`] bytes dropped. An IP, a path or a UUID is thus
//! indexed as its parts, and a search for it needs all of them; the line is then checked
//! exactly ([`required_tokens`]).

use argus_model::{Label, Labels, LogEntry};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TantivyDocument, TextFieldIndexing,
    TextOptions, Value,
};
use tantivy::tokenizer::{RemoveLongFilter, SimpleTokenizer, TextAnalyzer, TokenStream};

/// Name under which the line tokenizer is registered on every index.
pub const LOG_TOKENIZER: &str = "argus_log";
/// Longer tokens are not indexed (hashes, base64 blobs): they would bloat the dictionary.
pub const MAX_TOKEN_LEN: usize = 255;

/// The fields of the partition schema.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    pub ts: Field,
    pub order: Field,
    pub stream: Field,
    pub labels: Field,
    pub label: Field,
    pub line: Field,
    pub metadata: Field,
}

impl Fields {
    pub fn new(schema: &Schema) -> tantivy::Result<Self> {
        Ok(Self {
            ts: schema.get_field("ts")?,
            order: schema.get_field("order")?,
            stream: schema.get_field("stream")?,
            labels: schema.get_field("labels")?,
            label: schema.get_field("label")?,
            line: schema.get_field("line")?,
            metadata: schema.get_field("metadata")?,
        })
    }
}

pub fn schema() -> Schema {
    let mut builder = Schema::builder();
    builder.add_i64_field("ts", FAST);
    builder.add_u64_field("order", FAST);
    builder.add_u64_field("stream", FAST | INDEXED);
    builder.add_text_field("labels", STRING | STORED);
    builder.add_text_field("label", STRING);
    let line_indexing =
        TextFieldIndexing::default().set_tokenizer(LOG_TOKENIZER).set_index_option(IndexRecordOption::Basic);
    builder.add_text_field("line", TextOptions::default().set_indexing_options(line_indexing).set_stored());
    builder.add_text_field("metadata", STORED);
    builder.build()
}

pub fn log_tokenizer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_LEN + 1))
        .build()
}

/// The tokens every line containing `literal` has: those of `literal` bounded by a separator
/// on both sides within it. The first and last tokens are left out unless a separator
/// precedes (follows) them, since in a line they may be part of a longer token
/// (`"out of mem"` in `"timeout of memory"`).
pub fn required_tokens(literal: &str) -> Vec<String> {
    let mut tokenizer = log_tokenizer();
    let mut stream = tokenizer.token_stream(literal);
    let mut tokens = Vec::new();
    while stream.advance() {
        let token = stream.token();
        if token.offset_from > 0 && token.offset_to < literal.len() {
            tokens.push(token.text.clone());
        }
    }
    tokens
}

/// The document of one entry of a stream.
pub fn document(fields: &Fields, stream: &StreamKey, entry: &LogEntry, order: u64) -> TantivyDocument {
    let mut doc = TantivyDocument::new();
    doc.add_i64(fields.ts, entry.timestamp);
    doc.add_u64(fields.order, order);
    doc.add_u64(fields.stream, stream.id);
    doc.add_text(fields.labels, &stream.encoded);
    for label in stream.labels.iter() {
        doc.add_text(fields.label, format!("{}={}", label.name, label.value));
    }
    doc.add_text(fields.line, &entry.line);
    doc.add_text(fields.metadata, encode_labels(&entry.metadata));
    doc
}

/// The entry a stored document holds; `None` if it is not one of ours.
pub fn entry(fields: &Fields, doc: &TantivyDocument, ts: i64) -> Option<LogEntry> {
    let line = doc.get_first(fields.line)?.as_str()?.to_string();
    let metadata = decode_labels(doc.get_first(fields.metadata)?.as_str()?)?;
    Some(LogEntry { timestamp: ts, line, metadata })
}

/// A stream's labels with what documents carry of them.
#[derive(Debug, Clone)]
pub struct StreamKey {
    pub id: u64,
    pub labels: Labels,
    /// [`encode_labels`] of the labels.
    pub encoded: String,
}

impl StreamKey {
    pub fn new(labels: Labels) -> Self {
        Self { id: labels.stable_hash(), encoded: encode_labels(&labels), labels }
    }
}

/// Labels as a JSON array of `[name, value]` pairs, in label order.
pub fn encode_labels(labels: &Labels) -> String {
    let pairs: Vec<[&str; 2]> = labels.iter().map(|l| [&*l.name, &*l.value]).collect();
    serde_json::to_string(&pairs).expect("strings always serialize")
}

pub fn decode_labels(encoded: &str) -> Option<Labels> {
    let pairs: Vec<(String, String)> = serde_json::from_str(encoded).ok()?;
    Labels::new(pairs.into_iter().map(|(n, v)| Label::new(n, v)).collect()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_tokens_are_those_bounded_inside_the_literal() {
        assert_eq!(required_tokens("out of mem"), ["of"]);
        assert_eq!(required_tokens(" out of mem"), ["out", "of"]);
        assert_eq!(required_tokens("GET /api/v1/users HTTP"), ["api", "v1", "users"]);
        assert_eq!(required_tokens("10.0.0.1"), ["0", "0"]);
        assert!(required_tokens("error").is_empty());
        assert!(required_tokens("").is_empty());
    }

    #[test]
    fn labels_round_trip_through_their_encoding() {
        let labels = Labels::from_pairs([("app", "a\"p\ni"), ("env", "prod")]).unwrap();
        assert_eq!(decode_labels(&encode_labels(&labels)), Some(labels));
        assert_eq!(decode_labels("[]"), Some(Labels::empty()));
        assert_eq!(decode_labels("not json"), None);
    }
}
