//! The benchmark catalogs the server knows, by the benchmark id and version reports carry.

use std::collections::HashMap;

use kubeward_benchmark::cluster_report::ClusterReport;
use kubeward_benchmark::policy::catalog::{PolicyCatalog, PolicyCheck};
use kubeward_benchmark::report::{BenchmarkRef, Report};
use kubeward_benchmark::{Catalog, CatalogError, ReportError};

/// The catalog whose check ids are the stable keys every other benchmark's checks map onto.
pub const GENERIC_CATALOG: &str = "cis-1.12";

#[derive(Debug)]
pub struct Catalogs {
    by_benchmark: HashMap<(String, String), Catalog>,
    /// One check per stable key, as the server names node checks everywhere (findings, exceptions, trends):
    /// the generic catalog's checks, then those only other benchmarks have, in catalog name order. Each has
    /// its key as `id` and its stable section as `section` (see [`stable_section`]).
    stable: Vec<kubeward_benchmark::catalog::Check>,
    /// The cluster-scope catalogs (CIS section 5, kubeward's hardening checks), which cluster reports follow.
    policies: HashMap<(String, String), PolicyCatalog>,
}

/// A check as pages and the API describe it, from whichever catalog holds it.
#[derive(Debug, Clone, Copy)]
pub struct CheckInfo<'a> {
    pub title: &'a str,
    pub section: &'a str,
    /// CIS profile level; none for kubeward's own checks.
    pub level: Option<u8>,
    pub remediation: &'a str,
}

/// What a check is evaluated on: nodes (node reports) or Kubernetes objects (cluster reports). Exceptions and
/// attestations scope their subjects accordingly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckSubject {
    Nodes,
    Objects,
}

/// A check as governance names it: its id, what it is evaluated on, and whether the benchmark marks it Manual.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedCheck {
    pub id: String,
    pub subject: CheckSubject,
    pub manual: bool,
}

/// A named group of checks: a section of one catalog (`cis-1.12/5.2`, `kubeward-hardening/pod-security`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckGroup {
    pub name: String,
    pub title: String,
    pub subject: CheckSubject,
    /// Its checks, in catalog order.
    pub checks: Vec<String>,
}

