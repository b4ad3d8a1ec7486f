//! Cluster checks decided by both layers: the results a cluster agent leaves `manual` for want of a node fact
//! (Secrets encrypted at rest; a pod without a seccomp profile on kubelets with or without `seccompDefault`)
//! are decided by the server from the node agents' reports of the same cluster, stored with the scan, shown
//! with the nodes' evidence, and turned into findings on the objects when the nodes break the fact.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop loudly at the first unexpected error"
)]

mod common;

use common::page_text as page;
use common::{Listed, TestServer, api_token, at, cluster_report, report};
use kubeward_benchmark::Status;
use kubeward_benchmark::cluster_report::{ClusterCheckResult, ClusterReport};
use kubeward_benchmark::policy::catalog::PolicyCatalog;
use kubeward_benchmark::report::{BenchmarkRef, NodeRole};
use kubeward_server::domain::role::Role;
use serde_json::Value;
use sqlx::PgPool;
use time::OffsetDateTime;

/// A node report: every check passes except those given; `control_plane` decides its roles.
async fn node(
    server: &TestServer,
    agent: &str,
    name: &str,
    control_plane: bool,
    finished_at: OffsetDateTime,
    statuses: &[(&str, Status)],
) {
    let mut scan = report(name, finished_at, statuses);
    if !control_plane {
        scan.node.roles = vec![NodeRole::Worker];
    }
    assert_eq!(server.post(agent, &scan).await.status(), 201);
}

/// A `kubeward-hardening` cluster report as the agent writes it: every check passes but secrets encryption,
/// which the API cannot show and the agent leaves `manual`.
fn hardening_scan(finished_at: OffsetDateTime) -> ClusterReport {
    let catalog = PolicyCatalog::builtin("kubeward-hardening").unwrap();
    let mut scan = cluster_report(finished_at, &[]);
    scan.benchmark = BenchmarkRef {
        id: catalog.benchmark.id.clone(),
        version: catalog.benchmark.version.clone(),
    };
    scan.results = catalog
        .checks
        .iter()
        .map(|check| {
            let manual = check.id == "KW-SECRETS-ENCRYPTION";
            ClusterCheckResult {
                check: check.id.clone(),
                status: if manual { Status::Manual } else { Status::Pass },
                evaluated: if manual { 0 } else { 10 },
                objects: Vec::new(),
                detail: manual
                    .then(|| "no automatable test: a person judges this check".to_owned()),
            }
        })
        .collect();
    scan
}

