//! `kubeward-agent cluster` against a loopback stub of the Kubernetes API, driven by the real kube client
//! through a kubeconfig: paged lists with continue tokens, a token that expires (410 Gone) mid-list, a kind
//! the role may not list (403), CRDs that are not installed (404), and objects as the API returns them.
#![allow(
    clippy::unwrap_used,
    reason = "a test should stop loudly at the first unexpected error"
)]

mod stub_api;
mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use kubeward_benchmark::Status;
use kubeward_benchmark::cluster_report::{ClusterReport, Source};
use serde_json::Value;
use stub_api::{Behaviour, kubeconfig, start};

use support::AGENT;

fn fixture_objects() -> BTreeMap<String, Vec<Value>> {
    serde_json::from_str(include_str!("fixtures/cluster/api-objects.json")).unwrap()
}

fn run_agent(config: &std::path::Path, extra: &[&str]) -> Output {
    Command::new(AGENT)
        .arg("cluster")
        .arg("--kubeconfig")
        .arg(config)
        .args(["--context", "stub", "--page-size", "2"])
        .args(extra)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap()
}

fn object_status(reports: &[ClusterReport], check: &str, name: &str) -> Option<Status> {
    reports
        .iter()
        .flat_map(|report| &report.results)
        .filter(|result| result.check == check)
        .flat_map(|result| &result.objects)
        .find(|object| object.name == name)
        .map(|object| object.status)
}

#[test]
fn a_live_scan_pages_through_every_list_restarts_on_410_and_names_what_it_may_not_list() {
    let behaviour = Behaviour {
        forbidden: vec!["/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"],
        expire_once: Some("/apis/apps/v1/deployments"),
        ..Behaviour::default()
    };
    let seen = behaviour.page_size_seen.clone();
    let stub = start(fixture_objects(), behaviour);
    let dir = tempfile::tempdir().unwrap();
    let config = kubeconfig(dir.path(), &stub.address);
    let output = run_agent(&config, &["--format", "json"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("may not list clusterrolebindings"),
        "{stderr}"
    );
    let reports: Vec<ClusterReport> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(reports.len(), 2);
    for report in &reports {
        assert_eq!(report.source, Source::Api);
        assert_eq!(
            report.cluster.kubernetes_version.as_deref(),
            Some("v1.33.2")
        );
        assert!(
            report
                .results
                .iter()
                .all(|result| result.objects.iter().all(|o| o.location.is_none()))
        );
    }
    let requests = stub.requests.lock().unwrap().clone();
    // Paged: three Deployments in pages of two; the expired token restarted the list from the start.
    let deployments: Vec<&String> = requests
        .iter()
        .filter(|r| r.starts_with("/apis/apps/v1/deployments"))
        .collect();
    assert_eq!(
        deployments,
        [
            "/apis/apps/v1/deployments?limit=2",
            "/apis/apps/v1/deployments?limit=2&continue=eyJ%2B%2F2%3D%3D",
            "/apis/apps/v1/deployments?limit=2",
            "/apis/apps/v1/deployments?limit=2&continue=eyJ%2B%2F2%3D%3D",
        ],
        "{requests:#?}"
    );
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .all(|entry| entry.ends_with("limit=2"))
    );
    assert!(
        requests.iter().all(|r| !r.contains("secrets")),
        "{requests:#?}"
    );
    // Every Deployment once (not twice after the restart); the ReplicaSet folds into its Deployment; the bare
    // pod stands alone; web's pod is evaluated for its injected init container only; and the one user
    // namespace is judged by the level it enforces.
    let cis = reports
        .iter()
        .find(|r| r.benchmark.id == "cis-kubernetes")
        .unwrap();
    let privileged = cis.results.iter().find(|r| r.check == "5.2.2").unwrap();
    assert_eq!(privileged.evaluated, 6, "{privileged:#?}");
    assert_eq!(
        object_status(&reports, "5.2.2", "legacy"),
        Some(Status::Warn)
    );
    assert_eq!(
        object_status(&reports, "5.2.2", "debug-shell"),
        Some(Status::Warn)
    );
    // The injected istio-init of a pod made from web's template is not web's finding: the pod is reported
    // apart for it (the drift), with nothing else of the pod.
    assert_eq!(object_status(&reports, "5.2.9", "web"), None);
    assert_eq!(
        object_status(&reports, "5.2.9", "web-7d9f8c-x2k4p"),
        Some(Status::Warn)
    );
    let drift = cis
        .results
        .iter()
        .find(|r| r.check == "5.2.9")
        .and_then(|r| r.objects.iter().find(|o| o.name == "web-7d9f8c-x2k4p"))
        .unwrap();
    assert!(
        drift.evidence.iter().all(|e| e
            .subject
            .contains("istio-init (init, not in its owner's template")),
        "{drift:#?}"
    );
    // The checks that read ClusterRoleBindings are errors naming the permission; the others still run.
    let admin = cis.results.iter().find(|r| r.check == "5.1.1").unwrap();
    assert_eq!(admin.status, Status::Error);
    assert!(
        admin
            .detail
            .as_deref()
            .unwrap()
            .contains("get and list on clusterrolebindings")
    );
    let wildcards = cis.results.iter().find(|r| r.check == "5.1.3").unwrap();
    assert_eq!(
        wildcards.status,
        Status::Error,
        "it also reads bindings, to say which roles are bound"
    );
    // Services as the API returns them: the private status address makes the second one internal.
    assert_eq!(
        object_status(&reports, "KW-SVC-LB", "shop-public"),
        Some(Status::Fail)
    );
    assert_eq!(object_status(&reports, "KW-SVC-LB", "shop-internal"), None);
    // coredns is platform-owned on the generic list.
    assert!(object_status(&reports, "KW-NETPOL-COVERAGE", "coredns").is_some());
}

