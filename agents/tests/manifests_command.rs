//! `kubeward-agent manifests` on a tree of real-looking files: hand-written manifests, JSON, a `kind: List`,
//! YAML 1.1 spellings, Helm output without namespaces, kustomize output on stdin, a values file, a
//! kustomization and a broken template. Every report validates against the committed JSON Schema.
#![allow(
    clippy::unwrap_used,
    reason = "a test should stop loudly at the first unexpected error"
)]

mod kustomize;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use kubeward_benchmark::Status;
use kubeward_benchmark::cluster_report::{ClusterReport, ObjectResult, Source};
use serde_json::Value;

const AGENT: &str = env!("CARGO_BIN_EXE_kubeward-agent");

fn tree() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/manifests")
}

fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(AGENT)
        .arg("manifests")
        .args(args)
        .current_dir(tree())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        input.write_all(bytes).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn schema() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(include_str!(
        "../../benchmark/schema/cluster-report-v1.schema.json"
    ))
    .unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

/// Parses `--format json` output (one report, or an array of them) after validating it against the schema.
fn reports(output: &Output) -> Vec<ClusterReport> {
    let value: Value = serde_json::from_slice(&output.stdout).unwrap();
    let values = match value {
        Value::Array(items) => items,
        one => vec![one],
    };
    let validator = schema();
    for value in &values {
        let errors: Vec<String> = validator
            .iter_errors(value)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
    }
    values
        .into_iter()
        .map(|v| serde_json::from_value(v).unwrap())
        .collect()
}

fn find<'a>(
    reports: &'a [ClusterReport],
    check: &str,
    kind: &str,
    name: &str,
) -> Option<&'a ObjectResult> {
    reports
        .iter()
        .flat_map(|report| report.results.iter())
        .filter(|result| result.check == check)
        .flat_map(|result| result.objects.iter())
        .find(|object| object.kind == kind && object.name == name)
}

fn status(reports: &[ClusterReport], check: &str, kind: &str, name: &str) -> Status {
    find(reports, check, kind, name).map_or(Status::Pass, |object| object.status)
}

