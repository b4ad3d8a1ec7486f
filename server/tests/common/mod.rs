//! Helpers for the server's tests: a real server on a random port over the test's database, enrolled
//! clusters, and reports built from the real catalog.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the helpers"
)]
#![allow(
    clippy::unwrap_used,
    reason = "a test should stop loudly at the first unexpected error"
)]

pub mod process;
pub mod provider;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use kubeward_benchmark::cluster_report::{
    CLUSTER_SCHEMA_V1, ClusterCheckResult, ClusterInfo, ClusterReport, ObjectEvidence,
    ObjectResult, Source,
};
use kubeward_benchmark::policy::catalog::PolicyCatalog;
use kubeward_benchmark::report::{
    AgentInfo, BenchmarkRef, CheckResult, Evidence, NodeInfo, NodeRole, Report, SCHEMA_V1,
};
use kubeward_benchmark::{Catalog, Status};
use kubeward_server::catalogs::Catalogs;
use kubeward_server::domain::cluster::{ClusterName, Labels};
use kubeward_server::domain::token::NewAgentToken;
use kubeward_server::startup::Application;
use kubeward_server::storage::{clusters, tokens};
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

pub struct TestServer {
    pub base: String,
    pub pool: PgPool,
    pub client: reqwest::Client,
    /// The server's session key, which also seals webhook secrets.
    pub key: actix_web::cookie::Key,
}

impl TestServer {
    pub async fn start(pool: PgPool) -> Self {
        Self::start_with_jwt(pool, None).await
    }

    pub async fn start_with_jwt(
        pool: PgPool,
        jwt: Option<Arc<kubeward_server::shared::jwt::JwtVerifier>>,
    ) -> Self {
        let web = kubeward_server::web::WebConfig::local(actix_web::cookie::Key::generate());
        Self::start_with(pool, jwt, web).await
    }

    /// A server with the given page authentication (local mode, or an OIDC login).
    pub async fn start_with(
        pool: PgPool,
        jwt: Option<Arc<kubeward_server::shared::jwt::JwtVerifier>>,
        web: kubeward_server::web::WebConfig,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        Self::start_on(listener, pool, jwt, web).await
    }

    pub async fn start_on(
        listener: TcpListener,
        pool: PgPool,
        jwt: Option<Arc<kubeward_server::shared::jwt::JwtVerifier>>,
        web: kubeward_server::web::WebConfig,
    ) -> Self {
        let catalogs = Arc::new(Catalogs::builtin().unwrap());
        let key = web.cookie_key.clone();
        let services = kubeward_server::startup::Services {
            catalogs,
            migrated: Arc::new(AtomicBool::new(true)),
            stale_after: std::time::Duration::from_secs(24 * 3600),
            jwt,
            web: Arc::new(web),
            limits: kubeward_server::app::governance::Limits::default(),
            edge: kubeward_server::edge::Settings::default(),
            tls: None,
            // Tests and benchmarks send many refused requests from one address on purpose.
            auth_failures_per_minute: u32::MAX,
        };
        let application = Application::with_listener(listener, pool.clone(), services).unwrap();
        let base = format!("http://{}", application.address());
        tokio::spawn(application.run_until_stopped());
        TestServer {
            base,
            pool,
            client: reqwest::Client::new(),
            key,
        }
    }

