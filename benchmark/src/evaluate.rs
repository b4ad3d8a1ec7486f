//! The check evaluator: a pure function from a catalog and a node's collected facts to results with evidence.
//!
//! Rules it keeps (see DESIGN.md): something that is not on the node is `not_applicable`, never `fail`; an
//! unreadable input is `error` with the reason; a Manual check whose test fails is `warn`; settings are read
//! only from the process of the component the check is about.

use serde_json::Value;

use crate::catalog::{
    Assessment, Catalog, Check, Condition, FeatureGateProbe, Probe, SettingDefault, SettingProbe,
    Test,
};
use crate::facts::{
    Component, ConfigLookup, FileFact, FileSetFacts, Flag, LayerKind, NodeFacts, ProcessFacts,
};
use crate::report::{CheckResult, Evidence, Status};
use crate::validate::MAX_EVIDENCE_PER_RESULT;
use crate::values::{is_loopback_address, same_value, split_list};

/// Evaluates every check of a catalog, in catalog order.
pub fn evaluate(catalog: &Catalog, facts: &NodeFacts) -> Vec<CheckResult> {
    catalog
        .checks
        .iter()
        .map(|check| evaluate_check(check, facts))
        .collect()
}

/// Evaluates one check.
pub fn evaluate_check(check: &Check, facts: &NodeFacts) -> CheckResult {
    if let Some(reason) = &check.skip {
        return result(
            check,
            Status::NotApplicable,
            Vec::new(),
            Some(reason.clone()),
        );
    }
    let Some(test) = &check.test else {
        return if facts.processes.contains_key(&check.applies_to) {
            result(check, Status::Manual, Vec::new(), None)
        } else {
            result(
                check,
                Status::NotApplicable,
                Vec::new(),
                Some(not_running(check.applies_to)),
            )
        };
    };
    match run_test(test, facts) {
        Outcome::Pass(evidence) => result(check, Status::Pass, evidence, None),
        Outcome::Fail(evidence) => {
            let status = match check.assessment {
                Assessment::Automated => Status::Fail,
                Assessment::Manual => Status::Warn,
            };
            result(check, status, evidence, None)
        }
        Outcome::NotApplicable(reason) => {
            result(check, Status::NotApplicable, Vec::new(), Some(reason))
        }
        Outcome::Error(reason, evidence) => result(check, Status::Error, evidence, Some(reason)),
    }
}

fn result(
    check: &Check,
    status: Status,
    evidence: Vec<Evidence>,
    detail: Option<String>,
) -> CheckResult {
    CheckResult {
        check: check.id.clone(),
        status,
        evidence: cap_evidence(evidence),
        detail,
    }
}

fn not_running(component: Component) -> String {
    format!("{component} is not running on this node")
}

/// The outcome of a test before the check's assessment turns a failure into `fail` or `warn`.
#[derive(Debug)]
enum Outcome {
    Pass(Vec<Evidence>),
    Fail(Vec<Evidence>),
    NotApplicable(String),
    Error(String, Vec<Evidence>),
}

fn run_test(test: &Test, facts: &NodeFacts) -> Outcome {
    match test {
        Test::Probe { probe, expect } => run_probe(probe, expect, facts),
        Test::All(tests) => combine(tests.iter().map(|test| run_test(test, facts)), true),
        Test::Any(tests) => combine(tests.iter().map(|test| run_test(test, facts)), false),
    }
}

/// `all` fails when one part fails; `any` passes when one part passes. Parts that do not apply are left
/// out; an error decides only when nothing else does.
fn combine(outcomes: impl Iterator<Item = Outcome>, all: bool) -> Outcome {
    let mut evidence = Vec::new();
    let (mut passed, mut failed) = (false, false);
    let mut error: Option<String> = None;
    let mut not_applicable: Option<String> = None;
    for outcome in outcomes {
        match outcome {
            Outcome::Pass(items) => {
                passed = true;
                evidence.extend(items);
            }
            Outcome::Fail(items) => {
                failed = true;
                evidence.extend(items);
            }
            Outcome::Error(reason, items) => {
                error.get_or_insert(reason);
                evidence.extend(items);
            }
            Outcome::NotApplicable(reason) => {
                not_applicable.get_or_insert(reason);
            }
        }
    }
    let decided = if all { failed } else { passed };
    if decided {
        return if all {
            Outcome::Fail(evidence)
        } else {
            Outcome::Pass(evidence)
        };
    }
    if let Some(reason) = error {
        return Outcome::Error(reason, evidence);
    }
    match (passed || failed, not_applicable) {
        (false, Some(reason)) => Outcome::NotApplicable(reason),
        _ if all => Outcome::Pass(evidence),
        _ => Outcome::Fail(evidence),
    }
}

