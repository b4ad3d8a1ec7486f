//! `/clusters/{cluster}`: the score over 30, 90 or 365 days, per benchmark section, every node with its score
//! and staleness, the open findings with their age, and what opened and resolved recently.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use kubeward_benchmark::catalog::compare_ids;
use serde::Deserialize;

use super::findings::subject_path;
use super::governance::may;
use super::{Layout, SCORE_DEFINITION, age, day_text, encode, percent, time_text};
use crate::app::policies::{self, PolicyStanding};
use crate::app::standing::{self, ClusterDetail};
use crate::domain::cluster::ClusterName;
use crate::domain::object::written_namespace;
use crate::domain::score::Counts;
use crate::domain::score::POLICY_DEFINITION;
use crate::shared::AppState;
use crate::storage::cluster_scans;
use crate::storage::findings::{self, FindingFilter};
use crate::storage::standing as stored_standing;
use crate::web::charts::{self, ScoreChart};
use crate::web::error::PageError;
use crate::web::form::PageContext;
use crate::web::security;

/// Open findings listed on the page; the findings list has the rest.
const FINDINGS_SHOWN: i64 = 500;
/// "Recently" is this many days.
const RECENT_DAYS: i64 = 14;

#[derive(Debug, Deserialize)]
pub struct ClusterQuery {
    range: Option<String>,
}

#[derive(Debug)]
pub struct RangeLink {
    pub days: i64,
    pub link: String,
    pub active: bool,
}

#[derive(Debug)]
pub struct SectionRow {
    pub id: String,
    pub title: String,
    pub score: String,
    pub counts: Counts,
}

#[derive(Debug)]
pub struct NodeRow {
    pub name: String,
    pub link: String,
    pub roles: String,
    /// The benchmark its last scan was judged by.
    pub benchmark: String,
    pub score: String,
    pub counts: Counts,
    pub last_report: String,
    pub stale: bool,
}

#[derive(Debug)]
pub struct FindingRow {
    pub node: String,
    pub node_link: String,
    pub check: String,
    pub title: String,
    pub opened: String,
    pub age: String,
    pub ticket: Option<String>,
    /// The exception waiving it at the page's moment.
    pub exception: Option<i64>,
}

#[derive(Debug)]
pub struct TransitionRow {
    pub at: String,
    pub kind: String,
    pub node: String,
    pub node_link: String,
    pub check: String,
    pub title: String,
}

/// A cluster-scope check in the cluster's newest scan of its catalog.
#[derive(Debug)]
pub struct PolicyRow {
    pub check: String,
    pub link: String,
    pub title: String,
    /// What the scan (or the nodes, for a check decided by both layers) said of the check as a whole.
    pub detail: Option<String>,
    pub status: String,
    pub evaluated: i64,
    pub failing: i64,
    pub unknown: i64,
    pub platform: i64,
    /// Failing objects an exception in force waived.
    pub waived: i64,
    /// `pass by alice until 2027-01-01` and the attestation's link, when one answers for the check.
    pub attested: Option<(String, String)>,
    /// The findings list of this check in this cluster.
    pub findings_link: String,
}

#[derive(Debug)]
pub struct PlatformLine {
    pub on: bool,
    pub lists: String,
    pub change: Option<String>,
}

/// The objects of one namespace that the newest scans listed.
#[derive(Debug)]
pub struct NamespaceLine {
    pub name: String,
    pub failing: i64,
    pub unknown: i64,
    pub platform: i64,
    pub waived: i64,
    pub objects: i64,
    pub findings_link: String,
}

/// How many of the cluster's nodes report, against how many the cluster agent counted.
#[derive(Debug)]
pub struct Coverage {
    pub reporting: i64,
    pub counted: i64,
    pub counted_at: String,
    pub complete: bool,
}

/// The nodes one benchmark judged, scored among themselves.
#[derive(Debug)]
pub struct BenchmarkRow {
    pub title: String,
    pub nodes: usize,
    pub score: String,
    pub counts: Counts,
}

#[derive(Template)]
#[template(path = "cluster.html")]
struct ClusterPage {
    layout: Layout,
    name: String,
    labels: Vec<String>,
    score: String,
    definition: &'static str,
    counts: Counts,
    nodes_reporting: i64,
    stale_nodes: i64,
    /// Nodes reporting against the nodes the cluster agent counted, when it counted them.
    coverage: Option<Coverage>,
    last_report: String,
    chart: ScoreChart,
    /// The chart's numbers, newest day first: (day, score).
    daily: Vec<(String, String)>,
    ranges: Vec<RangeLink>,
    range_days: i64,
    sections: Vec<SectionRow>,
    benchmarks: Vec<BenchmarkRow>,
    nodes: Vec<NodeRow>,
    findings: Vec<FindingRow>,
    more_findings: bool,
    opened: Vec<TransitionRow>,
    resolved: Vec<TransitionRow>,
    recent_days: i64,
    policy_score: String,
    policy_definition: &'static str,
    /// When the newest cluster scan read finished; empty when none had arrived by then.
    policies_scanned: String,
    policy_passed: i64,
    policy_failed: i64,
    policy_checks: Vec<PolicyRow>,
    namespaces: Vec<NamespaceLine>,
    platform: PlatformLine,
    can_set_platform: bool,
    csrf: String,
}

