//! Before a cluster scan is stored: the results its agent left to the nodes (`node_facts` in the catalog) are
//! decided from the node agents' reports of the same cluster, as they stood when the cluster scan finished
//! (see `domain::cross_layer`). The decision is stored with the scan, so every page, score, finding and past
//! day reads it like any other result, and re-reading a day never depends on reports that came later.

use kubeward_benchmark::cluster_report::ClusterReport;
use kubeward_benchmark::policy::catalog::PolicyCatalog;
use sqlx::PgConnection;

use crate::domain::cross_layer::{self, NodeFact};
use crate::storage::nodes;

/// A node that has not reported for this long before a cluster scan no longer speaks for the cluster: it is
/// likely gone, and its old settings must not decide today's verdict.
pub const NODE_FACTS_WINDOW: time::Duration = time::Duration::days(7);

/// The report as it is to be stored: `None` when no result waits for a node fact (store it as sent).
pub async fn decided_report(
    conn: &mut PgConnection,
    catalog: &PolicyCatalog,
    cluster_id: i64,
    report: &ClusterReport,
) -> Result<Option<ClusterReport>, sqlx::Error> {
    let checks = cross_layer::fact_checks(catalog);
    let waits = report.results.iter().any(|result| {
        catalog
            .check(&result.check)
            .is_some_and(|check| check.node_facts.is_some())
    });
    if checks.is_empty() || !waits {
        return Ok(None);
    }
    let until = report.finished_at;
    let rows =
        nodes::fact_results(conn, cluster_id, until - NODE_FACTS_WINDOW, until, &checks).await?;
    let facts: Vec<NodeFact> = rows
        .into_iter()
        .map(|row| NodeFact {
            control_plane: row.roles.iter().any(|role| role == "control-plane"),
            observed: observed_of(&row.evidence),
            node: row.node,
            check: row.check_id,
            status: row.status,
        })
        .collect();
    Ok(Some(cross_layer::apply(report, catalog, &facts)))
}

/// The first observed value of a node result's evidence, shortened for a detail line.
fn observed_of(evidence: &serde_json::Value) -> Option<String> {
    let observed = evidence.as_array()?.first()?.get("observed")?.as_str()?;
    let mut text: String = observed.chars().take(200).collect();
    if observed.chars().count() > 200 {
        text.push('…');
    }
    Some(text)
}
