//! Where clusters and nodes stood at the end of a day: each node's last scan of that day or before (from the
//! `node_days` summary, never from raw results), and the daily series the charts draw.

use sqlx::PgConnection;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::domain::cluster::Labels;

pub use crate::domain::score::Counts;

/// A cluster as it stood at the end of a day.
#[derive(Debug, Clone)]
pub struct ClusterStanding {
    pub id: i64,
    pub name: String,
    pub labels: Labels,
    /// Nodes that had reported by then.
    pub nodes: i64,
    /// Of those, the ones whose last report was older than the staleness limit at that moment.
    pub stale_nodes: i64,
    pub last_report: Option<OffsetDateTime>,
    pub counts: Counts,
}

/// Every cluster (or one) as it stood at the end of `day`; `stale_before` is that moment minus the staleness
/// limit. `now` reads each node's newest scan from its row instead of looking it up day by day.
#[tracing::instrument(skip_all)]
pub async fn clusters(
    conn: &mut PgConnection,
    day: Date,
    stale_before: OffsetDateTime,
    only: Option<&str>,
    now: bool,
) -> Result<Vec<ClusterStanding>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT c.id, c.name, c.labels,
                  count(last.node_id) AS "nodes!",
                  count(last.node_id) FILTER (WHERE last.finished_at < $2) AS "stale_nodes!",
                  max(last.finished_at) AS last_report,
                  coalesce(sum(rs.pass_count), 0)::bigint AS "pass!",
                  coalesce(sum(rs.fail_count), 0)::bigint AS "fail!",
                  coalesce(sum(rs.warn_count), 0)::bigint AS "warn!",
                  coalesce(sum(rs.manual_count), 0)::bigint AS "manual!",
                  coalesce(sum(rs.not_applicable_count), 0)::bigint AS "not_applicable!",
                  coalesce(sum(rs.error_count), 0)::bigint AS "error!",
                  coalesce(sum(rs.automated_pass_count), 0)::bigint AS "automated_pass!",
                  count(rs.id) FILTER (WHERE rs.automated_pass_count IS NULL) AS "unscored_nodes!"
           FROM clusters c
           LEFT JOIN nodes n ON n.cluster_id = c.id
           -- As of a past day, most nodes have a row for that very day: read them all at once.
           LEFT JOIN node_days on_day ON NOT $4 AND on_day.day = $1 AND on_day.node_id = n.id
           -- Now: the node's newest scan, kept on its row. As of a past day: that day's row, or else the node's
           -- last scan before it (a node that was silent that day).
           LEFT JOIN LATERAL (
               SELECT n.id AS node_id, n.last_seen AS finished_at, n.last_result_set_id AS result_set_id
               WHERE $4 AND n.last_result_set_id IS NOT NULL
               UNION ALL
               SELECT on_day.node_id, on_day.finished_at, on_day.result_set_id
               WHERE NOT $4 AND on_day.node_id IS NOT NULL
               UNION ALL
               (SELECT d.node_id, d.finished_at, d.result_set_id FROM node_days d
                WHERE NOT $4 AND on_day.node_id IS NULL AND d.node_id = n.id AND d.day < $1
                ORDER BY d.day DESC
                LIMIT 1)
           ) last ON true
           LEFT JOIN result_sets rs ON rs.id = last.result_set_id
           WHERE ($3::text IS NULL OR c.name = $3)
           GROUP BY c.id
           ORDER BY c.name"#,
        day,
        stale_before,
        only,
        now
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| ClusterStanding {
            id: row.id,
            name: row.name,
            labels: Labels::from_json(&row.labels),
            nodes: row.nodes,
            stale_nodes: row.stale_nodes,
            last_report: row.last_report,
            counts: Counts {
                pass: row.pass,
                fail: row.fail,
                warn: row.warn,
                manual: row.manual,
                not_applicable: row.not_applicable,
                error: row.error,
                automated_pass: row.automated_pass,
                unscored_nodes: row.unscored_nodes,
                ..Counts::default()
            },
        })
        .collect())
}

/// One cluster's score on one day.
#[derive(Debug, Clone)]
pub struct DailyScore {
    pub cluster_id: i64,
    pub day: Date,
    pub counts: Counts,
}

/// Every cluster's daily counts from `from` to `to`, over the nodes that reported each day, from the
/// `cluster_days` sums.
#[tracing::instrument(skip_all)]
pub async fn daily_scores(
    conn: &mut PgConnection,
    from: Date,
    to: Date,
    only: Option<i64>,
) -> Result<Vec<DailyScore>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT cluster_id, day, pass, fail, warn, manual, not_applicable, error, automated_pass,
                  unscored_nodes::bigint AS "unscored_nodes!"
           FROM cluster_days
           WHERE day BETWEEN $1 AND $2 AND ($3::bigint IS NULL OR cluster_id = $3) AND nodes > 0
           ORDER BY cluster_id, day"#,
        from,
        to,
        only
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| DailyScore {
            cluster_id: row.cluster_id,
            day: row.day,
            counts: Counts {
                pass: row.pass,
                fail: row.fail,
                warn: row.warn,
                manual: row.manual,
                not_applicable: row.not_applicable,
                error: row.error,
                automated_pass: row.automated_pass,
                unscored_nodes: row.unscored_nodes,
                ..Counts::default()
            },
        })
        .collect())
}

