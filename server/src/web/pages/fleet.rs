//! `/`: every cluster with its score, trend, counts by status, nodes reporting and stale, and last report;
//! sortable, filterable by label, today or as of a past day.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Layout, SCORE_DEFINITION, percent, time_text};
use crate::app::policies;
use crate::app::standing;
use crate::domain::score::{Counts, POLICY_DEFINITION, policy_score};
use crate::shared::AppState;
use crate::web::charts::{self, Sparkline};
use crate::web::error::PageError;
use crate::web::form::PageContext;
use crate::web::security;

/// Days in a row's sparkline.
const TREND_DAYS: i64 = 30;

#[derive(Debug, Deserialize)]
pub struct FleetQuery {
    label: Option<String>,
    sort: Option<String>,
}

#[derive(Debug)]
pub struct ClusterRow {
    pub name: String,
    pub link: String,
    pub labels: Vec<String>,
    pub score: Option<f64>,
    pub score_text: String,
    /// The policy score of the cluster's newest cluster scans; empty when none had arrived.
    pub policy_score: String,
    /// Its cluster-scope checks passed and failed.
    pub policy: Option<(i64, i64)>,
    pub trend: Sparkline,
    pub counts: Counts,
    pub nodes: i64,
    pub stale_nodes: i64,
    pub last_report: String,
}

/// A sort the table offers, with its link.
#[derive(Debug)]
pub struct SortLink {
    pub key: &'static str,
    pub label: &'static str,
    pub link: String,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "fleet.html")]
struct FleetPage {
    layout: Layout,
    rows: Vec<ClusterRow>,
    sorts: Vec<SortLink>,
    label: String,
    definition: &'static str,
    policy_definition: &'static str,
    fleet_score: String,
    fleet_policy_score: String,
    totals: Counts,
    total_nodes: i64,
    total_stale: i64,
    /// The benchmarks the nodes' newest scans were judged by, with how many nodes each: (title, nodes).
    benchmarks: Vec<(String, i64)>,
}

const SORTS: &[(&str, &str)] = &[
    ("name", "Name"),
    ("score", "Score (worst first)"),
    ("fail", "Failures (most first)"),
    ("stale", "Stale nodes (most first)"),
];

pub async fn show(
    query: web::Query<FleetQuery>,
    state: web::Data<AppState>,
    context: PageContext,
) -> Result<HttpResponse, PageError> {
    let layout = context.layout("Fleet");
    let label = query.label.clone().unwrap_or_default();
    if label.chars().count() > 300 || label.chars().any(char::is_control) {
        return Err(PageError::BadRequest(
            "label= must be key=value or key, without control characters".to_owned(),
        ));
    }
    let sort = query.sort.as_deref().unwrap_or("name");
    if !SORTS.iter().any(|(key, _)| *key == sort) {
        return Err(PageError::BadRequest(
            "sort= must be name, score, fail or stale".to_owned(),
        ));
    }
    let moment = layout.moment();
    let day = moment.date();
    let first_day = day - time::Duration::days(TREND_DAYS - 1);
    let benchmarks_in_use = async {
        let mut conn = state.pool.acquire().await?;
        crate::storage::nodes::benchmarks_in_use(&mut conn).await
    };
    let (clusters, mut series, policy, benchmarks) = tokio::try_join!(
        standing::clusters(
            &state.pool,
            layout.standing_moment(),
            state.stale_after,
            None
        ),
        standing::daily_series(&state.pool, first_day, day, None),
        policies::fleet(&state.pool, &state.catalogs, moment),
        benchmarks_in_use,
    )?;
    let benchmarks: Vec<(String, i64)> = benchmarks
        .into_iter()
        .map(|(id, version, nodes)| {
            let benchmark = kubeward_benchmark::report::BenchmarkRef { id, version };
            let title = state.catalogs.benchmark_title(&benchmark).map_or_else(
                || format!("{} {}", benchmark.id, benchmark.version),
                str::to_owned,
            );
            (title, nodes)
        })
        .collect();
    let (key, value) = match label.split_once('=') {
        Some((key, value)) => (key.trim(), Some(value.trim())),
        None => (label.trim(), None),
    };
    let mut rows: Vec<ClusterRow> = clusters
        .into_iter()
        .filter(|cluster| {
            key.is_empty()
                || cluster
                    .labels
                    .iter()
                    .any(|(k, v)| k == key && value.is_none_or(|wanted| v == wanted))
        })
        .map(|cluster| {
            let score = cluster.counts.score();
            let trend = series.remove(&cluster.id).unwrap_or_default();
            let policy = policy.get(&cluster.id).copied();
            let policy_score = policy
                .map(|(passed, failed)| percent(policy_score(passed, failed)))
                .unwrap_or_default();
            ClusterRow {
                link: layout.link(&format!("/clusters/{}", super::encode(&cluster.name))),
                labels: cluster
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect(),
                score,
                score_text: percent(score),
                policy_score,
                policy,
                trend: charts::sparkline(&trend),
                counts: cluster.counts,
                nodes: cluster.nodes,
                stale_nodes: cluster.stale_nodes,
                last_report: cluster
                    .last_report
                    .map(time_text)
                    .unwrap_or_else(|| "never".to_owned()),
                name: cluster.name,
            }
        })
        .collect();
    match sort {
        "score" => rows.sort_by(|a, b| {
            a.score
                .unwrap_or(f64::INFINITY)
                .total_cmp(&b.score.unwrap_or(f64::INFINITY))
        }),
        "fail" => rows.sort_by_key(|row| std::cmp::Reverse(row.counts.unwaived_fail())),
        "stale" => rows.sort_by_key(|row| std::cmp::Reverse(row.stale_nodes)),
        _ => {}
    }
    let mut totals = Counts::default();
    for row in &rows {
        totals.add(&row.counts);
    }
    let label_query = if label.is_empty() {
        String::new()
    } else {
        format!("&label={}", super::encode(&label))
    };
    let sorts = SORTS
        .iter()
        .map(|(key, name)| SortLink {
            key,
            label: name,
            link: layout.link(&format!("/?sort={key}{label_query}")),
            active: *key == sort,
        })
        .collect();
    let (passed, failed) = rows
        .iter()
        .filter_map(|row| row.policy)
        .fold((0, 0), |(p, f), (passed, failed)| (p + passed, f + failed));
    let page = FleetPage {
        fleet_score: percent(totals.score()),
        fleet_policy_score: percent(policy_score(passed, failed)),
        policy_definition: POLICY_DEFINITION,
        total_nodes: rows.iter().map(|row| row.nodes).sum(),
        total_stale: rows.iter().map(|row| row.stale_nodes).sum(),
        benchmarks,
        totals,
        rows,
        sorts,
        label,
        definition: SCORE_DEFINITION,
        layout,
    };
    Ok(security::page(StatusCode::OK, page.render()?))
}
