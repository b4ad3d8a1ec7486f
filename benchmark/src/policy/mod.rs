//! Cluster-scope policy checks (CIS section 5 and kubeward's hardening catalog) over normalised objects.
//!
//! Pure, like the node evaluator: the agent lists objects from the API or reads manifests, and this module
//! turns them into a cluster report's results. Rules judge objects; this module turns their verdicts into
//! wire statuses (a failed test is `fail` for automated checks and `warn` for the Manual CIS ones; a missing
//! fact is `manual`) and sets platform-owned objects apart.

pub mod catalog;
pub mod context;
pub mod json;
pub mod node_facts;
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
use crate::text::{Interner, Text};
pub use catalog::{PolicyCatalog, PolicyCheck, RuleSpec};
pub use objects::{Inventory, Object};
pub use platform::PlatformList;
use rbac::Rbac;
use workload::Workload;

/// The object a verdict is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: Text,
    pub namespace: Option<Text>,
    pub name: Text,
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
                kind: Text::from("Namespace"),
                namespace: None,
                name: Text::from(name),
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
    pub detail: Option<Text>,
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

    pub fn unknown(target: Target, missing: impl Into<Text>) -> Verdict {
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
    subject: impl Into<Text>,
    path: Option<String>,
    observed: impl Into<Text>,
    expected: impl Into<Text>,
) -> ObjectEvidence {
    ObjectEvidence {
        subject: subject.into(),
        path: path.map(Text::from),
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
    /// Namespaces holding a workload that is not platform-owned: the ones the namespace checks judge.
    pub user_namespaces: std::collections::BTreeSet<String>,
}

impl<'a> Scene<'a> {
    pub fn new(inventory: &'a Inventory, platform: &'a PlatformList) -> Scene<'a> {
        let workloads = workload::top_level_workloads(inventory);
        let user_namespaces = workloads
            .iter()
            .filter(|workload| {
                let object = workload.object;
                platform
                    .mark(&object.kind, object.namespace(), &object.name)
                    .is_none()
            })
            .filter_map(|workload| workload.object.namespace().map(str::to_owned))
            .collect();
        Scene {
            workloads,
            rbac: Rbac::resolve(inventory),
            inventory,
            platform,
            user_namespaces,
        }
    }

    /// The workloads whose pod-wide settings are theirs to answer for (all but pods judged only for their
    /// ephemeral containers).
    pub fn pods(&self) -> impl Iterator<Item = &Workload<'a>> {
        self.workloads
            .iter()
            .filter(|workload| workload.judges_pod())
    }
}

/// Most threads one evaluation uses.
const MAX_THREADS: usize = 4;

/// Evaluates every check of a catalog, spread over the machine's cores: the checks only read the scene, and
/// a large cluster has tens of thousands of objects for each of them.
pub fn evaluate_catalog(catalog: &PolicyCatalog, scene: &Scene<'_>) -> Vec<ClusterCheckResult> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .clamp(1, MAX_THREADS);
    if threads == 1 || catalog.checks.len() < 2 {
        return catalog
            .checks
            .iter()
            .map(|check| evaluate_policy_check(check, scene))
            .collect();
    }
    // Checks are dealt round-robin, so that the costly workload checks spread over the threads.
    let mut results: Vec<Option<ClusterCheckResult>> = vec![None; catalog.checks.len()];
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|worker| {
                scope.spawn(move || {
                    catalog
                        .checks
                        .iter()
                        .enumerate()
                        .skip(worker)
                        .step_by(threads)
                        .map(|(index, check)| (index, evaluate_policy_check(check, scene)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for worker in workers {
            // A worker that panicked (a bug in a rule) leaves its checks unset; evaluating them again below,
            // on this thread, surfaces the panic.
            if let Ok(done) = worker.join() {
                for (index, result) in done {
                    results[index] = Some(result);
                }
            }
        }
    });
    results
        .into_iter()
        .zip(&catalog.checks)
        .map(|(result, check)| result.unwrap_or_else(|| evaluate_policy_check(check, scene)))
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
    let mut verdicts = rules::run(rule, scene);
    if let Some(level) = check.admission {
        verdicts.extend(rules::admission_part(scene, level));
    }
    let failed = match check.assessment {
        Assessment::Automated => Status::Fail,
        Assessment::Manual => Status::Warn,
    };
    let mut objects = Vec::new();
    let mut decisive = Vec::new();
    // The same evidence paths, expected values and missing facts recur for thousands of objects: one copy
    // each is kept in the report.
    let mut texts = Interner::default();
    let evaluated = verdicts.len() as u64;
    for verdict in verdicts {
        let status = match verdict.outcome {
            Outcome::Pass => Status::Pass,
            Outcome::Fail => failed,
            Outcome::Advisory => Status::Warn,
            Outcome::Unknown => Status::Manual,
        };
        if status == Status::Pass {
            // A pass decides nothing and is not listed, whoever owns the object.
            continue;
        }
        let target = verdict.target;
        let platform = scene
            .platform
            .mark(&target.kind, target.namespace.as_deref(), &target.name);
        if platform.is_none() {
            decisive.push(status);
        }
        let evidence = verdict
            .evidence
            .into_iter()
            .map(|evidence| ObjectEvidence {
                subject: texts.share(evidence.subject),
                path: evidence.path.map(|path| texts.share(path)),
                observed: texts.share(evidence.observed),
                expected: texts.share(evidence.expected),
            })
            .collect();
        objects.push(ObjectResult {
            kind: target.kind,
            namespace: target.namespace,
            name: target.name,
            status,
            evidence,
            detail: verdict.detail.map(|detail| texts.share(detail)),
            location: target.location,
            platform,
        });
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
