//! Exceptions, attestations and the audit trail end to end: the state machine over the API, separation of
//! duties, waived failures in scores, findings, exports and the feed, the exact end of an exception also in
//! views of past days, attestations on manual checks, and `audit verify` against a tampered database.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop loudly at the first unexpected error"
)]

mod common;

use common::get_json as get;
use common::post_json as post;
use common::{TestServer, api_token, at, catalog, problem, report, send};
use kubeward_benchmark::Status;
use kubeward_benchmark::catalog::Assessment;
use kubeward_server::domain::role::Role;
use serde_json::{Value, json};
use sqlx::PgPool;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const SERVER: &str = env!("CARGO_BIN_EXE_kubeward-server");

fn day_after_tomorrow() -> String {
    let day = OffsetDateTime::now_utc().date() + time::Duration::days(2);
    kubeward_server::app::views::day_text(day)
}

struct Callers {
    server: TestServer,
    alice: String,
    bob: String,
    viewer: String,
}

/// A server with `prod/cp-1` failing 1.2.15 (and one manual check left manual), two admins and a viewer.
async fn fleet(pool: PgPool) -> Callers {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("prod").await;
    let manual = manual_check();
    let status = server
        .post(
            &agent,
            &report(
                "cp-1",
                at(0),
                &[("1.2.15", Status::Fail), (manual.as_str(), Status::Manual)],
            ),
        )
        .await
        .status();
    assert_eq!(status, 201);
    let (_, alice) = api_token(&pool, Role::Admin, None).await;
    let (_, bob) = api_token(&pool, Role::Admin, None).await;
    let (_, viewer) = api_token(&pool, Role::Viewer, None).await;
    Callers {
        server,
        alice,
        bob,
        viewer,
    }
}

fn manual_check() -> String {
    catalog()
        .checks
        .iter()
        .find(|check| check.assessment == Assessment::Manual)
        .map(|check| check.id.clone())
        .unwrap()
}

async fn request_exception(callers: &Callers) -> i64 {
    let response = post(
        &callers.server,
        &callers.alice,
        "/api/v1/exceptions",
        json!({"check": "1.2.15", "cluster": "prod", "nodes": "cp-*",
               "justification": "profiling is needed by <script>alert(1)</script> the vendor's agent",
               "expires_on": day_after_tomorrow()}),
    )
    .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["state"], "requested");
    assert_eq!(body["scope"]["nodes"], "cp-*");
    body["id"].as_i64().unwrap()
}

