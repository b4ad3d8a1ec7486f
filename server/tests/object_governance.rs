//! Governance over Kubernetes objects: exceptions scoped by cluster, namespace, kind and exact name or glob,
//! for one check or a named group; their exact boundaries on past days; waiver events for object findings;
//! attestations of the Manual section-5 checks that keep the evidence attested; and the platform-owned bucket,
//! which an admin turns off per cluster.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop loudly at the first unexpected error"
)]

mod common;

use std::collections::BTreeMap;

use common::get_json as get;
use common::page_text as page;
use common::post_json as post;
use common::{Listed, TestServer, api_token, at, cluster_report, count, problem, send};
use kubeward_benchmark::Status;
use kubeward_benchmark::cluster_report::{ClusterReport, PlatformMark};
use kubeward_server::domain::role::Role;
use serde_json::{Value, json};
use sqlx::PgPool;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

struct Callers {
    server: TestServer,
    agent: String,
    alice: String,
    bob: String,
    auditor: String,
    viewer: String,
}

async fn callers(pool: &PgPool) -> Callers {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("prod").await;
    let (_, alice) = api_token(pool, Role::Admin, None).await;
    let (_, bob) = api_token(pool, Role::Admin, None).await;
    let (_, auditor) = api_token(pool, Role::Auditor, None).await;
    let (_, viewer) = api_token(pool, Role::Viewer, None).await;
    Callers {
        server,
        agent,
        alice,
        bob,
        auditor,
        viewer,
    }
}

async fn deliver(callers: &Callers, report: &ClusterReport) {
    let response = callers.server.post_cluster(&callers.agent, report).await;
    assert_eq!(response.status(), 201);
}

fn day_after_tomorrow() -> String {
    let day = OffsetDateTime::now_utc().date() + time::Duration::days(2);
    kubeward_server::app::views::day_text(day)
}

fn rfc3339(time: OffsetDateTime) -> String {
    time.format(&Rfc3339).unwrap()
}

/// Requests (as alice) and approves (as bob) an exception with the given check-and-scope fields.
async fn waive(callers: &Callers, fields: Value) -> i64 {
    let mut body = json!({"justification": "accepted by the platform team", "expires_on": day_after_tomorrow()});
    body.as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    let response = post(
        &callers.server,
        &callers.alice,
        "/api/v1/exceptions",
        body.clone(),
    )
    .await;
    let status = response.status();
    let created: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{body}: {created}");
    let id = created["id"].as_i64().unwrap();
    let approved = post(
        &callers.server,
        &callers.bob,
        &format!("/api/v1/exceptions/{id}/approve"),
        json!({}),
    )
    .await;
    assert_eq!(approved.status(), 200);
    id
}

const SHOP_CART: Listed = ("Deployment", "shop", "cart", Status::Warn);
const SHOP_WEB_2: Listed = ("Deployment", "shop", "web-2", Status::Warn);
const STAGING_CART: Listed = ("Deployment", "shop-staging", "cart", Status::Warn);
const STAGING_WEB_2: Listed = ("Deployment", "shop-staging", "web-2", Status::Warn);
const SHOP_BINDING: Listed = ("RoleBinding", "shop", "ops", Status::Warn);
const CLUSTER_BINDING: Listed = ("ClusterRoleBinding", "", "ops-admin", Status::Warn);

/// The scan every exception test starts from: privileged workloads (5.2.2) in `shop` and `shop-staging`, and
/// wide bindings (5.1.1) in `shop` and cluster-wide.
fn shop_scan(finished_at: OffsetDateTime) -> ClusterReport {
    cluster_report(
        finished_at,
        &[
            (
                "5.2.2",
                Status::Warn,
                &[SHOP_CART, SHOP_WEB_2, STAGING_CART, STAGING_WEB_2],
            ),
            ("5.1.1", Status::Warn, &[SHOP_BINDING, CLUSTER_BINDING]),
        ],
    )
}

