//! The OpenAPI 3.1 document, derived from the handlers' annotations and the answer types in [`crate::app::views`],
//! then completed from the one table of access rules ([`super::ACCESS_RULES`]) and the one error mapping
//! ([`super::problem`]): which role each operation needs and which problems it can answer.
//! Served at `/api/v1/openapi.json`; `kubeward-server openapi` prints it, and a test keeps the committed copy
//! (`server/openapi.json`) equal to it.

use actix_web::HttpResponse;
use utoipa::OpenApi;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, ResponseBuilder};

use super::ACCESS_RULES;
use crate::app::views;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "kubeward",
        description = "CIS Kubernetes Benchmark results of every node, their history, findings and trends. \
            Errors are application/problem+json (RFC 9457). Times are RFC 3339 in UTC.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        super::health::healthz,
        super::health::readyz,
        super::health::metrics,
        super::reports::post_report,
        super::api::list_clusters,
        super::admin::enroll,
        super::admin::issue_agent_token,
        super::admin::revoke_agent_token,
        super::admin::list_api_tokens,
        super::admin::issue_api_token,
        super::admin::revoke_api_token,
        super::admin::list_webhooks,
        super::admin::subscribe,
        super::admin::unsubscribe,
        super::admin::delivery_log,
        super::api::list_nodes,
        super::standing::clusters,
        super::trends::scores,
        super::trends::checks,
        super::api::list_findings,
        super::api::get_finding,
        super::api::link_ticket,
        super::api::list_events,
        super::governance::list_exceptions,
        super::governance::request_exception,
        super::governance::get_exception,
        super::governance::approve_exception,
        super::governance::reject_exception,
        super::governance::revoke_exception,
        super::governance::list_attestations,
        super::governance::record_attestation,
        super::governance::get_attestation,
        super::governance::revoke_attestation,
        super::governance::set_platform_bucket,
        super::context::cluster_context,
        super::audit::list_records,
        super::audit::verify,
        super::scans::list_scans,
        super::scans::get_scan,
    ),
    // Webhook bodies are not answers to a request, so they are listed here to be documented.
    components(schemas(views::Problem, views::FindingDelivery, views::NodeStaleDelivery)),
    security(("bearer" = [])),
)]
struct ApiDoc;

/// The complete document: the generated one, completed with the access rules, the problems and the
/// constraints the server enforces ([`super::constraints`]).
pub fn document() -> Document {
    let document = generated();
    let mut value = serde_json::to_value(&document).unwrap_or_default();
    super::constraints::apply(&mut value);
    serde_json::from_value(value).unwrap_or(document)
}

fn generated() -> Document {
    let mut document = ApiDoc::openapi();
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    if let Some(components) = document.components.as_mut() {
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        let mut agent = Http::new(HttpAuthScheme::Bearer);
        agent.description =
            Some("An agent token (kwa_…): may post reports and nothing else".to_owned());
        components.add_security_scheme("agent_token", SecurityScheme::Http(agent));
    }
    for (path, item) in document.paths.paths.iter_mut() {
        if !path.starts_with("/api/v1/") {
            continue;
        }
        let rule = ACCESS_RULES
            .iter()
            .find(|(rule_path, _)| rule_path == path)
            .map(|(_, access)| *access);
        let operations = [
            ("GET", item.get.as_mut()),
            ("POST", item.post.as_mut()),
            ("PUT", item.put.as_mut()),
            ("PATCH", item.patch.as_mut()),
            ("DELETE", item.delete.as_mut()),
        ];
        for (method, operation) in operations {
            let Some(operation) = operation else { continue };
            let role = rule.and_then(|access| {
                access
                    .0
                    .iter()
                    .find(|(rule_method, _)| *rule_method == method)
                    .map(|(_, role)| *role)
            });
            describe(operation, path, role);
        }
    }
    document
}

/// Adds who may call an operation and the problems it can answer.
fn describe(operation: &mut Operation, path: &str, role: Option<crate::domain::role::Role>) {
    let mut statuses: Vec<(u16, &str)> = vec![
        (400, "A parameter or body field is wrong; `field` names it"),
        (401, "No valid token"),
        (
            429,
            "Too many refused credentials from this address; `Retry-After` says when to try again",
        ),
        (500, "The server failed; the cause is in its log"),
        (503, "The database is not reachable"),
    ];
    if let Some(role) = role {
        let note = format!(
            "Needs the `{}` role or higher (an API token or an OIDC JWT); agent tokens get 403.",
            role.as_str()
        );
        operation.description = Some(match operation.description.take() {
            Some(text) if !text.is_empty() => format!("{text}\n\n{note}"),
            _ => note,
        });
        statuses.push((403, "The caller's role is not enough"));
        // The same statement, as data: integrations and tests read it.
        // OpenAPI 3.1 lets a bearer requirement list the roles it needs.
        operation.security = Some(vec![SecurityRequirement::new("bearer", [role.as_str()])]);
    }
    if path.contains('{') {
        statuses.push((404, "No such resource"));
    }
    if operation.request_body.is_some() {
        statuses.push((408, "The body did not all arrive within the body timeout"));
        statuses.push((413, "The body is over the limit"));
        statuses.push((415, "The body is not application/json"));
    }
    if path.starts_with("/api/v1/exceptions/") && operation.request_body.is_some() {
        // A rule of the action, not the role: the requester may not decide their own exception.
        statuses.push((
            403,
            "The caller's role is not enough, or the caller requested this exception",
        ));
        statuses.push((
            409,
            "The exception's state does not allow this (settled, or past its end)",
        ));
    }
    if path == "/api/v1/attestations/{id}/revoke" {
        statuses.push((409, "The attestation has ended already"));
    }
    if path == "/api/v1/reports" || (path == "/api/v1/clusters" && role.is_some()) {
        statuses.push((
            409,
            "It exists already (or the scan id was stored with other content)",
        ));
    }
    for (status, description) in statuses {
        let response = ResponseBuilder::new()
            .description(description)
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build();
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert(response.into());
    }
}

/// `GET /api/v1/openapi.json`, public: the document describes the API, not its data.
pub async fn serve() -> HttpResponse {
    HttpResponse::Ok().json(document())
}

/// The document as committed: pretty JSON with a final newline.
pub fn pretty() -> String {
    let mut text = document().to_pretty_json().unwrap_or_default();
    text.push('\n');
    text
}
