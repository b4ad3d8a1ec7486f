//! The attacks of the 2026-11-30 security test, replayed against the real `kubeward-server` binary: each
//! test performs one and checks that it now does no harm.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop loudly at the first unexpected error"
)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::process::*;
use common::report;
use kubeward_benchmark::Status;

/// One HTTP/1.1 exchange over a fresh connection: the status, the head (lower-cased names) and the body.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }
}

fn address(base: &str) -> String {
    base.trim_start_matches("http://").to_owned()
}

/// Sends `head` (request line and headers, without the blank line) and `body`, then reads the answer. A
/// server that answers before reading the whole body may close the connection while the body is still being
/// written: the answer is read all the same.
fn exchange(base: &str, head: &str, body: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(address(base)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream
        .write_all(format!("{head}\r\nConnection: close\r\n\r\n").as_bytes())
        .unwrap();
    let _ = stream.write_all(body);
    read_answer(&mut stream)
}

fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut raw = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => raw.extend_from_slice(&buffer[..read]),
            // A reset after the answer arrived (the server closed with unread body bytes) ends the read.
            Err(_) if !raw.is_empty() => break,
            Err(err) => panic!("no answer: {err}"),
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {head:?}"));
    Answer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// The peak resident memory of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// `prefix` then `megabytes` MiB of one letter, gzipped: a few hundred KiB on the wire.
fn gzip_bomb(prefix: &[u8], megabytes: usize) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(prefix).unwrap();
    let chunk = vec![b'a'; 1024 * 1024];
    for _ in 0..megabytes {
        encoder.write_all(&chunk).unwrap();
    }
    encoder.finish().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// A server in local mode on a fresh database, with an enrolled cluster; returns it with its agent token.
fn server_with_cluster(extra: &[&str]) -> (Running, String, String, tempfile::TempDir) {
    let (url, name) = fresh_database_url();
    let (dir, data) = data_dir();
    let token = last_line(&cli(Some(&url), &data, &["cluster", "add", "prod"]));
    let extra: Vec<&std::ffi::OsStr> = extra.iter().map(std::ffi::OsStr::new).collect();
    let running = Running::start(command(Some(&url)), &extra);
    (running, token, name, dir)
}

/// A server in local mode on a fresh database, with an admin API token; returns it with the token, the
/// database URL and name, and the directory holding its data directory.
fn server_with_admin() -> (Running, String, String, String, tempfile::TempDir) {
    let (url, name) = fresh_database_url();
    let (dir, data) = data_dir();
    let admin = last_line(&cli(
        Some(&url),
        &data,
        &["token", "create", "--name", "ops", "--role", "admin"],
    ));
    let running = Running::start(command(Some(&url)), &[]);
    (running, admin, url, name, dir)
}

/// The URL of a database the tests made, on the server `DATABASE_URL` names.
fn url_of(database: &str) -> String {
    let base = std::env::var("DATABASE_URL").unwrap();
    format!("{}/{database}", base.rsplit_once('/').unwrap().0)
}

fn psql_scalar(database: &str, sql: &str) -> String {
    let output = std::process::Command::new("psql")
        .arg(url_of(database))
        .args(["-tAq", "-c", sql])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn gzip_bombs_are_refused_unread_and_cost_the_server_no_memory() {
    let (running, token, name, _dir) = server_with_cluster(&[]);
    let pid = running.child.id();
    let before = peak_rss_kib(pid);
    // 256 MiB inflated, about 250 KiB on the wire; the test of 2026-11-30 saw 139-183 MiB for one request.
    let bomb = gzip_bomb(b"csrf=", 256);
    assert!(bomb.len() < 1024 * 1024);
    let targets = [
        ("/logout", "application/x-www-form-urlencoded"),
        ("/exceptions/new", "application/x-www-form-urlencoded"),
        ("/api/v1/clusters", "application/json"),
        ("/healthz", "application/json"),
    ];
    let started = Instant::now();
    let answers: Vec<(String, Answer)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (path, content_type) = targets[i % targets.len()];
                let (base, bomb) = (&running.base, &bomb);
                scope.spawn(move || {
                    let head = format!(
                        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n\
                         Content-Encoding: gzip\r\nContent-Length: {}",
                        bomb.len()
                    );
                    (path.to_owned(), exchange(base, &head, bomb))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (path, answer) in &answers {
        assert_eq!(answer.status, 415, "{path}: {}", answer.head);
        let content_type = answer.header("content-type").unwrap();
        if path.starts_with("/api/") || path == "/healthz" {
            assert_eq!(content_type, "application/problem+json", "{path}");
            assert!(
                answer.body.contains("Content-Encoding gzip"),
                "{path}: {}",
                answer.body
            );
        } else {
            assert!(content_type.starts_with("text/html"), "{path}");
        }
        assert_eq!(answer.header("x-frame-options").as_deref(), Some("DENY"));
    }
    assert!(started.elapsed() < Duration::from_secs(20));
    let grown = peak_rss_kib(pid).saturating_sub(before);
    assert!(
        grown < 32 * 1024,
        "eight bombs grew the server's peak memory by {grown} KiB"
    );
    // The route that takes gzip refuses an unauthenticated bomb before reading it, and an authenticated
    // one once it inflates past the 1 MiB limit.
    let report_head = |auth: &str, length: usize| {
        format!(
            "POST /api/v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Encoding: gzip\r\n{auth}Content-Length: {length}"
        )
    };
    let bomb = gzip_bomb(b"{\"schema\":\"", 256);
    let answer = exchange(&running.base, &report_head("", bomb.len()), &bomb);
    assert_eq!(answer.status, 401);
    let auth = format!("Authorization: Bearer {token}\r\n");
    let answer = exchange(&running.base, &report_head(&auth, bomb.len()), &bomb);
    assert_eq!(answer.status, 413, "{}", answer.body);
    assert_eq!(
        answer.header("content-type").as_deref(),
        Some("application/problem+json")
    );
    let grown = peak_rss_kib(pid).saturating_sub(before);
    assert!(grown < 32 * 1024, "the report bombs grew it by {grown} KiB");
    // A real gzipped report is taken; a truncated one is named as such; brotli is refused.
    let json = serde_json::to_vec(&report("cp-1", time::OffsetDateTime::now_utc(), &[])).unwrap();
    let packed = gzip(&json);
    let answer = exchange(&running.base, &report_head(&auth, packed.len()), &packed);
    assert_eq!(answer.status, 201, "{}", answer.body);
    let half = &packed[..packed.len() / 2];
    let answer = exchange(&running.base, &report_head(&auth, half.len()), half);
    assert_eq!(answer.status, 400);
    assert!(
        answer.body.contains("not a whole gzip stream"),
        "{}",
        answer.body
    );
    let head = report_head(&auth, packed.len()).replace("gzip", "br");
    assert_eq!(exchange(&running.base, &head, &packed).status, 415);
    running.stop();
    drop_database(&name);
}

#[test]
fn a_body_over_the_limit_is_refused_from_its_declared_length_before_it_is_sent() {
    let (running, _token, name, _dir) = server_with_cluster(&[]);
    for path in ["/logout", "/api/v1/clusters", "/api/v1/reports"] {
        let mut stream = TcpStream::connect(address(&running.base)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // Only the head: the answer must come without the 100 MiB it announces.
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Authorization: Bearer kwt_x\r\nContent-Length: 104857600\r\n\r\n{{"
        )
        .unwrap();
        let answer = read_answer(&mut stream);
        // Reports authenticate first (401); every other route refuses the size before anything else.
        let expected = if path == "/api/v1/reports" { 401 } else { 413 };
        assert_eq!(answer.status, expected, "{path}: {}", answer.body);
    }
    running.stop();
    drop_database(&name);
}

#[test]
fn slow_bodies_are_cut_off_at_the_body_deadline() {
    let (running, token, name, _dir) = server_with_cluster(&["--body-timeout", "2s"]);
    let started = Instant::now();
    let answers: Vec<Answer> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..40)
            .map(|i| {
                let base = &running.base;
                let token = &token;
                scope.spawn(move || {
                    let (path, auth) = if i % 2 == 0 {
                        ("/logout", String::new())
                    } else {
                        (
                            "/api/v1/reports",
                            format!("Authorization: Bearer {token}\r\n"),
                        )
                    };
                    let mut stream = TcpStream::connect(address(base)).unwrap();
                    stream
                        .set_read_timeout(Some(Duration::from_millis(300)))
                        .unwrap();
                    write!(
                        stream,
                        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\
                         Content-Type: application/json\r\n{auth}Content-Length: 1000\r\n\r\n"
                    )
                    .unwrap();
                    // One byte every 300 ms: each arrives well within any idle timeout, the whole never.
                    let mut raw = Vec::new();
                    let deadline = Instant::now() + Duration::from_secs(20);
                    while Instant::now() < deadline {
                        if stream.write_all(b" ").is_err() {
                            break;
                        }
                        let mut buffer = [0u8; 4096];
                        match stream.read(&mut buffer) {
                            Ok(0) => break,
                            Ok(read) => raw.extend_from_slice(&buffer[..read]),
                            Err(_) if raw.is_empty() => continue,
                            Err(_) => break,
                        }
                    }
                    let text = String::from_utf8_lossy(&raw).into_owned();
                    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
                    Answer {
                        status: head
                            .split(' ')
                            .nth(1)
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(0),
                        head: head.to_owned(),
                        body: body.to_owned(),
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for answer in &answers {
        assert_eq!(answer.status, 408, "{} {}", answer.head, answer.body);
    }
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the slow bodies were held for {:?}",
        started.elapsed()
    );
    assert!(answers.iter().any(|a| a.body.contains("within 2 s")));
    assert_eq!(
        http_probe::status_of(&format!("{}/healthz", running.base)),
        Some(200)
    );
    running.stop();
    drop_database(&name);
}

fn post_json(base: &str, token: &str, body: &[u8]) -> Answer {
    let head = format!(
        "POST /api/v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Authorization: Bearer {token}\r\nContent-Length: {}",
        body.len()
    );
    exchange(base, &head, body)
}

#[test]
fn a_scan_dated_in_the_future_or_before_clocks_were_set_cannot_freeze_a_node() {
    let (running, token, name, _dir) = server_with_cluster(&[]);
    let now = time::OffsetDateTime::now_utc();
    let failing = [("1.1.1", Status::Fail), ("1.2.1", Status::Fail)];
    let first = report("cp-1", now - time::Duration::minutes(10), &failing);
    let answer = post_json(&running.base, &token, &serde_json::to_vec(&first).unwrap());
    assert_eq!(answer.status, 201);
    let open = "SELECT count(*) FROM findings WHERE state = 'open'";
    assert_eq!(psql_scalar(&name, open), "2");
    // The forged all-pass scans of the attack, each refused by the field that is wrong.
    let all_pass = report("cp-1", now, &[]);
    let json = serde_json::to_string(&all_pass).unwrap();
    let finished = time::format_description::well_known::Rfc3339;
    let finished_text = all_pass.finished_at.format(&finished).unwrap();
    let started_text = all_pass.started_at.format(&finished).unwrap();
    for (started, finished, field) in [
        (
            "9999-12-31T23:59:58Z",
            "9999-12-31T23:59:59Z",
            "finished_at",
        ),
        (
            "1970-01-01T00:00:00Z",
            "1970-01-01T00:00:01Z",
            "finished_at",
        ),
        (
            "0000-01-01T00:00:00Z",
            "0000-01-01T00:00:01Z",
            "finished_at",
        ),
        ("1970-01-01T00:00:00Z", finished_text.as_str(), "started_at"),
    ] {
        let forged = json
            .replace(&finished_text, finished)
            .replace(&started_text, started)
            .replace(
                &all_pass.scan_id.to_string(),
                &uuid::Uuid::now_v7().to_string(),
            );
        let answer = post_json(&running.base, &token, forged.as_bytes());
        assert_eq!(answer.status, 400, "{finished}: {}", answer.body);
        let problem: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(problem["field"], field, "{finished}");
    }
    // Names a page address cannot hold are refused too, before anything is stored.
    for unreachable in [".", "..", "a/b"] {
        let named = report(unreachable, now, &[]);
        let answer = post_json(&running.base, &token, &serde_json::to_vec(&named).unwrap());
        assert_eq!(answer.status, 400, "{unreachable}");
        assert!(answer.body.contains("node.name"), "{}", answer.body);
    }
    let ahead = report("cp-1", now + time::Duration::minutes(20), &[]);
    let answer = post_json(&running.base, &token, &serde_json::to_vec(&ahead).unwrap());
    assert_eq!(answer.status, 400);
    assert!(
        answer.body.contains("ahead of the server's clock"),
        "{}",
        answer.body
    );
    assert_eq!(psql_scalar(&name, "SELECT count(*) FROM scans"), "1");
    assert_eq!(psql_scalar(&name, open), "2");
    // A real later scan still moves the node: it is not "late" behind a forged one.
    let fixed = report("cp-1", now, &[("1.1.1", Status::Fail)]);
    let answer = post_json(&running.base, &token, &serde_json::to_vec(&fixed).unwrap());
    assert_eq!(answer.status, 201);
    let receipt: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(receipt["late"], false);
    assert_eq!(psql_scalar(&name, open), "1");
    // A clock a little ahead, within the allowance, is taken.
    let skewed = report("cp-1", now + time::Duration::minutes(3), &[]);
    let answer = post_json(&running.base, &token, &serde_json::to_vec(&skewed).unwrap());
    assert_eq!(answer.status, 201, "{}", answer.body);
    let logs = running.stop();
    assert!(logs.contains("refused a report dated outside the allowed window"));
    drop_database(&name);
}

#[test]
fn local_mode_answers_only_loopback_names_and_same_site_forms() {
    let (running, _token, name, _dir) = server_with_cluster(&[]);
    let page = http_probe::get(&format!("{}/exceptions", running.base)).unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let expires_on = time::OffsetDateTime::now_utc().date() + time::Duration::days(30);
    let form = format!("csrf={csrf}&check=1.1.1&justification=x&expires_on={expires_on}");
    for host in [
        "attacker.example:8080",
        "localhost.attacker.example",
        "10.1.2.3",
    ] {
        for path in [
            "/",
            "/exceptions",
            "/findings/export.json",
            "/api/v1/openapi.json",
        ] {
            let answer = exchange(
                &running.base,
                &format!("GET {path} HTTP/1.1\r\nHost: {host}"),
                b"",
            );
            assert_eq!(answer.status, 421, "{host}{path}");
            assert!(!answer.body.contains(&csrf));
        }
        let head = format!(
            "POST /exceptions/new HTTP/1.1\r\nHost: {host}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}",
            form.len()
        );
        assert_eq!(exchange(&running.base, &head, form.as_bytes()).status, 421);
    }
    // The right host, but a browser that says the form came from another site.
    for header in [
        "Origin: http://evil.example:8080",
        "Sec-Fetch-Site: cross-site",
        "Sec-Fetch-Site: same-site",
    ] {
        let head = format!(
            "POST /exceptions/new HTTP/1.1\r\nHost: 127.0.0.1\r\n{header}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}",
            form.len()
        );
        let answer = exchange(&running.base, &head, form.as_bytes());
        assert_eq!(answer.status, 403, "{header}");
    }
    assert_eq!(psql_scalar(&name, "SELECT count(*) FROM exceptions"), "0");
    // The same form from the server's own page is taken.
    let head = format!(
        "POST /exceptions/new HTTP/1.1\r\nHost: localhost\r\nOrigin: {}\r\n\
         Sec-Fetch-Site: same-origin\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}",
        running.base,
        form.len()
    );
    let answer = exchange(&running.base, &head, form.as_bytes());
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert_eq!(psql_scalar(&name, "SELECT count(*) FROM exceptions"), "1");
    running.stop();
    drop_database(&name);
}

#[test]
fn every_refusal_carries_the_security_headers_a_problem_body_and_no_cache() {
    let (running, _token, name, _dir) = server_with_cluster(&[]);
    let get = |path: &str, extra: &str| {
        exchange(
            &running.base,
            &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1{extra}"),
            b"",
        )
    };
    let unauthorized = get("/api/v1/clusters", "");
    let not_allowed = exchange(
        &running.base,
        "TRACE /healthz HTTP/1.1\r\nHost: 127.0.0.1",
        b"",
    );
    let guarded_not_allowed = exchange(
        &running.base,
        "PUT /api/v1/clusters HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0",
        b"",
    );
    let bad_query = get(
        "/api/v1/findings?cluster=%ZZ",
        "\r\nAuthorization: Bearer kwt_x",
    );
    let page_not_allowed = exchange(
        &running.base,
        "DELETE /findings HTTP/1.1\r\nHost: 127.0.0.1",
        b"",
    );
    for (what, answer, status) in [
        ("401", &unauthorized, 401),
        ("405 public", &not_allowed, 405),
        ("405 guarded", &guarded_not_allowed, 405),
        ("bad query", &bad_query, 401),
        ("405 page", &page_not_allowed, 405),
    ] {
        assert_eq!(answer.status, status, "{what}: {}", answer.head);
        assert!(answer.header("content-security-policy").is_some(), "{what}");
        assert_eq!(
            answer.header("x-frame-options").as_deref(),
            Some("DENY"),
            "{what}"
        );
        assert_eq!(
            answer.header("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{what}"
        );
        assert_eq!(
            answer.header("referrer-policy").as_deref(),
            Some("no-referrer"),
            "{what}"
        );
        assert_eq!(
            answer.header("cache-control").as_deref(),
            Some("no-store"),
            "{what}"
        );
        let content_type = answer.header("content-type").unwrap_or_default();
        assert!(
            content_type == "application/problem+json" || content_type.starts_with("text/html"),
            "{what}: {content_type}"
        );
    }
    assert_eq!(not_allowed.header("allow").as_deref(), Some("GET"));
    assert_eq!(
        guarded_not_allowed.header("allow").as_deref(),
        Some("GET, POST")
    );
    assert_eq!(page_not_allowed.header("allow").as_deref(), Some("GET"));
    // A form without its field: the framework's error, now a page without its internal wording.
    let answer = exchange(
        &running.base,
        "POST /exceptions/new HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 5",
        b"a=b&c",
    );
    assert_eq!(answer.status, 400);
    assert!(
        answer
            .header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(!answer.body.contains("Custom {"), "{}", answer.body);
    running.stop();
    drop_database(&name);
}

#[test]
fn an_api_body_must_be_an_object_not_an_array_filled_by_position() {
    let (running, admin, url, name, dir) = server_with_admin();
    let data = dir.path().join("data");
    let body = br#"["from-an-array"]"#;
    let head = format!(
        "POST /api/v1/clusters HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {admin}\r\n\
         Content-Type: application/json\r\nContent-Length: {}",
        body.len()
    );
    let answer = exchange(&running.base, &head, body);
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(
        answer.body.contains("must be a JSON object"),
        "{}",
        answer.body
    );
    assert_eq!(psql_scalar(&name, "SELECT count(*) FROM clusters"), "0");
    // An overflowing expiry is a usage error, not a crash.
    let output = cli(
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
            "99999999999d",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(stderr(&output).contains("3650d"), "{}", stderr(&output));
    running.stop();
    drop_database(&name);
}

/// PostgreSQL ending a connection under a request (a restart, a fast shutdown, an administrator) is a
/// moment of unavailability to retry, never a server error.
#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn a_connection_postgresql_terminates_is_unavailable_not_an_internal_error(
    pool: sqlx::PgPool,
) {
    use actix_web::ResponseError;
    let mut conn = pool.acquire().await.unwrap();
    let err = sqlx::query("SELECT pg_terminate_backend(pg_backend_pid())")
        .execute(&mut *conn)
        .await
        .unwrap_err();
    let code = err
        .as_database_error()
        .and_then(|database| database.code().map(|code| code.into_owned()));
    assert_eq!(code.as_deref(), Some("57P01"), "{err:?}");
    assert!(kubeward_server::database::is_unavailable(&err));
    let answer = kubeward_server::http::problem::ApiError::from(err);
    assert_eq!(answer.status_code().as_u16(), 503);
    // The edge adds when to retry to every 503.
    let server = common::TestServer::start(pool.clone()).await;
    let response = server
        .client
        .get(server.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["cache-control"], "no-store");
    drop(conn);
    pool.close().await;
    let response = server
        .client
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
    // The answer names the request, so an operator can find its log lines.
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["request_id"], id);
}

#[test]
fn every_answer_names_its_request_and_every_log_line_of_it_carries_the_id() {
    let (running, token, name, _dir) = server_with_cluster(&[]);
    let future = report(
        "cp-1",
        time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        &[],
    );
    let body = serde_json::to_vec(&future).unwrap();
    let head = |id: &str| {
        format!(
            "POST /api/v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nX-Request-Id: {id}\r\nContent-Length: {}",
            body.len()
        )
    };
    // A proxy's id is kept; one that is not a plain token is replaced by a new one.
    let kept = exchange(&running.base, &head("trace-4711.a_b"), &body);
    assert_eq!(kept.status, 400);
    assert_eq!(
        kept.header("x-request-id").as_deref(),
        Some("trace-4711.a_b")
    );
    let replaced = exchange(&running.base, &head("<script>"), &body);
    let new_id = replaced.header("x-request-id").unwrap();
    assert_eq!(new_id.len(), 32, "{new_id}");
    assert!(new_id.bytes().all(|b| b.is_ascii_hexdigit()));
    let health = exchange(
        &running.base,
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1",
        b"",
    );
    assert!(health.header("x-request-id").is_some());
    let logs = running.stop();
    // The handler's own warning and the access log line both carry the id.
    let lines: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains("trace-4711.a_b"))
        .collect();
    assert!(
        lines
            .iter()
            .any(|line| line.contains("refused a report dated outside the allowed window")),
        "{logs}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line.contains("POST /api/v1/reports")),
        "{logs}"
    );
    assert!(!logs.contains("<script>"), "a refused id is not logged");
    drop_database(&name);
}

#[test]
fn a_network_webhooks_may_reach_must_be_an_address_block() {
    let output = command(None)
        .args(["serve", "--webhook-allow-network", "internal.example"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(
        stderr(&output).contains("is not an address or network such as 10.0.0.0/8"),
        "{}",
        stderr(&output)
    );
}

/// The DER of the first certificate in a PEM file.
fn certificate_der(path: &std::path::Path) -> Vec<u8> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_file(path).unwrap().to_vec()
}

/// The certificate a TLS server presents, over a client that trusts `roots`.
fn presented_certificate(base: &str, roots: &[&std::path::Path]) -> (u16, Option<String>, Vec<u8>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut client = reqwest::Client::builder().tls_info(true);
        for root in roots {
            let pem = std::fs::read(root).unwrap();
            client = client.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
        }
        let response = client
            .build()
            .unwrap()
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap();
        let der = response
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|info| info.peer_certificate().map(<[u8]>::to_vec))
            .unwrap_or_default();
        let hsts = response
            .headers()
            .get("strict-transport-security")
            .map(|value| value.to_str().unwrap().to_owned());
        (response.status().as_u16(), hsts, der)
    })
}

#[test]
fn the_server_serves_tls_itself_and_a_renewed_certificate_without_a_restart() {
    let (url, name) = fresh_database_url();
    let (dir, _data) = data_dir();
    let generate = |out: &std::path::Path| {
        let output = command(None)
            .args([
                "tls",
                "generate",
                "--name",
                "localhost",
                "--name",
                "127.0.0.1",
                "--out",
            ])
            .arg(out)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
    };
    let (first, second, served) = (
        dir.path().join("first"),
        dir.path().join("second"),
        dir.path().join("served"),
    );
    generate(&first);
    generate(&second);
    use std::os::unix::fs::PermissionsExt;
    let key_mode = std::fs::metadata(first.join("tls.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600, "the key is its owner's alone");
    std::fs::create_dir_all(&served).unwrap();
    for file in ["tls.crt", "tls.key"] {
        std::fs::copy(first.join(file), served.join(file)).unwrap();
    }
    let cert = served.join("tls.crt");
    let key = served.join("tls.key");
    let running = Running::start(
        command(Some(&url)),
        &[
            "--tls-cert".as_ref(),
            cert.as_os_str(),
            "--tls-key".as_ref(),
            key.as_os_str(),
        ],
    );
    assert!(
        running.base.starts_with("https://127.0.0.1:"),
        "{}",
        running.base
    );
    let roots = [first.join("ca.crt"), second.join("ca.crt")];
    let roots: Vec<&std::path::Path> = roots.iter().map(|path| path.as_path()).collect();
    let (status, hsts, der) = presented_certificate(&running.base, &roots[..1]);
    assert_eq!(status, 200);
    assert_eq!(hsts.as_deref(), Some("max-age=31536000"));
    assert_eq!(der, certificate_der(&first.join("tls.crt")));
    // Plain HTTP to the TLS port gets no answer of kubeward's.
    let plain = http_probe::get(&format!(
        "{}/healthz",
        running.base.replace("https://", "http://")
    ));
    assert!(
        plain
            .as_deref()
            .is_none_or(|answer| !answer.contains("200 OK")),
        "{plain:?}"
    );

    // A renewal: the key first, then the certificate, as a tool writing two files does.
    std::fs::copy(second.join("tls.key"), &key).unwrap();
    std::fs::copy(second.join("tls.crt"), &cert).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, _, der) = presented_certificate(&running.base, &roots);
        assert_eq!(status, 200);
        if der == certificate_der(&second.join("tls.crt")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the renewed certificate was never served"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // A broken renewal keeps the certificate in use.
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nnot base64\n").unwrap();
    std::thread::sleep(kubeward_server::tls::RELOAD_CHECK_EVERY * 3);
    let (status, _, der) = presented_certificate(&running.base, &roots);
    assert_eq!(status, 200);
    assert_eq!(der, certificate_der(&second.join("tls.crt")));
    let logs = running.stop();
    assert!(logs.contains("TLS certificate reloaded"), "{logs}");
    assert!(logs.contains("TLS certificate not reloaded"), "{logs}");
    drop_database(&name);
}

#[test]
fn token_guessing_is_stopped_per_source_counted_and_recorded_once() {
    let (running, admin, _url, name, _dir) = server_with_admin();
    let guess = |path: &str, index: usize| {
        let token = format!("kwt_{}", "a".repeat(60) + &format!("{index:04}"));
        let method = if path.ends_with("reports") {
            "POST"
        } else {
            "GET"
        };
        exchange(
            &running.base,
            &format!(
                "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
                 Content-Type: application/json\r\nContent-Length: 2"
            ),
            b"{}",
        )
    };
    let limit = kubeward_server::shared::throttle::FAILURES_ALLOWED as usize;
    let mut statuses = Vec::new();
    for index in 0..limit + 10 {
        // Agent tokens on reports and API tokens on the API count alike.
        let path = if index % 2 == 0 {
            "/api/v1/clusters"
        } else {
            "/api/v1/reports"
        };
        statuses.push(guess(path, index).status);
    }
    assert!(
        statuses[..limit].iter().all(|status| *status == 401),
        "{statuses:?}"
    );
    assert!(
        statuses[limit..].iter().all(|status| *status == 429),
        "{statuses:?}"
    );
    let stopped = guess("/api/v1/clusters", 9999);
    assert_eq!(stopped.status, 429);
    let retry_after: u64 = stopped.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(
        stopped.header("content-type").as_deref(),
        Some("application/problem+json")
    );
    // Even a valid token waits out the window from that source: the stop costs no database lookup.
    let valid = exchange(
        &running.base,
        &format!(
            "GET /api/v1/clusters HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {admin}"
        ),
        b"",
    );
    assert_eq!(valid.status, 429);
    let metrics = http_probe::get(&format!("{}/metrics", running.base)).unwrap();
    assert!(
        metrics.contains(&format!("kubeward_auth_refused_total {limit}")),
        "{metrics}"
    );
    assert!(
        metrics.contains("kubeward_auth_throttled_total 12"),
        "{metrics}"
    );
    assert_eq!(
        psql_scalar(
            &name,
            "SELECT count(*) FROM audit_log WHERE action = 'auth.throttled'"
        ),
        "1"
    );
    assert_eq!(
        psql_scalar(
            &name,
            "SELECT source FROM audit_log WHERE action = 'auth.throttled'"
        ),
        "127.0.0.1"
    );
    let logs = running.stop();
    assert!(logs.contains("stopped for a minute"), "{logs}");
    assert!(
        !logs.contains("kwt_aaaa"),
        "no presented token reaches the log"
    );
    drop_database(&name);
}

#[test]
fn a_scan_id_of_another_cluster_tells_its_sender_nothing() {
    let (running, prod_token, name, dir) = server_with_cluster(&[]);
    let url = url_of(&name);
    let other_token = last_line(&cli(
        Some(&url),
        &dir.path().join("data"),
        &["cluster", "add", "other"],
    ));
    let now = time::OffsetDateTime::now_utc();
    let scan = report("cp-1", now, &[("1.1.1", Status::Fail)]);
    let body = serde_json::to_vec(&scan).unwrap();
    assert_eq!(post_json(&running.base, &prod_token, &body).status, 201);
    // The same id from the other cluster, with its own content or with prod's: answered as a re-delivery
    // into its own cluster, never as a conflict that would confirm the id exists elsewhere.
    let mut theirs = report("other-1", now, &[]);
    theirs.scan_id = scan.scan_id;
    for attempt in [serde_json::to_vec(&theirs).unwrap(), body.clone()] {
        let answer = post_json(&running.base, &other_token, &attempt);
        assert_eq!(answer.status, 200, "{}", answer.body);
        let receipt: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(receipt["cluster"], "other");
        assert_eq!(receipt["stored"], "before");
    }
    assert_eq!(psql_scalar(&name, "SELECT count(*) FROM scans"), "1");
    assert_eq!(psql_scalar(&name, "SELECT count(*) FROM nodes"), "1");
    // Within its own cluster, other content under a stored id is still a conflict.
    let mut changed = scan.clone();
    changed.results[0].status = Status::Pass;
    let answer = post_json(
        &running.base,
        &prod_token,
        &serde_json::to_vec(&changed).unwrap(),
    );
    assert_eq!(answer.status, 409);
    running.stop();
    drop_database(&name);
}

#[test]
fn webhook_secrets_stored_in_clear_are_sealed_at_start() {
    let (running, _token, name, _dir) = server_with_cluster(&[]);
    running.stop();
    // A subscription as an older server stored it: the secret in clear.
    psql_scalar(
        &name,
        "INSERT INTO webhooks (id, url, secret, events) VALUES \
         (gen_random_uuid(), 'https://hooks.example/in', 'kept-in-clear-0123456789', '{finding.opened}')",
    );
    let url = url_of(&name);
    let running = Running::start(command(Some(&url)), &[]);
    let stored = psql_scalar(&name, "SELECT secret FROM webhooks");
    assert!(stored.starts_with("v1:"), "{stored}");
    assert!(!stored.contains("kept-in-clear"), "{stored}");
    let logs = running.stop();
    assert!(
        logs.contains("sealed webhook secrets stored in clear"),
        "{logs}"
    );
    drop_database(&name);
}

/// A loopback listener answering 200 to every request; returns its URL and how many requests it took.
fn healthy_listener() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let received = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = received.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().map_while(Result::ok) {
            let mut data = Vec::new();
            let mut buffer = [0u8; 8192];
            let complete = loop {
                let Ok(read) = stream.read(&mut buffer) else {
                    break false;
                };
                if read == 0 {
                    break false;
                }
                data.extend_from_slice(&buffer[..read]);
                let text = String::from_utf8_lossy(&data).to_ascii_lowercase();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length: usize = text[..end]
                        .lines()
                        .find_map(|line| line.strip_prefix("content-length:"))
                        .and_then(|value| value.trim().parse().ok())
                        .unwrap_or(0);
                    if data.len() >= end + 4 + length {
                        break true;
                    }
                }
            };
            if complete {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        }
    });
    (url, received)
}

/// A loopback listener that accepts connections and never answers; returns its URL and how many it took.
fn silent_listener() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().map_while(Result::ok) {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(stream);
        }
    });
    (url, accepted)
}

#[test]
fn webhooks_reach_only_allowed_networks_and_a_silent_one_holds_up_only_itself() {
    use std::sync::atomic::Ordering;
    let (running, admin, url, name, dir) = server_with_admin();
    let agent = last_line(&cli(
        Some(&url),
        &dir.path().join("data"),
        &["cluster", "add", "prod"],
    ));
    let (healthy, delivered) = healthy_listener();
    let (silent, accepted) = silent_listener();
    let mut healthy_id = String::new();
    for hook in [&silent, &healthy] {
        let body = format!(
            r#"{{"url": "{hook}", "secret": "a-webhook-secret-0123456789", "events": ["finding.opened"]}}"#
        );
        let answer = exchange(
            &running.base,
            &format!(
                "POST /api/v1/webhooks HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {admin}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}",
                body.len()
            ),
            body.as_bytes(),
        );
        assert_eq!(answer.status, 201, "{}", answer.body);
        let created: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
        healthy_id = created["id"].as_str().unwrap().to_owned();
    }
    let failing = [
        ("1.1.1", Status::Fail),
        ("1.1.2", Status::Fail),
        ("1.2.15", Status::Fail),
    ];
    let scan = report("cp-1", time::OffsetDateTime::now_utc(), &failing);
    assert_eq!(
        post_json(&running.base, &agent, &serde_json::to_vec(&scan).unwrap()).status,
        201
    );
    // By default loopback is not a destination: every attempt fails alike, and nothing is sent.
    let log = |base: &str| {
        let answer = exchange(
            base,
            &format!(
                "GET /api/v1/webhooks/{healthy_id}/deliveries HTTP/1.1\r\nHost: 127.0.0.1\r\n\
                 Authorization: Bearer {admin}"
            ),
            b"",
        );
        serde_json::from_str::<serde_json::Value>(&answer.body).unwrap()["items"].clone()
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let items = log(&running.base);
        let tried: Vec<&serde_json::Value> = items
            .as_array()
            .unwrap()
            .iter()
            .filter(|item| item["attempts"].as_i64() >= Some(1))
            .collect();
        if tried.len() == 3 {
            for item in tried {
                assert_eq!(
                    item["last_error"],
                    kubeward_server::app::webhooks::UNREACHABLE
                );
            }
            break;
        }
        assert!(Instant::now() < deadline, "{items}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(delivered.load(Ordering::SeqCst), 0);
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        0,
        "no connection was even opened"
    );
    running.stop();

    // Allowed, on the same queue: the healthy subscriber gets its three deliveries while the silent one
    // holds a connection open.
    psql_scalar(
        &name,
        "UPDATE webhook_deliveries SET next_attempt_at = now()",
    );
    let running = Running::start(
        command(Some(&url)),
        &["--webhook-allow-network".as_ref(), "127.0.0.0/8".as_ref()],
    );
    let started = Instant::now();
    while delivered.load(Ordering::SeqCst) < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "the healthy subscriber waited behind the silent one"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        accepted.load(Ordering::SeqCst) >= 1,
        "the silent one was tried meanwhile"
    );
    let logs = running.stop();
    assert!(logs.contains("webhooks may be delivered to these non-public networks"));
    drop_database(&name);
}

#[test]
fn the_oidc_client_secret_never_prints_with_the_arguments() {
    use clap::Parser;
    let cli = kubeward_server::cli::Cli::try_parse_from([
        "kubeward-server",
        "serve",
        "--oidc-issuer",
        "https://idp.example",
        "--oidc-client-id",
        "kubeward",
        "--oidc-client-secret",
        "s3cret-0f-the-client",
    ])
    .unwrap();
    let printed = format!("{cli:?}");
    assert!(printed.contains("oidc_client_secret"), "{printed}");
    assert!(!printed.contains("s3cret-0f-the-client"), "{printed}");
}
