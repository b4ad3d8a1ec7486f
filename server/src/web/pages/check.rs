//! `/checks/{check}`: one check across the fleet: how many nodes failed it over time, per cluster, and which
//! nodes fail it now (or on the as-of day) with their evidence.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::findings::FindingLine;
use super::{Layout, day_text, encode};
use crate::app::policies::{Bucketed, bucketed_status};
use crate::shared::AppState;
use crate::storage::findings::{self, FindingFilter};
use crate::storage::{policies, trends};
use crate::web::charts::{self, ScoreChart, Sparkline};
use crate::web::error::PageError;
use crate::web::form::PageContext;
use crate::web::security;

const DAYS: i64 = 90;
const FAILING_SHOWN: i64 = 500;

#[derive(Debug)]
pub struct ClusterSpread {
    pub cluster: String,
    pub link: String,
    pub failing: i64,
    pub nodes: i64,
    pub trend: Sparkline,
}

#[derive(Template)]
#[template(path = "check.html")]
struct CheckPage {
    layout: Layout,
    id: String,
    title: String,
    section: String,
    level: u8,
    assessment: &'static str,
    remediation: String,
    chart: ScoreChart,
    clusters: Vec<ClusterSpread>,
    failing: Vec<FindingLine>,
    days: i64,
}

pub async fn show(
    path: web::Path<String>,
    state: web::Data<AppState>,
    context: PageContext,
) -> Result<HttpResponse, PageError> {
    let id = path.into_inner();
    let Some(check) = state.catalogs.find_check(&id).cloned() else {
        return policy_check(&id, &state, context).await;
    };
    let as_of = context.as_of.clone();
    let layout = context.layout(format!("Check {}", check.id));
    let moment = layout.moment();
    let day = moment.date();
    let first_day = day - time::Duration::days(DAYS - 1);
    let mut conn = state.pool.acquire().await?;
    let spread = trends::check_daily_by_cluster(&mut conn, &check.id, first_day, day).await?;
    let filter = FindingFilter {
        check: Some(check.id.clone()),
        state: Some("open"),
        ..FindingFilter::default()
    };
    let open = match &as_of {
        None => findings::page(&mut conn, &filter, 0, FAILING_SHOWN).await?,
        Some(as_of) => {
            findings::page_as_of(&mut conn, &filter, as_of.end, 0, FAILING_SHOWN).await?
        }
    };
    drop(conn);

    // The fleet's share of reporting nodes failing, and each cluster's, day by day.
    let slots = usize::try_from(DAYS).unwrap_or(0);
    let mut fleet = vec![(0i64, 0i64); slots];
    let mut by_cluster: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
    let mut latest: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for point in &spread {
        let Some(slot) = usize::try_from((point.day - first_day).whole_days())
            .ok()
            .filter(|slot| *slot < slots)
        else {
            continue;
        };
        fleet[slot].0 += point.failing_nodes;
        fleet[slot].1 += point.nodes;
        let share = (point.nodes > 0).then(|| point.failing_nodes as f64 / point.nodes as f64);
        by_cluster
            .entry(point.cluster.clone())
            .or_insert_with(|| vec![None; slots])[slot] = share;
        latest.insert(point.cluster.clone(), (point.failing_nodes, point.nodes));
    }
    let fleet_share: Vec<Option<f64>> = fleet
        .iter()
        .map(|(failing, nodes)| (*nodes > 0).then(|| *failing as f64 / *nodes as f64))
        .collect();
    let mut chart = charts::score_chart(&fleet_share, day_text(first_day), day_text(day));
    chart.label = chart
        .label
        .replace("score", "share of reporting nodes failing");
    let clusters = by_cluster
        .into_iter()
        .map(|(cluster, series)| {
            let (failing, nodes) = latest.get(&cluster).copied().unwrap_or_default();
            let mut trend = charts::sparkline(&series);
            trend.label = trend.label.replace("score", "share failing");
            ClusterSpread {
                link: layout.link(&format!("/clusters/{}", encode(&cluster))),
                cluster,
                failing,
                nodes,
                trend,
            }
        })
        .collect();
    let failing = open
        .iter()
        .map(|row| FindingLine::for_page(row, &state.catalogs, moment, &layout))
        .collect();
    let page = CheckPage {
        title: check.title.clone(),
        section: section_text(&state.catalogs, &check.section),
        level: check.level,
        assessment: assessment_name(check.assessment),
        remediation: check.remediation.clone(),
        id: check.id.clone(),
        chart,
        clusters,
        failing,
        days: DAYS,
        layout,
    };
    Ok(security::page(StatusCode::OK, page.render()?))
}

