//! Benchmark catalogs as data: what each check inspects, what it expects, and what to do about it.
//!
//! Catalogs are YAML files under `benchmark/catalog/<name>/`, embedded at build time. The loader is strict:
//! an unknown probe, operator or field, a duplicate id or a missing field is an error, never a silent default,
//! because a typo in a catalog would otherwise turn into a verdict nobody meant.

use std::collections::{BTreeSet, HashSet};

use serde::Deserialize;

use crate::facts::{Component, FileSet};
use crate::report::BenchmarkRef;
use crate::validate::is_check_id;
use crate::values::Quantity;

/// A loaded, validated benchmark catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    /// The short name agents and servers use (`cis-1.12`).
    pub name: String,
    pub benchmark: BenchmarkRef,
    pub title: String,
    pub sections: Vec<Section>,
    /// Every check, ordered by id.
    pub checks: Vec<Check>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    pub id: String,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub id: String,
    pub section: String,
    pub title: String,
    pub level: u8,
    pub assessment: Assessment,
    /// The component the check is about; when it is not on the node the check is not applicable.
    pub applies_to: Component,
    /// `None` only for Manual checks that the benchmark leaves to a person.
    pub test: Option<Test>,
    /// What a person should look at, for Manual checks.
    pub guidance: Option<String>,
    pub remediation: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Assessment {
    Automated,
    Manual,
}

/// What a check tests: one probe with its expectation, or a combination.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    All(Vec<Test>),
    Any(Vec<Test>),
    Probe { probe: Probe, expect: Condition },
}

/// What to inspect on the node. Never a shell command.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    Setting(SettingProbe),
    FeatureGate(FeatureGateProbe),
    Files(FileSet),
    /// The first provider of every resource list of the API server's encryption configuration.
    EncryptionProviders,
}

/// A component setting: its command-line flag, and where the component also reads it from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingProbe {
    pub component: Component,
    /// The flag name with its leading dashes (`--anonymous-auth`).
    pub flag: String,
    /// The environment variable the component also reads (etcd's `ETCD_*`).
    #[serde(default)]
    pub env: Option<String>,
    /// The dotted key in the component's config file (`authentication.anonymous.enabled`).
    #[serde(default)]
    pub config: Option<String>,
    /// The component's own default when nothing sets it.
    #[serde(default)]
    pub default: Option<SettingDefault>,
}

impl SettingProbe {
    /// The flag name as the agent stores it: without dashes.
    pub fn flag_name(&self) -> &str {
        self.flag.trim_start_matches('-')
    }
}

/// A component's default, which for the kubelet depends on whether it runs with a config file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum SettingDefault {
    Always(#[serde(deserialize_with = "crate::values::scalar_string")] String),
    ByMode {
        #[serde(deserialize_with = "crate::values::scalar_string")]
        without_config_file: String,
        #[serde(deserialize_with = "crate::values::scalar_string")]
        with_config_file: String,
    },
}

/// A feature gate, from `--feature-gates` or the config file's `featureGates`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureGateProbe {
    pub component: Component,
    pub gate: String,
    /// Whether the gate is on when nothing sets it, in the component versions the benchmark covers.
    pub default: bool,
}

