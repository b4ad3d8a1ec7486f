//! Kubernetes objects as the policy checks see them: kind, namespace, name, labels and the body, whether they
//! came from the API or from a manifest file.
//!
//! The body stays JSON (a compact tree, see `json.rs`): the checks read a few fields of many kinds, and a typed
//! model of every kind would cost more than it saves. What is read is read through the small accessors here,
//! so that a field of the wrong type (a hostile or mistyped manifest) reads as absent, never as a panic.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::json::{Interner, Json};
use crate::cluster_report::{Location, Source};
use crate::text::Text;

/// One object of the inventory.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub kind: Text,
    pub api_version: Text,
    /// `None` for cluster-scoped kinds, and for namespaced manifests that leave it to deploy time.
    pub namespace: Option<Text>,
    pub name: Text,
    pub body: Json,
    pub location: Option<Location>,
}

/// Why a value could not be an object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectError {
    #[error("not a mapping")]
    NotAMapping,
    #[error("no `kind`")]
    NoKind,
    #[error("{kind} has no `metadata.name`")]
    NoName { kind: String },
}

impl Object {
    /// Reads an object from its JSON body (a manifest document or an API list item).
    pub fn from_value(
        body: serde_json::Value,
        location: Option<Location>,
    ) -> Result<Object, ObjectError> {
        Object::read(body, location, &mut Interner::default())
    }

    /// Reads an object, sharing its strings with the others the interner has read.
    pub fn read(
        body: serde_json::Value,
        location: Option<Location>,
        interner: &mut Interner,
    ) -> Result<Object, ObjectError> {
        let body = interner.tree(body);
        if !body.is_object() {
            return Err(ObjectError::NotAMapping);
        }
        // The object's own names share the body's strings.
        let shared = |path: &[&str]| match field(&body, path) {
            Some(Json::Text(text)) if !text.is_empty() => Some(text.clone()),
            _ => None,
        };
        let kind = shared(&["kind"]).ok_or(ObjectError::NoKind)?;
        let name = shared(&["metadata", "name"]).ok_or_else(|| ObjectError::NoName {
            kind: kind.to_string(),
        })?;
        let namespace = shared(&["metadata", "namespace"]).filter(|_| !is_cluster_scoped(&kind));
        Ok(Object {
            api_version: shared(&["apiVersion"]).unwrap_or_default(),
            kind,
            namespace,
            name,
            body,
            location,
        })
    }

    /// A label's value. The API server takes only strings, so a number or a boolean written unquoted in a
    /// manifest (which `kubectl apply` would refuse) reads as absent.
    pub fn label(&self, key: &str) -> Option<&str> {
        text(&self.body, &["metadata", "labels", key])
    }

    pub fn is_kind(&self, kind: &str) -> bool {
        self.kind == kind
    }

    /// The namespace, or `None` when the object is namespaced but its namespace is chosen at deploy time.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    pub fn field(&self, path: &[&str]) -> Option<&Json> {
        field(&self.body, path)
    }

    /// `Kind/namespace/name`, or `Kind/name` for cluster-scoped objects.
    pub fn display(&self) -> String {
        match &self.namespace {
            Some(namespace) => format!("{}/{}/{}", self.kind, namespace, self.name),
            None => format!("{}/{}", self.kind, self.name),
        }
    }
}

/// Walks a path of object keys.
pub fn field<'a>(value: &'a Json, path: &[&str]) -> Option<&'a Json> {
    path.iter().try_fold(value, |value, key| value.get(key))
}

pub fn text<'a>(value: &'a Json, path: &[&str]) -> Option<&'a str> {
    field(value, path).and_then(Json::as_str)
}

/// A boolean field; sigs.k8s.io/yaml has already turned `on`/`yes` into booleans.
pub fn flag(value: &Json, path: &[&str]) -> Option<bool> {
    field(value, path).and_then(Json::as_bool)
}

pub fn integer(value: &Json, path: &[&str]) -> Option<i64> {
    field(value, path).and_then(Json::as_i64)
}

pub fn array<'a>(value: &'a Json, path: &[&str]) -> &'a [Json] {
    field(value, path).and_then(Json::as_array).unwrap_or(&[])
}