/// A node as it stood at the end of a day.
#[derive(Debug, Clone)]
pub struct NodeStanding {
    pub id: i64,
    pub name: String,
    pub roles: Vec<String>,
    pub last_report: OffsetDateTime,
    pub scan_id: Uuid,
    pub counts: Counts,
    /// Per-section counts of its last scan: `{"1.2": {"pass": 3, ...}}`.
    pub section_counts: serde_json::Value,
    /// The benchmark its last scan was judged by.
    pub benchmark: kubeward_benchmark::report::BenchmarkRef,
}

/// A cluster's nodes that had reported by the end of `day`, by name.
#[tracing::instrument(skip_all, fields(cluster.id = cluster_id))]
pub async fn nodes(
    conn: &mut PgConnection,
    cluster_id: i64,
    day: Date,
) -> Result<Vec<NodeStanding>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT n.id, n.name, n.roles, last.finished_at, last.scan_id,
                  rs.pass_count, rs.fail_count, rs.warn_count, rs.manual_count, rs.not_applicable_count,
                  rs.error_count, rs.automated_pass_count, rs.section_counts,
                  rs.benchmark_id, rs.benchmark_version
           FROM nodes n
           CROSS JOIN LATERAL (
               SELECT d.finished_at, d.scan_id, d.result_set_id FROM node_days d
               WHERE d.node_id = n.id AND d.day <= $2
               ORDER BY d.day DESC
               LIMIT 1
           ) last
           JOIN result_sets rs ON rs.id = last.result_set_id
           WHERE n.cluster_id = $1
           ORDER BY n.name"#,
        cluster_id,
        day
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| NodeStanding {
            id: row.id,
            name: row.name,
            roles: row.roles,
            last_report: row.finished_at,
            scan_id: row.scan_id,
            counts: Counts {
                pass: i64::from(row.pass_count),
                fail: i64::from(row.fail_count),
                warn: i64::from(row.warn_count),
                manual: i64::from(row.manual_count),
                not_applicable: i64::from(row.not_applicable_count),
                error: i64::from(row.error_count),
                automated_pass: row.automated_pass_count.map_or(0, i64::from),
                unscored_nodes: i64::from(row.automated_pass_count.is_none()),
                ..Counts::default()
            },
            section_counts: row.section_counts,
            benchmark: kubeward_benchmark::report::BenchmarkRef {
                id: row.benchmark_id,
                version: row.benchmark_version,
            },
        })
        .collect())
}

/// A transition of a finding, with its place, for the cluster and node pages.
#[derive(Debug, Clone)]
pub struct Transition {
    pub finding_id: i64,
    pub node: String,
    pub check_id: String,
    pub kind: String,
    pub at: OffsetDateTime,
    /// None for a waiver event.
    pub scan_id: Option<Uuid>,
}

/// A cluster's (or one node's) transitions between two moments, newest first, at most `limit`.
#[tracing::instrument(skip_all, fields(cluster.id = cluster_id))]
pub async fn transitions(
    conn: &mut PgConnection,
    cluster_id: i64,
    node_id: Option<i64>,
    from: OffsetDateTime,
    to: OffsetDateTime,
    limit: i64,
) -> Result<Vec<Transition>, sqlx::Error> {
    let Some(node_id) = node_id else {
        // The cluster's node findings (by their own index, without the object findings beside them), then each
        // one's newest events by the events' finding index: the event log has no time index to walk, and
        // reading it by time read every cluster's events of the period.
        return sqlx::query_as!(
            Transition,
            r#"SELECT e.finding_id AS "finding_id!", n.name AS node, f.check_id,
                      e.kind AS "kind!", e.at AS "at!", e.scan_id
               FROM findings f
               JOIN nodes n ON n.id = f.node_id
               CROSS JOIN LATERAL (
                   SELECT x.id, x.finding_id, x.kind, x.at, x.scan_id FROM finding_events x
                   WHERE x.finding_id = f.id AND x.at > $2 AND x.at <= $3
                   ORDER BY x.at DESC, x.id DESC
                   LIMIT $4
               ) e
               WHERE f.cluster_id = $1 AND f.node_id IS NOT NULL
               ORDER BY e.at DESC, e.id DESC
               LIMIT $4"#,
            cluster_id,
            from,
            to,
            limit
        )
        .fetch_all(conn)
        .await;
    };
    // One node: from its few findings to each one's newest events by the events' finding index. Walking the
    // event log by time instead read millions of object findings' events to find a node's few (1.7 s for a
    // node page on the 200-cluster fleet; 0.6 ms this way).
    sqlx::query_as!(
        Transition,
        r#"SELECT e.finding_id AS "finding_id!", n.name AS node, f.check_id,
                  e.kind AS "kind!", e.at AS "at!", e.scan_id
           FROM findings f
           JOIN nodes n ON n.id = f.node_id
           CROSS JOIN LATERAL (
               SELECT x.id, x.finding_id, x.kind, x.at, x.scan_id FROM finding_events x
               WHERE x.finding_id = f.id AND x.at > $3 AND x.at <= $4
               ORDER BY x.at DESC, x.id DESC
               LIMIT $5
           ) e
           WHERE f.cluster_id = $1 AND f.node_id = $2
           ORDER BY e.at DESC, e.id DESC
           LIMIT $5"#,
        cluster_id,
        node_id,
        from,
        to,
        limit
    )
    .fetch_all(conn)
    .await
}
