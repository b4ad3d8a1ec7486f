//! The outputs: reports as JSON, a terminal table, JUnit XML for CI systems, and (for cluster reports) SARIF
//! for code-scanning UIs.

pub mod cluster_junit;
pub mod cluster_table;
pub mod junit;
pub mod sarif;
pub mod table;

use kubeward_benchmark::Status;
use kubeward_benchmark::report::CheckResult;

/// Counts of results by status, in the wire format's order.
pub fn totals(results: &[CheckResult]) -> Vec<(Status, usize)> {
    Status::ALL
        .into_iter()
        .map(|status| {
            (
                status,
                results
                    .iter()
                    .filter(|result| result.status == status)
                    .count(),
            )
        })
        .collect()
}
