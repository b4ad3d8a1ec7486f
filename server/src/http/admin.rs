//! Admin endpoints: the same enrollment and token operations as the CLI. New tokens are in the answer once
//! and nowhere else.

use actix_web::{HttpRequest, HttpResponse, web};
use uuid::Uuid;

use super::access::Principal;
use super::api::bad;
use super::input::{http_url, json_body};
use super::problem::ApiError;
use crate::app::admin;
use crate::app::views::{
    ApiToken, ApiTokenPage, Delivery, DeliveryPage, EnrolledCluster, Enrollment,
    NewAgentTokenIssued, NewApiToken, NewApiTokenIssued, NewCluster, NewWebhook, Webhook,
    WebhookPage, time_text,
};
use crate::domain::cluster::{ClusterName, Labels};
use crate::domain::role::Role;
use crate::domain::token::{TokenName, expiry_after};
use crate::domain::webhook;
use crate::shared::AppState;
use crate::storage::api_tokens;

/// `POST /api/v1/clusters`: enroll a cluster; the answer holds its first agent token.
#[utoipa::path(
    post, path = "/api/v1/clusters", tag = "admin",
    request_body = NewCluster,
    responses((status = 201, description = "Enrolled; the answer holds the first agent token", body = Enrollment))
)]
pub async fn enroll(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
    who: web::ReqData<Principal>,
) -> Result<HttpResponse, ApiError> {
    let new: NewCluster = json_body(&request, &body)?;
    let name = ClusterName::parse(&new.name).map_err(|err| bad("name", err.to_string()))?;
    let pairs: Vec<String> = new
        .labels
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    let labels = Labels::parse(pairs.iter().map(String::as_str))
        .map_err(|err| bad("labels", err.to_string()))?;
    let admin::Enrollment {
        cluster,
        token_id,
        token,
    } = admin::enroll(&state.pool, &who.actor(&request), &name, &labels).await?;
    Ok(HttpResponse::Created().json(Enrollment {
        cluster: EnrolledCluster {
            name: cluster.name.clone(),
            labels: cluster
                .labels
                .iter()
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
            created_at: time_text(cluster.created_at),
        },
        agent_token: NewAgentTokenIssued {
            id: token_id,
            cluster: cluster.name,
            token: token.reveal().to_owned(),
        },
    }))
}

/// `POST /api/v1/clusters/{name}/agent-tokens`: another agent token for a cluster.
#[utoipa::path(
    post, path = "/api/v1/clusters/{name}/agent-tokens", tag = "admin",
    params(("name" = String, Path, description = "Cluster name")),
    responses((status = 201, description = "A new agent token, shown once", body = NewAgentTokenIssued))
)]
pub async fn issue_agent_token(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
    who: web::ReqData<Principal>,
) -> Result<HttpResponse, ApiError> {
    let name = ClusterName::parse(&path).map_err(|err| bad("name", err.to_string()))?;
    let (token_id, token) =
        admin::issue_agent_token(&state.pool, &who.actor(&request), &name).await?;
    Ok(HttpResponse::Created().json(NewAgentTokenIssued {
        id: token_id,
        cluster: name.to_string(),
        token: token.reveal().to_owned(),
    }))
}

fn token_id(path: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(path).map_err(|_| bad("id", "must be a token id (a UUID)"))
}

