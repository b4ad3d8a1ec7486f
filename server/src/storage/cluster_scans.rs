//! Cluster scans and what they name: objects, their results per check, the checks' lists and the sets, each
//! stored once per distinct content (see the cluster_reports migration).

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use super::scans::{ScanRef, split_neighbours};

/// An object as the registry knows it; cluster-scoped kinds have the empty namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

/// One object's result for one check, ready to store.
#[derive(Debug, Clone)]
pub struct NewObjectResult {
    pub digest: Vec<u8>,
    /// Index into the objects registered for this report.
    pub object: usize,
    pub check_id: String,
    pub status: String,
    pub evidence: serde_json::Value,
    pub detail: Option<String>,
    pub platform: Option<serde_json::Value>,
}

/// One check's result, ready to store; its objects are indexes into the report's object results.
#[derive(Debug, Clone)]
pub struct NewCheckResult {
    pub digest: Vec<u8>,
    pub check_id: String,
    pub status: String,
    pub detail: Option<String>,
    pub object_results: Vec<usize>,
    /// Its listed objects counted, stored with it so that pages read them instead of counting.
    pub listed: ListedCounts,
}

/// A check result's listed objects counted by status and platform, in all and per namespace (the
/// check_result_counts migration says what each count is).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListedCounts {
    pub failing: i32,
    pub unknown: i32,
    pub platform: i32,
    pub platform_fail: i32,
    pub platform_warn: i32,
    pub platform_unknown: i32,
    /// `list version` of each platform-owned list that named an object, sorted and distinct.
    pub platform_lists: std::collections::BTreeSet<String>,
    pub by_namespace: std::collections::BTreeMap<String, NamespaceCounts>,
}

/// A check result's listed objects in one namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespaceCounts {
    pub failing: i32,
    pub unknown: i32,
    pub platform: i32,
    pub platform_failing: i32,
    pub platform_unknown: i32,
    /// The distinct objects, as indexes into the objects registered for the report.
    pub objects: std::collections::BTreeSet<usize>,
}

impl ListedCounts {
    /// The per-namespace counts as stored, with the objects' registry ids.
    fn by_namespace_json(&self, object_ids: &[i64]) -> serde_json::Value {
        let namespaces: serde_json::Map<String, serde_json::Value> = self
            .by_namespace
            .iter()
            .map(|(namespace, counts)| {
                let mut ids: Vec<i64> = counts
                    .objects
                    .iter()
                    .filter_map(|index| object_ids.get(*index).copied())
                    .collect();
                ids.sort_unstable();
                ids.dedup();
                let value = serde_json::json!({
                    "failing": counts.failing,
                    "unknown": counts.unknown,
                    "platform": counts.platform,
                    "platform_failing": counts.platform_failing,
                    "platform_unknown": counts.platform_unknown,
                    "objects": ids,
                });
                (namespace.clone(), value)
            })
            .collect();
        serde_json::Value::Object(namespaces)
    }
}

/// A set of check results with its summary counts.
#[derive(Debug, Clone)]
pub struct NewSet {
    pub digest: Vec<u8>,
    pub benchmark_id: String,
    pub benchmark_version: String,
    /// Each check's evaluated count, in the order of the report's check results.
    pub evaluated: Vec<i64>,
    /// Checks by status, in the order pass, fail, warn, manual, not_applicable, error.
    pub counts: [i32; 6],
    pub failing_objects: i32,
    pub platform_objects: i32,
    /// Checks that pass only because their failing objects are all platform-owned.
    pub passes_over_platform_failures: i32,
}

#[derive(Debug, Clone)]
pub struct NewClusterScan {
    pub scan_id: Uuid,
    pub cluster_id: i64,
    pub benchmark_id: String,
    pub result_set_id: i64,
    pub kubernetes_version: Option<String>,
    pub distribution: Option<String>,
    pub started_at: OffsetDateTime,
    pub finished_at: OffsetDateTime,
    pub content_hash: Vec<u8>,
    pub agent_version: String,
    /// The cluster's context the report carried, once stored (`store_context`).
    pub context_id: Option<i64>,
    /// How many nodes the cluster agent counted; none when it could not.
    pub node_count: Option<i64>,
}

