//! Cluster reports (`kubeward/cluster-report/v1`) at `POST /api/v1/reports`: the ingest contract, storage that
//! grows with changes, and findings on Kubernetes objects followed across scans in the same findings table,
//! event feed and API as node findings.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop loudly at the first unexpected error"
)]

mod common;

use std::io::Write;

use common::{Listed, TestServer, api_token, at, cluster_report, count, problem, report};
use kubeward_benchmark::Status;
use kubeward_benchmark::cluster_report::{ClusterReport, PlatformMark};
use kubeward_benchmark::policy::catalog::PolicyCatalog;
use kubeward_server::domain::role::Role;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

async fn post(server: &TestServer, token: &str, report: &ClusterReport) -> reqwest::Response {
    server.post_cluster(token, report).await
}

async fn deliver(server: &TestServer, token: &str, report: &ClusterReport) -> Value {
    let response = post(server, token, report).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

async fn post_gzip(server: &TestServer, token: &str, body: Vec<u8>) -> reqwest::Response {
    server
        .client
        .post(server.url("/api/v1/reports"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn get(server: &TestServer, token: &str, path: &str) -> Value {
    let response = server
        .client
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

/// `(kind, namespace, name, check, state, first_seen, state_since, reopen_count)` of every object finding of a
/// cluster, in subject order.
type ObjectFinding = (
    String,
    String,
    String,
    String,
    String,
    OffsetDateTime,
    OffsetDateTime,
    i32,
);

async fn object_findings(pool: &PgPool, cluster: &str) -> Vec<ObjectFinding> {
    sqlx::query_as(
        "SELECT o.kind, o.namespace, o.name, f.check_id, f.state, f.first_seen, f.state_since, f.reopen_count
         FROM findings f JOIN objects o ON o.id = f.object_id JOIN clusters c ON c.id = f.cluster_id
         WHERE c.name = $1 ORDER BY o.kind, o.namespace, o.name, f.check_id",
    )
    .bind(cluster)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// `(name, check, kind, at)` of every event on a cluster's objects, sorted by subject then time.
async fn object_events(
    pool: &PgPool,
    cluster: &str,
) -> Vec<(String, String, String, OffsetDateTime)> {
    sqlx::query_as(
        "SELECT o.name, f.check_id, e.kind, e.at
         FROM finding_events e JOIN findings f ON f.id = e.finding_id JOIN objects o ON o.id = f.object_id
         JOIN clusters c ON c.id = f.cluster_id
         WHERE c.name = $1 ORDER BY o.name, f.check_id, e.at, e.kind",
    )
    .bind(cluster)
    .fetch_all(pool)
    .await
    .unwrap()
}

const CART: Listed = ("Deployment", "shop", "cart", Status::Warn);

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn a_failing_object_opens_a_finding_the_api_and_the_feed_name_it_by(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("prod").await;
    let (_, auditor) = api_token(&pool, Role::Auditor, None).await;
    let scan = cluster_report(at(0), &[("5.2.2", Status::Warn, &[CART])]);
    let receipt = deliver(&server, &agent, &scan).await;
    assert_eq!(receipt["stored"], "now");
    assert_eq!(receipt["objects"], 1);
    assert_eq!(receipt["findings"]["opened"], 1);
    assert!(receipt.get("node").is_none(), "{receipt}");

    let page = get(&server, &auditor, "/api/v1/findings?cluster=prod").await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    let finding = &items[0];
    assert_eq!(finding["subject"], "object");
    assert_eq!(finding["node"], Value::Null);
    assert_eq!(
        finding["object"],
        serde_json::json!({"kind": "Deployment", "namespace": "shop", "name": "cart"})
    );
    assert_eq!(finding["check"], "5.2.2");
    assert_eq!(finding["state"], "open");
    assert_eq!(finding["section"], "5.2");
    assert!(
        finding["title"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("privileged"),
        "{finding}"
    );
    assert_eq!(
        finding["evidence"][0]["path"],
        "spec.template.spec.initContainers[0].securityContext.privileged"
    );
    assert_eq!(finding["last_seen"], "2026-09-21T14:13:20Z");

    let feed = get(&server, &auditor, "/api/v1/events").await;
    let event = &feed["items"][0];
    assert_eq!(event["kind"], "opened");
    assert_eq!(event["finding"]["subject"], "object");
    assert_eq!(event["finding"]["object"]["name"], "cart");
    assert_eq!(event["scan_id"], scan.scan_id.to_string());
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn node_and_object_findings_share_one_id_sequence_and_one_feed(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("prod").await;
    let (_, auditor) = api_token(&pool, Role::Auditor, None).await;
    let response = server
        .post(&agent, &report("cp-1", at(0), &[("1.1.1", Status::Fail)]))
        .await;
    assert_eq!(response.status(), 201);
    deliver(
        &server,
        &agent,
        &cluster_report(at(1), &[("5.2.2", Status::Warn, &[CART])]),
    )
    .await;
    let response = server
        .post(
            &agent,
            &report(
                "cp-1",
                at(2),
                &[("1.1.1", Status::Fail), ("1.1.2", Status::Fail)],
            ),
        )
        .await;
    assert_eq!(response.status(), 201);

    let feed = get(&server, &auditor, "/api/v1/events").await;
    let subjects: Vec<(&str, &str)> = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| {
            (
                event["finding"]["subject"].as_str().unwrap(),
                event["finding"]["check"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        subjects,
        [("node", "1.1.1"), ("object", "5.2.2"), ("node", "1.1.2")]
    );
    let ids: Vec<i64> = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["finding"]["id"].as_i64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");

    // Filters by subject: a kind or namespace names only object findings.
    let deployments = get(&server, &auditor, "/api/v1/findings?kind=Deployment").await;
    assert_eq!(deployments["items"].as_array().unwrap().len(), 1);
    let shop = get(
        &server,
        &auditor,
        "/api/v1/findings?namespace=shop&object=cart",
    )
    .await;
    assert_eq!(shop["items"][0]["object"]["name"], "cart");
    let none = get(&server, &auditor, "/api/v1/findings?namespace=other").await;
    assert_eq!(none["items"].as_array().unwrap().len(), 0);
    let node = get(&server, &auditor, "/api/v1/findings?node=cp-1").await;
    assert_eq!(node["items"].as_array().unwrap().len(), 2);
    assert!(
        node["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|item| item["subject"] == "node" && item["object"].is_null())
    );
}

/// Two failing objects of one check are two findings (two tickets); fixing one resolves only its own, a
/// deleted object resolves the same way, and one that comes back reopens its finding with the same id.
#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn each_object_is_its_own_finding_through_fix_deletion_and_return(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("prod").await;
    let (_, auditor) = api_token(&pool, Role::Auditor, None).await;
    let web = ("Deployment", "shop", "web", Status::Warn);
    let batch = ("CronJob", "ops", "backup", Status::Warn);

    deliver(
        &server,
        &agent,
        &cluster_report(at(0), &[("5.2.2", Status::Warn, &[CART, web, batch])]),
    )
    .await;
    let opened = get(&server, &auditor, "/api/v1/findings?check=5.2.2").await;
    let ids: Vec<i64> = opened["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 3);

    // cart is fixed, backup is deleted: both leave the list.
    let receipt = deliver(
        &server,
        &agent,
        &cluster_report(at(1), &[("5.2.2", Status::Warn, &[web])]),
    )
    .await;
    assert_eq!(receipt["findings"]["resolved"], 2);
    // backup is created again, still privileged.
    let receipt = deliver(
        &server,
        &agent,
        &cluster_report(at(2), &[("5.2.2", Status::Warn, &[web, batch])]),
    )
    .await;
    assert_eq!(receipt["findings"]["reopened"], 1);

    let findings = object_findings(&pool, "prod").await;
    let states: Vec<(&str, &str, i32)> = findings
        .iter()
        .map(|f| (f.2.as_str(), f.4.as_str(), f.7))
        .collect();
    assert_eq!(
        states,
        [
            ("backup", "open", 1),
            ("cart", "resolved", 0),
            ("web", "open", 0)
        ]
    );
    let again = get(&server, &auditor, "/api/v1/findings?object=backup").await;
    assert!(
        ids.contains(&again["items"][0]["id"].as_i64().unwrap()),
        "the same finding id"
    );
    let cart = findings.iter().find(|f| f.2 == "cart").unwrap();
    assert_eq!((cart.5, cart.6), (at(0), at(1)));

    // As of hour 1, backup was resolved; as of hour 0 all three were open.
    let past = get(
        &server,
        &auditor,
        "/api/v1/findings?object=backup&at=2026-09-21T15:13:20Z",
    )
    .await;
    assert_eq!(past["items"][0]["state"], "resolved");
    let first = get(
        &server,
        &auditor,
        "/api/v1/findings?check=5.2.2&state=open&at=2026-09-21T14:13:20Z",
    )
    .await;
    assert_eq!(first["items"].as_array().unwrap().len(), 3);
    // A resolved finding shows the evidence of its last failing scan.
    let resolved = get(&server, &auditor, "/api/v1/findings?object=cart").await;
    assert_eq!(resolved["items"][0]["evidence"][0]["observed"], "true");
    assert_eq!(resolved["items"][0]["last_seen"], "2026-09-21T14:13:20Z");
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn a_check_that_errored_or_is_missing_moves_nothing_and_unknown_objects_stay_as_they_were(
    pool: PgPool,
) {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("prod").await;
    deliver(
        &server,
        &agent,
        &cluster_report(at(0), &[("5.2.2", Status::Warn, &[CART])]),
    )
    .await;
    // The agent could not list Deployments: the check errors as a whole and cart is not listed.
    let receipt = deliver(
        &server,
        &agent,
        &cluster_report(at(1), &[("5.2.2", Status::Error, &[])]),
    )
    .await;
    assert_eq!(receipt["findings"]["resolved"], 0);
    // cart listed as manual (a fact missing): unknown, its finding stays open.
    let manual = ("Deployment", "shop", "cart", Status::Manual);
    let receipt = deliver(
        &server,
        &agent,
        &cluster_report(at(2), &[("5.2.2", Status::Manual, &[manual])]),
    )
    .await;
    assert_eq!(receipt["findings"]["resolved"], 0);
    // A report without the check at all (another agent version) moves nothing either.
    let mut without = cluster_report(at(3), &[]);
    without.results.retain(|result| result.check != "5.2.2");
    let receipt = deliver(&server, &agent, &without).await;
    assert_eq!(receipt["findings"]["resolved"], 0);
    assert_eq!(object_findings(&pool, "prod").await[0].4, "open");
    // A manual object never opens a finding of its own.
    let other = ("Deployment", "shop", "other", Status::Manual);
    let receipt = deliver(
        &server,
        &agent,
        &cluster_report(at(4), &[("5.2.2", Status::Warn, &[CART, other])]),
    )
    .await;
    assert_eq!(receipt["findings"]["opened"], 0);
    assert_eq!(object_findings(&pool, "prod").await.len(), 1);
    // The check runs and cart is gone from the list: now it resolves.
    let receipt = deliver(&server, &agent, &cluster_report(at(5), &[])).await;
    assert_eq!(receipt["findings"]["resolved"], 1);
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn an_unchanged_cluster_scan_costs_one_row_and_a_changed_one_only_what_changed(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("prod").await;
    let many: Vec<(String, Status)> = (0..200)
        .map(|n| (format!("app-{n}"), Status::Warn))
        .collect();
    let listed = |extra: Option<&str>| -> Vec<(&str, &str, String, Status)> {
        many.iter()
            .map(|(name, status)| ("Deployment", "shop", name.clone(), *status))
            .chain(extra.map(|name| ("Deployment", "shop", name.to_owned(), Status::Warn)))
            .collect()
    };
    let scan = |hour: i64, extra: Option<&str>| {
        let owned = listed(extra);
        let borrowed: Vec<Listed> = owned
            .iter()
            .map(|(kind, namespace, name, status)| (*kind, *namespace, name.as_str(), *status))
            .collect();
        cluster_report(
            at(hour),
            &[
                ("5.2.2", Status::Warn, &borrowed),
                ("5.2.3", Status::Warn, &borrowed),
            ],
        )
    };
    deliver(&server, &agent, &scan(0, None)).await;
    let tables = [
        "objects",
        "object_results",
        "cluster_check_results",
        "cluster_result_sets",
        "findings",
        "finding_events",
    ];
    let mut before = Vec::new();
    for table in tables {
        before.push(count(&pool, table).await);
    }
    assert_eq!(before[0], 200);
    assert_eq!(before[1], 400);
    let bytes_before: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
        .fetch_one(&pool)
        .await
        .unwrap();
    for hour in 1..=3 {
        let receipt = deliver(&server, &agent, &scan(hour, None)).await;
        assert_eq!(receipt["findings"]["opened"], 0);
    }
    for (table, rows) in tables.iter().zip(&before) {
        assert_eq!(
            count(&pool, table).await,
            *rows,
            "{table} grew on an unchanged scan"
        );
    }
    assert_eq!(count(&pool, "cluster_scans").await, 4);
    let row_bytes: i64 =
        sqlx::query_scalar("SELECT max(pg_column_size(s.*))::bigint FROM cluster_scans s")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(
        row_bytes < 1024,
        "an unchanged scan's row is {row_bytes} bytes"
    );

    // One new object: one object, two results, two lists, one set, two findings; nothing rewritten.
    deliver(&server, &agent, &scan(4, Some("new"))).await;
    let after: Vec<i64> = {
        let mut counts = Vec::new();
        for table in tables {
            counts.push(count(&pool, table).await);
        }
        counts
    };
    assert_eq!(
        after
            .iter()
            .zip(&before)
            .map(|(a, b)| a - b)
            .collect::<Vec<_>>(),
        [1, 2, 2, 1, 2, 2]
    );
    let _ = bytes_before;
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn re_delivery_is_idempotent_and_a_reused_scan_id_is_a_conflict_in_either_format(
    pool: PgPool,
) {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("prod").await;
    let scan = cluster_report(at(0), &[("5.2.2", Status::Warn, &[CART])]);
    deliver(&server, &agent, &scan).await;
    let again = post(&server, &agent, &scan).await;
    assert_eq!(again.status(), 200);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["stored"], "before");

    let mut changed = scan.clone();
    changed.results[0].evaluated += 1;
    let conflict = post(&server, &agent, &changed).await;
    assert_eq!(conflict.status(), 409);
    // A node report that reuses the cluster scan's id is the same conflict, and the reverse too.
    let mut node = report("cp-1", at(1), &[]);
    node.scan_id = scan.scan_id;
    assert_eq!(server.post(&agent, &node).await.status(), 409);
    let stored_node = report("cp-1", at(2), &[]);
    assert_eq!(server.post(&agent, &stored_node).await.status(), 201);
    let mut reused = cluster_report(at(3), &[]);
    reused.scan_id = stored_node.scan_id;
    assert_eq!(post(&server, &agent, &reused).await.status(), 409);
    // Another cluster's token learns nothing: the id is answered as a re-delivery and nothing is stored.
    let (_, other) = server.enroll("staging").await;
    let foreign = post(&server, &other, &scan).await;
    assert_eq!(foreign.status(), 200);
    assert_eq!(count(&pool, "cluster_scans").await, 1);
    assert_eq!(object_findings(&pool, "staging").await.len(), 0);
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn a_gzipped_cluster_report_is_taken_and_a_bomb_or_an_oversized_body_is_refused(
    pool: PgPool,
) {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("prod").await;
    // 5,000 objects: several MiB as JSON, well under the cluster report's 16 MiB, over the node report's 1 MiB.
    let names: Vec<String> = (0..5_000).map(|n| format!("app-{n:05}")).collect();
    let listed: Vec<Listed> = names
        .iter()
        .map(|name| ("Deployment", "shop", name.as_str(), Status::Warn))
        .collect();
    let big = cluster_report(at(0), &[("5.2.2", Status::Warn, &listed)]);
    let json = serde_json::to_vec(&big).unwrap();
    assert!(json.len() > 1024 * 1024, "{} bytes", json.len());
    let response = post_gzip(&server, &agent, gzip(&json)).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["findings"]["opened"], 5_000);
    // A filter naming thousands of objects pages through them like a narrow one.
    let (_, auditor) = api_token(&pool, Role::Auditor, None).await;
    let broad = get(
        &server,
        &auditor,
        "/api/v1/findings?kind=Deployment&namespace=shop&limit=500",
    )
    .await;
    let items = broad["items"].as_array().unwrap();
    assert_eq!(items.len(), 500);
    assert!(
        items
            .iter()
            .all(|item| item["object"]["kind"] == "Deployment")
    );
    let next = broad["next"].as_str().unwrap();
    let following = get(
        &server,
        &auditor,
        &format!("/api/v1/findings?kind=Deployment&namespace=shop&limit=500&cursor={next}"),
    )
    .await;
    assert_eq!(following["items"].as_array().unwrap().len(), 500);
    assert!(following["items"][0]["id"].as_i64() > items[499]["id"].as_i64());
    let none = get(
        &server,
        &auditor,
        "/api/v1/findings?kind=Deployment&namespace=other",
    )
    .await;
    assert_eq!(none["items"].as_array().unwrap().len(), 0);
    let one = get(
        &server,
        &auditor,
        "/api/v1/findings?kind=Deployment&object=app-00042",
    )
    .await;
    assert_eq!(one["items"].as_array().unwrap().len(), 1);

    // A node report of the same size is over its own limit.
    let mut node = serde_json::to_value(report("cp-1", at(1), &[])).unwrap();
    node["results"][0]["detail"] = Value::String("x".repeat(4_000));
    let padded: Vec<Value> = (0..400).map(|_| node["results"][0].clone()).collect();
    node["results"] = Value::Array(padded);
    let response = server
        .post_bytes(
            &agent,
            serde_json::to_vec(&node).unwrap(),
            "application/json",
        )
        .await;
    assert_eq!(response.status(), 413);

    // 64 MiB of one letter after a cluster report's opening, gzipped to a few hundred KiB.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder
        .write_all(br#"{"schema":"kubeward/cluster-report/v1","agent":{"version":""#)
        .unwrap();
    let chunk = vec![b'a'; 1024 * 1024];
    for _ in 0..64 {
        encoder.write_all(&chunk).unwrap();
    }
    let bomb = encoder.finish().unwrap();
    let response = post_gzip(&server, &agent, bomb).await;
    assert_eq!(response.status(), 413);
    let body = problem(response).await;
    assert!(
        body["detail"].as_str().unwrap().contains("16777216"),
        "{body}"
    );
    // Uncompressed and over 16 MiB.
    let response = server
        .post_bytes(&agent, vec![b' '; 16 * 1024 * 1024 + 1], "application/json")
        .await;
    assert_eq!(response.status(), 413);
    assert_eq!(count(&pool, "cluster_scans").await, 1);
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn malformed_and_hostile_cluster_reports_are_refused_naming_the_field_and_store_nothing(
    pool: PgPool,
) {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("prod").await;
    let good =
        serde_json::to_value(cluster_report(at(0), &[("5.2.2", Status::Warn, &[CART])])).unwrap();
    let cases: Vec<Breakage> = vec![
        (
            "schema",
            Box::new(|r| r["schema"] = "kubeward/cluster-report/v9".into()),
        ),
        ("source", Box::new(|r| r["source"] = "manifests".into())),
        ("source", Box::new(|r| r["source"] = "<script>".into())),
        (
            "benchmark",
            Box::new(|r| r["benchmark"]["version"] = "0.1".into()),
        ),
        (
            "results[0].check",
            Box::new(|r| r["results"][0]["check"] = "1.1.1".into()),
        ),
        (
            "results[0].check",
            Box::new(|r| r["results"][0]["check"] = "5.1.1'; DROP TABLE findings;--".into()),
        ),
        (
            "results[0].evaluated",
            Box::new(|r| r["results"][0]["evaluated"] = "many".into()),
        ),
        (
            "results[0].evaluated",
            Box::new(|r| r["results"][0]["evaluated"] = serde_json::json!(1e300)),
        ),
        (
            "finished_at",
            Box::new(|r| r["finished_at"] = "2999-01-01T00:00:00Z".into()),
        ),
        ("scan_id", Box::new(|r| r["scan_id"] = "not-a-uuid".into())),
    ];
    // The object under test is the one listed for 5.2.2.
    let index = good["results"]
        .as_array()
        .unwrap()
        .iter()
        .position(|result| result["check"] == "5.2.2")
        .unwrap();
    let object_cases: Vec<Breakage> = vec![
        (
            "kind",
            Box::new(|o| o["kind"] = "<script>alert(1)</script>".into()),
        ),
        ("namespace", Box::new(|o| o["namespace"] = "Shop".into())),
        ("name", Box::new(|o| o["name"] = "../../admin".into())),
        ("name", Box::new(|o| o["name"] = "a\u{0}b".into())),
        (
            "evidence[0].observed",
            Box::new(|o| o["evidence"][0]["observed"] = "x".repeat(5_000).into()),
        ),
        ("status", Box::new(|o| o["status"] = 7.into())),
    ];
    for (field, break_it) in &cases {
        let mut body = good.clone();
        break_it(&mut body);
        let response = server
            .post_bytes(
                &agent,
                serde_json::to_vec(&body).unwrap(),
                "application/json",
            )
            .await;
        assert_eq!(response.status(), 400, "{field}");
        let problem = problem(response).await;
        assert_eq!(problem["field"], *field, "{problem}");
    }
    for (field, break_it) in &object_cases {
        let mut body = good.clone();
        break_it(&mut body["results"][index]["objects"][0]);
        let response = server
            .post_bytes(
                &agent,
                serde_json::to_vec(&body).unwrap(),
                "application/json",
            )
            .await;
        assert_eq!(response.status(), 400, "{field}");
        let problem = problem(response).await;
        let expected = format!("results[{index}].objects[0].{field}");
        assert_eq!(problem["field"], expected.as_str(), "{problem}");
    }
    for table in ["cluster_scans", "objects", "object_results", "findings"] {
        assert_eq!(count(&pool, table).await, 0, "{table}");
    }
    // Evidence with markup and SQL is data: stored and returned as the exact text.
    let mut hostile = cluster_report(at(0), &[("5.2.2", Status::Warn, &[CART])]);
    let listed = hostile
        .results
        .iter_mut()
        .find(|r| r.check == "5.2.2")
        .unwrap();
    listed.objects[0].evidence[0].observed =
        "<script>alert(1)</script>'; DROP TABLE objects;--".into();
    listed.objects[0].platform = Some(PlatformMark {
        list: "<b>list</b>".into(),
        version: "1".into(),
        reason: "\"quoted\"".into(),
    });
    deliver(&server, &agent, &hostile).await;
    let (_, auditor) = api_token(&pool, Role::Auditor, None).await;
    let page = get(&server, &auditor, "/api/v1/findings").await;
    assert_eq!(
        page["items"][0]["evidence"][0]["observed"],
        "<script>alert(1)</script>'; DROP TABLE objects;--"
    );
    assert_eq!(page["items"][0]["platform"]["list"], "<b>list</b>");
    assert_eq!(count(&pool, "objects").await, 1);
    // The findings page escapes it.
    let html = server
        .client
        .get(server.url("/findings?cluster=prod"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Deployment shop/cart"),
        "the page names the object"
    );
    assert!(
        !html.contains("<script>alert(1)"),
        "markup from a report reached the page"
    );
}

/// Random object histories delivered in time order and in a random order end in the same findings and the
/// same transitions: late cluster scans are placed in the timeline by `finished_at`, as node scans are.
#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn any_arrival_order_of_cluster_scans_ends_in_the_same_findings_as_time_order(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let mut rng = StdRng::seed_from_u64(0x636c_7573);
    let names = ["a", "b", "c"];
    let statuses = [Status::Warn, Status::Manual, Status::Warn, Status::Fail];
    for case in 0..12 {
        let scans = rng.random_range(2..8);
        // Per scan: the check's own status (sometimes an error) and which objects it lists, how.
        let history: Vec<(Status, Vec<(&str, Status)>)> = (0..scans)
            .map(|_| {
                let check = if rng.random_bool(0.15) {
                    Status::Error
                } else {
                    Status::Warn
                };
                let mut listed = Vec::new();
                for name in names {
                    if rng.random_bool(0.5) {
                        listed.push((name, statuses[rng.random_range(0..statuses.len())]));
                    }
                }
                (check, listed)
            })
            .collect();
        let reports: Vec<ClusterReport> = history
            .iter()
            .enumerate()
            .map(|(hour, (check, listed))| {
                let objects: Vec<Listed> = listed
                    .iter()
                    .map(|(name, status)| ("Deployment", "shop", *name, *status))
                    .collect();
                cluster_report(at(hour as i64), &[("5.2.2", *check, &objects)])
            })
            .collect();
        let mut shuffled = reports.clone();
        shuffled.shuffle(&mut rng);
        let ordered_cluster = format!("ordered-{case}");
        let shuffled_cluster = format!("shuffled-{case}");
        let (_, ordered_token) = server.enroll(&ordered_cluster).await;
        let (_, shuffled_token) = server.enroll(&shuffled_cluster).await;
        for report in &reports {
            deliver(&server, &ordered_token, report).await;
        }
        for report in &shuffled {
            let mut copy = report.clone();
            copy.scan_id = Uuid::now_v7();
            deliver(&server, &shuffled_token, &copy).await;
        }
        let order: Vec<i64> = shuffled
            .iter()
            .map(|report| (report.finished_at - at(0)).whole_hours())
            .collect();
        let strip = |findings: Vec<ObjectFinding>| -> Vec<(String, String, OffsetDateTime, OffsetDateTime, i32)> {
            findings
                .into_iter()
                .map(|f| (f.2, f.4, f.5, f.6, f.7))
                .collect()
        };
        assert_eq!(
            strip(object_findings(&pool, &ordered_cluster).await),
            strip(object_findings(&pool, &shuffled_cluster).await),
            "findings differ for {history:?} delivered as {order:?}"
        );
        assert_eq!(
            object_events(&pool, &ordered_cluster).await,
            object_events(&pool, &shuffled_cluster).await,
            "transitions differ for {history:?} delivered as {order:?}"
        );
    }
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn an_object_first_seen_follows_the_earliest_scan_that_named_it(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("prod").await;
    deliver(
        &server,
        &agent,
        &cluster_report(at(5), &[("5.2.2", Status::Warn, &[CART])]),
    )
    .await;
    let receipt = deliver(
        &server,
        &agent,
        &cluster_report(at(2), &[("5.2.2", Status::Warn, &[CART])]),
    )
    .await;
    assert_eq!(receipt["late"], true);
    let (first, last): (OffsetDateTime, OffsetDateTime) =
        sqlx::query_as("SELECT first_seen, last_seen FROM objects")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((first, last), (at(2), at(5)));
    let finding = &object_findings(&pool, "prod").await[0];
    assert_eq!((finding.5, finding.6), (at(2), at(2)));
}

/// The field a change breaks, and the change.
type Breakage = (&'static str, Box<dyn Fn(&mut Value)>);

async fn page(server: &TestServer, path: &str) -> String {
    let response = server.client.get(server.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}

/// The pages follow objects as they follow nodes: the fleet's and the cluster's policy scores, the cluster's
/// checks and namespaces, the object's page with the field that decided, the check across the fleet, the
/// findings list filtered by kind and namespace and its export, today and as of a past day.
#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn pages_show_policies_objects_and_their_history_today_and_on_a_past_day(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("prod").await;
    let binding = ("ClusterRoleBinding", "", "everyone-admin", Status::Warn);
    let now = OffsetDateTime::now_utc();
    let yesterday = now - time::Duration::days(1);
    deliver(
        &server,
        &agent,
        &cluster_report(
            yesterday,
            &[
                ("5.2.2", Status::Warn, &[CART]),
                ("5.1.1", Status::Warn, &[binding]),
            ],
        ),
    )
    .await;
    // Today cart is fixed.
    deliver(
        &server,
        &agent,
        &cluster_report(now, &[("5.1.1", Status::Warn, &[binding])]),
    )
    .await;
    let checks = PolicyCatalog::builtin("cis-1.12").unwrap().checks.len();

    let fleet = page(&server, "/").await;
    assert!(fleet.contains("Policy score"), "{fleet}");
    let today_score = format!("{:.1}%", 100.0 * (checks - 1) as f64 / checks as f64);
    let cluster = page(&server, "/clusters/prod").await;
    assert!(
        cluster.contains(&today_score) || cluster.contains(&today_score.replace(".0%", "%")),
        "{today_score} in {cluster}"
    );
    assert!(
        cluster.contains("(cluster-scoped)"),
        "the namespace table names cluster-scoped objects"
    );
    assert!(cluster.contains("/clusters/prod/objects/ClusterRoleBinding/_/everyone-admin"));
    assert!(
        !cluster.contains("/clusters/prod/objects/Deployment/shop/cart"),
        "cart is fixed today"
    );

    let day = (yesterday.date()).to_string();
    let past = page(&server, &format!("/clusters/prod?at={day}")).await;
    assert!(
        past.contains(&format!(
            "/clusters/prod/objects/Deployment/shop/cart?at={day}"
        )),
        "{past}"
    );

    let object = page(
        &server,
        &format!("/clusters/prod/objects/Deployment/shop/cart?at={day}"),
    )
    .await;
    assert!(object.contains("spec.template.spec.initContainers[0].securityContext.privileged"));
    assert!(object.contains("status open"), "open on that day");
    let object_today = page(&server, "/clusters/prod/objects/Deployment/shop/cart").await;
    assert!(object_today.contains("status resolved"), "resolved today");
    assert!(object_today.contains("opened") && object_today.contains("resolved"));
    let missing = server
        .client
        .get(server.url("/clusters/prod/objects/Deployment/shop/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    let check = page(&server, "/checks/5.1.1").await;
    assert!(
        check.contains("everyone-admin") && check.contains("prod"),
        "{check}"
    );
    let check_past = page(&server, &format!("/checks/5.2.2?at={day}")).await;
    assert!(check_past.contains("Deployment shop/cart"));

    let filtered = page(&server, "/findings?kind=ClusterRoleBinding&state=all").await;
    assert!(filtered.contains("everyone-admin") && !filtered.contains("shop/cart"));
    let scoped = page(&server, "/findings?namespace=_&state=all").await;
    assert!(scoped.contains("everyone-admin") && !scoped.contains("shop/cart"));
    let csv = page(&server, "/findings/export.csv?state=all").await;
    let header = csv.lines().next().unwrap();
    assert!(header.starts_with("id,cluster,node,check,"), "{header}");
    assert!(
        header.ends_with(",evidence,kind,namespace,object"),
        "{header}"
    );
    let cart = csv.lines().find(|line| line.contains(",5.2.2,")).unwrap();
    assert!(
        cart.contains(",prod,,5.2.2,") && cart.ends_with(",Deployment,shop,cart"),
        "{cart}"
    );
}

/// The cluster page's change list: the cluster's node findings' events in the period, newest first, at most
/// the limit; never another cluster's, never an object's (those are the policies' own lists).
#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn a_clusters_change_list_is_its_node_events_in_the_period_newest_first(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, prod) = server.enroll("prod").await;
    let (_, stage) = server.enroll("stage").await;
    let mut rng = StdRng::seed_from_u64(11);
    let checks = ["1.1.1", "1.1.2", "1.1.3", "1.1.4", "1.1.5", "1.1.6"];
    for hour in 0..12 {
        for (agent, node) in [(&prod, "cp-1"), (&prod, "worker-1"), (&stage, "cp-1")] {
            let statuses: Vec<(&str, Status)> = checks
                .iter()
                .map(|check| {
                    let status = if rng.random_bool(0.5) {
                        Status::Fail
                    } else {
                        Status::Pass
                    };
                    (*check, status)
                })
                .collect();
            let response = server.post(agent, &report(node, at(hour), &statuses)).await;
            assert_eq!(response.status(), 201);
        }
        let objects: &[Listed] = if hour % 2 == 0 { &[CART] } else { &[] };
        let status = if objects.is_empty() {
            Status::Pass
        } else {
            Status::Warn
        };
        deliver(
            &server,
            &prod,
            &cluster_report(at(hour), &[("5.2.2", status, objects)]),
        )
        .await;
    }
    let prod_id: i64 = sqlx::query_scalar("SELECT id FROM clusters WHERE name = 'prod'")
        .fetch_one(&pool)
        .await
        .unwrap();
    // Object findings move in the same period, and stage's node: both must stay out.
    let others: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM finding_events e JOIN findings f ON f.id = e.finding_id
         WHERE (f.object_id IS NOT NULL OR f.cluster_id <> $1) AND e.at > $2",
    )
    .bind(prod_id)
    .bind(at(2))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(others > 5, "{others} events of objects and of stage");
    for (from, to, limit) in [(2, 9, 200), (0, 11, 5), (-1, 11, 200), (9, 9, 200)] {
        let mut conn = pool.acquire().await.unwrap();
        let listed = kubeward_server::storage::standing::transitions(
            &mut conn,
            prod_id,
            None,
            at(from),
            at(to),
            limit,
        )
        .await
        .unwrap();
        let listed: Vec<(i64, String, String, OffsetDateTime)> = listed
            .into_iter()
            .map(|event| (event.finding_id, event.node, event.kind, event.at))
            .collect();
        // The definition, walking every event.
        let expected: Vec<(i64, String, String, OffsetDateTime)> = sqlx::query_as(
            "SELECT e.finding_id, n.name, e.kind, e.at FROM finding_events e
             JOIN findings f ON f.id = e.finding_id JOIN nodes n ON n.id = f.node_id
             WHERE f.cluster_id = $1 AND e.at > $2 AND e.at <= $3
             ORDER BY e.at DESC, e.id DESC LIMIT $4",
        )
        .bind(prod_id)
        .bind(at(from))
        .bind(at(to))
        .bind(limit)
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(
            listed, expected,
            "from hour {from} to {to}, at most {limit}"
        );
        if to > from {
            assert!(!listed.is_empty(), "from hour {from} to {to}");
        }
        assert!(listed.len() as i64 <= limit);
    }
}
