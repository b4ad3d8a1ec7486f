//! The real `kubeward-server` binary: zero-configuration start, database creation, the enrollment CLI,
//! graceful shutdown, and no secret in its logs.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop loudly at the first unexpected error"
)]

mod common;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::process::*;
use common::{at, report};
use kubeward_benchmark::Status;

#[test]
fn with_no_database_url_the_server_runs_and_stops_its_own_postgresql() {
    let (_dir, data) = data_dir();
    let data_arg = [std::ffi::OsStr::new("--data-dir"), data.as_os_str()];
    // First start: initialises a cluster under the data directory.
    let running = Running::start(command(None), &data_arg);
    assert!(embedded_postgres_running(&data));
    let enrolled = cli(
        None,
        &data,
        &["cluster", "add", "prod", "--label", "env=prod"],
    );
    assert!(enrolled.status.success(), "{}", stderr(&enrolled));
    let token = last_line(&enrolled);
    assert!(token.starts_with("kwa_"), "{token}");
    let body = serde_json::to_vec(&report("cp-1", at(0), &[("1.1.1", Status::Fail)])).unwrap();
    assert_eq!(post_report(&running.base, &token, &body), 201);
    let logs = running.stop();
    assert!(
        logs.contains("initialised the embedded PostgreSQL cluster"),
        "{logs}"
    );
    assert!(logs.contains("stopped the embedded PostgreSQL"), "{logs}");
    assert!(
        !embedded_postgres_running(&data),
        "PostgreSQL still runs after the server stopped"
    );
    // No TCP port was opened: the cluster listens on its socket only.
    let conf = std::fs::read_to_string(data.join("postgres/postgresql.conf")).unwrap();
    assert!(conf.contains("listen_addresses = ''"));

    // Second start: reuses the cluster, and the history is still there.
    let running = Running::start(command(None), &data_arg);
    assert_eq!(
        post_report(&running.base, &token, &body),
        200,
        "the scan was kept"
    );
    let listing = cli(None, &data, &["cluster", "list"]);
    assert!(stdout(&listing).contains("prod"), "{}", stdout(&listing));
    let logs = running.stop();
    assert!(!logs.contains("initialised"), "{logs}");
    assert!(!embedded_postgres_running(&data));
}

#[test]
fn a_database_url_naming_a_missing_database_gets_it_created() {
    let (url, name) = fresh_database_url();
    let (_dir, data) = data_dir();
    let running = Running::start(command(Some(&url)), &[]);
    let logs = running.stop();
    assert!(
        logs.contains("the database does not exist yet; creating it"),
        "{logs}"
    );
    let listing = cli(Some(&url), &data, &["cluster", "list"]);
    assert!(listing.status.success(), "{}", stderr(&listing));
    drop_database(&name);
}

#[test]
fn the_cli_enrolls_clusters_and_issues_and_revokes_tokens() {
    let (url, name) = fresh_database_url();
    let (_dir, data) = data_dir();
    let added = cli(
        Some(&url),
        &data,
        &[
            "cluster",
            "add",
            "prod",
            "--label",
            "env=prod",
            "--label",
            "team=platform",
        ],
    );
    assert!(added.status.success(), "{}", stderr(&added));
    let first = last_line(&added);
    let another = cli(Some(&url), &data, &["cluster", "token", "prod"]);
    assert!(another.status.success(), "{}", stderr(&another));
    let second = last_line(&another);
    assert_ne!(first, second);
    // At least 128 bits of randomness: 43 base64url characters carry 256.
    assert_eq!(second.len(), "kwa_".len() + 43);

    let listing = cli(Some(&url), &data, &["cluster", "list", "--tokens"]);
    let text = stdout(&listing);
    assert!(text.contains("env=prod,team=platform"), "{text}");
    assert!(
        !text.contains(&first) && !text.contains(&second),
        "a listing must not show tokens"
    );
    let token_id = stdout(&another)
        .split_whitespace()
        .nth(2)
        .unwrap()
        .to_owned();
    assert!(text.contains(&token_id), "{text}");

    let running = Running::start(command(Some(&url)), &[]);
    let body = serde_json::to_vec(&report("cp-1", at(0), &[])).unwrap();
    assert_eq!(post_report(&running.base, &second, &body), 201);
    let revoked = cli(Some(&url), &data, &["cluster", "revoke-token", &token_id]);
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    let other = serde_json::to_vec(&report("cp-1", at(1), &[])).unwrap();
    assert_eq!(post_report(&running.base, &second, &other), 401);
    assert_eq!(
        post_report(&running.base, &first, &other),
        201,
        "the other token still works"
    );
    let logs = running.stop();
    for token in [&first, &second] {
        assert!(!logs.contains(token.as_str()), "a token reached the log");
    }

    let again = cli(Some(&url), &data, &["cluster", "revoke-token", &token_id]);
    assert!(stdout(&again).contains("was revoked before"));
    let unknown = cli(
        Some(&url),
        &data,
        &["cluster", "revoke-token", &uuid::Uuid::now_v7().to_string()],
    );
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr(&unknown).contains("no agent token"));
    let duplicate = cli(Some(&url), &data, &["cluster", "add", "prod"]);
    assert_eq!(duplicate.status.code(), Some(1));
    assert!(stderr(&duplicate).contains("a cluster named prod exists already"));
    let bad_name = cli(Some(&url), &data, &["cluster", "add", "Prod_1"]);
    assert_eq!(bad_name.status.code(), Some(1));
    assert!(stderr(&bad_name).contains("is not valid"));
    let bad_label = cli(
        Some(&url),
        &data,
        &["cluster", "add", "dev", "--label", "novalue"],
    );
    assert_eq!(bad_label.status.code(), Some(1));
    let missing = cli(Some(&url), &data, &["cluster", "token", "nope"]);
    assert!(stderr(&missing).contains("no cluster named nope"));
    let usage = command(Some(&url))
        .args(["cluster", "add"])
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));
    drop_database(&name);
}

