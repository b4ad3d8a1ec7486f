//! Turning a validated report into what storage needs: content digests, counts, and each check's class.

use std::borrow::Cow;
use std::collections::BTreeMap;

use kubeward_benchmark::catalog::Assessment;
use kubeward_benchmark::report::{CheckResult, Report};
use kubeward_benchmark::{Catalog, Check, Status};
use sha2::{Digest, Sha256};

use super::transitions::{Class, classify};
use crate::storage::results::{NewCheckResult, NewResultSet};

/// A report ready for the ingest transaction.
#[derive(Debug, Clone)]
pub struct PreparedReport {
    pub results: Vec<NewCheckResult>,
    pub set: NewResultSet,
    /// Identifies the report's content for idempotency: the same scan id with another hash is a conflict.
    pub content_hash: Vec<u8>,
    pub classes: Vec<(String, Class)>,
}

/// A status's place in the counts kept per set: pass, fail, warn, manual, not_applicable, error.
pub(super) fn status_index(status: Status) -> usize {
    match status {
        Status::Pass => 0,
        Status::Fail => 1,
        Status::Warn => 2,
        Status::Manual => 3,
        Status::NotApplicable => 4,
        Status::Error => 5,
    }
}

/// `1` and `1.2` for `1.2`: the section and the ones above it; a catalog's own section keeps its catalog
/// (`eks-1.8.0/5` and `eks-1.8.0/5.3` for `eks-1.8.0/5.3`).
fn enclosing_sections(section: &str) -> Vec<String> {
    let (prefix, numbered) = match section.rsplit_once('/') {
        Some((catalog, numbered)) => (format!("{catalog}/"), numbered),
        None => (String::new(), section),
    };
    numbered
        .match_indices('.')
        .map(|(end, _)| &numbered[..end])
        .chain(std::iter::once(numbered))
        .map(|part| format!("{prefix}{part}"))
        .collect()
}

/// Digest of one result: its canonical JSON (serde writes fields in declaration order).
fn result_digest(result: &CheckResult) -> Vec<u8> {
    let bytes = serde_json::to_vec(result).unwrap_or_default();
    Sha256::digest(&bytes).to_vec()
}

pub fn prepare(report: &Report, catalog: &Catalog, cluster_id: i64) -> PreparedReport {
    // Each result's check, looked up once.
    let checks: Vec<Option<&Check>> = report
        .results
        .iter()
        .map(|result| catalog.check(&result.check))
        .collect();
    // Node results are stored under their stable keys, so that findings, exceptions and trends continue
    // when a node moves to another benchmark (EKS 3.2.1 is stored as 4.2.1); the benchmark's own id is
    // read back from its catalog when shown. Under the generic benchmark every key is the id itself and
    // the results are used as they came, without a copy.
    let renamed = |(result, check): (&CheckResult, &Option<&Check>)| {
        check.is_some_and(|check| check.key != result.check)
    };
    let keyed: Cow<'_, [CheckResult]> = if report.results.iter().zip(&checks).any(renamed) {
        Cow::Owned(
            report
                .results
                .iter()
                .zip(&checks)
                .map(|(result, check)| CheckResult {
                    check: check.map_or_else(|| result.check.clone(), |check| check.key.clone()),
                    ..result.clone()
                })
                .collect(),
        )
    } else {
        Cow::Borrowed(&report.results)
    };
    let mut results: Vec<NewCheckResult> = keyed
        .iter()
        .map(|result| NewCheckResult {
            digest: result_digest(result),
            check_id: result.check.clone(),
            status: result.status.as_str().to_owned(),
            evidence: serde_json::to_value(&result.evidence).unwrap_or_default(),
            detail: result.detail.clone(),
        })
        .collect();
    // The set does not depend on the order the agent listed its results in.
    results.sort_by(|a, b| a.digest.cmp(&b.digest));

    let mut counts = [0i32; 6];
    let mut sections: BTreeMap<String, [i32; 6]> = BTreeMap::new();
    let mut automated_pass = 0i32;
    let mut section_automated_pass: BTreeMap<String, i32> = BTreeMap::new();
    for (result, check) in report.results.iter().zip(&checks) {
        let index = status_index(result.status);
        counts[index] += 1;
        if let Some(check) = check {
            let automated_passed =
                result.status == Status::Pass && check.assessment == Assessment::Automated;
            automated_pass += i32::from(automated_passed);
            // A check counts in its section and in every section above it (1.2.15 in 1.2 and in 1), by its
            // stable section, so that sections compare like with like across benchmarks.
            for section in enclosing_sections(&check.stable_section) {
                sections.entry(section.clone()).or_default()[index] += 1;
                *section_automated_pass.entry(section).or_default() += i32::from(automated_passed);
            }
        }
    }
    let section_counts = serde_json::Value::Object(
        sections
            .into_iter()
            .map(|(section, counts)| {
                let mut by_status: serde_json::Map<String, serde_json::Value> = Status::ALL
                    .iter()
                    .map(|status| {
                        (
                            status.as_str().to_owned(),
                            counts[status_index(*status)].into(),
                        )
                    })
                    .collect();
                let automated = section_automated_pass.get(&section).copied().unwrap_or(0);
                by_status.insert("automated_pass".to_owned(), automated.into());
                (section, serde_json::Value::Object(by_status))
            })
            .collect(),
    );

    let mut set_hasher = Sha256::new();
    set_hasher.update(report.benchmark.id.as_bytes());
    set_hasher.update([0]);
    set_hasher.update(report.benchmark.version.as_bytes());
    for result in &results {
        set_hasher.update(&result.digest);
    }

    let mut content = Sha256::new();
    content.update(cluster_id.to_be_bytes());
    content.update(serde_json::to_vec(report).unwrap_or_default());
    let content_hash = content.finalize()[..16].to_vec();

    PreparedReport {
        classes: keyed
            .iter()
            .map(|result| (result.check.clone(), classify(result.status)))
            .collect(),
        set: NewResultSet {
            digest: set_hasher.finalize().to_vec(),
            benchmark_id: report.benchmark.id.clone(),
            benchmark_version: report.benchmark.version.clone(),
            counts,
            automated_pass,
            section_counts,
        },
        results,
        content_hash,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_encloses_its_parents_within_its_own_catalog() {
        assert_eq!(enclosing_sections("1.2"), ["1", "1.2"]);
        assert_eq!(enclosing_sections("4"), ["4"]);
        assert_eq!(
            enclosing_sections("eks-1.8.0/5.3"),
            ["eks-1.8.0/5", "eks-1.8.0/5.3"]
        );
    }
}
