//! Exceptions and attestations over the API. The rules live in [`crate::app::governance`]; these handlers read the
//! request, name the caller, and shape the answer.

use actix_web::{HttpRequest, HttpResponse, web};
use time::OffsetDateTime;

use super::access::Principal;
use super::api::{at_param, bad, id_cursor, limit, paginate, text_param};
use super::input::json_body;
use super::problem::ApiError;
use super::query::{ApiQuery, AtQuery, AttestationsQuery, ExceptionsQuery};
use crate::app::governance::{self, AttestationInput, ExceptionInput, ScopeInput};
use crate::app::views::{
    AttestationPage, AttestationView, DecisionBody, ExceptionPage, ExceptionView,
    NewAttestationBody, NewExceptionBody, PlatformBucketBody,
};
use crate::domain::exception::{self, Action};
use crate::shared::AppState;
use crate::storage::attestations::{self, AttestationFilter};
use crate::storage::exceptions::{self, ExceptionFilter};

fn numeric_id(path: &str, what: &str) -> Result<i64, ApiError> {
    path.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| bad("id", format!("must be the number of {what}")))
}

fn check_param(check: Option<&str>) -> Result<Option<String>, ApiError> {
    text_param("check", check, 64)
}

/// `GET /api/v1/exceptions`
#[utoipa::path(
    get, path = "/api/v1/exceptions", tag = "governance",
    params(ExceptionsQuery),
    responses((status = 200, description = "Exceptions in id order", body = ExceptionPage))
)]
pub async fn list_exceptions(
    ApiQuery(query): ApiQuery<ExceptionsQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let limit = limit(query.limit.as_deref())?;
    let after = id_cursor(query.cursor.as_deref())?;
    let at = at_param(query.at.as_deref())?.unwrap_or_else(OffsetDateTime::now_utc);
    let wanted_state = match query.state.as_deref() {
        None => None,
        Some(text) => Some(
            exception::SHOWN_STATES
                .iter()
                .copied()
                .find(|candidate| *candidate == text)
                .ok_or_else(|| {
                    bad(
                        "state",
                        format!("must be one of {}", exception::SHOWN_STATES.join(", ")),
                    )
                })?,
        ),
    };
    let filter = ExceptionFilter {
        check: check_param(query.check.as_deref())?,
        cluster: text_param("cluster", query.cluster.as_deref(), 63)?,
        state: wanted_state,
        ..ExceptionFilter::default()
    };
    let mut conn = state.pool.acquire().await?;
    let rows = exceptions::list(&mut conn, &filter, at, after, limit + 1).await?;
    let (rows, next) = paginate(rows, limit, |row| row.id.to_string());
    let items = rows
        .iter()
        .map(|row| ExceptionView::at(row, &state.catalogs, at))
        .collect();
    Ok(HttpResponse::Ok().json(ExceptionPage { items, next }))
}

/// `GET /api/v1/exceptions/{id}`
#[utoipa::path(
    get, path = "/api/v1/exceptions/{id}", tag = "governance",
    params(("id" = i64, Path, description = "Exception number"), AtQuery),
    responses((status = 200, description = "The exception", body = ExceptionView))
)]
pub async fn get_exception(
    ApiQuery(query): ApiQuery<AtQuery>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = numeric_id(&path, "an exception")?;
    let at = at_param(query.at.as_deref())?.unwrap_or_else(OffsetDateTime::now_utc);
    let filter = ExceptionFilter {
        id: Some(id),
        ..ExceptionFilter::default()
    };
    let mut conn = state.pool.acquire().await?;
    let row = exceptions::list(&mut conn, &filter, at, 0, 1)
        .await?
        .pop()
        .ok_or_else(|| ApiError::NotFound(format!("exception {id}")))?;
    Ok(HttpResponse::Ok().json(ExceptionView::at(&row, &state.catalogs, at)))
}

/// `POST /api/v1/exceptions`: an admin asks for a failing check to be accepted.
#[utoipa::path(
    post, path = "/api/v1/exceptions", tag = "governance",
    request_body = NewExceptionBody,
    responses((status = 201, description = "Requested; an auditor other than the requester decides it", body = ExceptionView))
)]
pub async fn request_exception(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
    who: web::ReqData<Principal>,
) -> Result<HttpResponse, ApiError> {
    let new: NewExceptionBody = json_body(&request, &body)?;
    let input = ExceptionInput {
        check: new.check.unwrap_or_default(),
        group: new.group,
        scope: ScopeInput {
            cluster: new.cluster,
            nodes: new.nodes,
            namespace: new.namespace,
            kind: new.kind,
            object: new.object,
        },
        justification: new.justification,
        expires_on: new.expires_on,
    };
    let id = governance::request_exception(
        &state.pool,
        &state.catalogs,
        state.limits,
        &who.actor(&request),
        &input,
    )
    .await?;
    answer_exception(&state, id, actix_web::http::StatusCode::CREATED).await
}