#[test]
fn nodes_without_recent_reports_are_listed_as_stale() {
    let (url, name) = fresh_database_url();
    let (_dir, data) = data_dir();
    let token = last_line(&cli(Some(&url), &data, &["cluster", "add", "prod"]));
    let running = Running::start(command(Some(&url)), &[]);
    let now = time::OffsetDateTime::now_utc();
    let fresh = serde_json::to_vec(&report("fresh-1", now, &[])).unwrap();
    let old = serde_json::to_vec(&report("old-1", now - time::Duration::days(2), &[])).unwrap();
    assert_eq!(post_report(&running.base, &token, &fresh), 201);
    assert_eq!(post_report(&running.base, &token, &old), 201);
    running.stop();
    let listing = stdout(&cli(
        Some(&url),
        &data,
        &["node", "list", "--stale-after", "24h"],
    ));
    let line = |node: &str| {
        listing
            .lines()
            .find(|line| line.contains(node))
            .unwrap()
            .to_owned()
    };
    assert!(line("old-1").ends_with("stale"), "{listing}");
    assert!(line("fresh-1").ends_with('-'), "{listing}");
    assert!(
        line("fresh-1").contains("control-plane,worker"),
        "{listing}"
    );
    let wider = stdout(&cli(
        Some(&url),
        &data,
        &["node", "list", "--stale-after", "3d"],
    ));
    assert!(!wider.contains("stale\n"), "{wider}");
    let clusters = stdout(&cli(Some(&url), &data, &["cluster", "list"]));
    assert!(
        clusters
            .lines()
            .any(|line| line.starts_with("prod") && line.split_whitespace().nth(2) == Some("1")),
        "{clusters}"
    );
    drop_database(&name);
}

#[test]
fn logs_can_be_json_and_never_show_the_database_password() {
    let (url, name) = fresh_database_url();
    // Trust authentication ignores the password, which lets the test put one in the URL.
    let with_password = url.replacen("postgres@", "postgres:pw-s3cret-9@", 1);
    assert_ne!(with_password, url);
    let mut serve = command(Some(&with_password));
    serve.env("KUBEWARD_LOG", "debug");
    let running = Running::start(
        serve,
        &[
            std::ffi::OsStr::new("--log-format"),
            std::ffi::OsStr::new("json"),
        ],
    );
    let logs = running.stop();
    assert!(
        !logs.contains("pw-s3cret-9"),
        "the password reached the log"
    );
    let lines: Vec<&str> = logs
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    assert!(!lines.is_empty());
    for line in lines {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|err| panic!("{err}: {line}"));
    }
    let help = command(Some(&with_password))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(!stdout(&help).contains("pw-s3cret-9"));
    drop_database(&name);
}

