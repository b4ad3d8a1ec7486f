//! A readable terminal summary, grouped by section, with totals; colour only on a terminal.

use std::fmt::Write;

use kubeward_benchmark::report::Report;
use kubeward_benchmark::{Catalog, Status};

use super::totals;

pub(crate) fn label(status: Status) -> &'static str {
    match status {
        Status::Pass => "PASS",
        Status::Fail => "FAIL",
        Status::Warn => "WARN",
        Status::Manual => "MANUAL",
        Status::NotApplicable => "N/A",
        Status::Error => "ERROR",
    }
}

pub(crate) fn colour(status: Status) -> &'static str {
    match status {
        Status::Pass => "\x1b[32m",
        Status::Fail | Status::Error => "\x1b[31m",
        Status::Warn => "\x1b[33m",
        Status::Manual | Status::NotApplicable => "\x1b[2m",
    }
}

/// One evidence line: what was inspected, what was seen, what was expected, each made printable.
pub(crate) fn write_evidence(
    out: &mut String,
    indent: &str,
    [subject, observed, expected]: [&str; 3],
) {
    let _ = writeln!(
        out,
        "{indent}{}: {} (expected {})",
        printable(subject),
        printable(observed),
        printable(expected)
    );
}

/// The evidence lines of one result (or one object of it), then its detail.
pub(crate) fn write_findings<'a>(
    out: &mut String,
    indent: &str,
    evidence: impl IntoIterator<Item = [&'a str; 3]>,
    detail: Option<&str>,
) {
    for line in evidence {
        write_evidence(out, indent, line);
    }
    if let Some(detail) = detail {
        let _ = writeln!(out, "{indent}{}", printable(detail));
    }
}

/// The closing line: how many results, and how many of each status.
pub(crate) fn write_total(out: &mut String, statuses: impl ExactSizeIterator<Item = Status>) {
    let count = statuses.len();
    let summary: Vec<String> = totals(statuses)
        .into_iter()
        .map(|(status, count)| format!("{count} {}", label(status).to_lowercase()))
        .collect();
    let _ = writeln!(out, "\nTotal {count}: {}", summary.join(", "));
}

/// Strips terminal control characters from text a node could influence, so evidence cannot drive the terminal.
pub(crate) fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

pub fn render(report: &Report, catalog: &Catalog, colour_on: bool) -> String {
    let paint = |status: Status| {
        let text = format!("{:<6}", label(status));
        if colour_on {
            format!("{}{text}\x1b[0m", colour(status))
        } else {
            text
        }
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} on node {} ({})",
        catalog.title,
        printable(&report.node.name),
        report
            .node
            .roles
            .iter()
            .map(|role| role.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(platform) = &report.node.platform {
        let variant = platform
            .variant
            .as_deref()
            .map(|variant| format!(" ({})", printable(variant)))
            .unwrap_or_default();
        let how = if platform.choice == "auto" {
            "chosen from the node"
        } else {
            "set by --benchmark"
        };
        let _ = writeln!(
            out,
            "Distribution: {}{variant}; benchmark {how}",
            printable(&platform.distribution)
        );
        for signal in &platform.signals {
            let _ = writeln!(
                out,
                "  signal for {}: {}",
                printable(&signal.distribution),
                printable(&signal.observed)
            );
        }
        if let Some(doubt) = &platform.uncertain {
            let _ = writeln!(out, "WARNING: {}", printable(doubt));
        }
    }
    let mut current_section = "";
    for result in &report.results {
        let check = catalog.check(&result.check);
        let section = check.map_or("", |check| check.section.as_str());
        if section != current_section {
            current_section = section;
            let title = catalog
                .section(section)
                .map_or("", |section| section.title.as_str());
            let _ = writeln!(out, "\n{section} {title}");
        }
        let title = check.map_or("(unknown check)", |check| check.title.as_str());
        let _ = writeln!(
            out,
            "  {} {:<7} {title}",
            paint(result.status),
            result.check
        );
        if matches!(result.status, Status::Fail | Status::Warn | Status::Error) {
            write_findings(
                &mut out,
                "           ",
                result.evidence.iter().map(|evidence| {
                    [
                        evidence.subject.as_str(),
                        evidence.observed.as_str(),
                        evidence.expected.as_str(),
                    ]
                }),
                result.detail.as_deref(),
            );
        }
    }
    write_total(&mut out, report.results.iter().map(|result| result.status));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubeward_benchmark::report::{AgentInfo, CheckResult, Evidence, NodeInfo, SCHEMA_V1};

    fn report(observed: &str) -> Report {
        let catalog = Catalog::builtin("cis-1.12").unwrap();
        Report {
            schema: SCHEMA_V1.to_owned(),
            scan_id: uuid::Uuid::nil(),
            agent: AgentInfo {
                version: "0".into(),
            },
            node: NodeInfo {
                name: "n\u{1b}[2J".into(),
                roles: Vec::new(),
                kubelet_version: None,
                container_runtime: None,
                pod_security_defaults: None,
                platform: None,
            },
            benchmark: catalog.benchmark.clone(),
            started_at: time::OffsetDateTime::UNIX_EPOCH,
            finished_at: time::OffsetDateTime::UNIX_EPOCH,
            results: vec![CheckResult {
                check: "1.1.1".into(),
                status: Status::Fail,
                evidence: vec![Evidence {
                    subject: "/f".into(),
                    observed: observed.into(),
                    expected: "0600".into(),
                    source: None,
                }],
                detail: None,
            }],
        }
    }

    #[test]
    fn colour_is_used_on_a_terminal_only_and_node_text_cannot_drive_it() {
        let catalog = Catalog::builtin("cis-1.12").unwrap();
        let hostile = report("0644\u{1b}[31m");
        let coloured = render(&hostile, &catalog, true);
        assert!(coloured.contains("\u{1b}[31mFAIL  \u{1b}[0m"), "{coloured}");
        let plain = render(&hostile, &catalog, false);
        assert!(!plain.contains('\u{1b}'), "{plain}");
        // Escape sequences from the node are neutralised even on a terminal.
        assert!(
            coloured.contains("0644?[31m") && coloured.contains("n?[2J"),
            "{coloured}"
        );
    }
}
