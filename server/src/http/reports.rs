//! `POST /api/v1/reports`: an agent delivers one report, a node's (`kubeward/report/v1`, at most 1 MiB) or a
//! cluster's (`kubeward/cluster-report/v1`, at most 16 MiB); the `schema` field decides.
//!
//! Order of refusal: a `Content-Encoding` other than gzip (415, at the edge), no or bad token (401) before
//! anything is read, a content type other than JSON (415), a body over the limit (413, from `Content-Length`
//! or while streaming, never after buffering it whole; a gzipped body also once it inflates past the limit),
//! a body that has not arrived by the deadline (408), an invalid report (400 naming the field), a report
//! dated beyond the clock-skew allowance or before the floor (400 naming the field), a scan id stored with
//! other content (409).

use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use kubeward_benchmark::cluster_report::{CLUSTER_SCHEMA_V1, Source};
use kubeward_benchmark::report::SCHEMA_V1;
use kubeward_benchmark::schema_peek::peek_schema;
use kubeward_benchmark::validate_cluster::MAX_CLUSTER_BODY_BYTES;
use time::OffsetDateTime;

use super::input::is_json;
use super::problem::ApiError;
use crate::app::ingest::cluster::ingest_cluster;
use crate::app::ingest::cross_layer::decide_from_nodes;
use crate::app::ingest::prepare_cluster::{prepare_cluster, sent_content_hash};
use crate::app::ingest::{self, IngestError, IngestOutcome, prepare::prepare};
use crate::app::views::ReportReceipt;
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
    request_body(content = Object, description = "A node report (kubeward/report/v1, at most 1 MiB) or a cluster report (kubeward/cluster-report/v1, at most 16 MiB), as the wire formats and their JSON Schemas (benchmark/schema) define them; the schema field decides. Content-Encoding: gzip is accepted, the limit applying to the inflated body."),
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
    // As sent (compressed or not), bounded in bytes here and in time by the edge's deadline. The larger
    // limit, the cluster report's, applies until the schema is known.
    let declared = body::declared_length(request.headers());
    let body = body::read_limited(&mut payload.into_inner(), declared, MAX_CLUSTER_BODY_BYTES)
        .await
        .map_err(ApiError::Edge)?;
    let encoding = request.extensions().get::<Encoding>().copied();
    let inflated;
    let body: &[u8] = match encoding {
        Some(Encoding::Gzip) => {
            inflated =
                body::inflate_gzip(&body, MAX_CLUSTER_BODY_BYTES).map_err(|err| match err {
                    InflateError::TooLarge => ApiError::PayloadTooLarge {
                        limit: MAX_CLUSTER_BODY_BYTES,
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
    match schema_of(body)? {
        ReportKind::Cluster => post_cluster_report(&state, cluster_id, &cluster_name, body).await,
        ReportKind::Node => post_node_report(&state, cluster_id, &cluster_name, body).await,
    }
}

enum ReportKind {
    Node,
    Cluster,
}

/// Which wire format a body claims. A body without a plain top-level `schema` string is left to the node
/// report's parser, whose errors name the field.
fn schema_of(body: &[u8]) -> Result<ReportKind, ApiError> {
    match peek_schema(body) {
        None | Some(SCHEMA_V1) => Ok(ReportKind::Node),
        Some(CLUSTER_SCHEMA_V1) => Ok(ReportKind::Cluster),
        Some(_) => Err(ApiError::InvalidReport {
            field: Some("schema".to_owned()),
            detail: format!("schema: must be \"{SCHEMA_V1}\" or \"{CLUSTER_SCHEMA_V1}\""),
        }),
    }
}

fn refuse_dates(
    started_at: OffsetDateTime,
    finished_at: OffsetDateTime,
    cluster_name: &str,
) -> Result<(), ApiError> {
    report_time::check(started_at, finished_at, OffsetDateTime::now_utc()).map_err(|err| {
        tracing::warn!(cluster.name = %cluster_name, error = %err, "refused a report dated outside the allowed window");
        ApiError::InvalidReport {
            detail: err.to_string(),
            field: Some(err.field.to_owned()),
        }
    })
}

async fn post_node_report(
    state: &AppState,
    cluster_id: i64,
    cluster_name: &str,
    body: &[u8],
) -> Result<HttpResponse, ApiError> {
    let report = kubeward_benchmark::parse_report(body)?;
    refuse_dates(report.started_at, report.finished_at, cluster_name)?;
    let catalog = state.catalogs.for_report(&report)?;
    let prepared = prepare(&report, catalog, cluster_id);

    let mut tx = state.pool.begin().await?;
    let outcome = match ingest::ingest(
        &mut tx,
        &state.known_attribute_sets,
        cluster_id,
        &report,
        &prepared,
    )
    .await
    {
        Ok(outcome) => outcome,
        Err(IngestError::Conflict(scan_id)) => return Err(ApiError::Conflict(scan_id)),
        Err(IngestError::Database(err)) => return Err(err.into()),
    };
    match outcome {
        IngestOutcome::Duplicate => {
            tx.rollback().await?;
            tracing::info!(cluster.name = %cluster_name, node.name = %report.node.name, scan.id = %report.scan_id, "scan {} of {} delivered again", report.scan_id, report.node.name);
            Ok(HttpResponse::Ok().json(ReportReceipt::before(
                report.scan_id,
                cluster_name,
                Some(report.node.name.clone()),
            )))
        }
        IngestOutcome::Stored(stored) => {
            tx.commit().await?;
            tracing::info!(
                cluster.name = %cluster_name,
                node.name = %report.node.name,
                scan.id = %report.scan_id,
                opened = stored.findings.opened,
                resolved = stored.findings.resolved,
                reopened = stored.findings.reopened,
                late = stored.late,
                "stored scan {} of {}", report.scan_id, report.node.name
            );
            Ok(HttpResponse::Created().json(ReportReceipt::now(
                report.scan_id,
                cluster_name,
                Some(report.node.name.clone()),
                stored.late,
                stored.findings,
            )))
        }
    }
}

async fn post_cluster_report(
    state: &AppState,
    cluster_id: i64,
    cluster_name: &str,
    body: &[u8],
) -> Result<HttpResponse, ApiError> {
    let mut report = kubeward_benchmark::parse_cluster_report(body)?;
    if report.source != Source::Api {
        return Err(ApiError::InvalidReport {
            field: Some("source".to_owned()),
            detail: "source: the server follows live clusters (\"api\"); manifests are checked in CI, not stored".to_owned(),
        });
    }
    refuse_dates(report.started_at, report.finished_at, cluster_name)?;
    let catalog = state.catalogs.for_cluster_report(&report)?;
    let catalog_checks: Vec<String> = catalog
        .checks
        .iter()
        .map(|check| check.id.clone())
        .collect();
    let mut tx = state.pool.begin().await?;
    let content_hash = sent_content_hash(&report, cluster_id);
    decide_from_nodes(&mut tx, catalog, cluster_id, &mut report).await?;
    let prepared = prepare_cluster(&report, cluster_id, content_hash);
    let outcome =
        match ingest_cluster(&mut tx, cluster_id, &report, &prepared, &catalog_checks).await {
            Ok(outcome) => outcome,
            Err(IngestError::Conflict(scan_id)) => return Err(ApiError::Conflict(scan_id)),
            Err(IngestError::Database(err)) => return Err(err.into()),
        };
    let benchmark = &report.benchmark.id;
    match outcome {
        IngestOutcome::Duplicate => {
            tx.rollback().await?;
            tracing::info!(cluster.name = %cluster_name, scan.id = %report.scan_id, "cluster scan {} ({benchmark}) delivered again", report.scan_id);
            Ok(HttpResponse::Ok().json(ReportReceipt::before(report.scan_id, cluster_name, None)))
        }
        IngestOutcome::Stored(stored) => {
            tx.commit().await?;
            tracing::info!(
                cluster.name = %cluster_name,
                scan.id = %report.scan_id,
                objects = stored.objects,
                opened = stored.findings.opened,
                resolved = stored.findings.resolved,
                reopened = stored.findings.reopened,
                late = stored.late,
                "stored cluster scan {} ({benchmark}) of {cluster_name}", report.scan_id
            );
            Ok(HttpResponse::Created().json(ReportReceipt {
                objects: Some(stored.objects),
                ..ReportReceipt::now(
                    report.scan_id,
                    cluster_name,
                    None,
                    stored.late,
                    stored.findings,
                )
            }))
        }
    }
}
