//! The cluster context: what a live cluster holds that a manifest check needs and a set of manifests never
//! does. A Deployment's manifest does not say whether its namespace enforces a Pod Security level, which
//! NetworkPolicies select its pods, whether its ServiceAccount mounts a token, or what a binding's role grants.
//!
//! The cluster agent sends these objects (trimmed to the fields the rules read) with its report; the server
//! keeps the newest and serves them to CI (`GET /api/v1/clusters/{name}/context`); `kubeward-agent manifests
//! --context-from` evaluates the manifests over them, as the cluster will take them. The kinds sent are then
//! known in full, so the checks that said "outside the manifest set" decide; verdicts are reported only for
//! the manifests' own objects and the namespaces their workloads run in.

use std::collections::{BTreeSet, HashSet};

use serde::{Deserialize, Serialize};

use super::objects::{Inventory, Object, ObjectError};
use super::rules::namespaces::enforces_pod_security;
use super::worst;
use crate::cluster_report::{ClusterReport, Source};
use crate::report::Status;

/// The kinds a context holds in full.
pub const CONTEXT_KINDS: &[&str] = &[
    "Namespace",
    "NetworkPolicy",
    "CiliumNetworkPolicy",
    "CiliumClusterwideNetworkPolicy",
    "ServiceAccount",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "LimitRange",
    "ResourceQuota",
];

/// Most objects one context may hold: a very large cluster's namespaces, accounts, roles and bindings.
pub const MAX_CONTEXT_OBJECTS: usize = 100_000;

/// The fields kept of each kind, besides `apiVersion`, `kind` and `metadata` (name, namespace, labels).
fn kept_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "ServiceAccount" => &["automountServiceAccountToken"],
        "Role" | "ClusterRole" => &["rules", "aggregationRule"],
        "RoleBinding" | "ClusterRoleBinding" => &["roleRef", "subjects"],
        "Namespace" => &[],
        // Network policies, quotas, limit ranges and admission engines' policies: their spec.
        _ => &["spec"],
    }
}

/// A cluster's context as it travels: trimmed Kubernetes objects.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterContext {
    pub objects: Vec<serde_json::Value>,
}

/// Why a context cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    #[error("objects[{index}]: {problem}")]
    Object { index: usize, problem: String },
    #[error("{count} objects, over the limit of {MAX_CONTEXT_OBJECTS}")]
    TooMany { count: usize },
}

/// Whether an object belongs in a context: one of [`CONTEXT_KINDS`], or an admission engine's pod security
/// policy (Kyverno, Gatekeeper), which decides namespaces as a label does.
pub fn belongs(object: &Object) -> bool {
    CONTEXT_KINDS.contains(&object.kind.as_str()) || enforces_pod_security(object)
}

/// The context of a live cluster's inventory.
pub fn of_inventory(inventory: &Inventory) -> ClusterContext {
    ClusterContext {
        objects: inventory
            .objects()
            .iter()
            .filter(|object| belongs(object))
            .map(trim)
            .collect(),
    }
}

fn trim(object: &Object) -> serde_json::Value {
    let mut metadata = serde_json::Map::new();
    metadata.insert("name".into(), object.name.as_str().into());
    if let Some(namespace) = &object.namespace {
        metadata.insert("namespace".into(), namespace.as_str().into());
    }
    if let Some(labels) = object.field(&["metadata", "labels"]) {
        metadata.insert("labels".into(), labels.to_value());
    }
    let mut out = serde_json::Map::new();
    out.insert("apiVersion".into(), object.api_version.as_str().into());
    out.insert("kind".into(), object.kind.as_str().into());
    out.insert("metadata".into(), serde_json::Value::Object(metadata));
    for field in kept_fields(&object.kind) {
        if let Some(value) = object.field(&[field]) {
            out.insert((*field).to_owned(), value.to_value());
        }
    }
    serde_json::Value::Object(out)
}

/// Reads a context's objects, refusing anything that is not a context object.
pub fn read(context: &ClusterContext) -> Result<Vec<Object>, ContextError> {
    if context.objects.len() > MAX_CONTEXT_OBJECTS {
        return Err(ContextError::TooMany {
            count: context.objects.len(),
        });
    }
    context
        .objects
        .iter()
        .enumerate()
        .map(|(index, value)| {
            let object = Object::from_value(value.clone(), None).map_err(|err: ObjectError| {
                ContextError::Object {
                    index,
                    problem: err.to_string(),
                }
            })?;
            if !belongs(&object) {
                return Err(ContextError::Object {
                    index,
                    problem: format!("{} is not a kind a cluster context holds", object.kind),
                });
            }
            Ok(object)
        })
        .collect()
}

