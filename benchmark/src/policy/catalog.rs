//! Cluster-scope catalogs as data: CIS v1.12 section 5 and kubeward's hardening checks.
//!
//! Each check names the rule that evaluates it (a rule of [`super::rules`], or an RBAC permission written as
//! data), the kinds it reads, its remediation and the ids other tools give it, so that auditors can cross-walk.
//! The loader is as strict as the node catalog's: an unknown rule or field is an error, never a silent pass.

use std::collections::BTreeSet;

use serde::Deserialize;

use super::rbac::Permission;
use super::rules::RuleName;
use crate::catalog::{Assessment, Section, compare_ids};
use crate::report::BenchmarkRef;

const BUILTIN: &[(&str, &str)] = &[
    (
        "cis-1.12",
        include_str!("../../catalog/cis-1.12/5-policies.yaml"),
    ),
    (
        "kubeward-hardening",
        include_str!("../../catalog/kubeward-hardening/catalog.yaml"),
    ),
];

/// A loaded, validated cluster-scope catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyCatalog {
    /// The short name the agent's `--benchmark` takes (`cis-1.12`, `kubeward-hardening`).
    pub name: String,
    pub benchmark: BenchmarkRef,
    pub title: String,
    pub sections: Vec<Section>,
    pub checks: Vec<PolicyCheck>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyCheck {
    pub id: String,
    /// Survives renumbering across benchmarks and versions (`pod.privileged`).
    pub key: String,
    pub section: String,
    pub title: String,
    #[serde(default)]
    pub level: Option<u8>,
    /// Manual checks report a failed test as `warn`; automated ones as `fail`.
    pub assessment: Assessment,
    /// The kinds the rule reads; the agent's RBAC follows from these.
    pub reads: Vec<String>,
    /// `None` for checks left to a person (`manual`, with guidance).
    #[serde(default)]
    pub rule: Option<RuleSpec>,
    #[serde(default)]
    pub guidance: Option<String>,
    /// For the Pod Security Standards checks (CIS 5.2.x): the lowest level that forbids what the check finds.
    /// Each user namespace is then judged too, by the level its admission enforces (the policy part).
    #[serde(default)]
    pub admission: Option<PssLevel>,
    pub remediation: String,
    #[serde(default)]
    pub equivalents: Equivalents,
    /// For checks the API alone cannot decide: the node facts that decide them, as the node agents of the same
    /// cluster report them (the server applies these; the agent reports such results as `manual`). A check
    /// with an `admission` level also gets the rule of the API server's Pod Security defaults (see `load`).
    #[serde(default)]
    pub node_facts: Vec<NodeFacts>,
}

/// The node layer of a cluster check: which node facts decide it, on which nodes, and what they decide.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeFacts {
    /// Node benchmark check ids (CIS numbering); every one must pass on a node for the fact to hold there.
    #[serde(default)]
    pub checks: Vec<String>,
    /// Or a fact of the node report itself, which holds for the values in `holds_for` and is broken by those in
    /// `breaks_for` (any other value decides nothing).
    #[serde(default)]
    pub attribute: Option<NodeAttribute>,
    #[serde(default)]
    pub holds_for: Vec<String>,
    #[serde(default)]
    pub breaks_for: Vec<String>,
    pub nodes: FactNodes,
    pub decides: FactDecides,
    /// For `manual-objects`: the words of the agent's detail that mark a result left to this fact (other
    /// `manual` objects of the check wait for something else).
    #[serde(default)]
    pub awaiting: Option<String>,
    /// The fact in words, for the result's detail ("secrets are encrypted at rest").
    pub fact: String,
}

impl NodeFacts {
    /// What the nodes report for this fact: node check ids, or the attribute's name.
    pub fn names(&self) -> Vec<String> {
        match self.attribute {
            Some(attribute) => vec![attribute.name().to_owned()],
            None => self.checks.clone(),
        }
    }

