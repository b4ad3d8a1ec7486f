//! The benchmark catalogs the server knows, by the benchmark id and version reports carry.

use std::collections::HashMap;

use kubeward_benchmark::report::{BenchmarkRef, Report};
use kubeward_benchmark::{Catalog, CatalogError, ReportError};

#[derive(Debug)]
pub struct Catalogs {
    by_benchmark: HashMap<(String, String), Catalog>,
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
        Ok(Catalogs { by_benchmark })
    }

    /// A section's title in any known catalog.
    pub fn section_title(&self, section: &str) -> Option<&str> {
        self.by_benchmark.values().find_map(|catalog| {
            catalog
                .sections
                .iter()
                .find(|candidate| candidate.id == section)
                .map(|found| found.title.as_str())
        })
    }

    /// A check in any known catalog.
    pub fn find_check(&self, check: &str) -> Option<&kubeward_benchmark::catalog::Check> {
        self.by_benchmark
            .values()
            .find_map(|catalog| catalog.check(check))
    }

    /// Every check of every known catalog (a check in two catalogs comes twice).
    pub fn all_checks(&self) -> impl Iterator<Item = &kubeward_benchmark::catalog::Check> {
        self.by_benchmark
            .values()
            .flat_map(|catalog| catalog.checks.iter())
    }

    /// A check's title in any known catalog.
    pub fn check_title(&self, check: &str) -> Option<&str> {
        self.by_benchmark
            .values()
            .find_map(|catalog| catalog.check(check))
            .map(|found| found.title.as_str())
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