/// The manifests' inventory with the cluster's context added: the manifests' objects win over the
/// cluster's of the same kind, namespace and name (they are what will be applied), and the context's kinds are
/// then known in full.
pub fn with_context(manifests: &Inventory, context: Vec<Object>) -> Inventory {
    let own: HashSet<(String, Option<String>, String)> =
        manifests.objects().iter().map(key).collect();
    let mut objects: Vec<Object> = manifests.objects().to_vec();
    objects.extend(
        context
            .into_iter()
            .filter(|object| !own.contains(&key(object))),
    );
    let mut merged = Inventory::new(Source::Manifests, objects);
    merged.complete = CONTEXT_KINDS
        .iter()
        .map(|kind| (*kind).to_owned())
        .collect();
    merged
}

fn key(object: &Object) -> (String, Option<String>, String) {
    (
        object.kind.to_string(),
        object.namespace.as_deref().map(str::to_owned),
        object.name.to_string(),
    )
}

/// Keeps only what the manifests answer for: their own objects (they have a location in a file) and the
/// namespaces their workloads run in. The cluster's own objects were context, not under review; each check's
/// status is then the worst of what remains, as the agent computes it.
pub fn keep_manifest_results(report: &mut ClusterReport) {
    for result in &mut report.results {
        if result.objects.is_empty() {
            continue;
        }
        let before = result.objects.len();
        result
            .objects
            .retain(|object| object.location.is_some() || object.kind == "Namespace");
        if result.objects.len() == before {
            continue;
        }
        let decisive: Vec<Status> = result
            .objects
            .iter()
            .filter(|object| object.platform.is_none())
            .map(|object| object.status)
            .collect();
        result.status = worst(decisive).unwrap_or(Status::Pass);
    }
}

/// The kinds of a context's objects, for a summary line.
pub fn kinds(objects: &[Object]) -> BTreeSet<String> {
    objects
        .iter()
        .map(|object| object.kind.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn live(objects: Vec<serde_json::Value>) -> Inventory {
        Inventory::new(
            Source::Api,
            objects
                .into_iter()
                .map(|value| Object::from_value(value, None).unwrap())
                .collect(),
        )
    }

    #[test]
    fn a_context_keeps_only_the_kinds_and_fields_the_checks_read() {
        let inventory = live(vec![
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop",
                   "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
                   "annotations": {"secret-ish": "x"}}, "status": {"phase": "Active"}}),
            json!({"apiVersion": "v1", "kind": "ServiceAccount",
                   "metadata": {"name": "web", "namespace": "shop"}, "automountServiceAccountToken": false,
                   "secrets": [{"name": "token"}]}),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "shop"},
                   "data": {"password": "aHVudGVyMg=="}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}}),
        ]);
        let context = of_inventory(&inventory);
        assert_eq!(context.objects.len(), 2, "{context:?}");
        let text = serde_json::to_string(&context).unwrap();
        assert!(!text.contains("aHVudGVyMg"), "never a Secret's data");
        assert!(!text.contains("secret-ish") && !text.contains("Active"));
        assert!(
            text.contains("restricted") && text.contains("\"automountServiceAccountToken\":false")
        );
    }

    #[test]
    fn a_context_refuses_what_it_should_not_hold() {
        let secret = ClusterContext {
            objects: vec![json!({"kind": "Secret", "metadata": {"name": "x", "namespace": "a"}})],
        };
        assert!(matches!(
            read(&secret),
            Err(ContextError::Object { index: 0, .. })
        ));
        let nameless = ClusterContext {
            objects: vec![json!({"kind": "Namespace", "metadata": {}})],
        };
        assert!(read(&nameless).is_err());
        let not_an_object = ClusterContext {
            objects: vec![json!("<script>")],
        };
        assert!(read(&not_an_object).is_err());
    }

    #[test]
    fn the_manifests_win_and_the_context_kinds_become_known() {
        let manifests = Inventory::new(
            Source::Manifests,
            vec![
                Object::from_value(
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop",
                       "labels": {"pod-security.kubernetes.io/enforce": "baseline"}}}),
                    Some(crate::cluster_report::Location {
                        file: "ns.yaml".into(),
                        line: 1,
                    }),
                )
                .unwrap(),
            ],
        );
        assert!(!manifests.knows_all("Namespace"));
        let context = read(&ClusterContext {
            objects: vec![
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop",
                       "labels": {"pod-security.kubernetes.io/enforce": "privileged"}}}),
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}}),
            ],
        })
        .unwrap();
        let merged = with_context(&manifests, context);
        assert!(merged.knows_all("Namespace") && merged.knows_all("NetworkPolicy"));
        assert!(
            !merged.knows_all("Deployment"),
            "workloads are never context"
        );
        assert_eq!(merged.objects().len(), 2);
        assert_eq!(
            merged
                .namespace("shop")
                .unwrap()
                .label("pod-security.kubernetes.io/enforce"),
            Some("baseline")
        );
    }
}
