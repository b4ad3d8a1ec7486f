//! The report pages at the route level: who may see what (sessions by role, expired, ended, forged), the
//! login flow's first and last steps against a real OpenID provider, logout, the security headers, the as-of
//! view, and node-supplied text rendered inert.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop loudly at the first unexpected error"
)]

mod common;

use actix_web::cookie::{Cookie, CookieJar, Key};
use common::provider::{CLIENT_ID, Provider, server_with_login};
use common::{TestServer, at, cluster_report, report};
use kubeward_benchmark::Status;
use kubeward_server::domain::role::Role;
use kubeward_server::storage::web_sessions::{self, NewSession};
use kubeward_server::web::session::{self, LOGIN_COOKIE, SESSION_COOKIE};
use kubeward_server::web::{PAGE_RULES, WebConfig};
use sqlx::PgPool;
use time::OffsetDateTime;

/// A server with an OIDC login against a real provider, and the key its cookies are sealed with.
struct OidcServer {
    server: TestServer,
    key: Key,
    provider: Provider,
    client: reqwest::Client,
}

async fn oidc_server(pool: PgPool) -> OidcServer {
    let key = Key::generate();
    let (server, provider) = server_with_login(pool, key.clone()).await;
    OidcServer {
        server,
        key,
        provider,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    }
}

/// A session made directly in the database, and the cookie that carries it.
async fn session_cookie(
    pool: &PgPool,
    key: &Key,
    role: Role,
    expires_in: time::Duration,
) -> (String, Vec<u8>) {
    let id = session::random_token();
    let hash = session::id_hash(&id);
    let mut conn = pool.acquire().await.unwrap();
    web_sessions::insert(
        &mut conn,
        &NewSession {
            id_hash: &hash,
            subject: &format!("{role}-subject"),
            display_name: &format!("{role}@example.com"),
            role: role.as_str(),
            csrf_token: &format!("form-token-of-{role}"),
            id_token: None,
            expires_at: OffsetDateTime::now_utc() + expires_in,
        },
    )
    .await
    .unwrap();
    let sealed = session::sealed(&WebConfig::local(key.clone()), SESSION_COOKIE, id, None);
    (format!("{SESSION_COOKIE}={}", sealed.value()), hash)
}

async fn seed(server: &TestServer) {
    let (_, agent) = server.enroll("prod").await;
    let status = server
        .post(&agent, &report("cp-1", at(0), &[("1.2.15", Status::Fail)]))
        .await
        .status();
    assert_eq!(status, 201);
    // An object with a finding, for the object page.
    let cart = ("Deployment", "shop", "cart", Status::Warn);
    let cluster_scan = cluster_report(at(0), &[("5.2.2", Status::Warn, &[cart])]);
    assert_eq!(
        server.post_cluster(&agent, &cluster_scan).await.status(),
        201
    );
    // Exception 1 and attestation 1, for their pages.
    let catalogs = kubeward_server::catalogs::Catalogs::builtin().unwrap();
    let someone = kubeward_server::domain::actor::Actor {
        id: "oidc:someone".to_owned(),
        name: "someone@example.com".to_owned(),
        source: None,
    };
    let last_day = kubeward_server::app::views::day_text(
        OffsetDateTime::now_utc().date() + time::Duration::days(30),
    );
    let exception = kubeward_server::app::governance::ExceptionInput {
        check: "1.2.15".to_owned(),
        justification: "accepted <script>alert(1)</script> for now".to_owned(),
        expires_on: last_day.clone(),
        ..Default::default()
    };
    let limits = kubeward_server::app::governance::Limits::default();
    kubeward_server::app::governance::request_exception(
        &server.pool,
        &catalogs,
        limits,
        &someone,
        &exception,
    )
    .await
    .unwrap();
    let manual = common::catalog()
        .checks
        .iter()
        .find(|check| check.assessment == kubeward_benchmark::catalog::Assessment::Manual)
        .map(|check| check.id.clone())
        .unwrap();
    let attestation = kubeward_server::app::governance::AttestationInput {
        check: manual,
        verdict: "pass".to_owned(),
        statement: "looked at it".to_owned(),
        valid_until: last_day,
        ..Default::default()
    };
    kubeward_server::app::governance::record_attestation(
        &server.pool,
        &catalogs,
        limits,
        &someone,
        &attestation,
    )
    .await
    .unwrap();
}

