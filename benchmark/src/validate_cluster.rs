//! Parsing and validating untrusted cluster reports (`kubeward/cluster-report/v1`).
//!
//! The limits are the wire format's (DESIGN.md): a body of at most 16 MiB, 500 results, 20,000 objects per
//! result, strings as for node reports. Every error names the offending field, as for node reports. Object
//! names are checked against what Kubernetes itself accepts, so that the server never stores a subject that
//! no cluster could hold (and whose page address could not be written).

use std::collections::HashSet;

use crate::cluster_report::{CLUSTER_SCHEMA_V1, ClusterCheckResult, ClusterReport, ObjectResult};
use crate::validate::{MAX_EVIDENCE_PER_RESULT, ReportError, check_string, deserialize_body};

/// A cluster's node count beyond any Kubernetes cluster's (the project tests 5,000; this leaves room).
const MAX_NODES: u64 = 1_000_000;

/// Largest accepted cluster report, after inflating.
pub const MAX_CLUSTER_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Most results (checks) one cluster report may carry.
pub const MAX_CLUSTER_RESULTS: usize = 500;
/// Most objects one check's result may list.
pub const MAX_OBJECTS_PER_RESULT: usize = 20_000;
/// Check ids of the cluster catalogs: CIS numbers (`5.2.2`) and kubeward's own (`KW-SVC-NODEPORT`).
const MAX_CHECK_ID_BYTES: usize = 64;
/// A kind is a CamelCase identifier; the longest built-in one is far shorter.
const MAX_KIND_BYTES: usize = 63;
/// Namespaces are DNS labels.
const MAX_NAMESPACE_BYTES: usize = 63;
/// Object names are at most DNS subdomains (253); some kinds (RBAC) allow any path segment of that length.
const MAX_OBJECT_NAME_BYTES: usize = 253;

/// Parses a cluster report from a request body and enforces every limit of the wire format.
pub fn parse_cluster_report(body: &[u8]) -> Result<ClusterReport, ReportError> {
    if body.len() > MAX_CLUSTER_BODY_BYTES {
        return Err(ReportError::TooLarge {
            size: body.len(),
            limit: MAX_CLUSTER_BODY_BYTES,
        });
    }
    let report: ClusterReport = deserialize_body(body)?;
    validate_cluster_report(&report)?;
    Ok(report)
}

/// Checks the limits and rules that the types alone cannot express.
pub fn validate_cluster_report(report: &ClusterReport) -> Result<(), ReportError> {
    if report.schema != CLUSTER_SCHEMA_V1 {
        return Err(invalid(
            "schema",
            format!("must be \"{CLUSTER_SCHEMA_V1}\""),
        ));
    }
    check_string("agent.version", &report.agent.version, true)?;
    if let Some(version) = &report.cluster.kubernetes_version {
        check_string("cluster.kubernetes_version", version, true)?;
    }
    if report.cluster.nodes.is_some_and(|nodes| nodes > MAX_NODES) {
        return Err(ReportError::invalid(
            "cluster.nodes",
            format!("at most {MAX_NODES}"),
        ));
    }
    if let Some(distribution) = &report.cluster.distribution {
        check_string("cluster.distribution", distribution, true)?;
    }
    check_string("benchmark.id", &report.benchmark.id, true)?;
    check_string("benchmark.version", &report.benchmark.version, true)?;
    if report.finished_at < report.started_at {
        return Err(invalid(
            "finished_at",
            "must not be earlier than started_at",
        ));
    }
    if report.results.len() > MAX_CLUSTER_RESULTS {
        return Err(invalid(
            "results",
            format!(
                "{} results, over the limit of {MAX_CLUSTER_RESULTS}",
                report.results.len()
            ),
        ));
    }
    if let Some(context) = &report.context {
        if report.source != crate::cluster_report::Source::Api {
            return Err(invalid(
                "context",
                "only a live cluster's report carries a context",
            ));
        }
        crate::policy::context::read(context).map_err(|err| match err {
            crate::policy::context::ContextError::Object { index, problem } => {
                invalid(format!("context.objects[{index}]"), problem)
            }
            too_many => invalid("context.objects", too_many.to_string()),
        })?;
    }
    let mut seen = HashSet::with_capacity(report.results.len());
    for (index, result) in report.results.iter().enumerate() {
        check_result(index, result)?;
        if !seen.insert(result.check.as_str()) {
            return Err(invalid(
                format!("results[{index}].check"),
                format!("check \"{}\" appears more than once", result.check),
            ));
        }
    }
    Ok(())
}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> ReportError {
    ReportError::Invalid {
        field: field.into(),
        problem: problem.into(),
    }
}

/// `5.2.2`, `KW-SVC-NODEPORT`: ASCII letters, digits, dots and dashes, starting with a letter or digit.
fn is_cluster_check_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CHECK_ID_BYTES
        && id.as_bytes()[0].is_ascii_alphanumeric()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