/// Three nodes as the API returns them (status and all): counted, never kept.
fn with_nodes(mut objects: BTreeMap<String, Vec<Value>>) -> BTreeMap<String, Vec<Value>> {
    let node = |name: &str| {
        serde_json::json!({
            "metadata": {"name": name, "labels": {"kubernetes.io/os": "linux"}},
            "spec": {"providerID": format!("aws:///eu-west-1a/{name}")},
            "status": {"nodeInfo": {"kubeletVersion": "v1.33.2-eks-2d98532"}, "images": [{"names": ["x"], "sizeBytes": 1}]}
        })
    };
    objects.insert(
        "/api/v1/nodes".to_owned(),
        vec![node("ip-1"), node("ip-2"), node("ip-3")],
    );
    objects
}

#[test]
fn the_cluster_agent_counts_the_nodes_for_coverage_and_never_fails_for_it() {
    // Three nodes, listed in pages of two, and a continue token that expires once: still three.
    let behaviour = Behaviour {
        expire_once: Some("/api/v1/nodes"),
        ..Behaviour::default()
    };
    let stub = start(with_nodes(fixture_objects()), behaviour);
    let dir = tempfile::tempdir().unwrap();
    let config = kubeconfig(dir.path(), &stub.address);
    let output = run_agent(&config, &["--format", "json"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let reports: Vec<ClusterReport> = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        reports.iter().all(|report| report.cluster.nodes == Some(3)),
        "{:?}",
        reports[0].cluster
    );
    // Nodes are counted, not evaluated: no check lists one.
    assert!(
        reports
            .iter()
            .flat_map(|report| &report.results)
            .flat_map(|result| &result.objects)
            .all(|object| object.kind.as_str() != "Node")
    );

    // An agent that may not list nodes scans as before; coverage is unknown, and it says why.
    let behaviour = Behaviour {
        forbidden: vec!["/api/v1/nodes"],
        ..Behaviour::default()
    };
    let stub = start(with_nodes(fixture_objects()), behaviour);
    let config = kubeconfig(dir.path(), &stub.address);
    let output = run_agent(&config, &["--format", "json"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("may not list nodes") && stderr.contains("coverage is unknown"),
        "{stderr}"
    );
    let reports: Vec<ClusterReport> = serde_json::from_slice(&output.stdout).unwrap();
    assert!(reports.iter().all(|report| report.cluster.nodes.is_none()));
    // The forbidden node list is not one of the checks' kinds: no check turns into an error for it.
    assert!(
        reports
            .iter()
            .flat_map(|report| &report.results)
            .all(|result| !result
                .detail
                .as_deref()
                .unwrap_or_default()
                .contains("nodes"))
    );
}

#[test]
fn fail_on_and_the_other_formats_work_on_a_live_scan() {
    let stub = start(fixture_objects(), Behaviour::default());
    let dir = tempfile::tempdir().unwrap();
    let config = kubeconfig(dir.path(), &stub.address);
    let output = run_agent(
        &config,
        &["--benchmark", "kubeward-hardening", "--fail-on", "fail"],
    );
    assert_eq!(output.status.code(), Some(1));
    let table = String::from_utf8(output.stdout).unwrap();
    assert!(table.contains("live cluster"), "{table}");
    assert!(table.contains("FAIL   KW-SVC-LB"), "{table}");
    let json = run_agent(&config, &["--format", "json", "--benchmark", "cis-1.12"]);
    let report: ClusterReport = serde_json::from_slice(&json.stdout).unwrap();
    let reports = [report];
    assert_eq!(
        object_status(&reports, "5.1.3", "shop-operator"),
        Some(Status::Warn)
    );
    // The built-in cluster-admin is on the platform list: shown, not counted.
    let wildcards = reports[0]
        .results
        .iter()
        .find(|r| r.check == "5.1.3")
        .unwrap();
    assert_eq!(wildcards.status, Status::Warn);
    assert!(
        wildcards
            .objects
            .iter()
            .any(|o| o.name == "cluster-admin" && o.platform.is_some())
    );
    let sarif = run_agent(&config, &["--format", "sarif"]);
    let value: Value = serde_json::from_slice(&sarif.stdout).unwrap();
    assert!(!value["runs"][0]["results"].as_array().unwrap().is_empty());
}

#[test]
fn an_unreachable_or_unauthorised_api_is_a_clear_setup_error() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on this port.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let config = kubeconfig(dir.path(), &address);
    let output = run_agent(&config, &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("listing Namespace failed"));
    let missing = Command::new(AGENT)
        .args(["cluster", "--kubeconfig", "/nonexistent/kubeconfig"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("kubeconfig"));
    let outside = Command::new(AGENT)
        .arg("cluster")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .output()
        .unwrap();
    assert_eq!(outside.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&outside.stderr).contains("--kubeconfig"));
}

/// A kubeward server stand-in: answers the first report with 503 (the agent must keep it and retry), the
/// rest with 201, and keeps every body it was sent.
fn receiving_server() -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = bodies.clone();
    std::thread::spawn(move || {
        let mut answered = 0;
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                    break;
                }
                if let Some(value) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            std::io::Read::read_exact(&mut reader, &mut body).unwrap();
            answered += 1;
            let reply = if answered == 1 {
                "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            } else {
                kept.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap());
                "HTTP/1.1 201 Created\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
            };
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    (address, bodies)
}

