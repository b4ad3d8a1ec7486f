//! Cluster checks decided by both layers. Some verdicts cannot be read through the Kubernetes API: whether
//! Secrets are encrypted at rest is an API server flag, a pod without a seccomp profile is confined only where
//! the kubelet's `seccompDefault` is on, a container that does not drop NET_RAW holds it only on a runtime
//! that grants it (containerd does, CRI-O does not), and a namespace without a Pod Security label gets the API
//! server's default level. The agent reports those results as `manual`; the catalog says which node facts
//! decide them (`node_facts`), and the server, which has the node agents' reports of the same cluster, decides
//! them when a cluster scan arrives, with the nodes' evidence beside the objects'. The same decision runs in CI
//! (`kubeward-agent manifests --context-from`) on the facts the server serves with a cluster's context, so a
//! manifest is judged as the cluster's nodes will take it.

use serde::{Deserialize, Serialize};

#[cfg(test)]
use super::catalog::NodeAttribute;
use super::catalog::{FactDecides, FactNodes, NodeFacts, PolicyCatalog};
use super::worst;
use crate::Status;
use crate::cluster_report::{ClusterReport, ObjectEvidence};

/// One node check's result on one node, from that node's newest scan before the cluster scan; or one of the
/// node's own facts (`check` is then the attribute's name and `status` its value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeFact {
    pub node: String,
    pub control_plane: bool,
    pub check: String,
    /// The stored status text (`pass`, `fail`, `warn`, `manual`, `not_applicable`, `error`), or an attribute's
    /// value (`containerd`, `baseline`).
    pub status: String,
    /// What the node agent observed, when its evidence says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<String>,
}

/// How a fact's value reads for a rule: holds, broken, or neither.
fn verdict_of(rule: &NodeFacts, value: &str) -> Option<bool> {
    if rule.attribute.is_some() {
        if rule.holds_for.iter().any(|held| held == value) {
            Some(true)
        } else if rule.breaks_for.iter().any(|broken| broken == value) {
            Some(false)
        } else {
            None
        }
    } else {
        match value {
            "pass" => Some(true),
            "fail" | "warn" => Some(false),
            _ => None,
        }
    }
}

/// What the nodes say of a fact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Every node that speaks for the fact passes every node check of it.
    Holds { nodes: Vec<String> },
    /// These nodes fail a node check of it (one line each: node, check, what was observed).
    Broken { lines: Vec<String> },
    /// The fact cannot be decided: no node speaks for it, or one reported a result that is neither pass nor
    /// fail. The reason says which.
    Missing { reason: String },
}

/// Decides a fact from the nodes' results.
pub fn decide(rule: &NodeFacts, facts: &[NodeFact]) -> Decision {
    let speaks = |fact: &&NodeFact| rule.nodes == FactNodes::All || fact.control_plane;
    let mut nodes: Vec<&str> = facts
        .iter()
        .filter(speaks)
        .map(|fact| fact.node.as_str())
        .collect();
    nodes.sort_unstable();
    nodes.dedup();
    let names = rule.names();
    let labels: Vec<String> = names.iter().map(|name| rule.label(name)).collect();
    if nodes.is_empty() {
        return Decision::Missing {
            reason: format!(
                "no {} of this cluster has reported its {} (a managed control plane reports none): \
                 the fact that decides is missing; attest it",
                rule.nodes.describe(),
                labels.join(", ")
            ),
        };
    }
    let mut broken = Vec::new();
    let mut undecided = Vec::new();
    for node in &nodes {
        for (check, label) in names.iter().zip(&labels) {
            let found = facts
                .iter()
                .find(|fact| fact.node == *node && fact.check == *check);
            let Some(found) = found else {
                undecided.push(format!("{node} did not report its {label}"));
                continue;
            };
            match verdict_of(rule, &found.status) {
                Some(true) => {}
                Some(false) => broken.push(format!(
                    "{node}: {label} {}{}",
                    found.status,
                    found
                        .observed
                        .as_deref()
                        .map(|observed| format!(" (observed {observed})"))
                        .unwrap_or_default()
                )),
                None => undecided.push(format!("{node} reported its {label} as {}", found.status)),
            }
        }
    }
    if !broken.is_empty() {
        Decision::Broken { lines: broken }
    } else if !undecided.is_empty() {
        Decision::Missing {
            reason: format!("the fact that decides is missing: {}", undecided.join("; ")),
        }
    } else {
        Decision::Holds {
            nodes: nodes.into_iter().map(str::to_owned).collect(),
        }
    }
}

/// The node checks any rule of the catalog reads: what to fetch from the nodes' scans.
pub fn fact_checks(catalog: &PolicyCatalog) -> Vec<String> {
    let mut checks: Vec<String> = catalog
        .checks
        .iter()
        .flat_map(|check| &check.node_facts)
        .flat_map(|rule| rule.checks.iter().cloned())
        .collect();
    checks.sort_unstable();
    checks.dedup();
    checks
}

