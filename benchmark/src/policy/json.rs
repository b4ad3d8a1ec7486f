//! The object bodies the checks read, held as a compact, read-only JSON tree.
//!
//! A cluster of 10,000 workloads and 20,000 pods is tens of thousands of objects, each hundreds of fields. Held
//! as `serde_json::Value`s they cost about 300 MiB: every map is a B-tree of about 600 bytes, even with one
//! entry, and every key is a string of its own. Here a map is one sorted slice of entries (looked up by binary
//! search), and keys and string values are shared through an [`Interner`]: the same few hundred field names,
//! and many values (images, label values, `TCP`, `ALL`), recur in every object of a cluster.
//!
//! The tree is read-only on purpose: the checks only read, and a tree that cannot change can share its strings.
//! Its accessors have the names and the meaning of `serde_json::Value`'s, so a field of the wrong type reads as
//! absent, never as a panic.

use std::fmt;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

pub use crate::text::Interner;
use crate::text::Text;

/// A JSON value.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Json {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    /// An integer above `i64::MAX` (kept exact, so evidence shows what was written).
    UInt(u64),
    Float(f64),
    Text(Text),
    List(Box<[Json]>),
    Map(Map),
}

/// Up to this many entries a map is searched from the start.
const SCANNED_MAP_LEN: usize = 8;

/// A JSON object: its entries sorted by key, each key once.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Map(Box<[(Text, Json)]>);

impl Map {
    pub fn get(&self, key: &str) -> Option<&Json> {
        // Most maps of an object have a handful of entries: a scan, whose comparisons mostly stop at a length
        // that differs, costs less there than a binary search's string comparisons.
        if self.0.len() <= SCANNED_MAP_LEN {
            return self
                .0
                .iter()
                .find(|(entry, _)| entry.as_str() == key)
                .map(|(_, value)| value);
        }
        self.0
            .binary_search_by(|(entry, _)| entry.as_str().cmp(key))
            .ok()
            .and_then(|at| self.0.get(at))
            .map(|(_, value)| value)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Json)> {
        self.0.iter().map(|(key, value)| (key.as_str(), value))
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(key, _)| key.as_str())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

static NULL: Json = Json::Null;

impl Json {
    /// The value of a key of an object; `None` for a missing key and for anything but an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Map(map) => map.get(key),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Text(text) => Some(text.as_str()),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(flag) => Some(*flag),
            _ => None,
        }
    }

    /// An integer that fits `i64`, as `serde_json` reads it: a float is not an integer.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Json::Int(number) => Some(*number),
            Json::UInt(number) => i64::try_from(*number).ok(),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Int(number) => Some(*number as f64),
            Json::UInt(number) => Some(*number as f64),
            Json::Float(number) => Some(*number),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::List(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Json::Map(map) => Some(map),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    pub fn is_object(&self) -> bool {
        matches!(self, Json::Map(_))
    }

    pub fn is_number(&self) -> bool {
        matches!(self, Json::Int(_) | Json::UInt(_) | Json::Float(_))
    }

    /// A value for "nothing here" that outlives any tree.
    pub fn null() -> &'static Json {
        &NULL
    }

    /// Back to a `serde_json::Value` (for tests and for output that needs one).
    pub fn to_value(&self) -> serde_json::Value {
        match self {
            Json::Null => serde_json::Value::Null,
            Json::Bool(flag) => serde_json::Value::Bool(*flag),
            Json::Int(number) => serde_json::Value::from(*number),
            Json::UInt(number) => serde_json::Value::from(*number),
            Json::Float(number) => serde_json::Value::from(*number),
            Json::Text(text) => serde_json::Value::from(text.as_str()),
            Json::List(items) => items.iter().map(Json::to_value).collect(),
            Json::Map(map) => serde_json::Value::Object(
                map.iter()
                    .map(|(key, value)| (key.to_owned(), value.to_value()))
                    .collect(),
            ),
        }
    }
}