/// Serialises the ingests of one cluster's timeline against one benchmark until the transaction ends, so
/// that two of its scans never move the same findings at once. Other clusters and nodes are not held.
#[tracing::instrument(skip_all, fields(cluster.id = cluster_id))]
pub async fn lock_timeline(
    conn: &mut PgConnection,
    cluster_id: i64,
    benchmark_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "SELECT pg_advisory_xact_lock(hashtextextended('kubeward cluster timeline ' || $1::bigint || ' ' || $2, 0))",
        cluster_id,
        benchmark_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The content hash and cluster of a scan id stored before, as a cluster scan or a node scan: one id space.
#[tracing::instrument(skip_all, fields(scan.id = %scan_id))]
pub async fn stored_hash(
    conn: &mut PgConnection,
    scan_id: Uuid,
) -> Result<Option<(Vec<u8>, i64)>, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT content_hash AS "content_hash!", cluster_id AS "cluster_id!" FROM cluster_scans WHERE scan_id = $1
           UNION ALL
           SELECT s.content_hash, n.cluster_id FROM scans s JOIN nodes n ON n.id = s.node_id WHERE s.scan_id = $1
           LIMIT 1"#,
        scan_id
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|row| (row.content_hash, row.cluster_id)))
}

#[tracing::instrument(skip_all)]
pub async fn find_set(conn: &mut PgConnection, digest: &[u8]) -> Result<Option<i64>, sqlx::Error> {
    let row = sqlx::query!(
        "SELECT id FROM cluster_result_sets WHERE digest = $1",
        digest
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|row| row.id))
}

/// Registers the objects (or widens the first and last seen of those known) and returns their ids in order.
#[tracing::instrument(skip_all, fields(cluster.id = cluster_id, objects = keys.len()))]
pub async fn register_objects(
    conn: &mut PgConnection,
    cluster_id: i64,
    keys: &[ObjectKey],
    at: OffsetDateTime,
) -> Result<Vec<i64>, sqlx::Error> {
    let kinds: Vec<&str> = keys.iter().map(|key| key.kind.as_str()).collect();
    let namespaces: Vec<&str> = keys.iter().map(|key| key.namespace.as_str()).collect();
    let names: Vec<&str> = keys.iter().map(|key| key.name.as_str()).collect();
    // Sorted, so that two ingests of one cluster lock the rows they share in the same order.
    let rows = sqlx::query!(
        r#"WITH wanted AS (
               SELECT k, ns, n, ordinality FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS u(k, ns, n, ordinality)
           ), upserted AS (
               INSERT INTO objects (cluster_id, kind, namespace, name, first_seen, last_seen)
               SELECT $1, k, ns, n, $5, $5 FROM wanted ORDER BY k, ns, n
               ON CONFLICT (cluster_id, kind, namespace, name) DO UPDATE
                   SET first_seen = LEAST(objects.first_seen, EXCLUDED.first_seen),
                       last_seen = GREATEST(objects.last_seen, EXCLUDED.last_seen)
               RETURNING id, kind, namespace, name
           )
           SELECT u.id AS "id!", w.ordinality AS "position!"
           FROM wanted w JOIN upserted u ON u.kind = w.k AND u.namespace = w.ns AND u.name = w.n"#,
        cluster_id,
        &kinds as &[&str],
        &namespaces as &[&str],
        &names as &[&str],
        at
    )
    .fetch_all(conn)
    .await?;
    Ok(in_order(
        keys.len(),
        rows.into_iter().map(|row| (row.position, row.id)),
    ))
}

