//! The v1 wire format: the Rust validator and the committed JSON Schema agree, limits hold, and every error
//! names its field.
#![allow(
    clippy::unwrap_used,
    reason = "a test should stop loudly at the first unexpected error"
)]

use kubeward_benchmark::report::{SCHEMA_V1, Status};
use kubeward_benchmark::validate::{MAX_BODY_BYTES, ReportError, parse_report};
use serde_json::{Value, json};

fn valid() -> Value {
    json!({
        "schema": "kubeward/report/v1",
        "scan_id": "01938f1e-6b7a-7cc2-9d1e-2f5c3a4b5c6d",
        "agent": { "version": "0.1.0" },
        "node": { "name": "cp-1", "roles": ["control-plane", "etcd", "worker"], "kubelet_version": "v1.33.2" },
        "benchmark": { "id": "cis-kubernetes", "version": "1.12" },
        "started_at": "2026-11-22T10:00:00Z",
        "finished_at": "2026-11-22T10:00:00.012Z",
        "results": [
            { "check": "1.1.1", "status": "fail",
              "evidence": [ { "subject": "/etc/kubernetes/manifests/kube-apiserver.yaml",
                              "observed": "0644", "expected": "0600 or more restrictive" } ] },
            { "check": "4.2.1", "status": "pass",
              "evidence": [ { "subject": "kubelet (pid 812) --anonymous-auth", "observed": "false", "expected": "false" } ] }
        ]
    })
}