pub async fn show(
    path: web::Path<String>,
    query: web::Query<ClusterQuery>,
    state: web::Data<AppState>,
    context: PageContext,
) -> Result<HttpResponse, PageError> {
    let name = ClusterName::parse(&path)
        .map_err(|_| PageError::NotFound("this cluster".to_owned()))?
        .to_string();
    let as_of = context.as_of.clone();
    let range_days = match query.range.as_deref() {
        None | Some("90") => 90,
        Some("30") => 30,
        Some("365") => 365,
        Some(_) => {
            return Err(PageError::BadRequest(
                "range= must be 30, 90 or 365".to_owned(),
            ));
        }
    };
    let layout = context.layout(format!("Cluster {name}"));
    let moment = layout.moment();
    let day = moment.date();
    let ClusterDetail {
        cluster,
        nodes,
        sections: by_section,
        benchmarks,
    } = standing::cluster(
        &state.pool,
        &state.catalogs,
        layout.standing_moment(),
        state.stale_after,
        &name,
    )
    .await?
    .ok_or_else(|| PageError::NotFound(format!("cluster {name}")))?;
    let first_day = day - time::Duration::days(range_days - 1);
    let filter = FindingFilter {
        cluster: Some(name.clone()),
        state: Some("open"),
        ..FindingFilter::default()
    };
    let findings_and_changes = async {
        let mut conn = state.pool.acquire().await?;
        let open = match &as_of {
            None => findings::page(&mut conn, &filter, 0, FINDINGS_SHOWN + 1).await?,
            Some(as_of) => {
                findings::page_as_of(&mut conn, &filter, as_of.end, 0, FINDINGS_SHOWN + 1).await?
            }
        };
        let recent = stored_standing::transitions(
            &mut conn,
            cluster.id,
            None,
            moment - time::Duration::days(RECENT_DAYS),
            moment,
            200,
        )
        .await?;
        let counted = cluster_scans::node_count(
            &mut conn,
            cluster.id,
            &state.catalogs.policy_benchmarks(),
            moment,
        )
        .await?;
        Ok::<_, sqlx::Error>((open, recent, counted))
    };
    // The trend, the policies and the open findings are independent reads: on connections of their own,
    // PostgreSQL runs them side by side.
    let (mut series_by_cluster, standing, (open, recent, counted)) = tokio::try_join!(
        standing::daily_series(&state.pool, first_day, day, Some(cluster.id)),
        policies::cluster(&state.pool, &state.catalogs, cluster.id, moment),
        findings_and_changes,
    )?;
    let series = series_by_cluster
        .remove(&cluster.id)
        .unwrap_or_else(|| vec![None; usize::try_from(range_days).unwrap_or(0)]);

    let mut sections: Vec<SectionRow> = by_section
        .into_iter()
        .map(|(id, counts)| SectionRow {
            title: state
                .catalogs
                .section_title(&id)
                .unwrap_or("(unknown section)")
                .to_owned(),
            score: percent(counts.score()),
            counts,
            id,
        })
        .collect();
    sections.sort_by(|a, b| compare_ids(&a.id, &b.id));
    let stale_before = moment - state.stale_after;
    let node_link = |node: &str| {
        layout.link(&format!(
            "/clusters/{}/nodes/{}",
            encode(&name),
            encode(node)
        ))
    };
    let benchmark_title = |benchmark: &kubeward_benchmark::report::BenchmarkRef| {
        state.catalogs.benchmark_title(benchmark).map_or_else(
            || format!("{} {}", benchmark.id, benchmark.version),
            str::to_owned,
        )
    };
    let benchmarks: Vec<BenchmarkRow> = benchmarks
        .iter()
        .map(|group| BenchmarkRow {
            title: benchmark_title(&group.benchmark),
            nodes: group.nodes,
            score: percent(group.counts.score()),
            counts: group.counts,
        })
        .collect();
    let node_rows = nodes
        .iter()
        .map(|node| NodeRow {
            benchmark: benchmark_title(&node.benchmark),
            link: node_link(&node.name),
            name: node.name.clone(),
            roles: node.roles.join(", "),
            score: percent(node.counts.score()),
            counts: node.counts,
            last_report: time_text(node.last_report),
            stale: node.last_report < stale_before,
        })
        .collect();
    let title_of = |check: &str| {
        state
            .catalogs
            .check_title(check)
            .unwrap_or("(unknown check)")
            .to_owned()
    };
    let more_findings = open.len() as i64 > FINDINGS_SHOWN;
    let findings = open
        .iter()
        .take(usize::try_from(FINDINGS_SHOWN).unwrap_or(0))
        .map(|finding| FindingRow {
            node_link: layout.link(&subject_path(&name, &finding.subject())),
            node: finding.subject().label(),
            title: title_of(&finding.check_id),
            check: finding.check_id.clone(),
            opened: time_text(finding.state_since),
            age: age(finding.state_since, moment),
            ticket: finding.ticket_key.clone(),
            exception: finding.exception_id,
        })
        .collect();
    let transition = |event: &stored_standing::Transition| TransitionRow {
        at: time_text(event.at),
        kind: event.kind.clone(),
        node_link: node_link(&event.node),
        node: event.node.clone(),
        title: title_of(&event.check_id),
        check: event.check_id.clone(),
    };
    let opened = recent
        .iter()
        .filter(|event| event.kind == "opened" || event.kind == "reopened")
        .map(transition)
        .collect();
    let resolved = recent
        .iter()
        .filter(|event| event.kind == "resolved")
        .map(transition)
        .collect();
    let ranges = [30, 90, 365]
        .into_iter()
        .map(|days| RangeLink {
            days,
            link: layout.link(&format!("/clusters/{}?range={days}", encode(&name))),
            active: days == range_days,
        })
        .collect();
    let page = ClusterPage {
        labels: cluster
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        score: percent(cluster.counts.score()),
        definition: SCORE_DEFINITION,
        counts: cluster.counts,
        coverage: counted.map(|(counted, at)| {
            // Stale nodes do not report any more: they do not cover the cluster.
            let reporting = cluster.nodes - cluster.stale_nodes;
            Coverage {
                reporting,
                counted,
                counted_at: time_text(at),
                complete: reporting >= counted,
            }
        }),
        nodes_reporting: cluster.nodes,
        stale_nodes: cluster.stale_nodes,
        last_report: cluster
            .last_report
            .map(time_text)
            .unwrap_or_else(|| "never".to_owned()),
        daily: series
            .iter()
            .enumerate()
            .rev()
            .map(|(offset, score)| {
                let shown = first_day + time::Duration::days(offset as i64);
                (day_text(shown), percent(*score))
            })
            .collect(),
        chart: charts::score_chart(&series, day_text(first_day), day_text(day)),
        ranges,
        range_days,
        sections,
        benchmarks,
        nodes: node_rows,
        findings,
        more_findings,
        opened,
        resolved,
        recent_days: RECENT_DAYS,
        policy_score: percent(standing.score()),
        policy_definition: POLICY_DEFINITION,
        policies_scanned: standing.scanned_at.map(time_text).unwrap_or_default(),
        policy_passed: standing.passed,
        policy_failed: standing.failed,
        policy_checks: policy_rows(&standing, &name, &layout),
        platform: platform_line(&standing),
        can_set_platform: may(&context.visitor, "/clusters/{cluster}/platform-bucket"),
        csrf: context.visitor.csrf_token.clone(),
        namespaces: namespace_lines(&standing, &name, &layout),
        name,
        layout,
    };
    Ok(security::page(StatusCode::OK, page.render()?))
}

