//! The node registry.

use sqlx::PgConnection;
use time::OffsetDateTime;

/// What a node scan says of the node itself.
#[derive(Debug, Clone, Copy)]
pub struct NodeSeen<'a> {
    pub roles: &'a [String],
    pub kubelet_version: Option<&'a str>,
    pub container_runtime: Option<&'a str>,
    /// The Pod Security level enforced on namespaces without a label, and where it comes from.
    pub pod_security: Option<(&'a str, &'a str)>,
}

/// Registers a node or refreshes it from a scan. Roles, kubelet version, runtime and Pod Security defaults
/// come from the newest scan; first and last seen follow the scans' `finished_at`, so a late scan can only
/// widen them. The row stays locked until the transaction ends, which serialises the ingests of one node.
#[tracing::instrument(skip_all, fields(cluster.id = cluster_id, node.name = name))]
pub async fn upsert(
    conn: &mut PgConnection,
    cluster_id: i64,
    name: &str,
    seen: NodeSeen<'_>,
    finished_at: OffsetDateTime,
) -> Result<i64, sqlx::Error> {
    let row = sqlx::query!(
        r#"INSERT INTO nodes (cluster_id, name, roles, kubelet_version, first_seen, last_seen, last_received_at,
                              container_runtime, pod_security_enforce, pod_security_source)
           VALUES ($1, $2, $3, $4, $5, $5, now(), $6, $7, $8)
           ON CONFLICT (cluster_id, name) DO UPDATE SET
               roles = CASE WHEN excluded.last_seen >= nodes.last_seen THEN excluded.roles ELSE nodes.roles END,
               kubelet_version = CASE WHEN excluded.last_seen >= nodes.last_seen
                                      THEN excluded.kubelet_version ELSE nodes.kubelet_version END,
               container_runtime = CASE WHEN excluded.last_seen >= nodes.last_seen
                                        THEN excluded.container_runtime ELSE nodes.container_runtime END,
               pod_security_enforce = CASE WHEN excluded.last_seen >= nodes.last_seen
                                           THEN excluded.pod_security_enforce ELSE nodes.pod_security_enforce END,
               pod_security_source = CASE WHEN excluded.last_seen >= nodes.last_seen
                                          THEN excluded.pod_security_source ELSE nodes.pod_security_source END,
               first_seen = least(nodes.first_seen, excluded.first_seen),
               last_seen = greatest(nodes.last_seen, excluded.last_seen),
               last_received_at = now()
           RETURNING id"#,
        cluster_id,
        name,
        seen.roles,
        seen.kubelet_version,
        finished_at,
        seen.container_runtime,
        seen.pod_security.map(|(level, _)| level),
        seen.pod_security.map(|(_, source)| source)
    )
    .fetch_one(conn)
    .await?;
    Ok(row.id)
}

#[derive(Debug, Clone)]
pub struct NodeRow {
    pub id: i64,
    pub cluster: String,
    pub name: String,
    pub roles: Vec<String>,
    pub kubelet_version: Option<String>,
    pub first_seen: OffsetDateTime,
    pub last_seen: OffsetDateTime,
    pub last_received_at: OffsetDateTime,
}

impl NodeRow {
    /// A node is stale when its newest scan is older than `stale_before`.
    pub fn is_stale(&self, stale_before: OffsetDateTime) -> bool {
        self.last_seen < stale_before
    }
}

/// Every node (of one cluster, if given), by cluster and name.
#[tracing::instrument(skip_all)]
pub async fn list(
    conn: &mut PgConnection,
    cluster: Option<&str>,
) -> Result<Vec<NodeRow>, sqlx::Error> {
    let mut rows = page(conn, cluster, 0, i64::MAX).await?;
    rows.sort_by(|a, b| (&a.cluster, &a.name).cmp(&(&b.cluster, &b.name)));
    Ok(rows)
}

/// Nodes after the cursor `after` (an id), in id order, at most `limit`.
#[tracing::instrument(skip_all)]
pub async fn page(
    conn: &mut PgConnection,
    cluster: Option<&str>,
    after: i64,
    limit: i64,
) -> Result<Vec<NodeRow>, sqlx::Error> {
    sqlx::query_as!(
        NodeRow,
        r#"SELECT n.id, c.name AS cluster, n.name, n.roles, n.kubelet_version, n.first_seen, n.last_seen,
                  n.last_received_at
           FROM nodes n JOIN clusters c ON c.id = n.cluster_id
           WHERE ($1::text IS NULL OR c.name = $1) AND n.id > $2
           ORDER BY n.id
           LIMIT $3"#,
        cluster,
        after,
        limit
    )
    .fetch_all(conn)
    .await
}

