//! Headers every answer carries, and the one stylesheet. The policy allows no script at all and styles only
//! from this server, so a string a node slipped into a report can neither run nor restyle a page.

use actix_web::HttpResponse;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::DefaultHeaders;

/// The policy; `form_targets` are origins a form may end up at besides this server (the identity provider's
/// logout page, which the sign-out form is redirected to: browsers apply `form-action` to redirects too).
pub fn content_security_policy(form_targets: &[String]) -> String {
    let mut form_action = "'self'".to_owned();
    for origin in form_targets {
        form_action.push(' ');
        form_action.push_str(origin);
    }
    format!(
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action {form_action}; \
         frame-ancestors 'none'; base-uri 'none'"
    )
}

/// The security headers, for every response of the server; with `strict_transport` (the server serves TLS
/// itself) browsers are also told to use nothing but HTTPS for a year.
pub fn headers(form_targets: &[String], strict_transport: bool) -> DefaultHeaders {
    let headers = if strict_transport {
        DefaultHeaders::new().add((header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"))
    } else {
        DefaultHeaders::new()
    };
    headers
        .add((
            header::CONTENT_SECURITY_POLICY,
            content_security_policy(form_targets),
        ))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"))
}

/// A rendered page: HTML that no cache may keep (it shows what only its visitor may see).
pub fn page(status: actix_web::http::StatusCode, html: String) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .body(html)
}

/// `GET /static/kubeward.css`, compiled in so the binary is the whole deployment.
pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/css; charset=utf-8"),
        ))
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        ))
        .body(include_str!("../../../static/kubeward.css"))
}
