//! Reads one page of a LIST answer item by item, without building what no check reads.
//!
//! A page of 500 objects is megabytes of JSON, and the largest parts of an object are the ones the checks never
//! read: its managed fields (often half of it), the `last-applied-configuration` annotation (a copy of the whole
//! object) and, but for Services, its status. Here those are skipped while the text is parsed, so they are
//! never allocated, and each item is handed on as soon as it is read, so a page is never held whole as values.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The annotation `kubectl apply` keeps: the whole object again.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// What a page says besides its items.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PageEnd {
    /// The continue token of the next page, if there is one.
    pub next: Option<String>,
}

/// Reads a page, handing each item to `sink`. `keep_status` is whether the kind's status is read (a Service's
/// load-balancer addresses are).
pub fn read_page(
    text: &str,
    keep_status: bool,
    sink: &mut dyn FnMut(Value),
) -> Result<PageEnd, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let end = PageSeed { keep_status, sink }.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(end)
}

struct PageSeed<'a> {
    keep_status: bool,
    sink: &'a mut dyn FnMut(Value),
}

impl<'de> DeserializeSeed<'de> for PageSeed<'_> {
    type Value = PageEnd;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<PageEnd, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PageSeed<'_> {
    type Value = PageEnd;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of objects")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PageEnd, A::Error> {
        let mut end = PageEnd::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "items" => map.next_value_seed(ItemsSeed {
                    keep_status: self.keep_status,
                    sink: &mut *self.sink,
                })?,
                "metadata" => {
                    let metadata: ListMetadata = map.next_value()?;
                    end.next = metadata.next.filter(|token| !token.is_empty());
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(end)
    }
}

#[derive(serde::Deserialize)]
struct ListMetadata {
    #[serde(rename = "continue", default)]
    next: Option<String>,
}

struct ItemsSeed<'a> {
    keep_status: bool,
    sink: &'a mut dyn FnMut(Value),
}

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of items")
    }

    /// `"items": null` is what the API sends for an empty list.
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element_seed(Trimmed {
            keep_status: self.keep_status,
            depth: Depth::Item,
        })? {
            (self.sink)(item);
        }
        Ok(())
    }
}

/// Where in an item a map is, for what is skipped there.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Depth {
    Item,
    Metadata,
    Annotations,
}

/// A value of an item, read with the skipped parts left out.
struct Trimmed {
    keep_status: bool,
    depth: Depth,
}

impl<'de> DeserializeSeed<'de> for Trimmed {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Trimmed {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let skipped = match self.depth {
                Depth::Item => key == "status" && !self.keep_status,
                Depth::Metadata => key == "managedFields",
                Depth::Annotations => key == LAST_APPLIED,
            };
            if skipped {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let inner = match (self.depth, key.as_str()) {
                (Depth::Item, "metadata") => Some(Depth::Metadata),
                (Depth::Metadata, "annotations") => Some(Depth::Annotations),
                _ => None,
            };
            let value = match inner {
                Some(depth) => map.next_value_seed(Trimmed {
                    keep_status: self.keep_status,
                    depth,
                })?,
                None => map.next_value::<Value>()?,
            };
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }

    // An item, its metadata or its annotations that are not a map are read as they are (and refused later).
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(value) = seq.next_element::<Value>()? {
            out.push(value);
        }
        Ok(Value::Array(out))
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn items(text: &str, keep_status: bool) -> (Vec<Value>, PageEnd) {
        let mut items = Vec::new();
        let end = read_page(text, keep_status, &mut |item| items.push(item)).unwrap();
        (items, end)
    }

    #[test]
    fn managed_fields_last_applied_and_status_are_never_read() {
        let page = json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"continue": "abc", "resourceVersion": "9"},
            "items": [{"metadata": {"name": "a", "managedFields": [{"manager": "x"}],
                                    "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"huge\": true}", "team": "shop"}},
                       "spec": {"containers": [{"name": "c", "status": "kept: not the item's status"}]},
                       "status": {"phase": "Running"}},
                      {"metadata": {"name": "b"}, "spec": {}}]});
        let (read, end) = items(&page.to_string(), false);
        assert_eq!(end.next.as_deref(), Some("abc"));
        assert_eq!(
            read,
            [
                json!({"metadata": {"name": "a", "annotations": {"team": "shop"}},
                       "spec": {"containers": [{"name": "c", "status": "kept: not the item's status"}]}}),
                json!({"metadata": {"name": "b"}, "spec": {}})
            ]
        );
        let (services, _) = items(
            &json!({"items": [{"metadata": {"name": "s"}, "status": {"loadBalancer": {}}}]})
                .to_string(),
            true,
        );
        assert_eq!(services[0]["status"], json!({"loadBalancer": {}}));
    }

    #[test]
    fn the_last_page_an_empty_list_and_odd_shapes_read_without_panicking() {
        let (read, end) = items(r#"{"metadata": {"continue": ""}, "items": null}"#, false);
        assert!(read.is_empty());
        assert_eq!(end.next, None);
        let (read, _) = items(r#"{"items": [3, "x", [1], {"metadata": 7}]}"#, false);
        assert_eq!(
            read,
            [json!(3), json!("x"), json!([1]), json!({"metadata": 7})]
        );
        for bad in [
            "",
            "[]",
            r#"{"items": {}}"#,
            r#"{"items": [{"a": 1}"#,
            r#"{"items": []} trailing"#,
            r#"{"metadata": {"continue": 5}}"#,
        ] {
            assert!(
                read_page(bad, false, &mut |_| {}).is_err(),
                "{bad} was read"
            );
        }
    }
}
