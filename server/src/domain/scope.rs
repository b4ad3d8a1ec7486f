//! What an exception or an attestation covers: one cluster or every cluster, and a node-name pattern or every
//! node. Patterns are globs (`*` any run of characters, `?` one character) over node names; they are kept
//! beside their SQL `LIKE` form so that matching happens in the database.

use std::fmt;

use super::cluster::ClusterName;

/// A glob over node names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePattern(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "node pattern {0:?} is not valid: use 1 to 253 lower-case letters, digits, '-', '.', and the wildcards '*' and '?'"
)]
pub struct PatternError(pub String);

impl NodePattern {
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let valid = (1..=253).contains(&text.len())
            && text.bytes().all(|b| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || matches!(b, b'-' | b'.' | b'*' | b'?')
            });
        if valid {
            Ok(NodePattern(text.to_owned()))
        } else {
            Err(PatternError(text.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The pattern for SQL `LIKE` with its default escape character (backslash).
    pub fn to_like(&self) -> String {
        let mut like = String::with_capacity(self.0.len());
        for c in self.0.chars() {
            match c {
                '*' => like.push('%'),
                '?' => like.push('_'),
                '%' | '_' | '\\' => {
                    like.push('\\');
                    like.push(c);
                }
                other => like.push(other),
            }
        }
        like
    }

    /// The same match in Rust, for checks that do not go through the database.
    pub fn matches(&self, name: &str) -> bool {
        fn matches_from(pattern: &[u8], name: &[u8]) -> bool {
            match pattern.split_first() {
                None => name.is_empty(),
                Some((b'*', rest)) => {
                    (0..=name.len()).any(|skip| matches_from(rest, &name[skip..]))
                }
                Some((b'?', rest)) => !name.is_empty() && matches_from(rest, &name[1..]),
                Some((c, rest)) => name.first() == Some(c) && matches_from(rest, &name[1..]),
            }
        }
        matches_from(self.0.as_bytes(), name.as_bytes())
    }
}

impl fmt::Display for NodePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where an exception or attestation applies. Neither part: the whole fleet.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope {
    pub cluster: Option<ClusterName>,
    pub nodes: Option<NodePattern>,
}

impl Scope {
    /// How people read it: `fleet`, `cluster prod`, `nodes worker-* of prod`.
    pub fn describe(cluster: Option<&str>, nodes: Option<&str>) -> String {
        match (cluster, nodes) {
            (None, None) => "the whole fleet".to_owned(),
            (Some(cluster), None) => format!("cluster {cluster}"),
            (None, Some(nodes)) => format!("nodes {nodes} in every cluster"),
            (Some(cluster), Some(nodes)) => format!("nodes {nodes} of cluster {cluster}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_accept_node_names_and_wildcards_only() {
        assert!(NodePattern::parse("worker-*").is_ok());
        assert!(NodePattern::parse("cp-?.example.com").is_ok());
        for bad in [
            "",
            "Worker",
            "a b",
            "a%b",
            "a_b",
            "x\\",
            "'; DROP TABLE nodes;--",
            &"a".repeat(254),
        ] {
            assert!(NodePattern::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn glob_and_like_forms_agree() {
        let pattern = NodePattern::parse("w?rker-*.eu").unwrap();
        assert_eq!(pattern.to_like(), "w_rker-%.eu");
        assert!(pattern.matches("worker-1.eu"));
        assert!(pattern.matches("warker-.eu"));
        assert!(!pattern.matches("worker-1.eu2"));
        assert!(!pattern.matches("wrker-1.eu"));
        let exact = NodePattern::parse("cp-1").unwrap();
        assert!(exact.matches("cp-1") && !exact.matches("cp-10"));
    }

    #[test]
    fn scopes_read_as_sentences() {
        assert_eq!(Scope::describe(None, None), "the whole fleet");
        assert_eq!(
            Scope::describe(Some("prod"), Some("worker-*")),
            "nodes worker-* of cluster prod"
        );
    }
}