/// The report as the server stores it: each result the agent left `manual` for want of a node fact,
/// decided from the nodes' results. Results the agent decided are never changed.
pub fn apply(report: &mut ClusterReport, catalog: &PolicyCatalog, facts: &[NodeFact]) {
    for result in &mut report.results {
        let Some(check) = catalog.check(&result.check) else {
            continue;
        };
        if check.node_facts.is_empty() {
            continue;
        }
        let failed = if check.assessment == crate::catalog::Assessment::Manual {
            Status::Warn
        } else {
            Status::Fail
        };
        let mut notes: Vec<String> = Vec::new();
        let mut objects_decided = false;
        for rule in &check.node_facts {
            match rule.decides {
                FactDecides::Check => {
                    if result.status != Status::Manual {
                        continue;
                    }
                    let (status, note) = decide_check(rule, facts, failed);
                    if let Some(status) = status {
                        result.status = status;
                    }
                    notes.push(note);
                }
                FactDecides::ManualObjects => {
                    if let Some(note) = decide_objects(rule, facts, failed, result) {
                        notes.push(note);
                        objects_decided = true;
                    }
                }
            }
        }
        if !notes.is_empty() {
            result.detail = Some(notes.join("; "));
        }
        // The check is the worst of the objects that are not platform-owned, as the agent computes it.
        if objects_decided && matches!(result.status, Status::Manual | Status::Pass) {
            result.status = worst(
                result
                    .objects
                    .iter()
                    .filter(|object| object.platform.is_none())
                    .map(|object| object.status),
            )
            .unwrap_or(Status::Pass);
        }
    }
}

/// A whole check decided by a fact: its new status (none: it stays `manual`) and what to say.
fn decide_check(rule: &NodeFacts, facts: &[NodeFact], failed: Status) -> (Option<Status>, String) {
    match decide(rule, facts) {
        Decision::Holds { nodes } => (
            Some(Status::Pass),
            format!(
                "decided by the nodes: {} ({} on {})",
                rule.fact,
                held(rule),
                nodes.join(", ")
            ),
        ),
        Decision::Broken { lines } => (
            Some(failed),
            format!(
                "decided by the nodes: not so that {}: {}",
                rule.fact,
                lines.join("; ")
            ),
        ),
        Decision::Missing { reason } => (None, reason),
    }
}

/// What "holds" means for a rule, in words.
fn held(rule: &NodeFacts) -> String {
    let labels: Vec<String> = rule.names().iter().map(|name| rule.label(name)).collect();
    match rule.attribute {
        Some(_) => format!("{} {}", labels.join(", "), rule.holds_for.join(" or ")),
        None => format!("{} pass", labels.join(", ")),
    }
}

