//! Liveness and readiness.

use std::sync::atomic::Ordering;

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::AppState;
use super::problem::ApiError;

/// The process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The database answers and the migrations have run.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if !state.migrated.load(Ordering::Acquire) {
        return Ok(HttpResponse::ServiceUnavailable().json(json!({ "status": "migrating" })));
    }
    sqlx::query("SELECT 1")
        .execute(&state.pool)
        .await
        .map_err(ApiError::Unavailable)?;
    Ok(HttpResponse::Ok().json(json!({ "status": "ready" })))
}
