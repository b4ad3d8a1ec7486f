//! The cluster context for CI: a live cluster's report carries its namespaces, network policies, service
//! accounts, roles and bindings; the server stores each distinct context once and serves the newest (or the
//! one of a past moment) to auditors' tokens at `GET /api/v1/clusters/{name}/context`.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop loudly at the first unexpected error"
)]

mod common;

use common::{TestServer, api_token, at, cluster_report, count, problem, report};
use kubeward_benchmark::Status;
use kubeward_benchmark::cluster_report::{ClusterReport, Source};
use kubeward_benchmark::policy::context::ClusterContext;
use kubeward_benchmark::report::PodSecurityDefaults;
use kubeward_server::domain::role::Role;
use serde_json::{Value, json};
use sqlx::PgPool;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn with_context(finished_at: OffsetDateTime, objects: Vec<Value>) -> ClusterReport {
    let mut scan = cluster_report(finished_at, &[]);
    scan.context = Some(ClusterContext { objects });
    scan
}

fn shop(level: &str) -> Vec<Value> {
    vec![
        json!({"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": "shop", "labels": {"pod-security.kubernetes.io/enforce": level,
                                                        "team": "<script>alert(1)</script>"}}}),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
               "metadata": {"name": "deny", "namespace": "shop"},
               "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": {"name": "web", "namespace": "shop"}, "automountServiceAccountToken": false}),
    ]
}

