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
    /// The catalog whose check logic this one reuses (`cis-1.12` for a distribution's benchmark).
    pub based_on: Option<String>,
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
    /// The stable key that follows a check across benchmarks and versions (the crosswalk): the CIS
    /// Kubernetes v1.12 id for every check of that benchmark and every check of a distribution's benchmark
    /// that reuses one, the catalog's own name for a check of its own (`aks/azure-json-mode`). Findings,
    /// exceptions and trends follow this key, so a node that moves to another benchmark keeps them.
    pub key: String,
    pub section: String,
    /// The section the check counts in across benchmarks: the generic catalog's section of the check it
    /// reuses (EKS 3.2.1 counts in 4.2, like CIS 4.2.1), or `catalog/section` for a check of its own.
    pub stable_section: String,
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
    /// Set when the benchmark makes the check impossible on its distribution (k3s sets
    /// `--hostname-override` itself): the check is `not_applicable` with this reason, whatever the node shows.
    pub skip: Option<String>,
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

/// One YAML file of a catalog: its name and text.
type CatalogFile = (&'static str, &'static str);

macro_rules! catalog_files {
    ($dir:literal: $($file:literal),+ $(,)?) => {
        &[$(($file, include_str!(concat!("../catalog/", $dir, "/", $file)))),+]
    };
}

/// The catalogs shipped in the binary, by name. A distribution's catalog names the catalog it is based on
/// in its header; that one must come first.
const BUILTIN: &[(&str, &[CatalogFile])] = &[
    (
        "cis-1.12",
        catalog_files!("cis-1.12":
            "catalog.yaml",
            "1-control-plane-components.yaml",
            "2-etcd.yaml",
            "3-control-plane-configuration.yaml",
            "4-worker-nodes.yaml",
        ),
    ),
    ("eks-1.8.0", catalog_files!("eks-1.8.0": "catalog.yaml")),
    ("aks-1.8.0", catalog_files!("aks-1.8.0": "catalog.yaml")),
    ("gke-1.9.0", catalog_files!("gke-1.9.0": "catalog.yaml")),
    (
        "k3s-cis-1.12",
        catalog_files!("k3s-cis-1.12": "catalog.yaml"),
    ),
    (
        "rke2-cis-1.12",
        catalog_files!("rke2-cis-1.12": "catalog.yaml"),
    ),
    (
        "openshift-1.8.0",
        catalog_files!("openshift-1.8.0": "catalog.yaml"),
    ),
];

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
        let mut header: Option<RawHeader> = None;
        let mut sections: Vec<Section> = Vec::new();
        let mut checks: Vec<Check> = Vec::new();
        let mut raw_checks: Vec<(&str, RawCheck)> = Vec::new();
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
                header = Some(benchmark);
            }
            sections.extend(raw.sections);
            raw_checks.extend(raw.checks.into_iter().map(|check| (*file, check)));
        }
        let header =
            header.ok_or_else(|| error("", "no file has a `benchmark:` header".to_owned()))?;
        let benchmark = BenchmarkRef {
            id: header.id,
            version: header.version,
        };
        let (title, based_on) = (header.title, header.based_on);
        let base = match &based_on {
            Some(base) if base == name => {
                return Err(error("", "a catalog cannot be based on itself".to_owned()));
            }
            Some(base) => Some(
                Catalog::builtin(base)
                    .map_err(|err| error("", format!("based_on {base}: {}", err.message)))?,
            ),
            None => None,
        };
        for (index, (file, raw_check)) in raw_checks.into_iter().enumerate() {
            let id = raw_check.id.clone();
            let check = raw_check
                .into_check(name, base.as_ref())
                .map_err(|message| error(file, format!("checks[{index}] ({id}): {message}")))?;
            checks.push(check);
        }
        if header.inherit_unlisted {
            let base = base.as_ref().ok_or_else(|| {
                error(
                    "",
                    "inherit_unlisted needs the catalog to be based_on another".to_owned(),
                )
            })?;
            for section in &base.sections {
                if !sections.iter().any(|own| own.id == section.id) {
                    sections.push(section.clone());
                }
            }
            for check in &base.checks {
                if !checks.iter().any(|own| own.id == check.id) {
                    checks.push(check.clone());
                }
            }
        }
        validate_catalog(&sections, &checks).map_err(|message| error("", message))?;
        checks.sort_by(|a, b| compare_ids(&a.id, &b.id));
        sections.sort_by(|a, b| compare_ids(&a.id, &b.id));
        Ok(Catalog {
            name: name.to_owned(),
            benchmark,
            title,
            based_on,
            sections,
            checks,
        })
    }

    pub fn check(&self, id: &str) -> Option<&Check> {
        self.checks.iter().find(|check| check.id == id)
    }

    /// The check with this stable key, if this benchmark has it.
    pub fn check_by_key(&self, key: &str) -> Option<&Check> {
        self.checks.iter().find(|check| check.key == key)
    }

    /// The builtin catalog whose benchmark is this one, by the id and version a report carries.
    pub fn builtin_for(benchmark: &BenchmarkRef) -> Option<Catalog> {
        Catalog::builtin_names()
            .filter_map(|name| Catalog::builtin(name).ok())
            .find(|catalog| &catalog.benchmark == benchmark)
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
    let mut keys = BTreeSet::new();
    for check in checks {
        if !check_ids.insert(check.id.as_str()) {
            return Err(format!("check {} is defined twice", check.id));
        }
        if !keys.insert(check.key.as_str()) {
            return Err(format!(
                "check {} has the key {}, which another check already has",
                check.id, check.key
            ));
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
    #[serde(default)]
    based_on: Option<String>,
    /// Every check (and section) of the base catalog that this one does not restate applies as it is:
    /// for benchmarks that keep the base's numbering (the k3s and RKE2 guides).
    #[serde(default)]
    inherit_unlisted: bool,
}

/// A check as written. A check of a catalog `based_on` another may name the base check it reuses
/// (`from:`) and restate only what its benchmark changes: its id, section, title, assessment, the expected
/// condition or the file set, or a skip.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    id: String,
    section: String,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    level: Option<u8>,
    #[serde(default)]
    assessment: Option<Assessment>,
    #[serde(default)]
    applies_to: Option<Component>,
    #[serde(default)]
    test: Option<RawTest>,
    /// Replaces the condition of the base check's single probe (`mode_at_most: "644"` on a managed worker).
    #[serde(default, with = "serde_yaml_ng::with::singleton_map")]
    expect: Option<Condition>,
    /// Replaces the file set of the base check's file probe.
    #[serde(default)]
    files: Option<FileSet>,
    #[serde(default)]
    guidance: Option<String>,
    #[serde(default)]
    remediation: Option<String>,
    #[serde(default)]
    skip: Option<String>,
}

/// A stable key: letters, digits and `.-/_`, as the crosswalk and the server store it.
fn is_stable_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 64
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '/' | '_'))
}

