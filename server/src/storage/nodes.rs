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
    /// The report's platform fingerprint, as JSON; kept on the node, not in the per-scan attribute sets
    /// (its signals name process ids, which would make every node's set distinct).
    pub platform: Option<&'a serde_json::Value>,
    /// The benchmark the scan was judged by: id and version.
    pub benchmark: (&'a str, &'a str),
}

impl NodeSeen<'_> {
    /// The content address of what the scan says of the node (see the node_attributes_per_scan migration).
    fn digest(&self) -> Vec<u8> {
        use sha2::{Digest, Sha256};
        let (enforce, source) = self.pod_security.unzip();
        let canonical = serde_json::json!([self.roles, self.container_runtime, enforce, source]);
        Sha256::digest(canonical.to_string().as_bytes()).to_vec()
    }
}

/// A registered node, and the stored set of what its scan said of it.
#[derive(Debug, Clone, Copy)]
pub struct Registered {
    pub node_id: i64,
    pub attributes_id: i64,
}

/// Registers a node or refreshes it from a scan, and stores what the scan says of the node (once per distinct
/// content). Roles, kubelet version, runtime and Pod Security defaults on the node come from the newest scan;
/// first and last seen follow the scans' `finished_at`, so a late scan can only widen them. The row stays
/// locked until the transaction ends, which serialises the ingests of one node.
#[tracing::instrument(skip_all, fields(cluster.id = cluster_id, node.name = name))]
pub async fn upsert(
    conn: &mut PgConnection,
    known: &KnownAttributeSets,
    cluster_id: i64,
    name: &str,
    seen: NodeSeen<'_>,
    finished_at: OffsetDateTime,
) -> Result<Registered, sqlx::Error> {
    let attributes_id = attribute_set(conn, known, &seen).await?;
    let node_id = sqlx::query_scalar!(
        r#"INSERT INTO nodes (cluster_id, name, roles, kubelet_version, first_seen, last_seen, last_received_at,
                              container_runtime, pod_security_enforce, pod_security_source, platform,
                              benchmark_id, benchmark_version)
           VALUES ($1, $2, $3, $4, $5, $5, now(), $6, $7, $8, $9, $10, $11)
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
               platform = CASE WHEN excluded.last_seen >= nodes.last_seen
                               THEN excluded.platform ELSE nodes.platform END,
               benchmark_id = CASE WHEN excluded.last_seen >= nodes.last_seen
                                   THEN excluded.benchmark_id ELSE nodes.benchmark_id END,
               benchmark_version = CASE WHEN excluded.last_seen >= nodes.last_seen
                                        THEN excluded.benchmark_version ELSE nodes.benchmark_version END,
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
        seen.pod_security.map(|(_, source)| source),
        seen.platform,
        seen.benchmark.0,
        seen.benchmark.1
    )
    .fetch_one(conn)
    .await?;
    Ok(Registered {
        node_id,
        attributes_id,
    })
}

/// Ids of attribute sets seen committed in one database, by digest. A fleet has a handful of distinct sets
/// (most nodes of a cluster share one), so nearly every node scan finds its set here and pays no query for
/// it. Only ids read back as already stored are kept: a set added by a transaction that may still roll back
/// is not. Sets are never deleted, so a kept id stays valid. One per database: ids mean nothing in another.
#[derive(Debug, Default)]
pub struct KnownAttributeSets(std::sync::Mutex<std::collections::HashMap<Vec<u8>, i64>>);

/// Past this many distinct sets the memo is emptied and refills from what arrives.
const KNOWN_ATTRIBUTE_SETS_AT_MOST: usize = 10_000;

impl KnownAttributeSets {
    fn get(&self, digest: &[u8]) -> Option<i64> {
        self.0
            .lock()
            .ok()
            .and_then(|known| known.get(digest).copied())
    }

    fn keep(&self, digest: Vec<u8>, id: i64) {
        if let Ok(mut known) = self.0.lock() {
            if known.len() >= KNOWN_ATTRIBUTE_SETS_AT_MOST {
                known.clear();
            }
            known.insert(digest, id);
        }
    }
}

