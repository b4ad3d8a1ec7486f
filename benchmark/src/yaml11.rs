//! YAML read the way the Kubernetes components read it, into JSON values.
//!
//! kubectl and the components go through sigs.k8s.io/yaml, which resolves plain scalars by YAML 1.1: `on`,
//! `yes`, `y` are true, `off`, `no`, `n` are false, `0644` is the octal 420, `1_000` is 1000, and `<<` merges a
//! mapping. A YAML 1.2 parser reads `privileged: on` as the string "on", which would make a privileged container
//! look harmless. Quoted scalars stay strings, and explicit `!!str`/`!!int`/`!!bool` tags are honoured.
//!
//! A stream is split on its `---` lines before parsing, so that one malformed document is an error naming its
//! line while the documents around it are still read. Every document keeps the line it starts on, and the
//! items of a `kind: List` keep theirs, so that findings point at the manifest line.

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// One parsed document of a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub value: Value,
    /// 1-based line of the document's first node.
    pub line: usize,
    /// For a document whose root mapping has an `items` sequence: the 1-based line of each item.
    pub item_lines: Vec<usize>,
}

/// A document that could not be read, with the 1-based line where the problem is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct YamlError {
    pub line: usize,
    pub message: String,
}

/// What a stream held: the documents that parsed, and an error for each one that did not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stream {
    pub documents: Vec<Document>,
    pub errors: Vec<YamlError>,
}

/// Deepest nesting accepted; a hostile file must not exhaust the stack of whoever converts it.
const MAX_DEPTH: usize = 128;
/// Most nodes an alias may expand to in one document ("billion laughs").
const MAX_EXPANDED_NODES: usize = 1_000_000;

/// Reads every document of a YAML (or JSON) stream.
pub fn read_stream(text: &str) -> Stream {
    let mut stream = Stream::default();
    for (first_line, chunk) in split_documents(text) {
        match read_document(&chunk) {
            Ok(Some(mut document)) => {
                document.line += first_line - 1;
                for line in &mut document.item_lines {
                    *line += first_line - 1;
                }
                stream.documents.push(document);
            }
            Ok(None) => {}
            Err(mut error) => {
                error.line += first_line - 1;
                if let Some(template_line) = template_marker(&chunk) {
                    error.message = format!(
                        "an unrendered template (`{{{{ … }}}}` on line {}): render it with `helm template` or \
                         `kubectl kustomize` first",
                        template_line + first_line - 1,
                    );
                }
                stream.errors.push(error);
            }
        }
    }
    stream
}

/// Splits a stream on lines that start a new document (`---`), keeping each part's first line number.
fn split_documents(text: &str) -> Vec<(usize, String)> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut current_first = 1;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let trimmed = line.trim_end_matches(['\n', '\r']);
        let starts_document = trimmed == "---"
            || trimmed.starts_with("--- ")
            || trimmed.starts_with("---\t")
            || trimmed.starts_with("--- #");
        if starts_document {
            if !current.trim().is_empty() {
                parts.push((current_first, std::mem::take(&mut current)));
            }
            current.clear();
            // Keep the marker line so that content after `--- ` on the same line still parses in place.
            current.push_str(line);
            current_first = index + 1;
        } else {
            current.push_str(line);
        }
    }
    if !current.trim().is_empty() {
        parts.push((current_first, current));
    }
    parts
}

/// The 0-based offset of the first line holding `{{`, within a chunk.
fn template_marker(chunk: &str) -> Option<usize> {
    chunk
        .lines()
        .position(|line| line.contains("{{") && !line.trim_start().starts_with('#'))
        .map(|index| index + 1)
}

fn read_document(chunk: &str) -> Result<Option<Document>, YamlError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(chunk);
    parser.load(&mut builder, true).map_err(|err| YamlError {
        line: err.marker().line().max(1),
        message: err.info().to_owned(),
    })?;
    if let Some(error) = builder.error {
        return Err(error);
    }
    if builder.documents.len() > 1 {
        return Err(YamlError {
            line: builder.documents[1].line,
            message: "a second document without a `---` line before it".to_owned(),
        });
    }
    Ok(builder.documents.pop())
}