fn run_probe(probe: &Probe, expect: &Condition, facts: &NodeFacts) -> Outcome {
    match probe {
        Probe::Setting(setting) => match facts.processes.get(&setting.component) {
            None => Outcome::NotApplicable(not_running(setting.component)),
            Some(process) => match resolve_setting(setting, process) {
                Ok(resolved) => judge_setting(setting_subject(setting, process), &resolved, expect),
                Err(reason) => Outcome::Error(reason, Vec::new()),
            },
        },
        Probe::FeatureGate(gate) => match facts.processes.get(&gate.component) {
            None => Outcome::NotApplicable(not_running(gate.component)),
            Some(process) => match resolve_feature_gate(gate, process) {
                Ok(resolved) => judge_setting(
                    format!(
                        "{} (pid {}) feature gate {}",
                        gate.component, process.pid, gate.gate
                    ),
                    &resolved,
                    expect,
                ),
                Err(reason) => Outcome::Error(reason, Vec::new()),
            },
        },
        Probe::Files(set) => match facts.files.get(set) {
            None => Outcome::Error(
                format!("the agent collected nothing for the file set {set:?}"),
                Vec::new(),
            ),
            Some(FileSetFacts::Absent { reason }) => Outcome::NotApplicable(reason.clone()),
            Some(FileSetFacts::Unreadable { path, reason }) => {
                Outcome::Error(format!("{path}: {reason}"), Vec::new())
            }
            Some(FileSetFacts::Files(files)) => judge_files(files, expect),
        },
        Probe::EncryptionProviders => judge_encryption(facts, expect),
    }
}

/// A setting's value with the place it came from.
#[derive(Debug)]
struct Resolved {
    /// Every value that applies, in order; more than one only for repeated list flags.
    values: Vec<String>,
    /// Whether someone set it (command line, environment or config file), as opposed to a default.
    explicit: bool,
    source: String,
}

impl Resolved {
    fn unset() -> Self {
        Resolved {
            values: Vec::new(),
            explicit: false,
            source: "not set".to_owned(),
        }
    }

    /// The effective scalar value: the last occurrence wins, as with pflag.
    fn value(&self) -> Option<&str> {
        self.values.last().map(String::as_str)
    }

    /// The elements of a list setting; repeated list flags append, as with pflag's string slices.
    fn elements(&self) -> Vec<&str> {
        self.values
            .iter()
            .flat_map(|value| split_list(value))
            .collect()
    }
}

fn setting_subject(setting: &SettingProbe, process: &ProcessFacts) -> String {
    let process_name = match &process.embedded_in {
        Some(host) => format!("{} (in {host}, pid {})", setting.component, process.pid),
        None => format!("{} (pid {})", setting.component, process.pid),
    };
    match &setting.config {
        Some(key) => format!("{process_name} {} / {key}", setting.flag),
        None => format!("{process_name} {}", setting.flag),
    }
}

fn resolve_setting(setting: &SettingProbe, process: &ProcessFacts) -> Result<Resolved, String> {
    if let Some(reason) = &process.settings_error {
        return Err(format!(
            "{}'s settings are unknown: {reason}",
            setting.component
        ));
    }
    let occurrences: Vec<&Flag> = process.flag_values(setting.flag_name()).collect();
    if let Some(last) = occurrences.last() {
        return Ok(Resolved {
            source: last
                .source
                .clone()
                .unwrap_or_else(|| "command line".to_owned()),
            values: occurrences
                .iter()
                .map(|flag| flag.value.clone().unwrap_or_else(|| "true".to_owned()))
                .collect(),
            explicit: true,
        });
    }
    let env_name = setting.env.clone().or_else(|| {
        (setting.component == Component::Etcd).then(|| etcd_env_name(setting.flag_name()))
    });
    if let Some(name) = env_name
        && let Some(value) = process.env.get(&name)
    {
        return Ok(Resolved {
            values: vec![value.clone()],
            explicit: true,
            source: format!("environment variable {name}"),
        });
    }
    if let Some(key) = &setting.config {
        match process.config_value(key) {
            ConfigLookup::Found { layer, value } => {
                return Ok(Resolved {
                    values: vec![config_text(value)],
                    explicit: true,
                    source: layer_source(layer.kind, &layer.path),
                });
            }
            ConfigLookup::Unreadable { layer, reason } => {
                return Err(format!(
                    "{} {} could not be read, so {} is unknown: {reason}",
                    layer_name(layer.kind),
                    layer.path,
                    key
                ));
            }
            ConfigLookup::NotSet => {}
        }
    }
    Ok(match &setting.default {
        Some(SettingDefault::Always(value)) => Resolved {
            values: vec![value.clone()],
            explicit: false,
            source: format!("{} default", setting.component),
        },
        Some(SettingDefault::ByMode {
            without_config_file,
            with_config_file,
        }) => {
            if process.uses_config_file() {
                Resolved {
                    values: vec![with_config_file.clone()],
                    explicit: false,
                    source: format!(
                        "{} default when started with a config file",
                        setting.component
                    ),
                }
            } else {
                Resolved {
                    values: vec![without_config_file.clone()],
                    explicit: false,
                    source: format!(
                        "{} default when started without a config file",
                        setting.component
                    ),
                }
            }
        }
        None => Resolved::unset(),
    })
}

