//! Scans arriving late and out of order: history and findings follow each scan's `finished_at`, never its
//! arrival. Any arrival order of the same scans must end in the same findings and the same transitions.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop loudly at the first unexpected error"
)]

mod common;

use common::{TestServer, at, events_of, findings_of, report};
use kubeward_benchmark::Status;
use kubeward_benchmark::report::Report;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;

const CHECKS: [&str; 3] = ["1.1.1", "1.2.15", "4.2.1"];
const STATUSES: [Status; 5] = [
    Status::Pass,
    Status::Fail,
    Status::Warn,
    Status::Error,
    Status::NotApplicable,
];

/// A node's scans over `hours`, each check's status drawn at random (runs of equal reports included).
fn random_history(rng: &mut StdRng, scans: usize) -> Vec<Vec<(&'static str, Status)>> {
    let mut history: Vec<Vec<(&'static str, Status)>> = Vec::new();
    for _ in 0..scans {
        if let Some(last) = history.last().filter(|_| rng.random_bool(0.3)) {
            history.push(last.clone());
            continue;
        }
        history.push(
            CHECKS
                .iter()
                .map(|check| (*check, STATUSES[rng.random_range(0..STATUSES.len())]))
                .collect(),
        );
    }
    history
}

async fn deliver(server: &TestServer, token: &str, reports: &[Report]) {
    for report in reports {
        let status = server.post(token, report).await.status();
        assert_eq!(status, 201, "scan at {}", report.finished_at);
    }
}

type Transitions = Vec<(String, String, time::OffsetDateTime)>;

async fn outcome(
    pool: &PgPool,
    cluster: &str,
) -> (
    Vec<(
        String,
        String,
        time::OffsetDateTime,
        time::OffsetDateTime,
        i32,
    )>,
    Transitions,
) {
    let findings = findings_of(pool, cluster, "node-1").await;
    let mut transitions: Transitions = events_of(pool, cluster, "node-1")
        .await
        .into_iter()
        .map(|(_, check, kind, at)| (check, kind, at))
        .collect();
    transitions.sort_by(|a, b| (a.0.as_str(), a.2).cmp(&(b.0.as_str(), b.2)));
    (findings, transitions)
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn a_late_scan_between_two_failures_resolves_and_reopens_in_the_past(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, token) = server.enroll("prod").await;
    let failing = [("1.2.15", Status::Fail)];
    deliver(
        &server,
        &token,
        &[
            report("node-1", at(0), &failing),
            report("node-1", at(2), &failing),
        ],
    )
    .await;
    // The scan of hour 1, delivered from a spool after an outage, shows the check passing.
    let late = report("node-1", at(1), &[]);
    let response = server.post(&token, &late).await;
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["late"], true);
    let events = events_of(&pool, "prod", "node-1").await;
    let kinds: Vec<(&str, time::OffsetDateTime)> =
        events.iter().map(|e| (e.2.as_str(), e.3)).collect();
    // In feed order: the first opening, then the two transitions the late scan revealed.
    assert_eq!(
        kinds,
        [("opened", at(0)), ("resolved", at(1)), ("reopened", at(2))]
    );
    let findings = findings_of(&pool, "prod", "node-1").await;
    assert_eq!(findings[0].1, "open");
    assert_eq!(
        (findings[0].2, findings[0].3, findings[0].4),
        (at(0), at(2), 1)
    );
    // The node's last seen is the newest scan, not the last arrival.
    let last_seen: time::OffsetDateTime = sqlx::query_scalar("SELECT last_seen FROM nodes")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(last_seen, at(2));
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn a_late_failing_scan_moves_the_opening_earlier_without_a_second_event(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, token) = server.enroll("prod").await;
    deliver(
        &server,
        &token,
        &[
            report("node-1", at(0), &[]),
            report("node-1", at(4), &[("1.1.1", Status::Fail)]),
        ],
    )
    .await;
    let before = events_of(&pool, "prod", "node-1").await;
    deliver(
        &server,
        &token,
        &[report("node-1", at(2), &[("1.1.1", Status::Fail)])],
    )
    .await;
    let after = events_of(&pool, "prod", "node-1").await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].0, before[0].0, "the same event, corrected");
    assert_eq!((after[0].2.as_str(), after[0].3), ("opened", at(2)));
    assert_eq!(findings_of(&pool, "prod", "node-1").await[0].2, at(2));
}

