//! The HTTP surface: routes, request parsing and the one place errors become responses.

pub mod access;
pub mod admin;
pub mod api;
pub mod audit;
pub mod constraints;
pub mod context;
pub mod governance;
pub mod health;
pub mod input;
pub mod openapi;
pub mod problem;
pub mod query;
pub mod reports;
pub mod scans;
pub mod standing;
pub mod trends;

use actix_web::web;

use self::access::{Access, guarded};

/// Who may call what: every guarded API path with the role each of its methods needs. The routes below and
/// the OpenAPI document both read this table; a method missing here is refused.
pub const ACCESS_RULES: &[(&str, Access)] = {
    use crate::domain::role::Role::{Admin, Auditor, Viewer};
    &[
        (
            "/api/v1/clusters",
            Access(&[("GET", Viewer), ("POST", Admin)]),
        ),
        (
            "/api/v1/clusters/{name}/agent-tokens",
            Access(&[("POST", Admin)]),
        ),
        (
            "/api/v1/clusters/{name}/platform-bucket",
            Access(&[("PUT", Admin)]),
        ),
        (
            "/api/v1/clusters/{name}/context",
            Access(&[("GET", Auditor)]),
        ),
        ("/api/v1/agent-tokens/{id}", Access(&[("DELETE", Admin)])),
        (
            "/api/v1/api-tokens",
            Access(&[("GET", Admin), ("POST", Admin)]),
        ),
        ("/api/v1/api-tokens/{id}", Access(&[("DELETE", Admin)])),
        (
            "/api/v1/webhooks",
            Access(&[("GET", Admin), ("POST", Admin)]),
        ),
        ("/api/v1/webhooks/{id}", Access(&[("DELETE", Admin)])),
        (
            "/api/v1/webhooks/{id}/deliveries",
            Access(&[("GET", Admin)]),
        ),
        ("/api/v1/nodes", Access(&[("GET", Viewer)])),
        ("/api/v1/standing", Access(&[("GET", Viewer)])),
        ("/api/v1/trends", Access(&[("GET", Viewer)])),
        ("/api/v1/trends/checks", Access(&[("GET", Viewer)])),
        ("/api/v1/findings", Access(&[("GET", Viewer)])),
        (
            "/api/v1/findings/{id}",
            Access(&[("GET", Viewer), ("PATCH", Auditor)]),
        ),
        ("/api/v1/events", Access(&[("GET", Viewer)])),
        ("/api/v1/scans", Access(&[("GET", Viewer)])),
        ("/api/v1/scans/{id}", Access(&[("GET", Viewer)])),
        (
            "/api/v1/exceptions",
            Access(&[("GET", Viewer), ("POST", Admin)]),
        ),
        ("/api/v1/exceptions/{id}", Access(&[("GET", Viewer)])),
        (
            "/api/v1/exceptions/{id}/approve",
            Access(&[("POST", Auditor)]),
        ),
        (
            "/api/v1/exceptions/{id}/reject",
            Access(&[("POST", Auditor)]),
        ),
        (
            "/api/v1/exceptions/{id}/revoke",
            Access(&[("POST", Auditor)]),
        ),
        (
            "/api/v1/attestations",
            Access(&[("GET", Viewer), ("POST", Auditor)]),
        ),
        ("/api/v1/attestations/{id}", Access(&[("GET", Viewer)])),
        (
            "/api/v1/attestations/{id}/revoke",
            Access(&[("POST", Auditor)]),
        ),
        ("/api/v1/audit", Access(&[("GET", Auditor)])),
        ("/api/v1/audit/verify", Access(&[("GET", Auditor)])),
    ]
};

/// The resources without an access rule, with the methods each serves.
pub const PUBLIC_METHODS: &[(&str, &[&str])] = &[
    ("/healthz", &["GET"]),
    ("/readyz", &["GET"]),
    ("/metrics", &["GET"]),
    ("/api/v1/openapi.json", &["GET"]),
    ("/api/v1/reports", &["POST"]),
];