/// A container being built from events.
enum Frame {
    Sequence {
        items: Vec<Value>,
        anchor: usize,
    },
    Mapping {
        entries: Map<String, Value>,
        pending_key: Option<Key>,
        anchor: usize,
        line: usize,
    },
}

/// A mapping key: its text, or the merge key `<<`.
enum Key {
    Text(String),
    Merge,
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: std::collections::HashMap<usize, Value>,
    documents: Vec<Document>,
    document_line: Option<usize>,
    item_lines: Vec<usize>,
    expanded: usize,
    error: Option<YamlError>,
}

impl Builder {
    fn fail(&mut self, line: usize, message: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(YamlError {
                line,
                message: message.into(),
            });
        }
    }

    /// Places a finished node into its parent, or ends the document when it is the root.
    fn place(&mut self, value: Value, line: usize) {
        match self.stack.last_mut() {
            None => {
                self.documents.push(Document {
                    value,
                    line: self.document_line.take().unwrap_or(line),
                    item_lines: std::mem::take(&mut self.item_lines),
                });
            }
            Some(Frame::Sequence { items, .. }) => items.push(value),
            Some(Frame::Mapping {
                entries,
                pending_key,
                ..
            }) => match pending_key.take() {
                None => {
                    let key = match key_text(&value) {
                        Some(key) => key,
                        None => {
                            self.fail(
                                line,
                                "a mapping used as a key (is this an unrendered `{{ … }}` template?)",
                            );
                            return;
                        }
                    };
                    *pending_key = Some(key);
                }
                Some(Key::Text(key)) => {
                    // The last value of a repeated key wins, as in sigs.k8s.io/yaml's JSON conversion.
                    entries.insert(key, value);
                }
                Some(Key::Merge) => {
                    let sources = match value {
                        Value::Object(map) => vec![map],
                        Value::Array(items) => items
                            .into_iter()
                            .filter_map(|item| match item {
                                Value::Object(map) => Some(map),
                                _ => None,
                            })
                            .collect(),
                        _ => {
                            self.fail(line, "`<<` must merge a mapping or a list of mappings");
                            return;
                        }
                    };
                    // Keys written in the mapping itself win over merged ones.
                    for source in sources {
                        for (key, value) in source {
                            entries.entry(key).or_insert(value);
                        }
                    }
                }
            },
        }
    }

    fn count_nodes(&mut self, value: &Value, line: usize) -> bool {
        self.expanded = self.expanded.saturating_add(node_count(value));
        if self.expanded > MAX_EXPANDED_NODES {
            self.fail(line, "aliases expand to more than a million nodes");
            return false;
        }
        true
    }
}

fn node_count(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(node_count).sum::<usize>(),
        Value::Object(map) => 1 + map.values().map(node_count).sum::<usize>(),
        _ => 1,
    }
}

