//! `Text`: an immutable string shared by reference count.
//!
//! A cluster report on a large cluster lists tens of thousands of objects, and most of what it says repeats:
//! the kind and namespace of every object, the same evidence path, the same expected value, the same missing
//! fact for every workload of a check. As `String`s each repetition is an allocation of its own (a report of
//! 80,000 results cost over 50 MiB); as `Text` they share one. Objects hand their kind, namespace and name to
//! their results the same way. It reads, compares, prints and serialises as the string it holds.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Text(Arc<str>);

impl Text {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Text {
    fn default() -> Text {
        Text::from("")
    }
}

impl Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Text {
    fn from(text: &str) -> Text {
        Text(Arc::from(text))
    }
}

impl From<String> for Text {
    fn from(text: String) -> Text {
        Text(Arc::from(text))
    }
}

impl From<&String> for Text {
    fn from(text: &String) -> Text {
        Text::from(text.as_str())
    }
}

impl From<&Text> for Text {
    fn from(text: &Text) -> Text {
        text.clone()
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, other: &String) -> bool {
        &*self.0 == other.as_str()
    }
}

impl PartialEq<Text> for String {
    fn eq(&self, other: &Text) -> bool {
        self.as_str() == &*other.0
    }
}

impl PartialEq<Text> for &str {
    fn eq(&self, other: &Text) -> bool {
        *self == &*other.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Text, D::Error> {
        String::deserialize(deserializer).map(Text::from)
    }
}

/// Hands out one `Text` for equal strings. Dropped when what it built is done; the texts live on in it.
#[derive(Debug, Default)]
pub struct Interner {
    texts: HashSet<Text>,
}

impl Interner {
    pub fn text(&mut self, text: &str) -> Text {
        if let Some(known) = self.texts.get(text) {
            return known.clone();
        }
        let shared = Text::from(text);
        self.texts.insert(shared.clone());
        shared
    }

    /// The shared equal of a text made elsewhere (the copy is dropped).
    pub fn share(&mut self, text: Text) -> Text {
        if let Some(known) = self.texts.get(text.as_str()) {
            return known.clone();
        }
        self.texts.insert(text.clone());
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_reads_compares_and_serialises_as_its_string() {
        let text = Text::from("<script>alert(1)</script>");
        assert_eq!(text, "<script>alert(1)</script>");
        assert!(text.starts_with("<script>"));
        assert_eq!(
            serde_json::to_string(&text).unwrap(),
            "\"<script>alert(1)</script>\""
        );
        let back: Text = serde_json::from_str("\"x\"").unwrap();
        assert_eq!(back, "x");
        assert!(serde_json::from_str::<Text>("3").is_err());
        assert_eq!(format!("{text:?}"), "\"<script>alert(1)</script>\"");
    }

    #[test]
    fn an_interner_shares_equal_texts() {
        let mut interner = Interner::default();
        let first = interner.text("spec.containers[0]");
        let second = interner.share(Text::from(String::from("spec.containers[0]")));
        assert!(Arc::ptr_eq(&first.0, &second.0));
    }
}
