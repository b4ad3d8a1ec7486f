//! Rules over namespaces: pod security enforcement, network policies, resource policies, and what lives in
//! `default`.
//!
//! A namespace is judged when it holds workloads that are not platform-owned. In manifest mode the namespace's
//! labels and the policies already in the cluster are outside the file set, so what they would decide is
//! `manual` with the missing fact named, never a pass and never a failure.

use std::collections::BTreeSet;

use crate::cluster_report::Source;
use crate::policy::catalog::PssLevel;
use crate::policy::json::Json;
use crate::policy::objects::{array, field, is_known_namespaced, text};
use crate::policy::selectors::{is_empty_selector, selects};
use crate::policy::workload::owned_by_known_controller;
use crate::policy::{Object, Outcome, Scene, Target, Verdict, evidence};
use crate::text::Text;

/// Namespaces holding at least one workload that is not platform-owned (computed once per scene).
fn user_namespaces(scene: &Scene<'_>) -> BTreeSet<String> {
    scene.user_namespaces.clone()
}

/// Whether an object is a policy engine's rule that enforces pod security: a Kyverno policy with a
/// `podSecurity` rule in Enforce mode, or a Gatekeeper PSP-library constraint that denies.
pub(crate) fn enforces_pod_security(object: &Object) -> bool {
    let kyverno = matches!(object.kind.as_str(), "ClusterPolicy" | "Policy")
        && object.api_version.starts_with("kyverno.io/")
        && text(&object.body, &["spec", "validationFailureAction"])
            .is_some_and(|action| action.eq_ignore_ascii_case("enforce"))
        && array(&object.body, &["spec", "rules"])
            .iter()
            .any(|rule| field(rule, &["validate", "podSecurity"]).is_some());
    let gatekeeper = object.api_version.starts_with("constraints.gatekeeper.sh/")
        && object.kind.starts_with("K8sPSP")
        && text(&object.body, &["spec", "enforcementAction"]).is_none_or(|action| action == "deny");
    kyverno || gatekeeper
}

/// The engine policies that enforce pod security (read once per check, not once per namespace).
fn enforcing_engines<'a>(scene: &'a Scene<'_>) -> Vec<&'a Object> {
    scene
        .inventory
        .objects()
        .iter()
        .filter(|object| enforces_pod_security(object))
        .collect()
}

/// The engine policies that apply to a namespace: the cluster-wide ones and the namespace's own.
fn engines_in<'a>(engines: &[&'a Object], namespace: &str) -> Vec<&'a Object> {
    engines
        .iter()
        .copied()
        .filter(|engine| engine.namespace().is_none_or(|own| own == namespace))
        .collect()
}

/// The namespace label that sets the level Pod Security admission enforces.
const ENFORCE: &str = "pod-security.kubernetes.io/enforce";

/// A namespace whose enforce label names too weak a level.
fn weak_label(target: Target, level: &str, expected: impl Into<Text>) -> Verdict {
    Verdict::from_evidence(
        target,
        vec![evidence(
            "namespace",
            Some(format!("metadata.labels[{ENFORCE}]")),
            format!("enforce={level}"),
            expected,
        )],
    )
}

/// A namespace without an enforce label (`seen`), or whose Namespace object is not in the manifest set: what
/// it enforces is a fact kubeward does not have.
fn level_unknown(target: Target, name: &str, seen: bool) -> Verdict {
    if seen {
        Verdict::unknown(
            target,
            "no pod-security.kubernetes.io/enforce label: the API server's admission configuration \
             (--admission-control-config-file, a node fact) sets the default",
        )
    } else {
        Verdict::unknown(
            target,
            format!("namespace {name}'s labels are outside the manifest set"),
        )
    }
}

