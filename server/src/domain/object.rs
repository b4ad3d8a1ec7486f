//! How a Kubernetes object's namespace is written where a value must be present (a page address, a filter).

/// Stands for "cluster-scoped, no namespace" in addresses and filters. No namespace can be named so:
/// namespaces are DNS labels, which hold no underscore.
pub const CLUSTER_SCOPED: &str = "_";

/// The stored namespace a written one stands for: the empty string for [`CLUSTER_SCOPED`].
pub fn stored_namespace(written: &str) -> &str {
    if written == CLUSTER_SCOPED {
        ""
    } else {
        written
    }
}

/// The namespace as written in an address: [`CLUSTER_SCOPED`] for the empty stored one.
pub fn written_namespace(stored: &str) -> &str {
    if stored.is_empty() {
        CLUSTER_SCOPED
    } else {
        stored
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_scoped_objects_have_a_written_namespace_no_real_one_can_take() {
        assert_eq!(stored_namespace("_"), "");
        assert_eq!(written_namespace(""), "_");
        assert_eq!(stored_namespace("shop"), "shop");
        assert_eq!(written_namespace("shop"), "shop");
    }
}
