//! Where a cluster stands on its cluster-scope (policy) checks at a moment: the newest cluster scan of each
//! benchmark by then (found per benchmark by walking the timeline index backwards), read per check and per
//! namespace, and the objects the scans named.

use std::collections::HashSet;

use sqlx::PgConnection;
use time::OffsetDateTime;

/// One check of a cluster's newest scan (of its benchmark) at a moment.
#[derive(Debug, Clone)]
pub struct PolicyCheckRow {
    pub benchmark_id: String,
    pub benchmark_version: String,
    pub scanned_at: OffsetDateTime,
    pub check_id: String,
    pub status: String,
    /// Why the check is what it is, when no object says it (or what the nodes decided).
    pub detail: Option<String>,
    pub evaluated: i64,
    /// Objects failing (fail or warn) and not platform-owned.
    pub failing: i64,
    /// Objects whose result is unknown (manual or error) and not platform-owned.
    pub unknown: i64,
    /// Objects on a platform-owned list, whatever their status.
    pub platform: i64,
    /// Of those: failing, warning, unknown (what they count as when the platform bucket is off).
    pub platform_fail: i64,
    pub platform_warn: i64,
    pub platform_unknown: i64,
    /// The platform-owned lists that named its objects, as `list version`.
    pub platform_lists: Vec<String>,
}

#[tracing::instrument(skip_all, fields(cluster.id = cluster_id))]
pub async fn checks(
    conn: &mut PgConnection,
    cluster_id: i64,
    benchmarks: &[String],
    at: OffsetDateTime,
) -> Result<Vec<PolicyCheckRow>, sqlx::Error> {
    sqlx::query_as!(
        PolicyCheckRow,
        r#"WITH latest AS (
               SELECT b.benchmark_id, l.result_set_id, l.finished_at
               FROM unnest($3::text[]) AS b(benchmark_id)
               CROSS JOIN LATERAL (
                   SELECT s.result_set_id, s.finished_at FROM cluster_scans s
                   WHERE s.cluster_id = $1 AND s.benchmark_id = b.benchmark_id AND s.finished_at <= $2
                   ORDER BY s.finished_at DESC, s.scan_id DESC
                   LIMIT 1
               ) l
           )
           -- The listed objects were counted when the check result was stored (check_result_counts).
           SELECT l.benchmark_id AS "benchmark_id!", rs.benchmark_version AS "benchmark_version!",
                  l.finished_at AS "scanned_at!", m.check_id AS "check_id!", c.status AS "status!", c.detail,
                  coalesce((rs.evaluated ->> m.check_id)::bigint, 0) AS "evaluated!",
                  c.failing::bigint AS "failing!", c.unknown::bigint AS "unknown!",
                  c.platform::bigint AS "platform!", c.platform_fail::bigint AS "platform_fail!",
                  c.platform_warn::bigint AS "platform_warn!", c.platform_unknown::bigint AS "platform_unknown!",
                  c.platform_lists AS "platform_lists!"
           FROM latest l
           JOIN cluster_result_sets rs ON rs.id = l.result_set_id
           CROSS JOIN LATERAL jsonb_each_text(rs.result_map) AS m(check_id, result_id)
           JOIN cluster_check_results c ON c.id = m.result_id::bigint"#,
        cluster_id,
        at,
        benchmarks
    )
    .fetch_all(conn)
    .await
}

/// A namespace's objects in a cluster's newest scans at a moment (cluster-scoped objects under the empty
/// namespace), counted per object and check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceRow {
    pub namespace: String,
    pub failing: i64,
    pub unknown: i64,
    pub platform: i64,
    pub platform_failing: i64,
    pub platform_unknown: i64,
    /// Distinct objects listed in the namespace.
    pub objects: i64,
}

/// One namespace's entry in a check result's `by_namespace` (check_result_counts).
#[derive(Debug, serde::Deserialize)]
struct StoredNamespaceCounts {
    failing: i64,
    unknown: i64,
    platform: i64,
    platform_failing: i64,
    platform_unknown: i64,
    objects: Vec<i64>,
}