/// Every page, by its rule's pattern and a real path to it.
const PAGES: &[(&str, &str)] = &[
    ("/", "/"),
    ("/clusters/{cluster}", "/clusters/prod"),
    (
        "/clusters/{cluster}/nodes/{node}",
        "/clusters/prod/nodes/cp-1",
    ),
    ("/findings", "/findings"),
    ("/checks/{check}", "/checks/1.2.15"),
    (
        "/clusters/{cluster}/objects/{kind}/{namespace}/{name}",
        "/clusters/prod/objects/Deployment/shop/cart",
    ),
    ("/exceptions", "/exceptions"),
    ("/exceptions/{id}", "/exceptions/1"),
    ("/attestations", "/attestations"),
    ("/attestations/{id}", "/attestations/1"),
];
/// The forms' targets (POST), exercised by their own tests below.
const FORMS: &[&str] = &[
    "/exceptions/new",
    "/exceptions/{id}/decide",
    "/attestations/new",
    "/attestations/{id}/revoke",
    "/clusters/{cluster}/platform-bucket",
];
/// Pages that need more than the viewer role.
const AUDITOR_PAGES: &[(&str, &str)] = &[
    ("/findings/export.csv", "/findings/export.csv"),
    ("/findings/export.json", "/findings/export.json"),
    ("/audit", "/audit"),
    ("/audit/export.csv", "/audit/export.csv"),
    ("/audit/export.json", "/audit/export.json"),
];