/// One round of `kubeward-agent run --cluster` against the stub API, delivering to `server`.
fn run_cluster_once(
    server: &str,
    token: &std::path::Path,
    spool: &std::path::Path,
    config: &std::path::Path,
) -> Output {
    Command::new(AGENT)
        .args([
            "run",
            "--cluster",
            "--once",
            "--retry-for",
            "20s",
            "--server",
            server,
        ])
        .arg("--token-file")
        .arg(token)
        .arg("--spool-dir")
        .arg(spool)
        .arg("--kubeconfig")
        .arg(config)
        .args(["--context", "stub"])
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap()
}

#[test]
fn run_cluster_spools_one_report_per_catalog_and_delivers_each_exactly_once() {
    let stub = start(fixture_objects(), Behaviour::default());
    let dir = tempfile::tempdir().unwrap();
    let config = kubeconfig(dir.path(), &stub.address);
    let (server, bodies) = receiving_server();
    let token = dir.path().join("token");
    std::fs::write(&token, "kwa_cluster_token_for_tests\n").unwrap();
    let spool = dir.path().join("spool");
    let output = run_cluster_once(&server, &token, &spool, &config);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let bodies = bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 2, "{bodies:#?}");
    let mut ids: Vec<&str> = bodies
        .iter()
        .map(|b| b["scan_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 2);
    assert!(
        bodies
            .iter()
            .all(|b| b["schema"] == "kubeward/cluster-report/v1" && b["source"] == "api")
    );
    assert_eq!(
        std::fs::read_dir(&spool)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().is_file())
            .count(),
        0
    );
}