/// Whether `section` lies in the group section `group`: itself or one of its subsections.
fn in_section(section: &str, group: &str) -> bool {
    section == group
        || section
            .strip_prefix(group)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// A catalog that cannot be loaded is a defect of the build, reported as the node catalogs' are.
fn policy_error(err: kubeward_benchmark::policy::catalog::PolicyCatalogError) -> CatalogError {
    CatalogError {
        catalog: err.catalog,
        file: "(policy catalog)".to_owned(),
        message: err.message,
    }
}

/// One check per stable key, generic catalog first; see [`Catalogs::stable`].
fn stable_checks(
    all: &HashMap<(String, String), Catalog>,
) -> Vec<kubeward_benchmark::catalog::Check> {
    let mut catalogs: Vec<&Catalog> = all.values().collect();
    catalogs.sort_by_key(|catalog| (catalog.name != GENERIC_CATALOG, catalog.name.clone()));
    let mut seen = std::collections::HashSet::new();
    let mut stable = Vec::new();
    for catalog in catalogs {
        for check in &catalog.checks {
            if seen.insert(check.key.clone()) {
                let mut keyed = check.clone();
                keyed.section = check.stable_section.clone();
                keyed.id = check.key.clone();
                stable.push(keyed);
            }
        }
    }
    stable
}

impl Catalogs {
    /// Every catalog shipped in the binary.
    pub fn builtin() -> Result<Self, CatalogError> {
        let mut by_benchmark = HashMap::new();
        for name in Catalog::builtin_names() {
            let catalog = Catalog::builtin(name)?;
            by_benchmark.insert(
                (
                    catalog.benchmark.id.clone(),
                    catalog.benchmark.version.clone(),
                ),
                catalog,
            );
        }
        let mut policies = HashMap::new();
        for name in PolicyCatalog::builtin_names() {
            let catalog = PolicyCatalog::builtin(name).map_err(policy_error)?;
            policies.insert(
                (
                    catalog.benchmark.id.clone(),
                    catalog.benchmark.version.clone(),
                ),
                catalog,
            );
        }
        let stable = stable_checks(&by_benchmark);
        Ok(Catalogs {
            by_benchmark,
            stable,
            policies,
        })
    }

    /// The stable key of a benchmark's check (`3.2.1` of cis-eks 1.8.0 is `4.2.1`).
    pub fn key_of<'a>(&'a self, benchmark: &BenchmarkRef, check: &'a str) -> &'a str {
        self.get(benchmark)
            .and_then(|catalog| catalog.check(check))
            .map_or(check, |found| found.key.as_str())
    }

    /// The id a benchmark gives the check with this stable key, where it has one.
    pub fn id_in<'a>(&'a self, benchmark: &BenchmarkRef, key: &'a str) -> Option<&'a str> {
        self.get(benchmark)
            .and_then(|catalog| catalog.check_by_key(key))
            .map(|found| found.id.as_str())
    }

    /// The section a benchmark's check counts in for scores and trends: the generic catalog's section when
    /// the check is one of the generic benchmark's (so that a kubelet check counts in 4.2 whichever
    /// benchmark judged it), else its own catalog's section, named `catalog/section`.
    pub fn stable_section(&self, benchmark: &BenchmarkRef, check: &str) -> Option<&str> {
        let catalog = self.get(benchmark)?;
        catalog
            .check(check)
            .map(|found| found.stable_section.as_str())
    }

    /// The titles of the benchmarks the node catalogs judge by, by benchmark id and version.
    pub fn benchmark_title(&self, benchmark: &BenchmarkRef) -> Option<&str> {
        self.get(benchmark).map(|catalog| catalog.title.as_str())
    }

    /// What the catalogs say of a check of a benchmark, node or cluster-scope.
    pub fn describe(&self, benchmark: &BenchmarkRef, check: &str) -> Option<CheckInfo<'_>> {
        let key = (benchmark.id.clone(), benchmark.version.clone());
        // Stored node results carry stable keys; a report's own ids are accepted too.
        if let Some(found) = self
            .by_benchmark
            .get(&key)
            .and_then(|catalog| catalog.check_by_key(check).or_else(|| catalog.check(check)))
        {
            return Some(CheckInfo {
                title: &found.title,
                section: &found.section,
                level: Some(found.level),
                remediation: &found.remediation,
            });
        }
        self.policies
            .get(&key)
            .and_then(|catalog| catalog.check(check))
            .map(|found| CheckInfo {
                title: &found.title,
                section: &found.section,
                level: found.level,
                remediation: &found.remediation,
            })
    }

    /// The benchmark ids of the cluster-scope catalogs: one timeline of cluster scans each.
    pub fn policy_benchmarks(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.policies.keys().map(|(id, _)| id.clone()).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The node checks that any cluster-scope catalog's `node_facts` rules read.
    pub fn policy_fact_checks(&self) -> Vec<String> {
        let mut checks: Vec<String> = self
            .policies
            .values()
            .flat_map(kubeward_benchmark::policy::node_facts::fact_checks)
            .collect();
        checks.sort_unstable();
        checks.dedup();
        checks
    }

    /// A cluster-scope check in any known catalog, with its catalog's title.
    pub fn find_policy_check(&self, check: &str) -> Option<(&PolicyCheck, &str)> {
        self.policies.values().find_map(|catalog| {
            catalog
                .check(check)
                .map(|found| (found, catalog.title.as_str()))
        })
    }

    /// A cluster-scope check of a benchmark.
    pub fn policy_check(&self, benchmark: &BenchmarkRef, check: &str) -> Option<&PolicyCheck> {
        self.policies
            .get(&(benchmark.id.clone(), benchmark.version.clone()))
            .and_then(|catalog| catalog.check(check))
    }

    /// The cluster-scope catalog a cluster report was evaluated against, after checking that every result
    /// names one of its checks.
    pub fn for_cluster_report(
        &self,
        report: &ClusterReport,
    ) -> Result<&PolicyCatalog, ReportError> {
        let benchmark = &report.benchmark;
        let catalog = self
            .policies
            .get(&(benchmark.id.clone(), benchmark.version.clone()))
            .ok_or_else(|| ReportError::Invalid {
                field: "benchmark".to_owned(),
                problem: format!(
                    "no cluster-scope catalog for benchmark {} version {}",
                    benchmark.id, benchmark.version
                ),
            })?;
        for (index, result) in report.results.iter().enumerate() {
            if catalog.check(&result.check).is_none() {
                return Err(ReportError::Invalid {
                    field: format!("results[{index}].check"),
                    problem: format!(
                        "{} {} has no cluster-scope check \"{}\"",
                        benchmark.id, benchmark.version, result.check
                    ),
                });
            }
        }
        Ok(catalog)
    }

    /// A stable section's title: a section of the generic catalog, or `catalog/section` of another.
    pub fn section_title(&self, section: &str) -> Option<&str> {
        let (catalog, section) = section
            .split_once('/')
            .unwrap_or((GENERIC_CATALOG, section));
        self.by_benchmark
            .values()
            .filter(|candidate| candidate.name == catalog)
            .find_map(|found| found.section(section))
            .map(|found| found.title.as_str())
    }

    /// The node check with this stable key (its `id` is the key).
    pub fn find_check(&self, key: &str) -> Option<&kubeward_benchmark::catalog::Check> {
        self.stable.iter().find(|check| check.id == key)
    }

    /// Every node check, once per stable key.
    pub fn all_checks(&self) -> impl Iterator<Item = &kubeward_benchmark::catalog::Check> {
        self.stable.iter()
    }

    /// Every check of the cluster-scope catalogs (a check in several versions appears once per version).
    pub fn policy_checks(&self) -> impl Iterator<Item = &PolicyCheck> {
        self.policies
            .values()
            .flat_map(|catalog| catalog.checks.iter())
    }

    /// A check's title: a node check by its stable key, or a cluster-scope check.
    pub fn check_title(&self, check: &str) -> Option<&str> {
        self.find_check(check)
            .map(|found| found.title.as_str())
            .or_else(|| {
                self.policies
                    .values()
                    .find_map(|catalog| catalog.check(check))
                    .map(|found| found.title.as_str())
            })
    }

    /// A check of any catalog, node or cluster-scope, as governance names it.
    pub fn named_check(&self, check: &str) -> Option<NamedCheck> {
        use kubeward_benchmark::catalog::Assessment;
        if let Some(found) = self.find_check(check) {
            return Some(NamedCheck {
                id: found.id.clone(),
                subject: CheckSubject::Nodes,
                manual: found.assessment == Assessment::Manual,
            });
        }
        self.find_policy_check(check).map(|(found, _)| NamedCheck {
            id: found.id.clone(),
            subject: CheckSubject::Objects,
            manual: found.assessment == Assessment::Manual,
        })
    }

    /// The group `catalog/section`: every check of that section (and its subsections) in the catalogs of that
    /// name. `None` when no such section exists or it holds no check.
    pub fn check_group(&self, name: &str) -> Option<CheckGroup> {
        let (catalog_name, section) = name.split_once('/')?;
        let mut checks: Vec<String> = Vec::new();
        let mut found: Option<(String, CheckSubject)> = None;
        for catalog in self
            .by_benchmark
            .values()
            .filter(|c| c.name == catalog_name)
        {
            if let Some(title) = catalog.section(section) {
                found = Some((title.title.clone(), CheckSubject::Nodes));
                // Node checks are named by their stable keys.
                checks.extend(
                    catalog
                        .checks
                        .iter()
                        .filter(|check| in_section(&check.section, section))
                        .map(|check| check.key.clone()),
                );
            }
        }
        for catalog in self.policies.values().filter(|c| c.name == catalog_name) {
            if let Some(title) = catalog.sections.iter().find(|s| s.id == section) {
                if found
                    .as_ref()
                    .is_some_and(|(_, subject)| *subject == CheckSubject::Nodes)
                {
                    // A section id both catalogs use would mix subjects; the catalogs never do.
                    return None;
                }
                found = Some((title.title.clone(), CheckSubject::Objects));
                checks.extend(
                    catalog
                        .checks
                        .iter()
                        .filter(|check| in_section(&check.section, section))
                        .map(|check| check.id.clone()),
                );
            }
        }
        let (title, subject) = found?;
        let mut seen = std::collections::HashSet::new();
        checks.retain(|check| seen.insert(check.clone()));
        checks.sort_by(|a, b| kubeward_benchmark::catalog::compare_ids(a, b));
        (!checks.is_empty()).then(|| CheckGroup {
            name: name.to_owned(),
            title,
            subject,
            checks,
        })
    }

    /// The cluster-scope checks the benchmark marks Manual (id, title), which auditors attest per cluster.
    pub fn manual_policy_checks(&self) -> impl Iterator<Item = (&str, &str)> {
        self.policy_checks()
            .filter(|check| check.assessment == kubeward_benchmark::catalog::Assessment::Manual)
            .map(|check| (check.id.as_str(), check.title.as_str()))
    }

    /// Every group a person may name, for forms and error messages.
    pub fn group_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .by_benchmark
            .values()
            .flat_map(|c| {
                c.sections
                    .iter()
                    .map(move |s| format!("{}/{}", c.name, s.id))
            })
            .chain(self.policies.values().flat_map(|c| {
                c.sections
                    .iter()
                    .map(move |s| format!("{}/{}", c.name, s.id))
            }))
            .filter(|name| self.check_group(name).is_some())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The kinds the cluster-scope checks read: the kinds an object scope may name.
    pub fn object_kinds(&self) -> std::collections::BTreeSet<&str> {
        self.policy_checks()
            .flat_map(|check| check.reads.iter().map(String::as_str))
            .collect()
    }

    pub fn get(&self, benchmark: &BenchmarkRef) -> Option<&Catalog> {
        self.by_benchmark
            .get(&(benchmark.id.clone(), benchmark.version.clone()))
    }

    /// The catalog a report was scanned against, after checking that every result names one of its checks.
    pub fn for_report(&self, report: &Report) -> Result<&Catalog, ReportError> {
        let catalog = self
            .get(&report.benchmark)
            .ok_or_else(|| ReportError::Invalid {
                field: "benchmark".to_owned(),
                problem: format!(
                    "unknown benchmark {} version {}",
                    report.benchmark.id, report.benchmark.version
                ),
            })?;
        for (index, result) in report.results.iter().enumerate() {
            if catalog.check(&result.check).is_none() {
                return Err(ReportError::Invalid {
                    field: format!("results[{index}].check"),
                    problem: format!(
                        "{} {} has no check \"{}\"",
                        report.benchmark.id, report.benchmark.version, result.check
                    ),
                });
            }
        }
        Ok(catalog)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cluster check decided by node facts must name node checks some node catalog has, or the server
    /// would wait for a fact no node agent ever reports.
    #[test]
    fn every_node_fact_names_a_node_check() -> Result<(), CatalogError> {
        let catalogs = Catalogs::builtin()?;
        let mut rules = 0;
        for check in catalogs.policy_checks() {
            for fact in check.node_facts.iter().flat_map(|rule| &rule.checks) {
                rules += 1;
                assert!(
                    catalogs.find_check(fact).is_some(),
                    "{} names node check {fact}, which no node catalog has",
                    check.id
                );
            }
        }
        assert!(rules >= 3, "the shipped rules are found: {rules}");
        Ok(())
    }
}
