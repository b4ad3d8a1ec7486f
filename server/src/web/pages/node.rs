//! `/clusters/{cluster}/nodes/{node}`: the latest result of every check, grouped by section, with title,
//! level, status, evidence and remediation; and the node's history of changes.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use kubeward_benchmark::catalog::compare_ids;
use kubeward_benchmark::report::BenchmarkRef;

use super::{Layout, day_text, encode, percent, text_of, time_text, until_text};
use crate::app::standing as read_model;
use crate::domain::cluster::ClusterName;
use crate::shared::AppState;
use crate::storage::overlays::Within;
use crate::storage::{scans, standing};
use crate::web::error::PageError;
use crate::web::form::PageContext;
use crate::web::security;

/// One piece of evidence as the page shows it: every field is text from the node, escaped by the template.
#[derive(Debug)]
pub struct EvidenceLine {
    pub subject: String,
    pub observed: String,
    pub expected: String,
    pub source: String,
}

#[derive(Debug)]
pub struct ResultRow {
    /// The check's stable key, which links to its page and names it in findings and governance.
    pub check: String,
    /// The check's id in the benchmark that judged the node, when it differs from the key (EKS `3.2.1`).
    pub benchmark_check: Option<String>,
    pub title: String,
    pub level: String,
    pub status: String,
    /// What the report shows: the status, or `waived` / `attested` when governance answered for it.
    pub shown: String,
    /// Who answered for it and until when, with a link to the exception or attestation.
    pub governance: Option<(String, String)>,
    pub evidence: Vec<EvidenceLine>,
    pub detail: Option<String>,
    pub remediation: String,
}

#[derive(Debug)]
pub struct SectionGroup {
    pub id: String,
    pub title: String,
    pub results: Vec<ResultRow>,
}

#[derive(Debug)]
pub struct HistoryRow {
    pub at: String,
    pub kind: String,
    pub check: String,
    pub title: String,
}

#[derive(Template)]
#[template(path = "node.html")]
struct NodePage {
    layout: Layout,
    cluster: String,
    cluster_link: String,
    diff_link: String,
    findings_link: String,
    name: String,
    roles: String,
    score: String,
    last_report: String,
    stale: bool,
    scan_id: String,
    benchmark: String,
    platform: Option<PlatformView>,
    sections: Vec<SectionGroup>,
    history: Vec<HistoryRow>,
}

/// The platform fingerprint as the page shows it: node text, escaped by the template.
#[derive(Debug)]
pub struct PlatformView {
    pub distribution: String,
    pub how: &'static str,
    pub signals: Vec<String>,
    pub followed: Vec<String>,
    pub uncertain: Option<String>,
}

impl PlatformView {
    fn of(value: &serde_json::Value) -> Option<PlatformView> {
        let distribution = value["distribution"].as_str()?;
        let variant = value["variant"].as_str();
        let strings = |field: &str, each: &dyn Fn(&serde_json::Value) -> String| -> Vec<String> {
            value[field]
                .as_array()
                .map(|items| items.iter().map(each).collect())
                .unwrap_or_default()
        };
        Some(PlatformView {
            distribution: match variant {
                Some(variant) => format!("{distribution} ({variant})"),
                None => distribution.to_owned(),
            },
            how: if value["choice"] == "override" {
                "set by --benchmark"
            } else {
                "chosen by the agent from the node"
            },
            signals: strings("signals", &|signal| {
                format!(
                    "{}: {}",
                    text_of(&signal["distribution"]),
                    text_of(&signal["observed"])
                )
            }),
            followed: strings("followed", &text_of),
            uncertain: value["uncertain"].as_str().map(str::to_owned),
        })
    }
}

fn evidence_lines(value: &serde_json::Value) -> Vec<EvidenceLine> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| EvidenceLine {
                    subject: text_of(&item["subject"]),
                    observed: text_of(&item["observed"]),
                    expected: text_of(&item["expected"]),
                    source: text_of(&item["source"]),
                })
                .collect()
        })
        .unwrap_or_default()
}