/// How a mapping key reads once converted to JSON, as sigs.k8s.io/yaml writes non-string keys.
fn key_text(value: &Value) -> Option<Key> {
    match value {
        Value::String(text) => Some(Key::Text(text.clone())),
        Value::Bool(flag) => Some(Key::Text(flag.to_string())),
        Value::Number(number) => Some(Key::Text(number.to_string())),
        Value::Null => Some(Key::Text("null".to_owned())),
        Value::Array(_) | Value::Object(_) => None,
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let line = mark.line().max(1);
        match event {
            Event::DocumentStart => self.document_line = None,
            Event::Scalar(text, style, anchor, tag) => {
                let is_merge_key = style == TScalarStyle::Plain
                    && text == "<<"
                    && tag.is_none()
                    && matches!(
                        self.stack.last(),
                        Some(Frame::Mapping {
                            pending_key: None,
                            ..
                        })
                    );
                if self.document_line.is_none() && self.stack.is_empty() {
                    self.document_line = Some(line);
                }
                if is_merge_key {
                    if let Some(Frame::Mapping { pending_key, .. }) = self.stack.last_mut() {
                        *pending_key = Some(Key::Merge);
                    }
                    return;
                }
                let value = scalar(&text, style, tag.as_ref());
                if anchor > 0 {
                    self.anchors.insert(anchor, value.clone());
                }
                self.expanded = self.expanded.saturating_add(1);
                self.place(value, line);
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    self.fail(line, format!("nested deeper than {MAX_DEPTH} levels"));
                    return;
                }
                if self.stack.is_empty() && self.document_line.is_none() {
                    self.document_line = Some(line);
                }
                // Items of a root `items:` sequence are the objects of a `kind: List`.
                if let [
                    Frame::Mapping {
                        pending_key: Some(Key::Text(key)),
                        ..
                    },
                    Frame::Sequence { .. },
                ] = self.stack.as_slice()
                    && key == "items"
                {
                    self.item_lines.push(line);
                }
                self.stack
                    .push(if matches!(event, Event::SequenceStart(..)) {
                        Frame::Sequence {
                            items: Vec::new(),
                            anchor,
                        }
                    } else {
                        Frame::Mapping {
                            entries: Map::new(),
                            pending_key: None,
                            anchor,
                            line,
                        }
                    });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, anchor, start_line) = match self.stack.pop() {
                    Some(Frame::Sequence { items, anchor }) => (Value::Array(items), anchor, line),
                    Some(Frame::Mapping {
                        entries,
                        pending_key,
                        anchor,
                        line: start,
                    }) => {
                        if pending_key.is_some() {
                            self.fail(line, "a mapping key without a value");
                            return;
                        }
                        (Value::Object(entries), anchor, start)
                    }
                    None => return,
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, value.clone());
                }
                self.expanded = self.expanded.saturating_add(1);
                self.place(value, start_line);
            }
            Event::Alias(anchor) => match self.anchors.get(&anchor).cloned() {
                Some(value) => {
                    if self.count_nodes(&value, line) {
                        self.place(value, line);
                    }
                }
                None => self.fail(line, "an alias to an anchor that is not defined before it"),
            },
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

/// Resolves one scalar as go-yaml v2 (behind sigs.k8s.io/yaml) does.
fn scalar(text: &str, style: TScalarStyle, tag: Option<&Tag>) -> Value {
    if let Some(tag) = tag
        && tag.handle == "tag:yaml.org,2002:"
    {
        return match tag.suffix.as_str() {
            "str" => Value::String(text.to_owned()),
            "null" => Value::Null,
            "bool" => plain_bool(text).map_or_else(|| Value::String(text.to_owned()), Value::Bool),
            "int" | "float" => plain_number(text).unwrap_or_else(|| Value::String(text.to_owned())),
            _ => resolve_plain(text),
        };
    }
    if style != TScalarStyle::Plain {
        return Value::String(text.to_owned());
    }
    resolve_plain(text)
}

fn resolve_plain(text: &str) -> Value {
    if matches!(text, "" | "~" | "null" | "Null" | "NULL") {
        return Value::Null;
    }
    if let Some(flag) = plain_bool(text) {
        return Value::Bool(flag);
    }
    plain_number(text).unwrap_or_else(|| Value::String(text.to_owned()))
}

/// YAML 1.1 booleans, as go-yaml v2 lists them.
pub fn plain_bool(text: &str) -> Option<bool> {
    match text {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            Some(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            Some(false)
        }
        _ => None,
    }
}

/// YAML 1.1 numbers: Go's integer syntax with base prefixes (a leading `0` is octal), `_` separators, and
/// decimal floats.
fn plain_number(text: &str) -> Option<Value> {
    let first = text.chars().next()?;
    if !(first.is_ascii_digit() || matches!(first, '-' | '+' | '.')) {
        return None;
    }
    match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => {
            // JSON has no infinity or NaN; sigs.k8s.io/yaml cannot send them either.
            return Some(Value::String(text.to_owned()));
        }
        _ => {}
    }
    let cleaned: String = text.chars().filter(|c| *c != '_').collect();
    if let Some(integer) = go_integer(&cleaned) {
        return Some(integer);
    }
    let is_float = {
        let body = cleaned.trim_start_matches(['-', '+']);
        let (mantissa, exponent) = match body.find(['e', 'E']) {
            Some(at) => (&body[..at], Some(&body[at + 1..])),
            None => (body, None),
        };
        let mantissa_ok = !mantissa.is_empty()
            && mantissa.chars().all(|c| c.is_ascii_digit() || c == '.')
            && mantissa.matches('.').count() <= 1
            && mantissa.chars().any(|c| c.is_ascii_digit());
        let exponent_ok = exponent.is_none_or(|exponent| {
            let digits = exponent.trim_start_matches(['-', '+']);
            !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
        });
        mantissa_ok && exponent_ok
    };
    if is_float {
        return cleaned
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number);
    }
    None
}

