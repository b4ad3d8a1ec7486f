//! What governance lays over the scanned results at a moment: failing results an exception waived, and manual
//! results an attestation answered. Both are read from each node's scan at that moment (its newest now, or its
//! last of that day or before) and the exceptions and attestations in force then; nothing is precomputed, so
//! a past date shows exactly what was in force on it.

use sqlx::{Connection, PgConnection};
use time::OffsetDateTime;

/// A failing result covered by an exception.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waived {
    pub cluster_id: i64,
    pub node_id: i64,
    pub check_id: String,
    /// `fail` or `warn`.
    pub status: String,
    /// The exception in force that ends last (lowest id on a tie).
    pub exception_id: i64,
    pub expires_at: OffsetDateTime,
}

/// A manual result answered by an attestation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attested {
    pub cluster_id: i64,
    pub node_id: i64,
    pub check_id: String,
    /// The attestation valid then that was recorded last.
    pub attestation_id: i64,
    pub verdict: String,
    pub attested_by: String,
    pub attested_at: OffsetDateTime,
    pub valid_until: OffsetDateTime,
}

/// Where to look: every node, one cluster's, or one node.
#[derive(Debug, Clone, Copy, Default)]
pub struct Within {
    pub cluster_id: Option<i64>,
    pub node_id: Option<i64>,
}

/// Plans the next statements for their actual parameters. These queries branch on "now or a past day" and on
/// the scope: a generic plan, which PostgreSQL switches to after a few executions of a prepared statement,
/// cannot prune the branch not taken and was measured at 20 times the custom plan's time.
async fn custom_plans(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query!("SET LOCAL plan_cache_mode = force_custom_plan")
        .execute(conn)
        .await?;
    Ok(())
}

/// Failing results waived at `at`. `now` reads each node's newest scan from its row.
///
/// Shaped for a fleet of thousands of nodes: each node's result set at the moment is found once, the failing
/// results of the exceptions' checks once per distinct result set (nodes share result sets), and only the
/// (node, failing check) pairs meet the exceptions' scopes.
#[tracing::instrument(skip_all)]
pub async fn waived(
    conn: &mut PgConnection,
    at: OffsetDateTime,
    now: bool,
    within: Within,
) -> Result<Vec<Waived>, sqlx::Error> {
    let mut tx = conn.begin().await?;
    custom_plans(&mut tx).await?;
    let rows = sqlx::query_as!(
        Waived,
        r#"WITH in_force AS MATERIALIZED (
               -- One row per check an exception covers; only node scopes (an object scope waives no node).
               SELECT e.id, covered.check_id, e.cluster_id, e.node_like, e.expires_at
               FROM exceptions e CROSS JOIN LATERAL unnest(e.check_ids) AS covered(check_id)
               WHERE exception_in_force(e.state, e.decided_at, e.revoked_at, e.expires_at, $1)
                 AND e.namespace IS NULL AND e.object_kind IS NULL AND e.object_like IS NULL
           ), node_sets AS MATERIALIZED (
               SELECT n.id AS node_id, n.cluster_id, n.name,
                      coalesce(on_day.result_set_id, last.result_set_id) AS result_set_id
               FROM nodes n
               -- As of a past day, most nodes have a row for that very day: read them all at once.
               LEFT JOIN node_days on_day ON NOT $2 AND on_day.day = $3 AND on_day.node_id = n.id
               LEFT JOIN LATERAL (
                   SELECT n.last_result_set_id AS result_set_id WHERE $2
                   UNION ALL
                   (SELECT d.result_set_id FROM node_days d
                    WHERE NOT $2 AND on_day.node_id IS NULL AND d.node_id = n.id AND d.day < $3
                    ORDER BY d.day DESC LIMIT 1)
               ) last ON true
               WHERE EXISTS (SELECT 1 FROM in_force)
                 AND ($4::bigint IS NULL OR n.cluster_id = $4)
                 AND ($5::bigint IS NULL OR n.id = $5)
           ), failing AS MATERIALIZED (
               SELECT sets.result_set_id, r.check_id, r.status
               FROM (SELECT DISTINCT result_set_id FROM node_sets WHERE result_set_id IS NOT NULL) sets
               JOIN result_sets rs ON rs.id = sets.result_set_id
               CROSS JOIN LATERAL jsonb_each_text(rs.result_map) entry
               JOIN check_results r ON r.id = entry.value::bigint
               WHERE entry.key IN (SELECT check_id FROM in_force) AND r.status IN ('fail', 'warn')
           )
           SELECT DISTINCT ON (ns.node_id, f.check_id)
                  ns.cluster_id AS "cluster_id!", ns.node_id AS "node_id!", f.check_id AS "check_id!",
                  f.status AS "status!", e.id AS "exception_id!", e.expires_at AS "expires_at!"
           FROM node_sets ns
           JOIN failing f ON f.result_set_id = ns.result_set_id
           JOIN in_force e ON e.check_id = f.check_id
                          AND scope_covers(e.cluster_id, e.node_like, ns.cluster_id, ns.name)
           ORDER BY ns.node_id, f.check_id, e.expires_at DESC, e.id"#,
        at,
        now,
        at.date(),
        within.cluster_id,
        within.node_id
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows)
}

