//! `POST /api/v1/reports`: an agent delivers one report.
//!
//! Order of refusal: a `Content-Encoding` other than gzip (415, at the edge), no or bad token (401) before
//! anything is read, a content type other than JSON (415), a body over the limit (413, from `Content-Length`
//! or while streaming, never after buffering it whole; a gzipped body also once it inflates past the limit),
//! a body that has not arrived by the deadline (408), an invalid report (400 naming the field), a report
//! dated beyond the clock-skew allowance or before the floor (400 naming the field), a scan id stored with
//! other content (409).

use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use kubeward_benchmark::validate::MAX_BODY_BYTES;
use time::OffsetDateTime;

use super::input::is_json;
use super::problem::ApiError;
use crate::app::ingest::{self, IngestError, IngestOutcome, prepare::prepare};
use crate::app::views::{ReportReceipt, TransitionCounts};
use crate::domain::report_time;
use crate::domain::token::PresentedToken;
use crate::shared::AppState;
use crate::shared::body::{self, Encoding, InflateError};
use crate::storage::tokens;

fn bearer_token(request: &HttpRequest) -> Option<PresentedToken> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    PresentedToken::parse(token.trim())
}

#[utoipa::path(
    post, path = "/api/v1/reports", tag = "reports",
    request_body(content = Object, description = "A v1 report, as defined by the report wire format and its JSON Schema (benchmark/schema)"),
    security(("agent_token" = [])),
    responses(
        (status = 201, description = "Stored now", body = ReportReceipt),
        (status = 200, description = "Stored before: an idempotent re-delivery", body = ReportReceipt),
    )
)]
pub async fn post_report(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (cluster_id, cluster_name) = super::access::authenticate(&state, &request, async {
        let token = bearer_token(&request).ok_or(ApiError::Unauthorized)?;
        let mut conn = state.pool.acquire().await?;
        let (token_id, cluster_id, cluster_name) = tokens::authenticate(&mut conn, &token.hash())
            .await?
            .ok_or(ApiError::Unauthorized)?;
        tokens::touch(&mut conn, token_id).await?;
        Ok((cluster_id, cluster_name))
    })
    .await?;

    if !is_json(&request) {
        return Err(ApiError::UnsupportedMediaType);
    }
    // As sent (compressed or not), bounded in bytes here and in time by the edge's deadline.
    let declared = body::declared_length(request.headers());
    let body = body::read_limited(&mut payload.into_inner(), declared, MAX_BODY_BYTES)
        .await
        .map_err(ApiError::Edge)?;
    let encoding = request.extensions().get::<Encoding>().copied();
    let inflated;
    let body: &[u8] = match encoding {
        Some(Encoding::Gzip) => {
            inflated = body::inflate_gzip(&body, MAX_BODY_BYTES).map_err(|err| match err {
                InflateError::TooLarge => ApiError::PayloadTooLarge {
                    limit: MAX_BODY_BYTES,
                },
                InflateError::Corrupt => ApiError::InvalidReport {
                    field: None,
                    detail: "the body is not a whole gzip stream".to_owned(),
                },
            })?;
            &inflated
        }
        Some(Encoding::Identity) | None => &body,
    };
    let report = kubeward_benchmark::parse_report(body)?;
    report_time::check(
        report.started_at,
        report.finished_at,
        OffsetDateTime::now_utc(),
    )
    .map_err(|err| {
        tracing::warn!(cluster.name = %cluster_name, node.name = %report.node.name, error = %err, "refused a report dated outside the allowed window");
        ApiError::InvalidReport {
            detail: err.to_string(),
            field: Some(err.field.to_owned()),
        }
    })?;
    let catalog = state.catalogs.for_report(&report)?;
    let prepared = prepare(&report, catalog, cluster_id);

    let mut tx = state.pool.begin().await?;
    let outcome = match ingest::ingest(&mut tx, cluster_id, &report, &prepared).await {
        Ok(outcome) => outcome,
        Err(IngestError::Conflict(scan_id)) => return Err(ApiError::Conflict(scan_id)),
        Err(IngestError::Database(err)) => return Err(err.into()),
    };
    match outcome {
        IngestOutcome::Duplicate => {
            tx.rollback().await?;
            tracing::info!(cluster.name = %cluster_name, node.name = %report.node.name, scan.id = %report.scan_id, "scan {} of {} delivered again", report.scan_id, report.node.name);
            Ok(HttpResponse::Ok().json(ReportReceipt {
                scan_id: report.scan_id,
                cluster: cluster_name.to_string(),
                node: report.node.name.clone(),
                stored: "before".to_owned(),
                late: None,
                findings: None,
            }))
        }
        IngestOutcome::Stored(stored) => {
            tx.commit().await?;
            tracing::info!(
                cluster.name = %cluster_name,
                node.name = %report.node.name,
                scan.id = %report.scan_id,
                opened = stored.opened,
                resolved = stored.resolved,
                reopened = stored.reopened,
                late = stored.late,
                "stored scan {} of {}", report.scan_id, report.node.name
            );
            Ok(HttpResponse::Created().json(ReportReceipt {
                scan_id: report.scan_id,
                cluster: cluster_name.to_string(),
                node: report.node.name.clone(),
                stored: "now".to_owned(),
                late: Some(stored.late),
                findings: Some(TransitionCounts {
                    opened: stored.opened,
                    resolved: stored.resolved,
                    reopened: stored.reopened,
                }),
            }))
        }
    }
}
