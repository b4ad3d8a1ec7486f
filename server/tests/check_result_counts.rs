//! The counts stored with each cluster check result (the check_result_counts migration): what ingest stores
//! must be what the listed object results say, the migration must count the rows stored before it the same
//! way, and the per-namespace standing read from them must equal counting the objects one by one.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop loudly at the first unexpected error"
)]

mod common;

use common::{TestServer, at, cluster_report, object};
use kubeward_benchmark::Status;
use kubeward_benchmark::cluster_report::{ClusterCheckResult, ClusterReport, PlatformMark};
use kubeward_benchmark::policy::catalog::PolicyCatalog;
use kubeward_server::storage::policies;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;

const NAMESPACES: [&str; 4] = ["shop", "kube-system", "", "a-b"];
const STATUSES: [Status; 5] = [
    Status::Fail,
    Status::Warn,
    Status::Manual,
    Status::Error,
    Status::Pass,
];

fn mark(rng: &mut StdRng) -> Option<PlatformMark> {
    match rng.random_range(0..6) {
        0 => Some(PlatformMark {
            list: "eks".into(),
            version: "2026.11".into(),
            reason: "aws-node runs privileged".into(),
        }),
        1 => Some(PlatformMark {
            list: "<b>list</b>".into(),
            version: "1'; DROP TABLE objects; --".into(),
            reason: "hostile".into(),
        }),
        _ => None,
    }
}

/// Lists a random choice of a pool of 30 objects (the same object under several checks) in each given check.
fn randomize(report: &mut ClusterReport, checks: &[&str], rng: &mut StdRng) {
    for result in &mut report.results {
        if !checks.contains(&result.check.as_str()) {
            continue;
        }
        for n in 0..30 {
            if rng.random_bool(0.5) {
                continue;
            }
            let namespace = NAMESPACES[n % NAMESPACES.len()];
            let kind = if namespace.is_empty() {
                "ClusterRoleBinding"
            } else {
                "Deployment"
            };
            let status = STATUSES[rng.random_range(0..STATUSES.len())];
            let mut listed = object(kind, namespace, &format!("app-{n}"), status);
            listed.platform = mark(rng);
            result.objects.push(listed);
        }
        result.status = Status::Fail;
        result.evaluated = 40;
    }
}

/// A kubeward-hardening report listing objects under every check of that catalog.
fn hardening_report(hour: i64, rng: &mut StdRng) -> ClusterReport {
    let catalog = PolicyCatalog::builtin("kubeward-hardening").unwrap();
    let mut report = cluster_report(at(hour), &[]);
    report.benchmark.id = catalog.benchmark.id.clone();
    report.benchmark.version = catalog.benchmark.version.clone();
    report.results = catalog
        .checks
        .iter()
        .map(|check| ClusterCheckResult {
            check: check.id.clone(),
            status: Status::Pass,
            evaluated: 40,
            objects: Vec::new(),
            detail: None,
        })
        .collect();
    let ids: Vec<String> = catalog.checks.iter().map(|c| c.id.clone()).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    randomize(&mut report, &ids, rng);
    report
}

/// Delivers a few scans of each benchmark to two clusters, each changing at random.
async fn fill(server: &TestServer) {
    let mut rng = StdRng::seed_from_u64(7);
    for cluster in ["prod", "stage"] {
        let (_, agent) = server.enroll(cluster).await;
        for hour in 0..4 {
            let mut report = cluster_report(at(hour), &[]);
            randomize(&mut report, &["5.2.2", "5.2.3", "5.1.1", "5.7.4"], &mut rng);
            let response = server.post_cluster(&agent, &report).await;
            assert_eq!(response.status(), 201);
            let response = server
                .post_cluster(&agent, &hardening_report(hour, &mut rng))
                .await;
            assert_eq!(response.status(), 201);
        }
    }
}