    /// How a detail names one of them.
    pub fn label(&self, name: &str) -> String {
        match self.attribute {
            Some(_) => name.to_owned(),
            None => format!("CIS {name}"),
        }
    }
}

/// A node report's own facts (`node.container_runtime`, `node.pod_security_defaults.enforce`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeAttribute {
    ContainerRuntime,
    PodSecurityEnforce,
}

impl NodeAttribute {
    pub fn name(self) -> &'static str {
        match self {
            NodeAttribute::ContainerRuntime => "container runtime",
            NodeAttribute::PodSecurityEnforce => "default Pod Security level",
        }
    }
}

/// What the agent writes in the detail of a namespace whose level its labels do not set.
pub const AWAITING_ADMISSION_DEFAULTS: &str = "--admission-control-config-file";

/// The rule a check with an `admission` level gets: a namespace without an enforce label takes the API
/// server's default level, which forbids what the check finds when it is `level` or stricter.
fn admission_defaults_rule(level: PssLevel) -> NodeFacts {
    let stricter: &[&str] = match level {
        PssLevel::Baseline => &["baseline", "restricted"],
        PssLevel::Restricted => &["restricted"],
    };
    NodeFacts {
        checks: Vec::new(),
        attribute: Some(NodeAttribute::PodSecurityEnforce),
        holds_for: stricter.iter().map(|level| (*level).to_owned()).collect(),
        breaks_for: ["privileged", "baseline", "restricted"]
            .iter()
            .filter(|known| !stricter.contains(known))
            .map(|level| (*level).to_owned())
            .collect(),
        nodes: FactNodes::ControlPlane,
        decides: FactDecides::ManualObjects,
        awaiting: Some(AWAITING_ADMISSION_DEFAULTS.to_owned()),
        fact: format!(
            "the API server enforces {} or stricter on namespaces without a label",
            level.name()
        ),
    }
}

/// Which nodes speak for a fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FactNodes {
    /// The control-plane nodes (the API server's settings).
    ControlPlane,
    /// Every node (a pod may be scheduled on any of them).
    All,
}

impl FactNodes {
    pub fn describe(self) -> &'static str {
        match self {
            FactNodes::ControlPlane => "control-plane node",
            FactNodes::All => "node",
        }
    }
}

/// What the node layer decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FactDecides {
    /// The check's own result (a check with nothing to read through the API).
    Check,
    /// The objects the agent left `manual` for want of the fact.
    ManualObjects,
}

/// A Pod Security Standards level that forbids something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PssLevel {
    Baseline,
    Restricted,
}

impl PssLevel {
    pub fn name(self) -> &'static str {
        match self {
            PssLevel::Baseline => "baseline",
            PssLevel::Restricted => "restricted",
        }
    }

    /// The level a `pod-security.kubernetes.io/enforce` label or a Kyverno `podSecurity.level` names, when it
    /// forbids anything (`privileged` and unknown values forbid nothing).
    pub fn parse(text: &str) -> Option<PssLevel> {
        match text {
            "baseline" => Some(PssLevel::Baseline),
            "restricted" => Some(PssLevel::Restricted),
            _ => None,
        }
    }
}

/// How a check is evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum RuleSpec {
    /// A rule written in code.
    Named(RuleName),
    /// Bindings that grant any of these permissions to a subject that is not platform-owned fail; those that
    /// grant only an `indirect` one (create on a Deployment, which then creates the pods) are a finding of
    /// their own, shown as `warn`.
    Grants {
        grants: Vec<Permission>,
        #[serde(default)]
        indirect: Vec<Permission>,
    },
}

/// The ids other tools and guides give the same check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Equivalents {
    #[serde(default)]
    pub cis: Vec<String>,
    #[serde(default)]
    pub nsa: Option<String>,
    #[serde(default)]
    pub kubescape: Vec<String>,
    #[serde(default)]
    pub checkov: Vec<String>,
    #[serde(default)]
    pub polaris: Vec<String>,
    #[serde(default)]
    pub trivy: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy catalog {catalog}: {message}")]