#[test]
fn a_tree_of_manifests_gives_the_exact_verdict_per_object_and_names_what_it_could_not_read() {
    let output = run(
        &[
            "app",
            "rbac",
            "helm",
            "kustomize",
            "README.md",
            "--format",
            "json",
        ],
        None,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    // The broken template is an error naming file and line; the document before it is still read.
    assert!(
        stderr.contains("app/broken.yaml:9: an unrendered template"),
        "{stderr}"
    );
    assert!(stderr.contains("skipped app/values.yaml:1"), "{stderr}");
    assert!(
        stderr.contains("skipped kustomize/base/kustomization.yaml:1: a kustomization"),
        "{stderr}"
    );
    // README.md was named on the command line and is read, but holds no object.
    let reports = reports(&output);
    assert_eq!(reports.len(), 2);
    assert!(
        reports
            .iter()
            .all(|report| report.source == Source::Manifests)
    );
    let worker = find(&reports, "5.2.2", "Deployment", "worker").unwrap();
    assert_eq!(worker.status, Status::Warn);
    assert_eq!(worker.location.as_ref().unwrap().file, "app/worker.json");
    assert_eq!(
        worker.evidence[0].path.as_deref(),
        Some("spec.template.spec.initContainers[0].securityContext.privileged")
    );
    // YAML 1.1: `privileged: on`, `hostNetwork: yes`, `hostPID: on`.
    for check in ["5.2.2", "5.2.3", "5.2.5"] {
        assert_eq!(
            status(&reports, check, "DaemonSet", "node-exporter"),
            Status::Warn,
            "{check}"
        );
    }
    // `/var/run/` reaches every runtime socket, even mounted read-only.
    assert_eq!(
        status(&reports, "KW-RUNTIME-SOCKET", "DaemonSet", "node-exporter"),
        Status::Fail
    );
    // The well-behaved Deployment passes every workload check.
    for check in [
        "5.2.2",
        "5.2.6",
        "5.2.7",
        "5.2.8",
        "5.2.9",
        "5.2.11",
        "5.6.2",
        "5.1.6",
        "KW-READONLY-ROOTFS",
        "KW-NETPOL-COVERAGE",
        "KW-RESOURCE-LIMITS",
        "KW-IMAGE-PINNING",
        "KW-ROLLING-UPDATE",
    ] {
        assert_eq!(
            status(&reports, check, "Deployment", "web"),
            Status::Pass,
            "{check}"
        );
    }
    // The namespace is in the set: its label and policies decide.
    for check in [
        "5.2.1",
        "5.3.2",
        "KW-PSA-LEVEL",
        "KW-NETPOL-DEFAULT-DENY",
        "KW-LIMITRANGE",
        "KW-RESOURCEQUOTA",
    ] {
        assert_eq!(
            status(&reports, check, "Namespace", "shop"),
            Status::Pass,
            "{check}"
        );
    }
    // The items of a List keep their own lines.
    let nodeport = find(&reports, "KW-SVC-NODEPORT", "Service", "debug-port").unwrap();
    assert_eq!(nodeport.status, Status::Fail);
    assert_eq!(nodeport.location.as_ref().unwrap().line, 14);
    assert_eq!(
        status(&reports, "KW-SVC-LB", "Service", "internal-api"),
        Status::Pass
    );
    // A binding to the built-in cluster-admin is judged though the role is not in the files.
    assert_eq!(
        status(&reports, "5.1.1", "ClusterRoleBinding", "ci-admin"),
        Status::Warn
    );
    // Helm output without a namespace: the default-namespace check cannot know.
    let helm = find(&reports, "5.6.4", "Deployment", "release-shop").unwrap();
    assert_eq!(helm.status, Status::Manual);
    assert!(helm.detail.as_deref().unwrap().contains("--namespace"));
    assert_eq!(
        status(&reports, "5.4.1", "Deployment", "worker"),
        Status::Warn
    );
    // The first document of broken.yaml is there.
    assert_eq!(
        status(&reports, "5.6.4", "ConfigMap", "settings"),
        Status::Pass
    );
}

#[test]
fn namespace_fills_in_objects_without_one() {
    let output = run(
        &[
            "helm",
            "--format",
            "json",
            "--benchmark",
            "kubeward-hardening",
            "--namespace",
            "default",
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(0));
    let in_default = reports(&output);
    assert_eq!(in_default.len(), 1);
    assert_eq!(
        status(&in_default, "KW-DEFAULT-NS", "Deployment", "release-shop"),
        Status::Fail
    );
    let output = run(
        &[
            "helm",
            "--format",
            "json",
            "--benchmark",
            "kubeward-hardening",
            "-n",
            "shop",
        ],
        None,
    );
    assert_eq!(
        status(
            &reports(&output),
            "KW-DEFAULT-NS",
            "Deployment",
            "release-shop"
        ),
        Status::Pass
    );
}

#[test]
fn kustomize_output_on_stdin_is_evaluated_with_locations_on_stdin() {
    let rendered = kustomize::render(&tree().join("kustomize/base"));
    let output = run(
        &["-", "--format", "json", "--benchmark", "kubeward-hardening"],
        Some(&rendered),
    );
    let reports = reports(&output);
    let checkout = find(&reports, "KW-ROLLING-UPDATE", "Deployment", "checkout").unwrap();
    assert_eq!(checkout.status, Status::Fail);
    assert_eq!(checkout.location.as_ref().unwrap().file, "<stdin>");
    assert_eq!(
        status(&reports, "KW-NONROOT", "Deployment", "checkout"),
        Status::Fail
    );
    assert_eq!(
        status(&reports, "KW-IMAGE-PINNING", "Deployment", "checkout"),
        Status::Warn
    );
}

#[test]
fn fail_on_sets_the_exit_status_and_input_errors_trip_it() {
    let clean = run(
        &[
            "app/web.yaml",
            "app/namespace.yaml",
            "--benchmark",
            "kubeward-hardening",
            "--fail-on",
            "fail",
        ],
        None,
    );
    assert_eq!(
        clean.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&clean.stdout)
    );
    let failing = run(&["app/services.yaml", "--fail-on", "fail"], None);
    assert_eq!(failing.status.code(), Some(1));
    let broken = run(
        &[
            "app/broken.yaml",
            "--benchmark",
            "kubeward-hardening",
            "--fail-on",
            "fail",
        ],
        None,
    );
    assert_eq!(broken.status.code(), Some(1));
    let unknown = run(&["app", "--benchmark", "no-such-catalog"], None);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("kubeward-hardening"));
    let missing = run(&["does-not-exist"], None);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("does-not-exist"));
}

