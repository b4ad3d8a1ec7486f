//! What the cluster agent keeps of each listed object: only the fields the checks read.
//!
//! A large cluster holds tens of thousands of objects, and a parsed JSON object costs many times its text, so
//! each item is cut down as its page arrives:
//! - every item loses its managed fields, the last-applied annotation and (but for Services, whose load
//!   balancer address counts) its status. A live listing never parses them (`page.rs`); removing them here
//!   too keeps any other source of items, such as the benchmark's generator, to the same shape;
//! - pod specs keep what the pod checks read: host namespaces, the security contexts, the service account and
//!   token settings, volumes (their names, host paths and projected tokens), and per container its name,
//!   image, security context, ports, Secret references in the environment, mounts and resources. Literal
//!   environment values, commands, probes and the rest are dropped (they may even hold credentials);
//! - an object whose controller was listed before it (a Deployment's ReplicaSets, a ReplicaSet's pods) is
//!   judged through that controller. A controller keeps only its name, labels and owner, so that what it
//!   owns finds its way to the top. A pod is compared with its top-level owner's template and dropped when
//!   nothing differs; otherwise it keeps the containers that differ: those the template does not have
//!   (injected when the pod was admitted) and its ephemeral containers (`kubectl debug`), which no template
//!   shows. The kinds are listed controllers first for this.
//!
//! What is kept is then read into the checks' compact tree at once, its strings shared with every object
//! read before it, so that the listing never holds more than one page as `serde_json` values.

use std::collections::HashMap;
use std::sync::Arc;

use kubeward_benchmark::policy::json::Interner;
use kubeward_benchmark::policy::objects::{Object, ObjectError};
use kubeward_benchmark::policy::workload::pod_spec_path;
use serde_json::{Map, Value};

/// Kinds that own pods through a template, in the order they must be listed before what they own.
const CONTROLLERS: &[&str] = &[
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "CronJob",
    "ReplicationController",
    "ReplicaSet",
    "Job",
];

const POD_FIELDS: &[&str] = &[
    "hostPID",
    "hostIPC",
    "hostNetwork",
    "securityContext",
    "os",
    "serviceAccountName",
    "serviceAccount",
    "automountServiceAccountToken",
    "volumes",
    "containers",
    "initContainers",
    "ephemeralContainers",
];

const CONTAINER_FIELDS: &[&str] = &[
    "name",
    "image",
    "securityContext",
    "ports",
    "env",
    "envFrom",
    "volumeMounts",
    "resources",
];

/// The containers of a top-level owner's pod template, by list (`containers`, `initContainers`) and name.
type TemplateContainers = Arc<Vec<(&'static str, String)>>;

/// Remembers the controllers kept so far (kind, namespace, name), each with its top-level owner's template
/// containers, to cut down what they own; and the strings read so far, to share them.
#[derive(Debug, Default)]
pub struct Keeper {
    controllers: HashMap<(String, String, String), TemplateContainers>,
    interner: Interner,
}

/// The regular and init containers of a pod spec, by list and name.
fn template_containers(spec: &Value) -> Vec<(&'static str, String)> {
    ["containers", "initContainers"]
        .into_iter()
        .flat_map(|list| {
            spec.get(list)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(move |container| Some((list, text(container, "name")?.to_owned())))
        })
        .collect()
}

fn pod_spec_of<'a>(item: &'a Value, kind: &str) -> Option<&'a Value> {
    pod_spec_path(kind)?
        .iter()
        .try_fold(item, |value, key| value.get(*key))
}

fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

impl Keeper {
    /// Cuts a listed item down (see [`Keeper::keep`]) and reads it as an object of the inventory; `None` for
    /// an item nothing is read of.
    pub fn object(
        &mut self,
        item: Value,
        kind: &str,
        api_version: &str,
    ) -> Option<Result<Object, ObjectError>> {
        let kept = self.keep(item, kind, api_version)?;
        Some(Object::read(kept, None, &mut self.interner))
    }