/// `5.2 Pod security`: a section's number and title.
fn section_text(catalogs: &crate::catalogs::Catalogs, section: &str) -> String {
    format!(
        "{section} {}",
        catalogs.section_title(section).unwrap_or_default()
    )
}

fn assessment_name(assessment: kubeward_benchmark::catalog::Assessment) -> &'static str {
    match assessment {
        kubeward_benchmark::catalog::Assessment::Automated => "Automated",
        kubeward_benchmark::catalog::Assessment::Manual => "Manual",
    }
}

#[derive(Debug)]
pub struct PolicyClusterRow {
    pub cluster: String,
    pub link: String,
    pub status: String,
    pub evaluated: i64,
    pub failing: i64,
    pub unknown: i64,
    pub platform: i64,
    pub scanned_at: String,
}

#[derive(Template)]
#[template(path = "policy_check.html")]
struct PolicyCheckPage {
    layout: Layout,
    id: String,
    title: String,
    catalog: String,
    section: String,
    level: String,
    assessment: &'static str,
    guidance: String,
    remediation: String,
    equivalents: Vec<String>,
    clusters: Vec<PolicyClusterRow>,
    failing: Vec<FindingLine>,
}

/// A cluster-scope check across the fleet: each cluster's newest result and every object failing it.
async fn policy_check(
    id: &str,
    state: &AppState,
    context: PageContext,
) -> Result<HttpResponse, PageError> {
    let (check, catalog) = state
        .catalogs
        .find_policy_check(id)
        .ok_or_else(|| PageError::NotFound(format!("check {id}")))?;
    let layout = context.layout(format!("Check {}", check.id));
    let moment = layout.moment();
    let mut conn = state.pool.acquire().await?;
    let by_cluster = policies::check_by_cluster(&mut conn, &check.id, moment).await?;
    let filter = FindingFilter {
        check: Some(check.id.clone()),
        state: Some("open"),
        ..FindingFilter::default()
    };
    let open = match &context.as_of {
        None => findings::page(&mut conn, &filter, 0, FAILING_SHOWN).await?,
        Some(as_of) => {
            findings::page_as_of(&mut conn, &filter, as_of.end, 0, FAILING_SHOWN).await?
        }
    };
    drop(conn);
    let equivalents = &check.equivalents;
    let page = PolicyCheckPage {
        id: check.id.clone(),
        title: check.title.clone(),
        catalog: catalog.to_owned(),
        section: section_text(&state.catalogs, &check.section),
        level: check
            .level
            .map(|level| format!("level {level}"))
            .unwrap_or_default(),
        assessment: assessment_name(check.assessment),
        guidance: check.guidance.clone().unwrap_or_default(),
        remediation: check.remediation.clone(),
        equivalents: equivalents
            .cis
            .iter()
            .map(|id| format!("CIS {id}"))
            .chain(equivalents.nsa.iter().map(|id| format!("NSA/CISA {id}")))
            .chain(
                equivalents
                    .kubescape
                    .iter()
                    .map(|id| format!("Kubescape {id}")),
            )
            .chain(equivalents.checkov.iter().map(|id| format!("Checkov {id}")))
            .chain(equivalents.polaris.iter().map(|id| format!("Polaris {id}")))
            .chain(equivalents.trivy.iter().map(|id| format!("Trivy {id}")))
            .collect(),
        clusters: by_cluster
            .into_iter()
            .map(|row| {
                let counts = Bucketed::new(
                    row.platform_bucket,
                    row.failing,
                    row.unknown,
                    row.platform_fail + row.platform_warn,
                    row.platform_unknown,
                    row.platform,
                );
                PolicyClusterRow {
                    link: layout.link(&format!("/clusters/{}#policies", encode(&row.cluster))),
                    status: bucketed_status(
                        &row.status,
                        row.platform_bucket,
                        row.platform_fail,
                        row.platform_warn,
                    ),
                    cluster: row.cluster,
                    evaluated: row.evaluated,
                    failing: counts.failing,
                    unknown: counts.unknown,
                    platform: counts.platform,
                    scanned_at: super::time_text(row.scanned_at),
                }
            })
            .collect(),
        failing: open
            .iter()
            .map(|row| FindingLine::for_page(row, &state.catalogs, moment, &layout))
            .collect(),
        layout,
    };
    Ok(security::page(StatusCode::OK, page.render()?))
}