/// `level_check` false: 5.2.1 (some control is active); true: KW-PSA-LEVEL (the level is baseline or stricter).
pub fn pod_security(scene: &Scene<'_>, level_check: bool) -> Vec<Verdict> {
    let engines = enforcing_engines(scene);
    user_namespaces(scene)
        .into_iter()
        .map(|name| {
            let target = Target::namespace(scene.inventory, &name);
            let engine = (!level_check && !engines_in(&engines, &name).is_empty()).then_some(());
            let label = scene
                .inventory
                .namespace(&name)
                .map(|namespace| namespace.label(ENFORCE));
            match (label, engine) {
                (_, Some(_)) => Verdict::pass(target),
                (Some(Some(level)), None) if level == "baseline" || level == "restricted" => {
                    Verdict::pass(target)
                }
                (Some(Some(level)), None) => {
                    weak_label(target, level, "enforce=baseline or enforce=restricted")
                }
                (seen, None) => level_unknown(target, &name, seen.is_some()),
            }
        })
        .collect()
}

/// The level an engine policy enforces: a Kyverno policy's `podSecurity` rules name theirs; a Gatekeeper
/// constraint enforces one control, which no level sums up (`None`).
fn engine_level(object: &Object) -> Option<PssLevel> {
    array(&object.body, &["spec", "rules"])
        .iter()
        .filter_map(|rule| text(rule, &["validate", "podSecurity", "level"]))
        .filter_map(PssLevel::parse)
        .max()
}

/// The policy part of the Pod Security Standards checks (5.2.x): per user namespace, whether the admission
/// that applies to it (its enforce label, or an engine's policy) forbids what the check finds.
pub fn admission_forbids(scene: &Scene<'_>, needed: PssLevel) -> Vec<Verdict> {
    let engines = enforcing_engines(scene);
    user_namespaces(scene)
        .into_iter()
        .map(|name| {
            let target = Target::namespace(scene.inventory, &name);
            let namespace = scene.inventory.namespace(&name);
            let label = namespace.and_then(|namespace| namespace.label(ENFORCE));
            let applying = engines_in(&engines, &name);
            let engine_enough = applying
                .iter()
                .any(|engine| engine_level(engine).is_some_and(|level| level >= needed));
            if engine_enough
                || label
                    .and_then(PssLevel::parse)
                    .is_some_and(|level| level >= needed)
            {
                return Verdict::pass(target);
            }
            if let Some(engine) = applying
                .iter()
                .find(|engine| engine_level(engine).is_none())
            {
                return Verdict::unknown(
                    target,
                    format!(
                        "{} {} enforces pod security; which controls it enforces is not evaluated",
                        engine.kind, engine.name
                    ),
                );
            }
            match label {
                Some(level) => weak_label(
                    target,
                    level,
                    format!("enforce={} or stricter", needed.name()),
                ),
                None => level_unknown(target, &name, namespace.is_some()),
            }
        })
        .collect()
}

const CLUSTER_WIDE_POLICIES: &[&str] = &[
    "CiliumClusterwideNetworkPolicy",
    "GlobalNetworkPolicy",
    "AdminNetworkPolicy",
    "BaselineAdminNetworkPolicy",
];

fn namespace_policies<'a>(
    scene: &'a Scene<'_>,
    namespace: &'a str,
) -> impl Iterator<Item = &'a Object> + 'a {
    scene
        .inventory
        .in_namespace("NetworkPolicy", Some(namespace))
        .chain(
            scene
                .inventory
                .in_namespace("CiliumNetworkPolicy", Some(namespace)),
        )
}

pub fn network_policy_present(scene: &Scene<'_>) -> Vec<Verdict> {
    let cluster_wide = cluster_wide_policy(scene);
    user_namespaces(scene)
        .into_iter()
        .map(|name| {
            let target = Target::namespace(scene.inventory, &name);
            if namespace_policies(scene, &name).next().is_some() || cluster_wide.is_some() {
                return Verdict::pass(target);
            }
            if !scene.inventory.knows_all("NetworkPolicy") {
                return Verdict::unknown(
                    target,
                    format!("NetworkPolicies of namespace {name} outside the manifest set"),
                );
            }
            Verdict::from_evidence(
                target,
                vec![evidence(
                    "namespace",
                    None,
                    "no NetworkPolicy",
                    "at least one NetworkPolicy",
                )],
            )
        })
        .collect()
}

/// Which traffic a default-deny policy stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Ingress,
    Egress,
}