/// Every check result's counts as the definition says, from its object results, in a stable text form.
const RECOUNTED: &str = r#"
    SELECT c.id, c.failing, c.unknown, c.platform, c.platform_fail, c.platform_warn, c.platform_unknown,
           c.platform_lists, c.by_namespace,
           coalesce(x.failing, 0), coalesce(x.unknown, 0), coalesce(x.platform, 0),
           coalesce(x.platform_fail, 0), coalesce(x.platform_warn, 0), coalesce(x.platform_unknown, 0),
           coalesce(x.lists, '{}'), coalesce(n.by_namespace, '{}'::jsonb)
    FROM cluster_check_results c
    LEFT JOIN LATERAL (
        SELECT count(*) FILTER (WHERE r.platform IS NULL AND r.status IN ('fail', 'warn'))::int AS failing,
               count(*) FILTER (WHERE r.platform IS NULL AND r.status IN ('manual', 'error'))::int AS unknown,
               count(*) FILTER (WHERE r.platform IS NOT NULL)::int AS platform,
               count(*) FILTER (WHERE r.platform IS NOT NULL AND r.status = 'fail')::int AS platform_fail,
               count(*) FILTER (WHERE r.platform IS NOT NULL AND r.status = 'warn')::int AS platform_warn,
               count(*) FILTER (WHERE r.platform IS NOT NULL AND r.status IN ('manual', 'error'))::int
                   AS platform_unknown,
               array_agg(DISTINCT (r.platform ->> 'list') || ' ' || (r.platform ->> 'version'))
                   FILTER (WHERE r.platform IS NOT NULL) AS lists
        FROM unnest(c.object_result_ids) AS u(id) JOIN object_results r ON r.id = u.id
    ) x ON true
    LEFT JOIN LATERAL (
        SELECT jsonb_object_agg(namespace, counts) AS by_namespace FROM (
            SELECT o.namespace, jsonb_build_object(
                'failing', count(*) FILTER (WHERE r.platform IS NULL AND r.status IN ('fail', 'warn')),
                'unknown', count(*) FILTER (WHERE r.platform IS NULL AND r.status IN ('manual', 'error')),
                'platform', count(*) FILTER (WHERE r.platform IS NOT NULL),
                'platform_failing',
                    count(*) FILTER (WHERE r.platform IS NOT NULL AND r.status IN ('fail', 'warn')),
                'platform_unknown',
                    count(*) FILTER (WHERE r.platform IS NOT NULL AND r.status IN ('manual', 'error')),
                'objects', jsonb_agg(DISTINCT o.id)) AS counts
            FROM unnest(c.object_result_ids) AS u(id)
            JOIN object_results r ON r.id = u.id JOIN objects o ON o.id = r.object_id
            GROUP BY o.namespace
        ) per_namespace
    ) n ON true
    ORDER BY c.id"#;

type Counts = (i32, i32, i32, i32, i32, i32, Vec<String>, serde_json::Value);