pub async fn show(
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
    context: PageContext,
) -> Result<HttpResponse, PageError> {
    let (cluster, node) = path.into_inner();
    let cluster = ClusterName::parse(&cluster)
        .map_err(|_| PageError::NotFound("this cluster".to_owned()))?
        .to_string();
    let layout = context.layout(format!("Node {node}"));
    let moment = layout.moment();
    let mut conn = state.pool.acquire().await?;
    let (standing, found) = read_model::node(
        &mut conn,
        layout.standing_moment(),
        state.stale_after,
        &cluster,
        &node,
    )
    .await?
    .ok_or_else(|| PageError::NotFound(format!("node {node} of {cluster} at that time")))?;
    let (scan, mut results) = scans::results(&mut conn, found.scan_id)
        .await?
        .ok_or_else(|| PageError::NotFound(format!("the last scan of {node}")))?;
    let overlays = read_model::Overlays::read(
        &state.pool,
        layout.standing_moment(),
        Within {
            cluster_id: Some(standing.id),
            node_id: Some(found.id),
        },
    )
    .await?;
    let platform = crate::storage::nodes::platform(&mut conn, found.id).await?;
    let changes = standing::transitions(
        &mut conn,
        standing.id,
        Some(found.id),
        time::OffsetDateTime::UNIX_EPOCH,
        moment,
        500,
    )
    .await?;
    drop(conn);

    let catalog = state.catalogs.get(&BenchmarkRef {
        id: scan.benchmark_id.clone(),
        version: scan.benchmark_version.clone(),
    });
    // Results are stored under their stable keys; the page shows them as the benchmark that judged the
    // node numbers and groups them.
    let own_id = |key: &str| -> String {
        catalog
            .and_then(|catalog| catalog.check_by_key(key).or_else(|| catalog.check(key)))
            .map_or_else(|| key.to_owned(), |check| check.id.clone())
    };
    results.sort_by(|a, b| compare_ids(&own_id(&a.check_id), &own_id(&b.check_id)));
    let mut sections: Vec<SectionGroup> = Vec::new();
    for result in results {
        let check = catalog.and_then(|catalog| {
            catalog
                .check_by_key(&result.check_id)
                .or_else(|| catalog.check(&result.check_id))
        });
        let section = check.map_or_else(
            || {
                result
                    .check_id
                    .rsplit_once('.')
                    .map_or("?", |(head, _)| head)
                    .to_owned()
            },
            |check| check.section.clone(),
        );
        if sections.last().is_none_or(|group| group.id != section) {
            let own_title = catalog
                .and_then(|catalog| catalog.section(&section))
                .map(|found| found.title.as_str());
            sections.push(SectionGroup {
                title: own_title
                    .or_else(|| state.catalogs.section_title(&section))
                    .unwrap_or("(unknown section)")
                    .to_owned(),
                id: section,
                results: Vec::new(),
            });
        }
        let waived = overlays
            .waived
            .iter()
            .find(|waived| waived.check_id == result.check_id);
        let attested = overlays
            .attested
            .iter()
            .find(|attested| attested.check_id == result.check_id);
        let (shown, governance) = match (waived, attested) {
            (Some(waived), _) => (
                "waived".to_owned(),
                Some((
                    format!(
                        "{} waived by exception #{} until {}",
                        result.status,
                        waived.exception_id,
                        until_text(waived.expires_at)
                    ),
                    format!("/exceptions/{}", waived.exception_id),
                )),
            ),
            (None, Some(attested)) => (
                format!("attested {}", attested.verdict),
                Some((
                    format!(
                        "attested {} by {} on {}, valid until {}",
                        attested.verdict,
                        attested.attested_by,
                        day_text(attested.attested_at.date()),
                        until_text(attested.valid_until)
                    ),
                    format!("/attestations/{}", attested.attestation_id),
                )),
            ),
            (None, None) => (result.status.clone(), None),
        };
        if let Some(group) = sections.last_mut() {
            group.results.push(ResultRow {
                shown,
                governance,
                title: check
                    .map_or_else(|| "(unknown check)".to_owned(), |check| check.title.clone()),
                level: check.map_or_else(String::new, |check| format!("L{}", check.level)),
                remediation: check.map_or_else(String::new, |check| check.remediation.clone()),
                status: result.status,
                evidence: evidence_lines(&result.evidence),
                detail: result.detail,
                benchmark_check: check
                    .filter(|check| check.id != result.check_id)
                    .map(|check| check.id.clone()),
                check: result.check_id,
            });
        }
    }
    let history = changes
        .iter()
        .map(|event| HistoryRow {
            at: time_text(event.at),
            kind: event.kind.clone(),
            title: state
                .catalogs
                .check_title(&event.check_id)
                .unwrap_or("(unknown check)")
                .to_owned(),
            check: event.check_id.clone(),
        })
        .collect();
    let page = NodePage {
        cluster_link: layout.link(&format!("/clusters/{}", encode(&cluster))),
        diff_link: layout.link(&format!(
            "/clusters/{}/nodes/{}/diff",
            encode(&cluster),
            encode(&node)
        )),
        findings_link: layout.link(&format!(
            "/findings?cluster={}&node={}&state=all",
            encode(&cluster),
            encode(&node)
        )),
        cluster,
        roles: found.roles.join(", "),
        score: percent(found.counts.score()),
        last_report: time_text(found.last_report),
        stale: found.last_report < moment - state.stale_after,
        scan_id: found.scan_id.to_string(),
        benchmark: catalog.map_or_else(
            || format!("{} {}", scan.benchmark_id, scan.benchmark_version),
            |catalog| catalog.title.clone(),
        ),
        platform: platform.as_ref().and_then(PlatformView::of),
        sections,
        history,
        name: node,
        layout,
    };
    Ok(security::page(StatusCode::OK, page.render()?))
}
