//! Who may call what. Every API route is registered through [`guarded`] with the role each method needs, so
//! the rules live beside the routes in one place and a method without a rule is refused.
//!
//! API tokens carry a role; agent tokens may post reports and nothing else (403 everywhere here).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpMessage, web};
use uuid::Uuid;

use super::problem::ApiError;
use crate::domain::actor::Actor;
use crate::domain::role::Role;
use crate::domain::token::{PresentedToken, TokenKind};
use crate::shared::AppState;
use crate::shared::throttle;
use crate::storage::{api_tokens, tokens};

/// The role each HTTP method of a resource needs.
#[derive(Debug, Clone, Copy)]
pub struct Access(pub &'static [(&'static str, Role)]);

/// Who is calling, once authenticated.
#[derive(Debug, Clone)]
pub struct Principal {
    pub token_id: Uuid,
    pub name: String,
    pub role: Role,
    /// Stable across the ways one person calls: `oidc:<sub>` for a JWT, `api-token:<id>` for an API token.
    pub actor_id: String,
}

impl Principal {
    /// The caller as the audit trail names them, with the request's origin.
    pub fn actor(&self, request: &actix_web::HttpRequest) -> Actor {
        Actor {
            id: self.actor_id.clone(),
            name: self.name.clone(),
            source: crate::shared::source_of(request),
        }
    }
}

/// The rule of a guarded path; a path without one allows no method.
pub fn rule_for(path: &str) -> Access {
    super::ACCESS_RULES
        .iter()
        .find(|(rule_path, _)| *rule_path == path)
        .map_or(Access(&[]), |(_, access)| *access)
}

/// A resource whose methods need the roles its rule in [`super::ACCESS_RULES`] gives.
pub fn guarded(
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
        .app_data(rule_for(path))
        .wrap(from_fn(enforce))
}

/// The raw bearer token of a request.
fn bearer(request: &ServiceRequest) -> Option<String> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// Refusals become answers here rather than errors: an error would travel past the middleware that adds the
/// security headers, an answer carries them.
async fn enforce(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    use actix_web::ResponseError;
    let outcome = match request.app_data::<web::Data<AppState>>().cloned() {
        Some(state) => authenticate(&state, request.request(), authorize(&request)).await,
        None => authorize(&request).await,
    };
    match outcome {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            Ok(next.call(request).await?.map_into_left_body())
        }
        Err(err) => Ok(request
            .into_response(err.error_response())
            .map_into_right_body()),
    }
}

/// Who is calling, if they may call this method here.
async fn authorize(request: &ServiceRequest) -> Result<Principal, ApiError> {
    let access = request
        .app_data::<Access>()
        .copied()
        .ok_or(ApiError::Forbidden)?;
    let state = request
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or(ApiError::Forbidden)?;
    let needed = access
        .0
        .iter()
        .find(|(method, _)| *method == request.method().as_str())
        .map(|(_, role)| *role)
        .ok_or(ApiError::MethodNotAllowed)?;
    let raw = bearer(request).ok_or(ApiError::Unauthorized)?;
    let Some(token) = PresentedToken::parse(&raw) else {
        // Not one of ours: an OIDC JWT from the configured issuer, or nothing.
        let verifier = state.jwt.clone().ok_or(ApiError::Unauthorized)?;
        let (name, subject, role) = verifier.verify(&raw).await.map_err(|err| match err {
            crate::shared::jwt::JwtError::NoRole => ApiError::Forbidden,
            crate::shared::jwt::JwtError::Invalid(reason) => {
                tracing::info!(reason, "refused a JWT bearer token");
                ApiError::Unauthorized
            }
        })?;
        if role < needed {
            return Err(ApiError::Forbidden);
        }
        return Ok(Principal {
            token_id: Uuid::nil(),
            name,
            role,
            actor_id: format!("oidc:{subject}"),
        });
    };
    let mut conn = state.pool.acquire().await.map_err(ApiError::from)?;
    let hash = token.hash();
    let principal = match token.kind() {
        TokenKind::Api => {
            let (token_id, name, role) = api_tokens::authenticate(&mut conn, &hash)
                .await
                .map_err(ApiError::from)?
                .ok_or(ApiError::Unauthorized)?;
            Principal {
                token_id,
                name,
                role,
                actor_id: format!("api-token:{token_id}"),
            }
        }
        TokenKind::Agent => {
            // A valid agent token is known but may only post reports; an invalid one is not known at all.
            return Err(
                match tokens::authenticate(&mut conn, &hash)
                    .await
                    .map_err(ApiError::from)?
                {
                    Some(_) => ApiError::Forbidden,
                    None => ApiError::Unauthorized,
                },
            );
        }
    };
    drop(conn);
    if principal.role < needed {
        return Err(ApiError::Forbidden);
    }
    Ok(principal)
}

/// Runs an authentication: a stopped source is answered 429 before it, and a refusal (401) is counted after
/// it; the refusal that stops a source is recorded in the audit trail.
pub async fn authenticate<T>(
    state: &AppState,
    request: &actix_web::HttpRequest,
    authentication: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    let Some(source) = request.peer_addr().map(|address| address.ip()) else {
        return authentication.await;
    };
    state
        .throttle
        .check(source, std::time::Instant::now())
        .map_err(|retry_after| ApiError::Throttled { retry_after })?;
    let outcome = authentication.await;
    if matches!(outcome, Err(ApiError::Unauthorized))
        && state.throttle.refused(source, std::time::Instant::now()) == throttle::Counted::Stopped
    {
        tracing::warn!(%source, refused = state.throttle.limit(), "a source presenting refused credentials is stopped for a minute");
        let actor = Actor {
            id: "unauthenticated".to_owned(),
            name: "unauthenticated".to_owned(),
            source: crate::shared::source_of(request),
        };
        let detail = serde_json::json!({
            "refused": state.throttle.limit(),
            "window_seconds": throttle::WINDOW.as_secs(),
        });
        let recorded = match state.pool.acquire().await {
            Ok(mut conn) => crate::storage::audit::append(
                &mut conn,
                &actor,
                crate::domain::audit::Action::AuthThrottled,
                None,
                &detail,
            )
            .await
            .map(|_| ()),
            Err(err) => Err(err),
        };
        if let Err(err) = recorded {
            tracing::error!(error = %err, "the stopped source could not be recorded in the audit trail");
        }
    }
    outcome
}