pub struct PolicyCatalogError {
    pub catalog: String,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    benchmark: RawHeader,
    sections: Vec<Section>,
    checks: Vec<PolicyCheck>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    id: String,
    #[serde(deserialize_with = "crate::values::scalar_string")]
    version: String,
    title: String,
}

impl PolicyCatalog {
    pub fn builtin_names() -> impl Iterator<Item = &'static str> {
        BUILTIN.iter().map(|(name, _)| *name)
    }

    pub fn builtin(name: &str) -> Result<PolicyCatalog, PolicyCatalogError> {
        let (_, text) = BUILTIN
            .iter()
            .find(|(builtin, _)| *builtin == name)
            .ok_or_else(|| PolicyCatalogError {
                catalog: name.to_owned(),
                message: format!(
                    "no such catalog; known: {}",
                    PolicyCatalog::builtin_names()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })?;
        PolicyCatalog::from_yaml(name, text)
    }

    pub fn from_yaml(name: &str, text: &str) -> Result<PolicyCatalog, PolicyCatalogError> {
        let error = |message: String| PolicyCatalogError {
            catalog: name.to_owned(),
            message,
        };
        let raw: RawFile = serde_path_to_error::deserialize(serde_yaml_ng::Deserializer::from_str(
            text,
        ))
        .map_err(|err| {
            let path = err.path().to_string();
            error(format!("at {path}: {}", err.into_inner()))
        })?;
        validate(&raw).map_err(error)?;
        let mut checks = raw.checks;
        checks.sort_by(|a, b| compare_ids(&a.id, &b.id));
        for check in &mut checks {
            let has_own = check
                .node_facts
                .iter()
                .any(|rule| rule.attribute == Some(NodeAttribute::PodSecurityEnforce));
            if let (Some(level), false) = (check.admission, has_own) {
                check.node_facts.push(admission_defaults_rule(level));
            }
        }
        Ok(PolicyCatalog {
            name: name.to_owned(),
            benchmark: BenchmarkRef {
                id: raw.benchmark.id,
                version: raw.benchmark.version,
            },
            title: raw.benchmark.title,
            sections: raw.sections,
            checks,
        })
    }

    pub fn check(&self, id: &str) -> Option<&PolicyCheck> {
        self.checks.iter().find(|check| check.id == id)
    }
}

fn is_policy_check_id(id: &str) -> bool {
    let dotted = !id.is_empty()
        && id
            .split('.')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()));
    let hardening = id.strip_prefix("KW-").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-')
    });
    (dotted || hardening) && id.len() <= 32
}

