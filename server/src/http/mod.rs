//! The HTTP surface: routes, request parsing and the one place errors become responses.

pub mod access;
pub mod admin;
pub mod api;
pub mod health;
pub mod input;
pub mod problem;
pub mod reports;
pub mod scans;
pub mod trends;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use actix_web::web;
use sqlx::PgPool;

use self::access::{Access, guarded};

use crate::catalogs::Catalogs;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub catalogs: Arc<Catalogs>,
    /// Set once migrations have run; `/readyz` answers 503 before.
    pub migrated: Arc<AtomicBool>,
    /// How long a node may go without a report before it is stale.
    pub stale_after: std::time::Duration,
    /// Verifies OIDC JWT bearer tokens when an issuer is configured.
    pub jwt: Option<Arc<crate::jwt::JwtVerifier>>,
}

/// Every route, with who may call it. Health is public; reports take an agent token (checked by their
/// handler); everything else goes through [`access::guarded`] with the role each method needs.
pub fn routes(config: &mut web::ServiceConfig) {
    use crate::domain::role::Role::{Admin, Auditor, Viewer};
    config
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/api/v1/reports", web::post().to(reports::post_report))
        .service(
            guarded(
                "/api/v1/clusters",
                Access(&[("GET", Viewer), ("POST", Admin)]),
            )
            .route(web::get().to(api::list_clusters))
            .route(web::post().to(admin::enroll)),
        )
        .service(
            guarded(
                "/api/v1/clusters/{name}/agent-tokens",
                Access(&[("POST", Admin)]),
            )
            .route(web::post().to(admin::issue_agent_token)),
        )
        .service(
            guarded("/api/v1/agent-tokens/{id}", Access(&[("DELETE", Admin)]))
                .route(web::delete().to(admin::revoke_agent_token)),
        )
        .service(
            guarded(
                "/api/v1/api-tokens",
                Access(&[("GET", Admin), ("POST", Admin)]),
            )
            .route(web::get().to(admin::list_api_tokens))
            .route(web::post().to(admin::issue_api_token)),
        )
        .service(
            guarded("/api/v1/api-tokens/{id}", Access(&[("DELETE", Admin)]))
                .route(web::delete().to(admin::revoke_api_token)),
        )
        .service(
            guarded(
                "/api/v1/webhooks",
                Access(&[("GET", Admin), ("POST", Admin)]),
            )
            .route(web::get().to(admin::list_webhooks))
            .route(web::post().to(admin::subscribe)),
        )
        .service(
            guarded("/api/v1/webhooks/{id}", Access(&[("DELETE", Admin)]))
                .route(web::delete().to(admin::unsubscribe)),
        )
        .service(
            guarded(
                "/api/v1/webhooks/{id}/deliveries",
                Access(&[("GET", Admin)]),
            )
            .route(web::get().to(admin::delivery_log)),
        )
        .service(
            guarded("/api/v1/nodes", Access(&[("GET", Viewer)]))
                .route(web::get().to(api::list_nodes)),
        )
        .service(
            guarded("/api/v1/trends", Access(&[("GET", Viewer)]))
                .route(web::get().to(trends::scores)),
        )
        .service(
            guarded("/api/v1/trends/checks", Access(&[("GET", Viewer)]))
                .route(web::get().to(trends::checks)),
        )
        .service(
            guarded("/api/v1/findings", Access(&[("GET", Viewer)]))
                .route(web::get().to(api::list_findings)),
        )
        .service(
            guarded(
                "/api/v1/findings/{id}",
                Access(&[("GET", Viewer), ("PATCH", Auditor)]),
            )
            .route(web::get().to(api::get_finding))
            .route(web::patch().to(api::link_ticket)),
        )
        .service(
            guarded("/api/v1/events", Access(&[("GET", Viewer)]))
                .route(web::get().to(api::list_events)),
        )
        .service(
            guarded("/api/v1/scans", Access(&[("GET", Viewer)]))
                .route(web::get().to(scans::list_scans)),
        )
        .service(
            guarded("/api/v1/scans/{id}", Access(&[("GET", Viewer)]))
                .route(web::get().to(scans::get_scan)),
        );
}
