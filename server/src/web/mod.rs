//! The HTML reports for auditors: OIDC login and sessions, the pages, their charts, and the security headers
//! every page carries. Pages are server-rendered (askama) and complete without JavaScript. Who may see which
//! page is declared once, in [`PAGE_RULES`]; HTML error pages are made in [`error`] alone.

pub mod access;
pub mod charts;
pub mod error;
pub mod form;
pub mod login;
pub mod pages;
pub mod security;
pub mod session;

use std::sync::Arc;
use std::time::Duration;

use actix_web::cookie::Key;
use actix_web::web;

use crate::domain::role::Role;

/// How the pages authenticate people.
pub struct WebConfig {
    /// The OIDC login; `None` in local mode (no issuer configured: loopback only, authentication off).
    pub login: Option<Arc<login::OidcLogin>>,
    /// Encrypts and authenticates the session and login cookies.
    pub cookie_key: Key,
    /// Mark cookies `Secure`: the server is reached over HTTPS.
    pub secure_cookies: bool,
    /// A session ends after this long without a request,
    pub idle_timeout: Duration,
    /// and after this long in any case.
    pub absolute_timeout: Duration,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("local_mode", &self.login.is_none())
            .field("secure_cookies", &self.secure_cookies)
            .field("idle_timeout", &self.idle_timeout)
            .field("absolute_timeout", &self.absolute_timeout)
            .finish_non_exhaustive()
    }
}

impl WebConfig {
    /// Local mode: no login, every visitor is a local admin (the server then listens on loopback only).
    pub fn local(cookie_key: Key) -> Self {
        WebConfig {
            login: None,
            cookie_key,
            secure_cookies: false,
            idle_timeout: Duration::from_secs(3600),
            absolute_timeout: Duration::from_secs(12 * 3600),
        }
    }
}

/// The pages' configuration, registered beside the shared state at startup.
pub fn config_of(request: &actix_web::HttpRequest) -> Result<&WebConfig, error::PageError> {
    request
        .app_data::<web::Data<WebConfig>>()
        .map(|config| config.get_ref())
        .ok_or_else(|| {
            error::PageError::Internal("the pages' configuration is not registered".into())
        })
}

/// Who may see which page: the least role each needs. Paths are actix patterns; a page missing here is
/// refused to everyone.
pub const PAGE_RULES: &[(&str, Role)] = &[
    ("/", Role::Viewer),
    ("/clusters/{cluster}", Role::Viewer),
    ("/clusters/{cluster}/nodes/{node}", Role::Viewer),
    ("/clusters/{cluster}/platform-bucket", Role::Admin),
    ("/clusters/{cluster}/nodes/{node}/diff", Role::Viewer),
    (
        "/clusters/{cluster}/objects/{kind}/{namespace}/{name}",
        Role::Viewer,
    ),
    ("/findings", Role::Viewer),
    ("/checks/{check}", Role::Viewer),
    // Exports are the auditor's: they leave kubeward with the evidence.
    ("/findings/export.csv", Role::Auditor),
    ("/findings/export.json", Role::Auditor),
    ("/exceptions", Role::Viewer),
    ("/exceptions/new", Role::Admin),
    ("/exceptions/{id}", Role::Viewer),
    ("/exceptions/{id}/decide", Role::Auditor),
    ("/attestations", Role::Viewer),
    ("/attestations/new", Role::Auditor),
    ("/attestations/{id}", Role::Viewer),
    ("/attestations/{id}/revoke", Role::Auditor),
    ("/audit", Role::Auditor),
    ("/audit/export.csv", Role::Auditor),
    ("/audit/export.json", Role::Auditor),
];

/// The pages that take a form (POST) rather than show something (GET).
const FORM_PATHS: &[&str] = &[
    "/logout",
    "/clusters/{cluster}/platform-bucket",
    "/exceptions/new",
    "/exceptions/{id}/decide",
    "/attestations/new",
    "/attestations/{id}/revoke",
];

/// The methods a page route serves (for a 405's `Allow`); `None` for a path that is no page.
pub fn page_methods(pattern: &str) -> Option<Vec<&'static str>> {
    if FORM_PATHS.contains(&pattern) {
        return Some(vec!["POST"]);
    }
    let public = [
        "/static/kubeward.css",
        "/login",
        "/auth/callback",
        "/logged-out",
    ];
    (public.contains(&pattern) || PAGE_RULES.iter().any(|(path, _)| *path == pattern))
        .then(|| vec!["GET"])
}

/// The page routes, the login flow and the stylesheet.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/static/kubeward.css", web::get().to(security::stylesheet))
        .route("/login", web::get().to(login::start))
        .route("/auth/callback", web::get().to(login::callback))
        .route("/logout", web::post().to(login::logout))
        .route("/logged-out", web::get().to(login::logged_out))
        .service(access::page("/").route(web::get().to(pages::fleet::show)))
        .service(access::page("/clusters/{cluster}").route(web::get().to(pages::cluster::show)))
        .service(
            access::page("/clusters/{cluster}/nodes/{node}")
                .route(web::get().to(pages::node::show)),
        )
        .service(
            access::page("/clusters/{cluster}/platform-bucket")
                .route(web::post().to(pages::governance::set_platform_bucket)),
        )
        .service(
            access::page("/clusters/{cluster}/objects/{kind}/{namespace}/{name}")
                .route(web::get().to(pages::object::show)),
        )
        .service(
            access::page("/clusters/{cluster}/nodes/{node}/diff")
                .route(web::get().to(pages::diff::show)),
        )
        .service(access::page("/findings").route(web::get().to(pages::findings::show)))
        .service(access::page("/checks/{check}").route(web::get().to(pages::check::show)))
        .service(
            access::page("/findings/export.csv").route(web::get().to(pages::findings::export_csv)),
        )
        .service(
            access::page("/findings/export.json")
                .route(web::get().to(pages::findings::export_json)),
        )
        .service(
            access::page("/exceptions").route(web::get().to(pages::governance::list_exceptions)),
        )
        .service(
            access::page("/exceptions/new")
                .route(web::post().to(pages::governance::request_exception)),
        )
        .service(
            access::page("/exceptions/{id}")
                .route(web::get().to(pages::governance::show_exception)),
        )
        .service(
            access::page("/exceptions/{id}/decide")
                .route(web::post().to(pages::governance::decide_exception)),
        )
        .service(
            access::page("/attestations")
                .route(web::get().to(pages::governance::list_attestations)),
        )
        .service(
            access::page("/attestations/new")
                .route(web::post().to(pages::governance::record_attestation)),
        )
        .service(
            access::page("/attestations/{id}")
                .route(web::get().to(pages::governance::show_attestation)),
        )
        .service(
            access::page("/attestations/{id}/revoke")
                .route(web::post().to(pages::governance::revoke_attestation)),
        )
        .service(access::page("/audit").route(web::get().to(pages::audit::show)))
        .service(access::page("/audit/export.csv").route(web::get().to(pages::audit::export_csv)))
        .service(
            access::page("/audit/export.json").route(web::get().to(pages::audit::export_json)),
        );
}
