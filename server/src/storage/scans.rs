//! Scans and the per-day summaries trends read.

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct NewScan {
    pub scan_id: Uuid,
    pub node_id: i64,
    pub result_set_id: i64,
    /// What the scan said of the node itself (`nodes::upsert`).
    pub attributes_id: i64,
    pub started_at: OffsetDateTime,
    pub finished_at: OffsetDateTime,
    pub content_hash: Vec<u8>,
    pub agent_version: String,
}

/// Inserts a scan; `false` when a scan with that id already exists, as a node scan or a cluster scan (then
/// nothing is written).
#[tracing::instrument(skip_all, fields(scan.id = %scan.scan_id))]
pub async fn insert(conn: &mut PgConnection, scan: &NewScan) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query!(
        r#"INSERT INTO scans (scan_id, node_id, result_set_id, started_at, finished_at, content_hash, agent_version,
                              attributes_id)
           SELECT $1, $2, $3, $4, $5, $6, $7, $8
           WHERE NOT EXISTS (SELECT 1 FROM cluster_scans WHERE scan_id = $1)
           ON CONFLICT (scan_id) DO NOTHING"#,
        scan.scan_id,
        scan.node_id,
        scan.result_set_id,
        scan.started_at,
        scan.finished_at,
        &scan.content_hash,
        scan.agent_version,
        scan.attributes_id,
    )
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// A scan's place in its node's timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanRef {
    pub scan_id: Uuid,
    pub finished_at: OffsetDateTime,
    pub result_set_id: i64,
}

/// The scans just before and just after a point of a node's timeline, in `(finished_at, scan_id)` order.
#[tracing::instrument(skip_all, fields(node.id = node_id))]
pub async fn neighbours(
    conn: &mut PgConnection,
    node_id: i64,
    finished_at: OffsetDateTime,
    scan_id: Uuid,
) -> Result<(Option<ScanRef>, Option<ScanRef>), sqlx::Error> {
    let rows = sqlx::query!(
        r#"(SELECT 'previous' AS "side!", scan_id, finished_at, result_set_id FROM scans
            WHERE node_id = $1 AND (finished_at, scan_id) < ($2, $3)
            ORDER BY finished_at DESC, scan_id DESC LIMIT 1)
           UNION ALL
           (SELECT 'next', scan_id, finished_at, result_set_id FROM scans
            WHERE node_id = $1 AND (finished_at, scan_id) > ($2, $3)
            ORDER BY finished_at, scan_id LIMIT 1)"#,
        node_id,
        finished_at,
        scan_id
    )
    .fetch_all(conn)
    .await?;
    Ok(split_neighbours(rows.into_iter().map(|row| {
        (row.side, row.scan_id, row.finished_at, row.result_set_id)
    })))
}

/// The rows of a neighbours query (side, scan id, finish time, result set) as (previous, next).
pub(super) fn split_neighbours(
    rows: impl Iterator<Item = (String, Option<Uuid>, Option<OffsetDateTime>, Option<i64>)>,
) -> (Option<ScanRef>, Option<ScanRef>) {
    let mut previous = None;
    let mut next = None;
    for (side, scan_id, finished_at, result_set_id) in rows {
        let (Some(scan_id), Some(finished_at), Some(result_set_id)) =
            (scan_id, finished_at, result_set_id)
        else {
            continue;
        };
        let scan = ScanRef {
            scan_id,
            finished_at,
            result_set_id,
        };
        if side == "previous" {
            previous = Some(scan);
        } else {
            next = Some(scan);
        }
    }
    (previous, next)
}

/// Every scan of a node in timeline order.
#[tracing::instrument(skip_all, fields(node.id = node_id))]
pub async fn timeline(conn: &mut PgConnection, node_id: i64) -> Result<Vec<ScanRef>, sqlx::Error> {
    sqlx::query_as!(
        ScanRef,
        r#"SELECT scan_id, finished_at, result_set_id FROM scans
           WHERE node_id = $1 ORDER BY finished_at, scan_id"#,
        node_id
    )
    .fetch_all(conn)
    .await
}