/// What the page says of the platform-owned bucket: which lists named objects, and whether they were set
/// apart or counted (with who turned it off, when and why).
fn platform_line(standing: &PolicyStanding) -> PlatformLine {
    PlatformLine {
        on: standing.platform_bucket_on,
        lists: if standing.platform_lists.is_empty() {
            "none named an object".to_owned()
        } else {
            standing.platform_lists.join(", ")
        },
        change: standing.platform_bucket_change.as_ref().map(|change| {
            format!(
                "turned {} by {} at {}: {}",
                if change.enabled { "on" } else { "off" },
                change.changed_by,
                time_text(change.changed_at),
                change.reason
            )
        }),
    }
}

fn policy_rows(standing: &PolicyStanding, cluster: &str, layout: &Layout) -> Vec<PolicyRow> {
    standing
        .checks
        .iter()
        .map(|check| PolicyRow {
            link: layout.link(&format!("/checks/{}", encode(&check.check_id))),
            findings_link: layout.link(&format!(
                "/findings?cluster={}&check={}&state=open",
                encode(cluster),
                encode(&check.check_id)
            )),
            check: check.check_id.clone(),
            title: check.title.clone(),
            detail: check.detail.clone(),
            status: check.status.clone(),
            evaluated: check.evaluated,
            failing: check.failing,
            unknown: check.unknown,
            platform: check.platform,
            waived: check.waived,
            attested: check.attestation.as_ref().map(|attested| {
                (
                    format!(
                        "{} by {} until {}",
                        attested.verdict,
                        attested.attested_by,
                        time_text(attested.valid_until)
                    ),
                    layout.link(&format!("/attestations/{}", attested.attestation_id)),
                )
            }),
        })
        .collect()
}

fn namespace_lines(
    standing: &PolicyStanding,
    cluster: &str,
    layout: &Layout,
) -> Vec<NamespaceLine> {
    standing
        .namespaces
        .iter()
        .map(|namespace| NamespaceLine {
            name: if namespace.namespace.is_empty() {
                "(cluster-scoped)".to_owned()
            } else {
                namespace.namespace.clone()
            },
            findings_link: layout.link(&format!(
                "/findings?cluster={}&namespace={}&state=open",
                encode(cluster),
                encode(written_namespace(&namespace.namespace))
            )),
            failing: namespace.counts.failing,
            unknown: namespace.counts.unknown,
            platform: namespace.counts.platform,
            waived: namespace.waived,
            objects: namespace.objects,
        })
        .collect()
}