async fn answer_exception(
    state: &AppState,
    id: i64,
    status: actix_web::http::StatusCode,
) -> Result<HttpResponse, ApiError> {
    let now = OffsetDateTime::now_utc();
    let filter = ExceptionFilter {
        id: Some(id),
        ..ExceptionFilter::default()
    };
    let mut conn = state.pool.acquire().await?;
    let row = exceptions::list(&mut conn, &filter, now, 0, 1)
        .await?
        .pop()
        .ok_or_else(|| ApiError::NotFound(format!("exception {id}")))?;
    Ok(HttpResponse::build(status).json(ExceptionView::at(&row, &state.catalogs, now)))
}

async fn decide(
    request: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
    who: web::ReqData<Principal>,
    action: Action,
) -> Result<HttpResponse, ApiError> {
    let id = numeric_id(&path, "an exception")?;
    let decision: DecisionBody = json_body(&request, &body)?;
    governance::decide_exception(
        &state.pool,
        id,
        action,
        &who.actor(&request),
        decision.note.as_deref().unwrap_or_default(),
    )
    .await?;
    answer_exception(&state, id, actix_web::http::StatusCode::OK).await
}

/// `POST /api/v1/exceptions/{id}/approve`
#[utoipa::path(
    post, path = "/api/v1/exceptions/{id}/approve", tag = "governance",
    params(("id" = i64, Path, description = "Exception number")),
    request_body = DecisionBody,
    responses((status = 200, description = "Approved: matching failures are waived until its end", body = ExceptionView))
)]
pub async fn approve_exception(
    request: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
    who: web::ReqData<Principal>,
) -> Result<HttpResponse, ApiError> {
    decide(request, path, body, state, who, Action::Approve).await
}

/// `POST /api/v1/exceptions/{id}/reject`
#[utoipa::path(
    post, path = "/api/v1/exceptions/{id}/reject", tag = "governance",
    params(("id" = i64, Path, description = "Exception number")),
    request_body = DecisionBody,
    responses((status = 200, description = "Rejected (the note is required)", body = ExceptionView))
)]
pub async fn reject_exception(
    request: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
    who: web::ReqData<Principal>,
) -> Result<HttpResponse, ApiError> {
    decide(request, path, body, state, who, Action::Reject).await
}

/// `POST /api/v1/exceptions/{id}/revoke`
#[utoipa::path(
    post, path = "/api/v1/exceptions/{id}/revoke", tag = "governance",
    params(("id" = i64, Path, description = "Exception number")),
    request_body = DecisionBody,
    responses((status = 200, description = "Revoked (the note is required): matching failures count again", body = ExceptionView))
)]
pub async fn revoke_exception(
    request: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
    who: web::ReqData<Principal>,
) -> Result<HttpResponse, ApiError> {
    decide(request, path, body, state, who, Action::Revoke).await
}

/// `GET /api/v1/attestations`
#[utoipa::path(
    get, path = "/api/v1/attestations", tag = "governance",
    params(AttestationsQuery),
    responses((status = 200, description = "Attestations in id order", body = AttestationPage))
)]
pub async fn list_attestations(
    ApiQuery(query): ApiQuery<AttestationsQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let limit = limit(query.limit.as_deref())?;
    let after = id_cursor(query.cursor.as_deref())?;
    let at = at_param(query.at.as_deref())?.unwrap_or_else(OffsetDateTime::now_utc);
    let valid = match query.valid.as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(bad("valid", "must be true or false")),
    };
    let filter = AttestationFilter {
        check: check_param(query.check.as_deref())?,
        cluster: text_param("cluster", query.cluster.as_deref(), 63)?,
        valid,
        ..AttestationFilter::default()
    };
    let mut conn = state.pool.acquire().await?;
    let rows = attestations::list(&mut conn, &filter, at, after, limit + 1).await?;
    let (rows, next) = paginate(rows, limit, |row| row.id.to_string());
    let items = rows
        .iter()
        .map(|row| AttestationView::at(row, &state.catalogs, at))
        .collect();
    Ok(HttpResponse::Ok().json(AttestationPage { items, next }))
}

