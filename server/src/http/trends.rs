//! `GET /api/v1/trends` (score over time for the fleet, a cluster, a section) and
//! `GET /api/v1/trends/checks` (how many nodes and clusters fail one check over time).

use actix_web::{HttpResponse, web};
use time::{Date, OffsetDateTime};

use super::api::{bad, text_param};
use super::problem::ApiError;
use super::query::{ApiQuery, CheckTrendQuery, ScoreTrendQuery};
use crate::app::views::{CheckPoint, CheckSeries, DayCounts, ScorePoint, ScoreSeries};
use crate::domain::score;
use crate::domain::time::day_text;
use crate::shared::AppState;
use crate::storage::trends;

const MAX_DAYS: i64 = 400;

fn day_param(name: &str, value: Option<&str>, default: Date) -> Result<Date, ApiError> {
    match value {
        None => Ok(default),
        Some(text) => crate::domain::time::parse_day(text)
            .ok_or_else(|| bad(name, "must be a date such as 2026-11-01")),
    }
}

/// The days from `from` to `to`, both included: the 30 days to today by default, at most a year and a bit.
fn range(from: Option<&str>, to: Option<&str>) -> Result<(Date, Date), ApiError> {
    let today = OffsetDateTime::now_utc().date();
    let to = day_param("to", to, today)?;
    let from = day_param("from", from, to - time::Duration::days(29))?;
    if from > to {
        return Err(bad("from", "must not be after `to`"));
    }
    if (to - from).whole_days() >= MAX_DAYS {
        return Err(bad(
            "from",
            format!("the range is limited to {MAX_DAYS} days"),
        ));
    }
    Ok((from, to))
}

#[utoipa::path(
    get, path = "/api/v1/trends", tag = "trends",
    params(ScoreTrendQuery),
    responses((status = 200, description = "One point per day", body = ScoreSeries))
)]
pub async fn scores(
    ApiQuery(query): ApiQuery<ScoreTrendQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let cluster = text_param("cluster", query.cluster.as_deref(), 63)?;
    let section = text_param("section", query.section.as_deref(), 32)?;
    if section
        .as_deref()
        .is_some_and(|section| !kubeward_benchmark::validate::is_check_id(section))
    {
        return Err(bad("section", "must be a section number such as 1.2"));
    }
    let (from, to) = range(query.from.as_deref(), query.to.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    let days =
        trends::daily_counts(&mut conn, cluster.as_deref(), section.as_deref(), from, to).await?;
    let points = days
        .iter()
        .map(|day| {
            // Unknown on a day when any node's passes are unknown: the one rule of `domain::score`.
            let automated_pass = day.automated_pass.filter(|_| day.unscored_nodes == 0);
            let score = score::score(automated_pass, day.fail);
            ScorePoint {
                day: day_text(day.day),
                nodes: day.nodes,
                score,
                counts: DayCounts {
                    pass: day.pass,
                    fail: day.fail,
                    warn: day.warn,
                    manual: day.manual,
                    not_applicable: day.not_applicable,
                    error: day.error,
                    automated_pass,
                },
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(ScoreSeries {
        cluster,
        section,
        from: day_text(from),
        to: day_text(to),
        score_definition: score::DEFINITION.to_owned(),
        points,
    }))
}

#[utoipa::path(
    get, path = "/api/v1/trends/checks", tag = "trends",
    params(CheckTrendQuery),
    responses((status = 200, description = "One point per day", body = CheckSeries))
)]
pub async fn checks(
    ApiQuery(query): ApiQuery<CheckTrendQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let check = text_param("check", query.check.as_deref(), 32)?
        .ok_or_else(|| bad("check", "is required"))?;
    if !kubeward_benchmark::validate::is_check_id(&check) {
        return Err(bad("check", "must be a check id such as 1.2.15"));
    }
    let cluster = text_param("cluster", query.cluster.as_deref(), 63)?;
    let (from, to) = range(query.from.as_deref(), query.to.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    let days = trends::check_daily(&mut conn, &check, cluster.as_deref(), from, to).await?;
    let points = days
        .iter()
        .map(|day| CheckPoint {
            day: day_text(day.day),
            nodes: day.nodes,
            failing_nodes: day.failing_nodes,
            failing_clusters: day.failing_clusters,
        })
        .collect();
    Ok(HttpResponse::Ok().json(CheckSeries {
        check,
        cluster,
        from: day_text(from),
        to: day_text(to),
        points,
    }))
}