async fn context(server: &TestServer, token: &str, query: &str) -> reqwest::Response {
    server
        .client
        .get(server.url(&format!("/api/v1/clusters/prod/context{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn the_newest_context_is_served_to_auditors_and_each_distinct_one_is_stored_once(
    pool: PgPool,
) {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("prod").await;
    let (_, auditor) = api_token(&pool, Role::Auditor, None).await;
    let (_, viewer) = api_token(&pool, Role::Viewer, None).await;

    // Nothing sent yet: a 404 that says why.
    let none = context(&server, &auditor, "").await;
    assert_eq!(none.status(), 404);
    assert!(
        problem(none).await["detail"]
            .as_str()
            .unwrap()
            .contains("sent none")
    );

    let first = with_context(at(0), shop("baseline"));
    assert_eq!(server.post_cluster(&agent, &first).await.status(), 201);
    // The same context again, in a later scan: one stored context, one reference per scan.
    assert_eq!(
        server
            .post_cluster(&agent, &with_context(at(1), shop("baseline")))
            .await
            .status(),
        201
    );
    assert_eq!(count(&pool, "cluster_contexts").await, 1);
    // A report without one (the run's second catalog) leaves the newest in place.
    assert_eq!(
        server
            .post_cluster(&agent, &cluster_report(at(2), &[]))
            .await
            .status(),
        201
    );
    let served = context(&server, &auditor, "").await;
    assert_eq!(served.status(), 200);
    let body: Value = served.json().await.unwrap();
    assert_eq!(body["cluster"], "prod");
    assert_eq!(body["object_count"], 3);
    let objects = body["context"]["objects"].as_array().unwrap();
    assert_eq!(
        objects[0]["metadata"]["labels"]["team"], "<script>alert(1)</script>",
        "labels are data, returned as sent"
    );

    // The namespace moves to restricted later; a moment before that still reads baseline.
    assert_eq!(
        server
            .post_cluster(&agent, &with_context(at(5), shop("restricted")))
            .await
            .status(),
        201
    );
    assert_eq!(count(&pool, "cluster_contexts").await, 2);
    let level = |body: &Value| {
        body["context"]["objects"][0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
            .clone()
    };
    let now: Value = context(&server, &auditor, "").await.json().await.unwrap();
    assert_eq!(level(&now), "restricted");
    let then: Value = context(
        &server,
        &auditor,
        &format!(
            "?at={}",
            (at(3).format(&Rfc3339).unwrap()).replace('+', "%2B")
        ),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(level(&then), "baseline");
    assert_ne!(
        then["scan_id"],
        Value::from(first.scan_id.to_string()),
        "the newest by then: the scan of hour 1, which carried the same context"
    );

    // No node has reported: the facts no manifest holds are not served, and CI leaves those checks open.
    assert_eq!(now["node_facts"], json!([]));
    // A control-plane node reports at hour 3: its API server's default Pod Security level and its node checks
    // are served beside the objects, for CI to decide as the server does.
    let mut control_plane = report("cp-1", at(3), &[("1.2.27", Status::Fail)]);
    control_plane.node.pod_security_defaults = Some(PodSecurityDefaults {
        enforce: "baseline".to_owned(),
        source: "/etc/kubernetes/admission/<script>.yaml".to_owned(),
    });
    assert_eq!(server.post(&agent, &control_plane).await.status(), 201);
    let as_of = |hours: i64| {
        format!(
            "?at={}",
            (at(hours).format(&Rfc3339).unwrap()).replace('+', "%2B")
        )
    };
    let after: Value = context(&server, &auditor, &as_of(4))
        .await
        .json()
        .await
        .unwrap();
    let facts = after["node_facts"].as_array().unwrap();
    assert!(
        facts.contains(&json!({"node": "cp-1", "control_plane": true,
            "check": "default Pod Security level", "status": "baseline",
            "observed": "/etc/kubernetes/admission/<script>.yaml"})),
        "{facts:?}"
    );
    assert!(
        facts
            .iter()
            .any(|fact| fact["check"] == "1.2.27" && fact["status"] == "fail"),
        "{facts:?}"
    );
    // As of hour 2 the node had not reported yet, and today it has been silent for more than a week: it
    // speaks for neither moment.
    let before: Value = context(&server, &auditor, &as_of(2))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(before["node_facts"], json!([]));
    let today: Value = context(&server, &auditor, "").await.json().await.unwrap();
    assert_eq!(today["node_facts"], json!([]));

    // Who may read it.
    assert_eq!(context(&server, &viewer, "").await.status(), 403);
    assert_eq!(context(&server, &agent, "").await.status(), 403);
    assert_eq!(context(&server, "kwt_nothing", "").await.status(), 401);
    let unknown = server
        .client
        .get(server.url("/api/v1/clusters/nope/context"))
        .bearer_auth(&auditor)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        context(&server, &auditor, "?at=yesterday").await.status(),
        400
    );
    assert_eq!(context(&server, &auditor, "?since=1").await.status(), 400);
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn a_context_with_what_it_must_not_hold_is_refused_naming_the_field(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("prod").await;
    let cases: Vec<(ClusterReport, &str)> = vec![
        // A Secret (its data) never travels in a context.
        (
            with_context(
                at(0),
                vec![
                    json!({"kind": "Secret", "metadata": {"name": "db", "namespace": "shop"},
                            "data": {"password": "aHVudGVyMg=="}}),
                ],
            ),
            "context.objects[0]",
        ),
        (
            with_context(at(0), vec![json!({"kind": "Namespace", "metadata": {}})]),
            "context.objects[0]",
        ),
        (
            with_context(at(0), vec![json!(["not", "an", "object"])]),
            "context.objects[0]",
        ),
        (
            with_context(
                at(0),
                vec![json!({"kind": "Namespace", "metadata": {"name": "a"}}); 100_001],
            ),
            "context.objects",
        ),
        (
            {
                let mut manifests = with_context(at(0), shop("baseline"));
                manifests.source = Source::Manifests;
                manifests
            },
            "context",
        ),
    ];
    for (report, field) in cases {
        let response = server.post_cluster(&agent, &report).await;
        assert_eq!(response.status(), 400, "{field}");
        let problem = problem(response).await;
        assert!(
            problem["field"]
                .as_str()
                .unwrap_or_default()
                .starts_with(field),
            "{field}: {problem}"
        );
    }
    assert_eq!(count(&pool, "cluster_contexts").await, 0);
    assert_eq!(count(&pool, "cluster_scans").await, 0);
}
