//! Liveness and readiness.

use std::sync::atomic::Ordering;

use crate::app::views::Health;
use actix_web::{HttpResponse, web};

use super::problem::ApiError;
use crate::shared::AppState;

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

/// Counters in the Prometheus text format: refused credentials and the requests stopped for them.
#[utoipa::path(
    get, path = "/metrics", tag = "health", security(()),
    responses((status = 200, description = "Prometheus text exposition format, version 0.0.4", content_type = "text/plain", body = String))
)]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let throttle = &state.throttle;
    let body = format!(
        "# HELP kubeward_auth_refused_total Credentials refused (API, JWT and agent tokens).\n\
         # TYPE kubeward_auth_refused_total counter\n\
         kubeward_auth_refused_total {}\n\
         # HELP kubeward_auth_throttled_total Requests answered 429 because their source had too many refused credentials.\n\
         # TYPE kubeward_auth_throttled_total counter\n\
         kubeward_auth_throttled_total {}\n",
        throttle.refused_total(),
        throttle.throttled_total()
    );
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body)
}
