//! Clusters.

use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::domain::cluster::{ClusterName, Labels};

#[derive(Debug, Clone)]
pub struct ClusterRow {
    pub id: i64,
    pub name: String,
    pub labels: Labels,
    pub created_at: OffsetDateTime,
}

/// Creates a cluster; `None` when one of that name exists.
#[tracing::instrument(skip_all, fields(cluster.name = %name))]
pub async fn create(
    conn: &mut PgConnection,
    name: &ClusterName,
    labels: &Labels,
) -> Result<Option<ClusterRow>, sqlx::Error> {
    let row = sqlx::query!(
        r#"INSERT INTO clusters (name, labels) VALUES ($1, $2)
           ON CONFLICT (name) DO NOTHING
           RETURNING id, name, labels, created_at"#,
        name.as_str(),
        labels.to_json(),
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|row| cluster_row(row.id, row.name, &row.labels, row.created_at)))
}

fn cluster_row(
    id: i64,
    name: String,
    labels: &serde_json::Value,
    created_at: OffsetDateTime,
) -> ClusterRow {
    ClusterRow {
        id,
        name,
        labels: Labels::from_json(labels),
        created_at,
    }
}

#[tracing::instrument(skip_all, fields(cluster.name = %name))]
pub async fn find_by_name(
    conn: &mut PgConnection,
    name: &ClusterName,
) -> Result<Option<ClusterRow>, sqlx::Error> {
    let row = sqlx::query!(
        "SELECT id, name, labels, created_at FROM clusters WHERE name = $1",
        name.as_str()
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|row| cluster_row(row.id, row.name, &row.labels, row.created_at)))
}

/// A cluster with the counts an admin wants in a listing.
#[derive(Debug, Clone)]
pub struct ClusterSummary {
    pub name: String,
    pub labels: Labels,
    pub nodes: i64,
    pub stale_nodes: i64,
    pub active_tokens: i64,
    pub last_seen: Option<OffsetDateTime>,
}

/// Every cluster, by name.
#[tracing::instrument(skip_all)]
pub async fn list(
    conn: &mut PgConnection,
    stale_before: OffsetDateTime,
) -> Result<Vec<ClusterSummary>, sqlx::Error> {
    page(conn, stale_before, "", i64::MAX).await
}

/// Clusters whose name sorts after `after`, at most `limit`.
#[tracing::instrument(skip_all)]
pub async fn page(
    conn: &mut PgConnection,
    stale_before: OffsetDateTime,
    after: &str,
    limit: i64,
) -> Result<Vec<ClusterSummary>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT c.name, c.labels,
                  (SELECT count(*) FROM nodes n WHERE n.cluster_id = c.id) AS "nodes!",
                  (SELECT count(*) FROM nodes n WHERE n.cluster_id = c.id AND n.last_seen < $1) AS "stale_nodes!",
                  (SELECT count(*) FROM agent_tokens t WHERE t.cluster_id = c.id AND t.revoked_at IS NULL) AS "active_tokens!",
                  (SELECT max(n.last_seen) FROM nodes n WHERE n.cluster_id = c.id) AS last_seen
           FROM clusters c
           WHERE c.name > $2
           ORDER BY c.name
           LIMIT $3"#,
        stale_before,
        after,
        limit
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| ClusterSummary {
            name: row.name,
            labels: Labels::from_json(&row.labels),
            nodes: row.nodes,
            stale_nodes: row.stale_nodes,
            active_tokens: row.active_tokens,
            last_seen: row.last_seen,
        })
        .collect())
}