/// Keeps, for each node and UTC day, the last scan of that day, with the cluster's sums for that day
/// (`cluster_days`) and the node's newest result set. The sums change by the written row's counts less those
/// of the row it replaced, in the same statement, so they always equal a sum over `node_days`; ingests of one
/// node are serialised by its row lock (see `nodes::upsert`).
#[tracing::instrument(skip_all, fields(node.id = node_id))]
pub async fn record_day(
    conn: &mut PgConnection,
    node_id: i64,
    scan_id: Uuid,
    finished_at: OffsetDateTime,
    result_set_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"WITH previous AS (
               SELECT result_set_id FROM node_days
               WHERE node_id = $1 AND day = ($2 AT TIME ZONE 'UTC')::date
           ), written AS (
               INSERT INTO node_days (node_id, day, result_set_id, finished_at, scan_id)
               VALUES ($1, ($2 AT TIME ZONE 'UTC')::date, $3, $2, $4)
               ON CONFLICT (node_id, day) DO UPDATE
                   SET result_set_id = excluded.result_set_id, finished_at = excluded.finished_at,
                       scan_id = excluded.scan_id
                   WHERE (node_days.finished_at, node_days.scan_id) < (excluded.finished_at, excluded.scan_id)
               RETURNING day, result_set_id
           ), change AS (
               SELECT w.day,
                      CASE WHEN p.result_set_id IS NULL THEN 1 ELSE 0 END AS nodes,
                      n.pass_count - coalesce(o.pass_count, 0) AS pass,
                      n.fail_count - coalesce(o.fail_count, 0) AS fail,
                      n.warn_count - coalesce(o.warn_count, 0) AS warn,
                      n.manual_count - coalesce(o.manual_count, 0) AS manual,
                      n.not_applicable_count - coalesce(o.not_applicable_count, 0) AS not_applicable,
                      n.error_count - coalesce(o.error_count, 0) AS error,
                      coalesce(n.automated_pass_count, 0) - coalesce(o.automated_pass_count, 0) AS automated_pass,
                      (n.automated_pass_count IS NULL)::int
                          - (o.id IS NOT NULL AND o.automated_pass_count IS NULL)::int AS unscored_nodes
               FROM written w
               JOIN result_sets n ON n.id = w.result_set_id
               LEFT JOIN previous p ON true
               LEFT JOIN result_sets o ON o.id = p.result_set_id
           )
           INSERT INTO cluster_days (cluster_id, day, nodes, pass, fail, warn, manual, not_applicable, error,
                                     automated_pass, unscored_nodes)
           SELECT (SELECT cluster_id FROM nodes WHERE id = $1), day, nodes, pass, fail, warn, manual,
                  not_applicable, error, automated_pass, unscored_nodes
           FROM change
           ON CONFLICT (cluster_id, day) DO UPDATE SET
               nodes = cluster_days.nodes + excluded.nodes,
               pass = cluster_days.pass + excluded.pass,
               fail = cluster_days.fail + excluded.fail,
               warn = cluster_days.warn + excluded.warn,
               manual = cluster_days.manual + excluded.manual,
               not_applicable = cluster_days.not_applicable + excluded.not_applicable,
               error = cluster_days.error + excluded.error,
               automated_pass = cluster_days.automated_pass + excluded.automated_pass,
               unscored_nodes = cluster_days.unscored_nodes + excluded.unscored_nodes"#,
        node_id,
        finished_at,
        result_set_id,
        scan_id
    )
    .execute(&mut *conn)
    .await?;
    // The node's upsert has already moved last_seen to the newest scan; this one is it if the times agree.
    sqlx::query!(
        "UPDATE nodes SET last_result_set_id = $3 WHERE id = $1 AND last_seen = $2",
        node_id,
        finished_at,
        result_set_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A scan as listed by the API.
#[derive(Debug, Clone)]
pub struct ScanListing {
    pub scan_id: Uuid,
    pub cluster: String,
    pub node: String,
    pub started_at: OffsetDateTime,
    pub finished_at: OffsetDateTime,
    pub received_at: OffsetDateTime,
    pub agent_version: String,
    pub benchmark_id: String,
    pub benchmark_version: String,
    pub pass_count: i32,
    pub fail_count: i32,
    pub warn_count: i32,
    pub manual_count: i32,
    pub not_applicable_count: i32,
    pub error_count: i32,
}

/// Scans in `(finished_at, scan_id)` order after the given position, at most `limit`.
#[tracing::instrument(skip_all)]
pub async fn page(
    conn: &mut PgConnection,
    cluster: Option<&str>,
    node: Option<&str>,
    since: Option<OffsetDateTime>,
    after: Option<(OffsetDateTime, Uuid)>,
    limit: i64,
) -> Result<Vec<ScanListing>, sqlx::Error> {
    let (after_time, after_id) = after.unzip();
    sqlx::query_as!(
        ScanListing,
        r#"SELECT s.scan_id, c.name AS cluster, n.name AS node, s.started_at, s.finished_at, s.received_at,
                  s.agent_version, rs.benchmark_id, rs.benchmark_version, rs.pass_count, rs.fail_count,
                  rs.warn_count, rs.manual_count, rs.not_applicable_count, rs.error_count
           FROM scans s
           JOIN nodes n ON n.id = s.node_id
           JOIN clusters c ON c.id = n.cluster_id
           JOIN result_sets rs ON rs.id = s.result_set_id
           WHERE ($1::text IS NULL OR c.name = $1)
             AND ($2::text IS NULL OR n.name = $2)
             AND ($3::timestamptz IS NULL OR s.finished_at >= $3)
             AND ($4::timestamptz IS NULL OR (s.finished_at, s.scan_id) > ($4, $5::uuid))
           ORDER BY s.finished_at, s.scan_id
           LIMIT $6"#,
        cluster,
        node,
        since,
        after_time,
        after_id,
        limit
    )
    .fetch_all(conn)
    .await
}

/// One result of a scan.
#[derive(Debug, Clone)]
pub struct ScanResult {
    pub check_id: String,
    pub status: String,
    pub evidence: serde_json::Value,
    pub detail: Option<String>,
}

/// A scan's results, or `None` when there is no such scan.
#[tracing::instrument(skip_all, fields(scan.id = %scan_id))]
pub async fn results(
    conn: &mut PgConnection,
    scan_id: Uuid,
) -> Result<Option<(ScanListing, Vec<ScanResult>)>, sqlx::Error> {
    let Some(scan) = sqlx::query_as!(
        ScanListing,
        r#"SELECT s.scan_id, c.name AS cluster, n.name AS node, s.started_at, s.finished_at, s.received_at,
                  s.agent_version, rs.benchmark_id, rs.benchmark_version, rs.pass_count, rs.fail_count,
                  rs.warn_count, rs.manual_count, rs.not_applicable_count, rs.error_count
           FROM scans s
           JOIN nodes n ON n.id = s.node_id
           JOIN clusters c ON c.id = n.cluster_id
           JOIN result_sets rs ON rs.id = s.result_set_id
           WHERE s.scan_id = $1"#,
        scan_id
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let results = sqlx::query_as!(
        ScanResult,
        r#"SELECT r.check_id, r.status, r.evidence, r.detail
           FROM scans s JOIN result_sets rs ON rs.id = s.result_set_id
           CROSS JOIN LATERAL unnest(rs.result_ids) AS u(result_id)
           JOIN check_results r ON r.id = u.result_id
           WHERE s.scan_id = $1"#,
        scan_id
    )
    .fetch_all(conn)
    .await?;
    Ok(Some((scan, results)))
}

/// A node's scans that finished by `until`, newest first, at most `limit`: (scan id, finished at).
#[tracing::instrument(skip_all, fields(node.id = node_id))]
pub async fn latest_of_node(
    conn: &mut PgConnection,
    node_id: i64,
    until: OffsetDateTime,
    limit: i64,
) -> Result<Vec<(Uuid, OffsetDateTime)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT scan_id, finished_at FROM scans
           WHERE node_id = $1 AND finished_at <= $2
           ORDER BY finished_at DESC, scan_id DESC
           LIMIT $3"#,
        node_id,
        until,
        limit
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.scan_id, row.finished_at))
        .collect())
}
