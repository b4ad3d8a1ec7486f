//! Cluster names and labels.

use std::collections::BTreeMap;
use std::fmt;

/// A cluster's name: a DNS label (lower-case letters, digits and dashes, at most 63 characters), so that it
/// fits in URLs, label values and file names without escaping.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClusterName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error(
        "cluster name {0:?} is not valid: use 1 to 63 lower-case letters, digits and dashes, starting and ending with a letter or digit"
    )]
    InvalidClusterName(String),
    #[error(
        "label {0:?} is not key=value with a key of 1 to 63 letters, digits, '.', '_', '/' or '-' and a value of at most 63 such characters"
    )]
    InvalidLabel(String),
    #[error("label key {0:?} is given twice")]
    DuplicateLabel(String),
}

impl ClusterName {
    pub fn parse(text: &str) -> Result<Self, NameError> {
        let valid = (1..=63).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !text.starts_with('-')
            && !text.ends_with('-');
        if valid {
            Ok(ClusterName(text.to_owned()))
        } else {
            Err(NameError::InvalidClusterName(text.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClusterName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A cluster's labels, for filtering in reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels(BTreeMap<String, String>);

impl Labels {
    /// Parses `key=value` pairs as given on the command line.
    pub fn parse<'a>(pairs: impl IntoIterator<Item = &'a str>) -> Result<Self, NameError> {
        let mut labels = BTreeMap::new();
        for pair in pairs {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| NameError::InvalidLabel(pair.to_owned()))?;
            let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-');
            let valid = (1..=63).contains(&key.len())
                && key.chars().all(allowed)
                && value.len() <= 63
                && value.chars().all(allowed);
            if !valid {
                return Err(NameError::InvalidLabel(pair.to_owned()));
            }
            if labels.insert(key.to_owned(), value.to_owned()).is_some() {
                return Err(NameError::DuplicateLabel(key.to_owned()));
            }
        }
        Ok(Labels(labels))
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.0).unwrap_or_default()
    }

    pub fn from_json(value: &serde_json::Value) -> Self {
        Labels(serde_json::from_value(value.clone()).unwrap_or_default())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter()
    }
}

impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pairs: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        f.write_str(&pairs.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_names_are_dns_labels() {
        for good in ["prod", "prod-eu-1", "a", "0x"] {
            assert!(ClusterName::parse(good).is_ok(), "{good}");
        }
        let long = "a".repeat(64);
        for bad in [
            "",
            "Prod",
            "-prod",
            "prod-",
            "prod_eu",
            "prod eu",
            "<script>",
            long.as_str(),
            "prod;drop",
        ] {
            assert!(ClusterName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn labels_are_key_value_pairs() {
        let labels = Labels::parse(["env=prod", "team=platform"]).unwrap();
        assert_eq!(labels.to_string(), "env=prod,team=platform");
        assert!(Labels::parse(["env"]).is_err());
        assert!(Labels::parse(["=x"]).is_err());
        assert!(Labels::parse(["env=a b"]).is_err());
        assert_eq!(
            Labels::parse(["env=a", "env=b"]),
            Err(NameError::DuplicateLabel("env".into()))
        );
    }
}
