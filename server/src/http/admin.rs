//! Admin endpoints: the same enrollment and token operations as the CLI. New tokens are in the answer once
//! and nowhere else.

use actix_web::{HttpRequest, HttpResponse, web};
use time::OffsetDateTime;
use uuid::Uuid;

use super::AppState;
use super::access::Principal;
use super::api::bad;
use super::input::{http_url, json_body};
use super::problem::ApiError;
use super::views::{
    ApiToken, ApiTokenPage, Delivery, DeliveryPage, EnrolledCluster, Enrollment,
    NewAgentTokenIssued, NewApiToken, NewApiTokenIssued, NewCluster, NewWebhook, Webhook,
    WebhookPage, time_text,
};
use crate::domain::audit::Action as Audited;
use crate::domain::cluster::{ClusterName, Labels};
use crate::domain::role::Role;
use crate::domain::token::NewAgentToken;
use crate::storage::{api_tokens, audit, clusters, tokens};

/// The host of a URL (what the audit trail keeps of a webhook's address).
fn url_host(url: &str) -> String {
    url.split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', '?', '#']).next())
        .map(|authority| authority.rsplit('@').next().unwrap_or(authority).to_owned())
        .unwrap_or_default()
}

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
    let mut tx = state.pool.begin().await?;
    let cluster = clusters::create(&mut tx, &name, &labels)
        .await?
        .ok_or_else(|| ApiError::Exists(format!("cluster {name}")))?;
    let (token_id, token) = tokens::issue(&mut tx, cluster.id).await?;
    audit::append(
        &mut tx,
        &who.actor(&request),
        Audited::ClusterEnroll,
        Some(&format!("cluster {name}")),
        &serde_json::json!({ "labels": new.labels, "agent_token": token_id }),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(cluster.name = %name, token.id = %token_id, by = %who.name, "enrolled cluster {name}");
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
    let mut tx = state.pool.begin().await?;
    let cluster = clusters::find_by_name(&mut tx, &name)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("cluster {name}")))?;
    let (token_id, token) = tokens::issue(&mut tx, cluster.id).await?;
    audit::append(
        &mut tx,
        &who.actor(&request),
        Audited::AgentTokenIssue,
        Some(&format!("agent token {token_id}")),
        &serde_json::json!({ "cluster": name.to_string() }),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(cluster.name = %name, token.id = %token_id, by = %who.name, "issued an agent token for {name}");
    Ok(HttpResponse::Created().json(NewAgentTokenIssued {
        id: token_id,
        cluster: cluster.name,
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
    let mut tx = state.pool.begin().await?;
    let revocation = tokens::revoke(&mut tx, id).await?;
    if matches!(revocation, tokens::Revocation::NotFound) {
        return Err(ApiError::NotFound(format!("agent token {id}")));
    }
    audit::append(
        &mut tx,
        &who.actor(&request),
        Audited::AgentTokenRevoke,
        Some(&format!("agent token {id}")),
        &serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(token.id = %id, by = %who.name, "revoked agent token");
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
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(bad(
            "name",
            "must be 1 to 100 characters without control characters",
        ));
    }
    let role =
        Role::parse(&new.role).ok_or_else(|| bad("role", "must be viewer, auditor or admin"))?;
    let expires_at = match new.expires_in_days {
        None => None,
        Some(days @ 1..=3650) => {
            Some(OffsetDateTime::now_utc() + time::Duration::days(i64::from(days)))
        }
        Some(_) => {
            return Err(bad(
                "expires_in_days",
                "must be from 1 to 3650, or null for never",
            ));
        }
    };
    let token = NewAgentToken::generate_api();
    let id = Uuid::now_v7();
    let mut tx = state.pool.begin().await?;
    api_tokens::insert(&mut tx, id, name, role, &token.hash(), expires_at).await?;
    audit::append(
        &mut tx,
        &who.actor(&request),
        Audited::ApiTokenIssue,
        Some(&format!("API token {id}")),
        &serde_json::json!({
            "name": name,
            "role": role.as_str(),
            "expires_at": expires_at.map(time_text),
        }),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(token.id = %id, role = %role, by = %who.name, "issued an API token");
    Ok(HttpResponse::Created().json(NewApiTokenIssued {
        id,
        name: name.to_owned(),
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
    let mut tx = state.pool.begin().await?;
    if !api_tokens::revoke(&mut tx, id).await? {
        return Err(ApiError::NotFound(format!("API token {id}")));
    }
    audit::append(
        &mut tx,
        &who.actor(&request),
        Audited::ApiTokenRevoke,
        Some(&format!("API token {id}")),
        &serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(token.id = %id, by = %who.name, "revoked API token");
    Ok(HttpResponse::NoContent().finish())
}

/// The event kinds webhooks can subscribe to.
pub const WEBHOOK_EVENTS: &[&str] = &[
    "finding.opened",
    "finding.resolved",
    "finding.reopened",
    "finding.waived",
    "finding.waiver_expired",
    "finding.waiver_revoked",
    "node.stale",
];

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
    http_url("url", &new.url)?;
    if !(16..=256).contains(&new.secret.chars().count()) || new.secret.chars().any(char::is_control)
    {
        return Err(bad(
            "secret",
            "must be 16 to 256 characters without control characters",
        ));
    }
    let mut events = new.events.clone();
    events.sort();
    events.dedup();
    if events.is_empty() {
        return Err(bad(
            "events",
            format!("must name at least one of {}", WEBHOOK_EVENTS.join(", ")),
        ));
    }
    if let Some(unknown) = events
        .iter()
        .find(|event| !WEBHOOK_EVENTS.contains(&event.as_str()))
    {
        return Err(bad(
            "events",
            format!("{unknown:?} is not one of {}", WEBHOOK_EVENTS.join(", ")),
        ));
    }
    let sealed_secret = state
        .sealer
        .seal(&new.secret)
        .map_err(|err| ApiError::Internal(Box::new(err)))?;
    let id = Uuid::now_v7();
    let mut tx = state.pool.begin().await?;
    let created_at =
        crate::storage::webhooks::insert(&mut tx, id, &new.url, &sealed_secret, &events).await?;
    // The URL's host only: a query string may hold a credential, and the secret is never recorded.
    audit::append(
        &mut tx,
        &who.actor(&request),
        Audited::WebhookCreate,
        Some(&format!("webhook {id}")),
        &serde_json::json!({ "host": url_host(&new.url), "events": events }),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(webhook.id = %id, events = ?events, by = %who.name, "subscribed a webhook");
    Ok(HttpResponse::Created().json(Webhook {
        id,
        url: crate::domain::url::redacted(&new.url),
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
    let mut tx = state.pool.begin().await?;
    if !crate::storage::webhooks::delete(&mut tx, id).await? {
        return Err(ApiError::NotFound(format!("webhook {id}")));
    }
    audit::append(
        &mut tx,
        &who.actor(&request),
        Audited::WebhookDelete,
        Some(&format!("webhook {id}")),
        &serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(webhook.id = %id, by = %who.name, "deleted a webhook");
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