/// etcd reads every flag also from `ETCD_<FLAG>`, upper-cased with dashes as underscores.
fn etcd_env_name(flag: &str) -> String {
    format!("ETCD_{}", flag.replace('-', "_").to_ascii_uppercase())
}

fn layer_name(kind: LayerKind) -> &'static str {
    match kind {
        LayerKind::ConfigFile => "config file",
        LayerKind::DropIn => "config drop-in",
    }
}

fn layer_source(kind: LayerKind, path: &str) -> String {
    format!("{} {path}", layer_name(kind))
}

/// A config value as the flag that mirrors it would be written.
fn config_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        Value::Array(items) => items.iter().map(config_text).collect::<Vec<_>>().join(","),
        Value::Null => String::new(),
        Value::Object(_) => value.to_string(),
    }
}

fn resolve_feature_gate(
    gate: &FeatureGateProbe,
    process: &ProcessFacts,
) -> Result<Resolved, String> {
    // Later --feature-gates occurrences and later pairs win, as the components merge them.
    let mut from_flags: Option<String> = None;
    for flag in process.flag_values("feature-gates") {
        for pair in split_list(flag.value.as_deref().unwrap_or("")) {
            if let Some((name, value)) = pair.split_once('=')
                && name.trim() == gate.gate
            {
                from_flags = Some(value.trim().to_owned());
            }
        }
    }
    if let Some(value) = from_flags {
        return Ok(Resolved {
            values: vec![value],
            explicit: true,
            source: "command line --feature-gates".to_owned(),
        });
    }
    match process.config_value(&format!("featureGates.{}", gate.gate)) {
        ConfigLookup::Found { layer, value } => {
            return Ok(Resolved {
                values: vec![config_text(value)],
                explicit: true,
                source: layer_source(layer.kind, &layer.path),
            });
        }
        ConfigLookup::Unreadable { layer, reason } => {
            return Err(format!(
                "{} {} could not be read, so feature gate {} is unknown: {reason}",
                layer_name(layer.kind),
                layer.path,
                gate.gate
            ));
        }
        ConfigLookup::NotSet => {}
    }
    Ok(Resolved {
        values: vec![gate.default.to_string()],
        explicit: false,
        source: format!("{} default", gate.component),
    })
}

fn judge_setting(subject: String, resolved: &Resolved, expect: &Condition) -> Outcome {
    let value = resolved.value().filter(|value| !value.trim().is_empty());
    let set_explicitly = resolved.explicit && value.is_some();
    let passed = match expect {
        Condition::Present => set_explicitly,
        Condition::Absent => !set_explicitly,
        Condition::Equals(expected) => value.is_some_and(|value| same_value(value, expected)),
        Condition::NotEquals(unwanted) => !value.is_some_and(|value| same_value(value, unwanted)),
        Condition::Contains(element) => resolved.elements().contains(&element.as_str()),
        Condition::Lacks(element) => !resolved.elements().contains(&element.as_str()),
        Condition::AtLeast(threshold) => value
            .and_then(|value| threshold.parse_like(value))
            .is_some_and(|observed| observed.cmp_value(*threshold).is_ge()),
        Condition::AtMost(threshold) => value
            .and_then(|value| threshold.parse_like(value))
            .is_some_and(|observed| observed.cmp_value(*threshold).is_le()),
        Condition::AllIn(allowed) => {
            let elements = resolved.elements();
            !elements.is_empty()
                && elements
                    .iter()
                    .all(|element| allowed.iter().any(|allowed| allowed == element))
        }
        Condition::Loopback => value.is_some_and(is_loopback_address),
        Condition::ModeAtMost(_) | Condition::Owner(_) => false,
    };
    let observed = if resolved.values.is_empty() {
        "(not set)".to_owned()
    } else if matches!(
        expect,
        Condition::Contains(_) | Condition::Lacks(_) | Condition::AllIn(_)
    ) {
        resolved.elements().join(",")
    } else {
        value.unwrap_or("").to_owned()
    };
    let evidence = vec![Evidence {
        subject,
        observed,
        expected: expect.describe(),
        source: Some(resolved.source.clone()),
    }];
    if passed {
        Outcome::Pass(evidence)
    } else {
        Outcome::Fail(evidence)
    }
}