#[test]
fn sarif_locates_each_finding_and_suppresses_platform_owned_ones_visibly() {
    let output = run(&["app", "--format", "sarif"], None);
    let sarif: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let nodeport = results
        .iter()
        .find(|r| r["ruleId"] == "kubeward-hardening/KW-SVC-NODEPORT")
        .unwrap();
    assert_eq!(nodeport["level"], "error");
    let location = &nodeport["locations"][0]["physicalLocation"];
    assert_eq!(location["artifactLocation"]["uri"], "app/services.yaml");
    assert_eq!(location["region"]["startLine"], 14);
    let notifications = sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]
        .as_array()
        .unwrap();
    assert!(
        notifications
            .iter()
            .any(|n| n["locations"][0]["physicalLocation"]["region"]["startLine"] == 9)
    );
    // kubeward's own DaemonSet: found, and suppressed with the list's reason.
    let ours = run(
        &[
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../deploy/kubernetes/agent-daemonset.yaml"
            ),
            "-n",
            "kubeward",
            "--format",
            "sarif",
        ],
        None,
    );
    let sarif: Value = serde_json::from_slice(&ours.stdout).unwrap();
    let hostpid = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleId"] == "cis-kubernetes/5.2.3")
        .unwrap();
    assert!(
        hostpid["suppressions"][0]["justification"]
            .as_str()
            .unwrap()
            .contains("kubeward")
    );
}

#[test]
fn junit_and_table_outputs_carry_the_findings() {
    let junit = run(
        &[
            "app/services.yaml",
            "--format",
            "junit",
            "--benchmark",
            "kubeward-hardening",
        ],
        None,
    );
    let text = String::from_utf8(junit.stdout).unwrap();
    let document = roxmltree::Document::parse(&text).unwrap();
    let failure = document
        .descendants()
        .find(|node| node.has_tag_name("failure"))
        .unwrap();
    assert!(failure.text().unwrap().contains("debug-port"));
    let table = run(
        &["app/services.yaml", "--benchmark", "kubeward-hardening"],
        None,
    );
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.contains("FAIL   KW-SVC-NODEPORT"), "{text}");
    assert!(
        text.contains("Service shop/debug-port (app/services.yaml:14)"),
        "{text}"
    );
}

#[test]
fn the_schema_refuses_malformed_cluster_reports() {
    let output = run(
        &[
            "app/services.yaml",
            "--format",
            "json",
            "--benchmark",
            "kubeward-hardening",
        ],
        None,
    );
    let valid: Value = serde_json::from_slice(&output.stdout).unwrap();
    let validator = schema();
    assert!(validator.is_valid(&valid));
    let breakages: [(&str, Value); 6] = [
        ("/schema", Value::from("kubeward/report/v1")),
        ("/source", Value::from("cluster")),
        ("/results/0/status", Value::from("ok")),
        ("/results/0/evaluated", Value::from(-1)),
        ("/results/0/check", Value::from("<script>alert(1)</script>")),
        ("/scan_id", Value::from("'; DROP TABLE scans; --")),
    ];
    for (pointer, value) in breakages {
        let mut broken = valid.clone();
        *broken.pointer_mut(pointer).unwrap() = value;
        assert!(!validator.is_valid(&broken), "{pointer}");
    }
}

#[test]
fn output_that_cannot_be_written_is_a_setup_error_not_a_panic() {
    let app = tree().join("app");
    for format in ["json", "sarif", "table", "junit"] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let output = Command::new(AGENT)
            .arg("manifests")
            .arg(&app)
            .args(["--format", format])
            .stdout(full)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{format}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("cannot write the output") && !stderr.contains("panicked"),
            "{format}: {stderr}"
        );
    }
}