#[test]
fn serve_demo_fills_months_of_history_once() {
    let (url, name) = fresh_database_url();
    let (_dir, data) = data_dir();
    let running = Running::start(command(Some(&url)), &[std::ffi::OsStr::new("--demo")]);
    running.stop();
    let scalar = |sql: &str| {
        let output = Command::new("psql")
            .arg(&url)
            .args(["-tAc", sql])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    assert_eq!(
        scalar("SELECT string_agg(name, ',' ORDER BY name) FROM clusters"),
        "demo-prod-eu,demo-prod-us,demo-staging"
    );
    assert_eq!(scalar("SELECT count(*) FROM nodes"), "21");
    assert_eq!(scalar("SELECT count(*) FROM scans"), "1890");
    assert_eq!(
        scalar("SELECT count(DISTINCT finished_at::date) FROM scans"),
        "90"
    );
    // Deviations come and go: findings resolved as well as open, with events for both.
    assert_ne!(
        scalar("SELECT count(*) FROM findings WHERE state = 'resolved'"),
        "0"
    );
    assert_ne!(
        scalar("SELECT count(*) FROM finding_events WHERE kind = 'resolved'"),
        "0"
    );
    // A second start leaves the demo as it is.
    let running = Running::start(command(Some(&url)), &[std::ffi::OsStr::new("--demo")]);
    let logs = running.stop();
    assert!(logs.contains("exists already"), "{logs}");
    assert_eq!(scalar("SELECT count(*) FROM scans"), "1890");
    let listing = stdout(&cli(Some(&url), &data, &["cluster", "list"]));
    assert!(listing.contains("env=prod,region=eu"), "{listing}");
    drop_database(&name);
}

#[test]
fn api_tokens_are_created_listed_and_revoked_from_the_cli() {
    let (url, name) = fresh_database_url();
    let (_dir, data) = data_dir();
    let created = cli(
        Some(&url),
        &data,
        &[
            "token",
            "create",
            "--name",
            "jira sync",
            "--role",
            "auditor",
            "--expires",
            "30d",
        ],
    );
    assert!(created.status.success(), "{}", stderr(&created));
    let token = last_line(&created);
    assert!(token.starts_with("kwt_") && token.len() == 47, "{token}");
    let token_id = stdout(&created)
        .split_whitespace()
        .nth(2)
        .unwrap()
        .to_owned();
    let listing = stdout(&cli(Some(&url), &data, &["token", "list"]));
    assert!(
        listing.contains("jira sync") && listing.contains("auditor") && listing.contains(&token_id),
        "{listing}"
    );
    assert!(
        !listing.contains(&token),
        "a listing must not show the token"
    );

    let running = Running::start(command(Some(&url)), &[]);
    let port: u16 = running.base.rsplit(':').next().unwrap().parse().unwrap();
    let status = |path: &str| {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        use std::io::Write;
        write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response.split(' ').nth(1).unwrap().to_owned()
    };
    assert_eq!(status("/api/v1/clusters"), "200");
    let revoked = cli(Some(&url), &data, &["token", "revoke", &token_id]);
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    assert_eq!(status("/api/v1/clusters"), "401");
    let logs = running.stop();
    assert!(!logs.contains(&token), "the token reached the log");

    let never = cli(
        Some(&url),
        &data,
        &[
            "token",
            "create",
            "--name",
            "ops",
            "--role",
            "admin",
            "--expires",
            "never",
        ],
    );
    assert!(stdout(&never).contains("never expires"));
    let bad_role = command(Some(&url))
        .args(["token", "create", "--name", "x", "--role", "root"])
        .output()
        .unwrap();
    assert_eq!(bad_role.status.code(), Some(2));
    let bad_expiry = cli(
        Some(&url),
        &data,
        &[
            "token",
            "create",
            "--name",
            "x",
            "--role",
            "viewer",
            "--expires",
            "soon",
        ],
    );
    assert_eq!(bad_expiry.status.code(), Some(1));
    let unknown = cli(
        Some(&url),
        &data,
        &["token", "revoke", &uuid::Uuid::now_v7().to_string()],
    );
    assert_eq!(unknown.status.code(), Some(1));
    drop_database(&name);
}

#[test]
fn without_oidc_the_server_refuses_to_listen_beyond_loopback() {
    let (url, name) = fresh_database_url();
    let (_dir, data) = data_dir();
    for address in ["0.0.0.0:0", "[::]:0"] {
        // Beyond loopback, plain HTTP only by an explicit choice; and even then, not without a login.
        let output = cli(Some(&url), &data, &["serve", "--bind", address]);
        assert_eq!(output.status.code(), Some(1), "{address}");
        let message = stderr(&output);
        assert!(
            message.contains("refusing to serve plain HTTP"),
            "{message}"
        );
        assert!(message.contains("--tls-cert"), "{message}");
        let output = cli(
            Some(&url),
            &data,
            &["serve", "--bind", address, "--plain-http"],
        );
        assert_eq!(output.status.code(), Some(1), "{address}");
        let message = stderr(&output);
        assert!(message.contains("local mode"), "{message}");
        assert!(message.contains("--oidc-issuer"), "{message}");
    }
    // On loopback, local mode serves the pages with its banner.
    let mut serve = command(Some(&url));
    serve.env("KUBEWARD_DATA_DIR", &data);
    let running = Running::start(serve, &[]);
    let page = http_probe::get(&format!("{}/", running.base)).unwrap();
    assert!(page.contains("Local mode: authentication is off"), "{page}");
    running.stop();
    let key = std::fs::read_to_string(data.join("session.key")).unwrap();
    assert_eq!(
        key.trim().len(),
        128,
        "a 64-byte key, in hex, kept for the next start"
    );
    let mode = std::fs::metadata(data.join("session.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    drop_database(&name);
}

/// Sends one API request with a token; answers (status, body).
fn api_call(
    base: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = client
            .request(method, format!("{base}{path}"))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    })
}

#[test]
fn an_admin_action_leaves_one_audit_shape_whether_the_cli_or_the_api_took_it() {
    let (url, name) = fresh_database_url();
    let (_dir, data) = data_dir();
    let cli_ok = |args: &[&str]| {
        let output = cli(Some(&url), &data, args);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        output
    };
    cli_ok(&[
        "cluster", "add", "prod", "--label", "env=prod", "--label", "team=a",
    ]);
    let admin = last_line(&cli_ok(&[
        "token",
        "create",
        "--name",
        "ops",
        "--role",
        "admin",
        "--expires",
        "30d",
    ]));
    let running = Running::start(command(Some(&url)), &[]);
    let base = running.base.clone();
    let (status, enrolled) = api_call(
        &base,
        &admin,
        "POST",
        "/api/v1/clusters",
        Some(serde_json::json!({"name": "stage", "labels": {"env": "prod", "team": "a"}})),
    );
    assert_eq!(status, 201, "{enrolled}");
    let stage_token: serde_json::Value = serde_json::from_str(&enrolled).unwrap();
    let stage_token_id = stage_token["agent_token"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, issued) = api_call(
        &base,
        &admin,
        "POST",
        "/api/v1/api-tokens",
        Some(serde_json::json!({"name": "ops", "role": "admin", "expires_in_days": 30})),
    );
    assert_eq!(status, 201, "{issued}");
    // Revoked twice from each door: the repeat changes nothing and records nothing.
    for _ in 0..2 {
        let (status, _) = api_call(
            &base,
            &admin,
            "DELETE",
            &format!("/api/v1/agent-tokens/{stage_token_id}"),
            None,
        );
        assert_eq!(status, 204);
    }
    running.stop();
    let prod_token_id = stdout(&cli_ok(&["cluster", "token", "prod"]))
        .split_whitespace()
        .nth(2)
        .unwrap()
        .to_owned();
    cli_ok(&["cluster", "revoke-token", &prod_token_id]);
    assert!(
        stdout(&cli_ok(&["cluster", "revoke-token", &prod_token_id]))
            .contains("was revoked before")
    );

    let records = Command::new("psql")
        .arg(&url)
        .args([
            "-tAc",
            "SELECT json_agg(json_build_object('actor', actor_id, 'action', action, 'detail', detail::json) ORDER BY id) FROM audit_log",
        ])
        .output()
        .unwrap();
    let records: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&records.stdout).trim()).unwrap();
    let records = records.as_array().unwrap();
    let of = |action: &str, from_cli: bool| -> Vec<&serde_json::Value> {
        records
            .iter()
            .filter(|record| {
                record["action"] == action
                    && record["actor"].as_str().unwrap().starts_with("cli:") == from_cli
            })
            .map(|record| &record["detail"])
            .collect()
    };
    let shape = |detail: &serde_json::Value| -> Vec<(String, &'static str)> {
        detail
            .as_object()
            .unwrap()
            .iter()
            .map(|(key, value)| {
                let kind = match value {
                    serde_json::Value::Object(_) => "object",
                    serde_json::Value::Array(_) => "array",
                    serde_json::Value::String(_) => "string",
                    serde_json::Value::Null => "null",
                    _ => "other",
                };
                (key.clone(), kind)
            })
            .collect()
    };
    for action in ["cluster.enroll", "api_token.issue", "agent_token.revoke"] {
        let (from_cli, from_api) = (of(action, true), of(action, false));
        assert_eq!(from_cli.len(), 1, "{action} from the CLI: {records:#?}");
        assert_eq!(from_api.len(), 1, "{action} from the API: {records:#?}");
        assert_eq!(shape(from_cli[0]), shape(from_api[0]), "{action}");
    }
    let labels = |from_cli| of("cluster.enroll", from_cli)[0]["labels"].clone();
    assert_eq!(labels(true), labels(false));
    assert_eq!(
        labels(true),
        serde_json::json!({"env": "prod", "team": "a"})
    );
    drop_database(&name);
}