/// A NetworkPolicy that selects every pod and allows no traffic in one direction: isolation, with or
/// without rules elsewhere.
fn denies_by_default(policy: &Object, direction: Direction) -> bool {
    if policy.kind != "NetworkPolicy" || !policy.api_version.starts_with("networking.k8s.io/") {
        return false;
    }
    let spec = policy.body.get("spec").unwrap_or(&Json::Null);
    let selector = spec.get("podSelector").unwrap_or(&Json::Null);
    let types: Vec<&str> = array(spec, &["policyTypes"])
        .iter()
        .filter_map(Json::as_str)
        .collect();
    let (covered, rules) = match direction {
        // Without policyTypes a policy always covers ingress ...
        Direction::Ingress => (types.is_empty() || types.contains(&"Ingress"), "ingress"),
        // ... and covers egress only when it has egress rules, which then allow something.
        Direction::Egress => (types.contains(&"Egress"), "egress"),
    };
    is_empty_selector(selector) && covered && array(spec, &[rules]).is_empty()
}

/// The first cluster-wide network policy of a CNI or of the AdminNetworkPolicy API, if any.
fn cluster_wide_policy<'a>(scene: &'a Scene<'_>) -> Option<&'a Object> {
    CLUSTER_WIDE_POLICIES
        .iter()
        .find_map(|kind| scene.inventory.of_kind(kind).next())
}

pub fn network_default_deny(scene: &Scene<'_>, direction: Direction) -> Vec<Verdict> {
    let cluster_wide = cluster_wide_policy(scene);
    let (observed, expected) = match direction {
        Direction::Ingress => (
            "no policy selects every pod without allowing ingress",
            "a NetworkPolicy with podSelector {} and no ingress rules",
        ),
        Direction::Egress => (
            "no policy selects every pod without allowing egress",
            "a NetworkPolicy with podSelector {}, Egress in policyTypes and no egress rules",
        ),
    };
    user_namespaces(scene)
        .into_iter()
        .map(|name| {
            let target = Target::namespace(scene.inventory, &name);
            if namespace_policies(scene, &name).any(|policy| denies_by_default(policy, direction)) {
                return Verdict::pass(target);
            }
            if !scene.inventory.knows_all("NetworkPolicy") {
                return Verdict::unknown(
                    target,
                    format!("NetworkPolicies of namespace {name} outside the manifest set"),
                );
            }
            if let Some(wide) = cluster_wide {
                return Verdict::unknown(
                    target,
                    format!(
                        "{} {} may deny by default; its rules are not evaluated",
                        wide.kind, wide.name
                    ),
                );
            }
            Verdict::from_evidence(
                target,
                vec![evidence("namespace", None, observed, expected)],
            )
        })
        .collect()
}

pub fn network_policy_coverage(scene: &Scene<'_>) -> Vec<Verdict> {
    scene
        .pods()
        .map(|workload| {
            let target = Target::of(workload.object);
            let Some(namespace) = workload.object.namespace() else {
                return Verdict::unknown(target, "the namespace is chosen at deploy time (give --namespace)");
            };
            let covered = namespace_policies(scene, namespace).any(|policy| {
                let selector = match policy.kind.as_str() {
                    "CiliumNetworkPolicy" => field(&policy.body, &["spec", "endpointSelector"]),
                    _ => field(&policy.body, &["spec", "podSelector"]),
                };
                selector.is_some_and(|selector| selects(selector, workload.pod_labels))
            });
            if covered {
                Verdict::pass(target)
            } else if !scene.inventory.knows_all("NetworkPolicy") {
                Verdict::unknown(target, format!("no policy in the manifest set selects it; policies of {namespace} outside the set may"))
            } else {
                Verdict::from_evidence(target, vec![evidence("pods", Some(format!("{}.metadata.labels", workload.spec_path.trim_end_matches(".spec"))), "selected by no NetworkPolicy", "selected by at least one NetworkPolicy")])
            }
        })
        .collect()
}