fn judge_files(files: &[FileFact], expect: &Condition) -> Outcome {
    let mut evidence = Vec::with_capacity(files.len());
    let mut failed = false;
    let mut error: Option<String> = None;
    for file in files {
        let stat = match &file.stat {
            Ok(stat) => stat,
            Err(reason) => {
                error.get_or_insert_with(|| format!("{}: {reason}", file.path));
                evidence.push((
                    false,
                    Evidence {
                        subject: file.path.clone(),
                        observed: format!("unreadable: {reason}"),
                        expected: expect.describe(),
                        source: Some(file.found_via.clone()),
                    },
                ));
                continue;
            }
        };
        let (passed, observed) = match expect {
            Condition::ModeAtMost(allowed) => {
                (stat.mode & !allowed == 0, format!("{:04o}", stat.mode))
            }
            Condition::Owner(owner) => {
                let (user, group) = owner.split_once(':').unwrap_or((owner, owner));
                let user_name = stat.user.as_deref();
                let group_name = stat.group.as_deref();
                let observed = format!(
                    "{}:{} ({}:{})",
                    user_name.unwrap_or("(no name in the host's /etc/passwd)"),
                    group_name.unwrap_or("(no name in the host's /etc/group)"),
                    stat.uid,
                    stat.gid
                );
                (
                    user_name == Some(user) && group_name == Some(group),
                    observed,
                )
            }
            other => (
                false,
                format!("condition {other:?} does not apply to files"),
            ),
        };
        failed |= !passed;
        evidence.push((
            passed,
            Evidence {
                subject: file.path.clone(),
                observed,
                expected: expect.describe(),
                source: Some(file.found_via.clone()),
            },
        ));
    }
    // Failing and unreadable files first: they are what a long list must not lose.
    evidence.sort_by_key(|(passed, _)| *passed);
    let evidence = evidence.into_iter().map(|(_, item)| item).collect();
    if failed {
        Outcome::Fail(evidence)
    } else if let Some(reason) = error {
        Outcome::Error(reason, evidence)
    } else {
        Outcome::Pass(evidence)
    }
}

fn judge_encryption(facts: &NodeFacts, expect: &Condition) -> Outcome {
    let Some(encryption) = &facts.encryption else {
        return Outcome::NotApplicable(
            if facts.processes.contains_key(&Component::KubeApiserver) {
                "kube-apiserver uses no --encryption-provider-config".to_owned()
            } else {
                not_running(Component::KubeApiserver)
            },
        );
    };
    let Condition::AllIn(allowed) = expect else {
        return Outcome::Error(
            format!("condition {expect:?} does not apply to encryption providers"),
            Vec::new(),
        );
    };
    let entries = match &encryption.content {
        Ok(entries) => entries,
        Err(reason) => {
            return Outcome::Error(format!("{}: {reason}", encryption.path), Vec::new());
        }
    };
    let mut evidence = Vec::new();
    let mut failed = false;
    let mut secrets_covered = false;
    for entry in entries {
        secrets_covered |= entry
            .resources
            .iter()
            .any(|resource| matches!(resource.as_str(), "secrets" | "*.*" | "*."));
        let provider = entry.first_provider.as_deref();
        let passed = provider.is_some_and(|provider| allowed.iter().any(|ok| ok == provider));
        failed |= !passed;
        evidence.push(Evidence {
            subject: format!(
                "{} resources [{}]: first provider",
                encryption.path,
                entry.resources.join(", ")
            ),
            observed: provider.unwrap_or("(no providers)").to_owned(),
            expected: expect.describe(),
            source: Some("kube-apiserver --encryption-provider-config".to_owned()),
        });
    }
    if !secrets_covered {
        failed = true;
        evidence.push(Evidence {
            subject: format!("{} resources", encryption.path),
            observed: "secrets are not listed, so they are stored unencrypted".to_owned(),
            expected: "secrets encrypted by an allowed provider".to_owned(),
            source: Some("kube-apiserver --encryption-provider-config".to_owned()),
        });
    }
    if failed {
        Outcome::Fail(evidence)
    } else {
        Outcome::Pass(evidence)
    }
}