impl RawCheck {
    fn into_check(self, catalog: &str, base: Option<&Catalog>) -> Result<Check, String> {
        if !is_check_id(&self.id) {
            return Err("the id is not a dotted number".to_owned());
        }
        if !(self.id.starts_with(&format!("{}.", self.section)) || self.id == self.section) {
            return Err(format!(
                "the id does not belong to section {}",
                self.section
            ));
        }
        let inherited = match (&self.from, base) {
            (Some(from), Some(base)) => Some(
                base.check(from)
                    .ok_or_else(|| format!("from {from}: {} has no such check", base.name))?
                    .clone(),
            ),
            (Some(_), None) => {
                return Err("`from` needs the catalog to be based_on another".to_owned());
            }
            (None, _) => None,
        };
        let stable_section = match &inherited {
            Some(inherited) => inherited.stable_section.clone(),
            None if base.is_none() => self.section.clone(),
            None => format!("{catalog}/{}", self.section),
        };
        let key = match (&self.key, &inherited) {
            (Some(key), _) => key.clone(),
            (None, Some(inherited)) => inherited.key.clone(),
            // The CIS Kubernetes catalog's own ids are the keys every other benchmark maps onto.
            (None, None) if base.is_none() => self.id.clone(),
            (None, None) => {
                return Err(format!(
                    "a check of its own needs a stable `key` (such as {catalog}/{})",
                    self.id
                ));
            }
        };
        if !is_stable_key(&key) {
            return Err(format!("key \"{key}\" is not a stable key"));
        }
        let required = |field: &str| format!("missing field `{field}`");
        let title = self
            .title
            .or_else(|| inherited.as_ref().map(|check| check.title.clone()))
            .ok_or_else(|| required("title"))?;
        let level = self
            .level
            .or_else(|| inherited.as_ref().map(|check| check.level))
            .ok_or_else(|| required("level"))?;
        let assessment = self
            .assessment
            .or_else(|| inherited.as_ref().map(|check| check.assessment))
            .ok_or_else(|| required("assessment"))?;
        let applies_to = self
            .applies_to
            .or_else(|| inherited.as_ref().map(|check| check.applies_to))
            .ok_or_else(|| required("applies_to"))?;
        let remediation = self
            .remediation
            .or_else(|| inherited.as_ref().map(|check| check.remediation.clone()))
            .ok_or_else(|| required("remediation"))?;
        let guidance = self
            .guidance
            .or_else(|| inherited.as_ref().and_then(|check| check.guidance.clone()));
        let mut test = match self.test.map(RawTest::into_test).transpose()? {
            Some(test) => Some(test),
            None => inherited.and_then(|check| check.test),
        };
        if self.expect.is_some() || self.files.is_some() {
            let Some(Test::Probe { probe, expect }) = &mut test else {
                return Err(
                    "`expect` and `files` replace parts of a single probe; the check has none"
                        .to_owned(),
                );
            };
            if let Some(files) = self.files {
                match probe {
                    Probe::Files(set) => *set = files,
                    _ => return Err("`files` replaces the file set of a file probe".to_owned()),
                }
            }
            if let Some(condition) = self.expect {
                *expect = condition;
            }
            check_condition_fits(probe, expect)?;
        }
        if title.trim().is_empty() {
            return Err("the title is empty".to_owned());
        }
        if remediation.trim().is_empty() {
            return Err("the remediation is empty".to_owned());
        }
        if !(1..=2).contains(&level) {
            return Err(format!("level {level} is not 1 or 2"));
        }
        let skip = self.skip.map(|reason| reason.trim().to_owned());
        if skip.as_deref().is_some_and(str::is_empty) {
            return Err("a skip needs its reason".to_owned());
        }
        match (assessment, &test, &guidance, &skip) {
            (_, _, _, Some(_)) => {}
            (Assessment::Automated, None, _, None) => {
                return Err("an Automated check needs a test".to_owned());
            }
            (Assessment::Manual, None, None, None) => {
                return Err("a Manual check without a test needs guidance".to_owned());
            }
            _ => {}
        }
        if let Some(test) = &test {
            check_components(test, applies_to)?;
        }
        Ok(Check {
            id: self.id,
            key,
            section: self.section,
            stable_section,
            title: title.trim().to_owned(),
            level,
            assessment,
            applies_to,
            test,
            guidance: guidance.map(|text| text.trim().to_owned()),
            remediation: remediation.trim().to_owned(),
            skip,
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