/// Objects the API server itself keeps in `default`.
fn is_system_default_object(object: &Object) -> bool {
    match object.kind.as_str() {
        "Service" | "Endpoints" => object.name == "kubernetes",
        "EndpointSlice" => object.label("kubernetes.io/service-name") == Some("kubernetes"),
        "ConfigMap" => object.name == "kube-root-ca.crt",
        "ServiceAccount" => object.name == "default",
        "Event" | "Lease" => true,
        _ => false,
    }
}

pub fn default_namespace(scene: &Scene<'_>) -> Vec<Verdict> {
    scene
        .inventory
        .objects()
        .iter()
        .filter(|object| !is_system_default_object(object))
        // A Deployment's ReplicaSets and pods are its own finding: they come and go with each rollout.
        .filter(|object| !owned_by_known_controller(scene.inventory, object))
        .filter_map(|object| {
            let target = Target::of(object);
            match object.namespace() {
                Some("default") => Some(Verdict::from_evidence(target, vec![evidence(
                    object.kind.clone(),
                    Some("metadata.namespace".to_owned()),
                    "default",
                    "a namespace of its own",
                )])),
                Some(_) => Some(Verdict::pass(target)),
                None if scene.inventory.source == Source::Manifests && is_known_namespaced(&object.kind) => Some(
                    Verdict::unknown(target, "no metadata.namespace: the namespace is chosen at deploy time (give --namespace)"),
                ),
                None => None,
            }
        })
        .collect()
}

pub fn has_kind(scene: &Scene<'_>, kind: &str) -> Vec<Verdict> {
    user_namespaces(scene)
        .into_iter()
        .map(|name| {
            let target = Target::namespace(scene.inventory, &name);
            if scene
                .inventory
                .in_namespace(kind, Some(&name))
                .next()
                .is_some()
            {
                Verdict::pass(target)
            } else if !scene.inventory.knows_all(kind) {
                Verdict::unknown(
                    target,
                    format!("{kind}s of namespace {name} outside the manifest set"),
                )
            } else {
                Verdict::from_evidence(
                    target,
                    vec![evidence(
                        "namespace",
                        None,
                        format!("no {kind}"),
                        format!("a {kind}"),
                    )],
                )
            }
        })
        .collect()
}

/// CNI plugins by the image of their node agent, and whether they enforce NetworkPolicy.
const CNI_AGENTS: &[(&str, bool)] = &[
    ("calico", true),
    ("cilium", true),
    ("antrea", true),
    ("kube-router", true),
    ("weave", true),
    ("anetd", true),
    ("flannel", false),
];

pub fn cni_network_policy(scene: &Scene<'_>) -> Vec<Verdict> {
    if scene.inventory.source == Source::Manifests {
        return Vec::new();
    }
    let mut found: Vec<(&Object, &str, bool)> = Vec::new();
    for daemonset in scene.inventory.of_kind("DaemonSet") {
        let images: Vec<&str> = array(&daemonset.body, &["spec", "template", "spec", "containers"])
            .iter()
            .filter_map(|container| text(container, &["image"]))
            .collect();
        for (agent, enforces) in CNI_AGENTS {
            if images.iter().any(|image| image.contains(agent)) {
                found.push((daemonset, agent, *enforces));
            }
        }
    }
    if found.iter().any(|(_, _, enforces)| *enforces) {
        return found
            .into_iter()
            .filter(|(_, _, enforces)| *enforces)
            .map(|(daemonset, _, _)| Verdict::pass(Target::of(daemonset)))
            .collect();
    }
    if let Some((daemonset, agent, _)) = found.first() {
        return vec![Verdict::from_evidence(
            Target::of(daemonset),
            vec![evidence(
                "CNI agent",
                Some("spec.template.spec.containers[].image".to_owned()),
                format!("{agent} alone"),
                "a CNI that enforces NetworkPolicy",
            )],
        )];
    }
    vec![Verdict {
        target: Target {
            kind: "Cluster".into(),
            namespace: None,
            name: "(cluster)".into(),
            location: None,
        },
        outcome: Outcome::Unknown,
        evidence: Vec::new(),
        detail: Some(
            "no known CNI agent found among the DaemonSets: the node's /etc/cni/net.d decides"
                .into(),
        ),
    }]
}
