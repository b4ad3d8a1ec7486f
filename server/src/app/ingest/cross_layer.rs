//! Before a cluster scan is stored: the results its agent left to the nodes (`node_facts` in the catalog) are
//! decided from the node agents' reports of the same cluster, as they stood when the cluster scan finished
//! (see `domain::cross_layer`). The decision is stored with the scan, so every page, score, finding and past
//! day reads it like any other result, and re-reading a day never depends on reports that came later.

use kubeward_benchmark::cluster_report::ClusterReport;
use kubeward_benchmark::policy::catalog::{NodeAttribute, PolicyCatalog};
use sqlx::PgConnection;

use crate::storage::nodes;
use kubeward_benchmark::policy::node_facts::{self, NodeFact};

/// A node that has not reported for this long before a cluster scan no longer speaks for the cluster: it is
/// likely gone, and its old settings must not decide today's verdict.
pub const NODE_FACTS_WINDOW: time::Duration = time::Duration::days(7);

/// Decides, in place, the results of `report` that wait for a node fact; `false` when none waits (the report
/// is stored as sent). Deciding in place spares a copy of a report that may list tens of thousands of objects.
pub async fn decide_from_nodes(
    conn: &mut PgConnection,
    catalog: &PolicyCatalog,
    cluster_id: i64,
    report: &mut ClusterReport,
) -> Result<bool, sqlx::Error> {
    let waits = report.results.iter().any(|result| {
        result.status == kubeward_benchmark::Status::Manual
            || result
                .objects
                .iter()
                .any(|object| object.status == kubeward_benchmark::Status::Manual)
    });
    let rules = report
        .results
        .iter()
        .filter_map(|result| catalog.check(&result.check))
        .any(|check| !check.node_facts.is_empty());
    if !waits || !rules {
        return Ok(false);
    }
    let facts = facts_of_nodes(
        conn,
        &node_facts::fact_checks(catalog),
        cluster_id,
        report.finished_at,
    )
    .await?;
    node_facts::apply(report, catalog, &facts);
    Ok(true)
}

/// What the nodes of a cluster said by `until`, within [`NODE_FACTS_WINDOW`]: each node's newest result of
/// each of `checks`, and each node's own facts (its container runtime, its API server's default Pod Security
/// level). Cluster ingest decides from them; the CI context serves them.
pub async fn facts_of_nodes(
    conn: &mut PgConnection,
    checks: &[String],
    cluster_id: i64,
    until: time::OffsetDateTime,
) -> Result<Vec<NodeFact>, sqlx::Error> {
    let since = until - NODE_FACTS_WINDOW;
    let mut facts: Vec<NodeFact> = Vec::new();
    if !checks.is_empty() {
        let rows = nodes::fact_results(conn, cluster_id, since, until, checks).await?;
        facts.extend(rows.into_iter().map(|row| NodeFact {
            control_plane: is_control_plane(&row.roles),
            observed: observed_of(&row.evidence),
            node: row.node,
            check: row.check_id,
            status: row.status,
        }));
    }
    for row in nodes::attributes(conn, cluster_id, since, until).await? {
        let control_plane = is_control_plane(&row.roles);
        if let Some(runtime) = row.container_runtime {
            facts.push(NodeFact {
                node: row.node.clone(),
                control_plane,
                check: NodeAttribute::ContainerRuntime.name().to_owned(),
                status: runtime,
                observed: None,
            });
        }
        if let Some(level) = row.pod_security_enforce {
            facts.push(NodeFact {
                node: row.node,
                control_plane,
                check: NodeAttribute::PodSecurityEnforce.name().to_owned(),
                status: level,
                observed: row.pod_security_source,
            });
        }
    }
    Ok(facts)
}

fn is_control_plane(roles: &[String]) -> bool {
    roles.iter().any(|role| role == "control-plane")
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