/// The expected condition on what a probe observed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// The setting is set to anything.
    Present,
    /// The setting is not set at all.
    Absent,
    /// Equal; booleans compare case-insensitively, numbers and durations by value.
    Equals(#[serde(deserialize_with = "crate::values::scalar_string")] String),
    NotEquals(#[serde(deserialize_with = "crate::values::scalar_string")] String),
    /// A comma-separated list has this element (compared element by element, never by substring).
    Contains(String),
    /// A comma-separated list does not have this element; an unset list lacks everything.
    Lacks(String),
    AtLeast(Quantity),
    AtMost(Quantity),
    /// No permission bit outside this octal mode.
    ModeAtMost(#[serde(deserialize_with = "crate::values::octal_mode")] u32),
    /// `user:group`, by name.
    Owner(String),
    /// Every element of a comma-separated list is in this set (and the list is not empty).
    AllIn(Vec<String>),
    /// An address (optionally with a port) on the loopback interface.
    Loopback,
}

impl Condition {
    /// How the expectation reads in evidence.
    pub fn describe(&self) -> String {
        match self {
            Condition::Present => "set".to_owned(),
            Condition::Absent => "not set".to_owned(),
            Condition::Equals(value) => value.clone(),
            Condition::NotEquals(value) => format!("not {value}"),
            Condition::Contains(element) => format!("list includes {element}"),
            Condition::Lacks(element) => format!("list does not include {element}"),
            Condition::AtLeast(quantity) => format!(">= {quantity}"),
            Condition::AtMost(quantity) => format!("<= {quantity}"),
            Condition::ModeAtMost(mode) => format!("{mode:04o} or more restrictive"),
            Condition::Owner(owner) => owner.clone(),
            Condition::AllIn(allowed) => format!("only {}", allowed.join(", ")),
            Condition::Loopback => "a loopback address (127.0.0.1 or ::1)".to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("catalog {catalog}, {file}: {message}")]
pub struct CatalogError {
    pub catalog: String,
    pub file: String,
    pub message: String,
}

/// The catalogs shipped in the binary, by name.
const BUILTIN: &[(&str, &[(&str, &str)])] = &[(
    "cis-1.12",
    &[
        (
            "catalog.yaml",
            include_str!("../catalog/cis-1.12/catalog.yaml"),
        ),
        (
            "1-control-plane-components.yaml",
            include_str!("../catalog/cis-1.12/1-control-plane-components.yaml"),
        ),
        (
            "2-etcd.yaml",
            include_str!("../catalog/cis-1.12/2-etcd.yaml"),
        ),
        (
            "3-control-plane-configuration.yaml",
            include_str!("../catalog/cis-1.12/3-control-plane-configuration.yaml"),
        ),
        (
            "4-worker-nodes.yaml",
            include_str!("../catalog/cis-1.12/4-worker-nodes.yaml"),
        ),
    ],
)];

impl Catalog {
    /// The names of every catalog shipped in the binary.
    pub fn builtin_names() -> impl Iterator<Item = &'static str> {
        BUILTIN.iter().map(|(name, _)| *name)
    }

    /// Loads a catalog shipped in the binary.
    pub fn builtin(name: &str) -> Result<Catalog, CatalogError> {
        let (_, files) = BUILTIN
            .iter()
            .find(|(builtin, _)| *builtin == name)
            .ok_or_else(|| CatalogError {
                catalog: name.to_owned(),
                file: String::new(),
                message: format!(
                    "no such catalog; known: {}",
                    Catalog::builtin_names().collect::<Vec<_>>().join(", ")
                ),
            })?;
        Catalog::from_files(name, files)
    }

    /// Loads a catalog from its YAML files: exactly one holds `benchmark:`, any may hold sections and checks.
    pub fn from_files(name: &str, files: &[(&str, &str)]) -> Result<Catalog, CatalogError> {
        let error = |file: &str, message: String| CatalogError {
            catalog: name.to_owned(),
            file: file.to_owned(),
            message,
        };
        let mut header: Option<(BenchmarkRef, String)> = None;
        let mut sections: Vec<Section> = Vec::new();
        let mut checks: Vec<Check> = Vec::new();
        for (file, text) in files {
            let raw: RawFile =
                serde_path_to_error::deserialize(serde_yaml_ng::Deserializer::from_str(text))
                    .map_err(|err| {
                        let path = err.path().to_string();
                        let message = err.into_inner().to_string();
                        // The YAML parser names the path itself in most messages; add it where it does not.
                        if message.contains(&path) || path == "." {
                            error(file, message)
                        } else {
                            error(file, format!("at {path}: {message}"))
                        }
                    })?;
            if let Some(benchmark) = raw.benchmark {
                if header.is_some() {
                    return Err(error(file, "a second `benchmark:` header".to_owned()));
                }
                header = Some((
                    BenchmarkRef {
                        id: benchmark.id,
                        version: benchmark.version,
                    },
                    benchmark.title,
                ));
            }
            sections.extend(raw.sections);
            for (index, raw_check) in raw.checks.into_iter().enumerate() {
                let id = raw_check.id.clone();
                let check = raw_check
                    .into_check()
                    .map_err(|message| error(file, format!("checks[{index}] ({id}): {message}")))?;
                checks.push(check);
            }
        }
        let (benchmark, title) =
            header.ok_or_else(|| error("", "no file has a `benchmark:` header".to_owned()))?;
        validate_catalog(&sections, &checks).map_err(|message| error("", message))?;
        checks.sort_by(|a, b| compare_ids(&a.id, &b.id));
        sections.sort_by(|a, b| compare_ids(&a.id, &b.id));
        Ok(Catalog {
            name: name.to_owned(),
            benchmark,
            title,
            sections,
            checks,
        })
    }

    pub fn check(&self, id: &str) -> Option<&Check> {
        self.checks.iter().find(|check| check.id == id)
    }

    pub fn section(&self, id: &str) -> Option<&Section> {
        self.sections.iter().find(|section| section.id == id)
    }
}

/// Orders dotted ids numerically part by part, so that 1.2.10 follows 1.2.9.
pub fn compare_ids(a: &str, b: &str) -> std::cmp::Ordering {
    let key = |id: &str| -> Vec<(u64, String)> {
        id.split('.')
            .map(|part| {
                let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
                let rest = part[digits.len()..].to_owned();
                (digits.parse().unwrap_or(u64::MAX), rest)
            })
            .collect()
    };
    key(a).cmp(&key(b))
}

fn validate_catalog(sections: &[Section], checks: &[Check]) -> Result<(), String> {
    let mut section_ids = HashSet::new();
    for section in sections {
        if !is_check_id(&section.id) {
            return Err(format!(
                "section id \"{}\" is not a dotted number",
                section.id
            ));
        }
        if section.title.trim().is_empty() {
            return Err(format!("section {} has an empty title", section.id));
        }
        if !section_ids.insert(section.id.as_str()) {
            return Err(format!("section {} is defined twice", section.id));
        }
    }
    let mut check_ids = BTreeSet::new();
    for check in checks {
        if !check_ids.insert(check.id.as_str()) {
            return Err(format!("check {} is defined twice", check.id));
        }
        if !section_ids.contains(check.section.as_str()) {
            return Err(format!(
                "check {} names section {}, which is not defined",
                check.id, check.section
            ));
        }
    }
    if checks.is_empty() {
        return Err("the catalog has no checks".to_owned());
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    benchmark: Option<RawHeader>,
    #[serde(default)]
    sections: Vec<Section>,
    #[serde(default)]
    checks: Vec<RawCheck>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    id: String,
    #[serde(deserialize_with = "crate::values::scalar_string")]
    version: String,
    title: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    id: String,
    section: String,
    title: String,
    level: u8,
    assessment: Assessment,
    applies_to: Component,
    #[serde(default)]
    test: Option<RawTest>,
    #[serde(default)]
    guidance: Option<String>,
    remediation: String,
}

impl RawCheck {
    fn into_check(self) -> Result<Check, String> {
        if !is_check_id(&self.id) {
            return Err("the id is not a dotted number".to_owned());
        }
        if !(self.id.starts_with(&format!("{}.", self.section)) || self.id == self.section) {
            return Err(format!(
                "the id does not belong to section {}",
                self.section
            ));
        }
        if self.title.trim().is_empty() {
            return Err("the title is empty".to_owned());
        }
        if self.remediation.trim().is_empty() {
            return Err("the remediation is empty".to_owned());
        }
        if !(1..=2).contains(&self.level) {
            return Err(format!("level {} is not 1 or 2", self.level));
        }
        let test = self.test.map(RawTest::into_test).transpose()?;
        match (self.assessment, &test, &self.guidance) {
            (Assessment::Automated, None, _) => {
                return Err("an Automated check needs a test".to_owned());
            }
            (Assessment::Manual, None, None) => {
                return Err("a Manual check without a test needs guidance".to_owned());
            }
            _ => {}
        }
        if let Some(test) = &test {
            check_components(test, self.applies_to)?;
        }
        Ok(Check {
            id: self.id,
            section: self.section,
            title: self.title.trim().to_owned(),
            level: self.level,
            assessment: self.assessment,
            applies_to: self.applies_to,
            test,
            guidance: self.guidance.map(|text| text.trim().to_owned()),
            remediation: self.remediation.trim().to_owned(),
        })
    }
}

/// A check's settings must all belong to the component it applies to: one process's flags never
/// satisfy another's check.
fn check_components(test: &Test, component: Component) -> Result<(), String> {
    match test {
        Test::All(tests) | Test::Any(tests) => tests
            .iter()
            .try_for_each(|test| check_components(test, component)),
        Test::Probe { probe, .. } => {
            let probed = match probe {
                Probe::Setting(setting) => Some(setting.component),
                Probe::FeatureGate(gate) => Some(gate.component),
                Probe::Files(_) | Probe::EncryptionProviders => None,
            };
            match probed {
                Some(probed) if probed != component => {
                    Err(format!("probes {probed} but applies to {component}"))
                }
                _ => Ok(()),
            }
        }
    }
}

/// The YAML shape of a test; converted into [`Test`] so that exactly one kind of test is given.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTest {
    #[serde(default)]
    all: Option<Vec<RawTest>>,
    #[serde(default)]
    any: Option<Vec<RawTest>>,
    #[serde(default)]
    setting: Option<SettingProbe>,
    #[serde(default)]
    feature_gate: Option<FeatureGateProbe>,
    #[serde(default)]
    files: Option<FileSet>,
    #[serde(default)]
    encryption_providers: Option<RawEncryptionProviders>,
    // Conditions are written as `{operator: value}` maps, not as YAML tags.
    #[serde(default, with = "serde_yaml_ng::with::singleton_map")]
    expect: Option<Condition>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
enum RawEncryptionProviders {
    KubeApiserver,
}

impl RawTest {
    fn into_test(self) -> Result<Test, String> {
        let given = [
            self.all.is_some(),
            self.any.is_some(),
            self.setting.is_some(),
            self.feature_gate.is_some(),
            self.files.is_some(),
            self.encryption_providers.is_some(),
        ]
        .iter()
        .filter(|given| **given)
        .count();
        if given != 1 {
            return Err(
                "a test needs exactly one of all, any, setting, feature_gate, files, encryption_providers"
                    .to_owned(),
            );
        }
        let combine = |tests: Vec<RawTest>| -> Result<Vec<Test>, String> {
            if tests.is_empty() {
                return Err("an empty all/any list".to_owned());
            }
            tests.into_iter().map(RawTest::into_test).collect()
        };
        if let Some(tests) = self.all {
            return reject_expect(self.expect).and(combine(tests).map(Test::All));
        }
        if let Some(tests) = self.any {
            return reject_expect(self.expect).and(combine(tests).map(Test::Any));
        }
        let expect = self
            .expect
            .ok_or_else(|| "a probe needs an `expect` condition".to_owned())?;
        let probe = if let Some(setting) = self.setting {
            if !setting.flag.starts_with("--") || setting.flag.len() < 3 {
                return Err(format!("flag \"{}\" must start with --", setting.flag));
            }
            Probe::Setting(setting)
        } else if let Some(gate) = self.feature_gate {
            Probe::FeatureGate(gate)
        } else if let Some(files) = self.files {
            Probe::Files(files)
        } else {
            Probe::EncryptionProviders
        };
        check_condition_fits(&probe, &expect)?;
        Ok(Test::Probe { probe, expect })
    }
}

fn reject_expect(expect: Option<Condition>) -> Result<(), String> {
    match expect {
        Some(_) => Err("`expect` belongs on a probe, not on all/any".to_owned()),
        None => Ok(()),
    }
}

fn check_condition_fits(probe: &Probe, expect: &Condition) -> Result<(), String> {
    let fits = match probe {
        Probe::Files(_) => matches!(expect, Condition::ModeAtMost(_) | Condition::Owner(_)),
        Probe::EncryptionProviders => matches!(expect, Condition::AllIn(_)),
        Probe::Setting(_) | Probe::FeatureGate(_) => {
            !matches!(expect, Condition::ModeAtMost(_) | Condition::Owner(_))
        }
    };
    if let Condition::Owner(owner) = expect {
        let valid = owner
            .split_once(':')
            .is_some_and(|(user, group)| !user.is_empty() && !group.is_empty());
        if !valid {
            return Err(format!("owner \"{owner}\" is not user:group"));
        }
    }
    if let Condition::AllIn(allowed) = expect
        && allowed.is_empty()
    {
        return Err("all_in needs at least one allowed element".to_owned());
    }
    if fits {
        Ok(())
    } else {
        Err(format!("condition {expect:?} does not apply to this probe"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_order_numerically_part_by_part() {
        let mut ids = vec!["1.2.10", "1.2.9", "1.10", "1.2", "4.1.1", "1.2.1"];
        ids.sort_by(|a, b| compare_ids(a, b));
        assert_eq!(ids, ["1.2", "1.2.1", "1.2.9", "1.2.10", "1.10", "4.1.1"]);
    }

    #[test]
    fn a_mode_condition_parses_as_octal() {
        let condition: Condition = serde_yaml_ng::with::singleton_map::deserialize(
            serde_yaml_ng::Deserializer::from_str("mode_at_most: \"600\""),
        )
        .unwrap();
        assert_eq!(condition, Condition::ModeAtMost(0o600));
        assert_eq!(crate::values::parse_mode("0644"), Some(0o644));
    }
}