async fn answer_attestation(
    state: &AppState,
    id: i64,
    at: OffsetDateTime,
    status: actix_web::http::StatusCode,
) -> Result<HttpResponse, ApiError> {
    let filter = AttestationFilter {
        id: Some(id),
        ..AttestationFilter::default()
    };
    let mut conn = state.pool.acquire().await?;
    let row = attestations::list(&mut conn, &filter, at, 0, 1)
        .await?
        .pop()
        .ok_or_else(|| ApiError::NotFound(format!("attestation {id}")))?;
    Ok(HttpResponse::build(status).json(AttestationView::at(&row, &state.catalogs, at)))
}

/// `GET /api/v1/attestations/{id}`
#[utoipa::path(
    get, path = "/api/v1/attestations/{id}", tag = "governance",
    params(("id" = i64, Path, description = "Attestation number"), AtQuery),
    responses((status = 200, description = "The attestation", body = AttestationView))
)]
pub async fn get_attestation(
    ApiQuery(query): ApiQuery<AtQuery>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = numeric_id(&path, "an attestation")?;
    let at = at_param(query.at.as_deref())?.unwrap_or_else(OffsetDateTime::now_utc);
    answer_attestation(&state, id, at, actix_web::http::StatusCode::OK).await
}

/// `POST /api/v1/attestations`: an auditor's verdict on a manual check.
#[utoipa::path(
    post, path = "/api/v1/attestations", tag = "governance",
    request_body = NewAttestationBody,
    responses((status = 201, description = "Recorded", body = AttestationView))
)]
pub async fn record_attestation(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
    who: web::ReqData<Principal>,
) -> Result<HttpResponse, ApiError> {
    let new: NewAttestationBody = json_body(&request, &body)?;
    let input = AttestationInput {
        check: new.check,
        scope: ScopeInput {
            cluster: new.cluster,
            nodes: new.nodes,
            ..ScopeInput::default()
        },
        verdict: new.verdict,
        statement: new.statement,
        evidence_url: new.evidence_url,
        valid_from: new.valid_from,
        valid_until: new.valid_until,
    };
    let id = governance::record_attestation(
        &state.pool,
        &state.catalogs,
        state.limits,
        &who.actor(&request),
        &input,
    )
    .await?;
    answer_attestation(
        &state,
        id,
        OffsetDateTime::now_utc(),
        actix_web::http::StatusCode::CREATED,
    )
    .await
}

/// `POST /api/v1/attestations/{id}/revoke`
#[utoipa::path(
    post, path = "/api/v1/attestations/{id}/revoke", tag = "governance",
    params(("id" = i64, Path, description = "Attestation number")),
    request_body = DecisionBody,
    responses((status = 200, description = "Revoked (the note is required): the check is manual again", body = AttestationView))
)]
pub async fn revoke_attestation(
    request: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
    who: web::ReqData<Principal>,
) -> Result<HttpResponse, ApiError> {
    let id = numeric_id(&path, "an attestation")?;
    let decision: DecisionBody = json_body(&request, &body)?;
    governance::revoke_attestation(
        &state.pool,
        id,
        &who.actor(&request),
        decision.note.as_deref().unwrap_or_default(),
    )
    .await?;
    answer_attestation(
        &state,
        id,
        OffsetDateTime::now_utc(),
        actix_web::http::StatusCode::OK,
    )
    .await
}

/// `PUT /api/v1/clusters/{name}/platform-bucket`: an admin sets platform-owned objects apart (the default) or
/// counts them like any other in the cluster's policy results. Recorded in the audit trail with the reason.
#[utoipa::path(
    put, path = "/api/v1/clusters/{name}/platform-bucket", tag = "governance",
    params(("name" = String, Path, description = "Cluster name")),
    request_body = PlatformBucketBody,
    responses((status = 204, description = "Set; past days keep the setting of their time"))
)]
pub async fn set_platform_bucket(
    request: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
    who: web::ReqData<Principal>,
) -> Result<HttpResponse, ApiError> {
    let wanted: PlatformBucketBody = json_body(&request, &body)?;
    governance::set_platform_bucket(
        &state.pool,
        &path,
        wanted.enabled,
        &wanted.reason,
        &who.actor(&request),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
