//! `POST /api/v1/reports` against the real PostgreSQL: the whole contract, with each error's body.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop loudly at the first unexpected error"
)]

mod common;

use common::{TestServer, at, count, events_of, findings_of, problem, report};
use kubeward_benchmark::Status;
use serde_json::{Value, json};
use sqlx::PgPool;

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn health_and_readiness_answer(pool: PgPool) {
    let server = TestServer::start(pool).await;
    let health = server
        .client
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = server
        .client
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<Value>().await.unwrap()["status"], "ready");
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn a_new_scan_is_created_and_its_failing_checks_are_open_findings(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, token) = server.enroll("prod").await;
    let scan = report(
        "cp-1",
        at(0),
        &[
            ("1.1.1", Status::Fail),
            ("4.2.4", Status::Warn),
            ("1.2.20", Status::Manual),
        ],
    );
    let response = server.post(&token, &scan).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scan_id"], scan.scan_id.to_string());
    assert_eq!(body["cluster"], "prod");
    assert_eq!(body["node"], "cp-1");
    assert_eq!(
        body["findings"],
        json!({"opened": 2, "resolved": 0, "reopened": 0})
    );

    let findings = findings_of(&pool, "prod", "cp-1").await;
    let open: Vec<(&str, &str)> = findings
        .iter()
        .map(|f| (f.0.as_str(), f.1.as_str()))
        .collect();
    assert_eq!(open, [("1.1.1", "open"), ("4.2.4", "open")]);
    assert_eq!(findings[0].2, at(0));
    let events = events_of(&pool, "prod", "cp-1").await;
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.2 == "opened" && e.3 == at(0)));

    let node: (
        Vec<String>,
        Option<String>,
        time::OffsetDateTime,
        time::OffsetDateTime,
    ) = sqlx::query_as(
        "SELECT roles, kubelet_version, first_seen, last_seen FROM nodes WHERE name = 'cp-1'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(node.0, ["control-plane", "worker"]);
    assert_eq!(node.1.as_deref(), Some("v1.33.2"));
    assert_eq!((node.2, node.3), (at(0), at(0)));
    let summary: (i32, i32, i32, i32) = sqlx::query_as(
        "SELECT rs.pass_count, rs.fail_count, rs.warn_count, rs.manual_count FROM scans s JOIN result_sets rs ON rs.id = s.result_set_id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(summary, (94, 1, 1, 1));
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn the_same_scan_again_is_ok_and_stored_once(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, token) = server.enroll("prod").await;
    let scan = report("cp-1", at(0), &[("1.1.1", Status::Fail)]);
    assert_eq!(server.post(&token, &scan).await.status(), 201);
    let again = server.post(&token, &scan).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.unwrap()["stored"], "before");
    assert_eq!(count(&pool, "scans").await, 1);
    assert_eq!(count(&pool, "finding_events").await, 1);
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn twenty_copies_arriving_at_once_are_stored_once(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, token) = server.enroll("prod").await;
    let scan = report(
        "cp-1",
        at(0),
        &[("1.1.1", Status::Fail), ("1.1.2", Status::Fail)],
    );
    let posts = (0..20).map(|_| server.post(&token, &scan));
    let statuses: Vec<u16> = futures_util::future::join_all(posts)
        .await
        .into_iter()
        .map(|response| response.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        19,
        "{statuses:?}"
    );
    assert_eq!(count(&pool, "scans").await, 1);
    assert_eq!(count(&pool, "nodes").await, 1);
    assert_eq!(count(&pool, "findings").await, 2);
    assert_eq!(count(&pool, "finding_events").await, 2);
    assert_eq!(count(&pool, "result_sets").await, 1);
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn a_scan_id_stored_with_other_content_is_a_conflict(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, token) = server.enroll("prod").await;
    let scan = report("cp-1", at(0), &[]);
    assert_eq!(server.post(&token, &scan).await.status(), 201);
    let mut changed = scan.clone();
    changed.results[0].status = Status::Fail;
    let response = server.post(&token, &changed).await;
    assert_eq!(response.status(), 409);
    let body = problem(response).await;
    assert_eq!(body["status"], 409);
    assert_eq!(body["type"], "urn:kubeward:problem:scan-conflict");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains(&scan.scan_id.to_string())
    );
    assert_eq!(count(&pool, "finding_events").await, 0);
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn invalid_reports_are_refused_naming_the_field_and_store_nothing(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, token) = server.enroll("prod").await;
    let valid = serde_json::to_value(report("cp-1", at(0), &[])).unwrap();
    let mut cases: Vec<(Value, &str)> = Vec::new();
    let mut bad_status = valid.clone();
    bad_status["results"][3]["status"] = json!("<script>alert(1)</script>");
    cases.push((bad_status, "results[3].status"));
    let mut missing = valid.clone();
    missing.as_object_mut().unwrap().remove("node");
    cases.push((missing, "(report)"));
    let mut unknown_check = valid.clone();
    unknown_check["results"][5]["check"] = json!("9.9.9");
    cases.push((unknown_check, "results[5].check"));
    let mut unknown_benchmark = valid.clone();
    unknown_benchmark["benchmark"]["version"] = json!("0.1");
    cases.push((unknown_benchmark, "benchmark"));
    let mut long = valid.clone();
    long["results"][0]["evidence"][0]["observed"] = json!("x".repeat(4097));
    cases.push((long, "results[0].evidence[0].observed"));
    let mut huge_number = valid.clone();
    huge_number["started_at"] = json!(1e308);
    cases.push((huge_number, "started_at"));
    let mut sql = valid.clone();
    sql["scan_id"] = json!("1'; DROP TABLE scans; --");
    cases.push((sql, "scan_id"));
    let mut wrong_type = valid.clone();
    wrong_type["results"] = json!("all good");
    cases.push((wrong_type, "results"));
    for (body, field) in cases {
        let response = server
            .post_bytes(
                &token,
                serde_json::to_vec(&body).unwrap(),
                "application/json",
            )
            .await;
        assert_eq!(response.status(), 400, "{field}");
        let problem = problem(response).await;
        assert_eq!(problem["type"], "urn:kubeward:problem:invalid-report");
        assert_eq!(problem["status"], 400);
        if field == "(report)" {
            assert!(
                problem["detail"].as_str().unwrap().contains("node"),
                "{problem}"
            );
        } else {
            assert_eq!(problem["field"], field, "{problem}");
        }
    }
    for body in [&b"{"[..], b"", b"null", b"\xff\xfe"] {
        let response = server
            .post_bytes(&token, body.to_vec(), "application/json")
            .await;
        assert_eq!(response.status(), 400);
    }
    assert_eq!(count(&pool, "scans").await, 0);
    assert_eq!(count(&pool, "nodes").await, 0);
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn no_bad_or_revoked_token_is_unauthorized(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (token_id, token) = server.enroll("prod").await;
    let body = serde_json::to_vec(&report("cp-1", at(0), &[])).unwrap();

    let anonymous = server
        .client
        .post(server.url("/api/v1/reports"))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    assert_eq!(
        problem(anonymous).await["type"],
        "urn:kubeward:problem:unauthorized"
    );

    let forged = format!("kwa_{}", "A".repeat(43));
    for bad in [
        forged.as_str(),
        "kwa_short",
        "' OR 1=1 --",
        &token[..token.len() - 1],
    ] {
        let response = server
            .post_bytes(bad, body.clone(), "application/json")
            .await;
        assert_eq!(response.status(), 401, "{bad}");
    }
    let basic = server
        .client
        .post(server.url("/api/v1/reports"))
        .header("authorization", format!("Basic {token}"))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);

    let mut conn = pool.acquire().await.unwrap();
    assert_eq!(
        kubeward_server::storage::tokens::revoke(&mut conn, token_id)
            .await
            .unwrap(),
        kubeward_server::storage::tokens::Revocation::Revoked
    );
    let revoked = server.post_bytes(&token, body, "application/json").await;
    assert_eq!(revoked.status(), 401);
    assert_eq!(count(&pool, "scans").await, 0);
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn bodies_over_the_limit_are_refused_before_being_buffered(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, token) = server.enroll("prod").await;
    // Declared too large: refused from the header.
    let declared = server
        .post_bytes(&token, vec![b' '; 1024 * 1024 + 1], "application/json")
        .await;
    assert_eq!(declared.status(), 413);
    assert_eq!(
        problem(declared).await["type"],
        "urn:kubeward:problem:payload-too-large"
    );
    // Streamed without a length: refused while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..40).map(|_| Ok(vec![b' '; 64 * 1024])).collect();
    let streamed = server
        .client
        .post(server.url("/api/v1/reports"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.status(), 413);
    assert_eq!(count(&pool, "scans").await, 0);
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn a_content_type_other_than_json_is_unsupported(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, token) = server.enroll("prod").await;
    let body = serde_json::to_vec(&report("cp-1", at(0), &[])).unwrap();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/jsonp",
    ] {
        let response = server.post_bytes(&token, body.clone(), content_type).await;
        assert_eq!(response.status(), 415, "{content_type}");
        assert_eq!(problem(response).await["status"], 415);
    }
    let with_charset = server
        .post_bytes(&token, body, "application/json; charset=utf-8")
        .await;
    assert_eq!(with_charset.status(), 201);
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn a_token_writes_only_into_its_own_cluster(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, prod) = server.enroll("prod").await;
    let (_, staging) = server.enroll("staging").await;
    let scan = report("node-1", at(0), &[("1.1.1", Status::Fail)]);
    assert_eq!(server.post(&staging, &scan).await.status(), 201);
    // The same scan id through another cluster's token stores nothing and moves nothing; it is answered
    // as a re-delivery into the sender's own cluster, so that it does not confirm the id exists elsewhere.
    let response = server.post(&prod, &scan).await;
    assert_eq!(response.status(), 200);
    let receipt: Value = response.json().await.unwrap();
    assert_eq!(receipt["cluster"], "prod");
    assert_eq!(receipt["stored"], "before");
    let other = report("node-1", at(1), &[]);
    assert_eq!(server.post(&prod, &other).await.status(), 201);
    let placed: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.name, n.name FROM nodes n JOIN clusters c ON c.id = n.cluster_id ORDER BY c.name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        placed,
        [
            ("prod".to_owned(), "node-1".to_owned()),
            ("staging".to_owned(), "node-1".to_owned())
        ]
    );
    assert_eq!(findings_of(&pool, "staging", "node-1").await.len(), 1);
    assert!(findings_of(&pool, "prod", "node-1").await.is_empty());
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn a_finding_opens_resolves_and_reopens_over_a_sequence_of_scans(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, token) = server.enroll("prod").await;
    let sequence = [
        (0, vec![("1.2.15", Status::Fail)]),
        (1, vec![("1.2.15", Status::Fail)]),
        (2, vec![("1.2.15", Status::Error)]),
        (3, vec![]),
        (4, vec![]),
        (5, vec![("1.2.15", Status::Fail)]),
        (6, vec![("1.2.15", Status::NotApplicable)]),
    ];
    for (hour, statuses) in &sequence {
        let response = server
            .post(&token, &report("cp-1", at(*hour), statuses))
            .await;
        assert_eq!(response.status(), 201);
    }
    let events = events_of(&pool, "prod", "cp-1").await;
    let kinds: Vec<(&str, time::OffsetDateTime)> =
        events.iter().map(|e| (e.2.as_str(), e.3)).collect();
    assert_eq!(
        kinds,
        [
            ("opened", at(0)),
            ("resolved", at(3)),
            ("reopened", at(5)),
            ("resolved", at(6))
        ]
    );
    assert!(
        events.windows(2).all(|pair| pair[0].0 < pair[1].0),
        "event ids grow"
    );
    let findings = findings_of(&pool, "prod", "cp-1").await;
    assert_eq!(findings.len(), 1, "one finding for its whole life");
    let (check, state, first_seen, state_since, reopened) = &findings[0];
    assert_eq!((check.as_str(), state.as_str()), ("1.2.15", "resolved"));
    assert_eq!((*first_seen, *state_since, *reopened), (at(0), at(6), 1));
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn unchanged_scans_add_no_result_rows(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, token) = server.enroll("prod").await;
    let statuses = [("1.1.1", Status::Fail)];
    assert_eq!(
        server
            .post(&token, &report("cp-1", at(0), &statuses))
            .await
            .status(),
        201
    );
    let results_before = count(&pool, "check_results").await;
    for hour in 1..=10 {
        assert_eq!(
            server
                .post(&token, &report("cp-1", at(hour), &statuses))
                .await
                .status(),
            201
        );
    }
    assert_eq!(count(&pool, "scans").await, 11);
    assert_eq!(count(&pool, "check_results").await, results_before);
    assert_eq!(count(&pool, "result_sets").await, 1);
    assert_eq!(count(&pool, "finding_events").await, 1);
    // A change of one result adds that result and one set, nothing else.
    assert_eq!(
        server
            .post(&token, &report("cp-1", at(11), &[]))
            .await
            .status(),
        201
    );
    assert_eq!(count(&pool, "check_results").await, results_before + 1);
    assert_eq!(count(&pool, "result_sets").await, 2);
    // Trends read one row per node and UTC day, not one per scan.
    let days: std::collections::BTreeSet<time::Date> =
        (0..=11).map(|hour| at(hour).date()).collect();
    assert_eq!(count(&pool, "node_days").await, days.len() as i64);
    assert!(days.len() < 12);
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn hostile_evidence_is_stored_exactly_and_harmlessly(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, token) = server.enroll("prod").await;
    let hostile = [
        "<script>alert(document.cookie)</script>".to_owned(),
        "'); DROP TABLE scans; --".to_owned(),
        "\u{0}\u{7}\u{1b}[2J\r\n\t".replace('\u{0}', "\u{1}"),
        "é".repeat(2048),
        "x".repeat(4096),
    ];
    let mut scan = report("cp-1", at(0), &[("1.1.1", Status::Fail)]);
    for (index, text) in hostile.iter().enumerate() {
        scan.results[index].evidence[0].observed = text.clone();
        scan.results[index].detail = Some(text.clone());
    }
    assert_eq!(server.post(&token, &scan).await.status(), 201);
    for (index, text) in hostile.iter().enumerate() {
        let stored: (Value, Option<String>) =
            sqlx::query_as("SELECT evidence, detail FROM check_results WHERE check_id = $1")
                .bind(&scan.results[index].check)
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(stored.0[0]["observed"], json!(text));
        assert_eq!(stored.1.as_deref(), Some(text.as_str()));
    }
    assert_eq!(count(&pool, "scans").await, 1);
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn a_nul_character_in_evidence_is_refused_not_a_server_error(pool: PgPool) {
    // PostgreSQL text cannot hold NUL; the report is refused with a clear error rather than failing inside.
    let server = TestServer::start(pool.clone()).await;
    let (_, token) = server.enroll("prod").await;
    let mut scan = report("cp-1", at(0), &[]);
    scan.results[0].evidence[0].observed = "a\u{0}b".to_owned();
    let response = server.post(&token, &scan).await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        problem(response).await["field"],
        "results[0].evidence[0].observed"
    );
}