    /// Cuts a listed item down to what the checks read; `None` when that is nothing (a pod of a listed
    /// controller, not debugged). `kind` and `api_version` come from the list, whose items carry neither.
    pub fn keep(&mut self, mut item: Value, kind: &str, api_version: &str) -> Option<Value> {
        let Value::Object(map) = &mut item else {
            return Some(item);
        };
        map.entry("kind").or_insert_with(|| Value::from(kind));
        map.entry("apiVersion")
            .or_insert_with(|| Value::from(api_version));
        if kind != "Service" {
            map.remove("status");
        }
        let mut namespace = String::new();
        let mut name = String::new();
        let mut owner = None;
        if let Some(Value::Object(metadata)) = map.get_mut("metadata") {
            metadata.remove("managedFields");
            if let Some(Value::Object(annotations)) = metadata.get_mut("annotations") {
                // It repeats the whole object.
                annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
            }
            namespace = metadata
                .get("namespace")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            name = metadata
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            owner = metadata
                .get("ownerReferences")
                .and_then(Value::as_array)
                .and_then(|owners| {
                    owners.iter().find(|owner| {
                        owner.get("controller").and_then(Value::as_bool) == Some(true)
                    })
                })
                .and_then(|owner| {
                    Some((
                        text(owner, "kind")?.to_owned(),
                        text(owner, "name")?.to_owned(),
                    ))
                });
        }
        let owner_template = owner.and_then(|(owner_kind, owner_name)| {
            self.controllers
                .get(&(owner_kind, namespace.clone(), owner_name))
                .cloned()
        });
        if CONTROLLERS.contains(&kind) {
            // What it owns is compared with the top-level template: its owner's, or its own.
            let template = owner_template.clone().unwrap_or_else(|| {
                Arc::new(pod_spec_of(&item, kind).map_or_else(Vec::new, template_containers))
            });
            self.controllers
                .insert((kind.to_owned(), namespace, name), template);
        }
        if let Some(template) = owner_template {
            return reduce_owned(item, kind, &template);
        }
        if let Some(path) = pod_spec_path(kind) {
            let mut spec = &mut item;
            for key in path {
                match spec.get_mut(*key) {
                    Some(next) => spec = next,
                    None => return Some(item),
                }
            }
            prune_pod_spec(spec);
        }
        Some(item)
    }
}

