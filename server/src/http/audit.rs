//! The audit trail over the API: read (auditors), and checked. Nothing here writes to it.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::api::{bad, id_cursor, limit, paginate, text_param, time_param};
use super::problem::ApiError;
use super::query::{ApiQuery, AuditQuery, NoQuery};
use crate::app::views::{AuditPage, AuditRecordView};
use crate::domain::audit::Action;
use crate::shared::AppState;
use crate::storage::audit::{self, AuditFilter};

/// `GET /api/v1/audit`
#[utoipa::path(
    get, path = "/api/v1/audit", tag = "audit",
    params(AuditQuery),
    responses((status = 200, description = "Records in id order, oldest first", body = AuditPage))
)]
pub async fn list_records(
    ApiQuery(query): ApiQuery<AuditQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let limit = limit(query.limit.as_deref())?;
    let after = id_cursor(query.cursor.as_deref())?;
    let action = match query.action.as_deref() {
        None => None,
        Some(text) => Some(
            Action::parse(text)
                .ok_or_else(|| bad("action", "is not an action the audit trail records"))?
                .as_str(),
        ),
    };
    let filter = AuditFilter {
        action,
        actor: text_param("actor", query.actor.as_deref(), 300)?,
        since: time_param("since", query.since.as_deref())?,
        until: time_param("until", query.until.as_deref())?,
    };
    let mut conn = state.pool.acquire().await?;
    let records = audit::page(&mut conn, &filter, after, limit + 1).await?;
    let (records, next) = paginate(records, limit, |record| record.entry.id.to_string());
    let items = records.iter().map(AuditRecordView::from_record).collect();
    Ok(HttpResponse::Ok().json(AuditPage { items, next }))
}

/// Whether the trail is intact.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditVerification {
    pub intact: bool,
    /// Records checked.
    pub records: i64,
    /// The last intact record's hash (hex): keep it, with `records`, outside kubeward to detect a rewrite later
    /// (`kubeward-server audit verify --expect ID:HASH`).
    pub head_hash: String,
    /// Why and where the chain breaks, when it does.
    pub problem: Option<String>,
}

/// `GET /api/v1/audit/verify`: walks the whole chain.
#[utoipa::path(
    get, path = "/api/v1/audit/verify", tag = "audit",
    responses((status = 200, description = "The outcome; `intact` false names the first broken record", body = AuditVerification))
)]
pub async fn verify(
    _no_parameters: ApiQuery<NoQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.pool.acquire().await?;
    let outcome = audit::verify(&mut conn, None).await?;
    let answer = match outcome {
        Ok(verified) => AuditVerification {
            intact: true,
            records: verified.records,
            head_hash: hex::encode(verified.head_hash),
            problem: None,
        },
        Err((broken, last_good, last_hash)) => AuditVerification {
            intact: false,
            records: last_good,
            head_hash: hex::encode(last_hash),
            problem: Some(broken.to_string()),
        },
    };
    Ok(HttpResponse::Ok().json(answer))
}