/// Keeps a result within the wire format's evidence limit, with a last item saying how many were left out.
/// Producers put the items that explain a failure first, so those are the ones kept.
fn cap_evidence(mut evidence: Vec<Evidence>) -> Vec<Evidence> {
    if evidence.len() <= MAX_EVIDENCE_PER_RESULT {
        return evidence;
    }
    let total = evidence.len();
    evidence.truncate(MAX_EVIDENCE_PER_RESULT - 1);
    evidence.push(Evidence {
        subject: "(more items)".to_owned(),
        observed: format!(
            "{} further items not listed",
            total - (MAX_EVIDENCE_PER_RESULT - 1)
        ),
        expected: String::new(),
        source: None,
    });
    evidence
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(flags: &[(&str, Option<&str>)]) -> ProcessFacts {
        ProcessFacts {
            pid: 42,
            flags: flags
                .iter()
                .map(|(name, value)| Flag {
                    name: (*name).to_owned(),
                    value: value.map(str::to_owned),
                    source: None,
                })
                .collect(),
            ..ProcessFacts::default()
        }
    }

    fn probe(flag: &str) -> SettingProbe {
        SettingProbe {
            component: Component::KubeApiserver,
            flag: flag.to_owned(),
            env: None,
            config: None,
            default: None,
        }
    }

    #[test]
    fn admission_plugins_compare_element_by_element_never_by_substring() {
        let process = process(&[("enable-admission-plugins", Some("NodeRestrictionX,Foo"))]);
        let resolved = resolve_setting(&probe("--enable-admission-plugins"), &process).unwrap();
        let outcome = judge_setting(
            "s".into(),
            &resolved,
            &Condition::Contains("NodeRestriction".into()),
        );
        assert!(matches!(outcome, Outcome::Fail(_)), "{outcome:?}");
    }

    #[test]
    fn repeated_list_flags_append() {
        let process = process(&[
            ("enable-admission-plugins", Some("A")),
            ("enable-admission-plugins", Some("NodeRestriction")),
        ]);
        let resolved = resolve_setting(&probe("--enable-admission-plugins"), &process).unwrap();
        let outcome = judge_setting(
            "s".into(),
            &resolved,
            &Condition::Contains("NodeRestriction".into()),
        );
        assert!(matches!(outcome, Outcome::Pass(_)), "{outcome:?}");
    }

    #[test]
    fn a_default_is_not_a_present_setting() {
        let process = process(&[]);
        let mut setting = probe("--profiling");
        setting.default = Some(SettingDefault::Always("true".into()));
        let resolved = resolve_setting(&setting, &process).unwrap();
        assert!(matches!(
            judge_setting("s".into(), &resolved, &Condition::Present),
            Outcome::Fail(_)
        ));
        assert!(matches!(
            judge_setting("s".into(), &resolved, &Condition::Equals("false".into())),
            Outcome::Fail(_)
        ));
    }

    #[test]
    fn any_passes_when_one_branch_passes_and_all_fails_when_one_fails() {
        let pass = || Outcome::Pass(Vec::new());
        let fail = || Outcome::Fail(Vec::new());
        assert!(matches!(
            combine([fail(), pass()].into_iter(), false),
            Outcome::Pass(_)
        ));
        assert!(matches!(
            combine([pass(), fail()].into_iter(), true),
            Outcome::Fail(_)
        ));
        assert!(matches!(
            combine([Outcome::NotApplicable("x".into())].into_iter(), true),
            Outcome::NotApplicable(_)
        ));
        assert!(matches!(
            combine(
                [Outcome::Error("x".into(), Vec::new()), pass()].into_iter(),
                true
            ),
            Outcome::Error(..)
        ));
    }

    #[test]
    fn evidence_is_capped_at_the_wire_limit() {
        let items = (0..500)
            .map(|i| Evidence {
                subject: format!("/f{i}"),
                observed: "0600".into(),
                expected: "x".into(),
                source: None,
            })
            .collect();
        let capped = cap_evidence(items);
        assert_eq!(capped.len(), MAX_EVIDENCE_PER_RESULT);
        assert_eq!(
            capped.last().unwrap().observed,
            "301 further items not listed"
        );
    }

    #[test]
    fn go_booleans_from_config_files_read_as_booleans() {
        assert_eq!(config_text(&Value::Bool(false)), "false");
        assert_eq!(
            crate::values::parse_go_bool(&config_text(&Value::Bool(true))),
            Some(true)
        );
        assert_eq!(
            config_text(&serde_json::json!(["TLS_A", "TLS_B"])),
            "TLS_A,TLS_B"
        );
    }
}