/// Reads the per-namespace counts stored with each check result of the newest scans, and adds them up: the
/// counts are per listed object and check, so they add across checks; the objects are counted once each.
#[tracing::instrument(skip_all, fields(cluster.id = cluster_id))]
pub async fn namespaces(
    conn: &mut PgConnection,
    cluster_id: i64,
    benchmarks: &[String],
    at: OffsetDateTime,
) -> Result<Vec<NamespaceRow>, sqlx::Error> {
    let stored = sqlx::query_scalar!(
        r#"WITH latest AS (
               SELECT l.result_set_id
               FROM unnest($3::text[]) AS b(benchmark_id)
               CROSS JOIN LATERAL (
                   SELECT s.result_set_id FROM cluster_scans s
                   WHERE s.cluster_id = $1 AND s.benchmark_id = b.benchmark_id AND s.finished_at <= $2
                   ORDER BY s.finished_at DESC, s.scan_id DESC
                   LIMIT 1
               ) l
           )
           SELECT c.by_namespace AS "by_namespace!"
           FROM latest l
           JOIN cluster_result_sets rs ON rs.id = l.result_set_id
           CROSS JOIN LATERAL jsonb_each_text(rs.result_map) AS m(check_id, result_id)
           JOIN cluster_check_results c ON c.id = m.result_id::bigint
           WHERE c.by_namespace <> '{}'::jsonb"#,
        cluster_id,
        at,
        benchmarks
    )
    .fetch_all(conn)
    .await?;
    let mut by_namespace: std::collections::BTreeMap<String, (NamespaceRow, HashSet<i64>)> =
        std::collections::BTreeMap::new();
    for value in stored {
        let counts: std::collections::HashMap<String, StoredNamespaceCounts> =
            serde_json::from_value(value).map_err(|err| sqlx::Error::Decode(Box::new(err)))?;
        for (namespace, counts) in counts {
            let (row, objects) = by_namespace.entry(namespace.clone()).or_insert_with(|| {
                (
                    NamespaceRow {
                        namespace,
                        failing: 0,
                        unknown: 0,
                        platform: 0,
                        platform_failing: 0,
                        platform_unknown: 0,
                        objects: 0,
                    },
                    HashSet::new(),
                )
            });
            row.failing += counts.failing;
            row.unknown += counts.unknown;
            row.platform += counts.platform;
            row.platform_failing += counts.platform_failing;
            row.platform_unknown += counts.platform_unknown;
            objects.extend(counts.objects);
        }
    }
    Ok(by_namespace
        .into_values()
        .map(|(mut row, objects)| {
            row.objects = objects.len() as i64;
            row
        })
        .collect())
}

/// An object a cluster report named.
#[derive(Debug, Clone)]
pub struct ObjectRow {
    pub id: i64,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub first_seen: OffsetDateTime,
    pub last_seen: OffsetDateTime,
}

