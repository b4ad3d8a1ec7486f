//! SARIF 2.1.0 for code-scanning UIs: one run, one rule per check, one result per object that is not passing,
//! located at its file and line so that the manifest is annotated. Findings on platform-owned objects carry an
//! external suppression with the list's reason, so that they stay visible without failing a review.

use kubeward_benchmark::Status;
use kubeward_benchmark::cluster_report::ClusterReport;
use kubeward_benchmark::policy::PolicyCatalog;
use serde_json::{Value, json};

use crate::manifests::InputError;

fn level(status: Status) -> &'static str {
    match status {
        Status::Fail | Status::Error => "error",
        Status::Warn => "warning",
        _ => "note",
    }
}

pub fn render(
    reports: &[ClusterReport],
    catalogs: &[PolicyCatalog],
    input_errors: &[InputError],
) -> Value {
    let mut rules = Vec::new();
    let mut results = Vec::new();
    for report in reports {
        let catalog = catalogs
            .iter()
            .find(|catalog| catalog.benchmark == report.benchmark);
        for result in &report.results {
            let check = catalog.and_then(|catalog| catalog.check(&result.check));
            let rule_id = format!("{}/{}", report.benchmark.id, result.check);
            rules.push(json!({
                "id": rule_id,
                "name": check.map_or(result.check.as_str(), |check| check.key.as_str()),
                "shortDescription": { "text": check.map_or("", |check| check.title.as_str()) },
                "help": { "text": check.map_or("", |check| check.remediation.as_str()) },
                "properties": { "benchmark": report.benchmark.id, "check": result.check },
            }));
            for object in &result.objects {
                let name = match &object.namespace {
                    Some(namespace) => format!("{} {namespace}/{}", object.kind, object.name),
                    None => format!("{} {}", object.kind, object.name),
                };
                let mut message = format!("{} {name}", result.check);
                for evidence in &object.evidence {
                    message.push_str(&format!(
                        "; {}: {} (expected {})",
                        evidence.subject, evidence.observed, evidence.expected
                    ));
                }
                if let Some(detail) = &object.detail {
                    message.push_str(&format!("; {detail}"));
                }
                let mut entry = json!({
                    "ruleId": rule_id,
                    "level": level(object.status),
                    "message": { "text": message },
                    "properties": { "status": object.status.as_str(), "kind": object.kind, "name": object.name },
                });
                if let Some(location) = &object.location {
                    entry["locations"] = json!([{
                        "physicalLocation": {
                            "artifactLocation": { "uri": location.file },
                            "region": { "startLine": location.line.max(1) },
                        }
                    }]);
                }
                if let Some(platform) = &object.platform {
                    entry["suppressions"] = json!([{
                        "kind": "external",
                        "justification": format!("platform-owned ({} {}): {}", platform.list, platform.version, platform.reason),
                    }]);
                }
                results.push(entry);
            }
        }
    }
    let notifications: Vec<Value> = input_errors
        .iter()
        .map(|error| {
            let mut notification =
                json!({ "level": "error", "message": { "text": error.message } });
            notification["locations"] = json!([{
                "physicalLocation": {
                    "artifactLocation": { "uri": error.file },
                    "region": { "startLine": error.line.unwrap_or(1).max(1) },
                }
            }]);
            notification
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "kubeward",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/kubeward/kubeward",
                "rules": rules,
            }},
            "invocations": [{
                "executionSuccessful": input_errors.is_empty(),
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
        }]
    })
}