/// Manual results answered by an attestation valid at `at` (the same shape as [`waived`]).
#[tracing::instrument(skip_all)]
pub async fn attested(
    conn: &mut PgConnection,
    at: OffsetDateTime,
    now: bool,
    within: Within,
) -> Result<Vec<Attested>, sqlx::Error> {
    let mut tx = conn.begin().await?;
    custom_plans(&mut tx).await?;
    let rows = sqlx::query_as!(
        Attested,
        r#"WITH valid AS MATERIALIZED (
               SELECT a.id, a.check_id, a.cluster_id, a.node_like, a.verdict, a.attested_by, a.attested_at,
                      a.valid_until
               FROM attestations a
               WHERE attestation_valid(a.valid_from, a.valid_until, a.revoked_at, $1)
           ), node_sets AS MATERIALIZED (
               SELECT n.id AS node_id, n.cluster_id, n.name,
                      coalesce(on_day.result_set_id, last.result_set_id) AS result_set_id
               FROM nodes n
               LEFT JOIN node_days on_day ON NOT $2 AND on_day.day = $3 AND on_day.node_id = n.id
               LEFT JOIN LATERAL (
                   SELECT n.last_result_set_id AS result_set_id WHERE $2
                   UNION ALL
                   (SELECT d.result_set_id FROM node_days d
                    WHERE NOT $2 AND on_day.node_id IS NULL AND d.node_id = n.id AND d.day < $3
                    ORDER BY d.day DESC LIMIT 1)
               ) last ON true
               WHERE EXISTS (SELECT 1 FROM valid)
                 AND ($4::bigint IS NULL OR n.cluster_id = $4)
                 AND ($5::bigint IS NULL OR n.id = $5)
           ), manual AS MATERIALIZED (
               SELECT sets.result_set_id, r.check_id
               FROM (SELECT DISTINCT result_set_id FROM node_sets WHERE result_set_id IS NOT NULL) sets
               JOIN result_sets rs ON rs.id = sets.result_set_id
               CROSS JOIN LATERAL jsonb_each_text(rs.result_map) entry
               JOIN check_results r ON r.id = entry.value::bigint
               WHERE entry.key IN (SELECT check_id FROM valid) AND r.status = 'manual'
           )
           SELECT DISTINCT ON (ns.node_id, m.check_id)
                  ns.cluster_id AS "cluster_id!", ns.node_id AS "node_id!", m.check_id AS "check_id!",
                  a.id AS "attestation_id!", a.verdict AS "verdict!", a.attested_by AS "attested_by!",
                  a.attested_at AS "attested_at!", a.valid_until AS "valid_until!"
           FROM node_sets ns
           JOIN manual m ON m.result_set_id = ns.result_set_id
           JOIN valid a ON a.check_id = m.check_id
                       AND scope_covers(a.cluster_id, a.node_like, ns.cluster_id, ns.name)
           ORDER BY ns.node_id, m.check_id, a.attested_at DESC, a.id DESC"#,
        at,
        now,
        at.date(),
        within.cluster_id,
        within.node_id
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows)
}