/// Kinds without a namespace. A kind not on this list is taken as namespaced when the object names one.
pub fn is_cluster_scoped(kind: &str) -> bool {
    matches!(
        kind,
        "Namespace"
            | "Node"
            | "PersistentVolume"
            | "ClusterRole"
            | "ClusterRoleBinding"
            | "CustomResourceDefinition"
            | "ValidatingWebhookConfiguration"
            | "MutatingWebhookConfiguration"
            | "ValidatingAdmissionPolicy"
            | "ValidatingAdmissionPolicyBinding"
            | "MutatingAdmissionPolicy"
            | "MutatingAdmissionPolicyBinding"
            | "StorageClass"
            | "PriorityClass"
            | "CSIDriver"
            | "CSINode"
            | "APIService"
            | "IngressClass"
            | "RuntimeClass"
            | "CertificateSigningRequest"
            | "VolumeAttachment"
            | "ClusterPolicy"
            | "CiliumClusterwideNetworkPolicy"
            | "GlobalNetworkPolicy"
            | "AdminNetworkPolicy"
            | "BaselineAdminNetworkPolicy"
            | "ClusterIssuer"
            | "ConstraintTemplate"
    )
}

/// Kinds that are namespaced for sure; a manifest of one of these without a namespace lands wherever it is
/// applied.
pub fn is_known_namespaced(kind: &str) -> bool {
    matches!(
        kind,
        "Pod"
            | "Deployment"
            | "ReplicaSet"
            | "StatefulSet"
            | "DaemonSet"
            | "Job"
            | "CronJob"
            | "ReplicationController"
            | "PodTemplate"
            | "Service"
            | "ServiceAccount"
            | "ConfigMap"
            | "Secret"
            | "Role"
            | "RoleBinding"
            | "NetworkPolicy"
            | "Ingress"
            | "LimitRange"
            | "ResourceQuota"
            | "PersistentVolumeClaim"
            | "HorizontalPodAutoscaler"
            | "PodDisruptionBudget"
            | "Endpoints"
            | "EndpointSlice"
            | "Event"
            | "Lease"
            | "ControllerRevision"
            | "CiliumNetworkPolicy"
            | "Policy"
    )
}

/// Everything one evaluation sees, and what it knows it does not see.
///
/// Indexed by kind, by namespace and by name when it is made, so that the rules' lookups (a workload's owner,
/// its ServiceAccount, its namespace's policies) cost a hash lookup, not a pass over every object: a cluster
/// has tens of thousands of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Inventory {
    pub source: Source,
    objects: Vec<Object>,
    /// Kinds the API refused to list, with the permission that is missing.
    pub forbidden: BTreeMap<String, String>,
    /// Kinds held in full although the objects are manifests: a cluster's context supplied them.
    pub complete: BTreeSet<String>,
    by_kind: HashMap<String, Vec<usize>>,
    by_namespace: HashMap<(String, Option<String>), Vec<usize>>,
    /// Every object's index, sorted by kind, namespace, name and then index: a name lookup is a binary
    /// search, at four bytes an object (a map of owned keys cost ten times that).
    by_name: Vec<u32>,
}

impl Inventory {
    pub fn new(source: Source, objects: Vec<Object>) -> Inventory {
        let mut by_kind: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_namespace: HashMap<(String, Option<String>), Vec<usize>> = HashMap::new();
        for (index, object) in objects.iter().enumerate() {
            by_kind
                .entry(object.kind.to_string())
                .or_default()
                .push(index);
            by_namespace
                .entry((
                    object.kind.to_string(),
                    object.namespace.as_deref().map(str::to_owned),
                ))
                .or_default()
                .push(index);
        }
        // An inventory beyond u32::MAX objects would not fit in memory anyway; such indexes are left out.
        let mut by_name: Vec<u32> = (0..objects.len())
            .filter_map(|index| u32::try_from(index).ok())
            .collect();
        by_name.sort_by(|a, b| {
            let key = |index: &u32| {
                objects
                    .get(*index as usize)
                    .map(|object| (&object.kind, &object.namespace, &object.name))
            };
            // Equal names keep their order, so the first of two wins, as the API would have refused the second.
            key(a).cmp(&key(b)).then(a.cmp(b))
        });
        Inventory {
            source,
            objects,
            forbidden: BTreeMap::new(),
            complete: BTreeSet::new(),
            by_kind,
            by_namespace,
            by_name,
        }
    }

    pub fn objects(&self) -> &[Object] {
        &self.objects
    }

