//! JUnit XML for CI systems: one test suite per section, one test case per check. `fail` is a failure,
//! `error` an error; `warn`, `manual` and `not_applicable` are skipped with their status as the message.

use std::fmt::Write;

use kubeward_benchmark::report::{CheckResult, Report};
use kubeward_benchmark::{Catalog, Status};

/// Escapes text for XML attributes and content, dropping characters XML 1.0 cannot carry.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

fn evidence_text(result: &CheckResult) -> String {
    let mut text = String::new();
    for evidence in &result.evidence {
        let _ = writeln!(
            text,
            "{}: observed {}, expected {}{}",
            evidence.subject,
            evidence.observed,
            evidence.expected,
            evidence
                .source
                .as_ref()
                .map(|source| format!(" ({source})"))
                .unwrap_or_default()
        );
    }
    if let Some(detail) = &result.detail {
        text.push_str(detail);
    }
    text
}

pub fn render(report: &Report, catalog: &Catalog) -> String {
    let count = |status: Status, results: &[&CheckResult]| {
        results
            .iter()
            .filter(|result| result.status == status)
            .count()
    };
    let skipped = |results: &[&CheckResult]| {
        count(Status::Warn, results)
            + count(Status::Manual, results)
            + count(Status::NotApplicable, results)
    };
    let all: Vec<&CheckResult> = report.results.iter().collect();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">",
        escape(&format!(
            "kubeward {} on {}",
            catalog.name, report.node.name
        )),
        all.len(),
        count(Status::Fail, &all),
        count(Status::Error, &all),
        skipped(&all)
    );
    for section in &catalog.sections {
        let results: Vec<&CheckResult> = report
            .results
            .iter()
            .filter(|result| {
                catalog
                    .check(&result.check)
                    .is_some_and(|check| check.section == section.id)
            })
            .collect();
        if results.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">",
            escape(&format!("{} {}", section.id, section.title)),
            results.len(),
            count(Status::Fail, &results),
            count(Status::Error, &results),
            skipped(&results)
        );
        for result in results {
            let title = catalog
                .check(&result.check)
                .map_or("", |check| check.title.as_str());
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\"",
                escape(&section.id),
                escape(&format!("{} {title}", result.check))
            );
            let body = escape(&evidence_text(result));
            match result.status {
                Status::Pass => out.push_str("/>\n"),
                Status::Fail => {
                    let _ = writeln!(
                        out,
                        ">\n      <failure message=\"fail\">{body}</failure>\n    </testcase>"
                    );
                }
                Status::Error => {
                    let _ = writeln!(
                        out,
                        ">\n      <error message=\"error\">{body}</error>\n    </testcase>"
                    );
                }
                Status::Warn | Status::Manual | Status::NotApplicable => {
                    let _ = writeln!(
                        out,
                        ">\n      <skipped message=\"{}\">{body}</skipped>\n    </testcase>",
                        result.status
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_evidence_is_escaped() {
        assert_eq!(
            escape("<script>&\"'\u{1}"),
            "&lt;script&gt;&amp;&quot;&apos;?"
        );
    }
}