/// A late scan whose set was stored before: the objects it lists were there at its time already.
#[tracing::instrument(skip_all, fields(result_set.id = set_id))]
pub async fn lower_first_seen(
    conn: &mut PgConnection,
    set_id: i64,
    at: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"UPDATE objects o SET first_seen = $2
           WHERE o.first_seen > $2 AND o.id IN (
               SELECT r.object_id
               FROM cluster_result_sets s
               CROSS JOIN LATERAL jsonb_each_text(s.result_map) AS m(check_id, result_id)
               JOIN cluster_check_results c ON c.id = m.result_id::bigint
               CROSS JOIN LATERAL unnest(c.object_result_ids) AS u(object_result_id)
               JOIN object_results r ON r.id = u.object_result_id
               WHERE s.id = $1)"#,
        set_id,
        at
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Stores the object results not yet known and returns the ids of all of them, in order.
#[tracing::instrument(skip_all, fields(results = results.len()))]
pub async fn store_object_results(
    conn: &mut PgConnection,
    results: &[NewObjectResult],
    object_ids: &[i64],
) -> Result<Vec<i64>, sqlx::Error> {
    let digests: Vec<&[u8]> = results.iter().map(|r| r.digest.as_slice()).collect();
    let objects: Vec<i64> = results
        .iter()
        .map(|r| object_ids.get(r.object).copied().unwrap_or_default())
        .collect();
    let checks: Vec<&str> = results.iter().map(|r| r.check_id.as_str()).collect();
    let statuses: Vec<&str> = results.iter().map(|r| r.status.as_str()).collect();
    let evidence: Vec<&serde_json::Value> = results.iter().map(|r| &r.evidence).collect();
    let details: Vec<Option<&str>> = results.iter().map(|r| r.detail.as_deref()).collect();
    let platforms: Vec<Option<&serde_json::Value>> =
        results.iter().map(|r| r.platform.as_ref()).collect();
    sqlx::query!(
        r#"INSERT INTO object_results (digest, object_id, check_id, status, evidence, detail, platform)
           SELECT * FROM unnest($1::bytea[], $2::bigint[], $3::text[], $4::text[], $5::jsonb[], $6::text[], $7::jsonb[])
           ORDER BY 1
           ON CONFLICT (digest) DO NOTHING"#,
        &digests as &[&[u8]],
        &objects,
        &checks as &[&str],
        &statuses as &[&str],
        &evidence as &[&serde_json::Value],
        &details as &[Option<&str>],
        &platforms as &[Option<&serde_json::Value>],
    )
    .execute(&mut *conn)
    .await?;
    let rows = sqlx::query!(
        r#"SELECT r.id AS "id!", d.ordinality AS "position!"
           FROM unnest($1::bytea[]) WITH ORDINALITY AS d(digest, ordinality)
           JOIN object_results r ON r.digest = d.digest"#,
        &digests as &[&[u8]]
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(in_order(
        results.len(),
        rows.into_iter().map(|row| (row.position, row.id)),
    ))
}

/// Stores the check results not yet known and returns the ids of all of them, in order.
#[tracing::instrument(skip_all, fields(results = results.len()))]
pub async fn store_check_results(
    conn: &mut PgConnection,
    results: &[NewCheckResult],
    object_result_ids: &[i64],
    object_ids: &[i64],
) -> Result<Vec<i64>, sqlx::Error> {
    let mut ids = Vec::with_capacity(results.len());
    for result in results {
        let members: Vec<i64> = result
            .object_results
            .iter()
            .filter_map(|index| object_result_ids.get(*index).copied())
            .collect();
        let listed = &result.listed;
        let platform_lists: Vec<&str> = listed.platform_lists.iter().map(String::as_str).collect();
        // The per-namespace counts follow in a statement of their own, for a new row only. sqlx 0.9.0 leaves
        // Nagle's algorithm on (TCP_NODELAY unset): a bind message longer than one TCP segment (64 KiB on
        // loopback) has its tail held until the server's delayed ACK, about 40 ms. A long list and its
        // namespace counts together crossed that for every large check (0.5 s more per 10,000-object
        // report); apart, each stays under it.
        let inserted = sqlx::query!(
            r#"INSERT INTO cluster_check_results
                   (digest, check_id, status, detail, object_result_ids, failing, unknown, platform,
                    platform_fail, platform_warn, platform_unknown, platform_lists, by_namespace)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, '{}')
               ON CONFLICT (digest) DO NOTHING RETURNING id"#,
            &result.digest,
            result.check_id,
            result.status,
            result.detail,
            &members,
            listed.failing,
            listed.unknown,
            listed.platform,
            listed.platform_fail,
            listed.platform_warn,
            listed.platform_unknown,
            &platform_lists as &[&str]
        )
        .fetch_optional(&mut *conn)
        .await?;
        let id = match inserted {
            Some(row) => {
                sqlx::query!(
                    "UPDATE cluster_check_results SET by_namespace = $2 WHERE id = $1",
                    row.id,
                    listed.by_namespace_json(object_ids)
                )
                .execute(&mut *conn)
                .await?;
                row.id
            }
            None => {
                sqlx::query_scalar!(
                    "SELECT id FROM cluster_check_results WHERE digest = $1",
                    &result.digest
                )
                .fetch_one(&mut *conn)
                .await?
            }
        };
        ids.push(id);
    }
    Ok(ids)
}

/// Stores a set (or finds it, when a concurrent ingest stored the same one first) and returns its id.
#[tracing::instrument(skip_all)]
pub async fn store_set(
    conn: &mut PgConnection,
    set: &NewSet,
    results: &[NewCheckResult],
    result_ids: &[i64],
) -> Result<i64, sqlx::Error> {
    let result_map: serde_json::Map<String, serde_json::Value> = results
        .iter()
        .zip(result_ids)
        .map(|(result, id)| (result.check_id.clone(), (*id).into()))
        .collect();
    let evaluated: serde_json::Map<String, serde_json::Value> = results
        .iter()
        .zip(&set.evaluated)
        .map(|(result, count)| (result.check_id.clone(), (*count).into()))
        .collect();
    let [pass, fail, warn, manual, not_applicable, error] = set.counts;
    let inserted = sqlx::query!(
        r#"INSERT INTO cluster_result_sets (digest, benchmark_id, benchmark_version, result_map, evaluated,
                                            pass_count, fail_count, warn_count, manual_count, not_applicable_count,
                                            error_count, failing_objects, platform_objects,
                                            passes_over_platform_failures)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
           ON CONFLICT (digest) DO NOTHING RETURNING id"#,
        &set.digest,
        set.benchmark_id,
        set.benchmark_version,
        serde_json::Value::Object(result_map),
        serde_json::Value::Object(evaluated),
        pass,
        fail,
        warn,
        manual,
        not_applicable,
        error,
        set.failing_objects,
        set.platform_objects,
        set.passes_over_platform_failures
    )
    .fetch_optional(&mut *conn)
    .await?;
    match inserted {
        Some(row) => Ok(row.id),
        None => {
            sqlx::query_scalar!(
                "SELECT id FROM cluster_result_sets WHERE digest = $1",
                &set.digest
            )
            .fetch_one(conn)
            .await
        }
    }
}

