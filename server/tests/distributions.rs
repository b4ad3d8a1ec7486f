//! Nodes judged by their distribution's benchmark: the server stores each scan's benchmark, names node
//! checks by their stable keys, and keeps a node's findings, waivers and history when the node moves from
//! one benchmark to another.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop loudly at the first unexpected error"
)]

mod common;

use common::{
    TestServer, api_token, at, events_of, findings_of, get_json, post_json, report, report_against,
};
use kubeward_benchmark::{Catalog, Status};
use kubeward_server::domain::role::Role;
use serde_json::json;
use sqlx::PgPool;

fn eks() -> Catalog {
    Catalog::builtin("eks-1.8.0").unwrap()
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn a_node_that_moves_to_its_distributions_benchmark_keeps_its_findings_and_waivers(
    pool: PgPool,
) {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("prod").await;
    let (_, alice) = api_token(&pool, Role::Admin, None).await;
    let (_, bob) = api_token(&pool, Role::Admin, None).await;
    // Judged by the generic benchmark first (an agent that guessed, or an older agent): the kubelet allows
    // anonymous requests and its kubeconfig is 644.
    let generic = report(
        "ip-10-0-1-5",
        at(0),
        &[("4.2.1", Status::Fail), ("4.1.5", Status::Fail)],
    );
    assert_eq!(server.post(&agent, &generic).await.status(), 201);
    // The failure on the key 4.2.1 is waived.
    let requested = post_json(
        &server,
        &alice,
        "/api/v1/exceptions",
        json!({"check": "4.2.1", "cluster": "prod", "nodes": "ip-*",
               "justification": "the vendor's probe needs it until the next release",
               "expires_on": kubeward_server::app::views::day_text(
                   time::OffsetDateTime::now_utc().date() + time::Duration::days(30))}),
    )
    .await;
    assert_eq!(requested.status(), 201);
    let exception: serde_json::Value = requested.json().await.unwrap();
    let exception_id = exception["id"].as_i64().unwrap();
    let approve = format!("/api/v1/exceptions/{exception_id}/approve");
    assert_eq!(
        post_json(&server, &bob, &approve, json!({})).await.status(),
        200
    );

    // Then by EKS's: its 3.2.1 is the same check (key 4.2.1), still failing; its 3.1.1 (key 4.1.5) allows
    // 644 and passes.
    let moved = report_against(&eks(), "ip-10-0-1-5", at(1), &[("3.2.1", Status::Fail)]);
    assert_eq!(server.post(&agent, &moved).await.status(), 201);

    let findings = findings_of(&pool, "prod", "ip-10-0-1-5").await;
    let states: Vec<(&str, &str)> = findings
        .iter()
        .map(|(check, state, ..)| (check.as_str(), state.as_str()))
        .collect();
    assert_eq!(states, [("4.1.5", "resolved"), ("4.2.1", "open")]);
    // The anonymous-auth finding is the one opened at hour 0 (and waived), never resolved and reopened by
    // the move.
    let anonymous = findings.iter().find(|row| row.0 == "4.2.1").unwrap();
    assert_eq!((anonymous.2, anonymous.3, anonymous.4), (at(0), at(0), 0));
    let events: Vec<(String, String)> = events_of(&pool, "prod", "ip-10-0-1-5")
        .await
        .into_iter()
        .map(|(_, check, kind, _)| (check, kind))
        .collect();
    assert_eq!(
        events,
        [
            ("4.1.5".to_owned(), "opened".to_owned()),
            ("4.2.1".to_owned(), "opened".to_owned()),
            ("4.2.1".to_owned(), "waived".to_owned()),
            ("4.1.5".to_owned(), "resolved".to_owned()),
        ]
    );

    // The API names the stable key, the benchmark that judged the latest result, and its own id; the
    // exception on the key still covers the finding.
    let (_, viewer) = api_token(&pool, Role::Viewer, None).await;
    let open = get_json(&server, &viewer, "/api/v1/findings?cluster=prod&state=open").await;
    let item = &open["items"][0];
    assert_eq!(item["check"], "4.2.1");
    assert_eq!(
        item["benchmark"],
        json!({"id": "cis-eks", "version": "1.8.0"})
    );
    assert_eq!(item["benchmark_check"], "3.2.1");
    assert_eq!(item["title"], "The kubelet refuses anonymous requests");
    assert_eq!(item["exception_id"], exception_id);

    // The scan's own results: stable keys, numbered and titled as EKS does.
    let scan = get_json(
        &server,
        &viewer,
        &format!("/api/v1/scans/{}", moved.scan_id),
    )
    .await;
    let anonymous = scan["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|result| result["check"] == "4.2.1")
        .unwrap();
    assert_eq!(anonymous["benchmark_check"], "3.2.1");
    assert_eq!(anonymous["section"], "3.2");
    assert_eq!(anonymous["status"], "fail");
    assert_eq!(
        scan["results"][0]["benchmark_check"], "2.1.1",
        "in EKS's own order"
    );
    assert_eq!(
        scan["results"].as_array().unwrap().len(),
        eks().checks.len()
    );

    // Fixed under EKS: the same finding resolves.
    let fixed = report_against(&eks(), "ip-10-0-1-5", at(2), &[]);
    assert_eq!(server.post(&agent, &fixed).await.status(), 201);
    let findings = findings_of(&pool, "prod", "ip-10-0-1-5").await;
    assert!(
        findings.iter().all(|row| row.1 == "resolved"),
        "{findings:?}"
    );
    assert_eq!(findings.len(), 2, "no second finding was opened for 3.2.1");
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn a_check_only_a_distribution_has_is_followed_under_its_own_key(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("aks-prod").await;
    let aks = Catalog::builtin("aks-1.8.0").unwrap();
    let failing = report_against(&aks, "aks-node-1", at(0), &[("3.1.4", Status::Fail)]);
    assert_eq!(server.post(&agent, &failing).await.status(), 201);
    let findings = findings_of(&pool, "aks-prod", "aks-node-1").await;
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].0, "aks/cloud-provider-config-owner");
    let (_, viewer) = api_token(&pool, Role::Viewer, None).await;
    let open = get_json(&server, &viewer, "/api/v1/findings?cluster=aks-prod").await;
    assert_eq!(open["items"][0]["benchmark_check"], "3.1.4");
    assert_eq!(
        open["items"][0]["title"],
        "The cloud provider configuration file (azure.json) is owned by root:root"
    );
    // A report that names a check its benchmark does not have is refused by name.
    let mut wrong = report_against(&aks, "aks-node-1", at(1), &[]);
    wrong.results[0].check = "4.2.1".to_owned();
    let response = server.post(&agent, &wrong).await;
    assert_eq!(response.status(), 400);
    let problem = common::problem(response).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("has no check \"4.2.1\""),
        "{problem}"
    );
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn pages_say_which_benchmark_judged_what_and_score_a_mixed_cluster_apart(pool: PgPool) {
    use kubeward_benchmark::report::{Platform, PlatformSignal};
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("mixed").await;
    let mut eks_node = report_against(&eks(), "ip-10-0-1-5", at(0), &[("3.2.6", Status::Fail)]);
    eks_node.node.platform = Some(Platform {
        distribution: "eks".to_owned(),
        variant: Some("al2023".to_owned()),
        choice: "auto".to_owned(),
        signals: vec![PlatformSignal {
            distribution: "eks".to_owned(),
            observed: "kubelet (pid 901) --config <script>alert(1)</script>".to_owned(),
        }],
        followed: vec!["/etc/kubernetes/kubelet/config.json".to_owned()],
        uncertain: Some(
            "benchmark choice uncertain: signals point at eks (3) and also at gke (1)".to_owned(),
        ),
    });
    assert_eq!(server.post(&agent, &eks_node).await.status(), 201);
    let generic = report("cp-1", at(0), &[("4.2.6", Status::Fail)]);
    assert_eq!(server.post(&agent, &generic).await.status(), 201);

    let node = common::page_text(&server, "/clusters/mixed/nodes/ip-10-0-1-5").await;
    assert!(
        node.contains("Judged by <strong>CIS Amazon EKS Benchmark v1.8.0</strong>"),
        "{node}"
    );
    assert!(node.contains("distribution eks (al2023), chosen by the agent from the node"));
    assert!(node.contains("signals point at eks (3) and also at gke (1)"));
    assert!(
        node.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
            && !node.contains("<script>alert(1)")
    );
    // EKS's own number, with the stable key it is followed by.
    assert!(
        node.contains("3.2.6 <span class=\"key\">(key <a href=\"/checks/4.2.6\">4.2.6</a>)</span>"),
        "{node}"
    );

    let cluster = common::page_text(&server, "/clusters/mixed").await;
    assert!(cluster.contains("judged by 2 benchmarks"), "{cluster}");
    for title in [
        "CIS Amazon EKS Benchmark v1.8.0",
        "CIS Kubernetes Benchmark v1.12",
    ] {
        assert!(cluster.contains(title), "{title}");
    }
    // Both nodes fail the same kubelet check (4.2.6): one section row counts both.
    assert!(cluster.contains("<td>4.2</td>"), "{cluster}");

    let fleet = common::page_text(&server, "/").await;
    assert!(
        fleet.contains("The nodes are judged by 2 benchmarks"),
        "{fleet}"
    );
    assert!(
        fleet.contains("CIS Amazon EKS Benchmark v1.8.0 on 1 nodes"),
        "{fleet}"
    );
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn the_cluster_page_sets_the_nodes_reporting_against_the_nodes_the_cluster_agent_counted(
    pool: PgPool,
) {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("partial").await;
    let now = time::OffsetDateTime::now_utc();
    for node in ["n-1", "n-2", "n-3"] {
        let status = server
            .post(&agent, &report(node, now - time::Duration::minutes(5), &[]))
            .await
            .status();
        assert_eq!(status, 201);
    }
    // Before any cluster scan, coverage is not known and not claimed.
    let page = common::page_text(&server, "/clusters/partial").await;
    assert!(!page.contains("Coverage:"), "{page}");

    let mut scan = common::cluster_report(now - time::Duration::minutes(1), &[]);
    scan.cluster.nodes = Some(5);
    assert_eq!(server.post_cluster(&agent, &scan).await.status(), 201);
    let page = common::page_text(&server, "/clusters/partial").await;
    assert!(
        page.contains("Coverage: 3 of the 5 nodes the cluster agent counted"),
        "{page}"
    );
    assert!(page.contains("the score says nothing of the nodes that do not"));

    // A newer scan by an agent that may not list nodes: coverage is unknown again, not the old count.
    let mut unknown = common::cluster_report(now, &[]);
    unknown.cluster.nodes = None;
    assert_eq!(server.post_cluster(&agent, &unknown).await.status(), 201);
    let page = common::page_text(&server, "/clusters/partial").await;
    assert!(!page.contains("Coverage:"), "{page}");

    // An impossible count is refused by name and stores nothing.
    let before = common::count(&pool, "cluster_scans").await;
    let mut wrong = common::cluster_report(now, &[]);
    wrong.cluster.nodes = Some(2_000_000);
    let response = server.post_cluster(&agent, &wrong).await;
    assert_eq!(response.status(), 400);
    assert!(
        common::problem(response).await["detail"]
            .as_str()
            .unwrap()
            .contains("cluster.nodes")
    );
    assert_eq!(common::count(&pool, "cluster_scans").await, before);
}