/// `"check kind namespace/name" -> exception_id` of every object finding in the findings API (at `at`).
async fn waivers(callers: &Callers, at: Option<OffsetDateTime>) -> BTreeMap<String, Option<i64>> {
    let path = match at {
        None => "/api/v1/findings?cluster=prod&limit=500".to_owned(),
        Some(at) => format!(
            "/api/v1/findings?cluster=prod&limit=500&at={}",
            rfc3339(at).replace('+', "%2B")
        ),
    };
    let findings = get(&callers.server, &callers.viewer, &path).await;
    findings["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|finding| {
            let object = &finding["object"];
            (
                format!(
                    "{} {} {}/{}",
                    finding["check"].as_str().unwrap(),
                    object["kind"].as_str().unwrap(),
                    object["namespace"].as_str().unwrap_or("_"),
                    object["name"].as_str().unwrap()
                ),
                finding["exception_id"].as_i64(),
            )
        })
        .collect()
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn an_exception_for_one_namespace_waives_exactly_that_namespace_and_names_match_exactly_or_by_glob(
    pool: PgPool,
) {
    let callers = callers(&pool).await;
    deliver(&callers, &shop_scan(at(0))).await;
    assert!(
        waivers(&callers, None).await.values().all(Option::is_none),
        "nothing is waived before an exception"
    );

    // A group over a whole CIS section, for one namespace: `shop`, never `shop-staging`, never cluster-scoped.
    let shop = waive(
        &callers,
        json!({"group": "cis-1.12/5", "cluster": "prod", "namespace": "shop"}),
    )
    .await;
    // Cluster-scoped objects only, for one check.
    let cluster_scoped = waive(&callers, json!({"check": "5.1.1", "namespace": "_"})).await;
    // An exact name is exact: `web` is not `web-2`.
    let exact = waive(
        &callers,
        json!({"check": "5.2.2", "namespace": "shop-staging", "kind": "Deployment", "object": "web"}),
    )
    .await;
    // A glob takes in what it spells, and nothing else in the namespace.
    let glob = waive(
        &callers,
        json!({"check": "5.2.2", "namespace": "shop-staging", "object": "web-*"}),
    )
    .await;
    // Another kind in the same namespace: covers none of the Deployments.
    let other_kind = waive(
        &callers,
        json!({"check": "5.2.2", "namespace": "shop-staging", "kind": "DaemonSet"}),
    )
    .await;

    let expected: BTreeMap<String, Option<i64>> = [
        ("5.1.1 ClusterRoleBinding _/ops-admin", Some(cluster_scoped)),
        ("5.1.1 RoleBinding shop/ops", Some(shop)),
        ("5.2.2 Deployment shop-staging/cart", None),
        ("5.2.2 Deployment shop-staging/web-2", Some(glob)),
        ("5.2.2 Deployment shop/cart", Some(shop)),
        ("5.2.2 Deployment shop/web-2", Some(shop)),
    ]
    .into_iter()
    .map(|(key, id)| (key.to_owned(), id))
    .collect();
    assert_eq!(waivers(&callers, None).await, expected);

    // The API says what each exception is.
    let group = get(
        &callers.server,
        &callers.viewer,
        &format!("/api/v1/exceptions/{shop}"),
    )
    .await;
    assert!(group["check"].is_null(), "{group}");
    assert_eq!(group["group"], "cis-1.12/5");
    assert!(
        group["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|check| check == "5.2.2")
            && group["checks"]
                .as_array()
                .unwrap()
                .iter()
                .any(|check| check == "5.1.1"),
        "{group}"
    );
    assert_eq!(group["scope"]["namespace"], "shop");
    let named = get(
        &callers.server,
        &callers.viewer,
        &format!("/api/v1/exceptions/{exact}"),
    )
    .await;
    assert_eq!(named["scope"]["object"], "web");
    assert_eq!(named["scope"]["kind"], "Deployment");

    // Filtering the exceptions by a check finds the group's exception too.
    let by_check = get(
        &callers.server,
        &callers.viewer,
        "/api/v1/exceptions?check=5.2.2",
    )
    .await;
    let ids: Vec<i64> = by_check["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_i64().unwrap())
        .collect();
    for id in [shop, exact, glob, other_kind] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    assert!(!ids.contains(&cluster_scoped));

    // Pages: the exception lists exactly what it waives; the object page and the cluster page say so.
    let shop_page = page(&callers.server, &format!("/exceptions/{shop}")).await;
    assert!(shop_page.contains("Deployment shop/cart"), "{shop_page}");
    assert!(shop_page.contains("RoleBinding shop/ops"));
    assert!(!shop_page.contains("shop-staging"));
    let exact_page = page(&callers.server, &format!("/exceptions/{exact}")).await;
    assert!(
        exact_page.contains("None") && !exact_page.contains("web-2"),
        "{exact_page}"
    );
    let object = page(
        &callers.server,
        "/clusters/prod/objects/Deployment/shop/cart",
    )
    .await;
    assert!(
        object.contains(&format!("exception #{shop}</a>")),
        "{object}"
    );
    let unwaived = page(
        &callers.server,
        "/clusters/prod/objects/Deployment/shop-staging/cart",
    )
    .await;
    assert!(!unwaived.contains("waived by"));
    let cluster = page(&callers.server, "/clusters/prod").await;
    let row = cluster
        .split("<tr>")
        .find(|row| row.contains(">5.2.2</a>"))
        .unwrap();
    assert!(
        row.contains(r#"<td class="num waived">3</td>"#),
        "three of 5.2.2's four objects are waived: {row}"
    );
    let staging = cluster
        .split("<tr>")
        .find(|row| row.contains(">shop-staging</a>"))
        .unwrap();
    assert!(
        staging.contains(r#"<td class="num waived">1</td>"#),
        "{staging}"
    );
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn an_object_exception_ends_exactly_at_its_end_on_past_days_and_its_waiver_events_name_the_object(
    pool: PgPool,
) {
    let callers = callers(&pool).await;
    let webhook = post(
        &callers.server,
        &callers.alice,
        "/api/v1/webhooks",
        json!({"url": "http://127.0.0.1:9/hook", "secret": "0123456789abcdef",
               "events": ["finding.waived", "finding.waiver_revoked", "finding.waiver_expired"]}),
    )
    .await;
    assert_eq!(webhook.status(), 201);
    deliver(&callers, &shop_scan(at(0))).await;
    let before = get(&callers.server, &callers.viewer, "/api/v1/events?limit=500").await["items"]
        .as_array()
        .unwrap()
        .len();

    let id = waive(
        &callers,
        json!({"check": "5.2.2", "cluster": "prod", "namespace": "shop", "kind": "Deployment"}),
    )
    .await;
    let events = get(&callers.server, &callers.viewer, "/api/v1/events?limit=500").await;
    let waived: Vec<&Value> = events["items"].as_array().unwrap()[before..]
        .iter()
        .collect();
    let names: Vec<String> = waived
        .iter()
        .map(|event| {
            assert_eq!(event["kind"], "waived");
            assert_eq!(event["exception_id"], id);
            assert_eq!(event["finding"]["subject"], "object");
            format!(
                "{}/{}",
                event["finding"]["object"]["namespace"].as_str().unwrap(),
                event["finding"]["object"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(names, ["shop/cart", "shop/web-2"], "{events}");
    let queued: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM webhook_deliveries d JOIN finding_events e ON e.id = d.event_id
         WHERE e.kind = 'waived'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(queued, 2, "one delivery per waived object");

    // Its window around the scan's day D: approved the day before, last day D. On the API's past moments the
    // waiver holds until its end exactly, and not a microsecond longer.
    let day = at(0).date();
    let end = day.next_day().unwrap().midnight().assume_utc();
    sqlx::query(
        "UPDATE exceptions SET requested_at = $2, decided_at = $2, expires_at = $3 WHERE id = $1",
    )
    .bind(id)
    .bind(at(-24))
    .bind(end)
    .execute(&pool)
    .await
    .unwrap();
    let just_before = waivers(&callers, Some(end - time::Duration::microseconds(1))).await;
    assert_eq!(just_before["5.2.2 Deployment shop/cart"], Some(id));
    assert_eq!(just_before["5.2.2 Deployment shop-staging/cart"], None);
    let at_end = waivers(&callers, Some(end)).await;
    assert!(
        at_end.values().all(Option::is_none),
        "at its end exactly every object counts again: {at_end:?}"
    );
    let before_approval = waivers(&callers, Some(at(-24) - time::Duration::microseconds(1))).await;
    assert!(
        before_approval.is_empty() || before_approval.values().all(Option::is_none),
        "{before_approval:?}"
    );
    let day_text = kubeward_server::app::views::day_text(day);
    let on_day = page(
        &callers.server,
        &format!("/clusters/prod/objects/Deployment/shop/cart?at={day_text}"),
    )
    .await;
    assert!(on_day.contains(&format!("exception #{id}</a>")), "{on_day}");
    let next_day = kubeward_server::app::views::day_text(day.next_day().unwrap());
    let after = page(
        &callers.server,
        &format!("/clusters/prod/objects/Deployment/shop/cart?at={next_day}"),
    )
    .await;
    assert!(!after.contains("waived by"), "{after}");

    // The expiry goes to the feed once per object it waived, and to the webhooks.
    assert_eq!(
        kubeward_server::app::governance::sweep_expiries(&pool)
            .await
            .unwrap(),
        1
    );
    let expired: Vec<(String, String)> = sqlx::query_as(
        "SELECT o.name, e.kind FROM finding_events e JOIN findings f ON f.id = e.finding_id
         JOIN objects o ON o.id = f.object_id WHERE e.exception_id = $1 ORDER BY e.id",
    )
    .bind(id)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        expired,
        [
            ("cart".to_owned(), "waived".to_owned()),
            ("web-2".to_owned(), "waived".to_owned()),
            ("cart".to_owned(), "waiver_expired".to_owned()),
            ("web-2".to_owned(), "waiver_expired".to_owned()),
        ]
    );

    // A revoked exception on objects says so for each object it covered.
    let second = waive(
        &callers,
        json!({"check": "5.1.1", "cluster": "prod", "namespace": "_"}),
    )
    .await;
    let revoked = post(
        &callers.server,
        &callers.bob,
        &format!("/api/v1/exceptions/{second}/revoke"),
        json!({"note": "the binding must go"}),
    )
    .await;
    assert_eq!(revoked.status(), 200);
    let kinds: Vec<(String, String)> = sqlx::query_as(
        "SELECT o.name, e.kind FROM finding_events e JOIN findings f ON f.id = e.finding_id
         JOIN objects o ON o.id = f.object_id WHERE e.exception_id = $1 ORDER BY e.id",
    )
    .bind(second)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        kinds,
        [
            ("ops-admin".to_owned(), "waived".to_owned()),
            ("ops-admin".to_owned(), "waiver_revoked".to_owned()),
        ]
    );
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn object_scopes_are_refused_by_field_when_wrong_for_the_check_or_hostile_and_store_nothing(
    pool: PgPool,
) {
    let callers = callers(&pool).await;
    deliver(&callers, &shop_scan(at(0))).await;
    let until = day_after_tomorrow();
    let base = |extra: Value| {
        let mut body = json!({"justification": "x", "expires_on": until});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let cases = [
        // Scopes that do not fit the check's subject.
        (json!({"check": "5.2.2", "nodes": "cp-*"}), "nodes"),
        (json!({"group": "cis-1.12/5.2", "nodes": "cp-*"}), "nodes"),
        (json!({"check": "1.2.15", "namespace": "shop"}), "namespace"),
        (json!({"check": "1.2.15", "kind": "Deployment"}), "kind"),
        (json!({"check": "1.2.15", "object": "cart"}), "object"),
        // A check and a group, or neither; groups that do not exist.
        (json!({"check": "5.2.2", "group": "cis-1.12/5.2"}), "group"),
        (json!({}), "check"),
        (json!({"group": "cis-1.12/9.9"}), "group"),
        (json!({"group": "cis-1.12"}), "group"),
        (json!({"group": "<script>alert(1)</script>/5"}), "group"),
        (json!({"group": 5}), "group"),
        // Kinds the checks never read, and wrong types.
        (json!({"check": "5.2.2", "kind": "Deploymentz"}), "kind"),
        (json!({"check": "5.2.2", "kind": "deployment"}), "kind"),
        (json!({"check": "5.2.2", "kind": ["Deployment"]}), "kind"),
        // Namespaces and names Kubernetes would never accept, SQL and LIKE wildcards among them.
        (json!({"check": "5.2.2", "namespace": "Shop"}), "namespace"),
        (
            json!({"check": "5.2.2", "namespace": "a".repeat(64)}),
            "namespace",
        ),
        (
            json!({"check": "5.2.2", "namespace": "shop'; DROP TABLE exceptions;--"}),
            "namespace",
        ),
        (json!({"check": "5.2.2", "namespace": "%"}), "namespace"),
        (json!({"check": "5.2.2", "object": "web%"}), "object"),
        (json!({"check": "5.2.2", "object": "<script>"}), "object"),
        (
            json!({"check": "5.2.2", "object": "x".repeat(254)}),
            "object",
        ),
        (json!({"check": "5.2.2", "object": 12345}), "object"),
        (json!({"check": "5.2.2", "cluster": "nope"}), "cluster"),
    ];
    for (extra, field) in cases {
        let body = base(extra);
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
                .starts_with(field),
            "{body}: {problem}"
        );
    }
    assert_eq!(count(&pool, "exceptions").await, 0);
    assert_eq!(count(&pool, "audit_log").await, 0);
    assert_eq!(count(&pool, "finding_events").await, 6, "only the openings");
}

/// A report where 5.2.2 passes but for a platform-owned object (the agent leaves those out of its status).
fn platform_scan(finished_at: OffsetDateTime) -> ClusterReport {
    let mut report = cluster_report(
        finished_at,
        &[(
            "5.2.2",
            Status::Pass,
            &[("DaemonSet", "kube-system", "kube-proxy", Status::Fail)],
        )],
    );
    let check = report
        .results
        .iter_mut()
        .find(|result| result.check == "5.2.2")
        .unwrap();
    check.objects[0].platform = Some(PlatformMark {
        list: "kubeadm".into(),
        version: "3".into(),
        reason: "kube-proxy needs a privileged container on every node".into(),
    });
    report
}

async fn put_bucket(server: &TestServer, token: String, body: Value) -> reqwest::Response {
    send(
        server,
        &token,
        reqwest::Method::PUT,
        "/api/v1/clusters/prod/platform-bucket",
        Some(body),
    )
    .await
}

fn policy_score(page: &str) -> String {
    page.split("Policy score <strong>")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned()
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn an_admin_turns_the_platform_bucket_off_audited_and_past_days_keep_their_setting(
    pool: PgPool,
) {
    let callers = callers(&pool).await;
    let yesterday = OffsetDateTime::now_utc() - time::Duration::days(1);
    deliver(&callers, &platform_scan(yesterday)).await;
    let put = |token: String, body: Value| put_bucket(&callers.server, token, body);

    let cluster_on = page(&callers.server, "/clusters/prod").await;
    assert!(
        cluster_on.contains("shown apart") && cluster_on.contains("kubeadm 3"),
        "{cluster_on}"
    );
    let row_on = cluster_on
        .split("<tr>")
        .find(|row| row.contains(">5.2.2</a>"))
        .unwrap()
        .to_owned();
    assert!(row_on.contains(r#"<span class="status pass">"#), "{row_on}");
    let fleet_on = page(&callers.server, "/").await;

    // Only an admin may, with a reason; the body is checked by field.
    for token in [&callers.viewer, &callers.auditor] {
        let refused = put(
            token.clone(),
            json!({"enabled": false, "reason": "count them"}),
        )
        .await;
        assert_eq!(refused.status(), 403);
    }
    for (body, field) in [
        (json!({"enabled": false, "reason": " "}), "reason"),
        (json!({"enabled": "no", "reason": "x"}), "enabled"),
        // serde names a missing field in the detail, the body as the field.
        (json!({"enabled": false}), "(body)"),
        (
            json!({"enabled": false, "reason": "x", "cluster": "other"}),
            "",
        ),
        (
            json!({"enabled": false, "reason": "x".repeat(4001)}),
            "reason",
        ),
    ] {
        let response = put(callers.alice.clone(), body.clone()).await;
        assert_eq!(response.status(), 400, "{body}");
        let problem = problem(response).await;
        assert!(
            problem["field"]
                .as_str()
                .unwrap_or_default()
                .starts_with(field),
            "{body}: {problem}"
        );
    }
    let missing = send(
        &callers.server,
        &callers.alice,
        reqwest::Method::PUT,
        "/api/v1/clusters/nope/platform-bucket",
        Some(json!({"enabled": false, "reason": "x"})),
    )
    .await;
    assert_eq!(missing.status(), 404);
    assert_eq!(count(&pool, "platform_bucket_changes").await, 0);
    assert_eq!(count(&pool, "audit_log").await, 0);

    let turned_off = put(
        callers.alice.clone(),
        json!({"enabled": false, "reason": "<b>we</b> own kube-proxy's settings"}),
    )
    .await;
    assert_eq!(turned_off.status(), 204);
    let audited: Vec<(String, Value)> =
        sqlx::query_as("SELECT action, detail::jsonb FROM audit_log ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].0, "cluster.platform_bucket");
    assert_eq!(audited[0].1["enabled"], false);

    // Today the platform-owned failure counts: the check fails, the score drops, the page says who and why.
    let cluster_off = page(&callers.server, "/clusters/prod").await;
    assert!(
        cluster_off.contains("counted like any other object"),
        "{cluster_off}"
    );
    assert!(
        cluster_off.contains("&#60;b&#62;we&#60;/b&#62; own kube-proxy")
            && !cluster_off.contains("<b>we"),
        "the reason is shown, escaped: {cluster_off}"
    );
    let row_off = cluster_off
        .split("<tr>")
        .find(|row| row.contains(">5.2.2</a>"))
        .unwrap();
    assert!(
        row_off.contains(r#"<span class="status fail">"#),
        "{row_off}"
    );
    assert_ne!(policy_score(&cluster_on), policy_score(&cluster_off));
    let fleet_off = page(&callers.server, "/").await;
    assert_ne!(
        policy_score(&fleet_on),
        policy_score(&fleet_off),
        "the fleet's policy score follows"
    );

    // Yesterday the bucket was on, and the view of that day keeps it.
    let day = kubeward_server::app::views::day_text(yesterday.date());
    let past = page(&callers.server, &format!("/clusters/prod?at={day}")).await;
    assert!(past.contains("shown apart"), "{past}");
    assert_eq!(policy_score(&past), policy_score(&cluster_on));
    let fleet_past = page(&callers.server, &format!("/?at={day}")).await;
    assert_eq!(policy_score(&fleet_past), policy_score(&fleet_on));

    // Turned on again, it is back as it was.
    assert_eq!(
        put(
            callers.alice.clone(),
            json!({"enabled": true, "reason": "back to the default"})
        )
        .await
        .status(),
        204
    );
    let cluster_again = page(&callers.server, "/clusters/prod").await;
    assert_eq!(policy_score(&cluster_again), policy_score(&cluster_on));
    assert_eq!(count(&pool, "audit_log").await, 2);
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn an_attestation_of_a_manual_section_5_check_keeps_the_evidence_the_auditor_attested(
    pool: PgPool,
) {
    let callers = callers(&pool).await;
    let first = shop_scan(at(0));
    deliver(&callers, &first).await;
    // A later scan where the check's list changed: the attestation keeps what it was recorded against.
    let until = day_after_tomorrow();
    let attest = |body: Value| {
        post(
            &callers.server,
            &callers.auditor,
            "/api/v1/attestations",
            body,
        )
    };
    let response = attest(
        json!({"check": "5.2.2", "cluster": "prod", "verdict": "fail",
        "statement": "privileged workloads in shop are tracked in OPS-12", "valid_until": until}),
    )
    .await;
    let status = response.status();
    let created: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(
        created["evidence_scan_id"],
        first.scan_id.to_string(),
        "{created}"
    );
    assert_eq!(created["evidence"]["status"], "warn");
    assert_eq!(created["evidence"]["listed"], 4);
    let objects = created["evidence"]["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 4);
    assert!(
        objects
            .iter()
            .any(|object| object["namespace"] == "shop" && object["name"] == "cart"),
        "{objects:?}"
    );

    deliver(
        &callers,
        &cluster_report(at(1), &[("5.2.2", Status::Warn, &[SHOP_CART])]),
    )
    .await;
    let read = get(
        &callers.server,
        &callers.viewer,
        &format!("/api/v1/attestations/{id}"),
    )
    .await;
    assert_eq!(read["evidence_scan_id"], first.scan_id.to_string());
    assert_eq!(read["evidence"]["listed"], 4);
    let shown = page(&callers.server, &format!("/attestations/{id}")).await;
    assert!(shown.contains("What was attested"), "{shown}");
    assert!(shown.contains(&first.scan_id.to_string()));
    assert!(shown.contains("shop-staging/web-2"), "{shown}");
    let cluster = page(&callers.server, "/clusters/prod").await;
    let row = cluster
        .split("<tr>")
        .find(|row| row.contains(">5.2.2</a>"))
        .unwrap();
    assert!(
        row.contains(&format!("/attestations/{id}\"")),
        "the cluster page links the attestation: {row}"
    );

    // Refused by field: no cluster, an automated check, a cluster with no scan, a node scope.
    let (_, _) = callers.server.enroll("empty").await;
    for (body, field) in [
        (
            json!({"check": "5.2.2", "verdict": "pass", "statement": "x", "valid_until": until}),
            "cluster",
        ),
        (
            json!({"check": "KW-NONROOT", "cluster": "prod", "verdict": "pass", "statement": "x", "valid_until": until}),
            "check",
        ),
        (
            json!({"check": "5.2.2", "cluster": "empty", "verdict": "pass", "statement": "x", "valid_until": until}),
            "check",
        ),
        (
            json!({"check": "5.2.2", "cluster": "prod", "nodes": "cp-*", "verdict": "pass", "statement": "x", "valid_until": until}),
            "nodes",
        ),
    ] {
        let response = attest(body.clone()).await;
        assert_eq!(response.status(), 400, "{body}");
        let problem = problem(response).await;
        assert!(
            problem["field"]
                .as_str()
                .unwrap_or_default()
                .starts_with(field),
            "{body}: {problem}"
        );
    }
    assert_eq!(count(&pool, "attestations").await, 1);
}