/// Inserts a cluster scan; `false` when a scan with that id already exists (then nothing is written).
#[tracing::instrument(skip_all, fields(scan.id = %scan.scan_id))]
pub async fn insert(conn: &mut PgConnection, scan: &NewClusterScan) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query!(
        r#"INSERT INTO cluster_scans (scan_id, cluster_id, benchmark_id, result_set_id, kubernetes_version,
                                      distribution, started_at, finished_at, content_hash, agent_version,
                                      context_id, node_count)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
           ON CONFLICT (scan_id) DO NOTHING"#,
        scan.scan_id,
        scan.cluster_id,
        scan.benchmark_id,
        scan.result_set_id,
        scan.kubernetes_version,
        scan.distribution,
        scan.started_at,
        scan.finished_at,
        &scan.content_hash,
        scan.agent_version,
        scan.context_id,
        scan.node_count
    )
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Stores a cluster context once per distinct content and answers its id.
#[tracing::instrument(skip_all, fields(objects = object_count))]
pub async fn store_context(
    conn: &mut PgConnection,
    digest: &[u8],
    objects: &serde_json::Value,
    object_count: i32,
) -> Result<i64, sqlx::Error> {
    if let Some(id) =
        sqlx::query_scalar!("SELECT id FROM cluster_contexts WHERE digest = $1", digest)
            .fetch_optional(&mut *conn)
            .await?
    {
        return Ok(id);
    }
    // Two ingests of the same new content race here; the loser reads the winner's row.
    sqlx::query_scalar!(
        r#"WITH inserted AS (
               INSERT INTO cluster_contexts (digest, objects, object_count) VALUES ($1, $2, $3)
               ON CONFLICT (digest) DO NOTHING
               RETURNING id
           )
           SELECT id AS "id!" FROM inserted
           UNION ALL
           SELECT id FROM cluster_contexts WHERE digest = $1
           LIMIT 1"#,
        digest,
        objects,
        object_count
    )
    .fetch_one(conn)
    .await
}

/// A cluster's newest context by a moment.
#[derive(Debug, Clone)]
pub struct ContextRow {
    pub scan_id: Uuid,
    pub scanned_at: OffsetDateTime,
    pub object_count: i32,
    pub objects: serde_json::Value,
}

#[tracing::instrument(skip_all, fields(cluster.id = cluster_id))]
pub async fn latest_context(
    conn: &mut PgConnection,
    cluster_id: i64,
    at: OffsetDateTime,
) -> Result<Option<ContextRow>, sqlx::Error> {
    sqlx::query_as!(
        ContextRow,
        r#"SELECT s.scan_id, s.finished_at AS scanned_at, c.object_count, c.objects
           FROM cluster_scans s JOIN cluster_contexts c ON c.id = s.context_id
           WHERE s.cluster_id = $1 AND s.context_id IS NOT NULL AND s.finished_at <= $2
           ORDER BY s.finished_at DESC, s.scan_id DESC
           LIMIT 1"#,
        cluster_id,
        at
    )
    .fetch_optional(conn)
    .await
}