    fn indexed<'a>(
        &'a self,
        indexes: Option<&'a Vec<usize>>,
    ) -> impl Iterator<Item = &'a Object> + 'a {
        indexes
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .filter_map(|index| self.objects.get(*index))
    }

    pub fn of_kind<'a>(&'a self, kind: &str) -> impl Iterator<Item = &'a Object> + 'a {
        self.indexed(self.by_kind.get(kind))
    }

    /// The objects of a kind in one namespace (`None`: cluster-scoped, or namespace left to deploy time).
    pub fn in_namespace<'a>(
        &'a self,
        kind: &str,
        namespace: Option<&str>,
    ) -> impl Iterator<Item = &'a Object> + 'a {
        self.indexed(
            self.by_namespace
                .get(&(kind.to_owned(), namespace.map(str::to_owned))),
        )
    }

    pub fn find(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<&Object> {
        let wanted = (kind, namespace, name);
        let at = self.by_name.partition_point(|index| {
            self.objects.get(*index as usize).is_some_and(|object| {
                (
                    object.kind.as_str(),
                    object.namespace.as_deref(),
                    object.name.as_str(),
                )
                    .cmp(&wanted)
                    == Ordering::Less
            })
        });
        self.by_name
            .get(at)
            .and_then(|index| self.objects.get(*index as usize))
            .filter(|object| {
                object.kind == kind
                    && object.namespace.as_deref() == namespace
                    && object.name == name
            })
    }

    /// Whether every object of this kind is in the inventory: always for a live cluster that could list it;
    /// for a set of manifests only the kinds a cluster's context supplied, else it holds only what its author
    /// wrote.
    pub fn knows_all(&self, kind: &str) -> bool {
        match self.source {
            Source::Api => !self.forbidden.contains_key(kind),
            Source::Manifests => self.complete.contains(kind),
        }
    }

    pub fn namespace(&self, name: &str) -> Option<&Object> {
        self.find("Namespace", None, name)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_cluster_scoped_object_never_keeps_a_namespace() {
        let object = Object::from_value(
            json!({"kind": "ClusterRole", "metadata": {"name": "x", "namespace": "default"}}),
            None,
        )
        .unwrap();
        assert_eq!(object.namespace, None);
    }

    #[test]
    fn fields_of_the_wrong_type_read_as_absent() {
        let object = Object::from_value(
            json!({"kind": "Pod", "metadata": {"name": "p", "labels": ["x"], "namespace": 3}}),
            None,
        )
        .unwrap();
        assert_eq!(object.label("0"), None);
        assert_eq!(object.namespace, None);
        assert_eq!(
            Object::from_value(json!({"kind": "Pod", "metadata": {}}), None),
            Err(ObjectError::NoName {
                kind: "Pod".to_owned()
            })
        );
    }

    #[test]
    fn find_tells_namespaces_and_kinds_apart_and_the_first_of_two_wins() {
        let objects = [
            json!({"kind": "ConfigMap", "metadata": {"name": "a", "namespace": "x", "labels": {"n": "1"}}}),
            json!({"kind": "ConfigMap", "metadata": {"name": "a", "namespace": "y"}}),
            json!({"kind": "ConfigMap", "metadata": {"name": "a", "namespace": "x", "labels": {"n": "2"}}}),
            json!({"kind": "Secret", "metadata": {"name": "a", "namespace": "x"}}),
            json!({"kind": "ConfigMap", "metadata": {"name": "a"}}),
        ]
        .into_iter()
        .map(|value| Object::from_value(value, None).unwrap())
        .collect();
        let inventory = Inventory::new(Source::Api, objects);
        let found = inventory.find("ConfigMap", Some("x"), "a").unwrap();
        assert_eq!(found.label("n"), Some("1"));
        assert_eq!(
            inventory
                .find("ConfigMap", Some("y"), "a")
                .unwrap()
                .namespace(),
            Some("y")
        );
        assert_eq!(
            inventory.find("ConfigMap", None, "a").unwrap().namespace(),
            None
        );
        assert_eq!(
            inventory.find("Secret", Some("x"), "a").unwrap().kind,
            "Secret"
        );
        assert!(inventory.find("Secret", Some("y"), "a").is_none());
        assert!(inventory.find("ConfigMap", Some("x"), "b").is_none());
        assert!(inventory.find("Pod", None, "").is_none());
    }
}