async fn audit_actions(pool: &PgPool) -> Vec<(String, String)> {
    sqlx::query_as("SELECT action, actor_id FROM audit_log ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn exceptions_follow_their_state_machine_and_nobody_decides_their_own(pool: PgPool) {
    let callers = fleet(pool.clone()).await;
    let server = &callers.server;
    let id = request_exception(&callers).await;
    let approve = format!("/api/v1/exceptions/{id}/approve");

    // The requester may not decide; a viewer may not either.
    let own = post(server, &callers.alice, &approve, json!({})).await;
    assert_eq!(own.status(), 403);
    assert!(
        problem(own).await["detail"]
            .as_str()
            .unwrap()
            .contains("another auditor")
    );
    assert_eq!(
        post(server, &callers.viewer, &approve, json!({}))
            .await
            .status(),
        403
    );
    let reject_without_note = post(
        server,
        &callers.bob,
        &format!("/api/v1/exceptions/{id}/reject"),
        json!({}),
    )
    .await;
    assert_eq!(reject_without_note.status(), 400);

    let approved = post(
        server,
        &callers.bob,
        &approve,
        json!({"note": "accepted for one quarter"}),
    )
    .await;
    assert_eq!(approved.status(), 200);
    let approved: Value = approved.json().await.unwrap();
    assert_eq!(approved["state"], "in_force");
    assert_eq!(approved["decided_by"], "admin test");
    assert!(
        approved["justification"]
            .as_str()
            .unwrap()
            .contains("<script>"),
        "stored as given, escaped when shown"
    );

    // Settled: no second decision, no rejection after approval.
    assert_eq!(
        post(server, &callers.bob, &approve, json!({}))
            .await
            .status(),
        409
    );
    let late_reject = post(
        server,
        &callers.bob,
        &format!("/api/v1/exceptions/{id}/reject"),
        json!({"note": "no"}),
    )
    .await;
    assert_eq!(late_reject.status(), 409);

    // Revocation needs a reason, then ends the waiver at once.
    let revoke = format!("/api/v1/exceptions/{id}/revoke");
    assert_eq!(
        post(server, &callers.bob, &revoke, json!({}))
            .await
            .status(),
        400
    );
    let revoked = post(
        server,
        &callers.bob,
        &revoke,
        json!({"note": "the agent was removed"}),
    )
    .await;
    assert_eq!(revoked.status(), 200);
    assert_eq!(revoked.json::<Value>().await.unwrap()["state"], "revoked");
    assert_eq!(
        post(server, &callers.bob, &revoke, json!({"note": "again"}))
            .await
            .status(),
        409
    );
    let findings = get(server, &callers.viewer, "/api/v1/findings?cluster=prod").await;
    assert!(
        findings["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|item| item["exception_id"].is_null())
    );

    // Each state change records who and when, in the exception and in the audit trail.
    let records = audit_actions(&pool).await;
    let governance: Vec<&str> = records
        .iter()
        .filter(|(action, _)| action.starts_with("exception."))
        .map(|(action, _)| action.as_str())
        .collect();
    assert_eq!(
        governance,
        ["exception.request", "exception.approve", "exception.revoke"]
    );
    assert!(
        records
            .iter()
            .all(|(_, actor)| actor.starts_with("api-token:"))
    );
    let events: Vec<String> = get(server, &callers.viewer, "/api/v1/events").await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(events, ["opened", "waived", "waiver_revoked"]);
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn bad_exception_requests_are_refused_by_name_and_store_nothing(pool: PgPool) {
    let callers = fleet(pool.clone()).await;
    let far = kubeward_server::app::views::day_text(
        OffsetDateTime::now_utc().date() + time::Duration::days(400),
    );
    let cases = [
        (
            json!({"check": "9.9.9", "justification": "x", "expires_on": day_after_tomorrow()}),
            "check",
        ),
        (
            json!({"check": "1.2.15'; DROP TABLE findings;--", "justification": "x", "expires_on": day_after_tomorrow()}),
            "check",
        ),
        (
            json!({"check": "1.2.15", "justification": "  ", "expires_on": day_after_tomorrow()}),
            "justification",
        ),
        (
            json!({"check": "1.2.15", "justification": "a\u{0}b", "expires_on": day_after_tomorrow()}),
            "justification",
        ),
        (
            json!({"check": "1.2.15", "justification": "x".repeat(4001), "expires_on": day_after_tomorrow()}),
            "justification",
        ),
        (
            json!({"check": "1.2.15", "justification": "x", "expires_on": "2020-01-01"}),
            "expires_on",
        ),
        (
            json!({"check": "1.2.15", "justification": "x", "expires_on": far}),
            "expires_on",
        ),
        (
            json!({"check": "1.2.15", "justification": "x", "expires_on": "tomorrow"}),
            "expires_on",
        ),
        (
            json!({"check": "1.2.15", "justification": "x", "expires_on": day_after_tomorrow(), "nodes": "cp_%"}),
            "nodes",
        ),
        (
            json!({"check": "1.2.15", "justification": "x", "expires_on": day_after_tomorrow(), "cluster": "nope"}),
            "cluster",
        ),
        (
            json!({"check": 1215, "justification": "x", "expires_on": day_after_tomorrow()}),
            "check",
        ),
        (
            json!({"check": "1.2.15", "justification": "x", "expires_on": day_after_tomorrow(), "approved": true}),
            "(body)",
        ),
    ];
    for (body, field) in cases {
        let response = post(
            &callers.server,
            &callers.alice,
            "/api/v1/exceptions",
            body.clone(),
        )
        .await;
        assert_eq!(response.status(), 400, "{body}");
        let problem = problem(response).await;
        assert!(
            problem["field"]
                .as_str()
                .unwrap_or_default()
                .starts_with(field)
                || field == "(body)",
            "{body}: {problem}"
        );
    }
    let viewer = post(
        &callers.server,
        &callers.viewer,
        "/api/v1/exceptions",
        json!({"check": "1.2.15", "justification": "x", "expires_on": day_after_tomorrow()}),
    )
    .await;
    assert_eq!(viewer.status(), 403);
    assert_eq!(common::count(&pool, "exceptions").await, 0);
    assert_eq!(common::count(&pool, "audit_log").await, 0);
    assert_eq!(
        send(
            &callers.server,
            &callers.bob,
            reqwest::Method::POST,
            "/api/v1/exceptions/99999999999999999999/approve",
            Some(json!({}))
        )
        .await
        .status(),
        400
    );
    assert_eq!(
        post(
            &callers.server,
            &callers.bob,
            "/api/v1/exceptions/42/approve",
            json!({})
        )
        .await
        .status(),
        404
    );
}

/// Puts an approved exception's window where the test wants it (the scans are in the past).
async fn place_window(
    pool: &PgPool,
    id: i64,
    decided_at: OffsetDateTime,
    expires_at: OffsetDateTime,
) {
    sqlx::query(
        "UPDATE exceptions SET requested_at = $2, decided_at = $2, expires_at = $3 WHERE id = $1",
    )
    .bind(id)
    .bind(decided_at)
    .bind(expires_at)
    .execute(pool)
    .await
    .unwrap();
}

fn rfc3339(time: OffsetDateTime) -> String {
    time.format(&Rfc3339).unwrap()
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn a_waived_failure_stays_a_failure_until_the_exact_end_also_on_past_days(pool: PgPool) {
    let callers = fleet(pool.clone()).await;
    let server = &callers.server;
    let webhook = post(server, &callers.alice, "/api/v1/webhooks",
        json!({"url": "http://127.0.0.1:9/hook", "secret": "0123456789abcdef", "events": ["finding.waiver_expired"]})).await;
    assert_eq!(webhook.status(), 201);
    let fleet_before = server
        .client
        .get(server.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let id = request_exception(&callers).await;
    let approved = post(
        server,
        &callers.bob,
        &format!("/api/v1/exceptions/{id}/approve"),
        json!({}),
    )
    .await;
    assert_eq!(approved.status(), 200);

    // In force now: the finding carries it, the fleet counts it apart, the score does not move.
    let findings = get(server, &callers.viewer, "/api/v1/findings?cluster=prod").await;
    assert_eq!(findings["items"][0]["exception_id"], id);
    assert_eq!(findings["items"][0]["state"], "open");
    let fleet_now = server
        .client
        .get(server.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let score = |page: &str| {
        page.split("Fleet score <strong>")
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        score(&fleet_before),
        score(&fleet_now),
        "a waived failure is still a failure in the score"
    );
    assert!(
        fleet_now.contains(r#"<td class="num fail">0</td><td class="num waived">1</td>"#),
        "{fleet_now}"
    );
    let node = server
        .client
        .get(server.url("/clusters/prod/nodes/cp-1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        node.contains(&format!("fail waived by exception #{id} until")),
        "the node page says so"
    );
    let csv = server
        .client
        .get(server.url("/findings/export.csv?state=open"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.lines().next().unwrap().contains(",exception,"));
    assert!(csv.contains(&format!(",{id},")), "{csv}");

    // Move the window around the scan's day D: approved the day before, last day D.
    let day = at(0).date();
    let end = day.next_day().unwrap().midnight().assume_utc();
    place_window(&pool, id, at(-24), end).await;
    let just_before = get(
        server,
        &callers.viewer,
        &format!(
            "/api/v1/findings?cluster=prod&at={}",
            rfc3339(end - time::Duration::microseconds(1))
        ),
    )
    .await;
    assert_eq!(just_before["items"][0]["exception_id"], id);
    let at_end = get(
        server,
        &callers.viewer,
        &format!("/api/v1/findings?cluster=prod&at={}", rfc3339(end)),
    )
    .await;
    assert!(
        at_end["items"][0]["exception_id"].is_null(),
        "at its end exactly the failure counts again"
    );
    let day_text = kubeward_server::app::views::day_text(day);
    let next_text = kubeward_server::app::views::day_text(day.next_day().unwrap());
    let on_day = server
        .client
        .get(server.url(&format!("/clusters/prod/nodes/cp-1?at={day_text}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        on_day.contains(&format!("waived by exception #{id} until {day_text}")),
        "valid on the audit date: waived then"
    );
    let day_after = server
        .client
        .get(server.url(&format!("/clusters/prod/nodes/cp-1?at={next_text}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !day_after.contains("waived by exception"),
        "the day after its last day it is failing again"
    );
    assert_eq!(
        get(
            server,
            &callers.viewer,
            &format!("/api/v1/exceptions/{id}?at={day_text}")
        )
        .await["state"],
        "in_force"
    );
    assert_eq!(
        get(server, &callers.viewer, &format!("/api/v1/exceptions/{id}")).await["state"],
        "expired"
    );
    let in_force_then = get(
        server,
        &callers.viewer,
        &format!("/api/v1/exceptions?state=in_force&at={day_text}"),
    )
    .await;
    assert_eq!(in_force_then["items"].as_array().unwrap().len(), 1);
    let now_in_force = get(server, &callers.viewer, "/api/v1/exceptions?state=in_force").await;
    assert!(now_in_force["items"].as_array().unwrap().is_empty());

    // The expiry goes to the feed and to webhooks once, and into the audit trail as the server's act.
    assert_eq!(
        kubeward_server::app::governance::sweep_expiries(&pool)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        kubeward_server::app::governance::sweep_expiries(&pool)
            .await
            .unwrap(),
        0
    );
    let events = get(server, &callers.viewer, "/api/v1/events").await;
    let last = events["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "waiver_expired");
    assert_eq!(last["exception_id"], id);
    assert_eq!(last["at"], rfc3339(end).replace("+00:00", "Z"));
    assert!(last["scan_id"].is_null());
    let queued: i64 =
        sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE event_id = $1")
            .bind(last["id"].as_i64().unwrap())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(queued, 1);
    let records = audit_actions(&pool).await;
    assert!(records.contains(&("exception.expire".to_owned(), "system".to_owned())));
    // The finding's own state machine is untouched by waiver events.
    assert_eq!(
        common::findings_of(&pool, "prod", "cp-1").await[0].1,
        "open"
    );
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn attestations_answer_manual_checks_until_their_validity_ends(pool: PgPool) {
    let callers = fleet(pool.clone()).await;
    let server = &callers.server;
    let manual = manual_check();
    let until = day_after_tomorrow();
    let body = json!({"check": manual, "cluster": "prod", "verdict": "pass",
        "statement": "reviewed the RBAC bindings with the platform team", "evidence_url": "https://evidence.example.com/r/1",
        "valid_until": until});
    assert_eq!(
        post(
            server,
            &callers.viewer,
            "/api/v1/attestations",
            body.clone()
        )
        .await
        .status(),
        403
    );
    let automated = post(
        server,
        &callers.bob,
        "/api/v1/attestations",
        json!({"check": "1.2.15", "verdict": "pass", "statement": "x", "valid_until": until}),
    )
    .await;
    assert_eq!(automated.status(), 400);
    let bad_link = post(server, &callers.bob, "/api/v1/attestations", json!({"check": manual, "verdict": "pass", "statement": "x", "valid_until": until, "evidence_url": "javascript:alert(1)"})).await;
    assert_eq!(bad_link.status(), 400);
    let bad_verdict = post(
        server,
        &callers.bob,
        "/api/v1/attestations",
        json!({"check": manual, "verdict": "waived", "statement": "x", "valid_until": until}),
    )
    .await;
    assert_eq!(bad_verdict.status(), 400);
    let recorded = post(server, &callers.bob, "/api/v1/attestations", body).await;
    assert_eq!(recorded.status(), 201);
    let recorded: Value = recorded.json().await.unwrap();
    let id = recorded["id"].as_i64().unwrap();
    assert_eq!(recorded["valid"], true);

    let node = server
        .client
        .get(server.url("/clusters/prod/nodes/cp-1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let today = kubeward_server::app::views::day_text(OffsetDateTime::now_utc().date());
    assert!(
        node.contains(&format!(
            "attested pass by admin test on {today}, valid until {until}"
        )),
        "{node}"
    );

    // When the validity ends the check is manual again.
    sqlx::query("UPDATE attestations SET valid_from = now() - interval '2 days', valid_until = now() - interval '1 second' WHERE id = $1")
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    let node = server
        .client
        .get(server.url("/clusters/prod/nodes/cp-1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!node.contains("attested pass by"));
    assert_eq!(
        get(
            server,
            &callers.viewer,
            &format!("/api/v1/attestations/{id}")
        )
        .await["valid"],
        false
    );
    let revoke_ended = post(
        server,
        &callers.bob,
        &format!("/api/v1/attestations/{id}/revoke"),
        json!({"note": "done"}),
    )
    .await;
    assert_eq!(revoke_ended.status(), 409);
    assert!(
        audit_actions(&pool)
            .await
            .iter()
            .any(|(action, _)| action == "attestation.record")
    );
}

fn database_url_of(name: &str) -> String {
    let base = std::env::var("DATABASE_URL").unwrap();
    let (server, _) = base.rsplit_once('/').unwrap();
    format!("{server}/{name}")
}

fn verify(url: &str, extra: &[&str]) -> (bool, String) {
    let output = std::process::Command::new(SERVER)
        .args(["audit", "verify"])
        .args(extra)
        .env("DATABASE_URL", url)
        .env("KUBEWARD_DATA_DIR", std::env::temp_dir())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn audit_verify_names_the_first_altered_or_removed_record(pool: PgPool) {
    let callers = fleet(pool.clone()).await;
    for name in ["staging", "dev", "qa"] {
        let enrolled = post(
            &callers.server,
            &callers.alice,
            "/api/v1/clusters",
            json!({"name": name}),
        )
        .await;
        assert_eq!(enrolled.status(), 201);
    }
    request_exception(&callers).await;
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .unwrap();
    let url = database_url_of(&name);
    let (intact, text) = verify(&url, &[]);
    assert!(intact, "{text}");
    assert!(text.contains("audit trail intact: 4 records"), "{text}");
    let kept: Vec<u8> = sqlx::query_scalar("SELECT hash FROM audit_log WHERE id = 2")
        .fetch_one(&pool)
        .await
        .unwrap();
    let expect = format!("2:{}", hex::encode(&kept));
    assert!(verify(&url, &["--expect", &expect]).0);

    // Append-only for everyone who goes through the table's rules.
    let edit = sqlx::query("UPDATE audit_log SET actor_name = 'mallory' WHERE id = 2")
        .execute(&pool)
        .await;
    assert!(edit.unwrap_err().to_string().contains("append-only"));
    assert!(
        sqlx::query("DELETE FROM audit_log WHERE id = 3")
            .execute(&pool)
            .await
            .is_err()
    );

    // Someone with the power to lift the rules changes a record: verify fails and names it.
    sqlx::query("ALTER TABLE audit_log DISABLE TRIGGER USER")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_log SET actor_name = 'mallory' WHERE id = 2")
        .execute(&pool)
        .await
        .unwrap();
    let (intact, text) = verify(&url, &[]);
    assert!(!intact);
    assert!(text.contains("record 2 was altered"), "{text}");
    sqlx::query("UPDATE audit_log SET actor_name = 'admin test' WHERE id = 2")
        .execute(&pool)
        .await
        .unwrap();
    assert!(verify(&url, &[]).0, "restored");

    // A removed record.
    sqlx::query("DELETE FROM audit_log WHERE id = 3")
        .execute(&pool)
        .await
        .unwrap();
    let (intact, text) = verify(&url, &[]);
    assert!(!intact);
    assert!(text.contains("records 3 to 3 are missing"), "{text}");

    // A rewritten record whose hash was recomputed: the next link breaks; a kept head catches a full rewrite.
    let (intact, text) = verify(&url, &["--expect", "2:00"]);
    assert!(!intact && text.contains("64 hex digits"), "{text}");
    sqlx::query("ALTER TABLE audit_log ENABLE TRIGGER USER")
        .execute(&pool)
        .await
        .unwrap();

    // Auditors read it over the API; viewers may not; nobody can change it over the API.
    let (_, auditor) = api_token(&pool, Role::Auditor, None).await;
    let page = get(
        &callers.server,
        &auditor,
        "/api/v1/audit?action=cluster.enroll",
    )
    .await;
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        2,
        "three enrollments, one record deleted"
    );
    let check = get(&callers.server, &auditor, "/api/v1/audit/verify").await;
    assert_eq!(check["intact"], false);
    assert!(check["problem"].as_str().unwrap().contains("missing"));
    assert_eq!(
        send(
            &callers.server,
            &callers.viewer,
            reqwest::Method::GET,
            "/api/v1/audit",
            None
        )
        .await
        .status(),
        403
    );
    assert_eq!(
        send(
            &callers.server,
            &auditor,
            reqwest::Method::DELETE,
            "/api/v1/audit",
            None
        )
        .await
        .status(),
        405
    );
    assert_eq!(
        send(
            &callers.server,
            &auditor,
            reqwest::Method::GET,
            "/api/v1/audit?action=drop",
            None
        )
        .await
        .status(),
        400
    );
}

/// The database decides "waived then?" and "which state then?" in SQL (for whole pages at once) and the
/// server decides the same in Rust (`Facts`); over many random exceptions and moments, around every boundary,
/// the two must agree. Node patterns likewise: the glob in Rust and its `LIKE` form in SQL.
#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn the_sql_rules_and_the_rust_rules_agree(pool: PgPool) {
    use kubeward_server::domain::exception::{Facts, Stored};
    use kubeward_server::domain::scope::NodePattern;
    use rand::{Rng, SeedableRng};

    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let base = at(0);
    let moment = |rng: &mut rand::rngs::StdRng| {
        base + time::Duration::seconds(rng.random_range(0..40) * 3600)
    };
    for _ in 0..400 {
        let requested_at = moment(&mut rng);
        let stored = [
            Stored::Requested,
            Stored::Approved,
            Stored::Rejected,
            Stored::Revoked,
        ][rng.random_range(0..4)];
        let decided_at = (stored != Stored::Requested && rng.random_bool(0.8))
            .then(|| requested_at + time::Duration::hours(rng.random_range(0..10)));
        let revoked_at = (stored == Stored::Revoked)
            .then(|| requested_at + time::Duration::hours(rng.random_range(0..20)));
        let facts = Facts {
            stored,
            requested_by_id: "oidc:a".to_owned(),
            requested_at,
            decided_at,
            revoked_at,
            expires_at: requested_at + time::Duration::hours(rng.random_range(1..30)),
        };
        // The boundaries themselves, and random moments.
        let mut moments = vec![
            facts.requested_at,
            facts.expires_at,
            moment(&mut rng),
            moment(&mut rng),
        ];
        moments.extend(facts.decided_at);
        moments.extend(facts.revoked_at);
        for t in moments
            .iter()
            .flat_map(|t| [*t - time::Duration::microseconds(1), *t])
        {
            let (in_force, shown): (bool, Option<String>) = sqlx::query_as(
                "SELECT exception_in_force($1, $2, $3, $4, $6), exception_state_at($1, $5, $2, $3, $4, $6)",
            )
            .bind(stored.as_str())
            .bind(facts.decided_at)
            .bind(facts.revoked_at)
            .bind(facts.expires_at)
            .bind(facts.requested_at)
            .bind(t)
            .fetch_one(&pool)
            .await
            .unwrap();
            assert_eq!(in_force, facts.in_force_at(t), "{facts:?} at {t}");
            assert_eq!(
                shown.as_deref(),
                facts.shown_at(t).map(|shown| shown.as_str()),
                "{facts:?} at {t}"
            );
        }
    }
    let alphabet = ['a', 'b', '-', '.', '1'];
    for _ in 0..400 {
        let word = |rng: &mut rand::rngs::StdRng, wild: bool| -> String {
            (0..rng.random_range(1..7))
                .map(|_| match rng.random_range(0..8) {
                    0 if wild => '*',
                    1 if wild => '?',
                    _ => alphabet[rng.random_range(0..alphabet.len())],
                })
                .collect()
        };
        let pattern = NodePattern::parse(&word(&mut rng, true)).unwrap();
        let name = word(&mut rng, false);
        let like: bool = sqlx::query_scalar("SELECT scope_covers(NULL, $1, 1, $2)")
            .bind(pattern.to_like())
            .bind(&name)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(like, pattern.matches(&name), "{pattern} against {name}");
    }
}
