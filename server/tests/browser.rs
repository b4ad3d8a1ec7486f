//! End to end in a real browser: headless Chromium driven over WebDriver (chromedriver) against the real
//! server and a real OpenID provider. An auditor logs in, walks from the fleet to a node's evidence and on to
//! one check across the fleet, exports the findings as CSV, looks at a past day, signs out (here and at the
//! provider); a person with no group gets the 403 page; and walks to one Deployment's failing init container
//! the same way. Screenshots of
//! the pages are kept in `target/e2e-screenshots/`.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop loudly at the first unexpected error"
)]

mod common;

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use actix_web::cookie::Key;
use common::provider::server_with_login;
use common::{cluster_report, report};
use fantoccini::{Client, ClientBuilder, Locator};
use kubeward_benchmark::Status;
use sqlx::PgPool;
use time::OffsetDateTime;

/// chromedriver in its own process group; dropping it ends the group, Chromium included, even when the test
/// fails before closing its session.
struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

fn start_driver() -> Driver {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect(
            "chromedriver is installed (Debian package chromium-driver; scripts/test installs it)",
        );
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _profile: tempfile::tempdir().unwrap(),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    driver
}

async fn browser(driver: &Driver) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        serde_json::json!({
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                "--window-size=1400,1100",
                format!("--user-data-dir={}", driver._profile.path().display()),
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name} is a PNG");
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

async fn text_of(browser: &Client, css: &str) -> String {
    browser
        .wait()
        .for_element(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Signs in at the provider's own pages (its development login and consent forms), until the browser is
/// sent back to `home`.
async fn sign_in_at_provider(browser: &Client, user: &str, home: &str) {
    let login = browser
        .wait()
        .for_element(Locator::Css("input[name=login]"))
        .await
        .unwrap();
    login.send_keys(user).await.unwrap();
    browser
        .find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys(user)
        .await
        .unwrap();
    browser
        .find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The consent page comes the first time a user meets the client; then the provider sends the browser home.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let url = browser.current_url().await.unwrap();
        if url.as_str().starts_with(home) {
            return;
        }
        if let Ok(button) = browser
            .find(Locator::Css(
                "form:has(input[name=prompt][value=consent]) button[type=submit]",
            ))
            .await
        {
            let _ = button.click().await;
        }
        if Instant::now() > deadline {
            let page = browser.source().await.unwrap_or_default();
            panic!("the provider kept the browser at {url}:\n{page}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_for_path(browser: &Client, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let url = browser.current_url().await.unwrap();
        if url.path() == path {
            return;
        }
        assert!(Instant::now() < deadline, "still at {url}, expected {path}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn an_auditor_walks_from_the_fleet_to_a_nodes_evidence_today_and_in_the_past(pool: PgPool) {
    let (server, provider) = server_with_login(pool, Key::generate()).await;

    // prod/cp-1 failed 1.2.15 three days ago, with hostile evidence, and was fixed yesterday.
    let (_, agent) = server.enroll("prod").await;
    let now = OffsetDateTime::now_utc();
    let mut failing = report(
        "cp-1",
        now - time::Duration::days(3),
        &[("1.2.15", Status::Fail)],
    );
    for result in &mut failing.results {
        if result.check == "1.2.15" {
            result.evidence[0].observed = "<script>alert('evidence')</script>".to_owned();
        }
    }
    assert_eq!(server.post(&agent, &failing).await.status(), 201);
    let fixed = report(
        "cp-1",
        now - time::Duration::days(1),
        &[("1.1.1", Status::Fail)],
    );
    assert_eq!(server.post(&agent, &fixed).await.status(), 201);
    let past_day = {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        (now - time::Duration::days(3))
            .date()
            .format(&format)
            .unwrap()
    };

    let driver = start_driver();
    let browser = browser(&driver).await;
    let outcome = async {
        // Not signed in: the fleet sends the browser to the provider, and back after the login.
        browser.goto(&server.url("/")).await.unwrap();
        sign_in_at_provider(&browser, "auditor", &server.base).await;
        wait_for_path(&browser, "/").await;
        assert_eq!(text_of(&browser, "h1").await, "Fleet");
        assert_eq!(text_of(&browser, ".who .name").await, "auditor@example.com");
        assert_eq!(text_of(&browser, ".who .role").await, "auditor");
        // The session keeps no ID token: a copy of its row is no credential anywhere.
        let (sessions, with_tokens): (i64, i64) = sqlx::query_as(
            "SELECT count(*), count(id_token) FROM web_sessions WHERE ended_at IS NULL",
        )
        .fetch_one(&server.pool)
        .await
        .unwrap();
        assert_eq!((sessions, with_tokens), (1, 0));
        screenshot(&browser, "fleet").await;

        // Fleet → cluster → node.
        browser
            .find(Locator::LinkText("prod"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for_path(&browser, "/clusters/prod").await;
        assert_eq!(text_of(&browser, "h1").await, "Cluster prod");
        screenshot(&browser, "cluster").await;
        browser
            .find(Locator::LinkText("cp-1"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for_path(&browser, "/clusters/prod/nodes/cp-1").await;
        assert_eq!(text_of(&browser, "h1").await, "Node cp-1");
        screenshot(&browser, "node").await;
        // Node → one check across the fleet.
        browser
            .find(Locator::LinkText("1.2.15"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for_path(&browser, "/checks/1.2.15").await;
        assert_eq!(text_of(&browser, "h1").await, "Check 1.2.15");
        screenshot(&browser, "check").await;

        // The findings list and its CSV export, fetched with the browser's own session.
        browser
            .find(Locator::LinkText("Findings"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for_path(&browser, "/findings").await;
        assert!(text_of(&browser, "table.findings").await.contains("1.1.1"));
        screenshot(&browser, "findings").await;
        let href = browser
            .find(Locator::LinkText("CSV"))
            .await
            .unwrap()
            .attr("href")
            .await
            .unwrap()
            .unwrap();
        let session = browser.get_named_cookie("kubeward_session").await.unwrap();
        let export = reqwest::Client::new()
            .get(server.url(&href))
            .header("cookie", format!("kubeward_session={}", session.value()))
            .send()
            .await
            .unwrap();
        assert_eq!(export.status(), 200);
        assert_eq!(export.headers()["content-type"], "text/csv; charset=utf-8");
        let csv = export.text().await.unwrap();
        assert!(csv.starts_with("id,cluster,node,check"), "{csv}");
        assert!(csv.contains(",prod,cp-1,1.1.1,"), "{csv}");

        // The past: 1.2.15 was failing, with its evidence shown as text, and links keep the day.
        browser
            .goto(&server.url(&format!("/clusters/prod/nodes/cp-1?at={past_day}")))
            .await
            .unwrap();
        assert!(text_of(&browser, ".banner.as-of").await.contains(&past_day));
        let evidence = text_of(&browser, "tr.status-fail .evidence").await;
        assert!(
            evidence.contains("<script>alert('evidence')</script>"),
            "{evidence}"
        );
        screenshot(&browser, "node-as-of").await;
        browser
            .find(Locator::LinkText("Cluster prod"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for_path(&browser, "/clusters/prod").await;
        let url = browser.current_url().await.unwrap();
        assert_eq!(
            url.query(),
            Some(format!("at={past_day}").as_str()),
            "the link kept the day"
        );
        assert!(
            text_of(&browser, "main")
                .await
                .contains("API server profiling is off")
        );

        // Sign out: here, then at the provider, then back on kubeward's signed-out page.
        browser
            .find(Locator::Css("header form button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        // The sign-out form may still be on screen for a moment: look for the provider's button only once the
        // browser has left this server, or the element found goes stale under the navigation.
        let ours = server.url("/");
        let deadline = Instant::now() + Duration::from_secs(20);
        while browser
            .current_url()
            .await
            .unwrap()
            .as_str()
            .starts_with(&ours)
        {
            assert!(
                Instant::now() < deadline,
                "the sign-out never left this server"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let confirm = browser
            .wait()
            .for_element(Locator::Css(
                "button[name=logout], form button[type=submit]",
            ))
            .await
            .unwrap();
        confirm.click().await.unwrap();
        wait_for_path(&browser, "/logged-out").await;
        assert_eq!(text_of(&browser, "h1").await, "Signed out");
        // The session is gone: the fleet asks for a login again.
        browser.goto(&server.url("/")).await.unwrap();
        browser
            .wait()
            .for_element(Locator::Css("input[name=login]"))
            .await
            .unwrap();

        // Someone in no group is refused with the 403 page.
        sign_in_at_provider(&browser, "nobody", &server.base).await;
        wait_for_path(&browser, "/auth/callback").await;
        assert_eq!(text_of(&browser, "h1").await, "403 · No access");
        assert!(
            text_of(&browser, "main")
                .await
                .contains("nobody@example.com")
        );
        screenshot(&browser, "forbidden").await;
    }
    .await;
    browser.close().await.unwrap();
    drop(driver);
    drop(provider);
    outcome
}

/// An auditor walks from the fleet to one Deployment's privileged init container: the cluster's policies, the
/// object's page with the field that decided, the same object as of the day it failed (it is fixed today),
/// and the findings of that kind exported as CSV.
#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn an_auditor_walks_from_the_fleet_to_a_deployments_privileged_init_container(pool: PgPool) {
    let (server, provider) = server_with_login(pool, Key::generate()).await;
    let (_, agent) = server.enroll("prod").await;
    let now = OffsetDateTime::now_utc();
    let cart = ("Deployment", "shop", "cart", Status::Warn);
    let failing = cluster_report(
        now - time::Duration::days(3),
        &[("5.2.2", Status::Warn, &[cart])],
    );
    assert_eq!(server.post_cluster(&agent, &failing).await.status(), 201);
    // Today the init container is no longer privileged, but another workload is.
    let web = ("Deployment", "shop", "web", Status::Warn);
    let today = cluster_report(now, &[("5.2.2", Status::Warn, &[web])]);
    assert_eq!(server.post_cluster(&agent, &today).await.status(), 201);
    let past_day = {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        (now - time::Duration::days(3))
            .date()
            .format(&format)
            .unwrap()
    };

    let driver = start_driver();
    let browser = browser(&driver).await;
    let outcome = async {
        browser.goto(&server.url("/")).await.unwrap();
        sign_in_at_provider(&browser, "auditor", &server.base).await;
        wait_for_path(&browser, "/").await;
        assert!(text_of(&browser, "main").await.contains("Policy score"));
        browser
            .find(Locator::LinkText("prod"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for_path(&browser, "/clusters/prod").await;
        let policies = text_of(&browser, "table.policies").await;
        assert!(policies.contains("5.2.2"), "{policies}");
        screenshot(&browser, "cluster-policies").await;
        // Today's failing object, from the cluster's open findings.
        browser
            .find(Locator::LinkText("Deployment shop/web"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for_path(&browser, "/clusters/prod/objects/Deployment/shop/web").await;
        assert_eq!(text_of(&browser, "h1").await, "Deployment shop/web");
        let evidence = text_of(&browser, "table.evidence").await;
        assert!(
            evidence.contains("spec.template.spec.initContainers[0].securityContext.privileged"),
            "{evidence}"
        );
        screenshot(&browser, "object").await;

        // The day cart failed: the cluster page of that day links to it, and its page shows the evidence.
        browser
            .goto(&server.url(&format!("/clusters/prod?at={past_day}")))
            .await
            .unwrap();
        browser
            .find(Locator::LinkText("Deployment shop/cart"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for_path(&browser, "/clusters/prod/objects/Deployment/shop/cart").await;
        let url = browser.current_url().await.unwrap();
        assert_eq!(url.query(), Some(format!("at={past_day}").as_str()));
        assert!(text_of(&browser, ".banner.as-of").await.contains(&past_day));
        assert!(text_of(&browser, "section.finding").await.contains("open"));
        screenshot(&browser, "object-as-of").await;

        // Findings of that kind, exported with the browser's session.
        browser
            .goto(&server.url("/findings?kind=Deployment&state=all"))
            .await
            .unwrap();
        let listed = text_of(&browser, "table.findings").await;
        assert!(listed.contains("Deployment shop/cart") && listed.contains("Deployment shop/web"));
        let href = browser
            .find(Locator::LinkText("CSV"))
            .await
            .unwrap()
            .attr("href")
            .await
            .unwrap()
            .unwrap();
        assert!(href.contains("kind=Deployment"), "{href}");
        let session = browser.get_named_cookie("kubeward_session").await.unwrap();
        let csv = reqwest::Client::new()
            .get(server.url(&href))
            .header("cookie", format!("kubeward_session={}", session.value()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(csv.lines().count(), 3, "{csv}");
        assert!(
            csv.lines()
                .skip(1)
                .all(|line| line.contains(",Deployment,shop,")),
            "{csv}"
        );
    }
    .await;
    browser.close().await.unwrap();
    drop(driver);
    drop(provider);
    outcome
}

/// The attack of the security test on the real binary: after a real login, copy the session row and use
/// its ID token at the API. The row holds no token any more.
#[test]
fn the_real_server_keeps_no_id_token_after_a_real_login() {
    use common::process::{Running, command, data_dir, drop_database, fresh_database_url};
    use common::provider::{CLIENT_ID, CLIENT_SECRET, Provider, free_port};
    let port = free_port();
    let public_url = format!("http://127.0.0.1:{port}");
    let provider = Provider::start(&public_url);
    let (url, name) = fresh_database_url();
    let (_dir, data) = data_dir();
    let mut serve = command(Some(&url));
    serve
        .env("KUBEWARD_DATA_DIR", &data)
        .env("KUBEWARD_OIDC_ISSUER", &provider.issuer)
        .env("KUBEWARD_OIDC_CLIENT_ID", CLIENT_ID)
        .env("KUBEWARD_OIDC_CLIENT_SECRET", CLIENT_SECRET)
        .env("KUBEWARD_OIDC_SCOPES", "email,groups")
        .env("KUBEWARD_OIDC_ROLES", "kubeward-auditors=auditor")
        .env("KUBEWARD_PUBLIC_URL", &public_url);
    let running = Running::start_on(serve, &format!("127.0.0.1:{port}"), &[]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let driver = start_driver();
    runtime.block_on(async {
        let browser = browser(&driver).await;
        let outcome = async {
            browser.goto(&format!("{public_url}/")).await.unwrap();
            sign_in_at_provider(&browser, "auditor", &public_url).await;
            wait_for_path(&browser, "/").await;
            assert_eq!(text_of(&browser, ".who .role").await, "auditor");
        }
        .await;
        browser.close().await.unwrap();
        outcome
    });
    drop(driver);
    let output = Command::new("psql")
        .arg(&url)
        .args([
            "-tAq",
            "-c",
            "SELECT count(*) || ',' || count(id_token) FROM web_sessions WHERE ended_at IS NULL",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "1,0");
    running.stop();
    drop(provider);
    drop_database(&name);
}