/// (stored, recounted) per check result.
async fn stored_and_recounted(pool: &PgPool) -> Vec<(i64, Counts, Counts)> {
    let rows = sqlx::query(RECOUNTED).fetch_all(pool).await.unwrap();
    use sqlx::Row;
    rows.iter()
        .map(|row| {
            let stored: Counts = (
                row.get(1),
                row.get(2),
                row.get(3),
                row.get(4),
                row.get(5),
                row.get(6),
                row.get(7),
                row.get(8),
            );
            let recounted: Counts = (
                row.get(9),
                row.get(10),
                row.get(11),
                row.get(12),
                row.get(13),
                row.get(14),
                row.get(15),
                row.get(16),
            );
            (row.get(0), stored, recounted)
        })
        .collect()
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn ingest_stores_with_each_check_result_what_its_objects_say(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    fill(&server).await;
    let rows = stored_and_recounted(&pool).await;
    assert!(rows.len() > 20, "{} check results", rows.len());
    // The fill must exercise every count, or the comparison proves little.
    let total = |pick: fn(&Counts) -> i32| rows.iter().map(|(_, s, _)| pick(s)).sum::<i32>();
    assert!(total(|c| c.0) > 0 && total(|c| c.1) > 0 && total(|c| c.2) > 0);
    assert!(total(|c| c.3) > 0 && total(|c| c.4) > 0 && total(|c| c.5) > 0);
    assert!(rows.iter().any(|(_, s, _)| s.6.len() == 2), "both lists");
    for (id, stored, recounted) in &rows {
        assert_eq!(stored, recounted, "check result {id}");
    }
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn the_migration_counts_the_rows_stored_before_it_as_ingest_does(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    fill(&server).await;
    let before = stored_and_recounted(&pool).await;
    // Back to the table as it was before the migration, then the migration itself.
    sqlx::raw_sql(
        "ALTER TABLE cluster_check_results DROP COLUMN failing, DROP COLUMN unknown, DROP COLUMN platform,
             DROP COLUMN platform_fail, DROP COLUMN platform_warn, DROP COLUMN platform_unknown,
             DROP COLUMN platform_lists, DROP COLUMN by_namespace",
    )
    .execute(&pool)
    .await
    .unwrap();
    let migration = kubeward_server::MIGRATOR
        .iter()
        .find(|migration| migration.description == "check result counts")
        .unwrap();
    sqlx::raw_sql(migration.sql.clone())
        .execute(&pool)
        .await
        .unwrap();
    let after = stored_and_recounted(&pool).await;
    assert_eq!(before.len(), after.len());
    for ((id, ingested, _), (_, migrated, recounted)) in before.iter().zip(&after) {
        assert_eq!(migrated, ingested, "check result {id}");
        assert_eq!(migrated, recounted, "check result {id}");
    }
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn namespaces_add_up_the_stored_counts_as_counting_object_by_object_does(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    fill(&server).await;
    let benchmarks = vec![
        "cis-kubernetes".to_owned(),
        PolicyCatalog::builtin("kubeward-hardening")
            .unwrap()
            .benchmark
            .id,
    ];
    let clusters: Vec<i64> = sqlx::query_scalar("SELECT id FROM clusters ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    for cluster in clusters {
        for hour in [1, 3] {
            let mut conn = pool.acquire().await.unwrap();
            let read = policies::namespaces(&mut conn, cluster, &benchmarks, at(hour))
                .await
                .unwrap();
            // The listed objects of the newest scan of each benchmark, counted one by one.
            let counted: Vec<(String, i64, i64, i64, i64, i64, i64)> = sqlx::query_as(
                r#"WITH latest AS (
                       SELECT l.result_set_id FROM unnest($3::text[]) AS b(benchmark_id)
                       CROSS JOIN LATERAL (
                           SELECT s.result_set_id FROM cluster_scans s
                           WHERE s.cluster_id = $1 AND s.benchmark_id = b.benchmark_id AND s.finished_at <= $2
                           ORDER BY s.finished_at DESC, s.scan_id DESC LIMIT 1) l
                   )
                   SELECT o.namespace,
                          count(*) FILTER (WHERE r.platform IS NULL AND r.status IN ('fail', 'warn')),
                          count(*) FILTER (WHERE r.platform IS NULL AND r.status IN ('manual', 'error')),
                          count(*) FILTER (WHERE r.platform IS NOT NULL),
                          count(*) FILTER (WHERE r.platform IS NOT NULL AND r.status IN ('fail', 'warn')),
                          count(*) FILTER (WHERE r.platform IS NOT NULL AND r.status IN ('manual', 'error')),
                          count(DISTINCT o.id)
                   FROM latest l
                   JOIN cluster_result_sets rs ON rs.id = l.result_set_id
                   CROSS JOIN LATERAL jsonb_each_text(rs.result_map) AS m(check_id, result_id)
                   JOIN cluster_check_results c ON c.id = m.result_id::bigint
                   CROSS JOIN LATERAL unnest(c.object_result_ids) AS u(id)
                   JOIN object_results r ON r.id = u.id
                   JOIN objects o ON o.id = r.object_id
                   GROUP BY o.namespace ORDER BY o.namespace COLLATE "C""#,
            )
            .bind(cluster)
            .bind(at(hour))
            .bind(&benchmarks)
            .fetch_all(&pool)
            .await
            .unwrap();
            assert_eq!(counted.len(), NAMESPACES.len(), "every namespace is listed");
            let read: Vec<(String, i64, i64, i64, i64, i64, i64)> = read
                .into_iter()
                .map(|row| {
                    (
                        row.namespace,
                        row.failing,
                        row.unknown,
                        row.platform,
                        row.platform_failing,
                        row.platform_unknown,
                        row.objects,
                    )
                })
                .collect();
            assert_eq!(read, counted, "cluster {cluster} at hour {hour}");
        }
    }
}