fn validate(raw: &RawFile) -> Result<(), String> {
    if raw.checks.is_empty() {
        return Err("the catalog has no checks".to_owned());
    }
    let sections: BTreeSet<&str> = raw.sections.iter().map(|s| s.id.as_str()).collect();
    if sections.len() != raw.sections.len() {
        return Err("a section is defined twice".to_owned());
    }
    let mut ids = BTreeSet::new();
    let mut keys = BTreeSet::new();
    for check in &raw.checks {
        let fail = |message: &str| Err(format!("check {}: {message}", check.id));
        if !is_policy_check_id(&check.id) {
            return fail("the id is neither a dotted number nor KW-…");
        }
        if !ids.insert(check.id.as_str()) {
            return fail("defined twice");
        }
        let key_ok = !check.key.is_empty()
            && check
                .key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
        if !key_ok {
            return fail("the key must be lower-case words joined by dots and dashes");
        }
        if !keys.insert(check.key.as_str()) {
            return fail("its key is used by another check");
        }
        if !sections.contains(check.section.as_str()) {
            return fail("names a section that is not defined");
        }
        if check.title.trim().is_empty() || check.remediation.trim().is_empty() {
            return fail("needs a title and a remediation");
        }
        if check.reads.is_empty() && check.rule.is_some() {
            return fail("a check with a rule must say which kinds it reads");
        }
        if check.level.is_some_and(|level| !(1..=2).contains(&level)) {
            return fail("level is 1 or 2");
        }
        for facts in &check.node_facts {
            if facts.checks.is_empty() == facts.attribute.is_none() || facts.fact.trim().is_empty()
            {
                return fail(
                    "a node_facts rule names node checks or an attribute (not both), and the fact in words",
                );
            }
            if facts.attribute.is_some() && facts.holds_for.is_empty() {
                return fail("a node_facts attribute needs the values it holds_for");
            }
            if facts.decides == FactDecides::ManualObjects
                && (check.rule.is_none() || facts.awaiting.is_none())
            {
                return fail(
                    "node_facts decides objects: the check needs a rule to list them and `awaiting`",
                );
            }
        }
        match (&check.rule, &check.guidance) {
            (None, None) => return fail("a check without a rule needs guidance"),
            (None, Some(_)) if check.assessment == Assessment::Automated => {
                return fail("an automated check needs a rule");
            }
            (Some(RuleSpec::Grants { grants, .. }), _) if grants.is_empty() => {
                return fail("an empty list of grants");
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_shipped_catalogs_load() {
        let cis = PolicyCatalog::builtin("cis-1.12").unwrap();
        assert_eq!(cis.benchmark.id, "cis-kubernetes");
        let section_five: Vec<&str> = cis.checks.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(section_five.len(), 34, "{section_five:?}");
        assert!(
            cis.checks
                .iter()
                .all(|check| check.assessment == Assessment::Manual)
        );
        let hardening = PolicyCatalog::builtin("kubeward-hardening").unwrap();
        assert!(
            hardening
                .checks
                .iter()
                .all(|check| check.id.starts_with("KW-"))
        );
    }

    #[test]
    fn an_unknown_rule_is_refused() {
        let text = "benchmark: {id: x, version: '1', title: X}\nsections: [{id: a, title: A}]\nchecks:\n- {id: KW-X, key: x, section: a, title: T, assessment: automated, reads: [Pod], rule: no-such-rule, remediation: R}\n";
        let error = PolicyCatalog::from_yaml("x", text).unwrap_err();
        assert!(error.message.contains("checks"), "{error}");
    }

    #[test]
    fn only_a_known_pod_security_level_is_taken_and_the_5_2_checks_name_theirs() {
        let check = |admission: &str| {
            format!(
                "benchmark: {{id: x, version: '1', title: X}}\nsections: [{{id: a, title: A}}]\nchecks:\n- {{id: KW-X, key: x, section: a, title: T, assessment: automated, reads: [Pod], rule: privileged, admission: {admission}, remediation: R}}\n"
            )
        };
        let loaded = PolicyCatalog::from_yaml("x", &check("baseline")).unwrap();
        assert_eq!(loaded.checks[0].admission, Some(PssLevel::Baseline));
        for bad in ["privileged", "Restricted", "1", "[baseline]"] {
            assert!(
                PolicyCatalog::from_yaml("x", &check(bad)).is_err(),
                "{bad} was taken"
            );
        }
        let cis = PolicyCatalog::builtin("cis-1.12").unwrap();
        let levels: Vec<(&str, Option<PssLevel>)> = cis
            .checks
            .iter()
            .filter(|c| c.id.starts_with("5.2."))
            .map(|c| (c.id.as_str(), c.admission))
            .collect();
        let restricted = ["5.2.6", "5.2.7", "5.2.8", "5.2.9"];
        for (id, level) in levels {
            let expected = match id {
                "5.2.1" => None,
                id if restricted.contains(&id) => Some(PssLevel::Restricted),
                _ => Some(PssLevel::Baseline),
            };
            assert_eq!(level, expected, "{id}");
        }
    }
}
