//! The HTTP surface: routes, request parsing and the one place errors become responses.

pub mod health;
pub mod problem;
pub mod reports;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use sqlx::PgPool;

use crate::catalogs::Catalogs;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub catalogs: Arc<Catalogs>,
    /// Set once migrations have run; `/readyz` answers 503 before.
    pub migrated: Arc<AtomicBool>,
}

pub fn routes(config: &mut actix_web::web::ServiceConfig) {
    config
        .route("/healthz", actix_web::web::get().to(health::healthz))
        .route("/readyz", actix_web::web::get().to(health::readyz))
        .route(
            "/api/v1/reports",
            actix_web::web::post().to(reports::post_report),
        );
}