fn check_result(index: usize, result: &ClusterCheckResult) -> Result<(), ReportError> {
    let prefix = format!("results[{index}]");
    if !is_cluster_check_id(&result.check) {
        return Err(invalid(
            format!("{prefix}.check"),
            format!(
                "must be 1 to {MAX_CHECK_ID_BYTES} letters, digits, dots or dashes, such as 5.2.2 or KW-SVC-NODEPORT"
            ),
        ));
    }
    if let Some(detail) = &result.detail {
        check_string(&format!("{prefix}.detail"), detail, false)?;
    }
    if result.objects.len() > MAX_OBJECTS_PER_RESULT {
        return Err(invalid(
            format!("{prefix}.objects"),
            format!(
                "{} objects, over the limit of {MAX_OBJECTS_PER_RESULT}",
                result.objects.len()
            ),
        ));
    }
    // An object counted as evaluated cannot be fewer than those listed; a larger count is the normal case.
    if (result.objects.len() as u64) > result.evaluated {
        return Err(invalid(
            format!("{prefix}.evaluated"),
            format!(
                "{} is fewer than the {} objects listed",
                result.evaluated,
                result.objects.len()
            ),
        ));
    }
    let mut subjects = HashSet::with_capacity(result.objects.len());
    for (item, object) in result.objects.iter().enumerate() {
        let field = format!("{prefix}.objects[{item}]");
        check_object(&field, object)?;
        let subject = (
            object.kind.as_str(),
            object.namespace.as_deref(),
            object.name.as_str(),
        );
        if !subjects.insert(subject) {
            return Err(invalid(
                field,
                format!(
                    "{} {} is listed more than once for this check",
                    object.kind,
                    qualified_name(object)
                ),
            ));
        }
    }
    Ok(())
}

fn qualified_name(object: &ObjectResult) -> String {
    match &object.namespace {
        Some(namespace) => format!("{namespace}/{}", object.name),
        None => object.name.to_string(),
    }
}

fn check_object(prefix: &str, object: &ObjectResult) -> Result<(), ReportError> {
    let kind = object.kind.as_str();
    if kind.is_empty()
        || kind.len() > MAX_KIND_BYTES
        || !kind.as_bytes()[0].is_ascii_uppercase()
        || !kind.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(invalid(
            format!("{prefix}.kind"),
            format!(
                "must be a Kubernetes kind: 1 to {MAX_KIND_BYTES} ASCII letters and digits, starting upper-case"
            ),
        ));
    }
    if let Some(namespace) = &object.namespace
        && !is_dns_label(namespace, MAX_NAMESPACE_BYTES)
    {
        return Err(invalid(
            format!("{prefix}.namespace"),
            format!(
                "must be a DNS label: 1 to {MAX_NAMESPACE_BYTES} lower-case letters, digits or dashes"
            ),
        ));
    }
    check_object_name(&format!("{prefix}.name"), &object.name)?;
    if let Some(detail) = &object.detail {
        check_string(&format!("{prefix}.detail"), detail, false)?;
    }
    if object.evidence.len() > MAX_EVIDENCE_PER_RESULT {
        return Err(invalid(
            format!("{prefix}.evidence"),
            format!(
                "{} items, over the limit of {MAX_EVIDENCE_PER_RESULT}",
                object.evidence.len()
            ),
        ));
    }
    for (item, evidence) in object.evidence.iter().enumerate() {
        let field = format!("{prefix}.evidence[{item}]");
        check_string(&format!("{field}.subject"), &evidence.subject, true)?;
        if let Some(path) = &evidence.path {
            check_string(&format!("{field}.path"), path, false)?;
        }
        check_string(&format!("{field}.observed"), &evidence.observed, false)?;
        check_string(&format!("{field}.expected"), &evidence.expected, false)?;
    }
    if let Some(location) = &object.location {
        check_string(&format!("{prefix}.location.file"), &location.file, true)?;
    }
    if let Some(platform) = &object.platform {
        check_string(&format!("{prefix}.platform.list"), &platform.list, true)?;
        check_string(
            &format!("{prefix}.platform.version"),
            &platform.version,
            true,
        )?;
        check_string(
            &format!("{prefix}.platform.reason"),
            &platform.reason,
            false,
        )?;
    }
    Ok(())
}

fn is_dns_label(text: &str, max: usize) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= max
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

