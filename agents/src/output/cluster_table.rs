//! A terminal summary of cluster reports: per catalog, every check with its status, and under the checks that
//! are not passing, each object with its location and evidence. Platform-owned objects are listed apart.

use std::fmt::Write;

use kubeward_benchmark::Status;
use kubeward_benchmark::cluster_report::{ClusterReport, ObjectResult};
use kubeward_benchmark::policy::PolicyCatalog;

use super::table::{colour, label, printable, write_findings, write_total};

fn object_line(object: &ObjectResult) -> String {
    let mut name = match &object.namespace {
        Some(namespace) => format!("{} {namespace}/{}", object.kind, object.name),
        None => format!("{} {}", object.kind, object.name),
    };
    if let Some(location) = &object.location {
        name.push_str(&format!(" ({}:{})", location.file, location.line));
    }
    printable(&name)
}

pub fn render(reports: &[ClusterReport], catalogs: &[PolicyCatalog], colour_on: bool) -> String {
    let paint = |status: Status| {
        let text = format!("{:<6}", label(status));
        if colour_on {
            format!("{}{text}\x1b[0m", colour(status))
        } else {
            text
        }
    };
    let mut out = String::new();
    for report in reports {
        let catalog = catalogs
            .iter()
            .find(|catalog| catalog.benchmark == report.benchmark);
        let title = catalog.map_or(report.benchmark.id.as_str(), |catalog| {
            catalog.title.as_str()
        });
        let _ = writeln!(
            out,
            "{title} ({})",
            match report.source {
                kubeward_benchmark::cluster_report::Source::Api => "live cluster",
                kubeward_benchmark::cluster_report::Source::Manifests => "manifests",
            }
        );
        let mut platform_owned = 0;
        for result in &report.results {
            let check_title = catalog
                .and_then(|catalog| catalog.check(&result.check))
                .map_or("(unknown check)", |check| check.title.as_str());
            let _ = writeln!(
                out,
                "  {} {:<22} {check_title} ({} evaluated)",
                paint(result.status),
                result.check,
                result.evaluated
            );
            if let Some(detail) = &result.detail {
                let _ = writeln!(out, "           {}", printable(detail));
            }
            for object in &result.objects {
                if object.platform.is_some() {
                    platform_owned += 1;
                    continue;
                }
                let _ = writeln!(
                    out,
                    "           {} {}",
                    label(object.status),
                    object_line(object)
                );
                write_findings(
                    &mut out,
                    "             ",
                    object.evidence.iter().map(|evidence| {
                        [
                            evidence.subject.as_str(),
                            evidence.observed.as_str(),
                            evidence.expected.as_str(),
                        ]
                    }),
                    object.detail.as_deref(),
                );
            }
        }
        write_total(&mut out, report.results.iter().map(|result| result.status));
        if platform_owned > 0 {
            let _ = writeln!(
                out,
                "{platform_owned} finding(s) on platform-owned objects ({} list) are not counted; `--format json` lists them",
                report.cluster.distribution.as_deref().unwrap_or("platform")
            );
        }
        out.push('\n');
    }
    out
}