/// `(status, detail)` of a check in a cluster's newest stored scan of its benchmark.
async fn stored(pool: &PgPool, cluster: &str, check: &str) -> (String, Option<String>) {
    sqlx::query_as(
        "SELECT c.status, c.detail FROM cluster_scans s JOIN clusters k ON k.id = s.cluster_id
         JOIN cluster_result_sets rs ON rs.id = s.result_set_id
         JOIN cluster_check_results c ON c.id = (rs.result_map ->> $2)::bigint
         WHERE k.name = $1 ORDER BY s.finished_at DESC LIMIT 1",
    )
    .bind(cluster)
    .bind(check)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn deliver(server: &TestServer, agent: &str, scan: &ClusterReport) {
    let response = server.post_cluster(agent, scan).await;
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, 201, "{body}");
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn secrets_encryption_is_decided_by_the_control_plane_nodes_and_missing_without_them(
    pool: PgPool,
) {
    let server = TestServer::start(pool.clone()).await;
    let (_, prod) = server.enroll("prod").await;

    // Both control-plane nodes encrypt; a worker's results do not speak for the API server.
    node(&server, &prod, "cp-1", true, at(0), &[]).await;
    node(&server, &prod, "cp-2", true, at(0), &[]).await;
    node(
        &server,
        &prod,
        "w-1",
        false,
        at(0),
        &[("1.2.27", Status::NotApplicable)],
    )
    .await;
    deliver(&server, &prod, &hardening_scan(at(1))).await;
    let (status, detail) = stored(&pool, "prod", "KW-SECRETS-ENCRYPTION").await;
    assert_eq!(status, "pass");
    let detail = detail.unwrap();
    assert!(
        detail.starts_with("decided by the nodes") && detail.contains("cp-1, cp-2"),
        "{detail}"
    );
    assert!(!detail.contains("w-1"));

    // One control-plane node loses its strong provider: the check warns (it is advisory) naming the node.
    node(
        &server,
        &prod,
        "cp-2",
        true,
        at(2),
        &[("1.2.28", Status::Warn)],
    )
    .await;
    let later = hardening_scan(at(3));
    deliver(&server, &prod, &later).await;
    let (status, detail) = stored(&pool, "prod", "KW-SECRETS-ENCRYPTION").await;
    assert_eq!(status, "warn");
    assert!(
        detail
            .as_deref()
            .unwrap()
            .contains("cp-2: CIS 1.2.28 warn (observed warn)"),
        "{detail:?}"
    );
    let cluster = page(&server, "/clusters/prod").await;
    let row = cluster
        .split("<tr>")
        .find(|row| row.contains(">KW-SECRETS-ENCRYPTION</a>"))
        .unwrap();
    assert!(
        row.contains(r#"<span class="status warn">"#) && row.contains("cp-2: CIS 1.2.28 warn"),
        "the page shows the node evidence beside the check: {row}"
    );

    // The agent re-sending the same scan after the nodes changed is a re-delivery, not a conflict.
    node(&server, &prod, "cp-2", true, at(4), &[]).await;
    let again = server.post_cluster(&prod, &later).await;
    assert_eq!(again.status(), 200);

    // A managed cluster: only workers report, so the fact is missing and the check stays manual, saying so.
    let (_, managed) = server.enroll("managed").await;
    node(&server, &managed, "w-1", false, at(0), &[]).await;
    deliver(&server, &managed, &hardening_scan(at(1))).await;
    let (status, detail) = stored(&pool, "managed", "KW-SECRETS-ENCRYPTION").await;
    assert_eq!(status, "manual");
    assert!(
        detail
            .as_deref()
            .unwrap()
            .contains("no control-plane node of this cluster"),
        "{detail:?}"
    );

    // A control-plane node silent for more than a week no longer speaks for the cluster.
    let (_, quiet) = server.enroll("quiet").await;
    node(&server, &quiet, "cp-1", true, at(0), &[]).await;
    deliver(&server, &quiet, &hardening_scan(at(24 * 8))).await;
    assert_eq!(
        stored(&pool, "quiet", "KW-SECRETS-ENCRYPTION").await.0,
        "manual"
    );

    // A control-plane node whose API server check was not applicable decides nothing either.
    let (_, k3s) = server.enroll("k3s").await;
    node(
        &server,
        &k3s,
        "server-1",
        true,
        at(0),
        &[("1.2.27", Status::NotApplicable)],
    )
    .await;
    deliver(&server, &k3s, &hardening_scan(at(1))).await;
    let (status, detail) = stored(&pool, "k3s", "KW-SECRETS-ENCRYPTION").await;
    assert_eq!(status, "manual");
    assert!(
        detail
            .as_deref()
            .unwrap()
            .contains("server-1 reported its CIS 1.2.27 as not_applicable"),
        "{detail:?}"
    );
}

const CART: Listed = ("Deployment", "shop", "cart", Status::Manual);
const PLATFORM: Listed = ("DaemonSet", "kube-system", "kube-proxy", Status::Fail);

/// A CIS section 5 report where 5.6.2 left `cart` to the nodes (no seccomp profile) and lists a failing
/// object of its own.
fn seccomp_scan(finished_at: OffsetDateTime) -> ClusterReport {
    let mut scan = cluster_report(finished_at, &[("5.6.2", Status::Manual, &[CART])]);
    let result = scan
        .results
        .iter_mut()
        .find(|result| result.check == "5.6.2")
        .unwrap();
    result.objects[0].detail = Some(
        "no seccomp profile for app: the kubelets' seccompDefault (CIS 4.2.14) decides, a node fact"
            .into(),
    );
    scan
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn a_pod_without_a_seccomp_profile_is_decided_by_every_kubelet_and_fails_as_its_own_finding(
    pool: PgPool,
) {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("prod").await;
    let (_, viewer) = api_token(&pool, Role::Viewer, None).await;
    let findings = |server: &TestServer| {
        let request = server
            .client
            .get(server.url("/api/v1/findings?cluster=prod&check=5.6.2"))
            .bearer_auth(&viewer)
            .send();
        async move {
            let body: Value = request.await.unwrap().json().await.unwrap();
            body["items"].as_array().unwrap().clone()
        }
    };

    // Every kubelet applies RuntimeDefault: cart passes, and the list keeps only what does not pass.
    node(&server, &agent, "cp-1", true, at(0), &[]).await;
    node(&server, &agent, "w-1", false, at(0), &[]).await;
    deliver(&server, &agent, &seccomp_scan(at(1))).await;
    let (status, detail) = stored(&pool, "prod", "5.6.2").await;
    assert_eq!(status, "pass");
    assert!(
        detail
            .as_deref()
            .unwrap()
            .contains("1 object(s) left to the nodes pass")
            && detail.as_deref().unwrap().contains("cp-1, w-1"),
        "{detail:?}"
    );
    assert!(findings(&server).await.is_empty());

    // One kubelet turns seccompDefault off: cart may run unconfined there. Its finding opens with the nodes'
    // evidence beside its own.
    node(
        &server,
        &agent,
        "w-1",
        false,
        at(2),
        &[("4.2.14", Status::Warn)],
    )
    .await;
    deliver(&server, &agent, &seccomp_scan(at(3))).await;
    assert_eq!(stored(&pool, "prod", "5.6.2").await.0, "warn");
    let open = findings(&server).await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["state"], "open");
    assert_eq!(open[0]["object"]["name"], "cart");
    let evidence = open[0]["evidence"].as_array().unwrap();
    let nodes = evidence
        .iter()
        .find(|line| line["subject"] == "nodes it may run on")
        .unwrap();
    assert_eq!(nodes["observed"], "w-1: CIS 4.2.14 warn (observed warn)");
    let object = page(&server, "/clusters/prod/objects/Deployment/shop/cart").await;
    assert!(object.contains("w-1: CIS 4.2.14 warn"), "{object}");

    // A platform-owned object keeps the agent's verdict and its place apart.
    let mut with_platform = seccomp_scan(at(4));
    let result = with_platform
        .results
        .iter_mut()
        .find(|result| result.check == "5.6.2")
        .unwrap();
    let mut platform = common::object(PLATFORM.0, PLATFORM.1, PLATFORM.2, PLATFORM.3);
    platform.platform = Some(kubeward_benchmark::cluster_report::PlatformMark {
        list: "kubeadm".into(),
        version: "3".into(),
        reason: "kube-proxy".into(),
    });
    result.objects.push(platform);
    deliver(&server, &agent, &with_platform).await;
    assert_eq!(stored(&pool, "prod", "5.6.2").await.0, "warn");

    // The kubelet is fixed: the next scan resolves cart's finding.
    node(&server, &agent, "w-1", false, at(5), &[]).await;
    deliver(&server, &agent, &seccomp_scan(at(6))).await;
    let after = findings(&server).await;
    let cart = after
        .iter()
        .find(|finding| finding["object"]["name"] == "cart")
        .unwrap();
    assert_eq!(cart["state"], "resolved", "{after:?}");

    // As of the day of the failing scan, the finding was open: decisions are stored with their scans.
    let past = server
        .client
        .get(server.url(&format!(
            "/api/v1/findings?cluster=prod&check=5.6.2&at={}",
            (at(3) + time::Duration::minutes(1))
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap()
                .replace('+', "%2B")
        )))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let cart_then = past["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|finding| finding["object"]["name"] == "cart")
        .unwrap();
    assert_eq!(cart_then["state"], "open", "{past}");

    // No node reports at all: cart stays manual, and the detail names the missing fact.
    let (_, bare) = server.enroll("bare").await;
    deliver(&server, &bare, &seccomp_scan(at(1))).await;
    let (status, detail) = stored(&pool, "bare", "5.6.2").await;
    assert_eq!(status, "manual");
    assert!(
        detail
            .as_deref()
            .unwrap()
            .contains("no node of this cluster has reported its CIS 4.2.14"),
        "{detail:?}"
    );
}

/// A node report with the node's own facts: its runtime and, on an API server node, the Pod Security default.
async fn node_with(
    server: &TestServer,
    agent: &str,
    name: &str,
    finished_at: OffsetDateTime,
    runtime: Option<&str>,
    enforce: Option<&str>,
) {
    let mut scan = report(name, finished_at, &[]);
    if enforce.is_none() {
        scan.node.roles = vec![NodeRole::Worker];
    }
    scan.node.container_runtime = runtime.map(str::to_owned);
    scan.node.pod_security_defaults =
        enforce.map(|level| kubeward_benchmark::report::PodSecurityDefaults {
            enforce: level.to_owned(),
            source: "/etc/kubernetes/admission/pss.yaml".to_owned(),
        });
    let response = server.post(agent, &scan).await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
}

const SHOP: Listed = ("Namespace", "", "shop", Status::Manual);

/// 5.2.8 leaves `cart` to the runtime; 5.2.1 and 5.2.2 leave namespace shop to the API server's default.
fn runtime_and_defaults_scan(finished_at: OffsetDateTime) -> ClusterReport {
    let mut scan = cluster_report(
        finished_at,
        &[
            ("5.2.8", Status::Manual, &[CART]),
            ("5.2.1", Status::Manual, &[SHOP]),
            ("5.2.2", Status::Manual, &[SHOP]),
        ],
    );
    for result in &mut scan.results {
        for object in &mut result.objects {
            object.detail = Some(if object.kind == "Namespace" {
                "no pod-security.kubernetes.io/enforce label: the API server's admission configuration \
                 (--admission-control-config-file, a node fact) sets the default"
                    .into()
            } else {
                "app do not drop NET_RAW: the node's runtime decides (containerd grants it by default, CRI-O does not)"
                    .into()
            });
        }
    }
    scan
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn net_raw_follows_every_nodes_runtime_and_unlabelled_namespaces_the_api_servers_default(
    pool: PgPool,
) {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("prod").await;
    let object_status = |pool: PgPool, check: &'static str, name: &'static str| async move {
        sqlx::query_scalar::<_, String>(
            "SELECT r.status FROM cluster_scans s
             JOIN cluster_result_sets rs ON rs.id = s.result_set_id
             JOIN cluster_check_results c ON c.id = (rs.result_map ->> $1)::bigint
             CROSS JOIN LATERAL unnest(c.object_result_ids) u(id)
             JOIN object_results r ON r.id = u.id JOIN objects o ON o.id = r.object_id
             WHERE o.name = $2 ORDER BY s.finished_at DESC LIMIT 1",
        )
        .bind(check)
        .bind(name)
        .fetch_optional(&pool)
        .await
        .unwrap()
    };

    // A containerd node grants NET_RAW; the API server enforces nothing by default.
    node_with(
        &server,
        &agent,
        "cp-1",
        at(0),
        Some("containerd"),
        Some("privileged"),
    )
    .await;
    node_with(&server, &agent, "w-1", at(0), Some("cri-o"), None).await;
    deliver(&server, &agent, &runtime_and_defaults_scan(at(1))).await;
    assert_eq!(
        object_status(pool.clone(), "5.2.8", "cart")
            .await
            .as_deref(),
        Some("warn")
    );
    assert_eq!(
        object_status(pool.clone(), "5.2.1", "shop")
            .await
            .as_deref(),
        Some("warn")
    );
    assert_eq!(
        object_status(pool.clone(), "5.2.2", "shop")
            .await
            .as_deref(),
        Some("warn")
    );
    let (status, detail) = stored(&pool, "prod", "5.2.8").await;
    assert_eq!(status, "warn");
    assert!(detail.unwrap().contains("left to the nodes fail"));
    let evidence: Value = sqlx::query_scalar(
        "SELECT r.evidence FROM object_results r JOIN objects o ON o.id = r.object_id
         WHERE o.name = 'shop' AND r.status = 'warn' ORDER BY r.id DESC LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let last = evidence.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["subject"], "the API server's nodes");
    assert_eq!(
        last["observed"],
        "cp-1: default Pod Security level privileged (observed /etc/kubernetes/admission/pss.yaml)"
    );

    // Every node on CRI-O, and baseline by default: NET_RAW is not granted, and baseline forbids privileged
    // containers (5.2.2) and is an active control (5.2.1); namespace and workload pass.
    node_with(
        &server,
        &agent,
        "cp-1",
        at(2),
        Some("cri-o"),
        Some("baseline"),
    )
    .await;
    deliver(&server, &agent, &runtime_and_defaults_scan(at(3))).await;
    assert_eq!(stored(&pool, "prod", "5.2.8").await.0, "pass");
    assert_eq!(stored(&pool, "prod", "5.2.1").await.0, "pass");
    assert_eq!(stored(&pool, "prod", "5.2.2").await.0, "pass");

    // 5.2.8 asks restricted of a namespace's level: baseline by default does not forbid NET_RAW.
    let mut restricted_check = runtime_and_defaults_scan(at(4));
    let result = restricted_check
        .results
        .iter_mut()
        .find(|result| result.check == "5.2.8")
        .unwrap();
    result
        .objects
        .push(common::object("Namespace", "", "shop", Status::Manual));
    result.objects[1].detail = Some(
        "no pod-security.kubernetes.io/enforce label: the API server's admission configuration \
         (--admission-control-config-file, a node fact) sets the default"
            .into(),
    );
    deliver(&server, &agent, &restricted_check).await;
    assert_eq!(
        object_status(pool.clone(), "5.2.8", "shop")
            .await
            .as_deref(),
        Some("warn")
    );

    // A node that names no runtime leaves NET_RAW undecided: the object stays manual and the detail says why.
    node_with(&server, &agent, "w-2", at(5), None, None).await;
    deliver(&server, &agent, &runtime_and_defaults_scan(at(6))).await;
    assert_eq!(
        object_status(pool.clone(), "5.2.8", "cart")
            .await
            .as_deref(),
        Some("manual")
    );
    let (_, detail) = stored(&pool, "prod", "5.2.8").await;
    assert!(
        detail
            .unwrap()
            .contains("w-2 did not report its container runtime"),
        "the missing fact is named"
    );
}

/// `status` of a check in one cluster scan.
async fn stored_in(pool: &PgPool, scan_id: uuid::Uuid, check: &str) -> String {
    sqlx::query_scalar(
        "SELECT c.status FROM cluster_scans s
         JOIN cluster_result_sets rs ON rs.id = s.result_set_id
         JOIN cluster_check_results c ON c.id = (rs.result_map ->> $2)::bigint
         WHERE s.scan_id = $1",
    )
    .bind(scan_id)
    .bind(check)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// A cluster scan that arrives after its nodes changed is decided by the nodes as they were when it finished:
/// their runtime, their API server's default and their roles then, not now.
#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn a_late_cluster_scan_is_decided_by_the_nodes_as_they_were_when_it_finished(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("prod").await;
    // Hour 0: cp-1 on containerd (NET_RAW granted), privileged by default.
    node_with(
        &server,
        &agent,
        "cp-1",
        at(0),
        Some("containerd"),
        Some("privileged"),
    )
    .await;
    node_with(&server, &agent, "w-1", at(0), Some("cri-o"), None).await;
    // Hour 2: cp-1 moved to CRI-O and baseline.
    node_with(
        &server,
        &agent,
        "cp-1",
        at(2),
        Some("cri-o"),
        Some("baseline"),
    )
    .await;
    node_with(&server, &agent, "w-1", at(2), Some("cri-o"), None).await;

    let today = runtime_and_defaults_scan(at(3));
    deliver(&server, &agent, &today).await;
    assert_eq!(stored_in(&pool, today.scan_id, "5.2.8").await, "pass");
    assert_eq!(stored_in(&pool, today.scan_id, "5.2.2").await, "pass");

    // The scan of hour 1 arrives last: cp-1 was on containerd and privileged by default then.
    let late = runtime_and_defaults_scan(at(1));
    deliver(&server, &agent, &late).await;
    assert_eq!(stored_in(&pool, late.scan_id, "5.2.8").await, "warn");
    assert_eq!(stored_in(&pool, late.scan_id, "5.2.2").await, "warn");
    let evidence: Vec<Value> = sqlx::query_scalar(
        "SELECT r.evidence FROM cluster_scans s
         JOIN cluster_result_sets rs ON rs.id = s.result_set_id
         JOIN cluster_check_results c ON c.id = (rs.result_map ->> '5.2.2')::bigint
         CROSS JOIN LATERAL unnest(c.object_result_ids) u(id) JOIN object_results r ON r.id = u.id
         WHERE s.scan_id = $1",
    )
    .bind(late.scan_id)
    .fetch_all(&pool)
    .await
    .unwrap();
    let observed = evidence[0].as_array().unwrap().last().unwrap()["observed"].clone();
    assert_eq!(
        observed,
        "cp-1: default Pod Security level privileged (observed /etc/kubernetes/admission/pss.yaml)"
    );

    // What the CI context serves as of hour 1 says the same.
    let cluster_id: i64 = sqlx::query_scalar("SELECT id FROM clusters WHERE name = 'prod'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let facts = kubeward_server::app::ingest::cross_layer::facts_of_nodes(
        &mut conn,
        &[],
        cluster_id,
        at(1),
    )
    .await
    .unwrap();
    let context = serde_json::json!({ "node_facts": facts });
    let runtimes: Vec<(String, String)> = context["node_facts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|fact| fact["check"] == "container runtime")
        .map(|fact| {
            (
                fact["node"].as_str().unwrap().to_owned(),
                fact["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        runtimes,
        [
            ("cp-1".to_owned(), "containerd".to_owned()),
            ("w-1".to_owned(), "cri-o".to_owned())
        ]
    );
}