/// Go's `strconv.ParseInt(s, 0, 64)`, then `ParseUint`: sign, `0x`/`0o`/`0b` prefixes, a leading `0` for octal.
fn go_integer(text: &str) -> Option<Value> {
    let (negative, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(rest) = lower.strip_prefix("0x") {
        (16, rest)
    } else if let Some(rest) = lower.strip_prefix("0o") {
        (8, rest)
    } else if let Some(rest) = lower.strip_prefix("0b") {
        (2, rest)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if negative {
        let value = i64::try_from(magnitude)
            .ok()
            .map(|value| -value)
            .or((magnitude == 1 << 63).then_some(i64::MIN))?;
        Some(Value::Number(value.into()))
    } else {
        Some(Value::Number(magnitude.into()))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn one(text: &str) -> Value {
        let stream = read_stream(text);
        assert!(stream.errors.is_empty(), "{:?}", stream.errors);
        stream.documents[0].value.clone()
    }

    #[test]
    fn yaml_1_1_booleans_and_octal_read_as_kubectl_reads_them() {
        let value = one(
            "a: on\nb: yes\nc: off\nd: No\ne: 0644\nf: 0o644\ng: \"on\"\nh: '0644'\ni: 1_000\nj: 0x1F\nk: ~\nl: 1.5\nm: -7\np: 08\nn: x\n",
        );
        assert_eq!(
            value,
            json!({"a": true, "b": true, "c": false, "d": false, "e": 420, "f": 420, "g": "on", "h": "0644",
                   "i": 1000, "j": 31, "k": null, "l": 1.5, "m": -7, "p": 8.0,
                   "false": "x"})
        );
    }

    #[test]
    fn explicit_tags_win_over_resolution() {
        assert_eq!(
            one("a: !!str on\nb: !!str 0644\nc: !!int \"12\""),
            json!({"a": "on", "b": "0644", "c": 12})
        );
    }

    #[test]
    fn merge_keys_and_aliases_expand() {
        let value = one("base: &b {p: 1, q: 2}\nderived:\n  <<: *b\n  q: 3\n");
        assert_eq!(value["derived"], json!({"p": 1, "q": 3}));
    }

    #[test]
    fn documents_keep_their_lines_and_a_broken_one_does_not_hide_the_others() {
        let stream = read_stream("a: 1\n---\nb: [\n---\n# comment\nc: 3\n");
        assert_eq!(stream.documents.len(), 2);
        assert_eq!(stream.documents[0].line, 1);
        assert_eq!(stream.documents[1].line, 6);
        assert_eq!(stream.errors.len(), 1);
        assert!(stream.errors[0].line >= 3, "{:?}", stream.errors);
    }

    #[test]
    fn list_items_keep_their_lines() {
        let stream = read_stream("kind: List\nitems:\n- kind: A\n  x: 1\n- kind: B\n");
        assert_eq!(stream.documents[0].item_lines, vec![3, 5]);
    }

    #[test]
    fn an_unrendered_template_is_named_as_such() {
        let stream = read_stream("a: 1\n---\nkind: Pod\nmetadata:\n  name: {{ .Values.name }}\n");
        assert_eq!(stream.documents.len(), 1);
        assert_eq!(stream.errors.len(), 1);
        assert!(stream.errors[0].message.contains("unrendered template"));
        assert!(
            stream.errors[0].message.contains("line 5"),
            "{}",
            stream.errors[0].message
        );
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..8 {
            let prev = level - 1;
            text.push_str(&format!(
                "a{level}: &a{level} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let stream = read_stream(&text);
        assert!(stream.documents.is_empty());
        assert!(stream.errors[0].message.contains("million"));
    }

    #[test]
    fn json_reads_as_json() {
        assert_eq!(
            one("{\"kind\": \"Pod\", \"n\": 10, \"on\": true}"),
            json!({"kind": "Pod", "n": 10, "on": true})
        );
    }
}