/// The scans just before and just after a point of a cluster's timeline for one benchmark.
#[tracing::instrument(skip_all, fields(cluster.id = cluster_id))]
pub async fn neighbours(
    conn: &mut PgConnection,
    cluster_id: i64,
    benchmark_id: &str,
    finished_at: OffsetDateTime,
    scan_id: Uuid,
) -> Result<(Option<ScanRef>, Option<ScanRef>), sqlx::Error> {
    let rows = sqlx::query!(
        r#"(SELECT 'previous' AS "side!", scan_id, finished_at, result_set_id FROM cluster_scans
            WHERE cluster_id = $1 AND benchmark_id = $2 AND (finished_at, scan_id) < ($3, $4)
            ORDER BY finished_at DESC, scan_id DESC LIMIT 1)
           UNION ALL
           (SELECT 'next', scan_id, finished_at, result_set_id FROM cluster_scans
            WHERE cluster_id = $1 AND benchmark_id = $2 AND (finished_at, scan_id) > ($3, $4)
            ORDER BY finished_at, scan_id LIMIT 1)"#,
        cluster_id,
        benchmark_id,
        finished_at,
        scan_id
    )
    .fetch_all(conn)
    .await?;
    Ok(split_neighbours(rows.into_iter().map(|row| {
        (row.side, row.scan_id, row.finished_at, row.result_set_id)
    })))
}

/// Every scan of a cluster's timeline for one benchmark, in order.
#[tracing::instrument(skip_all, fields(cluster.id = cluster_id))]
pub async fn timeline(
    conn: &mut PgConnection,
    cluster_id: i64,
    benchmark_id: &str,
) -> Result<Vec<ScanRef>, sqlx::Error> {
    sqlx::query_as!(
        ScanRef,
        r#"SELECT scan_id, finished_at, result_set_id FROM cluster_scans
           WHERE cluster_id = $1 AND benchmark_id = $2 ORDER BY finished_at, scan_id"#,
        cluster_id,
        benchmark_id
    )
    .fetch_all(conn)
    .await
}

/// One line of a set: a check with its own status, and one object it listed (none for a check that listed
/// none).
#[derive(Debug, Clone)]
pub struct SetVerdict {
    pub check_id: String,
    pub check_status: String,
    pub object_id: Option<i64>,
    pub object_status: Option<String>,
}

/// Every check of a set with every object it listed.
#[tracing::instrument(skip_all, fields(result_set.id = set_id))]
pub async fn verdicts(
    conn: &mut PgConnection,
    set_id: i64,
) -> Result<Vec<SetVerdict>, sqlx::Error> {
    sqlx::query_as!(
        SetVerdict,
        r#"SELECT c.check_id, c.status AS check_status, r.object_id AS "object_id?", r.status AS "object_status?"
           FROM cluster_result_sets s
           CROSS JOIN LATERAL jsonb_each_text(s.result_map) AS m(check_id, result_id)
           JOIN cluster_check_results c ON c.id = m.result_id::bigint
           LEFT JOIN LATERAL unnest(c.object_result_ids) AS u(object_result_id) ON true
           LEFT JOIN object_results r ON r.id = u.object_result_id
           WHERE s.id = $1"#,
        set_id
    )
    .fetch_all(conn)
    .await
}

/// Ids returned with their 1-based position, placed back in order.
fn in_order(len: usize, rows: impl Iterator<Item = (i64, i64)>) -> Vec<i64> {
    let mut ids = vec![0i64; len];
    for (position, id) in rows {
        if let Some(slot) = usize::try_from(position)
            .ok()
            .and_then(|p| p.checked_sub(1))
            .and_then(|p| ids.get_mut(p))
        {
            *slot = id;
        }
    }
    ids
}

/// How many nodes the cluster had by its newest cluster scan of any of `benchmarks` finished by `at`, and
/// when that scan finished; none when that scan carried no count (or there is none).
pub async fn node_count(
    conn: &mut PgConnection,
    cluster_id: i64,
    benchmarks: &[String],
    at: OffsetDateTime,
) -> Result<Option<(i64, OffsetDateTime)>, sqlx::Error> {
    // One backward index step per benchmark timeline, then the newest of those.
    let row = sqlx::query!(
        r#"SELECT newest.node_count, newest.finished_at
           FROM unnest($2::text[]) AS b(id)
           CROSS JOIN LATERAL (
               SELECT s.node_count, s.finished_at FROM cluster_scans s
               WHERE s.cluster_id = $1 AND s.benchmark_id = b.id AND s.finished_at <= $3
               ORDER BY s.finished_at DESC, s.scan_id DESC
               LIMIT 1
           ) newest
           ORDER BY newest.finished_at DESC
           LIMIT 1"#,
        cluster_id,
        benchmarks,
        at
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.and_then(|row| row.node_count.map(|count| (count, row.finished_at))))
}