/// Random histories delivered in time order and in a random order end in the same findings and transitions.
#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn any_arrival_order_ends_in_the_same_findings_as_time_order(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let mut rng = StdRng::seed_from_u64(0x6b75_6265);
    for case in 0..24 {
        let scans = rng.random_range(2..9);
        let history = random_history(&mut rng, scans);
        let reports: Vec<Report> = history
            .iter()
            .enumerate()
            .map(|(hour, statuses)| report("node-1", at(hour as i64), statuses))
            .collect();
        let mut shuffled = reports.clone();
        shuffled.shuffle(&mut rng);

        let ordered_cluster = format!("ordered-{case}");
        let shuffled_cluster = format!("shuffled-{case}");
        let (_, ordered_token) = server.enroll(&ordered_cluster).await;
        let (_, shuffled_token) = server.enroll(&shuffled_cluster).await;
        // Scan ids must differ between the two clusters; contents are otherwise identical.
        let renamed: Vec<Report> = shuffled
            .iter()
            .map(|report| {
                let mut copy = report.clone();
                copy.scan_id = uuid::Uuid::now_v7();
                copy
            })
            .collect();
        deliver(&server, &ordered_token, &reports).await;
        deliver(&server, &shuffled_token, &renamed).await;

        let ordered = outcome(&pool, &ordered_cluster).await;
        let arrived = outcome(&pool, &shuffled_cluster).await;
        let order: Vec<i64> = shuffled
            .iter()
            .map(|report| (report.finished_at - at(0)).whole_hours())
            .collect();
        assert_eq!(
            ordered.0, arrived.0,
            "findings differ for history {history:?} delivered as {order:?}"
        );
        assert_eq!(
            ordered.1, arrived.1,
            "transitions differ for history {history:?} delivered as {order:?}"
        );
    }
    assert_summaries_agree(&pool).await;
}

/// The fleet page's summaries equal what they summarise, however the scans arrived: `cluster_days` is the sum
/// of `node_days` per cluster and day, and each node's `last_result_set_id` is its newest scan's.
async fn assert_summaries_agree(pool: &PgPool) {
    let differences: i64 = sqlx::query_scalar(
        r#"WITH expected AS (
               SELECT n.cluster_id, d.day, count(*)::int AS nodes, sum(rs.pass_count)::bigint AS pass,
                      sum(rs.fail_count)::bigint AS fail, sum(rs.warn_count)::bigint AS warn,
                      sum(rs.manual_count)::bigint AS manual,
                      sum(rs.not_applicable_count)::bigint AS not_applicable,
                      sum(rs.error_count)::bigint AS error,
                      coalesce(sum(rs.automated_pass_count), 0)::bigint AS automated_pass,
                      (count(*) FILTER (WHERE rs.automated_pass_count IS NULL))::int AS unscored_nodes
               FROM node_days d JOIN nodes n ON n.id = d.node_id JOIN result_sets rs ON rs.id = d.result_set_id
               GROUP BY n.cluster_id, d.day
           )
           SELECT count(*) FROM (
               (SELECT * FROM expected EXCEPT SELECT * FROM cluster_days)
               UNION ALL
               (SELECT * FROM cluster_days EXCEPT SELECT * FROM expected)
           ) difference"#,
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(differences, 0, "cluster_days drifted from node_days");
    let wrong_latest: i64 = sqlx::query_scalar(
        r#"SELECT count(*) FROM nodes n
           WHERE n.last_result_set_id IS DISTINCT FROM (
               SELECT s.result_set_id FROM scans s WHERE s.node_id = n.id
               ORDER BY s.finished_at DESC, s.scan_id DESC LIMIT 1)"#,
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(
        wrong_latest, 0,
        "a node's newest result set is not its newest scan's"
    );
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn fleet_summaries_stay_exact_under_late_and_repeated_scans_across_days(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let mut rng = StdRng::seed_from_u64(0x7375_6d73);
    for cluster in ["alpha", "beta"] {
        let (_, token) = server.enroll(cluster).await;
        let mut reports = Vec::new();
        for node in ["cp-1", "worker-1", "worker-2"] {
            let history = random_history(&mut rng, 12);
            // Scans every 7 hours: several a day, over four days, so that days fill, change and are replaced.
            for (index, statuses) in history.iter().enumerate() {
                reports.push(report(node, at(index as i64 * 7), statuses));
            }
        }
        reports.shuffle(&mut rng);
        deliver(&server, &token, &reports).await;
    }
    assert_summaries_agree(&pool).await;
    let days: i64 = sqlx::query_scalar("SELECT count(DISTINCT day) FROM cluster_days")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(days >= 4, "the scans span several days: {days}");
}
