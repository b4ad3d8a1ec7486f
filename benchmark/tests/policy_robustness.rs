//! Arbitrary YAML and JSON never panic the manifest reader or the cluster checks: a hostile or mistyped
//! manifest reads as absent fields, an error naming its line, or a verdict, never a crash.
#![allow(
    clippy::unwrap_used,
    reason = "a test should stop loudly at the first unexpected error"
)]

use kubeward_benchmark::cluster_report::Source;
use kubeward_benchmark::policy::{self, Inventory, Object, PlatformList, PolicyCatalog, Scene};
use kubeward_benchmark::yaml11;
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Field names the rules read, so that random objects reach the rules with every wrong type.
const KEYS: &[&str] = &[
    "kind",
    "apiVersion",
    "metadata",
    "name",
    "namespace",
    "labels",
    "annotations",
    "ownerReferences",
    "controller",
    "spec",
    "template",
    "jobTemplate",
    "containers",
    "initContainers",
    "ephemeralContainers",
    "securityContext",
    "privileged",
    "runAsUser",
    "runAsNonRoot",
    "capabilities",
    "add",
    "drop",
    "hostPID",
    "hostNetwork",
    "volumes",
    "hostPath",
    "path",
    "volumeMounts",
    "ports",
    "hostPort",
    "containerPort",
    "env",
    "valueFrom",
    "secretKeyRef",
    "envFrom",
    "secretRef",
    "rules",
    "verbs",
    "resources",
    "apiGroups",
    "roleRef",
    "subjects",
    "type",
    "podSelector",
    "matchLabels",
    "matchExpressions",
    "operator",
    "values",
    "policyTypes",
    "ingress",
    "strategy",
    "updateStrategy",
    "rollingUpdate",
    "maxUnavailable",
    "replicas",
    "seccompProfile",
    "automountServiceAccountToken",
    "serviceAccountName",
    "aggregationRule",
    "clusterRoleSelectors",
    "image",
    "os",
    "windowsOptions",
    "hostProcess",
    "limits",
    "status",
    "loadBalancer",
    "ip",
    "externalIPs",
    "items",
];

const KINDS: &[&str] = &[
    "Pod",
    "Deployment",
    "CronJob",
    "DaemonSet",
    "Service",
    "Namespace",
    "ClusterRole",
    "Role",
    "RoleBinding",
    "ClusterRoleBinding",
    "NetworkPolicy",
    "ServiceAccount",
    "LimitRange",
    "List",
    "Job",
    "PodTemplate",
];

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[a-z*/:.\\-]{0,12}".prop_map(Value::from),
        prop::sample::select(KINDS).prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|entries| {
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

fn evaluate_everything(values: Vec<Value>) {
    let objects: Vec<Object> = values
        .into_iter()
        .filter_map(|value| Object::from_value(value, None).ok())
        .collect();
    for source in [Source::Api, Source::Manifests] {
        let inventory = Inventory::new(source, objects.clone());
        let platform = PlatformList::builtin("kubernetes").unwrap();
        let scene = Scene::new(&inventory, &platform);
        for name in PolicyCatalog::builtin_names() {
            let catalog = PolicyCatalog::builtin(name).unwrap();
            let results = policy::evaluate_catalog(&catalog, &scene);
            assert_eq!(results.len(), catalog.checks.len());
        }
    }
}

fn has_float(value: &Value) -> bool {
    match value {
        Value::Number(number) => number.is_f64(),
        Value::Array(items) => items.iter().any(has_float),
        Value::Object(map) => map.values().any(has_float),
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_objects_never_panic_the_checks(mut objects in prop::collection::vec(value(), 0..6)) {
        // Give some of them the shape of an object so that the rules run on them.
        for (index, object) in objects.iter_mut().enumerate() {
            if let Value::Object(map) = object {
                map.insert("kind".into(), Value::from(KINDS[index % KINDS.len()]));
                map.insert("metadata".into(), serde_json::json!({"name": format!("o{index}"), "namespace": "ns"}));
            }
        }
        evaluate_everything(objects);
    }

    #[test]
    fn arbitrary_text_never_panics_the_yaml_reader(text in "(\\PC|[\\n\\t:{}\\[\\]&*!|>'\"#%@`-]){0,400}") {
        let stream = yaml11::read_stream(&text);
        for error in &stream.errors {
            prop_assert!(error.line >= 1);
        }
        evaluate_everything(stream.documents.into_iter().map(|d| d.value).collect());
    }

    #[test]
    fn json_reads_back_as_the_same_json_through_the_yaml_reader(value in value()) {
        // Floats may come back in another spelling of the same number; everything else must be identical.
        prop_assume!(!has_float(&value));
        let text = serde_json::to_string(&value).unwrap();
        let stream = yaml11::read_stream(&text);
        prop_assert!(stream.errors.is_empty(), "{:?} for {}", stream.errors, text);
        let read = stream.documents.first().map_or(Value::Null, |document| document.value.clone());
        prop_assert_eq!(read, value);
    }
}