/// The whole path: the agent reads the stub cluster, and the real server stores both reports and opens one
/// finding per failing object, each named by its top-level owner; a second round changes nothing.
#[test]
fn run_cluster_delivers_to_the_real_server_which_follows_each_failing_object() {
    let stub = start(fixture_objects(), Behaviour::default());
    let dir = tempfile::tempdir().unwrap();
    let config = kubeconfig(dir.path(), &stub.address);
    let database = support::Database::new();
    let token = dir.path().join("token");
    database.enroll("prod", &token);
    let port = support::free_port();
    let _server = support::Server::start(&database, port);
    let server = format!("http://127.0.0.1:{port}");
    let spool = dir.path().join("spool");
    let round = || run_cluster_once(&server, &token, &spool, &config);
    let output = round();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(database.scalar("SELECT count(*) FROM cluster_scans"), "2");
    let opened: u64 = database
        .scalar("SELECT count(*) FROM findings WHERE object_id IS NOT NULL AND state = 'open'")
        .parse()
        .unwrap();
    // What the agent itself reports as failing is what the server opened.
    let reports: Vec<ClusterReport> =
        serde_json::from_slice(&run_agent(&config, &["--format", "json"]).stdout).unwrap();
    let failing: usize = reports
        .iter()
        .flat_map(|report| &report.results)
        .flat_map(|result| &result.objects)
        .filter(|object| matches!(object.status, Status::Fail | Status::Warn))
        .count();
    assert!(failing > 0);
    assert_eq!(opened as usize, failing);
    // Pods of a Deployment are reported as the Deployment: no finding names a ReplicaSet or an owned Pod.
    assert_eq!(
        database.scalar("SELECT count(*) FROM objects WHERE kind = 'ReplicaSet'"),
        "0"
    );
    let output = round();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(database.scalar("SELECT count(*) FROM cluster_scans"), "4");
    assert_eq!(
        database.scalar("SELECT count(*) FROM finding_events"),
        opened.to_string(),
        "an unchanged cluster moves no finding"
    );
}

/// Issues an API token with the server's CLI.
fn api_token(database: &support::Database, role: &str) -> String {
    let output = Command::new(support::server_binary())
        .args(["token", "create", "--name", "ci", "--role", role])
        .env("DATABASE_URL", &database.url)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned()
}

fn manifests_with_context(file: &std::path::Path, server: &str, token: &str) -> Output {
    Command::new(AGENT)
        .arg("manifests")
        .arg(file)
        .args([
            "--format",
            "json",
            "--context-from",
            server,
            "--cluster",
            "prod",
        ])
        .env("KUBEWARD_API_TOKEN", token)
        .output()
        .unwrap()
}