/// `DELETE /api/v1/agent-tokens/{id}`: revoke an agent token.
#[utoipa::path(
    delete, path = "/api/v1/agent-tokens/{id}", tag = "admin",
    params(("id" = Uuid, Path, description = "Agent token id")),
    responses((status = 204, description = "Revoked"))
)]
pub async fn revoke_agent_token(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
    who: web::ReqData<Principal>,
) -> Result<HttpResponse, ApiError> {
    let id = token_id(&path)?;
    // A repeat is answered alike: the token is revoked either way (see `app::admin`).
    admin::revoke_agent_token(&state.pool, &who.actor(&request), id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/api-tokens`: issue an API token.
#[utoipa::path(
    post, path = "/api/v1/api-tokens", tag = "admin",
    request_body = NewApiToken,
    responses((status = 201, description = "A new API token, shown once", body = NewApiTokenIssued))
)]
pub async fn issue_api_token(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
    who: web::ReqData<Principal>,
) -> Result<HttpResponse, ApiError> {
    let new: NewApiToken = json_body(&request, &body)?;
    let name = TokenName::parse(&new.name).map_err(|err| bad("name", err))?;
    let role =
        Role::parse(&new.role).ok_or_else(|| bad("role", "must be viewer, auditor or admin"))?;
    let expires_at = match new.expires_in_days {
        None => None,
        Some(days) => Some(
            expiry_after(
                time::OffsetDateTime::now_utc(),
                time::Duration::days(i64::from(days)),
            )
            .ok_or_else(|| {
                bad(
                    "expires_in_days",
                    "must be from 1 to 3650, or null for never",
                )
            })?,
        ),
    };
    let (id, token) =
        admin::issue_api_token(&state.pool, &who.actor(&request), &name, role, expires_at).await?;
    Ok(HttpResponse::Created().json(NewApiTokenIssued {
        id,
        name: name.to_string(),
        role: role.as_str().to_owned(),
        expires_at: expires_at.map(time_text),
        token: token.reveal().to_owned(),
    }))
}

/// `GET /api/v1/api-tokens`: every API token, never the tokens themselves.
#[utoipa::path(
    get, path = "/api/v1/api-tokens", tag = "admin",
    responses((status = 200, description = "Every API token, without the tokens", body = ApiTokenPage))
)]
pub async fn list_api_tokens(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut conn = state.pool.acquire().await?;
    let items = api_tokens::list(&mut conn)
        .await?
        .into_iter()
        .map(|token| ApiToken {
            id: token.id,
            name: token.name,
            role: token.role,
            created_at: time_text(token.created_at),
            expires_at: token.expires_at.map(time_text),
            last_used_at: token.last_used_at.map(time_text),
            revoked_at: token.revoked_at.map(time_text),
        })
        .collect();
    Ok(HttpResponse::Ok().json(ApiTokenPage { items, next: None }))
}

/// `DELETE /api/v1/api-tokens/{id}`: revoke an API token.
#[utoipa::path(
    delete, path = "/api/v1/api-tokens/{id}", tag = "admin",
    params(("id" = Uuid, Path, description = "API token id")),
    responses((status = 204, description = "Revoked"))
)]
pub async fn revoke_api_token(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
    who: web::ReqData<Principal>,
) -> Result<HttpResponse, ApiError> {
    let id = token_id(&path)?;
    admin::revoke_api_token(&state.pool, &who.actor(&request), id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/webhooks`: subscribe a URL to kinds of events.
#[utoipa::path(
    post, path = "/api/v1/webhooks", tag = "webhooks",
    request_body = NewWebhook,
    responses((status = 201, description = "Subscribed", body = Webhook))
)]
pub async fn subscribe(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
    who: web::ReqData<Principal>,
) -> Result<HttpResponse, ApiError> {
    let new: NewWebhook = json_body(&request, &body)?;
    let url = http_url("url", &new.url)?;
    webhook::check_secret(&new.secret).map_err(|err| bad(err.field(), err.to_string()))?;
    let events =
        webhook::event_kinds(&new.events).map_err(|err| bad(err.field(), err.to_string()))?;
    let (id, created_at) = admin::subscribe(
        &state.pool,
        &state.sealer,
        &who.actor(&request),
        &url,
        &new.secret,
        &events,
    )
    .await?;
    Ok(HttpResponse::Created().json(Webhook {
        id,
        url: crate::domain::url::redacted(url.as_str()),
        events,
        created_at: time_text(created_at),
    }))
}

/// `GET /api/v1/webhooks`: the subscriptions, without their secrets.
#[utoipa::path(
    get, path = "/api/v1/webhooks", tag = "webhooks",
    responses((status = 200, description = "The subscriptions, without secrets", body = WebhookPage))
)]
pub async fn list_webhooks(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut conn = state.pool.acquire().await?;
    let items = crate::storage::webhooks::list(&mut conn)
        .await?
        .into_iter()
        .map(|hook| Webhook {
            id: hook.id,
            url: crate::domain::url::redacted(&hook.url),
            events: hook.events,
            created_at: time_text(hook.created_at),
        })
        .collect();
    Ok(HttpResponse::Ok().json(WebhookPage { items, next: None }))
}

/// `DELETE /api/v1/webhooks/{id}`: unsubscribe.
#[utoipa::path(
    delete, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Webhook id")),
    responses((status = 204, description = "Unsubscribed; its pending deliveries are dropped"))
)]
pub async fn unsubscribe(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
    who: web::ReqData<Principal>,
) -> Result<HttpResponse, ApiError> {
    let id = Uuid::parse_str(&path).map_err(|_| bad("id", "must be a webhook id (a UUID)"))?;
    admin::unsubscribe(&state.pool, &who.actor(&request), id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/v1/webhooks/{id}/deliveries`: the latest 100 deliveries, newest first.
#[utoipa::path(
    get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Webhook id")),
    responses((status = 200, description = "The latest 100 deliveries, newest first", body = DeliveryPage))
)]
pub async fn delivery_log(
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = Uuid::parse_str(&path).map_err(|_| bad("id", "must be a webhook id (a UUID)"))?;
    let mut conn = state.pool.acquire().await?;
    let items = crate::storage::webhooks::deliveries(&mut conn, id, 100)
        .await?
        .into_iter()
        .map(|row| Delivery {
            id: row.id,
            event_id: row.event_id,
            node_event_id: row.node_event_id,
            state: row.state,
            attempts: row.attempts,
            next_attempt_at: time_text(row.next_attempt_at),
            last_status: row.last_status,
            last_error: row.last_error,
            created_at: time_text(row.created_at),
            delivered_at: row.delivered_at.map(time_text),
        })
        .collect();
    Ok(HttpResponse::Ok().json(DeliveryPage { items, next: None }))
}
