//! Cluster-scope policy checks (CIS section 5 and kubeward's hardening catalog) over normalised objects.
//!
//! Pure, like the node evaluator: the agent lists objects from the API or reads manifests, and this module
//! turns them into a cluster report's results. Rules judge objects; this module turns their verdicts into
//! wire statuses (a failed test is `fail` for automated checks and `warn` for the Manual CIS ones; a missing
//! fact is `manual`) and sets platform-owned objects apart.

pub mod catalog;
pub mod objects;
pub mod platform;
pub mod rbac;
pub mod rules;
pub mod selectors;
pub mod sockets;
pub mod workload;

use crate::catalog::Assessment;
use crate::cluster_report::{ClusterCheckResult, Location, ObjectEvidence, ObjectResult};
use crate::report::Status;
pub use catalog::{PolicyCatalog, PolicyCheck, RuleSpec};
pub use objects::{Inventory, Object};
pub use platform::PlatformList;
use rbac::Rbac;
use workload::Workload;

/// The object a verdict is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub location: Option<Location>,
}

impl Target {
    pub fn of(object: &Object) -> Target {
        Target {
            kind: object.kind.clone(),
            namespace: object.namespace.clone(),
            name: object.name.clone(),
            location: object.location.clone(),
        }
    }

    /// A namespace as a subject, whether or not its Namespace object is in the inventory.
    pub fn namespace(inventory: &Inventory, name: &str) -> Target {
        inventory.namespace(name).map_or_else(
            || Target {
                kind: "Namespace".to_owned(),
                namespace: None,
                name: name.to_owned(),
                location: None,
            },
            Target::of,
        )
    }
}

/// What a rule concluded about one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    /// The test failed: `fail` for automated checks, `warn` for Manual ones.
    Fail,
    /// A lesser finding the catalog asks to show whatever the assessment (`warn`).
    Advisory,
    /// A fact kubeward cannot see decides it (`manual`, with the fact named in the detail).
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub target: Target,
    pub outcome: Outcome,
    pub evidence: Vec<ObjectEvidence>,
    pub detail: Option<String>,
}

impl Verdict {
    pub fn pass(target: Target) -> Verdict {
        Verdict {
            target,
            outcome: Outcome::Pass,
            evidence: Vec::new(),
            detail: None,
        }
    }

    pub fn unknown(target: Target, missing: impl Into<String>) -> Verdict {
        Verdict {
            target,
            outcome: Outcome::Unknown,
            evidence: Vec::new(),
            detail: Some(missing.into()),
        }
    }

    /// Fails when there is evidence against the object, passes otherwise.
    pub fn from_evidence(target: Target, evidence: Vec<ObjectEvidence>) -> Verdict {
        Verdict {
            outcome: if evidence.is_empty() {
                Outcome::Pass
            } else {
                Outcome::Fail
            },
            target,
            evidence,
            detail: None,
        }
    }
}

pub fn evidence(
    subject: impl Into<String>,
    path: Option<String>,
    observed: impl Into<String>,
    expected: impl Into<String>,
) -> ObjectEvidence {
    ObjectEvidence {
        subject: subject.into(),
        path,
        observed: observed.into(),
        expected: expected.into(),
    }
}

/// Everything the rules read, computed once per evaluation.
#[derive(Debug)]
pub struct Scene<'a> {
    pub inventory: &'a Inventory,
    pub workloads: Vec<Workload<'a>>,
    pub rbac: Rbac<'a>,
    pub platform: &'a PlatformList,
}

impl<'a> Scene<'a> {
    pub fn new(inventory: &'a Inventory, platform: &'a PlatformList) -> Scene<'a> {
        Scene {
            workloads: workload::top_level_workloads(inventory),
            rbac: Rbac::resolve(inventory),
            inventory,
            platform,
        }
    }

    pub fn is_platform(&self, target: &Target) -> bool {
        self.platform
            .mark(&target.kind, target.namespace.as_deref(), &target.name)
            .is_some()
    }
}

/// Evaluates every check of a catalog.
pub fn evaluate_catalog(catalog: &PolicyCatalog, scene: &Scene<'_>) -> Vec<ClusterCheckResult> {
    catalog
        .checks
        .iter()
        .map(|check| evaluate_policy_check(check, scene))
        .collect()
}

/// Severity order for "the worst of its objects".
fn rank(status: Status) -> u8 {
    match status {
        Status::NotApplicable => 0,
        Status::Pass => 1,
        Status::Manual => 2,
        Status::Warn => 3,
        Status::Fail => 4,
        Status::Error => 5,
    }
}

pub fn worst(statuses: impl IntoIterator<Item = Status>) -> Option<Status> {
    statuses.into_iter().max_by_key(|status| rank(*status))
}

pub fn evaluate_policy_check(check: &PolicyCheck, scene: &Scene<'_>) -> ClusterCheckResult {
    let Some(rule) = &check.rule else {
        return ClusterCheckResult {
            check: check.id.clone(),
            status: Status::Manual,
            evaluated: 0,
            objects: Vec::new(),
            detail: Some("no automatable test: a person judges this check".to_owned()),
        };
    };
    let forbidden: Vec<String> = check
        .reads
        .iter()
        .filter_map(|kind| scene.inventory.forbidden.get(kind).cloned())
        .collect();
    if !forbidden.is_empty() {
        return ClusterCheckResult {
            check: check.id.clone(),
            status: Status::Error,
            evaluated: 0,
            objects: Vec::new(),
            detail: Some(forbidden.join("; ")),
        };
    }
    let verdicts = rules::run(rule, scene);
    let failed = match check.assessment {
        Assessment::Automated => Status::Fail,
        Assessment::Manual => Status::Warn,
    };
    let mut objects = Vec::new();
    let mut decisive = Vec::new();
    let evaluated = verdicts.len() as u64;
    for verdict in verdicts {
        let status = match verdict.outcome {
            Outcome::Pass => Status::Pass,
            Outcome::Fail => failed,
            Outcome::Advisory => Status::Warn,
            Outcome::Unknown => Status::Manual,
        };
        let target = verdict.target;
        let platform = scene
            .platform
            .mark(&target.kind, target.namespace.as_deref(), &target.name);
        if platform.is_none() {
            decisive.push(status);
        }
        if status != Status::Pass {
            objects.push(ObjectResult {
                kind: target.kind,
                namespace: target.namespace,
                name: target.name,
                status,
                evidence: verdict.evidence,
                detail: verdict.detail,
                location: target.location,
                platform,
            });
        }
    }
    objects.sort_by(|a, b| (&a.kind, &a.namespace, &a.name).cmp(&(&b.kind, &b.namespace, &b.name)));
    let status = if evaluated == 0 {
        Status::NotApplicable
    } else {
        worst(decisive).unwrap_or(Status::Pass)
    };
    ClusterCheckResult {
        check: check.id.clone(),
        status,
        evaluated,
        objects,
        detail: None,
    }
}