/// CI judges a manifest as the cluster will take it: the cluster agent delivers the cluster's context with
/// its reports, the server serves it to an auditor's token, and `manifests --context-from` decides what the
/// manifests alone leave open (the namespace's Pod Security level, its network policies), reporting only the
/// manifests' own objects and the namespaces they deploy to.
#[test]
fn manifests_are_judged_with_the_context_the_cluster_agent_delivered() {
    let stub = start(fixture_objects(), Behaviour::default());
    let dir = tempfile::tempdir().unwrap();
    let config = kubeconfig(dir.path(), &stub.address);
    let database = support::Database::new();
    let token = dir.path().join("token");
    database.enroll("prod", &token);
    let port = support::free_port();
    let _server = support::Server::start(&database, port);
    let server = format!("http://127.0.0.1:{port}");
    let spool = dir.path().join("spool");
    let manifest = dir.path().join("web.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: ci-web, namespace: shop}\nspec:\n  selector: {matchLabels: {app: ci-web}}\n  template:\n    metadata: {labels: {app: ci-web}}\n    spec:\n      containers:\n      - name: web\n        image: registry.example/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n        securityContext: {privileged: true}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: ci-batch, namespace: default}\nspec:\n  selector: {matchLabels: {app: ci-batch}}\n  template:\n    metadata: {labels: {app: ci-batch}}\n    spec:\n      containers:\n      - name: batch\n        image: registry.example/batch@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
    )
    .unwrap();
    let auditor = api_token(&database, "auditor");

    // Before the cluster agent ran, the server has no context to give: a clear setup error.
    let early = manifests_with_context(&manifest, &server, &auditor);
    assert_eq!(early.status.code(), Some(2));
    let said = String::from_utf8_lossy(&early.stderr);
    assert!(said.contains("404") && said.contains("sent none"), "{said}");

    let output = run_cluster_once(&server, &token, &spool, &config);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        database.scalar("SELECT count(*) FROM cluster_contexts"),
        "1"
    );

    // Alone, the manifest cannot say what namespace shop enforces or which policies select its pods.
    let alone = Command::new(AGENT)
        .arg("manifests")
        .arg(&manifest)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let alone: Vec<ClusterReport> = serde_json::from_slice(&alone.stdout).unwrap();
    assert_eq!(
        object_status(&alone, "KW-PSA-LEVEL", "shop"),
        Some(Status::Manual)
    );
    assert_eq!(
        object_status(&alone, "KW-NETPOL-DEFAULT-DENY", "shop"),
        Some(Status::Manual)
    );

    // With the cluster's context: shop enforces baseline, and no NetworkPolicy of the cluster selects it.
    let judged = manifests_with_context(&manifest, &server, &auditor);
    let stderr = String::from_utf8_lossy(&judged.stderr);
    assert!(
        stderr.contains("judged with cluster prod's context"),
        "{stderr}"
    );
    let judged: Vec<ClusterReport> = serde_json::from_slice(&judged.stdout).unwrap();
    assert_eq!(
        object_status(&judged, "KW-PSA-LEVEL", "shop"),
        None,
        "baseline passes"
    );
    assert_eq!(
        object_status(&judged, "KW-NETPOL-DEFAULT-DENY", "shop"),
        Some(Status::Fail)
    );
    // The manifest's own verdicts are all there, and nothing of the cluster's own objects is reported.
    assert_eq!(
        object_status(&judged, "5.2.2", "ci-web"),
        Some(Status::Warn)
    );
    for object in judged
        .iter()
        .flat_map(|report| &report.results)
        .flat_map(|result| &result.objects)
    {
        assert!(
            object.location.is_some() || object.kind == "Namespace",
            "a cluster object was reported: {object:?}"
        );
    }

    // Namespace default has no Pod Security label: its level is the API server's default, which neither the
    // manifests nor the context's objects hold. With no node reporting, CI leaves it open, as the server does.
    assert_eq!(
        object_status(&judged, "KW-PSA-LEVEL", "default"),
        Some(Status::Manual)
    );
    // The control-plane node's agent reports: its API server has no admission configuration, so the built-in
    // default (privileged) applies. CI now decides the namespace from that node fact, naming the node.
    let node_spool = dir.path().join("node-spool");
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/demo/node");
    let node_run = support::run_agent(
        &[
            "--once",
            "--retry-for",
            "20s",
            "--server",
            &server,
            "--token-file",
            token.to_str().unwrap(),
            "--spool-dir",
            node_spool.to_str().unwrap(),
        ],
        &demo,
        &demo.join("proc"),
    );
    assert_eq!(
        node_run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&node_run.stderr)
    );
    let decided = manifests_with_context(&manifest, &server, &auditor);
    let said = String::from_utf8_lossy(&decided.stderr);
    assert!(said.contains("node facts"), "{said}");
    let decided: Vec<ClusterReport> = serde_json::from_slice(&decided.stdout).unwrap();
    assert_eq!(
        object_status(&decided, "KW-PSA-LEVEL", "default"),
        Some(Status::Fail)
    );
    let evidence: Vec<String> = decided
        .iter()
        .flat_map(|report| &report.results)
        .filter(|result| result.check == "KW-PSA-LEVEL")
        .flat_map(|result| &result.objects)
        .filter(|object| object.name == "default")
        .flat_map(|object| &object.evidence)
        .map(|evidence| evidence.observed.to_string())
        .collect();
    assert!(
        evidence
            .iter()
            .any(|observed| observed.contains("demo-cp-1") && observed.contains("privileged")),
        "{evidence:?}"
    );
    // Shop's own label still decides shop.
    assert_eq!(object_status(&decided, "KW-PSA-LEVEL", "shop"), None);

    // Who may read it: an auditor's token; a viewer's, a wrong one or none is refused, saying why.
    let viewer = api_token(&database, "viewer");
    let refused = manifests_with_context(&manifest, &server, &viewer);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("403"));
    let wrong = manifests_with_context(&manifest, &server, "kwt_not-a-token");
    assert_eq!(wrong.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("401"));
    let none = manifests_with_context(&manifest, &server, "");
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("KUBEWARD_API_TOKEN"));
    let other = Command::new(AGENT)
        .arg("manifests")
        .arg(&manifest)
        .args(["--context-from", &server, "--cluster", "nope"])
        .env("KUBEWARD_API_TOKEN", &auditor)
        .output()
        .unwrap();
    assert_eq!(other.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&other.stderr).contains("cluster nope not found"));
}
