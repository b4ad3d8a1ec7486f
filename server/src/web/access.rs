//! Who may see a page: the session (or local mode) names the visitor, and the page's rule in
//! [`super::PAGE_RULES`] names the least role it needs. A visitor without a session is sent to log in and
//! brought back to the page afterwards.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpMessage, HttpResponse, web};
use sha2::Digest;
use time::OffsetDateTime;

use super::error::PageError;
use super::session::{self, SESSION_COOKIE, Visitor};
use super::{PAGE_RULES, WebConfig};
use crate::domain::role::Role;
use crate::shared::AppState;
use crate::storage::web_sessions;

/// The least role a page needs; `None` for a page without a rule (refused to everyone).
pub fn rule_for(path: &str) -> Option<Role> {
    PAGE_RULES
        .iter()
        .find(|(rule_path, _)| *rule_path == path)
        .map(|(_, role)| *role)
}

#[derive(Debug, Clone, Copy)]
struct PageRule(Option<Role>);

/// A page resource guarded by its rule.
pub fn page(
    path: &'static str,
) -> actix_web::Resource<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    web::resource(path)
        .app_data(PageRule(rule_for(path)))
        .wrap(from_fn(enforce))
}

/// Local mode's visitor: authentication is off, and the server listens on loopback only.
fn local_visitor(config: &WebConfig) -> Visitor {
    // A fixed form token per server key: there is no session, but forms still refuse other sites' posts.
    let mut digest = sha2::Sha256::new();
    digest.update(b"kubeward local-mode form token\0");
    digest.update(config.cookie_key.master());
    Visitor {
        actor_id: "local".to_owned(),
        name: "local".to_owned(),
        role: Role::Admin,
        csrf_token: hex::encode(digest.finalize()),
        local_mode: true,
    }
}

/// The visitor of a request, from its session cookie; `None` without a live session.
pub async fn visitor(
    request: &actix_web::HttpRequest,
    state: &AppState,
) -> Result<Option<Visitor>, PageError> {
    let config = super::config_of(request)?;
    if config.login.is_none() {
        return Ok(Some(local_visitor(config)));
    }
    let Some(id) = session::opened(config, request, SESSION_COOKIE) else {
        return Ok(None);
    };
    let idle_since = OffsetDateTime::now_utc() - config.idle_timeout;
    let mut conn = state.pool.acquire().await?;
    let Some(row) = web_sessions::touch(&mut conn, &session::id_hash(&id), idle_since).await?
    else {
        return Ok(None);
    };
    let Some(role) = Role::parse(&row.role) else {
        return Ok(None);
    };
    Ok(Some(Visitor {
        actor_id: format!("oidc:{}", row.subject),
        name: row.display_name,
        role,
        csrf_token: row.csrf_token,
        local_mode: false,
    }))
}

async fn enforce(
    mut request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    use actix_web::ResponseError;
    // Refusals are answered here, not raised: a raised error would pass the middleware that adds the
    // security headers.
    let refuse = |request: ServiceRequest, err: PageError| {
        Ok(request
            .into_response(err.error_response())
            .map_into_right_body())
    };
    let Some(needed) = request.app_data::<PageRule>().and_then(|rule| rule.0) else {
        return refuse(request, PageError::NotFound("this page".to_owned()));
    };
    let Some(state) = request.app_data::<web::Data<AppState>>().cloned() else {
        return refuse(request, PageError::NotFound("this page".to_owned()));
    };
    let visitor = match visitor(request.request(), &state).await {
        Ok(visitor) => visitor,
        Err(err) => return refuse(request, err),
    };
    let Some(visitor) = visitor else {
        let target = match request.query_string() {
            "" => request.path().to_owned(),
            query => format!("{}?{query}", request.path()),
        };
        let location = format!("/login?next={}", super::pages::encode(&target));
        let response = HttpResponse::SeeOther()
            .insert_header((header::LOCATION, location))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish();
        return Ok(request.into_response(response).map_into_right_body());
    };
    if visitor.role < needed {
        return refuse(
            request,
            PageError::Forbidden {
                needed,
                have: visitor.role,
            },
        );
    }
    request.extensions_mut().insert(visitor.clone());
    // Every form (pages change state only by POST) carries its session's token, checked here before any
    // handler runs; other methods reach the resource, which serves them or answers 405.
    if request.method() == Method::POST {
        let body = match request.extract::<web::Bytes>().await {
            Ok(body) => body,
            Err(_) => {
                return refuse(
                    request,
                    PageError::BadRequest("the form cannot be read".to_owned()),
                );
            }
        };
        if let Err(err) = super::form::check_form_token(request.request(), &visitor, &body) {
            return refuse(request, err);
        }
        request.set_payload(actix_web::dev::Payload::from(body));
    }
    Ok(next.call(request).await?.map_into_left_body())
}
