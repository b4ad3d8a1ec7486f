//! What every request crosses before any route sees it, and every answer on its way out.
//!
//! In: a request id (a proxy's `X-Request-Id` when it is a plain token, else a new one) on a span around
//! everything the request does, so every log line of the request carries it; local mode's loopback-only
//! rule ([`origin`]), the cross-site rule for page forms, and the bounds on request bodies ([`body`]: no
//! inflation on the way in, a byte limit, a deadline). Out: the id in `X-Request-Id` (and in the body of
//! every 5xx, so an operator can find the log), an error the web framework wrote as plain text (whose text
//! can carry internal detail) becomes the door's own problem or page, API answers are never cached, and a
//! 503 says when to retry.
//!
//! It sits in front of both doors and renders a refusal through the door the path belongs to, so it knows
//! them; neither door knows it beyond the [`Refusal`] they render.

use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError, web};

use crate::shared::refusal::Refusal;
use crate::shared::request_id::{REQUEST_ID, REQUEST_ID_HEADER};
use crate::shared::{body, origin};
use crate::web::WebConfig;

/// A proxy's request id when it is a plain token of at most 64 characters, else a new one (UUIDv7, so ids
/// sort by time).
fn request_id(request: &ServiceRequest) -> String {
    request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|value| {
            (1..=64).contains(&value.len())
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
        .map_or_else(|| uuid::Uuid::now_v7().simple().to_string(), str::to_owned)
}

/// How long a client may take to send a request body, by default.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// What the edge needs to know of the server's configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The whole body must have arrived this long after the request's head.
    pub body_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            body_timeout: DEFAULT_BODY_TIMEOUT,
        }
    }
}

/// Whether a path belongs to the API door (problem+json answers) rather than the pages.
pub fn is_api_path(path: &str) -> bool {
    path.starts_with("/api/") || path == "/healthz" || path == "/readyz" || path == "/metrics"
}

/// A refusal as the door of `path` answers it.
pub fn render(path: &str, refusal: Refusal) -> HttpResponse {
    if is_api_path(path) {
        crate::http::problem::ApiError::Edge(refusal).error_response()
    } else {
        crate::web::error::PageError::Edge(refusal).error_response()
    }
}

/// Any path no route serves: a problem for the API, an HTML page for browsers.
pub async fn not_found(request: HttpRequest) -> HttpResponse {
    // The path is not echoed: the answer should not carry what a caller made up.
    if is_api_path(request.path()) {
        crate::http::problem::ApiError::NotFound("this path".to_owned()).error_response()
    } else {
        crate::web::error::PageError::NotFound("this page".to_owned()).error_response()
    }
}

/// The middleware: registered once, around every route.
pub async fn guard(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    use tracing::Instrument;
    let id = request_id(&request);
    let span = tracing::info_span!("request", request.id = %id);
    let answer = REQUEST_ID
        .scope(id.clone(), answer(request, next).instrument(span))
        .await;
    answer.map(|mut response| {
        if let Ok(value) = HeaderValue::from_str(&id) {
            response
                .headers_mut()
                .insert(header::HeaderName::from_static(REQUEST_ID_HEADER), value);
        }
        response
    })
}

async fn answer(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if let Err(refusal) = admit(&mut request).await {
        tracing::info!(path = %request.path(), %refusal, "request refused at the edge");
        let response = render(request.path(), refusal);
        return Ok(finish(request.into_response(response)));
    }
    let response = next.call(request).await?.map_into_boxed_body();
    Ok(finish(response))
}

/// Checks the request's address and origin and bounds its body; the body of every route but the streamed
/// one is read here and handed on whole.
async fn admit(request: &mut ServiceRequest) -> Result<(), Refusal> {
    let settings = request
        .app_data::<web::Data<Settings>>()
        .map(|settings| settings.get_ref().clone())
        .unwrap_or_default();
    let pages_at = match request.app_data::<web::Data<WebConfig>>() {
        Some(config) => match &config.login {
            None => {
                origin::check_local_host(request.request())?;
                origin::PageOrigin::Loopback
            }
            Some(login) => origin::PageOrigin::Public(login.public_origin()),
        },
        None => origin::PageOrigin::Loopback,
    };
    if !is_api_path(request.path()) {
        origin::check_same_site(request.request(), &pages_at)?;
    }
    let streamed = request.path() == body::STREAMED_PATH;
    let encoding = body::encoding(request.headers(), streamed)?;
    let payload = request.take_payload();
    if streamed {
        // The route reads the body itself, after authenticating, and inflates it if this says so.
        request.extensions_mut().insert(encoding);
        request.set_payload(body::with_deadline(payload, settings.body_timeout));
        return Ok(());
    }
    let mut payload = payload;
    let declared = body::declared_length(request.headers());
    let whole = body::read_small(
        &mut payload,
        declared,
        body::SMALL_BODY_LIMIT,
        settings.body_timeout,
    )
    .await?;
    request.set_payload(actix_web::dev::Payload::from(whole));
    Ok(())
}

/// The answer on its way out.
fn finish(response: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let response = replace_framework_error(response);
    let (request, mut answer) = response.into_parts();
    let headers = answer.headers_mut();
    if is_api_path(request.path()) && !headers.contains_key(header::CACHE_CONTROL) {
        // API answers carry findings, evidence and, once, new tokens: no cache may keep them.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if answer.status() == StatusCode::SERVICE_UNAVAILABLE
        && !answer.headers().contains_key(header::RETRY_AFTER)
    {
        answer
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    if answer.status() == StatusCode::METHOD_NOT_ALLOWED
        && !answer.headers().contains_key(header::ALLOW)
        && let Some(allowed) = allowed_methods(&request)
        && let Ok(value) = HeaderValue::from_str(&allowed)
    {
        answer.headers_mut().insert(header::ALLOW, value);
    }
    ServiceResponse::new(request, answer)
}

/// An error answer the framework wrote itself (plain text) is rewritten by the door it belongs to.
fn replace_framework_error(response: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let status = response.status();
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/plain"));
    let empty_error = !response.headers().contains_key(header::CONTENT_TYPE)
        && status.is_client_error()
        && status != StatusCode::UNAUTHORIZED;
    if !(status.is_client_error() && (plain || empty_error)) {
        return response;
    }
    let (request, _) = response.into_parts();
    let rewritten = render(request.path(), Refusal::Framework(status));
    ServiceResponse::new(request, rewritten)
}

/// The methods the resource a request matched serves, for a 405's `Allow`.
fn allowed_methods(request: &HttpRequest) -> Option<String> {
    let pattern = request.match_pattern()?;
    let methods: Vec<&str> = match crate::http::access::rule_for(&pattern).0 {
        [] => crate::http::PUBLIC_METHODS
            .iter()
            .find(|(path, _)| *path == pattern)
            .map(|(_, methods)| methods.to_vec())
            .or_else(|| crate::web::page_methods(&pattern))?,
        rules => rules.iter().map(|(method, _)| *method).collect(),
    };
    Some(methods.join(", "))
}