    /// Opens and seals secrets as this server does.
    pub fn sealer(&self) -> Arc<kubeward_server::domain::sealed::Sealer> {
        Arc::new(kubeward_server::domain::sealed::Sealer::new(self.key.master()).unwrap())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Enrolls a cluster and returns (token id, token).
    pub async fn enroll(&self, name: &str) -> (Uuid, String) {
        let mut conn = self.pool.acquire().await.unwrap();
        let cluster = clusters::create(
            &mut conn,
            &ClusterName::parse(name).unwrap(),
            &Labels::default(),
        )
        .await
        .unwrap()
        .unwrap();
        self.issue_token(cluster.id).await
    }

    pub async fn issue_token(&self, cluster_id: i64) -> (Uuid, String) {
        let mut conn = self.pool.acquire().await.unwrap();
        let token = NewAgentToken::generate();
        let id = Uuid::now_v7();
        tokens::insert(&mut conn, id, cluster_id, &token.hash())
            .await
            .unwrap();
        (id, token.reveal().to_owned())
    }

    pub async fn post(&self, token: &str, report: &Report) -> reqwest::Response {
        self.post_bytes(
            token,
            serde_json::to_vec(report).unwrap(),
            "application/json",
        )
        .await
    }

    pub async fn post_cluster(&self, token: &str, report: &ClusterReport) -> reqwest::Response {
        self.post_bytes(
            token,
            serde_json::to_vec(report).unwrap(),
            "application/json",
        )
        .await
    }

    pub async fn post_bytes(
        &self,
        token: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/reports"))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }
}

pub fn catalog() -> Catalog {
    Catalog::builtin("cis-1.12").unwrap()
}

/// A time `hours` after a fixed start.
pub fn at(hours: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_790_000_000 + hours * 3600).unwrap()
}

/// A report for `node` finished at `finished_at`: every check passes except those in `statuses`.
pub fn report(node: &str, finished_at: OffsetDateTime, statuses: &[(&str, Status)]) -> Report {
    report_against(&catalog(), node, finished_at, statuses)
}

/// A report against another benchmark's catalog (its own check ids in `statuses`).
pub fn report_against(
    catalog: &Catalog,
    node: &str,
    finished_at: OffsetDateTime,
    statuses: &[(&str, Status)],
) -> Report {
    let overrides: BTreeMap<&str, Status> = statuses.iter().copied().collect();
    let results = catalog
        .checks
        .iter()
        .map(|check| {
            let status = overrides
                .get(check.id.as_str())
                .copied()
                .unwrap_or(Status::Pass);
            CheckResult {
                check: check.id.clone(),
                status,
                evidence: vec![Evidence {
                    subject: format!("{} on {node}", check.id),
                    observed: status.as_str().to_owned(),
                    expected: "pass".to_owned(),
                    source: Some("test".to_owned()),
                }],
                detail: None,
            }
        })
        .collect();
    Report {
        schema: SCHEMA_V1.to_owned(),
        scan_id: Uuid::now_v7(),
        agent: AgentInfo {
            version: "0.1.0".to_owned(),
        },
        node: NodeInfo {
            name: node.to_owned(),
            roles: vec![NodeRole::ControlPlane, NodeRole::Worker],
            kubelet_version: Some("v1.33.2".to_owned()),
            container_runtime: None,
            pod_security_defaults: None,
            platform: None,
        },
        benchmark: catalog.benchmark.clone(),
        started_at: finished_at - time::Duration::seconds(1),
        finished_at,
        results,
    }
}

/// One listed object: kind, namespace (empty for cluster-scoped), name, status.
pub type Listed<'a> = (&'a str, &'a str, &'a str, Status);

pub fn object(kind: &str, namespace: &str, name: &str, status: Status) -> ObjectResult {
    ObjectResult {
        kind: kind.into(),
        namespace: (!namespace.is_empty()).then(|| namespace.into()),
        name: name.into(),
        status,
        evidence: vec![ObjectEvidence {
            subject: "container app (init)".into(),
            path: Some("spec.template.spec.initContainers[0].securityContext.privileged".into()),
            observed: "true".into(),
            expected: "false or unset".into(),
        }],
        detail: (status == Status::Manual).then(|| "the image's USER is not visible".into()),
        location: None,
        platform: None,
    }
}

/// A CIS section 5 cluster report finished at `finished_at`: every check of the catalog ran over 40 objects
/// (or as many as it lists) and passed, except those given, which list their objects (the check's status is the worst of them, or
/// the one given when it lists none).
pub fn cluster_report(
    finished_at: OffsetDateTime,
    checks: &[(&str, Status, &[Listed])],
) -> ClusterReport {
    let catalog = PolicyCatalog::builtin("cis-1.12").unwrap();
    let results = catalog
        .checks
        .iter()
        .map(|check| {
            let given = checks.iter().find(|(id, _, _)| *id == check.id);
            let (status, objects) = match given {
                None => (Status::Pass, Vec::new()),
                Some((_, status, listed)) => (
                    *status,
                    listed
                        .iter()
                        .map(|(kind, namespace, name, status)| {
                            object(kind, namespace, name, *status)
                        })
                        .collect(),
                ),
            };
            ClusterCheckResult {
                check: check.id.clone(),
                status,
                evaluated: 40.max(objects.len() as u64),
                objects,
                detail: None,
            }
        })
        .collect();
    ClusterReport {
        schema: CLUSTER_SCHEMA_V1.to_owned(),
        scan_id: Uuid::now_v7(),
        agent: AgentInfo {
            version: "0.2.0".to_owned(),
        },
        source: Source::Api,
        cluster: ClusterInfo {
            kubernetes_version: Some("v1.33.2".to_owned()),
            distribution: Some("kubernetes".to_owned()),
            nodes: None,
        },
        benchmark: BenchmarkRef {
            id: "cis-kubernetes".to_owned(),
            version: "1.12".to_owned(),
        },
        started_at: finished_at - time::Duration::seconds(5),
        finished_at,
        results,
        context: None,
    }
}

