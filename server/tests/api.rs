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
    assert_eq!(
        kubeward_server::storage::api_tokens::revoke(&mut conn, revoked_id)
            .await
            .unwrap(),
        kubeward_server::storage::tokens::Revocation::Revoked
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
    // Admin-only endpoints.
    for (who, token, expected) in [
        ("anonymous", None, 401),
        ("viewer", Some(viewer.as_str()), 403),
        ("auditor", Some(auditor.as_str()), 403),
        ("admin", Some(admin.as_str()), 200),
        ("agent token", Some(agent.as_str()), 403),
        ("expired", Some(expired.as_str()), 401),
    ] {
        let response = send(
            &server,
            reqwest::Method::GET,
            token,
            "/api/v1/api-tokens",
            None,
        )
        .await;
        assert_eq!(response.status(), expected, "{who} GET /api/v1/api-tokens");
        if expected != 200 {
            let response = send(
                &server,
                reqwest::Method::POST,
                token,
                "/api/v1/clusters",
                Some(r#"{"name": "intruder"}"#),
            )
            .await;
            assert_eq!(response.status(), expected, "{who} POST /api/v1/clusters");
        }
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
        // Found by the OpenAPI run: a NUL byte once reached PostgreSQL as a cluster cursor.
        ("/api/v1/clusters?cursor=%00", "cursor"),
        ("/api/v1/clusters?cursor=%3Cscript%3E", "cursor"),
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

async fn send(
    server: &TestServer,
    method: reqwest::Method,
    token: Option<&str>,
    path: &str,
    body: Option<&str>,
) -> reqwest::Response {
    let mut request = server.client.request(method, server.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    request.send().await.unwrap()
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn scans_list_in_time_order_and_show_their_results(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("prod").await;
    let (_, viewer) = api_token(&pool, Role::Viewer, None).await;
    // Delivered out of order; listed by finished_at.
    for hour in [2, 0, 1] {
        let statuses = if hour == 1 {
            vec![("1.1.1", Status::Fail)]
        } else {
            vec![]
        };
        assert_eq!(
            server
                .post(&agent, &report("cp-1", at(hour), &statuses))
                .await
                .status(),
            201
        );
    }
    let first = get_json(&server, &viewer, "/api/v1/scans?limit=2").await;
    let items = first["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let rest = get_json(
        &server,
        &viewer,
        &format!(
            "/api/v1/scans?limit=2&cursor={}",
            first["next"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next"], Value::Null);
    let times: Vec<String> = items
        .iter()
        .chain(rest["items"].as_array().unwrap())
        .map(|s| s["finished_at"].as_str().unwrap().to_owned())
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted);
    assert_eq!(items[1]["counts"]["fail"], 1);
    assert_eq!(items[1]["node"], "cp-1");

    let scan_id = items[1]["scan_id"].as_str().unwrap().to_owned();
    let scan = get_json(&server, &viewer, &format!("/api/v1/scans/{scan_id}")).await;
    let results = scan["results"].as_array().unwrap();
    assert_eq!(results.len(), 97);
    assert_eq!(results[0]["check"], "1.1.1");
    assert_eq!(results[0]["status"], "fail");
    assert!(
        results[0]["title"]
            .as_str()
            .unwrap()
            .contains("API server static pod manifest")
    );
    assert_eq!(
        get(
            &server,
            &viewer,
            &format!("/api/v1/scans/{}", uuid::Uuid::now_v7())
        )
        .await
        .status(),
        404
    );
    assert_eq!(
        get(&server, &viewer, "/api/v1/scans/not-a-uuid")
            .await
            .status(),
        400
    );
    assert_eq!(
        get(&server, &viewer, "/api/v1/scans?cursor=garbage")
            .await
            .status(),
        400
    );
    let filtered = get_json(&server, &viewer, "/api/v1/scans?node=nope").await;
    assert!(filtered["items"].as_array().unwrap().is_empty());
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn admins_enroll_clusters_and_manage_tokens_over_the_api(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, admin) = api_token(&pool, Role::Admin, None).await;
    let (_, auditor) = api_token(&pool, Role::Auditor, None).await;
    let enrolled = send(
        &server,
        reqwest::Method::POST,
        Some(&admin),
        "/api/v1/clusters",
        Some(r#"{"name": "edge", "labels": {"env": "prod"}}"#),
    )
    .await;
    assert_eq!(enrolled.status(), 201);
    let enrolled: Value = enrolled.json().await.unwrap();
    assert_eq!(enrolled["cluster"]["labels"], json!({"env": "prod"}));
    let agent = enrolled["agent_token"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        server
            .post(&agent, &report("edge-1", at(0), &[]))
            .await
            .status(),
        201
    );

    let again = send(
        &server,
        reqwest::Method::POST,
        Some(&admin),
        "/api/v1/clusters",
        Some(r#"{"name": "edge"}"#),
    )
    .await;
    assert_eq!(again.status(), 409);
    for (body, field) in [
        (r#"{"name": "Edge!"}"#, "name"),
        (r#"{"name": "ok", "labels": {"a b": "c"}}"#, "labels"),
        (r#"{"nom": "x"}"#, "nom"),
    ] {
        let response = send(
            &server,
            reqwest::Method::POST,
            Some(&admin),
            "/api/v1/clusters",
            Some(body),
        )
        .await;
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(problem(response).await["field"], field);
    }
    assert_eq!(
        send(
            &server,
            reqwest::Method::POST,
            Some(&auditor),
            "/api/v1/clusters",
            Some(r#"{"name": "x"}"#)
        )
        .await
        .status(),
        403
    );

    let second = send(
        &server,
        reqwest::Method::POST,
        Some(&admin),
        "/api/v1/clusters/edge/agent-tokens",
        None,
    )
    .await;
    assert_eq!(second.status(), 201);
    let second: Value = second.json().await.unwrap();
    let second_id = second["id"].as_str().unwrap().to_owned();
    let second_token = second["token"].as_str().unwrap().to_owned();
    assert_eq!(
        server
            .post(&second_token, &report("edge-1", at(1), &[]))
            .await
            .status(),
        201
    );
    assert_eq!(
        send(
            &server,
            reqwest::Method::DELETE,
            Some(&admin),
            &format!("/api/v1/agent-tokens/{second_id}"),
            None
        )
        .await
        .status(),
        204
    );
    assert_eq!(
        server
            .post(&second_token, &report("edge-1", at(2), &[]))
            .await
            .status(),
        401
    );
    assert_eq!(
        send(
            &server,
            reqwest::Method::POST,
            Some(&admin),
            "/api/v1/clusters/nope/agent-tokens",
            None
        )
        .await
        .status(),
        404
    );

    let issued = send(
        &server,
        reqwest::Method::POST,
        Some(&admin),
        "/api/v1/api-tokens",
        Some(r#"{"name": "jira", "role": "auditor", "expires_in_days": 90}"#),
    )
    .await;
    assert_eq!(issued.status(), 201);
    let issued: Value = issued.json().await.unwrap();
    let jira = issued["token"].as_str().unwrap().to_owned();
    assert!(jira.starts_with("kwt_"));
    assert_eq!(get(&server, &jira, "/api/v1/findings").await.status(), 200);
    let listed = get_json(&server, &admin, "/api/v1/api-tokens").await;
    let text = listed.to_string();
    assert!(
        text.contains("\"jira\"") && !text.contains(&jira),
        "tokens are never listed"
    );
    let bad = send(
        &server,
        reqwest::Method::POST,
        Some(&admin),
        "/api/v1/api-tokens",
        Some(r#"{"name": "x", "role": "root", "expires_in_days": 1}"#),
    )
    .await;
    assert_eq!(problem(bad).await["field"], "role");
    let bad = send(
        &server,
        reqwest::Method::POST,
        Some(&admin),
        "/api/v1/api-tokens",
        Some(r#"{"name": "x", "role": "viewer", "expires_in_days": 99999}"#),
    )
    .await;
    assert_eq!(problem(bad).await["field"], "expires_in_days");
    assert_eq!(
        send(
            &server,
            reqwest::Method::DELETE,
            Some(&admin),
            &format!("/api/v1/api-tokens/{}", issued["id"].as_str().unwrap()),
            None
        )
        .await
        .status(),
        204
    );
    assert_eq!(get(&server, &jira, "/api/v1/findings").await.status(), 401);
    assert_eq!(
        send(
            &server,
            reqwest::Method::DELETE,
            Some(&admin),
            &format!("/api/v1/api-tokens/{}", uuid::Uuid::now_v7()),
            None
        )
        .await
        .status(),
        404
    );
    assert_eq!(
        get(&server, &auditor, "/api/v1/api-tokens").await.status(),
        403
    );
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn trends_give_daily_scores_per_cluster_section_and_check(pool: PgPool) {
    use kubeward_benchmark::catalog::Assessment;
    let server = TestServer::start(pool.clone()).await;
    let (_, prod) = server.enroll("prod").await;
    let (_, staging) = server.enroll("staging").await;
    let (_, viewer) = api_token(&pool, Role::Viewer, None).await;
    let catalog = common::catalog();
    let automated = catalog
        .checks
        .iter()
        .filter(|c| c.assessment == Assessment::Automated)
        .count() as f64;
    let section_automated = catalog
        .checks
        .iter()
        .filter(|c| c.section == "1.2" && c.assessment == Assessment::Automated)
        .count() as f64;
    // Day 0: cp-1 fails 1.2.15 (and warns on a Manual check), cp-2 passes all; staging fails 1.2.15 too.
    // Day 1: cp-1 fixed. Day 2: nobody reports.
    let failing = [("1.2.15", Status::Fail), ("1.2.1", Status::Warn)];
    for (token, node, hour, statuses) in [
        (&prod, "cp-1", 0, &failing[..]),
        (&prod, "cp-2", 0, &[][..]),
        (&staging, "st-1", 0, &failing[..1]),
        (&prod, "cp-1", 24, &[][..]),
        (&prod, "cp-2", 24, &[][..]),
    ] {
        assert_eq!(
            server
                .post(token, &report(node, at(hour), statuses))
                .await
                .status(),
            201
        );
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let day = |hours: i64| at(hours).date().format(&format).unwrap();
    let range = format!("from={}&to={}", day(0), day(48));

    let prod_trend = get_json(
        &server,
        &viewer,
        &format!("/api/v1/trends?cluster=prod&{range}"),
    )
    .await;
    let points = prod_trend["points"].as_array().unwrap();
    assert_eq!(points.len(), 2, "days without reports have no point");
    assert_eq!(points[0]["day"], day(0));
    assert_eq!(points[0]["nodes"], 2);
    assert_eq!(points[0]["counts"]["fail"], 1);
    assert_eq!(points[0]["counts"]["warn"], 1);
    let expected = (2.0 * automated - 1.0) / (2.0 * automated);
    assert!((points[0]["score"].as_f64().unwrap() - expected).abs() < 1e-9);
    assert_eq!(points[1]["score"], 1.0);
    assert!(
        prod_trend["score_definition"]
            .as_str()
            .unwrap()
            .contains("automated")
    );

    let section = get_json(
        &server,
        &viewer,
        &format!("/api/v1/trends?cluster=prod&section=1.2&{range}"),
    )
    .await;
    let expected = (2.0 * section_automated - 1.0) / (2.0 * section_automated);
    assert!((section["points"][0]["score"].as_f64().unwrap() - expected).abs() < 1e-9);

    let top = get_json(
        &server,
        &viewer,
        &format!("/api/v1/trends?cluster=prod&section=1&{range}"),
    )
    .await;
    assert_eq!(
        top["points"][0]["counts"]["fail"], 1,
        "a section counts the sections under it"
    );
    let fleet = get_json(&server, &viewer, &format!("/api/v1/trends?{range}")).await;
    assert_eq!(fleet["points"][0]["nodes"], 3);
    assert_eq!(fleet["points"][0]["counts"]["fail"], 2);

    let spread = get_json(
        &server,
        &viewer,
        &format!("/api/v1/trends/checks?check=1.2.15&{range}"),
    )
    .await;
    assert_eq!(spread["points"][0]["failing_nodes"], 2);
    assert_eq!(spread["points"][0]["failing_clusters"], 2);
    assert_eq!(spread["points"][1]["failing_nodes"], 0);

    for (path, field) in [
        ("/api/v1/trends?from=2026-13-01", "from"),
        ("/api/v1/trends?from=2026-11-02&to=2026-11-01", "from"),
        ("/api/v1/trends?from=2020-01-01&to=2026-11-01", "from"),
        ("/api/v1/trends?section=x", "section"),
        ("/api/v1/trends/checks", "check"),
        ("/api/v1/trends/checks?check=DROP", "check"),
    ] {
        let response = get(&server, &viewer, path).await;
        assert_eq!(response.status(), 400, "{path}");
        assert_eq!(problem(response).await["field"], field, "{path}");
    }
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn findings_and_nodes_are_shown_as_they_stood_at_a_past_time(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("prod").await;
    let (_, viewer) = api_token(&pool, Role::Viewer, None).await;
    // cp-1: 1.2.15 fails at hour 0, passes at 24, fails again at 48. worker-1 first reports at 40.
    for (node, hour, failing) in [
        ("cp-1", 0, true),
        ("cp-1", 24, false),
        ("worker-1", 40, false),
        ("cp-1", 48, true),
    ] {
        let statuses: &[(&str, Status)] = if failing {
            &[("1.2.15", Status::Fail)]
        } else {
            &[]
        };
        let status = server
            .post(&agent, &report(node, at(hour), statuses))
            .await
            .status();
        assert_eq!(status, 201);
    }
    let text = |time: time::OffsetDateTime| {
        time.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let as_of = |time: time::OffsetDateTime| format!("/api/v1/findings?at={}", text(time));

    let first = get_json(&server, &viewer, &as_of(at(1))).await;
    assert_eq!(first["items"].as_array().unwrap().len(), 1);
    let finding = &first["items"][0];
    assert_eq!(finding["state"], "open");
    assert_eq!(finding["state_since"], text(at(0)));
    assert_eq!(finding["last_seen"], text(at(0)));
    assert_eq!(finding["reopened"], 0);
    assert_eq!(finding["evidence"][0]["observed"], "fail");
    let id = finding["id"].as_i64().unwrap();

    // The end of 2026-09-22 (UTC) is after the fix at hour 24 and before the regression at hour 48.
    for path in [as_of(at(30)), "/api/v1/findings?at=2026-09-22".to_owned()] {
        let page = get_json(&server, &viewer, &path).await;
        let finding = &page["items"][0];
        assert_eq!(finding["id"], id, "{path}: one id for the whole life");
        assert_eq!(finding["state"], "resolved", "{path}");
        assert_eq!(finding["state_since"], text(at(24)), "{path}");
        assert_eq!(
            finding["last_seen"],
            text(at(0)),
            "{path}: the last failing scan"
        );
        assert_eq!(finding["reopened"], 0, "{path}");
    }
    let resolved_then = get_json(&server, &viewer, &format!("{}&state=open", as_of(at(30)))).await;
    assert!(resolved_then["items"].as_array().unwrap().is_empty());

    let now = get_json(&server, &viewer, "/api/v1/findings").await;
    assert_eq!(now["items"][0]["state"], "open");
    assert_eq!(now["items"][0]["reopened"], 1);
    let later = get_json(&server, &viewer, &as_of(at(100))).await;
    assert_eq!(later["items"][0]["reopened"], 1);
    assert_eq!(later["items"][0]["state_since"], text(at(48)));

    let before = get_json(&server, &viewer, &as_of(at(-1))).await;
    assert!(
        before["items"].as_array().unwrap().is_empty(),
        "not opened yet"
    );
    let response = get(
        &server,
        &viewer,
        &format!("/api/v1/findings/{id}?at={}", text(at(-1))),
    )
    .await;
    assert_eq!(response.status(), 404);
    let one = get_json(
        &server,
        &viewer,
        &format!("/api/v1/findings/{id}?at=2026-09-22"),
    )
    .await;
    assert_eq!(one["state"], "resolved");

    let nodes = get_json(
        &server,
        &viewer,
        &format!("/api/v1/nodes?at={}", text(at(30))),
    )
    .await;
    let items = nodes["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "worker-1 had not reported yet: {nodes}");
    assert_eq!(items[0]["name"], "cp-1");
    assert_eq!(items[0]["last_seen"], text(at(24)));
    assert_eq!(items[0]["stale"], false, "6 hours after its last scan");
    let much_later = get_json(
        &server,
        &viewer,
        &format!("/api/v1/nodes?at={}", text(at(100))),
    )
    .await;
    assert!(
        much_later["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|node| node["stale"] == true),
        "52 hours without a report: {much_later}"
    );

    for path in [
        "/api/v1/findings?at=yesterday",
        "/api/v1/findings?at=2026-02-30",
        "/api/v1/findings?at=%3Cscript%3E",
        "/api/v1/nodes?at=9999999999-01-01",
        "/api/v1/findings/1?at=2026-13-01",
    ] {
        let response = get(&server, &viewer, path).await;
        assert_eq!(response.status(), 400, "{path}");
        assert_eq!(problem(response).await["field"], "at", "{path}");
    }
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn every_endpoint_refuses_a_parameter_it_does_not_take_or_one_given_twice(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, token) = api_token(&pool, Role::Auditor, None).await;
    // Every GET of the API, with a parameter it takes (to give twice) where it takes one.
    let endpoints = [
        ("/api/v1/clusters", Some("limit=1")),
        ("/api/v1/nodes", Some("cluster=prod")),
        ("/api/v1/standing", Some("at=2026-11-01")),
        ("/api/v1/scans", Some("node=cp-1")),
        ("/api/v1/findings", Some("state=open")),
        ("/api/v1/findings/1", Some("at=2026-11-01")),
        ("/api/v1/events", Some("cursor=0")),
        ("/api/v1/trends", Some("section=1.2")),
        ("/api/v1/trends/checks", Some("check=1.2.15")),
        ("/api/v1/exceptions", Some("state=in_force")),
        ("/api/v1/exceptions/1", Some("at=2026-11-01")),
        ("/api/v1/attestations", Some("valid=true")),
        ("/api/v1/attestations/1", Some("at=2026-11-01")),
        ("/api/v1/audit", Some("actor=ops")),
        ("/api/v1/audit/verify", None),
    ];
    for (path, taken) in endpoints {
        // A misspelt filter must not widen the answer silently.
        let response = get(&server, &token, &format!("{path}?clustr=%3Cscript%3E")).await;
        assert_eq!(response.status(), 400, "{path}");
        let body = problem(response).await;
        assert_eq!(body["field"], "clustr", "{path}: {body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("unknown parameter"),
            "{path}: {body}"
        );
        assert!(!body.to_string().contains("<script>"), "{path}: {body}");
        if let Some(taken) = taken {
            let name = taken.split('=').next().unwrap();
            let response = get(&server, &token, &format!("{path}?{taken}&{taken}")).await;
            assert_eq!(response.status(), 400, "{path} with {name} twice");
            assert_eq!(problem(response).await["field"], name, "{path}");
        }
    }
}
