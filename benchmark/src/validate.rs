//! Parsing and validating untrusted reports.
//!
//! A report comes from a node, and a compromised node writes what it likes: every limit of the wire format is
//! enforced here, and every error names the offending field so that an agent author can fix it.

use std::collections::HashSet;

use crate::report::{CheckResult, Evidence, Report, SCHEMA_V1};

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Most results one report may carry.
pub const MAX_RESULTS: usize = 2_000;
/// Most evidence items one result may carry.
pub const MAX_EVIDENCE_PER_RESULT: usize = 200;
/// Longest accepted string, in bytes of UTF-8.
pub const MAX_STRING_BYTES: usize = 4 * 1024;
/// Longest check id; CIS ids are short dotted numbers.
const MAX_CHECK_ID_BYTES: usize = 32;
/// Kubernetes node names are DNS subdomains: at most 253 characters.
const MAX_NODE_NAME_BYTES: usize = 253;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("the report is {size} bytes, over the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("{field}: {problem}")]
    Invalid { field: String, problem: String },
}

impl ReportError {
    pub(crate) fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Self {
        ReportError::Invalid {
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// The JSON path of the offending field, when the error is about one field.
    pub fn field(&self) -> Option<&str> {
        match self {
            ReportError::TooLarge { .. } => None,
            ReportError::Invalid { field, .. } => Some(field),
        }
    }
}

/// Parses a v1 report from a request body and enforces every limit of the wire format.
pub fn parse_report(body: &[u8]) -> Result<Report, ReportError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ReportError::TooLarge {
            size: body.len(),
            limit: MAX_BODY_BYTES,
        });
    }
    let report: Report = deserialize_body(body)?;
    validate_report(&report)?;
    Ok(report)
}

/// Reads one JSON document into `T`, naming the path of the first field that does not fit and refusing
/// anything after the document.
pub(crate) fn deserialize_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
) -> Result<T, ReportError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let field = if path == "." {
            "(report)".to_owned()
        } else {
            path
        };
        ReportError::invalid(field, shorten(&err.into_inner().to_string()))
    })?;
    deserializer
        .end()
        .map_err(|_| ReportError::invalid("(report)", "trailing characters after the report"))?;
    Ok(value)
}

/// The distributions a platform fingerprint may name.
pub const DISTRIBUTIONS: &[&str] = &[
    "kubeadm",
    "eks",
    "aks",
    "gke",
    "k3s",
    "rke2",
    "openshift",
    "unknown",
];

/// At most this many signals and followed files: a fingerprint is a summary, not a dump of the host.
const MAX_PLATFORM_ITEMS: usize = 64;

fn check_platform(platform: &crate::report::Platform) -> Result<(), ReportError> {
    let known = |field: &str, name: &str| {
        if DISTRIBUTIONS.contains(&name) {
            Ok(())
        } else {
            Err(ReportError::invalid(
                field,
                format!("must be one of {}", DISTRIBUTIONS.join(", ")),
            ))
        }
    };
    known("node.platform.distribution", &platform.distribution)?;
    if let Some(variant) = &platform.variant {
        check_string("node.platform.variant", variant, true)?;
        if variant.len() > 64 {
            return Err(ReportError::invalid(
                "node.platform.variant",
                "at most 64 bytes",
            ));
        }
    }
    if !matches!(platform.choice.as_str(), "auto" | "override") {
        return Err(ReportError::invalid(
            "node.platform.choice",
            "must be auto or override",
        ));
    }
    if platform.signals.len() > MAX_PLATFORM_ITEMS {
        return Err(ReportError::invalid(
            "node.platform.signals",
            format!("at most {MAX_PLATFORM_ITEMS} signals"),
        ));
    }
    for (i, signal) in platform.signals.iter().enumerate() {
        known(
            &format!("node.platform.signals[{i}].distribution"),
            &signal.distribution,
        )?;
        check_string(
            &format!("node.platform.signals[{i}].observed"),
            &signal.observed,
            true,
        )?;
    }
    if platform.followed.len() > MAX_PLATFORM_ITEMS {
        return Err(ReportError::invalid(
            "node.platform.followed",
            format!("at most {MAX_PLATFORM_ITEMS} files"),
        ));
    }
    for (i, path) in platform.followed.iter().enumerate() {
        check_string(&format!("node.platform.followed[{i}]"), path, true)?;
    }
    if let Some(reason) = &platform.uncertain {
        check_string("node.platform.uncertain", reason, true)?;
    }
    Ok(())
}

