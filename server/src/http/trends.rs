//! `GET /api/v1/trends` (score over time for the fleet, a cluster, a section) and
//! `GET /api/v1/trends/checks` (how many nodes and clusters fail one check over time).

use actix_web::{HttpRequest, HttpResponse, web};
use time::{Date, OffsetDateTime};

use super::api::{bad, query, text_param};
use super::problem::ApiError;
use crate::app::views::{CheckPoint, CheckSeries, DayCounts, ScorePoint, ScoreSeries};
use crate::domain::score;
use crate::domain::time::day_text;
use crate::shared::AppState;
use crate::storage::trends;

const MAX_DAYS: i64 = 400;

fn day_param(
    params: &std::collections::HashMap<String, String>,
    name: &str,
    default: Date,
) -> Result<Date, ApiError> {
    match params.get(name) {
        None => Ok(default),
        Some(text) => {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            Date::parse(text, &format).map_err(|_| bad(name, "must be a date such as 2026-11-01"))
        }
    }
}

fn range(params: &std::collections::HashMap<String, String>) -> Result<(Date, Date), ApiError> {
    let today = OffsetDateTime::now_utc().date();
    let to = day_param(params, "to", today)?;
    let from = day_param(params, "from", to - time::Duration::days(29))?;
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
    params(
        ("cluster" = Option<String>, Query, description = "One cluster; the whole fleet when absent"),
        ("section" = Option<String>, Query, description = "One benchmark section, such as 1.2"),
        ("from" = Option<String>, Query, format = Date, description = "First day; 29 days before `to` when absent"),
        ("to" = Option<String>, Query, format = Date, description = "Last day; today (UTC) when absent"),
    ),
    responses((status = 200, description = "One point per day", body = ScoreSeries))
)]
pub async fn scores(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = query(&request, &["cluster", "section", "from", "to"])?;
    let cluster = text_param(&params, "cluster", 63)?;
    let section = text_param(&params, "section", 32)?;
    if section
        .as_deref()
        .is_some_and(|section| !kubeward_benchmark::validate::is_check_id(section))
    {
        return Err(bad("section", "must be a section number such as 1.2"));
    }
    let (from, to) = range(&params)?;
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
    params(
        ("check" = String, Query, description = "Check id, such as 1.2.15"),
        ("cluster" = Option<String>, Query, description = "One cluster; the whole fleet when absent"),
        ("from" = Option<String>, Query, format = Date, description = "First day; 29 days before `to` when absent"),
        ("to" = Option<String>, Query, format = Date, description = "Last day; today (UTC) when absent"),
    ),
    responses((status = 200, description = "One point per day", body = CheckSeries))
)]
pub async fn checks(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = query(&request, &["check", "cluster", "from", "to"])?;
    let check = text_param(&params, "check", 32)?.ok_or_else(|| bad("check", "is required"))?;
    if !kubeward_benchmark::validate::is_check_id(&check) {
        return Err(bad("check", "must be a check id such as 1.2.15"));
    }
    let cluster = text_param(&params, "cluster", 63)?;
    let (from, to) = range(&params)?;
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