/// Nodes as they stood at `at`: only those seen by then, with the newest scan finished by then as last seen.
/// Roles and kubelet version are today's.
#[tracing::instrument(skip_all)]
pub async fn page_as_of(
    conn: &mut PgConnection,
    cluster: Option<&str>,
    at: OffsetDateTime,
    after: i64,
    limit: i64,
) -> Result<Vec<NodeRow>, sqlx::Error> {
    sqlx::query_as!(
        NodeRow,
        r#"SELECT n.id, c.name AS cluster, n.name, n.roles, n.kubelet_version, n.first_seen,
                  seen.finished_at AS "last_seen!", n.last_received_at
           FROM nodes n
           JOIN clusters c ON c.id = n.cluster_id
           CROSS JOIN LATERAL (
               SELECT s.finished_at FROM scans s
               WHERE s.node_id = n.id AND s.finished_at <= $4
               ORDER BY s.finished_at DESC
               LIMIT 1
           ) seen
           WHERE ($1::text IS NULL OR c.name = $1) AND n.id > $2
           ORDER BY n.id
           LIMIT $3"#,
        cluster,
        after,
        limit,
        at
    )
    .fetch_all(conn)
    .await
}

/// The cluster and name of each node id given: `(node id, cluster, node)`.
#[tracing::instrument(skip_all)]
pub async fn names(
    conn: &mut PgConnection,
    ids: &[i64],
) -> Result<Vec<(i64, String, String)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT n.id, c.name AS cluster, n.name FROM nodes n JOIN clusters c ON c.id = n.cluster_id
           WHERE n.id = ANY($1) ORDER BY c.name, n.name"#,
        ids
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.id, row.cluster, row.name))
        .collect())
}

/// One node check's result on a node of a cluster, from the node's newest scan in a window.
#[derive(Debug, Clone)]
pub struct FactRow {
    pub node: String,
    pub roles: Vec<String>,
    pub check_id: String,
    pub status: String,
    pub evidence: serde_json::Value,
}

/// The results of `checks` in the newest scan of each node of a cluster that finished in `(since, until]`:
/// what the node layer says when a cluster scan of `until` is decided.
#[tracing::instrument(skip_all, fields(cluster.id = cluster_id))]
pub async fn fact_results(
    conn: &mut PgConnection,
    cluster_id: i64,
    since: OffsetDateTime,
    until: OffsetDateTime,
    checks: &[String],
) -> Result<Vec<FactRow>, sqlx::Error> {
    sqlx::query_as!(
        FactRow,
        r#"SELECT n.name AS node, n.roles, r.check_id, r.status, r.evidence
           FROM nodes n
           CROSS JOIN LATERAL (
               SELECT s.result_set_id FROM scans s
               WHERE s.node_id = n.id AND s.finished_at > $2 AND s.finished_at <= $3
               ORDER BY s.finished_at DESC, s.scan_id DESC
               LIMIT 1
           ) l
           JOIN result_sets rs ON rs.id = l.result_set_id
           CROSS JOIN LATERAL unnest(rs.result_ids) AS u(result_id)
           JOIN check_results r ON r.id = u.result_id
           WHERE n.cluster_id = $1 AND r.check_id = ANY($4)
           ORDER BY n.name, r.check_id"#,
        cluster_id,
        since,
        until,
        checks
    )
    .fetch_all(conn)
    .await
}

/// A node's own facts, from its newest scan.
#[derive(Debug, Clone)]
pub struct AttributeRow {
    pub node: String,
    pub roles: Vec<String>,
    pub container_runtime: Option<String>,
    pub pod_security_enforce: Option<String>,
    pub pod_security_source: Option<String>,
}

/// The own facts (newest values) of each node of a cluster that reported after `since` and existed by `until`.
#[tracing::instrument(skip_all, fields(cluster.id = cluster_id))]
pub async fn attributes(
    conn: &mut PgConnection,
    cluster_id: i64,
    since: OffsetDateTime,
    until: OffsetDateTime,
) -> Result<Vec<AttributeRow>, sqlx::Error> {
    // A node first seen after `until` did not exist yet and does not speak for that moment.
    sqlx::query_as!(
        AttributeRow,
        r#"SELECT name AS node, roles, container_runtime, pod_security_enforce, pod_security_source
           FROM nodes WHERE cluster_id = $1 AND last_seen > $2 AND first_seen <= $3
           ORDER BY name"#,
        cluster_id,
        since,
        until
    )
    .fetch_all(conn)
    .await
}