impl From<serde_json::Value> for Json {
    /// Converts with an interner of its own: fine for one value, wasteful for many (use [`Interner::tree`]).
    fn from(value: serde_json::Value) -> Json {
        Interner::default().tree(value)
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => serializer.serialize_unit(),
            Json::Bool(flag) => serializer.serialize_bool(*flag),
            Json::Int(number) => serializer.serialize_i64(*number),
            Json::UInt(number) => serializer.serialize_u64(*number),
            Json::Float(number) => serializer.serialize_f64(*number),
            Json::Text(text) => serializer.serialize_str(text),
            Json::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Json::Map(map) => {
                let mut out = serializer.serialize_map(Some(map.len()))?;
                for (key, value) in map.iter() {
                    out.serialize_entry(key, value)?;
                }
                out.end()
            }
        }
    }
}

/// Written as compact JSON, as `serde_json::Value` writes itself (evidence quotes values this way).
impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_string(self).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

/// Trees share equal strings through the interner of their inventory: it is dropped with the listing, while the
/// strings live on in the trees that hold them.
impl Interner {
    /// Converts a value, consuming it so that its memory is given back as the tree grows.
    pub fn tree(&mut self, value: serde_json::Value) -> Json {
        match value {
            serde_json::Value::Null => Json::Null,
            serde_json::Value::Bool(flag) => Json::Bool(flag),
            serde_json::Value::Number(number) => {
                if let Some(integer) = number.as_i64() {
                    Json::Int(integer)
                } else if let Some(integer) = number.as_u64() {
                    Json::UInt(integer)
                } else {
                    Json::Float(number.as_f64().unwrap_or(f64::NAN))
                }
            }
            serde_json::Value::String(text) => Json::Text(self.text(&text)),
            serde_json::Value::Array(items) => Json::List(
                items
                    .into_iter()
                    .map(|item| self.tree(item))
                    .collect::<Vec<_>>()
                    .into_boxed_slice(),
            ),
            serde_json::Value::Object(map) => {
                let mut entries: Vec<(Text, Json)> = map
                    .into_iter()
                    .map(|(key, value)| (self.text(&key), self.tree(value)))
                    .collect();
                // serde_json's map is sorted unless a dependency turns on its `preserve_order`.
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                entries.dedup_by(|later, earlier| later.0 == earlier.0);
                Json::Map(Map(entries.into_boxed_slice()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_tree_reads_and_writes_back_as_the_value_it_came_from() {
        let value = json!({"b": [1, -2, 18446744073709551615u64, 1.5, null, true, "x"],
                           "a": {"z": {}, "y": []}, "<script>": "'; DROP TABLE x; --"});
        let tree = Json::from(value.clone());
        assert_eq!(tree.to_value(), value);
        assert_eq!(tree.to_string(), value.to_string());
        assert_eq!(
            tree.get("a").and_then(|a| a.get("z")),
            Some(&Json::Map(Map::default()))
        );
        assert_eq!(tree.get("missing"), None);
        assert_eq!(tree.get("b").and_then(|b| b.get("0")), None);
        let numbers = tree.get("b").and_then(Json::as_array).unwrap();
        assert_eq!(numbers[0].as_i64(), Some(1));
        assert_eq!(numbers[2].as_i64(), None, "above i64::MAX is not an i64");
        assert_eq!(numbers[3].as_i64(), None, "a float is not an integer");
        assert_eq!(numbers[6].as_bool(), None);
    }

    #[test]
    fn small_and_large_maps_find_every_key_and_no_other() {
        for size in [0, 1, 7, 8, 9, 40] {
            let value: serde_json::Map<String, serde_json::Value> =
                (0..size).map(|i| (format!("k{i}"), json!(i))).collect();
            let tree = Json::from(serde_json::Value::Object(value));
            for i in 0..size {
                assert_eq!(tree.get(&format!("k{i}")).and_then(Json::as_i64), Some(i));
            }
            assert_eq!(tree.get("k"), None);
            assert_eq!(tree.get(&format!("k{size}")), None);
        }
    }

    #[test]
    fn equal_strings_are_shared() {
        let mut interner = Interner::default();
        let first = interner.tree(json!({"image": "nginx:1.27"}));
        let second = interner.tree(json!({"image": "nginx:1.27"}));
        let (Some(Json::Text(a)), Some(Json::Text(b))) = (first.get("image"), second.get("image"))
        else {
            panic!("not text");
        };
        assert!(std::ptr::eq(a.as_str(), b.as_str()));
    }
}