/// Kubernetes refuses names that are empty, `.`, `..` or hold `/` or `%` (they are path segments of the API);
/// control characters and white space have no place in any kind's name either.
fn check_object_name(field: &str, name: &str) -> Result<(), ReportError> {
    if name.is_empty() || name.len() > MAX_OBJECT_NAME_BYTES {
        return Err(invalid(
            field,
            format!("must be 1 to {MAX_OBJECT_NAME_BYTES} bytes"),
        ));
    }
    if name == "." || name == ".." || name.contains(['/', '%']) {
        return Err(invalid(field, "must not be . or .. or contain / or %"));
    }
    if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(invalid(
            field,
            "must not contain white space or control characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly on a broken fixture")]

    use super::*;

    fn report(results: &str) -> String {
        format!(
            r#"{{"schema":"kubeward/cluster-report/v1","scan_id":"01938f1e-6b7a-7cc2-9d1e-2f5c3a4b5c6d",
                "agent":{{"version":"0.2.0"}},"source":"api","cluster":{{"kubernetes_version":"v1.33.2"}},
                "benchmark":{{"id":"cis-kubernetes","version":"1.12"}},
                "started_at":"2026-11-22T10:00:00Z","finished_at":"2026-11-22T10:00:01Z",
                "results":[{results}]}}"#
        )
    }

    fn object(kind: &str, namespace: &str, name: &str) -> String {
        format!(
            r#"{{"kind":"{kind}","namespace":"{namespace}","name":"{name}","status":"warn",
                "evidence":[{{"subject":"container app","path":"spec.containers[0]","observed":"true","expected":"false"}}]}}"#
        )
    }

    fn field_of(body: &str) -> String {
        parse_cluster_report(body.as_bytes())
            .unwrap_err()
            .field()
            .unwrap_or("(none)")
            .to_owned()
    }

    #[test]
    fn a_well_formed_cluster_report_is_accepted_with_its_objects() {
        let body = report(&format!(
            r#"{{"check":"5.2.2","status":"warn","evaluated":3,"objects":[{}]}},
               {{"check":"KW-SVC-NODEPORT","status":"pass","evaluated":31,"objects":[]}}"#,
            object("Deployment", "shop", "cart")
        ));
        let parsed = parse_cluster_report(body.as_bytes()).unwrap();
        assert_eq!(parsed.results.len(), 2);
        assert_eq!(parsed.results[0].objects[0].name.as_str(), "cart");
    }

    #[test]
    fn each_broken_field_is_named() {
        let with = |object: String| {
            report(&format!(
                r#"{{"check":"5.2.2","status":"warn","evaluated":5,"objects":[{object}]}}"#
            ))
        };
        assert_eq!(
            field_of(&with(object("deployment", "shop", "cart"))),
            "results[0].objects[0].kind"
        );
        assert_eq!(
            field_of(&with(object("Deployment", "Shop", "cart"))),
            "results[0].objects[0].namespace"
        );
        assert_eq!(
            field_of(&with(object("Deployment", "shop", "../etc"))),
            "results[0].objects[0].name"
        );
        assert_eq!(
            field_of(&with(format!(
                "{},{}",
                object("Deployment", "shop", "cart"),
                object("Deployment", "shop", "cart")
            ))),
            "results[0].objects[1]"
        );
        assert_eq!(
            field_of(&report(
                r#"{"check":"5.2.2<script>","status":"warn","evaluated":1,"objects":[]}"#
            )),
            "results[0].check"
        );
        assert_eq!(
            field_of(&report(&format!(
                r#"{{"check":"5.2.2","status":"warn","evaluated":0,"objects":[{}]}}"#,
                object("Pod", "a", "b")
            ))),
            "results[0].evaluated"
        );
        assert_eq!(
            field_of(&report(
                r#"{"check":"5.2.2","status":"warn","evaluated":-1,"objects":[]}"#
            )),
            "results[0].evaluated"
        );
        assert_eq!(
            field_of(&report(
                r#"{"check":"5.2.2","status":"warn","evaluated":99999999999999999999999,"objects":[]}"#
            )),
            "results[0].evaluated"
        );
        assert_eq!(
            field_of(&report(
                r#"{"check":"5.2.2","status":"broken","evaluated":1,"objects":[]}"#
            )),
            "results[0].status"
        );
    }

    #[test]
    fn a_node_report_is_not_a_cluster_report() {
        let body = report("").replace("cluster-report/v1", "report/v1");
        assert_eq!(field_of(&body), "schema");
    }

    #[test]
    fn the_object_limit_is_enforced_per_result() {
        let objects: Vec<String> = (0..=MAX_OBJECTS_PER_RESULT)
            .map(|n| object("Pod", "a", &format!("p{n}")))
            .collect();
        let body = report(&format!(
            r#"{{"check":"5.2.2","status":"warn","evaluated":30000,"objects":[{}]}}"#,
            objects.join(",")
        ));
        assert_eq!(field_of(&body), "results[0].objects");
    }

    #[test]
    fn an_oversized_body_is_refused_before_it_is_parsed() {
        let body = vec![b' '; MAX_CLUSTER_BODY_BYTES + 1];
        assert!(matches!(
            parse_cluster_report(&body),
            Err(ReportError::TooLarge { .. })
        ));
    }

    #[test]
    fn the_node_count_is_kept_and_an_impossible_or_mistyped_one_refused() {
        let with_nodes = |nodes: &str| {
            report("").replace(
                r#""cluster":{"kubernetes_version":"v1.33.2"}"#,
                &format!(r#""cluster":{{"kubernetes_version":"v1.33.2","nodes":{nodes}}}"#),
            )
        };
        let parsed = parse_cluster_report(with_nodes("5000").as_bytes()).unwrap();
        assert_eq!(parsed.cluster.nodes, Some(5000));
        assert_eq!(field_of(&with_nodes("1000001")), "cluster.nodes");
        for wrong in ["-1", "\"5\"", "1.5", "99999999999999999999999"] {
            let err = parse_cluster_report(with_nodes(wrong).as_bytes()).unwrap_err();
            assert!(err.to_string().contains("cluster.nodes"), "{wrong}: {err}");
        }
    }
}
