//! The read API and the ticket link, as a ticketing integration uses them, with every refusal it must meet.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop loudly at the first unexpected error"
)]

mod common;

use common::{TestServer, api_token, at, problem, report};
use kubeward_benchmark::Status;
use kubeward_server::domain::role::Role;
use serde_json::{Value, json};
use sqlx::PgPool;

async fn get(server: &TestServer, token: &str, path: &str) -> reqwest::Response {
    server
        .client
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn get_json(server: &TestServer, token: &str, path: &str) -> Value {
    let response = get(server, token, path).await;
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

async fn patch(
    server: &TestServer,
    token: &str,
    path: &str,
    body: &str,
    content_type: &str,
) -> reqwest::Response {
    server
        .client
        .patch(server.url(path))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn a_ticketing_integration_keeps_one_ticket_per_finding_in_step(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("prod").await;
    let (_, integration) = api_token(&pool, Role::Auditor, Some(time::Duration::days(1))).await;

    assert_eq!(
        server
            .post(&agent, &report("cp-1", at(0), &[("1.2.15", Status::Fail)]))
            .await
            .status(),
        201
    );
    // Poll the feed from the start: one opening.
    let feed = get_json(&server, &integration, "/api/v1/events").await;
    let events = feed["items"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["kind"], "opened");
    assert_eq!(events[0]["finding"]["check"], "1.2.15");
    let cursor = feed["next"].as_str().unwrap().to_owned();
    let finding_id = events[0]["finding"]["id"].as_i64().unwrap();

    // Everything needed for the ticket is on the finding.
    let finding = get_json(
        &server,
        &integration,
        &format!("/api/v1/findings/{finding_id}"),
    )
    .await;
    assert_eq!(finding["state"], "open");
    assert_eq!(finding["cluster"], "prod");
    assert_eq!(finding["node"], "cp-1");
    assert_eq!(finding["section"], "1.2");
    assert_eq!(finding["level"], 1);
    assert_eq!(finding["title"], "API server profiling is off");
    assert!(
        finding["remediation"]
            .as_str()
            .unwrap()
            .contains("--profiling=false")
    );
    assert_eq!(finding["evidence"][0]["observed"], "fail");
    assert_eq!(finding["link"], format!("/findings/{finding_id}"));
    assert_eq!(finding["ticket"], Value::Null);

    let linked = patch(
        &server,
        &integration,
        &format!("/api/v1/findings/{finding_id}"),
        r#"{"ticket_key": "SEC-101", "ticket_url": "https://tickets.example.com/browse/SEC-101"}"#,
        "application/json",
    )
    .await;
    assert_eq!(linked.status(), 200);
    let linked: Value = linked.json().await.unwrap();
    assert_eq!(
        linked["ticket"],
        json!({"key": "SEC-101", "url": "https://tickets.example.com/browse/SEC-101"})
    );

    // Nothing new while nothing changes.
    assert_eq!(
        server
            .post(&agent, &report("cp-1", at(1), &[("1.2.15", Status::Fail)]))
            .await
            .status(),
        201
    );
    let quiet = get_json(
        &server,
        &integration,
        &format!("/api/v1/events?cursor={cursor}"),
    )
    .await;
    assert!(quiet["items"].as_array().unwrap().is_empty());
    assert_eq!(
        quiet["next"],
        cursor.as_str(),
        "an empty poll keeps the cursor"
    );

    // The node is fixed: the feed says resolved, the finding keeps its id and its ticket.
    assert_eq!(
        server
            .post(&agent, &report("cp-1", at(2), &[]))
            .await
            .status(),
        201
    );
    let feed = get_json(
        &server,
        &integration,
        &format!("/api/v1/events?cursor={cursor}"),
    )
    .await;
    let events = feed["items"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["kind"], "resolved");
    assert_eq!(events[0]["finding"]["id"], finding_id);
    let cursor = feed["next"].as_str().unwrap().to_owned();
    let finding = get_json(
        &server,
        &integration,
        &format!("/api/v1/findings/{finding_id}"),
    )
    .await;
    assert_eq!(finding["state"], "resolved");
    assert_eq!(finding["ticket"]["key"], "SEC-101");
    let last_failing = at(1)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    assert_eq!(
        finding["last_seen"],
        last_failing.as_str(),
        "the last scan where it failed"
    );

    // Regression: reopened, same finding, same ticket to reopen.
    assert_eq!(
        server
            .post(&agent, &report("cp-1", at(3), &[("1.2.15", Status::Fail)]))
            .await
            .status(),
        201
    );
    let feed = get_json(
        &server,
        &integration,
        &format!("/api/v1/events?cursor={cursor}"),
    )
    .await;
    assert_eq!(feed["items"][0]["kind"], "reopened");
    assert_eq!(feed["items"][0]["finding"]["id"], finding_id);
    let open = get_json(&server, &integration, "/api/v1/findings?state=open").await;
    assert_eq!(open["items"][0]["ticket"]["key"], "SEC-101");
    assert_eq!(open["items"][0]["reopened"], 1);
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn every_endpoint_refuses_who_it_must(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("prod").await;
    assert_eq!(
        server
            .post(&agent, &report("cp-1", at(0), &[("1.1.1", Status::Fail)]))
            .await
            .status(),
        201
    );
    let finding: i64 = sqlx::query_scalar("SELECT id FROM findings")
        .fetch_one(&pool)
        .await
        .unwrap();
    let (_, viewer) = api_token(&pool, Role::Viewer, None).await;
    let (_, auditor) = api_token(&pool, Role::Auditor, None).await;
    let (_, admin) = api_token(&pool, Role::Admin, Some(time::Duration::days(90))).await;
    let (_, expired) = api_token(&pool, Role::Admin, Some(time::Duration::minutes(-1))).await;
    let (revoked_id, revoked) = api_token(&pool, Role::Admin, None).await;
    let mut conn = pool.acquire().await.unwrap();
    assert!(
        kubeward_server::storage::api_tokens::revoke(&mut conn, revoked_id)
            .await
            .unwrap()
    );
    let forged = format!("kwt_{}", "B".repeat(43));

    let reads = [
        "/api/v1/clusters",
        "/api/v1/nodes",
        "/api/v1/findings",
        &format!("/api/v1/findings/{finding}"),
        "/api/v1/events",
    ];
    let patch_path = format!("/api/v1/findings/{finding}");
    let body = r#"{"ticket_key": "X-1", "ticket_url": "https://t.example/X-1"}"#;
    // (who, expected for reads, expected for the ticket link)
    let matrix: [(&str, Option<&str>, u16, u16); 8] = [
        ("anonymous", None, 401, 401),
        ("viewer", Some(&viewer), 200, 403),
        ("auditor", Some(&auditor), 200, 200),
        ("admin", Some(&admin), 200, 200),
        ("agent token", Some(&agent), 403, 403),
        ("expired", Some(&expired), 401, 401),
        ("revoked", Some(&revoked), 401, 401),
        ("forged", Some(&forged), 401, 401),
    ];
    for (who, token, read_status, write_status) in matrix {
        for path in &reads {
            let mut request = server.client.get(server.url(path));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), read_status, "{who} GET {path}");
            if read_status != 200 {
                assert_eq!(problem(response).await["status"], read_status);
            }
        }
        let mut request = server
            .client
            .patch(server.url(&patch_path))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        assert_eq!(
            request.send().await.unwrap().status(),
            write_status,
            "{who} PATCH"
        );
    }
    // An API token is not an agent token: it cannot post reports.
    let response = server.post(&admin, &report("cp-1", at(1), &[])).await;
    assert_eq!(response.status(), 401);
    // A method with no rule is refused.
    let delete = server
        .client
        .delete(server.url(&patch_path))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 405);
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn lists_page_with_a_cursor_and_filter(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("prod").await;
    let (_, staging_agent) = server.enroll("staging").await;
    let (_, viewer) = api_token(&pool, Role::Viewer, None).await;
    let failing = [
        ("1.1.1", Status::Fail),
        ("1.1.2", Status::Fail),
        ("1.2.15", Status::Fail),
        ("1.2.16", Status::Fail),
        ("4.2.1", Status::Fail),
        ("4.2.4", Status::Warn),
        ("4.2.14", Status::Warn),
    ];
    assert_eq!(
        server
            .post(&agent, &report("cp-1", at(0), &failing))
            .await
            .status(),
        201
    );
    assert_eq!(
        server
            .post(
                &staging_agent,
                &report("st-1", at(0), &[("1.1.1", Status::Fail)])
            )
            .await
            .status(),
        201
    );

    let mut seen = Vec::new();
    let mut path = "/api/v1/findings?cluster=prod&limit=3".to_owned();
    loop {
        let page = get_json(&server, &viewer, &path).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        seen.extend(
            items
                .iter()
                .map(|item| item["check"].as_str().unwrap().to_owned()),
        );
        match page["next"].as_str() {
            Some(next) => path = format!("/api/v1/findings?cluster=prod&limit=3&cursor={next}"),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "1.1.1", "1.1.2", "1.2.15", "1.2.16", "4.2.1", "4.2.14", "4.2.4"
        ]
    );

    let count = |value: &Value| value["items"].as_array().unwrap().len();
    assert_eq!(
        count(&get_json(&server, &viewer, "/api/v1/findings?section=1.2").await),
        2
    );
    assert_eq!(
        count(&get_json(&server, &viewer, "/api/v1/findings?section=1").await),
        5
    );
    assert_eq!(
        count(&get_json(&server, &viewer, "/api/v1/findings?check=1.1.1").await),
        2
    );
    assert_eq!(
        count(&get_json(&server, &viewer, "/api/v1/findings?node=st-1").await),
        1
    );
    assert_eq!(
        count(&get_json(&server, &viewer, "/api/v1/findings?state=resolved").await),
        0
    );
    assert_eq!(
        count(
            &get_json(
                &server,
                &viewer,
                "/api/v1/findings?since=2099-01-01T00:00:00Z"
            )
            .await
        ),
        0
    );

    let events = get_json(&server, &viewer, "/api/v1/events?limit=5").await;
    assert_eq!(count(&events), 5);
    assert_eq!(events["more"], true);
    let rest = get_json(
        &server,
        &viewer,
        &format!("/api/v1/events?cursor={}", events["next"].as_str().unwrap()),
    )
    .await;
    assert_eq!(count(&rest), 3);
    assert_eq!(rest["more"], false);
    let ids: Vec<i64> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["items"].as_array().unwrap())
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));

    let clusters = get_json(&server, &viewer, "/api/v1/clusters?limit=1").await;
    assert_eq!(clusters["items"][0]["name"], "prod");
    let next = get_json(
        &server,
        &viewer,
        &format!(
            "/api/v1/clusters?limit=1&cursor={}",
            clusters["next"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(next["items"][0]["name"], "staging");
    assert_eq!(next["next"], Value::Null);
    let nodes = get_json(&server, &viewer, "/api/v1/nodes?cluster=prod").await;
    assert_eq!(nodes["items"][0]["name"], "cp-1");
    assert_eq!(
        nodes["items"][0]["stale"], true,
        "its only scan is months old"
    );
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn bad_parameters_and_bodies_are_refused_by_name(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("prod").await;
    assert_eq!(
        server
            .post(&agent, &report("cp-1", at(0), &[("1.1.1", Status::Fail)]))
            .await
            .status(),
        201
    );
    let finding: i64 = sqlx::query_scalar("SELECT id FROM findings")
        .fetch_one(&pool)
        .await
        .unwrap();
    let (_, auditor) = api_token(&pool, Role::Auditor, None).await;
    for (path, field) in [
        ("/api/v1/findings?limit=0", "limit"),
        ("/api/v1/findings?limit=501", "limit"),
        ("/api/v1/findings?limit=ten", "limit"),
        ("/api/v1/findings?cursor=-1", "cursor"),
        ("/api/v1/findings?cursor=1%27%20OR%201=1", "cursor"),
        ("/api/v1/findings?state=closed", "state"),
        ("/api/v1/findings?since=yesterday", "since"),
        ("/api/v1/findings?section=%3Cscript%3E", "section"),
        ("/api/v1/findings?stat=open", "stat"),
        ("/api/v1/events?cursor=99999999999999999999999", "cursor"),
        ("/api/v1/findings/abc", "id"),
        ("/api/v1/findings/-4", "id"),
    ] {
        let response = get(&server, &auditor, path).await;
        assert_eq!(response.status(), 400, "{path}");
        let body = problem(response).await;
        assert_eq!(body["field"], field, "{path}: {body}");
        assert_eq!(body["type"], "urn:kubeward:problem:bad-parameter");
    }
    let missing = get(&server, &auditor, "/api/v1/findings/999999").await;
    assert_eq!(missing.status(), 404);
    assert_eq!(
        problem(missing).await["type"],
        "urn:kubeward:problem:not-found"
    );

    let path = format!("/api/v1/findings/{finding}");
    for (body, field) in [
        (
            r#"{"ticket_key": "A-1", "ticket_url": "javascript:alert(1)"}"#,
            "ticket_url",
        ),
        (
            r#"{"ticket_key": "A-1", "ticket_url": "https://"}"#,
            "ticket_url",
        ),
        (r#"{"ticket_key": "", "ticket_url": null}"#, "ticket_key"),
        (r#"{"ticket_key": 42}"#, "ticket_key"),
        (r#"{"ticket": "A-1"}"#, "ticket"),
        ("[", "(body)"),
    ] {
        let response = patch(&server, &auditor, &path, body, "application/json").await;
        assert_eq!(response.status(), 400, "{body}");
        let problem = problem(response).await;
        assert_eq!(problem["field"], field, "{body}: {problem}");
    }
    let long_key = json!({"ticket_key": "K".repeat(201)}).to_string();
    assert_eq!(
        patch(&server, &auditor, &path, &long_key, "application/json")
            .await
            .status(),
        400
    );
    assert_eq!(
        patch(
            &server,
            &auditor,
            &path,
            "ticket=A-1",
            "application/x-www-form-urlencoded"
        )
        .await
        .status(),
        415
    );
    let huge = format!(r#"{{"ticket_key": "{}"}}"#, "x".repeat(20_000));
    assert_eq!(
        patch(&server, &auditor, &path, &huge, "application/json")
            .await
            .status(),
        413
    );
    // Hostile but valid text is stored as it is and comes back as JSON text.
    let hostile = r#"{"ticket_key": "<script>alert(1)</script>", "ticket_url": "https://t.example/?q=');DROP%20TABLE%20findings;--"}"#;
    let stored = patch(&server, &auditor, &path, hostile, "application/json").await;
    assert_eq!(stored.status(), 200);
    let stored: Value = stored.json().await.unwrap();
    assert_eq!(stored["ticket"]["key"], "<script>alert(1)</script>");
    assert_eq!(
        stored["ticket"]["url"],
        "https://t.example/?q=');DROP%20TABLE%20findings;--"
    );
    // A URL with white space in it is not a URL.
    let spaced = r#"{"ticket_key": "A-1", "ticket_url": "https://t.example/a b"}"#;
    assert_eq!(
        patch(&server, &auditor, &path, spaced, "application/json")
            .await
            .status(),
        400
    );
    // Both null unlinks.
    let unlinked: Value = patch(
        &server,
        &auditor,
        &path,
        r#"{"ticket_key": null, "ticket_url": null}"#,
        "application/json",
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(unlinked["ticket"], Value::Null);
    let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM findings")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 1);
}