#[test]
fn every_page_rule_is_exercised_here() {
    let mut ruled: Vec<&str> = PAGE_RULES.iter().map(|(path, _)| *path).collect();
    // The scan diff needs two scans; it has a test of its own below.
    let mut tested: Vec<&str> = PAGES
        .iter()
        .chain(AUDITOR_PAGES)
        .map(|(rule, _)| *rule)
        .chain(["/clusters/{cluster}/nodes/{node}/diff"])
        .chain(FORMS.iter().copied())
        .collect();
    ruled.sort_unstable();
    tested.sort_unstable();
    assert_eq!(ruled, tested);
    for (rule, _) in AUDITOR_PAGES {
        assert_eq!(
            kubeward_server::web::access::rule_for(rule),
            Some(Role::Auditor)
        );
    }
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn pages_need_a_live_session_and_carry_the_security_headers(pool: PgPool) {
    let oidc = oidc_server(pool.clone()).await;
    seed(&oidc.server).await;
    let live = |role| session_cookie(&pool, &oidc.key, role, time::Duration::hours(1));
    let (viewer, _) = live(Role::Viewer).await;
    let (auditor, _) = live(Role::Auditor).await;
    let (admin, _) = live(Role::Admin).await;
    let (expired, _) =
        session_cookie(&pool, &oidc.key, Role::Admin, time::Duration::seconds(-1)).await;
    let (ended, ended_hash) = live(Role::Admin).await;
    let mut conn = pool.acquire().await.unwrap();
    web_sessions::end(&mut conn, &ended_hash).await.unwrap();
    let (idle, idle_hash) = live(Role::Admin).await;
    sqlx::query(
        "UPDATE web_sessions SET last_seen_at = now() - interval '2 hours' WHERE id_hash = $1",
    )
    .bind(&idle_hash)
    .execute(&pool)
    .await
    .unwrap();
    // Sealed with another key: a cookie this server did not make.
    let (forged, _) = session_cookie(
        &pool,
        &Key::generate(),
        Role::Admin,
        time::Duration::hours(1),
    )
    .await;
    let get = |path: &str, cookie: Option<&str>| {
        let mut request = oidc.client.get(oidc.server.url(path));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send()
    };
    for (_, path) in PAGES.iter().chain(AUDITOR_PAGES) {
        for cookie in [
            None,
            Some(&expired),
            Some(&ended),
            Some(&idle),
            Some(&forged),
        ] {
            let response = get(path, cookie.map(String::as_str)).await.unwrap();
            assert_eq!(response.status(), 303, "{path} {cookie:?}");
            let location = response.headers()["location"].to_str().unwrap().to_owned();
            let next = path.replace('/', "%2F");
            assert_eq!(location, format!("/login?next={next}"), "{path}");
        }
        if AUDITOR_PAGES.iter().any(|(_, page)| page == path) {
            let refused = get(path, Some(&viewer)).await.unwrap();
            assert_eq!(refused.status(), 403, "{path} as a viewer");
            // The refusal is a page like any other: the same security headers.
            let headers = refused.headers().clone();
            assert_eq!(headers["x-frame-options"], "DENY", "{path}");
            assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
            assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
            assert!(headers.contains_key("content-security-policy"), "{path}");
            assert!(
                refused
                    .text()
                    .await
                    .unwrap()
                    .contains("needs the auditor role")
            );
            for cookie in [&auditor, &admin] {
                let response = get(path, Some(cookie)).await.unwrap();
                assert_eq!(response.status(), 200, "{path}");
                assert_eq!(response.headers()["cache-control"], "no-store");
                if path.contains("/export.") {
                    let disposition = response.headers()["content-disposition"]
                        .to_str()
                        .unwrap()
                        .to_owned();
                    assert!(disposition.starts_with("attachment"), "{disposition}");
                }
            }
            continue;
        }
        for (cookie, name) in [
            (&viewer, "viewer@example.com"),
            (&auditor, "auditor@example.com"),
            (&admin, "admin@example.com"),
        ] {
            let response = get(path, Some(cookie)).await.unwrap();
            assert_eq!(response.status(), 200, "{path} as {name}");
            let headers = response.headers().clone();
            assert_eq!(headers["cache-control"], "no-store");
            assert_eq!(headers["x-frame-options"], "DENY");
            assert_eq!(headers["x-content-type-options"], "nosniff");
            let policy = headers["content-security-policy"].to_str().unwrap();
            assert!(policy.contains("default-src 'none'"), "{policy}");
            assert!(
                !policy.contains("script-src"),
                "no script is ever allowed: {policy}"
            );
            let html = response.text().await.unwrap();
            assert!(html.contains(name), "{path}");
            assert!(!html.contains("Local mode"), "{path}");
            assert!(!html.contains("<script"), "{path}");
            // The sign-out form carries this session's token.
            let role = name.split('@').next().unwrap();
            assert!(
                html.contains(&format!("value=\"form-token-of-{role}\"")),
                "{path}"
            );
        }
    }
    let missing = get("/clusters/nope", Some(&viewer)).await.unwrap();
    assert_eq!(missing.status(), 404);
    assert!(
        missing
            .text()
            .await
            .unwrap()
            .contains("Cluster nope was not found.")
    );
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn the_login_starts_a_code_flow_with_pkce_state_and_nonce(pool: PgPool) {
    let oidc = oidc_server(pool).await;
    let response = oidc
        .client
        .get(
            oidc.server
                .url("/login?next=%2Fclusters%2Fprod%3Fat%3D2026-11-01"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let location = reqwest::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(&oidc.provider.issuer));
    let query: std::collections::HashMap<String, String> =
        location.query_pairs().into_owned().collect();
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["client_id"], CLIENT_ID);
    assert_eq!(query["redirect_uri"], oidc.server.url("/auth/callback"));
    assert_eq!(query["code_challenge_method"], "S256");
    assert!(query["code_challenge"].len() >= 43);
    assert!(query["state"].len() >= 16 && query["nonce"].len() >= 16);
    let scopes: Vec<&str> = query["scope"].split(' ').collect();
    assert!(
        scopes.contains(&"openid") && scopes.contains(&"groups"),
        "{scopes:?}"
    );

    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(set_cookie.starts_with(&format!("{LOGIN_COOKIE}=")));
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    let pending = open_cookie(&oidc.key, &set_cookie);
    assert_eq!(pending["next"], "/clusters/prod?at=2026-11-01");
    assert_eq!(pending["state"], query["state"].as_str());
    assert!(
        !set_cookie.contains(&query["state"]),
        "the login cookie is encrypted"
    );

    // After the login, only a path on this server: never another site.
    for next in [
        "%2F%2Fevil.example%2F",
        "https%3A%2F%2Fevil.example%2F",
        "%2F%5Cevil.example",
    ] {
        let response = oidc
            .client
            .get(oidc.server.url(&format!("/login?next={next}")))
            .send()
            .await
            .unwrap();
        let set_cookie = response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(open_cookie(&oidc.key, &set_cookie)["next"], "/", "{next}");
    }
}

/// The JSON inside a sealed cookie from a `Set-Cookie` header.
fn open_cookie(key: &Key, set_cookie: &str) -> serde_json::Value {
    let cookie = Cookie::parse(set_cookie.to_owned()).unwrap();
    let name = cookie.name().to_owned();
    let mut jar = CookieJar::new();
    jar.add_original(cookie);
    let value = jar.private(key).get(&name).unwrap().value().to_owned();
    serde_json::from_str(&value).unwrap()
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn the_callback_refuses_answers_that_are_not_its_own_login(pool: PgPool) {
    let oidc = oidc_server(pool.clone()).await;
    let started = oidc
        .client
        .get(oidc.server.url("/login"))
        .send()
        .await
        .unwrap();
    let login_cookie = started.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    for (query, cookie, expected) in [
        ("code=abc&state=whatever", None, "another browser"),
        (
            "code=abc&state=not-the-state",
            Some(&login_cookie),
            "state mismatch",
        ),
        (
            "error=%3Cscript%3Ealert(1)%3C%2Fscript%3E&state=x",
            Some(&login_cookie),
            "(scriptalert1script)",
        ),
    ] {
        let mut request = oidc
            .client
            .get(oidc.server.url(&format!("/auth/callback?{query}")));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 400, "{query}");
        let html = response.text().await.unwrap();
        assert!(html.contains(expected), "{query}: {html}");
        assert!(!html.contains("<script>"), "{query}");
    }
    assert_eq!(common::count(&pool, "web_sessions").await, 0);
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn logout_needs_the_session_form_token_and_ends_the_session(pool: PgPool) {
    let oidc = oidc_server(pool.clone()).await;
    let (cookie, _) =
        session_cookie(&pool, &oidc.key, Role::Viewer, time::Duration::hours(1)).await;
    let post = |csrf: &str| {
        oidc.client
            .post(oidc.server.url("/logout"))
            .header("cookie", &cookie)
            .form(&[("csrf", csrf)])
            .send()
    };
    let refused = post("form-token-of-someone-else").await.unwrap();
    assert_eq!(refused.status(), 400);
    let page = oidc
        .client
        .get(oidc.server.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        page.status(),
        200,
        "a refused logout leaves the session alone"
    );

    let done = post("form-token-of-viewer").await.unwrap();
    assert_eq!(done.status(), 303);
    // On to the provider's sign-out, naming this client: no ID token is kept to pass as a hint.
    let location = done.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&oidc.provider.issuer), "{location}");
    assert!(location.contains("client_id="), "{location}");
    assert!(location.contains("post_logout_redirect_uri="), "{location}");
    assert!(!location.contains("id_token_hint"), "{location}");
    let removal = done.headers()["set-cookie"].to_str().unwrap();
    assert!(
        removal.starts_with(&format!("{SESSION_COOKIE}=;")),
        "{removal}"
    );
    let after = oidc
        .client
        .get(oidc.server.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 303, "the old cookie no longer opens a page");
    let signed_out = oidc
        .client
        .get(oidc.server.url("/logged-out"))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), 200);
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn node_supplied_text_is_rendered_inert(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("prod").await;
    let mut hostile = report("cp-1", at(0), &[("1.2.15", Status::Fail)]);
    for result in &mut hostile.results {
        if result.check == "1.2.15" {
            result.evidence[0].subject = "\"><img src=x onerror=alert(1)>".to_owned();
            result.evidence[0].observed = "<script>alert('evidence')</script>".to_owned();
            result.detail = Some("'; DROP TABLE findings; -- <b>bold</b>".to_owned());
        }
    }
    assert_eq!(server.post(&agent, &hostile).await.status(), 201);
    let html = server
        .client
        .get(server.url("/clusters/prod/nodes/cp-1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("&#60;script&#62;alert(&#39;evidence&#39;)&#60;/script&#62;"),
        "{html}"
    );
    assert!(html.contains("&#34;&#62;&#60;img src=x onerror=alert(1)&#62;"));
    assert!(html.contains("&#60;b&#62;bold&#60;/b&#62;"));
    assert!(!html.contains("<script>alert"));
    assert!(!html.contains("<img src=x"));
    assert!(!html.contains("<b>bold"));
    assert_eq!(
        common::count(&pool, "findings").await,
        1,
        "the SQL in the detail stayed text"
    );
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn pages_show_the_fleet_as_of_a_past_day_and_links_keep_the_date(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("prod").await;
    // 1.2.15 fails on 2026-09-21 (hour 0) and is fixed on 2026-09-23 (hour 48).
    for (hour, failing) in [(0, true), (48, false)] {
        let statuses: &[(&str, Status)] = if failing {
            &[("1.2.15", Status::Fail)]
        } else {
            &[]
        };
        let status = server
            .post(&agent, &report("cp-1", at(hour), statuses))
            .await
            .status();
        assert_eq!(status, 201);
    }
    let get = |path: String| {
        let request = server.client.get(server.url(&path));
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        }
    };
    let (status, then) = get("/clusters/prod?at=2026-09-22".to_owned()).await;
    assert_eq!(status, 200);
    assert!(
        then.contains("As of the end of <time datetime=\"2026-09-22\">"),
        "{then}"
    );
    assert!(
        then.contains("API server profiling is off"),
        "the finding was open then"
    );
    assert!(then.contains("href=\"/clusters/prod/nodes/cp-1?at=2026-09-22\""));
    assert!(then.contains("href=\"/?at=2026-09-22\""));
    let (_, now) = get("/clusters/prod".to_owned()).await;
    assert!(!now.contains("As of the end"));
    assert!(now.contains("No open finding."), "fixed since");
    let (_, node_then) = get("/clusters/prod/nodes/cp-1?at=2026-09-22".to_owned()).await;
    assert!(node_then.contains("<span class=\"status fail\">fail</span>"));
    let (_, fleet_then) = get("/?at=2026-09-22".to_owned()).await;
    assert!(fleet_then.contains("href=\"/clusters/prod?at=2026-09-22\""));
    let (status, before) = get("/clusters/prod/nodes/cp-1?at=2026-09-01".to_owned()).await;
    assert_eq!(status, 404, "the node had not reported yet: {before}");
    for bad in ["2026-13-01", "yesterday", "%3Cscript%3E", "9999-01-01"] {
        let (status, html) = get(format!("/?at={bad}")).await;
        assert_eq!(status, 400, "{bad}");
        assert!(!html.contains("<script>"));
    }
}

/// A local-mode server (its visitor is an admin) with findings on two nodes, one with hostile evidence.
async fn fleet_with_findings(pool: &PgPool) -> TestServer {
    let server = TestServer::start(pool.clone()).await;
    let (_, agent) = server.enroll("prod").await;
    let mut old = report(
        "cp-1",
        at(0),
        &[("1.2.15", Status::Fail), ("1.1.1", Status::Fail)],
    );
    for result in &mut old.results {
        if result.check == "1.1.1" {
            result.evidence[0].observed =
                "=HYPERLINK(\"http://evil.example\",\"click\")".to_owned();
        }
    }
    assert_eq!(server.post(&agent, &old).await.status(), 201);
    let mut newer = report(
        "cp-1",
        at(48),
        &[("1.1.1", Status::Fail), ("4.2.1", Status::Fail)],
    );
    for result in &mut newer.results {
        if result.check == "1.1.1" {
            // What a spreadsheet would run, first in its cell of an export.
            result.evidence[0].subject = "=cmd|' /C calc'!A0".to_owned();
        }
    }
    assert_eq!(server.post(&agent, &newer).await.status(), 201);
    let worker = report("worker-1", at(47), &[("4.2.1", Status::Fail)]);
    assert_eq!(server.post(&agent, &worker).await.status(), 201);
    server
}

async fn text(server: &TestServer, path: &str) -> (u16, String) {
    let response = server.client.get(server.url(path)).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn the_findings_list_filters_and_exports_exactly_its_rows(pool: PgPool) {
    let server = fleet_with_findings(&pool).await;
    // Open now: 1.1.1 and 4.2.1 on cp-1, 4.2.1 on worker-1; 1.2.15 resolved at hour 48.
    let rows = |html: &str| html.matches("<tr>\n<td>prod</td>").count();
    let (status, open) = text(&server, "/findings").await;
    assert_eq!(status, 200);
    assert_eq!(rows(&open), 3, "{open}");
    let (_, resolved) = text(&server, "/findings?state=resolved").await;
    assert_eq!(rows(&resolved), 1);
    assert!(resolved.contains("API server profiling is off"));
    let (_, worker) = text(&server, "/findings?node=worker-1&state=all").await;
    assert_eq!(rows(&worker), 1);
    let (_, section) = text(&server, "/findings?section=4.2").await;
    assert_eq!(rows(&section), 2);
    // Every open finding is weeks old by now (the reports are from September 2026).
    let (_, old) = text(&server, "/findings?min_age=30").await;
    assert_eq!(rows(&old), 3);
    let (_, recent) = text(&server, "/findings?min_age=3650").await;
    assert_eq!(rows(&recent), 0);
    let (_, then) = text(&server, "/findings?at=2026-09-21").await;
    assert_eq!(
        rows(&then),
        2,
        "as of the first day: 1.2.15 and 1.1.1 on cp-1"
    );

    let csv = server
        .client
        .get(server.url("/findings/export.csv?state=open"))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let disposition = csv.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"kubeward-findings-"),
        "{disposition}"
    );
    let body = csv.text().await.unwrap();
    assert!(body.starts_with("id,cluster,node,check,title"));
    // A header and the rows the page shows (the evidence cell of 1.1.1 is quoted, so count record starts).
    assert_eq!(body.matches("\r\n").count(), 1 + 3, "{body}");
    assert!(body.contains(",'=cmd|"), "formulas are neutralised: {body}");
    assert!(!body.contains(",=cmd") && !body.contains("\"=cmd"));

    let json: Vec<serde_json::Value> = server
        .client
        .get(server.url("/findings/export.json?state=open"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json.len(), 3);
    let mut checks: Vec<&str> = json
        .iter()
        .map(|line| line["check"].as_str().unwrap())
        .collect();
    checks.sort_unstable();
    assert_eq!(checks, ["1.1.1", "4.2.1", "4.2.1"]);
    for bad in [
        "/findings?state=closed",
        "/findings?min_age=-1",
        "/findings?section=%3Cscript%3E",
        "/findings?cursor=x",
        "/findings/export.csv?at=tomorrow",
    ] {
        let (status, html) = text(&server, bad).await;
        assert_eq!(status, 400, "{bad}");
        assert!(!html.contains("<script>"), "{bad}");
    }
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn the_check_page_shows_one_check_across_the_fleet(pool: PgPool) {
    let server = fleet_with_findings(&pool).await;
    let (status, html) = text(&server, "/checks/4.2.1").await;
    assert_eq!(status, 200);
    assert!(html.contains("<h1>Check 4.2.1</h1>"), "{html}");
    assert!(html.contains("href=\"/clusters/prod/nodes/worker-1\""));
    assert!(html.contains("href=\"/clusters/prod/nodes/cp-1\""));
    let (status, _) = text(&server, "/checks/9.9.9").await;
    assert_eq!(status, 404);
    let (status, html) = text(&server, "/checks/%3Cscript%3E").await;
    assert_eq!(status, 404);
    assert!(!html.contains("<script>"));
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn the_scan_diff_shows_what_opened_resolved_and_changed(pool: PgPool) {
    let server = fleet_with_findings(&pool).await;
    let (status, html) = text(&server, "/clusters/prod/nodes/cp-1/diff").await;
    assert_eq!(status, 200, "{html}");
    let section = |title: &str| {
        let start = html
            .find(title)
            .unwrap_or_else(|| panic!("{title}: {html}"));
        let rest = &html[start..];
        rest[..rest.find("</table>").unwrap()].to_owned()
    };
    let opened = section("<h2>Opened (1)</h2>");
    assert!(opened.contains(">4.2.1</a>"), "{opened}");
    let resolved = section("<h2>Resolved (1)</h2>");
    assert!(resolved.contains(">1.2.15</a>"), "{resolved}");
    let evidence = section("<h2>Evidence changed, same status (1)</h2>");
    assert!(evidence.contains(">1.1.1</a>"), "{evidence}");
    assert!(
        evidence.contains("=HYPERLINK(&#34;"),
        "shown as text: {evidence}"
    );
    // Scans of another node are not shown through this one.
    let (foreign,): (uuid::Uuid,) = sqlx::query_as(
        "SELECT s.scan_id FROM scans s JOIN nodes n ON n.id = s.node_id WHERE n.name = 'worker-1'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let path = format!("/clusters/prod/nodes/cp-1/diff?from={foreign}&to={foreign}");
    assert_eq!(text(&server, &path).await.0, 404);
    let (status, _) = text(&server, "/clusters/prod/nodes/cp-1/diff?from=nope&to=nope").await;
    assert_eq!(status, 400);
    let (status, _) = text(&server, "/clusters/prod/nodes/worker-1/diff").await;
    assert_eq!(status, 404, "one scan: nothing to compare");
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn sessions_that_ended_more_than_a_day_ago_are_forgotten(pool: PgPool) {
    let key = Key::generate();
    let (_, live) = session_cookie(&pool, &key, Role::Viewer, time::Duration::hours(1)).await;
    let (_, ended) = session_cookie(&pool, &key, Role::Viewer, time::Duration::hours(1)).await;
    let (_, expired) = session_cookie(&pool, &key, Role::Viewer, time::Duration::days(-2)).await;
    let (_, just_ended) = session_cookie(&pool, &key, Role::Viewer, time::Duration::hours(1)).await;
    sqlx::query("UPDATE web_sessions SET ended_at = now() - interval '2 days' WHERE id_hash = $1")
        .bind(&ended)
        .execute(&pool)
        .await
        .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    web_sessions::end(&mut conn, &just_ended).await.unwrap();
    assert_eq!(web_sessions::prune(&mut conn).await.unwrap(), 2);
    let left: Vec<(Vec<u8>,)> =
        sqlx::query_as("SELECT id_hash FROM web_sessions ORDER BY created_at")
            .fetch_all(&pool)
            .await
            .unwrap();
    let left: Vec<Vec<u8>> = left.into_iter().map(|(hash,)| hash).collect();
    assert!(
        left.contains(&live) && left.contains(&just_ended),
        "{left:?}"
    );
    assert!(!left.contains(&expired) && !left.contains(&ended));
}

/// Posts a form with a session cookie; answers (status, location).
async fn submit(
    oidc: &OidcServer,
    cookie: &str,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, String) {
    let response = oidc
        .client
        .post(oidc.server.url(path))
        .header("cookie", cookie)
        .form(form)
        .send()
        .await
        .unwrap();
    let location = response
        .headers()
        .get("location")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (response.status().as_u16(), location)
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn governance_forms_need_the_session_token_and_keep_the_rules(pool: PgPool) {
    let oidc = oidc_server(pool.clone()).await;
    seed(&oidc.server).await;
    let live = |role| session_cookie(&pool, &oidc.key, role, time::Duration::hours(1));
    let (viewer, _) = live(Role::Viewer).await;
    let (auditor, _) = live(Role::Auditor).await;
    let (admin, _) = live(Role::Admin).await;
    let last_day = kubeward_server::app::views::day_text(
        OffsetDateTime::now_utc().date() + time::Duration::days(10),
    );
    let request = [
        ("check", "1.2.15"),
        ("cluster", "prod"),
        ("nodes", "cp-*"),
        ("justification", "the vendor agent needs it"),
        ("expires_on", last_day.as_str()),
    ];
    // No token, another session's token, or too small a role: nothing is stored.
    let (status, _) = submit(&oidc, &admin, "/exceptions/new", &request).await;
    assert_eq!(status, 400);
    let with = |token: &'static str| {
        let mut form = request.to_vec();
        form.push(("csrf", token));
        form
    };
    assert_eq!(
        submit(
            &oidc,
            &admin,
            "/exceptions/new",
            &with("form-token-of-viewer")
        )
        .await
        .0,
        400
    );
    assert_eq!(
        submit(
            &oidc,
            &viewer,
            "/exceptions/new",
            &with("form-token-of-viewer")
        )
        .await
        .0,
        403
    );
    assert_eq!(
        submit(
            &oidc,
            &auditor,
            "/exceptions/new",
            &with("form-token-of-auditor")
        )
        .await
        .0,
        403
    );
    let (status, location) = submit(
        &oidc,
        &admin,
        "/exceptions/new",
        &with("form-token-of-admin"),
    )
    .await;
    assert_eq!((status, location.as_str()), (303, "/exceptions/2"));

    // The requester cannot approve it; an auditor can.
    let approve = [("csrf", "form-token-of-admin"), ("action", "approve")];
    assert_eq!(
        submit(&oidc, &admin, "/exceptions/2/decide", &approve)
            .await
            .0,
        400
    );
    let approve = [("csrf", "form-token-of-auditor"), ("action", "approve")];
    assert_eq!(
        submit(&oidc, &viewer, "/exceptions/2/decide", &approve)
            .await
            .0,
        403
    );
    assert_eq!(
        submit(&oidc, &auditor, "/exceptions/2/decide", &approve).await,
        (303, "/exceptions/2".to_owned())
    );
    let page = oidc
        .client
        .get(oidc.server.url("/exceptions/2"))
        .header("cookie", &auditor)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("in_force") && page.contains("cp-1"), "{page}");
    let list = oidc
        .client
        .get(oidc.server.url("/exceptions"))
        .header("cookie", &viewer)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        list.contains("accepted &#60;script&#62;alert(1)&#60;/script&#62; for now"),
        "justifications are text"
    );
    assert!(!list.contains("<script>"));

    // Attestations: auditors record and revoke.
    let attest = [
        ("csrf", "form-token-of-auditor"),
        ("check", "9.9.9"),
        ("verdict", "pass"),
        ("statement", "x"),
        ("valid_until", last_day.as_str()),
    ];
    assert_eq!(
        submit(&oidc, &auditor, "/attestations/new", &attest)
            .await
            .0,
        400
    );
    let revoke = [("csrf", "form-token-of-auditor"), ("note", "superseded")];
    assert_eq!(
        submit(&oidc, &viewer, "/attestations/1/revoke", &revoke)
            .await
            .0,
        403
    );
    assert_eq!(
        submit(&oidc, &auditor, "/attestations/1/revoke", &revoke).await,
        (303, "/attestations/1".to_owned())
    );
    assert_eq!(
        submit(&oidc, &auditor, "/attestations/1/revoke", &revoke)
            .await
            .0,
        400,
        "ended already"
    );

    // The platform bucket: admins only, with a reason; the cluster page shows the change.
    let count_them = [
        ("csrf", "form-token-of-auditor"),
        ("bucket", "off"),
        ("reason", "we run kube-proxy ourselves"),
    ];
    assert_eq!(
        submit(
            &oidc,
            &auditor,
            "/clusters/prod/platform-bucket",
            &count_them
        )
        .await
        .0,
        403
    );
    let bad = [
        ("csrf", "form-token-of-admin"),
        ("bucket", "maybe"),
        ("reason", "x"),
    ];
    assert_eq!(
        submit(&oidc, &admin, "/clusters/prod/platform-bucket", &bad)
            .await
            .0,
        400
    );
    let count_them = [
        ("csrf", "form-token-of-admin"),
        ("bucket", "off"),
        ("reason", "we run kube-proxy ourselves"),
    ];
    assert_eq!(
        submit(&oidc, &admin, "/clusters/prod/platform-bucket", &count_them).await,
        (303, "/clusters/prod#policies".to_owned())
    );
    let cluster = oidc
        .client
        .get(oidc.server.url("/clusters/prod"))
        .header("cookie", &viewer)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        cluster.contains("counted like any other object")
            && cluster.contains("we run kube-proxy ourselves"),
        "{cluster}"
    );
    assert!(
        !cluster.contains("Count platform-owned objects")
            && !cluster.contains("Set platform-owned objects apart"),
        "a viewer is not offered the form"
    );

    // Every step is in the trail, with the session's person, and the auditor sees it.
    let actions: Vec<(String, String)> =
        sqlx::query_as("SELECT action, actor_id FROM audit_log ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(actions.contains(&(
        "exception.request".to_owned(),
        "oidc:admin-subject".to_owned()
    )));
    assert!(actions.contains(&(
        "exception.approve".to_owned(),
        "oidc:auditor-subject".to_owned()
    )));
    assert!(actions.contains(&(
        "attestation.revoke".to_owned(),
        "oidc:auditor-subject".to_owned()
    )));
    assert!(actions.contains(&(
        "cluster.platform_bucket".to_owned(),
        "oidc:admin-subject".to_owned()
    )));
    let trail = oidc
        .client
        .get(oidc.server.url("/audit?action=exception.approve"))
        .header("cookie", &auditor)
        .send()
        .await
        .unwrap();
    assert_eq!(trail.status(), 200);
    assert!(trail.text().await.unwrap().contains("oidc:auditor-subject"));
    let export = oidc
        .client
        .get(oidc.server.url("/audit/export.csv"))
        .header("cookie", &auditor)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(export.contains("audit.export"), "the export records itself");
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn every_page_form_is_refused_without_the_session_token_before_its_handler_runs(
    pool: PgPool,
) {
    // Local mode: the visitor is an admin, so only the form token can stop a post.
    let server = TestServer::start(pool.clone()).await;
    let forms: Vec<&str> = PAGE_RULES
        .iter()
        .map(|(path, _)| *path)
        .filter(|path| kubeward_server::web::page_methods(path) == Some(vec!["POST"]))
        .collect();
    assert!(forms.len() >= 4, "{forms:?}");
    for form in forms {
        // Ids that do not exist: a handler that ran would answer 404, not the form check's 400.
        let path = form.replace("{id}", "999");
        for body in [
            String::new(),
            "csrf=".to_owned(),
            "csrf=not-this-session%27%3B--&action=approve".to_owned(),
            "csrf=%3Cscript%3Ealert(1)%3C%2Fscript%3E&csrf=x".to_owned(),
        ] {
            let response = server
                .client
                .post(server.url(&path))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 400, "{path} with {body:?}");
            let page = response.text().await.unwrap();
            assert!(
                page.contains("not from this session") || page.contains("cannot be read"),
                "{path}: {page}"
            );
            assert!(!page.contains("<script>alert"));
        }
    }
    assert_eq!(common::count(&pool, "exceptions").await, 0);
    assert_eq!(common::count(&pool, "attestations").await, 0);
    assert_eq!(
        common::count(&pool, "audit_log").await,
        0,
        "a refused form leaves no record"
    );
}