/// The objects of a result left `manual` for this fact, decided: they pass (and leave the list, which holds
/// only what does not pass), or fail with the nodes' evidence beside their own. `None` when none waits for it.
fn decide_objects(
    rule: &NodeFacts,
    facts: &[NodeFact],
    failed: Status,
    result: &mut crate::cluster_report::ClusterCheckResult,
) -> Option<String> {
    let waits = |object: &crate::cluster_report::ObjectResult| {
        object.status == Status::Manual
            && rule.awaiting.as_deref().is_none_or(|words| {
                object
                    .detail
                    .as_ref()
                    .is_some_and(|detail| detail.as_str().contains(words))
            })
    };
    let waiting = result.objects.iter().filter(|object| waits(object)).count();
    if waiting == 0 {
        return None;
    }
    Some(match decide(rule, facts) {
        Decision::Holds { nodes } => {
            result.objects.retain(|object| !waits(object));
            format!(
                "{waiting} object(s) left to the nodes pass: {} ({} on {})",
                rule.fact,
                held(rule),
                nodes.join(", ")
            )
        }
        Decision::Broken { lines } => {
            for object in result.objects.iter_mut().filter(|object| waits(object)) {
                object.status = failed;
                object.evidence.push(ObjectEvidence {
                    subject: match rule.nodes {
                        FactNodes::All => "nodes it may run on".into(),
                        FactNodes::ControlPlane => "the API server's nodes".into(),
                    },
                    path: None,
                    observed: lines.join("; ").into(),
                    expected: rule.fact.clone().into(),
                });
            }
            format!(
                "{waiting} object(s) left to the nodes fail: not so that {}",
                rule.fact
            )
        }
        Decision::Missing { reason } => format!("{waiting} object(s) left to the nodes: {reason}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(node: &str, control_plane: bool, check: &str, status: &str) -> NodeFact {
        NodeFact {
            node: node.to_owned(),
            control_plane,
            check: check.to_owned(),
            status: status.to_owned(),
            observed: (status != "pass").then(|| "--encryption-provider-config unset".to_owned()),
        }
    }

    fn encryption() -> NodeFacts {
        NodeFacts {
            checks: vec!["1.2.27".to_owned(), "1.2.28".to_owned()],
            attribute: None,
            holds_for: Vec::new(),
            breaks_for: Vec::new(),
            nodes: FactNodes::ControlPlane,
            decides: FactDecides::Check,
            awaiting: None,
            fact: "secrets are encrypted".to_owned(),
        }
    }

    #[test]
    fn every_control_plane_node_must_pass_every_check_of_the_fact() {
        let rule = encryption();
        let holds = [
            fact("cp-1", true, "1.2.27", "pass"),
            fact("cp-1", true, "1.2.28", "pass"),
            fact("cp-2", true, "1.2.27", "pass"),
            fact("cp-2", true, "1.2.28", "pass"),
            // A worker's results do not speak for the API server.
            fact("w-1", false, "1.2.27", "fail"),
        ];
        assert_eq!(
            decide(&rule, &holds),
            Decision::Holds {
                nodes: vec!["cp-1".to_owned(), "cp-2".to_owned()]
            }
        );
        let mut broken = holds.to_vec();
        broken[3] = fact("cp-2", true, "1.2.28", "warn");
        let Decision::Broken { lines } = decide(&rule, &broken) else {
            panic!("one control-plane node without strong encryption breaks the fact");
        };
        assert_eq!(
            lines,
            ["cp-2: CIS 1.2.28 warn (observed --encryption-provider-config unset)"]
        );
    }

    #[test]
    fn no_control_plane_node_or_an_undecided_one_leaves_the_fact_missing_never_passed() {
        let rule = encryption();
        let Decision::Missing { reason } = decide(&rule, &[fact("w-1", false, "1.2.27", "pass")])
        else {
            panic!("workers alone cannot decide");
        };
        assert!(reason.contains("no control-plane node"), "{reason}");
        let Decision::Missing { reason } = decide(
            &rule,
            &[
                fact("cp-1", true, "1.2.27", "pass"),
                fact("cp-1", true, "1.2.28", "not_applicable"),
            ],
        ) else {
            panic!("a result that is not pass or fail decides nothing");
        };
        assert!(reason.contains("cp-1 reported its CIS 1.2.28 as not_applicable"));
        let Decision::Missing { reason } = decide(&rule, &[fact("cp-1", true, "1.2.27", "pass")])
        else {
            panic!("a check the node did not report decides nothing");
        };
        assert!(reason.contains("cp-1 did not report its CIS 1.2.28"));
    }

    #[test]
    fn for_every_node_rules_workers_speak_too() {
        let rule = NodeFacts {
            checks: vec!["4.2.14".to_owned()],
            attribute: None,
            holds_for: Vec::new(),
            breaks_for: Vec::new(),
            nodes: FactNodes::All,
            decides: FactDecides::ManualObjects,
            awaiting: Some("seccompDefault".to_owned()),
            fact: "seccompDefault".to_owned(),
        };
        assert!(matches!(
            decide(
                &rule,
                &[
                    fact("cp-1", true, "4.2.14", "pass"),
                    fact("w-1", false, "4.2.14", "fail")
                ]
            ),
            Decision::Broken { .. }
        ));
    }

    #[test]
    fn an_attribute_holds_breaks_or_decides_nothing_by_its_value() {
        let rule = NodeFacts {
            checks: Vec::new(),
            attribute: Some(NodeAttribute::ContainerRuntime),
            holds_for: vec!["cri-o".to_owned()],
            breaks_for: vec!["containerd".to_owned(), "docker".to_owned()],
            nodes: FactNodes::All,
            decides: FactDecides::ManualObjects,
            awaiting: Some("runtime".to_owned()),
            fact: "no NET_RAW by default".to_owned(),
        };
        let runtime = |node: &str, value: &str| NodeFact {
            node: node.to_owned(),
            control_plane: false,
            check: NodeAttribute::ContainerRuntime.name().to_owned(),
            status: value.to_owned(),
            observed: None,
        };
        assert!(matches!(
            decide(&rule, &[runtime("a", "cri-o"), runtime("b", "cri-o")]),
            Decision::Holds { .. }
        ));
        let Decision::Broken { lines } =
            decide(&rule, &[runtime("a", "cri-o"), runtime("b", "containerd")])
        else {
            panic!("one containerd node breaks it");
        };
        assert_eq!(lines, ["b: container runtime containerd"]);
        let Decision::Missing { reason } = decide(&rule, &[runtime("a", "unix:///run/other.sock")])
        else {
            panic!("an unknown runtime decides nothing");
        };
        assert!(reason.contains("a reported its container runtime as unix:///run/other.sock"));
    }
}