/// Reads a problem+json body, checking the content type.
pub async fn problem(response: reqwest::Response) -> serde_json::Value {
    let content_type = response
        .headers()
        .get("content-type")
        .map(|value| value.to_str().unwrap().to_owned());
    assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    response.json().await.unwrap()
}

/// `(check, state, first_seen, state_since, reopen_count)` of every finding of a node.
pub async fn findings_of(
    pool: &PgPool,
    cluster: &str,
    node: &str,
) -> Vec<(String, String, OffsetDateTime, OffsetDateTime, i32)> {
    sqlx::query_as(
        "SELECT f.check_id, f.state, f.first_seen, f.state_since, f.reopen_count
         FROM findings f JOIN nodes n ON n.id = f.node_id JOIN clusters c ON c.id = f.cluster_id
         WHERE c.name = $1 AND n.name = $2 ORDER BY f.check_id",
    )
    .bind(cluster)
    .bind(node)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// `(check, kind, at)` of every event of a node, in feed order.
pub async fn events_of(
    pool: &PgPool,
    cluster: &str,
    node: &str,
) -> Vec<(i64, String, String, OffsetDateTime)> {
    sqlx::query_as(
        "SELECT e.id, f.check_id, e.kind, e.at
         FROM finding_events e JOIN findings f ON f.id = e.finding_id
         JOIN nodes n ON n.id = f.node_id JOIN clusters c ON c.id = f.cluster_id
         WHERE c.name = $1 AND n.name = $2 ORDER BY e.id",
    )
    .bind(cluster)
    .bind(node)
    .fetch_all(pool)
    .await
    .unwrap()
}

pub async fn count(pool: &PgPool, table: &str) -> i64 {
    // Table names come from the tests themselves.
    let sql = format!("SELECT count(*) FROM {table}");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Issues an API token with a role (expired when `expires_in` is negative) and returns (id, token).
pub async fn api_token(
    pool: &PgPool,
    role: kubeward_server::domain::role::Role,
    expires_in: Option<time::Duration>,
) -> (Uuid, String) {
    let mut conn = pool.acquire().await.unwrap();
    let token = NewAgentToken::generate_api();
    let id = Uuid::now_v7();
    let expires_at = expires_in.map(|delta| OffsetDateTime::now_utc() + delta);
    kubeward_server::storage::api_tokens::insert(
        &mut conn,
        id,
        &format!("{role} test"),
        role,
        &token.hash(),
        expires_at,
    )
    .await
    .unwrap();
    (id, token.reveal().to_owned())
}

/// A request with a bearer token and an optional JSON body.
pub async fn send(
    server: &TestServer,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> reqwest::Response {
    let mut request = server
        .client
        .request(method, server.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

/// A JSON POST with a bearer token.
pub async fn post_json(
    server: &TestServer,
    token: &str,
    path: &str,
    body: serde_json::Value,
) -> reqwest::Response {
    send(server, token, reqwest::Method::POST, path, Some(body)).await
}

/// A GET with a bearer token that must answer 200, as JSON.
pub async fn get_json(server: &TestServer, token: &str, path: &str) -> serde_json::Value {
    let response = send(server, token, reqwest::Method::GET, path, None).await;
    assert_eq!(response.status(), 200, "GET {path}");
    response.json().await.unwrap()
}

/// A page without credentials (the test server's local mode) that must answer 200, as text.
pub async fn page_text(server: &TestServer, path: &str) -> String {
    let response = server.client.get(server.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200, "GET {path}");
    response.text().await.unwrap()
}
