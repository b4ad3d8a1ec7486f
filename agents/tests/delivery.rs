//! `kubeward-agent run` against real peers: the real server going down and up, kills at the worst moment, a
//! full spool, permanent refusals, retries honouring Retry-After, TLS with a test CA, metrics.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop loudly at the first unexpected error"
)]

mod fixtures;
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{
    AGENT, Database, ScriptedServer, Server, TlsServer, answer, free_port, get, run_agent,
    silent_proxy, spooled,
};

fn text(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn reports_spooled_while_the_server_is_down_are_all_stored_once_when_it_is_up() {
    let node = fixtures::flags_only_worker();
    let work = tempfile::tempdir().unwrap();
    let (spool, token_file) = (work.path().join("spool"), work.path().join("token"));
    let database = Database::new();
    database.enroll("prod", &token_file);
    let port = free_port();
    let server_url = format!("http://127.0.0.1:{port}");
    let args = [
        "--once",
        "--retry-for",
        "1s",
        "--server",
        &server_url,
        "--token-file",
        token_file.to_str().unwrap(),
        "--spool-dir",
        spool.to_str().unwrap(),
    ];
    // Down: three runs, three reports kept.
    for expected in 1..=3 {
        let output = run_agent(&args, &node.host_root(), &node.proc_root());
        assert_eq!(output.status.code(), Some(75), "{}", text(&output));
        assert!(
            text(&output).contains("stay in the spool"),
            "{}",
            text(&output)
        );
        assert_eq!(spooled(&spool), expected);
    }
    // Up: the next run delivers the three old reports, oldest first, and its own.
    let _server = Server::start(&database, port);
    let output = run_agent(&args, &node.host_root(), &node.proc_root());
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(spooled(&spool), 0);
    assert_eq!(database.scalar("SELECT count(*) FROM scans"), "4");
    assert_eq!(
        database.scalar("SELECT count(DISTINCT scan_id) FROM scans"),
        "4"
    );
    assert_eq!(database.scalar("SELECT name FROM nodes"), "worker-1");
    // Oldest first: the server received them in the order they were scanned.
    assert_eq!(
        database.scalar("SELECT bool_and(ordered) FROM (SELECT received_at >= lag(received_at) OVER (ORDER BY finished_at) OR lag(received_at) OVER (ORDER BY finished_at) IS NULL AS ordered FROM scans) t"),
        "t"
    );
}

#[test]
fn a_kill_during_delivery_loses_nothing_and_duplicates_nothing() {
    let node = fixtures::flags_only_worker();
    let work = tempfile::tempdir().unwrap();
    let (spool, token_file) = (work.path().join("spool"), work.path().join("token"));
    let database = Database::new();
    database.enroll("prod", &token_file);
    let port = free_port();
    let _server = Server::start(&database, port);
    // The proxy hands the report to the server and never answers: the worst moment to die.
    let (proxy, forwarded) = silent_proxy(port);
    let mut agent = Command::new(AGENT)
        .args([
            "run",
            "--once",
            "--retry-for",
            "60s",
            "--server",
            &format!("http://127.0.0.1:{proxy}"),
        ])
        .arg("--token-file")
        .arg(&token_file)
        .arg("--spool-dir")
        .arg(&spool)
        .arg("--host-root")
        .arg(node.host_root())
        .arg("--proc-root")
        .arg(node.proc_root())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while *forwarded.lock().unwrap() == 0 {
        assert!(Instant::now() < deadline, "the agent never delivered");
        std::thread::sleep(Duration::from_millis(20));
    }
    agent.kill().unwrap(); // SIGKILL
    agent.wait().unwrap();
    assert_eq!(
        database.scalar("SELECT count(*) FROM scans"),
        "1",
        "the server stored the report"
    );
    assert_eq!(
        spooled(&spool),
        1,
        "the agent did not learn it, so the report is still spooled"
    );

    // The next run delivers the old report again (the server says it has it) and its own new one.
    let output = run_agent(
        &[
            "--once",
            "--server",
            &format!("http://127.0.0.1:{port}"),
            "--token-file",
            token_file.to_str().unwrap(),
            "--spool-dir",
            spool.to_str().unwrap(),
        ],
        &node.host_root(),
        &node.proc_root(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(spooled(&spool), 0);
    assert_eq!(
        database.scalar("SELECT count(*) FROM scans"),
        "2",
        "nothing lost, nothing stored twice"
    );
}

#[test]
fn the_spool_bound_drops_the_oldest_and_says_so() {
    let node = fixtures::flags_only_worker();
    let work = tempfile::tempdir().unwrap();
    let (spool, token_file) = (work.path().join("spool"), work.path().join("token"));
    std::fs::write(&token_file, "kwa_test\n").unwrap();
    let server = format!("http://127.0.0.1:{}", free_port());
    let args = [
        "--once",
        "--retry-for",
        "0s",
        "--server",
        &server,
        "--token-file",
        token_file.to_str().unwrap(),
        "--spool-dir",
        spool.to_str().unwrap(),
        "--spool-max-reports",
        "2",
    ];
    let mut logs = String::new();
    for _ in 0..4 {
        let output = run_agent(&args, &node.host_root(), &node.proc_root());
        assert_eq!(output.status.code(), Some(75));
        logs.push_str(&text(&output));
        assert!(spooled(&spool) <= 2);
    }
    assert_eq!(spooled(&spool), 2);
    assert_eq!(
        logs.matches("the spool is full; dropped its oldest report")
            .count(),
        2,
        "{logs}"
    );
}

#[test]
fn a_permanent_refusal_is_logged_with_the_servers_message_moved_aside_and_not_retried() {
    let node = fixtures::flags_only_worker();
    let work = tempfile::tempdir().unwrap();
    let (spool, token_file) = (work.path().join("spool"), work.path().join("token"));
    std::fs::write(&token_file, "kwa_test\n").unwrap();
    let refusing = ScriptedServer::start(vec![answer(
        "400 Bad Request",
        &["Content-Type: application/problem+json"],
        r#"{"type":"urn:kubeward:problem:invalid-report","status":400,"detail":"results[3].check: no such check","field":"results[3].check"}"#,
    )]);
    let output = run_agent(
        &[
            "--once",
            "--retry-for",
            "30s",
            "--server",
            &format!("http://127.0.0.1:{}", refusing.port),
            "--token-file",
            token_file.to_str().unwrap(),
            "--spool-dir",
            spool.to_str().unwrap(),
        ],
        &node.host_root(),
        &node.proc_root(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(refusing.count(), 1, "a permanent refusal is not retried");
    assert_eq!(spooled(&spool), 0);
    assert_eq!(
        std::fs::read_dir(spool.join("rejected")).unwrap().count(),
        1
    );
    assert!(
        text(&output).contains("results[3].check: no such check"),
        "{}",
        text(&output)
    );
    // The request carried the token as a bearer token and the report as JSON.
    let request = String::from_utf8_lossy(&refusing.requests.lock().unwrap()[0]).into_owned();
    assert!(
        request.starts_with("POST /api/v1/reports HTTP/1.1"),
        "{request}"
    );
    assert!(
        request
            .to_ascii_lowercase()
            .contains("authorization: bearer kwa_test")
    );
    assert!(request.contains("\"schema\":\"kubeward/report/v1\""));
}

#[test]
fn unavailable_answers_are_retried_after_the_time_the_server_asks_for() {
    let node = fixtures::flags_only_worker();
    let work = tempfile::tempdir().unwrap();
    let (spool, token_file) = (work.path().join("spool"), work.path().join("token"));
    std::fs::write(&token_file, "kwa_test\n").unwrap();
    let busy = answer("503 Service Unavailable", &["Retry-After: 1"], "");
    let flaky = ScriptedServer::start(vec![
        busy.clone(),
        answer("429 Too Many Requests", &["Retry-After: 1"], ""),
        answer("201 Created", &[], "{}"),
    ]);
    let started = Instant::now();
    let output = run_agent(
        &[
            "--once",
            "--retry-for",
            "30s",
            "--server",
            &format!("http://127.0.0.1:{}", flaky.port),
            "--token-file",
            token_file.to_str().unwrap(),
            "--spool-dir",
            spool.to_str().unwrap(),
        ],
        &node.host_root(),
        &node.proc_root(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(flaky.count(), 3);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After was not honoured"
    );
    assert_eq!(spooled(&spool), 0);
}

#[test]
fn tls_is_verified_against_the_given_ca_and_an_untrusted_certificate_is_refused() {
    let node = fixtures::flags_only_worker();
    let work = tempfile::tempdir().unwrap();
    let (spool, token_file, ca) = (
        work.path().join("spool"),
        work.path().join("token"),
        work.path().join("ca.pem"),
    );
    std::fs::write(&token_file, "kwa_test\n").unwrap();
    let tls = TlsServer::start();
    std::fs::write(&ca, &tls.ca_pem).unwrap();
    let url = format!("https://localhost:{}", tls.port);

    let untrusted = run_agent(
        &[
            "--once",
            "--retry-for",
            "0s",
            "--server",
            &url,
            "--token-file",
            token_file.to_str().unwrap(),
            "--spool-dir",
            spool.to_str().unwrap(),
        ],
        &node.host_root(),
        &node.proc_root(),
    );
    assert_eq!(untrusted.status.code(), Some(75), "{}", text(&untrusted));
    assert_eq!(
        tls.count(),
        0,
        "no request may cross an untrusted connection"
    );
    assert!(
        text(&untrusted).to_lowercase().contains("certificate"),
        "{}",
        text(&untrusted)
    );
    assert_eq!(spooled(&spool), 1);

    let trusted = run_agent(
        &[
            "--once",
            "--server",
            &url,
            "--token-file",
            token_file.to_str().unwrap(),
            "--spool-dir",
            spool.to_str().unwrap(),
            "--ca-file",
            ca.to_str().unwrap(),
        ],
        &node.host_root(),
        &node.proc_root(),
    );
    assert_eq!(trusted.status.code(), Some(0), "{}", text(&trusted));
    assert_eq!(tls.count(), 2, "the spooled report and the new one");
    assert_eq!(spooled(&spool), 0);
}

#[test]
fn setup_errors_exit_2_before_anything_is_scanned() {
    let node = fixtures::flags_only_worker();
    let work = tempfile::tempdir().unwrap();
    let spool = work.path().join("spool");
    let token_file = work.path().join("token");
    std::fs::write(&token_file, "kwa_test\n").unwrap();
    let cases: [(&[&str], &str); 3] = [
        (
            &[
                "--server",
                "http://10.1.2.3:8080",
                "--token-file",
                token_file.to_str().unwrap(),
            ],
            "plain HTTP",
        ),
        (
            &[
                "--server",
                "https://kubeward.example",
                "--token-file",
                "/nonexistent/token",
            ],
            "cannot read the token file",
        ),
        (
            &[
                "--server",
                "https://kubeward.example",
                "--token-file",
                token_file.to_str().unwrap(),
                "--interval",
                "soon",
            ],
            "not a duration",
        ),
    ];
    for (args, message) in cases {
        let mut all = vec!["--once", "--spool-dir", spool.to_str().unwrap()];
        all.extend_from_slice(args);
        let output = run_agent(&all, &node.host_root(), &node.proc_root());
        assert_eq!(output.status.code(), Some(2), "{message}");
        assert!(text(&output).contains(message), "{}", text(&output));
    }
}

#[test]
fn the_running_agent_serves_health_and_metrics_and_stops_cleanly_on_sigterm() {
    let node = fixtures::flags_only_worker();
    let work = tempfile::tempdir().unwrap();
    let (spool, token_file) = (work.path().join("spool"), work.path().join("token"));
    std::fs::write(&token_file, "kwa_test\n").unwrap();
    let accepting = ScriptedServer::start(vec![answer("201 Created", &[], "{}")]);
    let metrics_port = free_port();
    let mut agent = Command::new(AGENT)
        .args(["run", "--interval", "1h", "--jitter", "0s", "--server"])
        .arg(format!("http://127.0.0.1:{}", accepting.port))
        .arg("--token-file")
        .arg(&token_file)
        .arg("--spool-dir")
        .arg(&spool)
        .arg("--listen")
        .arg(format!("127.0.0.1:{metrics_port}"))
        .arg("--host-root")
        .arg(node.host_root())
        .arg("--proc-root")
        .arg(node.proc_root())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while accepting.count() == 0 {
        assert!(Instant::now() < deadline, "no delivery");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        get(metrics_port, "/healthz").unwrap(),
        (200, "ok\n".to_owned())
    );
    let (status, metrics) = get(metrics_port, "/metrics").unwrap();
    assert_eq!(status, 200);
    for line in [
        "kubeward_agent_scans_total 1",
        "kubeward_agent_reports_delivered_total 1",
        "kubeward_agent_delivery_attempts_total 1",
        "kubeward_agent_spool_depth 0",
        "kubeward_agent_spool_dropped_total 0",
        "# TYPE kubeward_agent_scans_total counter",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "missing {line:?} in\n{metrics}"
        );
    }
    assert_eq!(get(metrics_port, "/nope").unwrap().0, 404);
    let stopping = Instant::now();
    Command::new("kill")
        .args(["-TERM", &agent.id().to_string()])
        .status()
        .unwrap();
    let status = agent.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "SIGTERM must end the wait for the next scan"
    );
}

#[test]
fn simulate_pushes_a_backdated_history_through_the_api_once() {
    let work = tempfile::tempdir().unwrap();
    let token_file = work.path().join("token");
    let database = Database::new();
    database.enroll("sim", &token_file);
    let port = free_port();
    let _server = Server::start(&database, port);
    let simulate = || {
        Command::new(AGENT)
            .args([
                "simulate",
                "--nodes",
                "3",
                "--control-planes",
                "1",
                "--days",
                "10",
                "--name",
                "lab",
            ])
            .arg("--server")
            .arg(format!("http://127.0.0.1:{port}"))
            .arg("--token-file")
            .arg(&token_file)
            .output()
            .unwrap()
    };
    let first = simulate();
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    assert!(
        String::from_utf8_lossy(&first.stdout).contains("30 stored now, 0 stored before, 0 failed")
    );
    assert_eq!(database.scalar("SELECT count(*) FROM scans"), "30");
    assert_eq!(
        database.scalar("SELECT string_agg(name, ',' ORDER BY name) FROM nodes"),
        "lab-cp-1,lab-worker-1,lab-worker-2"
    );
    assert_eq!(
        database.scalar("SELECT count(DISTINCT finished_at::date) FROM scans"),
        "10"
    );
    // The same simulation again is a retry of every scan: stored once.
    let again = simulate();
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("0 stored now, 30 stored before, 0 failed")
    );
    assert_eq!(database.scalar("SELECT count(*) FROM scans"), "30");
}

#[test]
fn run_logs_are_json_lines_when_asked_and_never_carry_the_token() {
    let node = fixtures::flags_only_worker();
    let work = tempfile::tempdir().unwrap();
    let (spool, token_file) = (work.path().join("spool"), work.path().join("token"));
    std::fs::write(&token_file, "kwa_log_secret_value\n").unwrap();
    let accepting = ScriptedServer::start(vec![answer("201 Created", &[], "{}")]);
    let output = run_agent(
        &[
            "--once",
            "--log-format",
            "json",
            "--server",
            &format!("http://127.0.0.1:{}", accepting.port),
            "--token-file",
            token_file.to_str().unwrap(),
            "--spool-dir",
            spool.to_str().unwrap(),
        ],
        &node.host_root(),
        &node.proc_root(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let logs = text(&output);
    assert!(!logs.contains("kwa_log_secret_value"));
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(
        lines.iter().any(|line| line["message"] == "delivered"),
        "{logs}"
    );
    assert!(
        lines.iter().any(|line| line["node.name"] == "worker-1"),
        "{logs}"
    );
}
