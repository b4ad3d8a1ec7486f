//! The real `kubeward-agent` binary: its outputs, exit codes and setup errors.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop loudly at the first unexpected error"
)]

mod fixtures;

use std::path::Path;
use std::process::{Command, Output};

use fixtures::NodeTree;
use kubeward_benchmark::{Status, parse_report};

const AGENT: &str = env!("CARGO_BIN_EXE_kubeward-agent");

fn agent(node: &NodeTree, extra: &[&str]) -> Output {
    Command::new(AGENT)
        .arg("scan")
        .arg("--host-root")
        .arg(node.host_root())
        .arg("--proc-root")
        .arg(node.proc_root())
        .args(extra)
        .env_remove("NODE_NAME")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn json_output_is_exactly_one_valid_v1_report_on_stdout() {
    let node = fixtures::control_plane();
    let output = agent(&node, &["--format", "json"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = parse_report(&output.stdout).unwrap();
    assert_eq!(report.node.name, "cp-1");
    assert_eq!(report.results.len(), 97);
    assert_eq!(report.benchmark.version, "1.12");
    assert!(report.started_at <= report.finished_at);
}

#[test]
fn the_table_groups_by_section_and_totals_without_colour_off_a_terminal() {
    let node = fixtures::control_plane();
    let output = agent(&node, &[]);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    assert!(
        text.contains("\n1.1 Control plane node configuration files\n"),
        "{text}"
    );
    assert!(text.contains("\n4.2 Kubelet\n"), "{text}");
    assert!(
        text.contains("  FAIL   1.1.5   The scheduler static pod manifest"),
        "{text}"
    );
    assert!(text.contains(
        "/etc/kubernetes/manifests/kube-scheduler.yaml: 0644 (expected 0600 or more restrictive)"
    ));
    let report = parse_report(&agent(&node, &["--format", "json"]).stdout).unwrap();
    let count = |status| report.results.iter().filter(|r| r.status == status).count();
    let totals = format!(
        "Total 97: {} pass, {} fail, {} warn, {} manual, {} n/a, 0 error",
        count(Status::Pass),
        count(Status::Fail),
        count(Status::Warn),
        count(Status::Manual),
        count(Status::NotApplicable)
    );
    assert!(text.contains(&totals), "{totals}\n{text}");
    assert!(!text.contains('\x1b'), "colour codes in piped output");
}

#[test]
fn junit_output_is_well_formed_with_one_case_per_check() {
    let node = fixtures::control_plane();
    let output = agent(&node, &["--format", "junit"]);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    let document = roxmltree::Document::parse(&text).unwrap();
    let root = document.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let cases: Vec<_> = document
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 97);
    let failures = document
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .count();
    assert_eq!(
        root.attribute("failures"),
        Some(failures.to_string().as_str())
    );
    let failing = cases
        .iter()
        .find(|case| case.attribute("name").unwrap().starts_with("1.1.5 "))
        .unwrap();
    assert!(
        failing
            .children()
            .any(|child| child.has_tag_name("failure"))
    );
}

#[test]
fn fail_on_sets_the_exit_status() {
    let node = fixtures::control_plane();
    assert_eq!(agent(&node, &["--fail-on", "fail"]).status.code(), Some(1));
    assert_eq!(agent(&node, &["--fail-on", "warn"]).status.code(), Some(1));
    // A host with nothing of Kubernetes on it (a wrong --proc-root, a pod without hostPID) was not checked:
    // it says so on stderr, in the table and in the report, and --fail-on counts it as an error.
    let empty = NodeTree::new();
    empty.hostname("bare-1");
    for level in ["fail", "warn"] {
        let output = agent(&empty, &["--fail-on", level]);
        assert_eq!(output.status.code(), Some(1), "--fail-on {level}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("no Kubernetes component was found"),
            "{stderr}"
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("Distribution: unknown"), "{stdout}");
        assert!(
            stdout.contains("WARNING: no Kubernetes component"),
            "{stdout}"
        );
    }
    let output = agent(&empty, &["--format", "json"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "without --fail-on it is a warning"
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["node"]["platform"]["distribution"], "unknown");
    assert!(
        report["node"]["platform"]["uncertain"]
            .as_str()
            .unwrap()
            .contains("--proc-root")
    );
    // Only warnings: --fail-on fail passes, --fail-on warn trips.
    let warned = NodeTree::new();
    warned.hostname("warned-1").process(
        5,
        &[
            "kubelet",
            "--hostname-override=x",
            "--anonymous-auth=false",
            "--authorization-mode=Webhook",
            "--client-ca-file=/ca.crt",
            "--rotate-certificates",
            "--read-only-port=0",
        ],
        &[],
    );
    let output = agent(&warned, &["--fail-on", "fail", "--format", "json"]);
    let report = parse_report(&output.stdout).unwrap();
    assert!(
        report
            .results
            .iter()
            .all(|r| r.status != Status::Fail && r.status != Status::Error)
    );
    assert!(report.results.iter().any(|r| r.status == Status::Warn));
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        agent(&warned, &["--fail-on", "warn"]).status.code(),
        Some(1)
    );
}

#[test]
fn setup_errors_exit_2_with_a_clear_message() {
    let node = fixtures::control_plane();
    let missing = Command::new(AGENT)
        .args(["scan", "--host-root", "/nonexistent/host", "--proc-root"])
        .arg(node.proc_root())
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&missing.stderr)
            .contains("the host root /nonexistent/host does not exist")
    );

    let no_proc = Command::new(AGENT)
        .args(["scan", "--proc-root", "/nonexistent/proc", "--host-root"])
        .arg(node.host_root())
        .output()
        .unwrap();
    assert_eq!(no_proc.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&no_proc.stderr)
            .contains("cannot list the process directory /nonexistent/proc")
    );

    let bad_format = agent(&node, &["--format", "xml"]);
    assert_eq!(bad_format.status.code(), Some(2));
    assert!(bad_format.stdout.is_empty());

    let bad_benchmark = agent(&node, &["--benchmark", "cis-0.1"]);
    assert_eq!(bad_benchmark.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad_benchmark.stderr).contains("no such catalog; known: cis-1.12")
    );

    let spaced = agent(&node, &["--node-name", "two words"]);
    assert_eq!(spaced.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&spaced.stderr).contains("node.name"));
}