/// A failing object result covered by an exception, in a cluster's newest scan of its catalog at a moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaivedObject {
    pub cluster_id: i64,
    pub cluster: String,
    pub object_id: i64,
    pub kind: String,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
    pub check_id: String,
    /// `fail` or `warn`.
    pub status: String,
    /// The exception in force that ends last (lowest id on a tie).
    pub exception_id: i64,
    pub expires_at: OffsetDateTime,
}

/// Failing object results waived at `at`, in every cluster or one, by every exception or one. Read from each
/// cluster's newest scan of each catalog by then and the exceptions in force then, so a past day shows exactly
/// what was waived on it; only the checks some exception in force covers are expanded.
#[tracing::instrument(skip_all)]
pub async fn waived_objects(
    conn: &mut PgConnection,
    at: OffsetDateTime,
    benchmarks: &[String],
    cluster_id: Option<i64>,
    exception_id: Option<i64>,
) -> Result<Vec<WaivedObject>, sqlx::Error> {
    let mut tx = conn.begin().await?;
    custom_plans(&mut tx).await?;
    let rows = sqlx::query_as!(
        WaivedObject,
        r#"WITH in_force AS MATERIALIZED (
               SELECT e.* FROM exceptions e
               WHERE exception_in_force(e.state, e.decided_at, e.revoked_at, e.expires_at, $1)
                 AND e.node_like IS NULL
                 AND ($4::bigint IS NULL OR e.id = $4)
           ), checks AS MATERIALIZED (
               SELECT DISTINCT covered.check_id FROM in_force e CROSS JOIN LATERAL unnest(e.check_ids) AS covered(check_id)
           ), latest AS MATERIALIZED (
               SELECT k.id AS cluster_id, k.name AS cluster, l.result_set_id
               FROM clusters k
               CROSS JOIN unnest($2::text[]) AS b(benchmark_id)
               CROSS JOIN LATERAL (
                   SELECT s.result_set_id FROM cluster_scans s
                   WHERE s.cluster_id = k.id AND s.benchmark_id = b.benchmark_id AND s.finished_at <= $1
                   ORDER BY s.finished_at DESC, s.scan_id DESC
                   LIMIT 1
               ) l
               WHERE EXISTS (SELECT 1 FROM in_force)
                 AND ($3::bigint IS NULL OR k.id = $3)
                 AND EXISTS (SELECT 1 FROM in_force e WHERE e.cluster_id IS NULL OR e.cluster_id = k.id)
           ), failing AS MATERIALIZED (
               SELECT l.cluster_id, l.cluster, m.check_id, r.object_id, r.status
               FROM latest l
               JOIN cluster_result_sets rs ON rs.id = l.result_set_id
               CROSS JOIN LATERAL jsonb_each_text(rs.result_map) AS m(check_id, result_id)
               JOIN cluster_check_results c ON c.id = m.result_id::bigint
               CROSS JOIN LATERAL unnest(c.object_result_ids) AS u(object_result_id)
               JOIN object_results r ON r.id = u.object_result_id
               WHERE m.check_id IN (SELECT check_id FROM checks) AND r.status IN ('fail', 'warn')
           )
           SELECT DISTINCT ON (f.object_id, f.check_id)
                  f.cluster_id AS "cluster_id!", f.cluster AS "cluster!", f.object_id AS "object_id!",
                  o.kind AS "kind!", o.namespace AS "namespace!", o.name AS "name!", f.check_id AS "check_id!",
                  f.status AS "status!", e.id AS "exception_id!", e.expires_at AS "expires_at!"
           FROM failing f
           JOIN objects o ON o.id = f.object_id
           JOIN in_force e ON f.check_id = ANY(e.check_ids)
                          AND object_scope_covers(e.cluster_id, e.namespace, e.object_kind, e.object_like,
                                                  f.cluster_id, o.namespace, o.kind, o.name)
           ORDER BY f.object_id, f.check_id, e.expires_at DESC, e.id"#,
        at,
        benchmarks,
        cluster_id,
        exception_id
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows)
}