fn schema() -> jsonschema::Validator {
    let schema: Value =
        serde_json::from_str(include_str!("../schema/report-v1.schema.json")).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

fn parse(value: &Value) -> Result<kubeward_benchmark::Report, ReportError> {
    parse_report(&serde_json::to_vec(value).unwrap())
}

fn assert_invalid(value: Value, field: &str) {
    let err = parse(&value).expect_err("the report should be refused");
    assert_eq!(err.field(), Some(field), "{err}");
    assert!(
        !schema().is_valid(&value) || schema_cannot_express(field),
        "the schema accepts a report the validator refuses at {field}"
    );
}

/// Rules that span fields or items and that JSON Schema cannot state.
fn schema_cannot_express(field: &str) -> bool {
    field == "finished_at" || field.ends_with("].check")
}

#[test]
fn the_design_example_is_valid_for_both() {
    let report = parse(&valid()).unwrap();
    assert_eq!(report.schema, SCHEMA_V1);
    assert_eq!(report.results[0].status, Status::Fail);
    assert!(schema().is_valid(&valid()));
}

#[test]
fn a_report_round_trips_unchanged() {
    let report = parse(&valid()).unwrap();
    let again = parse_report(&serde_json::to_vec(&report).unwrap()).unwrap();
    assert_eq!(report, again);
}

#[test]
fn every_status_is_accepted() {
    for status in Status::ALL {
        let mut report = valid();
        report["results"][0]["status"] = json!(status.as_str());
        assert!(parse(&report).is_ok(), "{status}");
        assert!(schema().is_valid(&report), "{status}");
    }
}

#[test]
fn unknown_fields_are_ignored_so_that_fields_can_be_added() {
    let mut report = valid();
    report["future_field"] = json!({"anything": 1});
    report["results"][0]["future"] = json!(true);
    assert!(parse(&report).is_ok());
    assert!(schema().is_valid(&report));
}

#[test]
fn a_wrong_schema_is_refused() {
    let mut report = valid();
    report["schema"] = json!("kubeward/report/v2");
    assert_invalid(report, "schema");
}

#[test]
fn an_unknown_status_is_refused_by_path() {
    let mut report = valid();
    report["results"][1]["status"] = json!("<script>alert(1)</script>");
    assert_invalid(report, "results[1].status");
}

#[test]
fn wrong_types_are_refused_by_path() {
    let cases = [
        ("scan_id", json!(12345)),
        ("scan_id", json!("'; DROP TABLE scans; --")),
        ("started_at", json!("yesterday")),
        ("results", json!({"check": "1.1.1"})),
    ];
    for (field, value) in cases {
        let mut report = valid();
        report[field] = value;
        assert_invalid(report, field);
    }
    let mut report = valid();
    report["node"]["roles"] = json!(["control-plane", 7]);
    assert_invalid(report, "node.roles[1]");
    let mut report = valid();
    report["results"][0]["evidence"][0]["observed"] = json!(1e308);
    assert_invalid(report, "results[0].evidence[0].observed");
}

#[test]
fn missing_fields_are_refused_by_name() {
    for field in [
        "schema",
        "scan_id",
        "agent",
        "node",
        "benchmark",
        "started_at",
        "finished_at",
        "results",
    ] {
        let mut report = valid();
        report.as_object_mut().unwrap().remove(field);
        let err = parse(&report).unwrap_err();
        assert!(err.to_string().contains(field), "{field}: {err}");
        assert!(!schema().is_valid(&report), "{field}");
    }
}

#[test]
fn a_string_over_4_kib_is_refused_and_one_at_the_limit_accepted() {
    let mut report = valid();
    report["results"][0]["evidence"][0]["observed"] = json!("x".repeat(4096));
    assert!(parse(&report).is_ok());
    assert!(schema().is_valid(&report));
    report["results"][0]["evidence"][0]["observed"] = json!("x".repeat(4097));
    assert_invalid(report, "results[0].evidence[0].observed");
}

#[test]
fn more_than_2000_results_are_refused() {
    let mut report = valid();
    let results: Vec<Value> = (0..2001)
        .map(|i| json!({"check": format!("9.{i}"), "status": "pass"}))
        .collect();
    report["results"] = json!(results);
    assert_invalid(report, "results");
}

#[test]
fn more_than_200_evidence_items_are_refused() {
    let mut report = valid();
    let items: Vec<Value> = (0..201)
        .map(|i| json!({"subject": format!("/f{i}"), "observed": "0600", "expected": "x"}))
        .collect();
    report["results"][0]["evidence"] = json!(items);
    assert_invalid(report, "results[0].evidence");
}

#[test]
fn a_body_over_1_mib_is_refused_before_parsing() {
    let body = vec![b' '; MAX_BODY_BYTES + 1];
    assert!(matches!(
        parse_report(&body),
        Err(ReportError::TooLarge { .. })
    ));
}

#[test]
fn duplicate_checks_and_bad_check_ids_are_refused() {
    let mut report = valid();
    report["results"][1]["check"] = json!("1.1.1");
    assert_invalid(report, "results[1].check");
    let mut report = valid();
    report["results"][0]["check"] = json!("1.1.1; DELETE FROM findings");
    assert_invalid(report, "results[0].check");
}

#[test]
fn finishing_before_starting_is_refused() {
    let mut report = valid();
    report["finished_at"] = json!("2026-11-22T09:00:00Z");
    assert_invalid(report, "finished_at");
}

#[test]
fn node_names_with_control_characters_spaces_or_path_parts_are_refused() {
    for name in ["", "cp 1", "cp-1\n", "cp\u{0}1", ".", "..", "a/b", "/"] {
        let mut report = valid();
        report["node"]["name"] = json!(name);
        assert_invalid(report, "node.name");
    }
}

#[test]
fn a_nul_character_is_refused_by_both() {
    let mut report = valid();
    report["results"][1]["evidence"][0]["expected"] = json!("fal\u{0}se");
    assert_invalid(report, "results[1].evidence[0].expected");
}

#[test]
fn hostile_evidence_is_kept_exactly() {
    let hostile = "<script>alert('x')</script>'; DROP TABLE results; --\u{7}\u{1b}[31m";
    let mut report = valid();
    report["results"][0]["evidence"][0]["observed"] = json!(hostile);
    let parsed = parse(&report).unwrap();
    assert_eq!(parsed.results[0].evidence[0].observed, hostile);
}

#[test]
fn malformed_json_and_trailing_garbage_are_refused() {
    for body in [&b"{"[..], b"", b"null", b"[]", b"{\"schema\": }"] {
        assert!(parse_report(body).is_err(), "{body:?}");
    }
    let mut body = serde_json::to_vec(&valid()).unwrap();
    body.extend_from_slice(b" {}");
    let err = parse_report(&body).unwrap_err();
    assert!(err.to_string().contains("trailing"), "{err}");
}

fn with_platform(platform: Value) -> Value {
    let mut report = valid();
    report["node"]["platform"] = platform;
    report
}

#[test]
fn a_platform_fingerprint_is_accepted_by_both_and_kept_exactly() {
    let report = with_platform(json!({
        "distribution": "k3s",
        "choice": "auto",
        "signals": [{ "distribution": "k3s", "observed": "process 600 runs `k3s server` <script>alert(1)</script>" }],
        "followed": ["/etc/rancher/k3s/config.yaml"],
        "uncertain": "benchmark choice uncertain: '; DROP TABLE scans; --"
    }));
    assert!(schema().is_valid(&report));
    let parsed = parse(&report).unwrap();
    let platform = parsed.node.platform.unwrap();
    assert!(
        platform.signals[0]
            .observed
            .ends_with("<script>alert(1)</script>")
    );
    assert_eq!(
        platform.uncertain.as_deref(),
        Some("benchmark choice uncertain: '; DROP TABLE scans; --")
    );
}

#[test]
fn a_malformed_platform_fingerprint_is_refused_by_path() {
    let signal = |distribution: &str| json!({ "distribution": distribution, "observed": "x" });
    let many: Vec<Value> = (0..65).map(|_| signal("eks")).collect();
    for (platform, field) in [
        (
            json!({ "distribution": "windows", "choice": "auto" }),
            "node.platform.distribution",
        ),
        (
            json!({ "distribution": "eks", "choice": "guess" }),
            "node.platform.choice",
        ),
        (
            json!({ "distribution": "eks", "choice": "auto", "variant": "x".repeat(65) }),
            "node.platform.variant",
        ),
        (
            json!({ "distribution": "eks", "choice": "auto", "signals": [signal("mesos")] }),
            "node.platform.signals[0].distribution",
        ),
        (
            json!({ "distribution": "eks", "choice": "auto", "signals": [{ "distribution": "eks", "observed": "" }] }),
            "node.platform.signals[0].observed",
        ),
        (
            json!({ "distribution": "eks", "choice": "auto", "signals": many }),
            "node.platform.signals",
        ),
        (
            json!({ "distribution": "eks", "choice": "auto", "followed": ["a\u{0}b"] }),
            "node.platform.followed[0]",
        ),
        (
            json!({ "distribution": "eks", "choice": "auto", "uncertain": "x".repeat(5000) }),
            "node.platform.uncertain",
        ),
    ] {
        assert_invalid(with_platform(platform), field);
    }
    // Wrong types are refused by the parser, naming the field.
    for platform in [
        json!("eks"),
        json!({ "distribution": 7, "choice": "auto" }),
        json!({ "distribution": "eks", "choice": "auto", "signals": {} }),
    ] {
        let err = parse(&with_platform(platform)).unwrap_err().to_string();
        assert!(err.contains("node.platform"), "{err}");
    }
}