/// Checks the limits and rules that the types alone cannot express.
pub fn validate_report(report: &Report) -> Result<(), ReportError> {
    if report.schema != SCHEMA_V1 {
        return Err(ReportError::invalid(
            "schema",
            format!("must be \"{SCHEMA_V1}\""),
        ));
    }
    check_string("agent.version", &report.agent.version, true)?;
    check_node_name(&report.node.name)?;
    if let Some(version) = &report.node.kubelet_version {
        check_string("node.kubelet_version", version, true)?;
    }
    if let Some(runtime) = &report.node.container_runtime {
        check_string("node.container_runtime", runtime, true)?;
        if runtime.len() > 200 {
            return Err(ReportError::invalid(
                "node.container_runtime",
                "at most 200 bytes",
            ));
        }
    }
    if let Some(defaults) = &report.node.pod_security_defaults {
        if !matches!(
            defaults.enforce.as_str(),
            "privileged" | "baseline" | "restricted"
        ) {
            return Err(ReportError::invalid(
                "node.pod_security_defaults.enforce",
                "must be privileged, baseline or restricted",
            ));
        }
        check_string("node.pod_security_defaults.source", &defaults.source, true)?;
    }
    if let Some(platform) = &report.node.platform {
        check_platform(platform)?;
    }
    let mut roles = HashSet::new();
    for (i, role) in report.node.roles.iter().enumerate() {
        if !roles.insert(role) {
            return Err(ReportError::invalid(
                format!("node.roles[{i}]"),
                format!("duplicate role \"{}\"", role.as_str()),
            ));
        }
    }
    check_string("benchmark.id", &report.benchmark.id, true)?;
    check_string("benchmark.version", &report.benchmark.version, true)?;
    if report.finished_at < report.started_at {
        return Err(ReportError::invalid(
            "finished_at",
            "must not be earlier than started_at",
        ));
    }
    if report.results.len() > MAX_RESULTS {
        return Err(ReportError::invalid(
            "results",
            format!(
                "{} results, over the limit of {MAX_RESULTS}",
                report.results.len()
            ),
        ));
    }
    let mut seen = HashSet::with_capacity(report.results.len());
    for (i, result) in report.results.iter().enumerate() {
        check_result(i, result)?;
        if !seen.insert(result.check.as_str()) {
            return Err(ReportError::invalid(
                format!("results[{i}].check"),
                format!("check \"{}\" appears more than once", result.check),
            ));
        }
    }
    Ok(())
}

fn check_result(index: usize, result: &CheckResult) -> Result<(), ReportError> {
    let field = format!("results[{index}].check");
    if result.check.is_empty() || result.check.len() > MAX_CHECK_ID_BYTES {
        return Err(ReportError::invalid(
            field,
            format!("must be 1 to {MAX_CHECK_ID_BYTES} bytes"),
        ));
    }
    if !is_check_id(&result.check) {
        return Err(ReportError::invalid(
            field,
            "must be a dotted check id such as 1.2.3",
        ));
    }
    if let Some(detail) = &result.detail {
        check_string(&format!("results[{index}].detail"), detail, false)?;
    }
    if result.evidence.len() > MAX_EVIDENCE_PER_RESULT {
        return Err(ReportError::invalid(
            format!("results[{index}].evidence"),
            format!(
                "{} items, over the limit of {MAX_EVIDENCE_PER_RESULT}",
                result.evidence.len()
            ),
        ));
    }
    for (j, evidence) in result.evidence.iter().enumerate() {
        check_evidence(index, j, evidence)?;
    }
    Ok(())
}

fn check_evidence(result: usize, item: usize, evidence: &Evidence) -> Result<(), ReportError> {
    let prefix = format!("results[{result}].evidence[{item}]");
    check_string(&format!("{prefix}.subject"), &evidence.subject, true)?;
    check_string(&format!("{prefix}.observed"), &evidence.observed, false)?;
    check_string(&format!("{prefix}.expected"), &evidence.expected, false)?;
    if let Some(source) = &evidence.source {
        check_string(&format!("{prefix}.source"), source, false)?;
    }
    Ok(())
}

/// A check id is dot-separated groups of ASCII digits, optionally with a trailing letter group
/// (some benchmarks number checks like `5.1.1a`).
pub fn is_check_id(id: &str) -> bool {
    !id.is_empty()
        && id.split('.').all(|part| {
            !part.is_empty()
                && part.bytes().all(|b| b.is_ascii_alphanumeric())
                && part.as_bytes()[0].is_ascii_digit()
        })
}

fn check_node_name(name: &str) -> Result<(), ReportError> {
    if name.is_empty() || name.len() > MAX_NODE_NAME_BYTES {
        return Err(ReportError::invalid(
            "node.name",
            format!("must be 1 to {MAX_NODE_NAME_BYTES} bytes"),
        ));
    }
    if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ReportError::invalid(
            "node.name",
            "must not contain white space or control characters",
        ));
    }
    // A node's name is one segment of its page's address: `/` would split it, `.` and `..` would be
    // resolved away by every browser, leaving the node stored but its page unreachable. Kubernetes node
    // names (DNS subdomains) never hold them.
    if name == "." || name == ".." || name.contains('/') {
        return Err(ReportError::invalid(
            "node.name",
            "must not be . or .. or contain /",
        ));
    }
    Ok(())
}

pub(crate) fn check_string(field: &str, value: &str, required: bool) -> Result<(), ReportError> {
    if required && value.trim().is_empty() {
        return Err(ReportError::invalid(field, "must not be empty"));
    }
    // PostgreSQL text cannot hold NUL, and no evidence needs it.
    if value.contains('\0') {
        return Err(ReportError::invalid(
            field,
            "must not contain NUL characters",
        ));
    }
    if value.len() > MAX_STRING_BYTES {
        return Err(ReportError::invalid(
            field,
            format!(
                "{} bytes, over the limit of {MAX_STRING_BYTES}",
                value.len()
            ),
        ));
    }
    Ok(())
}

/// Keeps parser messages short: they can quote the offending input back.
fn shorten(message: &str) -> String {
    const LIMIT: usize = 300;
    if message.len() <= LIMIT {
        return message.to_owned();
    }
    let mut end = LIMIT;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &message[..end])
}
