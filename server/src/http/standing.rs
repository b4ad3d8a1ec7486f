//! `GET /api/v1/standing`: where each cluster stood at a moment, with the exceptions and attestations then in
//! force counted in: the same read model, and so the same numbers, as the fleet and cluster pages.

use actix_web::{HttpResponse, web};

use super::api::{at_param, text_param};
use super::problem::ApiError;
use super::query::{ApiQuery, StandingQuery};
use crate::app::standing::{self, Moment};
use crate::app::views::{ClusterStandingView, Standing, StandingCounts, time_text};
use crate::domain::score;
use crate::shared::AppState;

#[utoipa::path(
    get, path = "/api/v1/standing", tag = "clusters",
    params(StandingQuery),
    responses((status = 200, description = "Each cluster's standing at the moment, in name order; none for a cluster not enrolled then", body = Standing))
)]
pub async fn clusters(
    ApiQuery(query): ApiQuery<StandingQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let cluster = text_param("cluster", query.cluster.as_deref(), 63)?;
    let moment = at_param(query.at.as_deref())?.map_or_else(Moment::now, Moment::at);
    let clusters =
        standing::clusters(&state.pool, moment, state.stale_after, cluster.as_deref()).await?;
    let clusters = clusters
        .into_iter()
        .map(|cluster| {
            let counts = cluster.counts;
            ClusterStandingView {
                score: counts.score(),
                counts: StandingCounts {
                    pass: counts.pass,
                    fail: counts.fail,
                    warn: counts.warn,
                    manual: counts.manual,
                    not_applicable: counts.not_applicable,
                    error: counts.error,
                    automated_pass: counts.automated_pass,
                    waived_fail: counts.waived_fail,
                    waived_warn: counts.waived_warn,
                    attested_pass: counts.attested_pass,
                    attested_fail: counts.attested_fail,
                    unscored_nodes: counts.unscored_nodes,
                },
                labels: cluster
                    .labels
                    .iter()
                    .map(|(key, value)| (key.clone(), value.clone()))
                    .collect(),
                nodes: cluster.nodes,
                stale_nodes: cluster.stale_nodes,
                last_report: cluster.last_report.map(time_text),
                cluster: cluster.name,
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(Standing {
        at: time_text(moment.at),
        score_definition: score::DEFINITION.to_owned(),
        clusters,
    }))
}
