//! JUnit XML for cluster reports: one test suite per catalog, one test case per check. A failing check is a
//! failure whose text lists its objects; `error` is an error; `warn`, `manual` and `not_applicable` are
//! skipped with their status, as for node reports.

use std::fmt::Write;

use kubeward_benchmark::Status;
use kubeward_benchmark::cluster_report::ClusterReport;
use kubeward_benchmark::policy::PolicyCatalog;

use super::junit::escape;

pub fn render(reports: &[ClusterReport], catalogs: &[PolicyCatalog]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    for report in reports {
        let catalog = catalogs
            .iter()
            .find(|catalog| catalog.benchmark == report.benchmark);
        let count = |wanted: &[Status]| {
            report
                .results
                .iter()
                .filter(|r| wanted.contains(&r.status))
                .count()
        };
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">",
            escape(&format!(
                "{} {}",
                report.benchmark.id, report.benchmark.version
            )),
            report.results.len(),
            count(&[Status::Fail]),
            count(&[Status::Error]),
            count(&[Status::Warn, Status::Manual, Status::NotApplicable]),
        );
        for result in &report.results {
            let title = catalog
                .and_then(|catalog| catalog.check(&result.check))
                .map_or("", |check| check.title.as_str());
            let mut text = String::new();
            for object in result
                .objects
                .iter()
                .filter(|object| object.platform.is_none())
            {
                let _ = write!(text, "{} {}", object.status, object.kind);
                if let Some(namespace) = &object.namespace {
                    let _ = write!(text, " {namespace}/");
                } else {
                    text.push(' ');
                }
                text.push_str(&object.name);
                if let Some(location) = &object.location {
                    let _ = write!(text, " ({}:{})", location.file, location.line);
                }
                text.push('\n');
                for evidence in &object.evidence {
                    let _ = writeln!(
                        text,
                        "  {}: {} (expected {})",
                        evidence.subject, evidence.observed, evidence.expected
                    );
                }
                if let Some(detail) = &object.detail {
                    let _ = writeln!(text, "  {detail}");
                }
            }
            if let Some(detail) = &result.detail {
                text.push_str(detail);
            }
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\"",
                escape(&report.benchmark.id),
                escape(&format!("{} {title}", result.check))
            );
            match result.status {
                Status::Pass => out.push_str("/>\n"),
                Status::Fail => {
                    let _ = write!(
                        out,
                        ">\n      <failure message=\"{} object(s)\">{}</failure>\n    </testcase>\n",
                        result.objects.len(),
                        escape(&text)
                    );
                }
                Status::Error => {
                    let _ = write!(
                        out,
                        ">\n      <error message=\"error\">{}</error>\n    </testcase>\n",
                        escape(&text)
                    );
                }
                other => {
                    let _ = write!(
                        out,
                        ">\n      <skipped message=\"{other}\">{}</skipped>\n    </testcase>\n",
                        escape(&text)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}