/// The id of the stored set of what a scan says of its node, stored now if new.
async fn attribute_set(
    conn: &mut PgConnection,
    known: &KnownAttributeSets,
    seen: &NodeSeen<'_>,
) -> Result<i64, sqlx::Error> {
    let digest = seen.digest();
    if let Some(id) = known.get(&digest) {
        return Ok(id);
    }
    // One round trip: found, or added.
    let row = sqlx::query!(
        r#"WITH found AS (
               SELECT id FROM node_attribute_sets WHERE digest = $1
           ),
           added AS (
               INSERT INTO node_attribute_sets (digest, roles, container_runtime, pod_security_enforce,
                                                pod_security_source)
               SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS (SELECT 1 FROM found)
               ON CONFLICT (digest) DO NOTHING
               RETURNING id
           )
           SELECT (SELECT id FROM found) AS found, (SELECT id FROM added) AS added"#,
        &digest,
        seen.roles,
        seen.container_runtime,
        seen.pod_security.map(|(level, _)| level),
        seen.pod_security.map(|(_, source)| source)
    )
    .fetch_one(&mut *conn)
    .await?;
    let committed = match (row.found, row.added) {
        (Some(id), _) => id,
        (None, Some(id)) => return Ok(id),
        // Another ingest added the same set while this statement ran: its snapshot could not see that row,
        // the next statement's does.
        (None, None) => {
            sqlx::query_scalar!(
                "SELECT id FROM node_attribute_sets WHERE digest = $1",
                &digest
            )
            .fetch_one(&mut *conn)
            .await?
        }
    };
    known.keep(digest, committed);
    Ok(committed)
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
        r#"SELECT n.name AS node,
                  -- The roles the scan reported; scans stored before they were kept per scan have the node's.
                  coalesce(a.roles, n.roles) AS "roles!", r.check_id, r.status, r.evidence
           FROM nodes n
           CROSS JOIN LATERAL (
               SELECT s.result_set_id, s.attributes_id FROM scans s
               WHERE s.node_id = n.id AND s.finished_at > $2 AND s.finished_at <= $3
               ORDER BY s.finished_at DESC, s.scan_id DESC
               LIMIT 1
           ) l
           LEFT JOIN node_attribute_sets a ON a.id = l.attributes_id
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

/// A node's own facts, as its newest scan in a period said them.
#[derive(Debug, Clone)]
pub struct AttributeRow {
    pub node: String,
    pub roles: Vec<String>,
    pub container_runtime: Option<String>,
    pub pod_security_enforce: Option<String>,
    pub pod_security_source: Option<String>,
}

/// The own facts of each node of a cluster as its newest scan that finished in `(since, until]` said them: a
/// cluster scan of `until` is decided by the nodes as they were then, however late it arrives.
#[tracing::instrument(skip_all, fields(cluster.id = cluster_id))]
pub async fn attributes(
    conn: &mut PgConnection,
    cluster_id: i64,
    since: OffsetDateTime,
    until: OffsetDateTime,
) -> Result<Vec<AttributeRow>, sqlx::Error> {
    // Scans stored before the facts were kept per scan have none: the node's newest values stand in.
    sqlx::query_as!(
        AttributeRow,
        r#"SELECT n.name AS node,
                  CASE WHEN l.attributes_id IS NULL THEN n.roles ELSE a.roles END AS "roles!",
                  CASE WHEN l.attributes_id IS NULL THEN n.container_runtime ELSE a.container_runtime END
                      AS container_runtime,
                  CASE WHEN l.attributes_id IS NULL THEN n.pod_security_enforce ELSE a.pod_security_enforce END
                      AS pod_security_enforce,
                  CASE WHEN l.attributes_id IS NULL THEN n.pod_security_source ELSE a.pod_security_source END
                      AS pod_security_source
           FROM nodes n
           CROSS JOIN LATERAL (
               SELECT s.attributes_id FROM scans s
               WHERE s.node_id = n.id AND s.finished_at > $2 AND s.finished_at <= $3
               ORDER BY s.finished_at DESC, s.scan_id DESC
               LIMIT 1
           ) l
           LEFT JOIN node_attribute_sets a ON a.id = l.attributes_id
           WHERE n.cluster_id = $1
           ORDER BY n.name"#,
        cluster_id,
        since,
        until
    )
    .fetch_all(conn)
    .await
}

/// The platform fingerprint a node reported last; `None` when its agent sent none.
pub async fn platform(
    conn: &mut PgConnection,
    node_id: i64,
) -> Result<Option<serde_json::Value>, sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT platform FROM nodes WHERE id = $1"#, node_id)
        .fetch_optional(conn)
        .await
        .map(Option::flatten)
}

/// How many nodes each benchmark judged in their newest scans, the most used first.
pub async fn benchmarks_in_use(
    conn: &mut PgConnection,
) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT benchmark_id AS "id!", benchmark_version AS "version!", count(*) AS "nodes!"
           FROM nodes WHERE benchmark_id IS NOT NULL AND benchmark_version IS NOT NULL
           GROUP BY benchmark_id, benchmark_version
           ORDER BY count(*) DESC, benchmark_id, benchmark_version"#
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.id, row.version, row.nodes))
        .collect())
}
