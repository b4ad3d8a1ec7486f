//! What an exception or an attestation covers: one cluster or every cluster, and then either a node-name
//! pattern (for node checks) or a namespace, a kind and an object-name pattern (for checks on Kubernetes
//! objects). Patterns are globs (`*` any run of characters, `?` one character); they are kept beside their SQL
//! `LIKE` form so that matching happens in the database. A pattern without a wildcard is an exact name: `web`
//! never takes in `web-2`.

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
        checked_glob(text, |b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.')
        })
        .map(NodePattern)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The pattern for SQL `LIKE` with its default escape character (backslash).
    pub fn to_like(&self) -> String {
        glob_to_like(&self.0)
    }

    /// The same match in Rust, for checks that do not go through the database.
    pub fn matches(&self, name: &str) -> bool {
        glob_matches(&self.0, name)
    }
}

/// A glob of 1 to 253 bytes, each a wildcard (`*`, `?`) or a byte the name's alphabet allows.
fn checked_glob(text: &str, allowed: fn(u8) -> bool) -> Result<String, PatternError> {
    let valid = (1..=253).contains(&text.len())
        && text.bytes().all(|b| matches!(b, b'*' | b'?') || allowed(b));
    if valid {
        Ok(text.to_owned())
    } else {
        Err(PatternError(text.to_owned()))
    }
}

/// A glob as a SQL `LIKE` pattern: `*` and `?` become `%` and `_`, and a literal `%`, `_` or `\\` is escaped,
/// so that nothing but the wildcards can widen the match.
fn glob_to_like(glob: &str) -> String {
    let mut like = String::with_capacity(glob.len());
    for c in glob.chars() {
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

fn glob_matches(glob: &str, name: &str) -> bool {
    fn matches_from(pattern: &[u8], name: &[u8]) -> bool {
        match pattern.split_first() {
            None => name.is_empty(),
            Some((b'*', rest)) => (0..=name.len()).any(|skip| matches_from(rest, &name[skip..])),
            Some((b'?', rest)) => !name.is_empty() && matches_from(rest, &name[1..]),
            Some((c, rest)) => name.first() == Some(c) && matches_from(rest, &name[1..]),
        }
    }
    matches_from(glob.as_bytes(), name.as_bytes())
}

/// A glob over Kubernetes object names. Besides DNS names it takes what RBAC names use (`system:node`,
/// upper case, `_`, `@`), since roles and bindings are objects findings name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectPattern(String);

impl ObjectPattern {
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        checked_glob(text, |b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b':' | b'_' | b'@')
        })
        .map(ObjectPattern)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn to_like(&self) -> String {
        glob_to_like(&self.0)
    }

    pub fn matches(&self, name: &str) -> bool {
        glob_matches(&self.0, name)
    }
}

/// The namespace an object scope names: one namespace, or the cluster-scoped objects (`_` in requests and
/// filters, the empty namespace in storage, as in the object registry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeNamespace(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "namespace {0:?} is not valid: use a namespace name (1 to 63 lower-case letters, digits and '-') or _ for cluster-scoped objects"
)]
pub struct NamespaceError(pub String);

impl ScopeNamespace {
    pub fn parse(text: &str) -> Result<Self, NamespaceError> {
        if text == crate::domain::object::CLUSTER_SCOPED {
            return Ok(ScopeNamespace(String::new()));
        }
        let valid = (1..=63).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !text.starts_with('-')
            && !text.ends_with('-');
        if valid {
            Ok(ScopeNamespace(text.to_owned()))
        } else {
            Err(NamespaceError(text.to_owned()))
        }
    }

    /// As stored: the empty string for cluster-scoped objects.
    pub fn stored(&self) -> &str {
        &self.0
    }
}

/// Which objects an exception takes in, beside its cluster: each part `None` means any.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectScope {
    pub namespace: Option<ScopeNamespace>,
    pub kind: Option<String>,
    pub name: Option<ObjectPattern>,
}

impl ObjectScope {
    pub fn is_any(&self) -> bool {
        self.namespace.is_none() && self.kind.is_none() && self.name.is_none()
    }

    /// The rule `object_scope_covers` applies in SQL, for checks that do not go through the database.
    pub fn covers(&self, namespace: &str, kind: &str, name: &str) -> bool {
        self.namespace
            .as_ref()
            .is_none_or(|wanted| wanted.stored() == namespace)
            && self.kind.as_deref().is_none_or(|wanted| wanted == kind)
            && self
                .name
                .as_ref()
                .is_none_or(|pattern| pattern.matches(name))
    }

    /// How people read it: `Deployments named web-* in namespace shop`.
    pub fn describe(namespace: Option<&str>, kind: Option<&str>, name: Option<&str>) -> String {
        let what = match kind {
            Some(kind) => format!("{kind} objects"),
            None => "objects".to_owned(),
        };
        let named = name
            .map(|name| format!(" named {name}"))
            .unwrap_or_default();
        let place = match namespace {
            None => String::new(),
            Some("") => " that are cluster-scoped".to_owned(),
            Some(namespace) => format!(" in namespace {namespace}"),
        };
        format!("{what}{named}{place}")
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
    fn object_patterns_match_exact_names_exactly_and_globs_as_globs() {
        let exact = ObjectPattern::parse("web").unwrap();
        assert!(exact.matches("web"));
        assert!(!exact.matches("web-2"), "an exact name is never a prefix");
        assert!(!exact.matches("x-web"));
        assert_eq!(exact.to_like(), "web");
        let glob = ObjectPattern::parse("system:node*").unwrap();
        assert!(glob.matches("system:node") && glob.matches("system:nodes"));
        assert_eq!(glob.to_like(), "system:node%");
        // `_` is a literal in names: its LIKE form is escaped so it matches only itself.
        let underscore = ObjectPattern::parse("a_b").unwrap();
        assert_eq!(underscore.to_like(), "a\\_b");
        assert!(underscore.matches("a_b") && !underscore.matches("axb"));
        for bad in [
            "",
            "a b",
            "a%b",
            "a/b",
            "'; DROP TABLE objects;--",
            "<script>",
            &"a".repeat(254),
        ] {
            assert!(ObjectPattern::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn an_object_scope_takes_in_exactly_its_namespace_kind_and_names() {
        let shop = ObjectScope {
            namespace: Some(ScopeNamespace::parse("shop").unwrap()),
            ..ObjectScope::default()
        };
        assert!(shop.covers("shop", "Deployment", "cart"));
        assert!(!shop.covers("shop-staging", "Deployment", "cart"));
        assert!(!shop.covers("", "ClusterRole", "shop"));
        let cluster_scoped = ObjectScope {
            namespace: Some(ScopeNamespace::parse("_").unwrap()),
            kind: Some("ClusterRoleBinding".to_owned()),
            name: Some(ObjectPattern::parse("kubeadm:*").unwrap()),
        };
        assert!(cluster_scoped.covers("", "ClusterRoleBinding", "kubeadm:cluster-admins"));
        assert!(!cluster_scoped.covers("kube-system", "ClusterRoleBinding", "kubeadm:x"));
        assert!(!cluster_scoped.covers("", "RoleBinding", "kubeadm:x"));
        for bad in ["", "Shop", "-a", "a-", "a_b", "a.b", &"a".repeat(64)] {
            assert!(ScopeNamespace::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(
            ObjectScope::describe(Some("shop"), Some("Deployment"), Some("web-*")),
            "Deployment objects named web-* in namespace shop"
        );
        assert_eq!(
            ObjectScope::describe(Some(""), None, None),
            "objects that are cluster-scoped"
        );
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
