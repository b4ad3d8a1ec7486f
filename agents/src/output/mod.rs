//! The outputs: reports as JSON, a terminal table, JUnit XML for CI systems, and (for cluster reports) SARIF
//! for code-scanning UIs.

pub mod cluster_junit;
pub mod cluster_table;
pub mod junit;
pub mod sarif;
pub mod table;

use kubeward_benchmark::Status;

/// Counts of results by status, in the wire format's order.
pub fn totals(statuses: impl Iterator<Item = Status>) -> Vec<(Status, usize)> {
    let mut counts = [0usize; Status::ALL.len()];
    for status in statuses {
        if let Some(index) = Status::ALL.iter().position(|known| *known == status) {
            counts[index] += 1;
        }
    }
    Status::ALL.into_iter().zip(counts).collect()
}