/// Every route. Health and the OpenAPI document are public; reports take an agent token (checked by their
/// handler); everything else goes through [`access::guarded`] with its rule from [`ACCESS_RULES`].
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .service(public("/healthz").route(web::get().to(health::healthz)))
        .service(public("/readyz").route(web::get().to(health::readyz)))
        .service(public("/metrics").route(web::get().to(health::metrics)))
        .service(public("/api/v1/openapi.json").route(web::get().to(openapi::serve)))
        .service(public("/api/v1/reports").route(web::post().to(reports::post_report)))
        .service(
            guarded("/api/v1/clusters")
                .route(web::get().to(api::list_clusters))
                .route(web::post().to(admin::enroll)),
        )
        .service(
            guarded("/api/v1/clusters/{name}/agent-tokens")
                .route(web::post().to(admin::issue_agent_token)),
        )
        .service(
            guarded("/api/v1/clusters/{name}/platform-bucket")
                .route(web::put().to(governance::set_platform_bucket)),
        )
        .service(
            guarded("/api/v1/clusters/{name}/context")
                .route(web::get().to(context::cluster_context)),
        )
        .service(
            guarded("/api/v1/agent-tokens/{id}").route(web::delete().to(admin::revoke_agent_token)),
        )
        .service(
            guarded("/api/v1/api-tokens")
                .route(web::get().to(admin::list_api_tokens))
                .route(web::post().to(admin::issue_api_token)),
        )
        .service(
            guarded("/api/v1/api-tokens/{id}").route(web::delete().to(admin::revoke_api_token)),
        )
        .service(
            guarded("/api/v1/webhooks")
                .route(web::get().to(admin::list_webhooks))
                .route(web::post().to(admin::subscribe)),
        )
        .service(guarded("/api/v1/webhooks/{id}").route(web::delete().to(admin::unsubscribe)))
        .service(
            guarded("/api/v1/webhooks/{id}/deliveries").route(web::get().to(admin::delivery_log)),
        )
        .service(guarded("/api/v1/nodes").route(web::get().to(api::list_nodes)))
        .service(guarded("/api/v1/standing").route(web::get().to(standing::clusters)))
        .service(guarded("/api/v1/trends").route(web::get().to(trends::scores)))
        .service(guarded("/api/v1/trends/checks").route(web::get().to(trends::checks)))
        .service(guarded("/api/v1/findings").route(web::get().to(api::list_findings)))
        .service(
            guarded("/api/v1/findings/{id}")
                .route(web::get().to(api::get_finding))
                .route(web::patch().to(api::link_ticket)),
        )
        .service(guarded("/api/v1/events").route(web::get().to(api::list_events)))
        .service(guarded("/api/v1/scans").route(web::get().to(scans::list_scans)))
        .service(guarded("/api/v1/scans/{id}").route(web::get().to(scans::get_scan)))
        .service(
            guarded("/api/v1/exceptions")
                .route(web::get().to(governance::list_exceptions))
                .route(web::post().to(governance::request_exception)),
        )
        .service(guarded("/api/v1/exceptions/{id}").route(web::get().to(governance::get_exception)))
        .service(
            guarded("/api/v1/exceptions/{id}/approve")
                .route(web::post().to(governance::approve_exception)),
        )
        .service(
            guarded("/api/v1/exceptions/{id}/reject")
                .route(web::post().to(governance::reject_exception)),
        )
        .service(
            guarded("/api/v1/exceptions/{id}/revoke")
                .route(web::post().to(governance::revoke_exception)),
        )
        .service(
            guarded("/api/v1/attestations")
                .route(web::get().to(governance::list_attestations))
                .route(web::post().to(governance::record_attestation)),
        )
        .service(
            guarded("/api/v1/attestations/{id}").route(web::get().to(governance::get_attestation)),
        )
        .service(
            guarded("/api/v1/attestations/{id}/revoke")
                .route(web::post().to(governance::revoke_attestation)),
        )
        .service(guarded("/api/v1/audit").route(web::get().to(audit::list_records)))
        .service(guarded("/api/v1/audit/verify").route(web::get().to(audit::verify)));
}

/// A resource without an access rule; a method it does not serve is a 405 problem.
fn public(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

async fn method_not_allowed() -> Result<actix_web::HttpResponse, problem::ApiError> {
    Err(problem::ApiError::MethodNotAllowed)
}