#[tracing::instrument(skip_all, fields(cluster.id = cluster_id))]
pub async fn object(
    conn: &mut PgConnection,
    cluster_id: i64,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Result<Option<ObjectRow>, sqlx::Error> {
    sqlx::query_as!(
        ObjectRow,
        r#"SELECT id, kind, namespace, name, first_seen, last_seen FROM objects
           WHERE cluster_id = $1 AND kind = $2 AND namespace = $3 AND name = $4"#,
        cluster_id,
        kind,
        namespace,
        name
    )
    .fetch_optional(conn)
    .await
}

/// A transition of one of an object's findings.
#[derive(Debug, Clone)]
pub struct ObjectEvent {
    pub finding_id: i64,
    pub check_id: String,
    pub kind: String,
    pub at: OffsetDateTime,
}

/// Every event of an object's findings up to a moment, newest first.
#[tracing::instrument(skip_all, fields(object.id = object_id))]
pub async fn object_events(
    conn: &mut PgConnection,
    object_id: i64,
    at: OffsetDateTime,
) -> Result<Vec<ObjectEvent>, sqlx::Error> {
    sqlx::query_as!(
        ObjectEvent,
        r#"SELECT e.finding_id, f.check_id, e.kind, e.at
           FROM finding_events e JOIN findings f ON f.id = e.finding_id
           WHERE f.object_id = $1 AND e.at <= $2
           ORDER BY e.at DESC, e.id DESC"#,
        object_id,
        at
    )
    .fetch_all(conn)
    .await
}

/// One cluster's newest result of one cluster-scope check at a moment.
#[derive(Debug, Clone)]
pub struct ClusterCheckRow {
    pub cluster: String,
    pub scanned_at: OffsetDateTime,
    pub status: String,
    pub evaluated: i64,
    pub failing: i64,
    pub unknown: i64,
    pub platform: i64,
    pub platform_fail: i64,
    pub platform_warn: i64,
    pub platform_unknown: i64,
    /// Whether the cluster's platform bucket was on at the moment.
    pub platform_bucket: bool,
}

/// Every cluster's newest result of a check at a moment, by cluster name.
#[tracing::instrument(skip_all, fields(check = check_id))]
pub async fn check_by_cluster(
    conn: &mut PgConnection,
    check_id: &str,
    at: OffsetDateTime,
) -> Result<Vec<ClusterCheckRow>, sqlx::Error> {
    sqlx::query_as!(
        ClusterCheckRow,
        r#"SELECT k.name AS "cluster!", l.finished_at AS "scanned_at!", c.status AS "status!",
                  platform_bucket_on(k.id, $2) AS "platform_bucket!",
                  coalesce((rs.evaluated ->> $1)::bigint, 0) AS "evaluated!",
                  c.failing::bigint AS "failing!", c.unknown::bigint AS "unknown!",
                  c.platform::bigint AS "platform!", c.platform_fail::bigint AS "platform_fail!",
                  c.platform_warn::bigint AS "platform_warn!", c.platform_unknown::bigint AS "platform_unknown!"
           FROM clusters k
           CROSS JOIN LATERAL (
               SELECT s.result_set_id, s.finished_at FROM cluster_scans s
               WHERE s.cluster_id = k.id AND s.finished_at <= $2
                 AND EXISTS (SELECT 1 FROM cluster_result_sets sets
                             WHERE sets.id = s.result_set_id AND sets.result_map ? $1)
               ORDER BY s.finished_at DESC, s.scan_id DESC
               LIMIT 1
           ) l
           JOIN cluster_result_sets rs ON rs.id = l.result_set_id
           -- The listed objects were counted when the check result was stored (check_result_counts).
           JOIN cluster_check_results c ON c.id = (rs.result_map ->> $1)::bigint
           ORDER BY k.name"#,
        check_id,
        at
    )
    .fetch_all(conn)
    .await
}

/// Each cluster's passing and failing cluster-scope checks over its newest scan of each benchmark at a
/// moment, by cluster id. The newest scan is found per benchmark by walking the timeline index backwards,
/// so the cost grows with clusters, not with their history.
#[tracing::instrument(skip_all)]
pub async fn fleet_counts(
    conn: &mut PgConnection,
    benchmarks: &[String],
    at: OffsetDateTime,
) -> Result<Vec<(i64, i64, i64)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT k.id AS "cluster_id!",
                  sum(rs.pass_count - CASE WHEN bucket.on THEN 0 ELSE rs.passes_over_platform_failures END)::bigint
                      AS "passed!",
                  sum(rs.fail_count + rs.warn_count
                      + CASE WHEN bucket.on THEN 0 ELSE rs.passes_over_platform_failures END)::bigint AS "failed!"
           FROM clusters k
           -- With the platform bucket off, a check that passed only over platform-owned failures has failed.
           CROSS JOIN LATERAL (SELECT platform_bucket_on(k.id, $2) AS on) bucket
           CROSS JOIN unnest($1::text[]) AS b(benchmark_id)
           CROSS JOIN LATERAL (
               SELECT s.result_set_id FROM cluster_scans s
               WHERE s.cluster_id = k.id AND s.benchmark_id = b.benchmark_id AND s.finished_at <= $2
               ORDER BY s.finished_at DESC, s.scan_id DESC
               LIMIT 1
           ) l
           JOIN cluster_result_sets rs ON rs.id = l.result_set_id
           GROUP BY k.id"#,
        benchmarks,
        at
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.cluster_id, row.passed, row.failed))
        .collect())
}

/// What a cluster's newest scan said of one check at a moment, kept with an attestation: the scan, and a JSON
/// record of the check's status, how many objects it evaluated, and the objects it listed (at most 500, with
/// how many there were).
#[derive(Debug, Clone)]
pub struct CheckSnapshot {
    pub scan_id: uuid::Uuid,
    pub evidence: serde_json::Value,
}

/// The most objects an attestation keeps; the record says when there were more.
const SNAPSHOT_OBJECTS_AT_MOST: i64 = 500;

