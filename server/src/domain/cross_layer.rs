//! Cluster checks decided by both layers. Some verdicts cannot be read through the Kubernetes API: whether
//! Secrets are encrypted at rest is an API server flag, and a pod without a seccomp profile is confined only
//! where the kubelet's `seccompDefault` is on. The agent reports those results as `manual`; the catalog says
//! which node checks decide them (`node_facts`), and the server, which has the node agents' reports of the same
//! cluster, decides them here when a cluster scan arrives, with the nodes' evidence beside the objects'.

use kubeward_benchmark::Status;
use kubeward_benchmark::cluster_report::{ClusterReport, ObjectEvidence};
use kubeward_benchmark::policy::catalog::{FactDecides, FactNodes, NodeFacts, PolicyCatalog};
use kubeward_benchmark::policy::worst;

/// One node check's result on one node, from that node's newest scan before the cluster scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFact {
    pub node: String,
    pub control_plane: bool,
    pub check: String,
    /// The stored status text (`pass`, `fail`, `warn`, `manual`, `not_applicable`, `error`).
    pub status: String,
    /// What the node agent observed, when its evidence says.
    pub observed: Option<String>,
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
    let checks = rule.checks.join(", ");
    if nodes.is_empty() {
        return Decision::Missing {
            reason: format!(
                "no {} of this cluster has reported CIS {checks} (a managed control plane reports none): \
                 the fact that decides is missing; attest it",
                rule.nodes.describe()
            ),
        };
    }
    let mut broken = Vec::new();
    let mut undecided = Vec::new();
    for node in &nodes {
        for check in &rule.checks {
            let found = facts
                .iter()
                .find(|fact| fact.node == *node && fact.check == *check);
            match found.map(|fact| fact.status.as_str()) {
                Some("pass") => {}
                Some(status @ ("fail" | "warn")) => broken.push(format!(
                    "{node}: CIS {check} {status}{}",
                    found
                        .and_then(|fact| fact.observed.as_deref())
                        .map(|observed| format!(" (observed {observed})"))
                        .unwrap_or_default()
                )),
                Some(status) => undecided.push(format!("{node} reported CIS {check} as {status}")),
                None => undecided.push(format!("{node} did not report CIS {check}")),
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
        .filter_map(|check| check.node_facts.as_ref())
        .flat_map(|rule| rule.checks.iter().cloned())
        .collect();
    checks.sort_unstable();
    checks.dedup();
    checks
}

/// The report as the server stores it: each result the agent left `manual` for want of a node fact,
/// decided from the nodes' results. Results the agent decided are never changed.
pub fn apply(report: &ClusterReport, catalog: &PolicyCatalog, facts: &[NodeFact]) -> ClusterReport {
    let mut decided = report.clone();
    for result in &mut decided.results {
        let Some(check) = catalog.check(&result.check) else {
            continue;
        };
        let Some(rule) = &check.node_facts else {
            continue;
        };
        let failed = if check.assessment == kubeward_benchmark::catalog::Assessment::Manual {
            Status::Warn
        } else {
            Status::Fail
        };
        let decision = decide(rule, facts);
        match rule.decides {
            FactDecides::Check => {
                if result.status != Status::Manual {
                    continue;
                }
                match decision {
                    Decision::Holds { nodes } => {
                        result.status = Status::Pass;
                        result.detail = Some(format!(
                            "decided by the nodes: {} (CIS {} pass on {})",
                            rule.fact,
                            rule.checks.join(", "),
                            nodes.join(", ")
                        ));
                    }
                    Decision::Broken { lines } => {
                        result.status = failed;
                        result.detail = Some(format!(
                            "decided by the nodes: not so that {}: {}",
                            rule.fact,
                            lines.join("; ")
                        ));
                    }
                    Decision::Missing { reason } => {
                        result.detail = Some(reason);
                    }
                }
            }
            FactDecides::ManualObjects => {
                let waiting = result
                    .objects
                    .iter()
                    .filter(|object| object.status == Status::Manual)
                    .count();
                if waiting == 0 {
                    continue;
                }
                match decision {
                    Decision::Holds { nodes } => {
                        // Confined by every kubelet it may run on: these objects pass, and results list only
                        // what does not pass.
                        result
                            .objects
                            .retain(|object| object.status != Status::Manual);
                        result.detail = Some(format!(
                            "{waiting} object(s) left to the nodes pass: {} (CIS {} pass on {})",
                            rule.fact,
                            rule.checks.join(", "),
                            nodes.join(", ")
                        ));
                    }
                    Decision::Broken { lines } => {
                        for object in result
                            .objects
                            .iter_mut()
                            .filter(|object| object.status == Status::Manual)
                        {
                            object.status = failed;
                            object.evidence.push(ObjectEvidence {
                                subject: "nodes it may run on".into(),
                                path: None,
                                observed: lines.join("; ").into(),
                                expected: rule.fact.clone().into(),
                            });
                        }
                        result.detail = Some(format!(
                            "{waiting} object(s) left to the nodes fail: not so that {}",
                            rule.fact
                        ));
                    }
                    Decision::Missing { reason } => {
                        result.detail =
                            Some(format!("{waiting} object(s) left to the nodes: {reason}"));
                    }
                }
                // The check is the worst of the objects that are not platform-owned, as the agent computes it.
                if result.status == Status::Manual || result.status == Status::Pass {
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
    }
    decided
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
            nodes: FactNodes::ControlPlane,
            decides: FactDecides::Check,
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
        assert!(reason.contains("cp-1 reported CIS 1.2.28 as not_applicable"));
        let Decision::Missing { reason } = decide(&rule, &[fact("cp-1", true, "1.2.27", "pass")])
        else {
            panic!("a check the node did not report decides nothing");
        };
        assert!(reason.contains("cp-1 did not report CIS 1.2.28"));
    }

    #[test]
    fn for_every_node_rules_workers_speak_too() {
        let rule = NodeFacts {
            checks: vec!["4.2.14".to_owned()],
            nodes: FactNodes::All,
            decides: FactDecides::ManualObjects,
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
}
