//! The scan's outputs: the v1 report as JSON, a terminal table, and JUnit XML for CI systems.

pub mod junit;
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
