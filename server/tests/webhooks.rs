//! Webhooks: signed deliveries from the durable queue, retried after the receiver fails, with a log.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop loudly at the first unexpected error"
)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{TestServer, api_token, at, cluster_report, problem, report};
use hmac::{Hmac, Mac};
use kubeward_benchmark::Status;
use kubeward_server::app::webhooks::WebhookWorker;
use kubeward_server::catalogs::Catalogs;
use kubeward_server::domain::role::Role;
use serde_json::Value;
use sha2::Sha256;
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "a-webhook-secret-0123456789";

/// What a receiver got: lower-cased request head and body.
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A receiver answering from a script of statuses (the last repeats), recording (headers, body).
struct Receiver {
    url: String,
    received: Received,
}

async fn receiver(statuses: Vec<u16>) -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/kubeward", listener.local_addr().unwrap());
    let received = Arc::new(Mutex::new(Vec::new()));
    let seen = received.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let mut data = Vec::new();
            let mut buffer = [0u8; 8192];
            let (head, body) = loop {
                let read = stream.read(&mut buffer).await.unwrap_or(0);
                if read == 0 {
                    break (String::new(), Vec::new());
                }
                data.extend_from_slice(&buffer[..read]);
                if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|line| line.strip_prefix("content-length:"))
                        .and_then(|value| value.trim().parse().ok())
                        .unwrap_or(0);
                    while data.len() < end + 4 + length {
                        let read = stream.read(&mut buffer).await.unwrap_or(0);
                        if read == 0 {
                            break;
                        }
                        data.extend_from_slice(&buffer[..read]);
                    }
                    break (head, data[end + 4..].to_vec());
                }
            };
            let index = {
                let mut seen = seen.lock().unwrap();
                seen.push((head, body));
                seen.len() - 1
            };
            let status = statuses
                .get(index)
                .or(statuses.last())
                .copied()
                .unwrap_or(200);
            let answer =
                format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    });
    Receiver { url, received }
}

/// Checks a delivered body against its schema in the OpenAPI document.
fn assert_documented(payload: &Value, schema: &str) {
    let errors = schema_errors(payload, schema);
    assert!(errors.is_empty(), "{schema}: {errors:?}\n{payload}");
}

fn schema_errors(payload: &Value, schema: &str) -> Vec<String> {
    let document = serde_json::to_value(kubeward_server::http::openapi::document()).unwrap();
    let root = serde_json::json!({
        "$ref": format!("#/components/schemas/{schema}"),
        "components": document["components"],
    });
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&root)
        .unwrap();
    validator
        .iter_errors(payload)
        .map(|err| format!("{err} at {}", err.instance_path()))
        .collect()
}

fn worker(server: &TestServer) -> WebhookWorker {
    let mut worker = WebhookWorker::new(
        server.pool.clone(),
        Arc::new(Catalogs::builtin().unwrap()),
        server.sealer(),
    );
    // Long enough that "not due yet" holds on a loaded machine, short enough for a quick test.
    worker.retry_base = Duration::from_millis(500);
    // The test receivers listen on loopback, which deliveries may reach only when allowed.
    worker.destinations.allowed = vec!["127.0.0.0/8".parse().unwrap()];
    worker
}

