//! Label selectors as the API server applies them: `matchLabels` and `matchExpressions` together, every term
//! required. An empty selector selects everything; a malformed one selects nothing (the API would have refused
//! it, so counting it as coverage would be a false pass).

use super::json::{Json, Map};
use super::objects::{array, field};

/// Whether `selector` (a LabelSelector) selects an object with these labels.
pub fn selects(selector: &Json, labels: &Json) -> bool {
    let label = |key: &str| labels.get(key).and_then(Json::as_str);
    if let Some(match_labels) = selector.get("matchLabels") {
        let Some(map) = match_labels.as_object() else {
            return match_labels.is_null();
        };
        for (key, wanted) in map.iter() {
            if wanted.as_str() != label(key) {
                return false;
            }
        }
    }
    for expression in array(selector, &["matchExpressions"]) {
        let Some(key) = field(expression, &["key"]).and_then(Json::as_str) else {
            return false;
        };
        let values: Vec<&str> = array(expression, &["values"])
            .iter()
            .filter_map(Json::as_str)
            .collect();
        let present = label(key);
        let matched = match field(expression, &["operator"]).and_then(Json::as_str) {
            Some("In") => present.is_some_and(|value| values.contains(&value)),
            Some("NotIn") => present.is_none_or(|value| !values.contains(&value)),
            Some("Exists") => present.is_some(),
            Some("DoesNotExist") => present.is_none(),
            _ => false,
        };
        if !matched {
            return false;
        }
    }
    true
}

/// Whether a selector has no terms at all (`{}`), which selects every pod of its namespace.
pub fn is_empty_selector(selector: &Json) -> bool {
    let no_labels = selector
        .get("matchLabels")
        .is_none_or(|labels| labels.as_object().is_none_or(Map::is_empty));
    let no_expressions = array(selector, &["matchExpressions"]).is_empty();
    selector.is_null() || (selector.is_object() && no_labels && no_expressions)
}

/// `*` matches any run of characters; everything else matches itself. Names never match by prefix.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let Some((first, rest)) = pattern.split_once('*') else {
        return pattern == text;
    };
    let Some(mut remaining) = text.strip_prefix(first) else {
        return false;
    };
    // `rest` is what follows the first star: middle parts in order, then a suffix after the last star.
    let (middle, last) = match rest.rsplit_once('*') {
        Some((middle, last)) => (middle, last),
        None => ("", rest),
    };
    for part in middle.split('*').filter(|part| !part.is_empty()) {
        match remaining.find(part) {
            Some(at) => remaining = &remaining[at + part.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `serde_json::json!`, read into the checks' tree.
    macro_rules! json {
        ($($body:tt)+) => {
            Json::from(serde_json::json!($($body)+))
        };
    }

    #[test]
    fn match_expressions_count_as_well_as_match_labels() {
        let labels = json!({"app": "cart", "tier": "web"});
        assert!(selects(&json!({}), &labels));
        assert!(selects(&json!({"matchLabels": {"app": "cart"}}), &labels));
        assert!(!selects(&json!({"matchLabels": {"app": "shop"}}), &labels));
        assert!(selects(
            &json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web", "api"]}]}),
            &labels
        ));
        assert!(!selects(
            &json!({"matchLabels": {"app": "cart"},
                    "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["web"]}]}),
            &labels
        ));
        assert!(selects(
            &json!({"matchExpressions": [{"key": "canary", "operator": "DoesNotExist"}]}),
            &labels
        ));
        assert!(!selects(
            &json!({"matchExpressions": [{"key": "tier", "operator": "Bogus"}]}),
            &labels
        ));
    }

    #[test]
    fn globs_match_whole_names_never_prefixes() {
        assert!(glob_matches("coredns", "coredns"));
        assert!(!glob_matches("coredns", "coredns-evil"));
        assert!(glob_matches("etcd-*", "etcd-cp-1"));
        assert!(!glob_matches("etcd-*", "my-etcd-cp-1"));
        assert!(glob_matches(
            "helm-kube-system-rke2-*",
            "helm-kube-system-rke2-coredns"
        ));
        assert!(glob_matches("*", "anything"));
        assert!(glob_matches("a*b*c", "axxbyyc"));
        assert!(!glob_matches("a*b*c", "axxbyy"));
    }
}