/// Keeps, of a live pod's containers, those its top-level owner's template does not have, and its ephemeral
/// ones; whether any is left.
fn keep_drift(spec: &mut Value, template: &[(&'static str, String)]) -> bool {
    let mut any = false;
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        if let Some(Value::Array(containers)) = spec.get_mut(list) {
            containers.retain(|container| {
                let name = text(container, "name").unwrap_or("");
                list == "ephemeralContainers"
                    || !template
                        .iter()
                        .any(|(own_list, own)| *own_list == list && own == name)
            });
            any |= !containers.is_empty();
        }
    }
    any
}

/// What stays of an object its listed controller answers for.
fn reduce_owned(item: Value, kind: &str, template: &[(&'static str, String)]) -> Option<Value> {
    let Value::Object(mut map) = item else {
        return Some(item);
    };
    let drift = if kind == "Pod" {
        let mut spec = map.remove("spec")?;
        if !keep_drift(&mut spec, template) {
            return None;
        }
        prune_pod_spec(&mut spec);
        Some(spec)
    } else {
        None
    };
    let mut kept = Map::new();
    for key in ["kind", "apiVersion"] {
        if let Some(value) = map.remove(key) {
            kept.insert(key.to_owned(), value);
        }
    }
    if let Some(Value::Object(mut metadata)) = map.remove("metadata") {
        let mut small = Map::new();
        for key in ["name", "namespace", "labels"] {
            if let Some(value) = metadata.remove(key) {
                small.insert(key.to_owned(), value);
            }
        }
        // The controller's reference, by kind and name, is all the way to the top needs.
        let controller = metadata
            .get("ownerReferences")
            .and_then(Value::as_array)
            .and_then(|owners| {
                owners
                    .iter()
                    .find(|owner| owner.get("controller").and_then(Value::as_bool) == Some(true))
            })
            .map(|owner| {
                let mut reference = Map::new();
                for key in ["kind", "name", "controller"] {
                    if let Some(value) = owner.get(key) {
                        reference.insert(key.to_owned(), value.clone());
                    }
                }
                Value::Array(vec![Value::Object(reference)])
            });
        if let Some(controller) = controller {
            small.insert("ownerReferences".to_owned(), controller);
        }
        kept.insert("metadata".to_owned(), Value::Object(small));
    }
    if let Some(spec) = drift {
        kept.insert("spec".to_owned(), spec);
    }
    Some(Value::Object(kept))
}

fn retain(value: &mut Value, keys: &[&str]) {
    if let Value::Object(map) = value {
        map.retain(|key, _| keys.contains(&key.as_str()));
    }
}

fn prune_pod_spec(spec: &mut Value) {
    retain(spec, POD_FIELDS);
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        if let Some(Value::Array(containers)) = spec.get_mut(list) {
            for container in containers {
                retain(container, CONTAINER_FIELDS);
                // Only Secret references count; a literal value is nobody's business (and may be a credential).
                if let Some(Value::Array(env)) = container.get_mut("env") {
                    env.retain(|variable| {
                        variable
                            .get("valueFrom")
                            .is_some_and(|from| from.get("secretKeyRef").is_some())
                    });
                }
                if let Some(Value::Array(sources)) = container.get_mut("envFrom") {
                    sources.retain(|source| source.get("secretRef").is_some());
                }
            }
        }
    }
    if let Some(Value::Array(volumes)) = spec.get_mut("volumes") {
        for volume in volumes {
            retain(volume, &["name", "hostPath", "projected"]);
            if let Some(Value::Array(sources)) = volume
                .get_mut("projected")
                .and_then(|projected| projected.get_mut("sources"))
            {
                sources.retain(|source| source.get("serviceAccountToken").is_some());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_pod_of_a_kept_replica_set_keeps_its_owner_and_the_containers_its_template_lacks() {
        let mut keeper = Keeper::default();
        keeper.keep(
            json!({"metadata": {"name": "web-1", "namespace": "shop"},
                   "spec": {"template": {"spec": {"containers": [{"name": "app"}], "initContainers": [{"name": "migrate"}]}}}}),
            "ReplicaSet",
            "apps/v1",
        );
        let pod = keeper.keep(
            json!({"metadata": {"name": "web-1-x", "namespace": "shop", "uid": "u",
                                "ownerReferences": [{"kind": "ReplicaSet", "name": "web-1", "controller": true}]},
                   "spec": {"hostPID": true,
                            "containers": [{"name": "app", "image": "a:2"}, {"name": "istio-proxy", "image": "istio/proxyv2:1.22"}],
                            "initContainers": [{"name": "migrate"}, {"name": "app"}],
                            "ephemeralContainers": [{"name": "debug", "command": ["sh"], "securityContext": {"privileged": true}}]},
                   "status": {"phase": "Running"}}),
            "Pod",
            "v1",
        );
        // `app` as an init container is not the template's `app` container: lists are compared apart.
        assert_eq!(
            pod.unwrap(),
            json!({"kind": "Pod", "apiVersion": "v1",
                   "metadata": {"name": "web-1-x", "namespace": "shop", "ownerReferences": [{"kind": "ReplicaSet", "name": "web-1", "controller": true}]},
                   "spec": {"hostPID": true,
                            "containers": [{"name": "istio-proxy", "image": "istio/proxyv2:1.22"}],
                            "initContainers": [{"name": "app"}],
                            "ephemeralContainers": [{"name": "debug", "securityContext": {"privileged": true}}]}})
        );
        // In another namespace the same owner name is not the kept one.
        let stranger = keeper.keep(
            json!({"metadata": {"name": "p", "namespace": "other", "ownerReferences": [{"kind": "ReplicaSet", "name": "web-1", "controller": true}]},
                   "spec": {"containers": [{"name": "app", "image": "a:1", "args": ["--x"]}]}}),
            "Pod",
            "v1",
        );
        assert_eq!(
            stranger.unwrap()["spec"]["containers"],
            json!([{"name": "app", "image": "a:1"}])
        );
        // A pod of the kept ReplicaSet that its template describes is its owner's business alone.
        let plain = keeper.keep(
            json!({"metadata": {"name": "web-1-y", "namespace": "shop",
                                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "u", "controller": true}]},
                   "spec": {"hostPID": true, "containers": [{"name": "app"}], "initContainers": [{"name": "migrate"}], "ephemeralContainers": []}}),
            "Pod",
            "v1",
        );
        assert_eq!(plain, None);
    }

    #[test]
    fn an_owned_controller_keeps_the_way_to_its_owner_and_nothing_else() {
        let mut keeper = Keeper::default();
        keeper.keep(
            json!({"metadata": {"name": "web", "namespace": "shop"}, "spec": {"template": {"spec": {"containers": []}}}}),
            "Deployment",
            "apps/v1",
        );
        let replica_set = keeper.keep(
            json!({"metadata": {"name": "web-1", "namespace": "shop", "uid": "u", "labels": {"app": "web"},
                                "ownerReferences": [{"apiVersion": "v1", "kind": "Other", "name": "x", "uid": "o"},
                                                    {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "d",
                                                     "controller": true, "blockOwnerDeletion": true}]},
                   "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "a:1"}]}}}}),
            "ReplicaSet",
            "apps/v1",
        );
        assert_eq!(
            replica_set.unwrap(),
            json!({"kind": "ReplicaSet", "apiVersion": "apps/v1",
                   "metadata": {"name": "web-1", "namespace": "shop", "labels": {"app": "web"},
                                "ownerReferences": [{"kind": "Deployment", "name": "web", "controller": true}]}})
        );
    }

    #[test]
    fn literal_environment_values_are_dropped_and_secret_references_kept() {
        let mut keeper = Keeper::default();
        let deployment = keeper.keep(
            json!({"metadata": {"name": "d", "namespace": "n", "managedFields": [{}]},
                   "spec": {"template": {"spec": {"dnsPolicy": "ClusterFirst", "containers": [{"name": "app",
                       "env": [{"name": "PASSWORD", "value": "hunter2"}, {"name": "T", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
                       "livenessProbe": {"httpGet": {"path": "/"}}}]}}}}),
            "Deployment",
            "apps/v1",
        )
        .unwrap();
        assert!(deployment["metadata"].get("managedFields").is_none());
        let spec = &deployment["spec"]["template"]["spec"];
        assert!(spec.get("dnsPolicy").is_none());
        assert_eq!(
            spec["containers"][0]["env"],
            json!([{"name": "T", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}])
        );
        assert!(spec["containers"][0].get("livenessProbe").is_none());
        assert!(!deployment.to_string().contains("hunter2"));
    }
}