async fn subscribe(server: &TestServer, admin: &str, url: &str, events: &[&str]) -> Value {
    let body = serde_json::json!({ "url": url, "secret": SECRET, "events": events }).to_string();
    let response = server
        .client
        .post(server.url("/api/v1/webhooks"))
        .bearer_auth(admin)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

fn verify(head: &str, body: &[u8]) {
    let header = head
        .lines()
        .find_map(|line| line.strip_prefix("kubeward-signature:"))
        .unwrap()
        .trim()
        .to_owned();
    let (timestamp, signature) = header.split_once(',').unwrap();
    let timestamp = timestamp.strip_prefix("t=").unwrap();
    let signature = signature.strip_prefix("v1=").unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&hex::decode(signature).unwrap())
        .expect("the signature verifies");
    let age = time::OffsetDateTime::now_utc().unix_timestamp() - timestamp.parse::<i64>().unwrap();
    assert!((0..60).contains(&age));
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn a_failed_delivery_is_retried_and_every_delivery_is_signed(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("prod").await;
    let (_, admin) = api_token(&pool, Role::Admin, None).await;
    let hook = receiver(vec![500, 200]).await;
    let subscription = subscribe(
        &server,
        &admin,
        &hook.url,
        &["finding.opened", "finding.resolved", "finding.reopened"],
    )
    .await;
    assert_eq!(
        server
            .post(&agent, &report("cp-1", at(0), &[("1.2.15", Status::Fail)]))
            .await
            .status(),
        201
    );

    let worker = worker(&server);
    assert_eq!(worker.deliver_due().await.unwrap(), 1);
    assert_eq!(
        hook.received.lock().unwrap().len(),
        1,
        "the first attempt met a 500"
    );
    assert_eq!(
        worker.deliver_due().await.unwrap(),
        0,
        "not due before its backoff"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(worker.deliver_due().await.unwrap(), 1);
    let received = hook.received.lock().unwrap().clone();
    assert_eq!(received.len(), 2);
    assert_eq!(
        received[0].1, received[1].1,
        "a retry sends the same payload"
    );
    for (head, body) in &received {
        verify(head, body);
        assert!(head.contains("kubeward-event: finding.opened"));
    }
    let payload: Value = serde_json::from_slice(&received[1].1).unwrap();
    assert_documented(&payload, "FindingDelivery");
    assert_eq!(payload["event"]["type"], "finding.opened");
    let finding = &payload["finding"];
    assert_eq!(finding["cluster"], "prod");
    assert_eq!(finding["node"], "cp-1");
    assert_eq!(finding["check"], "1.2.15");
    assert_eq!(finding["title"], "API server profiling is off");
    assert_eq!(finding["section"], "1.2");
    assert_eq!(finding["level"], 1);
    assert_eq!(finding["state"], "open");
    assert!(
        finding["remediation"]
            .as_str()
            .unwrap()
            .contains("--profiling=false")
    );
    assert_eq!(finding["evidence"][0]["observed"], "fail");
    assert!(
        finding["links"]["api"]
            .as_str()
            .unwrap()
            .starts_with("/api/v1/findings/")
    );

    let log: Value = server
        .client
        .get(server.url(&format!(
            "/api/v1/webhooks/{}/deliveries",
            subscription["id"].as_str().unwrap()
        )))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log["items"][0]["state"], "delivered");
    assert_eq!(log["items"][0]["attempts"], 2);
    assert_eq!(log["items"][0]["last_status"], 200);

    // Resolution: one more delivery, of the other kind.
    assert_eq!(
        server
            .post(&agent, &report("cp-1", at(1), &[]))
            .await
            .status(),
        201
    );
    assert_eq!(worker.deliver_due().await.unwrap(), 1);
    let last = hook.received.lock().unwrap().last().cloned().unwrap();
    let payload: Value = serde_json::from_slice(&last.1).unwrap();
    assert_eq!(payload["event"]["type"], "finding.resolved");
    assert_eq!(payload["finding"]["state"], "resolved");
}

/// A ticketing integration gets one ticket per failing object, named by kind, namespace and name with the
/// evidence path, and the same finding's resolution when that object is fixed.
#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn each_failing_object_is_delivered_as_its_own_finding_and_closed_when_fixed(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("prod").await;
    let (_, admin) = api_token(&pool, Role::Admin, None).await;
    let hook = receiver(vec![200]).await;
    subscribe(
        &server,
        &admin,
        &hook.url,
        &["finding.opened", "finding.resolved"],
    )
    .await;
    let cart = ("Deployment", "shop", "cart", Status::Warn);
    let admin_binding = ("ClusterRoleBinding", "", "everyone-admin", Status::Warn);
    let both = cluster_report(
        at(0),
        &[
            ("5.2.2", Status::Warn, &[cart]),
            ("5.1.1", Status::Warn, &[admin_binding]),
        ],
    );
    assert_eq!(server.post_cluster(&agent, &both).await.status(), 201);
    let worker = worker(&server);
    assert_eq!(worker.deliver_due().await.unwrap(), 2);
    let fixed = cluster_report(at(1), &[("5.1.1", Status::Warn, &[admin_binding])]);
    assert_eq!(server.post_cluster(&agent, &fixed).await.status(), 201);
    assert_eq!(worker.deliver_due().await.unwrap(), 1);

    let received = hook.received.lock().unwrap().clone();
    let payloads: Vec<Value> = received
        .iter()
        .map(|(head, body)| {
            verify(head, body);
            serde_json::from_slice(body).unwrap()
        })
        .collect();
    for payload in &payloads {
        assert_documented(payload, "FindingDelivery");
        assert_eq!(payload["finding"]["subject"], "object");
        assert_eq!(payload["finding"]["node"], Value::Null);
    }
    let opened_cart = payloads
        .iter()
        .find(|p| p["event"]["type"] == "finding.opened" && p["finding"]["check"] == "5.2.2")
        .unwrap();
    assert_eq!(
        opened_cart["finding"]["object"],
        serde_json::json!({"kind": "Deployment", "namespace": "shop", "name": "cart"})
    );
    assert_eq!(
        opened_cart["finding"]["evidence"][0]["path"],
        "spec.template.spec.initContainers[0].securityContext.privileged"
    );
    let binding = payloads
        .iter()
        .find(|p| p["finding"]["check"] == "5.1.1")
        .unwrap();
    assert_eq!(binding["finding"]["object"]["namespace"], Value::Null);
    let resolved = payloads.last().unwrap();
    assert_eq!(resolved["event"]["type"], "finding.resolved");
    assert_eq!(resolved["finding"]["id"], opened_cart["finding"]["id"]);
    assert_eq!(resolved["finding"]["state"], "resolved");
    assert_eq!(resolved["finding"]["object"]["name"], "cart");
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn queued_deliveries_survive_a_restart_and_are_sent_once_by_competing_workers(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("prod").await;
    let (_, admin) = api_token(&pool, Role::Admin, None).await;
    let hook = receiver(vec![200]).await;
    subscribe(&server, &admin, &hook.url, &["finding.opened"]).await;
    // Queued while no worker runs (as when the server is down): the queue is in the database.
    let failing: Vec<(&str, Status)> = vec![
        ("1.1.1", Status::Fail),
        ("1.1.2", Status::Fail),
        ("1.2.15", Status::Fail),
    ];
    assert_eq!(
        server
            .post(&agent, &report("cp-1", at(0), &failing))
            .await
            .status(),
        201
    );
    let (queued,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(queued, 3);
    // Two fresh workers (two replicas after a restart) race for the queue.
    let (a, b) = (worker(&server), worker(&server));
    let (left, right) = tokio::join!(a.deliver_due(), b.deliver_due());
    assert_eq!(left.unwrap() + right.unwrap(), 3);
    assert_eq!(
        hook.received.lock().unwrap().len(),
        3,
        "each delivery sent once"
    );
    let (delivered,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM webhook_deliveries WHERE state = 'delivered'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(delivered, 3);
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn a_delivery_that_keeps_failing_is_given_up_and_filters_are_kept(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("prod").await;
    let (_, admin) = api_token(&pool, Role::Admin, None).await;
    let failing = receiver(vec![503]).await;
    let resolved_only = receiver(vec![200]).await;
    subscribe(&server, &admin, &failing.url, &["finding.opened"]).await;
    subscribe(&server, &admin, &resolved_only.url, &["finding.resolved"]).await;
    assert_eq!(
        server
            .post(&agent, &report("cp-1", at(0), &[("1.1.1", Status::Fail)]))
            .await
            .status(),
        201
    );
    sqlx::query("UPDATE webhook_deliveries SET attempts = $1 - 1")
        .bind(kubeward_server::app::webhooks::MAX_ATTEMPTS)
        .execute(&pool)
        .await
        .unwrap();
    let worker = worker(&server);
    assert_eq!(worker.deliver_due().await.unwrap(), 1);
    let (state, error): (String, String) =
        sqlx::query_as("SELECT state, last_error FROM webhook_deliveries")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(state, "failed");
    assert!(error.contains("503"), "{error}");
    assert!(
        resolved_only.received.lock().unwrap().is_empty(),
        "not subscribed to openings"
    );
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn subscriptions_are_validated_listed_without_secrets_and_deleted(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, admin) = api_token(&pool, Role::Admin, None).await;
    let (_, auditor) = api_token(&pool, Role::Auditor, None).await;
    let post = |token: String, body: String| {
        let request = server
            .client
            .post(server.url("/api/v1/webhooks"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body);
        async move { request.send().await.unwrap() }
    };
    for (body, field) in [
        (
            serde_json::json!({"url": "ftp://x.example", "secret": SECRET, "events": ["finding.opened"]}),
            "url",
        ),
        (
            serde_json::json!({"url": "https://x.example/h", "secret": "short", "events": ["finding.opened"]}),
            "secret",
        ),
        (
            // 16 bytes but 10 characters: the limit is in characters, as the database counts them.
            serde_json::json!({"url": "https://x.example/h", "secret": "ünïcødé-名前", "events": ["finding.opened"]}),
            "secret",
        ),
        (
            serde_json::json!({"url": "https://x.example/h", "secret": SECRET, "events": []}),
            "events",
        ),
        (
            serde_json::json!({"url": "https://x.example/h", "secret": SECRET, "events": ["finding.deleted"]}),
            "events",
        ),
        (
            serde_json::json!({"url": "https://x.example/h", "secret": SECRET}),
            "(body)",
        ),
        (
            serde_json::json!({"url": "https://user:pa55@x.example/h", "secret": SECRET, "events": ["finding.opened"]}),
            "url",
        ),
    ] {
        let response = post(admin.clone(), body.to_string()).await;
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(problem(response).await["field"], field, "{body}");
    }
    let body = serde_json::json!({"url": "https://x.example/h?token=q-cred-42", "secret": SECRET, "events": ["finding.opened"]}).to_string();
    assert_eq!(post(auditor.clone(), body.clone()).await.status(), 403);
    let created: Value = post(admin.clone(), body).await.json().await.unwrap();
    assert_eq!(created["url"], "https://x.example/h?token=redacted");
    // The secret is kept sealed: neither it nor anything derived from it in clear is in the table.
    let (stored,): (String,) = sqlx::query_as("SELECT secret FROM webhooks")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(stored.starts_with("v1:"), "{stored}");
    assert!(!stored.contains(SECRET));
    assert_eq!(server.sealer().open(&stored).unwrap(), SECRET);
    let listing = server
        .client
        .get(server.url("/api/v1/webhooks"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        listing.contains("https://x.example/h?token=redacted"),
        "{listing}"
    );
    assert!(
        !listing.contains("q-cred-42"),
        "query values are not listed"
    );
    assert!(!listing.contains(SECRET), "secrets are never listed");
    let path = format!("/api/v1/webhooks/{}", created["id"].as_str().unwrap());
    assert_eq!(
        server
            .client
            .delete(server.url(&path))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        server
            .client
            .delete(server.url(&path))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn a_node_that_stops_reporting_raises_one_signed_stale_event_per_silence(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("prod").await;
    let (_, admin) = api_token(&pool, Role::Admin, None).await;
    let stale_hook = receiver(vec![200]).await;
    let findings_hook = receiver(vec![200]).await;
    let subscription = subscribe(&server, &admin, &stale_hook.url, &["node.stale"]).await;
    subscribe(&server, &admin, &findings_hook.url, &["finding.opened"]).await;
    let now = time::OffsetDateTime::now_utc() - Duration::from_secs(60);
    // cp-1:a%b (a name its page link must encode) last reported long ago; cp-2 a minute ago.
    for (node, finished_at) in [("cp-1:a%b", at(0)), ("cp-2", now)] {
        let status = server
            .post(&agent, &report(node, finished_at, &[]))
            .await
            .status();
        assert_eq!(status, 201);
    }

    let watcher = kubeward_server::app::staleness::StalenessWatcher::new(
        pool.clone(),
        Duration::from_secs(24 * 3600),
    );
    let sweep = watcher.sweep().await.unwrap();
    assert_eq!((sweep.raised, sweep.queued), (1, 1), "only cp-1 is stale");
    let again = watcher.sweep().await.unwrap();
    assert_eq!(
        again.raised, 0,
        "one event per silence, however often the watcher looks"
    );

    let worker = worker(&server);
    assert_eq!(worker.deliver_due().await.unwrap(), 1);
    assert!(
        findings_hook.received.lock().unwrap().is_empty(),
        "a subscriber to finding events gets no node events"
    );
    let (head, body) = stale_hook.received.lock().unwrap()[0].clone();
    verify(&head, &body);
    assert!(head.contains("kubeward-event: node.stale"));
    let payload: Value = serde_json::from_slice(&body).unwrap();
    assert_documented(&payload, "NodeStaleDelivery");
    assert!(
        !schema_errors(&payload, "FindingDelivery").is_empty(),
        "the schemas tell the two kinds of delivery apart"
    );
    assert_eq!(payload["event"]["type"], "node.stale");
    assert_eq!(payload["node"]["cluster"], "prod");
    assert_eq!(payload["node"]["name"], "cp-1:a%b");
    assert_eq!(
        payload["node"]["last_seen"],
        at(0)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    );
    assert_eq!(
        payload["node"]["links"]["page"],
        "/clusters/prod/nodes/cp-1%3Aa%25b"
    );

    // A late report that is still old ends one silence and starts another; a fresh one ends it for good.
    assert_eq!(
        server
            .post(&agent, &report("cp-1:a%b", at(5), &[]))
            .await
            .status(),
        201
    );
    assert_eq!(watcher.sweep().await.unwrap().raised, 1);
    assert_eq!(
        server
            .post(&agent, &report("cp-1:a%b", now, &[]))
            .await
            .status(),
        201
    );
    assert_eq!(watcher.sweep().await.unwrap().raised, 0);

    assert_eq!(worker.deliver_due().await.unwrap(), 1);
    let log: Value = server
        .client
        .get(server.url(&format!(
            "/api/v1/webhooks/{}/deliveries",
            subscription["id"].as_str().unwrap()
        )))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = log["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|item| item["state"] == "delivered"
        && item["event_id"].is_null()
        && item["node_event_id"].is_i64()));
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn competing_watchers_raise_a_stale_event_once(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("prod").await;
    let (_, admin) = api_token(&pool, Role::Admin, None).await;
    let hook = receiver(vec![200]).await;
    subscribe(&server, &admin, &hook.url, &["node.stale"]).await;
    for node in ["a", "b", "c"] {
        assert_eq!(
            server
                .post(&agent, &report(node, at(0), &[]))
                .await
                .status(),
            201
        );
    }
    let stale_after = Duration::from_secs(3600);
    let first = kubeward_server::app::staleness::StalenessWatcher::new(pool.clone(), stale_after);
    let second = first.clone();
    let (left, right) = tokio::join!(first.sweep(), second.sweep());
    let (left, right) = (left.unwrap(), right.unwrap());
    assert_eq!(left.raised + right.raised, 3);
    assert_eq!(left.queued + right.queued, 3);
    assert_eq!(common::count(&pool, "webhook_deliveries").await, 3);
}

/// A listener that accepts connections and never answers on them.
async fn silent_receiver() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/silent", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    url
}

/// `(state, attempts, last_error)` of every delivery to a URL.
async fn deliveries_to(pool: &PgPool, url: &str) -> Vec<(String, i32, Option<String>)> {
    sqlx::query_as(
        "SELECT d.state, d.attempts, d.last_error FROM webhook_deliveries d
         JOIN webhooks w ON w.id = d.webhook_id WHERE w.url = $1 ORDER BY d.id",
    )
    .bind(url)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn a_silent_subscriber_holds_up_only_its_own_deliveries(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("prod").await;
    let (_, admin) = api_token(&pool, Role::Admin, None).await;
    let silent = silent_receiver().await;
    let healthy = receiver(vec![200]).await;
    // The silent one first, so that its deliveries are due first.
    subscribe(&server, &admin, &silent, &["finding.opened"]).await;
    subscribe(&server, &admin, &healthy.url, &["finding.opened"]).await;
    let failing = [
        ("1.1.1", Status::Fail),
        ("1.1.2", Status::Fail),
        ("1.2.15", Status::Fail),
    ];
    let status = server
        .post(&agent, &report("cp-1", at(0), &failing))
        .await
        .status();
    assert_eq!(status, 201);
    let mut worker = worker(&server);
    worker.timeout = Duration::from_secs(4);
    worker.poll_every = Duration::from_millis(50);
    let started = std::time::Instant::now();
    let running = tokio::spawn(worker.run());
    // All three healthy deliveries arrive, and are recorded, while the silent one is still waited for.
    while healthy.received.lock().unwrap().len() < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the healthy subscriber waited"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    loop {
        let states = deliveries_to(&pool, &healthy.url).await;
        if states.iter().all(|(state, _, _)| state == "delivered") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(3), "{states:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        deliveries_to(&pool, &silent)
            .await
            .iter()
            .all(|(_, attempts, _)| *attempts == 0),
        "the silent subscriber's first delivery is still in flight"
    );
    // Its attempt times out on its own, with the one error every unreachable subscriber gets.
    loop {
        let states = deliveries_to(&pool, &silent).await;
        if let Some((state, _, error)) = states.iter().find(|(_, attempts, _)| *attempts == 1) {
            assert_eq!(state, "pending");
            assert_eq!(
                error.as_deref(),
                Some(kubeward_server::app::webhooks::UNREACHABLE)
            );
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "{states:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.abort();
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn deliveries_reach_only_allowed_addresses_and_every_failure_reads_the_same(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("prod").await;
    let (_, admin) = api_token(&pool, Role::Admin, None).await;
    let open = receiver(vec![200]).await;
    let by_name = open.url.replace("127.0.0.1", "localhost");
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hooks", listener.local_addr().unwrap())
    };
    // An open port that speaks no HTTP: it closes every connection at once.
    let not_http = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let _ = stream.write_all(b"\x00\x01 not http\r\n").await;
            }
        });
        url
    };
    for url in [&open.url, &by_name, &closed, &not_http] {
        subscribe(&server, &admin, url, &["finding.opened"]).await;
    }
    let status = server
        .post(&agent, &report("cp-1", at(0), &[("1.1.1", Status::Fail)]))
        .await
        .status();
    assert_eq!(status, 201);

    // By default only public addresses: loopback, by address or by name, is refused before connecting.
    let mut strict = worker(&server);
    strict.destinations.allowed.clear();
    assert_eq!(strict.deliver_due().await.unwrap(), 4);
    assert!(open.received.lock().unwrap().is_empty(), "nothing was sent");
    for url in [&open.url, &by_name, &closed, &not_http] {
        let states = deliveries_to(&pool, url).await;
        assert_eq!(
            states,
            vec![(
                "pending".to_owned(),
                1,
                Some(kubeward_server::app::webhooks::UNREACHABLE.to_owned())
            )],
            "{url}"
        );
    }

    // With loopback allowed: delivered where an HTTP server answers, and the same words for a closed port
    // and for a port that speaks something else.
    sqlx::query("UPDATE webhook_deliveries SET next_attempt_at = now()")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(worker(&server).deliver_due().await.unwrap(), 4);
    assert_eq!(
        open.received.lock().unwrap().len(),
        2,
        "by address and by name"
    );
    for url in [&open.url, &by_name] {
        assert_eq!(deliveries_to(&pool, url).await[0].0, "delivered", "{url}");
    }
    for url in [&closed, &not_http] {
        let states = deliveries_to(&pool, url).await;
        assert_eq!(
            states[0].2.as_deref(),
            Some(kubeward_server::app::webhooks::UNREACHABLE),
            "{url}"
        );
    }
}
