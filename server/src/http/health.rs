//! Liveness and readiness.

use std::sync::atomic::Ordering;

use super::views::Health;
use actix_web::{HttpResponse, web};

use super::AppState;
use super::problem::ApiError;

/// The process is up.
#[utoipa::path(
    get, path = "/healthz", tag = "health", security(()),
    responses((status = 200, description = "The process is up", body = Health))
)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".to_owned(),
    })
}

/// The database answers and the migrations have run.
#[utoipa::path(
    get, path = "/readyz", tag = "health", security(()),
    responses(
        (status = 200, description = "Migrated and the database answers", body = Health),
        (status = 503, description = "Not ready yet", body = Health),
    )
)]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if !state.migrated.load(Ordering::Acquire) {
        return Ok(HttpResponse::ServiceUnavailable().json(Health {
            status: "migrating".to_owned(),
        }));
    }
    sqlx::query("SELECT 1")
        .execute(&state.pool)
        .await
        .map_err(ApiError::Unavailable)?;
    Ok(HttpResponse::Ok().json(Health {
        status: "ready".to_owned(),
    }))
}