#[test]
fn the_node_name_comes_from_the_flag_then_node_name_then_the_hosts_hostname() {
    let node = fixtures::flags_only_worker();
    let name = |output: Output| parse_report(&output.stdout).unwrap().node.name;
    assert_eq!(name(agent(&node, &["--format", "json"])), "worker-1");
    let from_env = Command::new(AGENT)
        .args(["scan", "--format", "json", "--host-root"])
        .arg(node.host_root())
        .arg("--proc-root")
        .arg(node.proc_root())
        .env("NODE_NAME", "from-env")
        .output()
        .unwrap();
    assert_eq!(name(from_env), "from-env");
    assert_eq!(
        name(agent(
            &node,
            &["--format", "json", "--node-name", "from-flag"]
        )),
        "from-flag"
    );

    let nameless = NodeTree::new();
    let output = agent(&nameless, &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot tell the node's name"));
}

#[test]
fn no_secret_of_the_node_appears_in_any_output_format() {
    for node in [fixtures::control_plane(), fixtures::unreadable()] {
        for format in ["json", "table", "junit"] {
            let output = agent(&node, &["--format", format]);
            let everything = format!(
                "{}{}",
                stdout(&output),
                String::from_utf8_lossy(&output.stderr)
            );
            for secret in fixtures::SECRETS {
                assert!(!everything.contains(secret), "{secret} leaked in {format}");
            }
        }
    }
}

/// The DaemonSet drops every capability; as root without CAP_DAC_OVERRIDE a file of another user is
/// unreadable, and the scan must say so rather than fail the check.
#[test]
fn a_file_the_agent_may_not_read_is_an_error_with_the_reason() {
    let node = NodeTree::new();
    node.hostname("locked-1")
        .process(
            7,
            &["kubelet", "--config=/var/lib/kubelet/config.yaml"],
            &[],
        )
        .file(
            "/var/lib/kubelet/config.yaml",
            0o600,
            1234,
            1234,
            "readOnlyPort: 0\n",
        );
    let output = Command::new("setpriv")
        .args(["--bounding-set=-all", "--inh-caps=-all", "--"])
        .arg(AGENT)
        .args(["scan", "--format", "json", "--host-root"])
        .arg(node.host_root())
        .arg("--proc-root")
        .arg(node.proc_root())
        .output()
        .expect("setpriv (util-linux) runs the agent without capabilities");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = parse_report(&output.stdout).unwrap();
    let anonymous = report.results.iter().find(|r| r.check == "4.2.1").unwrap();
    assert_eq!(anonymous.status, Status::Error);
    assert!(
        anonymous
            .detail
            .as_deref()
            .unwrap()
            .contains("permission denied"),
        "{anonymous:?}"
    );
    // Stat needs no permission on the file itself: its mode and owner are still checked.
    let mode = report.results.iter().find(|r| r.check == "4.1.9").unwrap();
    assert_eq!(mode.status, Status::Pass);
    let owner = report.results.iter().find(|r| r.check == "4.1.10").unwrap();
    assert_eq!(owner.status, Status::Fail);
}

#[test]
fn help_names_every_scan_flag() {
    let output = Command::new(AGENT)
        .args(["scan", "--help"])
        .output()
        .unwrap();
    let text = stdout(&output);
    for flag in [
        "--host-root",
        "--proc-root",
        "--node-name",
        "--benchmark",
        "--format",
        "--fail-on",
    ] {
        assert!(text.contains(flag), "{flag}");
    }
    assert!(Path::new(AGENT).exists());
}
