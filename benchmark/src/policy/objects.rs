//! Kubernetes objects as the policy checks see them: kind, namespace, name, labels and the body, whether they
//! came from the API or from a manifest file.
//!
//! The body stays JSON: the checks read a few fields of many kinds, and a typed model of every kind would cost
//! more than it saves. What is read is read through the small accessors here, so that a field of the wrong
//! type (a hostile or mistyped manifest) reads as absent, never as a panic.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::cluster_report::{Location, Source};

/// One object of the inventory.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub kind: String,
    pub api_version: String,
    /// `None` for cluster-scoped kinds, and for namespaced manifests that leave it to deploy time.
    pub namespace: Option<String>,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub body: Value,
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
    pub fn from_value(body: Value, location: Option<Location>) -> Result<Object, ObjectError> {
        if !body.is_object() {
            return Err(ObjectError::NotAMapping);
        }
        let kind = text(&body, &["kind"])
            .filter(|kind| !kind.is_empty())
            .ok_or(ObjectError::NoKind)?
            .to_owned();
        let name = text(&body, &["metadata", "name"])
            .filter(|name| !name.is_empty())
            .ok_or_else(|| ObjectError::NoName { kind: kind.clone() })?
            .to_owned();
        let namespace = text(&body, &["metadata", "namespace"])
            .filter(|namespace| !namespace.is_empty() && !is_cluster_scoped(&kind))
            .map(str::to_owned);
        let string_map = |key: &str| -> BTreeMap<String, String> {
            field(&body, &["metadata", key])
                .and_then(Value::as_object)
                .map(|map| {
                    map.iter()
                        .filter_map(|(k, v)| Some((k.clone(), scalar_text(v)?)))
                        .collect()
                })
                .unwrap_or_default()
        };
        Ok(Object {
            api_version: text(&body, &["apiVersion"]).unwrap_or_default().to_owned(),
            labels: string_map("labels"),
            annotations: string_map("annotations"),
            kind,
            namespace,
            name,
            body,
            location,
        })
    }

    pub fn is_kind(&self, kind: &str) -> bool {
        self.kind == kind
    }

    /// The namespace, or `None` when the object is namespaced but its namespace is chosen at deploy time.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    pub fn field(&self, path: &[&str]) -> Option<&Value> {
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
pub fn field<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |value, key| value.get(key))
}

pub fn text<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    field(value, path).and_then(Value::as_str)
}

/// A boolean field; sigs.k8s.io/yaml has already turned `on`/`yes` into booleans.
pub fn flag(value: &Value, path: &[&str]) -> Option<bool> {
    field(value, path).and_then(Value::as_bool)
}

pub fn integer(value: &Value, path: &[&str]) -> Option<i64> {
    field(value, path).and_then(Value::as_i64)
}

pub fn array<'a>(value: &'a Value, path: &[&str]) -> &'a [Value] {
    field(value, path)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A label or annotation value as a string (numbers and booleans written unquoted still count).
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
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
    by_kind: HashMap<String, Vec<usize>>,
    by_namespace: HashMap<(String, Option<String>), Vec<usize>>,
    by_name: HashMap<(String, Option<String>, String), usize>,
}

impl Inventory {
    pub fn new(source: Source, objects: Vec<Object>) -> Inventory {
        let mut by_kind: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_namespace: HashMap<(String, Option<String>), Vec<usize>> = HashMap::new();
        let mut by_name = HashMap::with_capacity(objects.len());
        for (index, object) in objects.iter().enumerate() {
            by_kind.entry(object.kind.clone()).or_default().push(index);
            by_namespace
                .entry((object.kind.clone(), object.namespace.clone()))
                .or_default()
                .push(index);
            // The first of two objects with the same name wins, as the API would have refused the second.
            by_name
                .entry((
                    object.kind.clone(),
                    object.namespace.clone(),
                    object.name.clone(),
                ))
                .or_insert(index);
        }
        Inventory {
            source,
            objects,
            forbidden: BTreeMap::new(),
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
        self.by_name
            .get(&(
                kind.to_owned(),
                namespace.map(str::to_owned),
                name.to_owned(),
            ))
            .and_then(|index| self.objects.get(*index))
    }

    /// Whether every object of this kind is in the inventory: always for a live cluster that could list it;
    /// never for a set of manifests, which holds only what its author wrote.
    pub fn knows_all(&self, kind: &str) -> bool {
        self.source == Source::Api && !self.forbidden.contains_key(kind)
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
        assert!(object.labels.is_empty());
        assert_eq!(object.namespace, None);
        assert_eq!(
            Object::from_value(json!({"kind": "Pod", "metadata": {}}), None),
            Err(ObjectError::NoName {
                kind: "Pod".to_owned()
            })
        );
    }
}