#[tracing::instrument(skip_all, fields(cluster.id = cluster_id, check = check_id))]
pub async fn check_snapshot(
    conn: &mut PgConnection,
    cluster_id: i64,
    check_id: &str,
    at: OffsetDateTime,
) -> Result<Option<CheckSnapshot>, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT l.scan_id, jsonb_build_object(
                      'scan_id', l.scan_id,
                      'scanned_at', l.finished_at,
                      'benchmark', jsonb_build_object('id', rs.benchmark_id, 'version', rs.benchmark_version),
                      'status', c.status,
                      'detail', c.detail,
                      'evaluated', coalesce((rs.evaluated ->> $2)::bigint, 0),
                      'listed', cardinality(c.object_result_ids),
                      'objects', coalesce((
                          SELECT jsonb_agg(jsonb_build_object(
                                     'kind', o.kind, 'namespace', o.namespace, 'name', o.name,
                                     'status', r.status, 'evidence', r.evidence, 'detail', r.detail,
                                     'platform', r.platform)
                                 ORDER BY o.kind, o.namespace, o.name)
                          FROM (SELECT u.id FROM unnest(c.object_result_ids) AS u(id) LIMIT $4) listed
                          JOIN object_results r ON r.id = listed.id
                          JOIN objects o ON o.id = r.object_id), '[]'::jsonb)
                  ) AS "evidence!"
           FROM (
               SELECT s.scan_id, s.result_set_id, s.finished_at FROM cluster_scans s
               WHERE s.cluster_id = $1 AND s.finished_at <= $3
                 AND EXISTS (SELECT 1 FROM cluster_result_sets sets
                             WHERE sets.id = s.result_set_id AND sets.result_map ? $2)
               ORDER BY s.finished_at DESC, s.scan_id DESC
               LIMIT 1
           ) l
           JOIN cluster_result_sets rs ON rs.id = l.result_set_id
           JOIN cluster_check_results c ON c.id = (rs.result_map ->> $2)::bigint"#,
        cluster_id,
        check_id,
        at,
        SNAPSHOT_OBJECTS_AT_MOST
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|row| CheckSnapshot {
        scan_id: row.scan_id,
        evidence: row.evidence,
    }))
}

/// A change of a cluster's platform bucket.
#[derive(Debug, Clone)]
pub struct PlatformBucketChange {
    pub enabled: bool,
    pub reason: String,
    pub changed_by: String,
    pub changed_at: OffsetDateTime,
}

/// The newest change of a cluster's platform bucket by `at`; none: it was never changed (it is on).
#[tracing::instrument(skip_all, fields(cluster.id = cluster_id))]
pub async fn platform_bucket(
    conn: &mut PgConnection,
    cluster_id: i64,
    at: OffsetDateTime,
) -> Result<Option<PlatformBucketChange>, sqlx::Error> {
    sqlx::query_as!(
        PlatformBucketChange,
        r#"SELECT enabled, reason, changed_by, changed_at FROM platform_bucket_changes
           WHERE cluster_id = $1 AND changed_at <= $2
           ORDER BY changed_at DESC, id DESC LIMIT 1"#,
        cluster_id,
        at
    )
    .fetch_optional(conn)
    .await
}

pub async fn set_platform_bucket(
    conn: &mut PgConnection,
    cluster_id: i64,
    enabled: bool,
    reason: &str,
    by: &crate::domain::actor::Actor,
    at: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"INSERT INTO platform_bucket_changes (cluster_id, enabled, reason, changed_by_id, changed_by, changed_at)
           VALUES ($1, $2, $3, $4, $5, $6)"#,
        cluster_id,
        enabled,
        reason,
        by.id,
        by.name,
        at
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Attestations of cluster-scope checks valid for a cluster at a moment: the newest recorded per check.
#[derive(Debug, Clone)]
pub struct CheckAttestation {
    pub check_id: String,
    pub attestation_id: i64,
    pub verdict: String,
    pub attested_by: String,
    pub valid_until: OffsetDateTime,
}

#[tracing::instrument(skip_all, fields(cluster.id = cluster_id))]
pub async fn attestations(
    conn: &mut PgConnection,
    cluster_id: i64,
    at: OffsetDateTime,
) -> Result<Vec<CheckAttestation>, sqlx::Error> {
    sqlx::query_as!(
        CheckAttestation,
        r#"SELECT DISTINCT ON (a.check_id) a.check_id, a.id AS attestation_id, a.verdict, a.attested_by,
                  a.valid_until
           FROM attestations a
           WHERE a.cluster_id = $1 AND a.evidence_scan_id IS NOT NULL
             AND attestation_valid(a.valid_from, a.valid_until, a.revoked_at, $2)
           ORDER BY a.check_id, a.attested_at DESC, a.id DESC"#,
        cluster_id,
        at
    )
    .fetch_all(conn)
    .await
}
