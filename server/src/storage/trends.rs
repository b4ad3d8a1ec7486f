//! Trends, answered from the per node-day summaries written at ingest, never from raw results.

use sqlx::PgConnection;
use time::Date;

/// One day of a score series: counts summed over the nodes' last scan of that day.
#[derive(Debug, Clone)]
pub struct DayCounts {
    pub day: Date,
    pub nodes: i64,
    pub pass: i64,
    pub fail: i64,
    pub warn: i64,
    pub manual: i64,
    pub not_applicable: i64,
    pub error: i64,
    pub automated_pass: Option<i64>,
    /// Nodes whose scan that day predates the per-set counts: their automated passes are unknown.
    pub unscored_nodes: i64,
}

/// Daily counts for the fleet, one cluster, and optionally one section.
#[tracing::instrument(skip_all)]
pub async fn daily_counts(
    conn: &mut PgConnection,
    cluster: Option<&str>,
    section: Option<&str>,
    from: Date,
    to: Date,
) -> Result<Vec<DayCounts>, sqlx::Error> {
    sqlx::query_as!(
        DayCounts,
        r#"SELECT d.day AS "day!", count(*) AS "nodes!",
                  sum(CASE WHEN $2::text IS NULL THEN rs.pass_count
                           ELSE coalesce((rs.section_counts -> $2 ->> 'pass')::int, 0) END)::bigint AS "pass!",
                  sum(CASE WHEN $2::text IS NULL THEN rs.fail_count
                           ELSE coalesce((rs.section_counts -> $2 ->> 'fail')::int, 0) END)::bigint AS "fail!",
                  sum(CASE WHEN $2::text IS NULL THEN rs.warn_count
                           ELSE coalesce((rs.section_counts -> $2 ->> 'warn')::int, 0) END)::bigint AS "warn!",
                  sum(CASE WHEN $2::text IS NULL THEN rs.manual_count
                           ELSE coalesce((rs.section_counts -> $2 ->> 'manual')::int, 0) END)::bigint AS "manual!",
                  sum(CASE WHEN $2::text IS NULL THEN rs.not_applicable_count
                           ELSE coalesce((rs.section_counts -> $2 ->> 'not_applicable')::int, 0) END)::bigint
                      AS "not_applicable!",
                  sum(CASE WHEN $2::text IS NULL THEN rs.error_count
                           ELSE coalesce((rs.section_counts -> $2 ->> 'error')::int, 0) END)::bigint AS "error!",
                  sum(CASE WHEN $2::text IS NULL THEN rs.automated_pass_count
                           ELSE (rs.section_counts -> $2 ->> 'automated_pass')::int END)::bigint AS automated_pass,
                  count(*) FILTER (WHERE CASE WHEN $2::text IS NULL THEN rs.automated_pass_count IS NULL
                                              ELSE rs.section_counts -> $2 IS NOT NULL
                                                   AND rs.section_counts -> $2 ->> 'automated_pass' IS NULL END)
                      AS "unscored_nodes!"
           FROM node_days d
           JOIN nodes n ON n.id = d.node_id
           JOIN clusters c ON c.id = n.cluster_id
           JOIN result_sets rs ON rs.id = d.result_set_id
           WHERE d.day BETWEEN $3 AND $4 AND ($1::text IS NULL OR c.name = $1)
           GROUP BY d.day
           ORDER BY d.day"#,
        cluster,
        section,
        from,
        to
    )
    .fetch_all(conn)
    .await
}

/// One day of a check's spread: how many nodes and clusters failed it among those that reported.
#[derive(Debug, Clone)]
pub struct CheckDay {
    pub day: Date,
    pub nodes: i64,
    pub failing_nodes: i64,
    pub failing_clusters: i64,
}

#[tracing::instrument(skip_all, fields(check = check))]
pub async fn check_daily(
    conn: &mut PgConnection,
    check: &str,
    cluster: Option<&str>,
    from: Date,
    to: Date,
) -> Result<Vec<CheckDay>, sqlx::Error> {
    sqlx::query_as!(
        CheckDay,
        r#"SELECT d.day AS "day!", count(*) AS "nodes!",
                  count(*) FILTER (WHERE r.status IN ('fail', 'warn')) AS "failing_nodes!",
                  count(DISTINCT n.cluster_id) FILTER (WHERE r.status IN ('fail', 'warn')) AS "failing_clusters!"
           FROM node_days d
           JOIN nodes n ON n.id = d.node_id
           JOIN clusters c ON c.id = n.cluster_id
           JOIN result_sets rs ON rs.id = d.result_set_id
           JOIN check_results r ON r.id = (rs.result_map ->> $1)::bigint
           WHERE d.day BETWEEN $2 AND $3 AND ($4::text IS NULL OR c.name = $4)
           GROUP BY d.day
           ORDER BY d.day"#,
        check,
        from,
        to,
        cluster
    )
    .fetch_all(conn)
    .await
}

/// One cluster's spread of a check on one day.
#[derive(Debug, Clone)]
pub struct ClusterCheckDay {
    pub cluster: String,
    pub day: Date,
    pub nodes: i64,
    pub failing_nodes: i64,
}

/// How many nodes of each cluster failed a check each day, over the nodes that reported that day.
#[tracing::instrument(skip_all, fields(check = check))]
pub async fn check_daily_by_cluster(
    conn: &mut PgConnection,
    check: &str,
    from: Date,
    to: Date,
) -> Result<Vec<ClusterCheckDay>, sqlx::Error> {
    sqlx::query_as!(
        ClusterCheckDay,
        r#"SELECT c.name AS cluster, d.day AS "day!", count(*) AS "nodes!",
                  count(*) FILTER (WHERE r.status IN ('fail', 'warn')) AS "failing_nodes!"
           FROM node_days d
           JOIN nodes n ON n.id = d.node_id
           JOIN clusters c ON c.id = n.cluster_id
           JOIN result_sets rs ON rs.id = d.result_set_id
           JOIN check_results r ON r.id = (rs.result_map ->> $1)::bigint
           WHERE d.day BETWEEN $2 AND $3
           GROUP BY c.name, d.day
           ORDER BY c.name, d.day"#,
        check,
        from,
        to
    )
    .fetch_all(conn)
    .await
}
