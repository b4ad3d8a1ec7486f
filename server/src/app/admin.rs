//! The admin operations, one function each, called alike by the API and the command line: enrolling a
//! cluster, issuing and revoking agent and API tokens, subscribing and unsubscribing webhooks. Each runs in
//! one transaction with its audit record, whose detail has one typed shape whoever asked, so the hash-chained
//! trail reads the same for an action from either door.
//!
//! The rule for repeats: the trail records what changed. Revoking a token that was revoked before changes
//! nothing, so it is answered as done (`Revoked::Before`) and leaves no record.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::actor::Actor;
use crate::domain::audit::Action as Audited;
use crate::domain::cluster::{ClusterName, Labels};
use crate::domain::role::Role;
use crate::domain::sealed::Sealer;
use crate::domain::time::time_text;
use crate::domain::token::{NewAgentToken, TokenName};
use crate::domain::url::HttpUrl;
use crate::storage::clusters::ClusterRow;
use crate::storage::tokens::Revocation;
use crate::storage::{api_tokens, audit, clusters, tokens, webhooks};

/// Why an admin operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("a cluster named {0} exists already")]
    ClusterExists(ClusterName),
    #[error("no cluster named {0}")]
    NoSuchCluster(ClusterName),
    #[error("no {kind} {id}")]
    NoSuchToken { kind: &'static str, id: Uuid },
    #[error("no webhook {0}")]
    NoSuchWebhook(Uuid),
    #[error("the webhook secret could not be sealed")]
    Sealing(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error(transparent)]
    Storage(#[from] sqlx::Error),
}

/// Whether a revocation changed anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    Now,
    Before,
}

/// A new cluster and its first agent token (shown once).
#[derive(Debug)]
pub struct Enrollment {
    pub cluster: ClusterRow,
    pub token_id: Uuid,
    pub token: NewAgentToken,
}

/// The audit detail of each admin action. The labels are an object, as the API takes them.
#[derive(Debug, Serialize)]
struct EnrollDetail<'a> {
    labels: BTreeMap<&'a str, &'a str>,
    agent_token: Uuid,
}

#[derive(Debug, Serialize)]
struct AgentTokenDetail<'a> {
    cluster: &'a str,
}

#[derive(Debug, Serialize)]
struct ApiTokenDetail<'a> {
    name: &'a str,
    role: &'a str,
    expires_at: Option<String>,
}

#[derive(Debug, Serialize)]
struct WebhookDetail<'a> {
    /// The host only: a query string may hold a credential, and the secret is never recorded.
    host: &'a str,
    events: &'a [String],
}

/// Nothing more than the target (revocations, deletions).
#[derive(Debug, Serialize)]
struct NoDetail {}

async fn record(
    conn: &mut sqlx::PgConnection,
    actor: &Actor,
    action: Audited,
    target: &str,
    detail: &impl Serialize,
) -> Result<(), AdminError> {
    let detail = serde_json::to_value(detail).unwrap_or(serde_json::Value::Null);
    audit::append(conn, actor, action, Some(target), &detail).await?;
    Ok(())
}

/// Enrolls a cluster and issues its first agent token.
pub async fn enroll(
    pool: &PgPool,
    actor: &Actor,
    name: &ClusterName,
    labels: &Labels,
) -> Result<Enrollment, AdminError> {
    let mut tx = pool.begin().await?;
    let cluster = clusters::create(&mut tx, name, labels)
        .await?
        .ok_or_else(|| AdminError::ClusterExists(name.clone()))?;
    let (token_id, token) = tokens::issue(&mut tx, cluster.id).await?;
    let detail = EnrollDetail {
        labels: labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
        agent_token: token_id,
    };
    record(
        &mut tx,
        actor,
        Audited::ClusterEnroll,
        &format!("cluster {name}"),
        &detail,
    )
    .await?;
    tx.commit().await?;
    tracing::info!(cluster.name = %name, token.id = %token_id, by = %actor.name, "enrolled cluster {name}");
    Ok(Enrollment {
        cluster,
        token_id,
        token,
    })
}

/// Issues another agent token for an enrolled cluster.
pub async fn issue_agent_token(
    pool: &PgPool,
    actor: &Actor,
    name: &ClusterName,
) -> Result<(Uuid, NewAgentToken), AdminError> {
    let mut tx = pool.begin().await?;
    let cluster = clusters::find_by_name(&mut tx, name)
        .await?
        .ok_or_else(|| AdminError::NoSuchCluster(name.clone()))?;
    let (token_id, token) = tokens::issue(&mut tx, cluster.id).await?;
    let detail = AgentTokenDetail {
        cluster: name.as_str(),
    };
    record(
        &mut tx,
        actor,
        Audited::AgentTokenIssue,
        &format!("agent token {token_id}"),
        &detail,
    )
    .await?;
    tx.commit().await?;
    tracing::info!(cluster.name = %name, token.id = %token_id, by = %actor.name, "issued an agent token for {name}");
    Ok((token_id, token))
}

/// Revokes an agent token; a repeat changes nothing and records nothing.
pub async fn revoke_agent_token(
    pool: &PgPool,
    actor: &Actor,
    id: Uuid,
) -> Result<Revoked, AdminError> {
    let mut tx = pool.begin().await?;
    let revocation = tokens::revoke(&mut tx, id).await?;
    settle_revocation(
        tx,
        actor,
        revocation,
        "agent token",
        Audited::AgentTokenRevoke,
        id,
    )
    .await
}

/// Issues an API token with a role, ending at `expires_at` (never when `None`).
pub async fn issue_api_token(
    pool: &PgPool,
    actor: &Actor,
    name: &TokenName,
    role: Role,
    expires_at: Option<OffsetDateTime>,
) -> Result<(Uuid, NewAgentToken), AdminError> {
    let token = NewAgentToken::generate_api();
    let id = Uuid::now_v7();
    let mut tx = pool.begin().await?;
    api_tokens::insert(&mut tx, id, name.as_str(), role, &token.hash(), expires_at).await?;
    let detail = ApiTokenDetail {
        name: name.as_str(),
        role: role.as_str(),
        expires_at: expires_at.map(time_text),
    };
    record(
        &mut tx,
        actor,
        Audited::ApiTokenIssue,
        &format!("API token {id}"),
        &detail,
    )
    .await?;
    tx.commit().await?;
    tracing::info!(token.id = %id, token.name = %name, role = %role, by = %actor.name, "issued an API token");
    Ok((id, token))
}

/// Revokes an API token; a repeat changes nothing and records nothing.
pub async fn revoke_api_token(
    pool: &PgPool,
    actor: &Actor,
    id: Uuid,
) -> Result<Revoked, AdminError> {
    let mut tx = pool.begin().await?;
    let revocation = api_tokens::revoke(&mut tx, id).await?;
    settle_revocation(
        tx,
        actor,
        revocation,
        "API token",
        Audited::ApiTokenRevoke,
        id,
    )
    .await
}

/// Records and commits a revocation that changed something; a repeat or a missing token leaves no record.
async fn settle_revocation(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    actor: &Actor,
    revocation: Revocation,
    kind: &'static str,
    action: Audited,
    id: Uuid,
) -> Result<Revoked, AdminError> {
    match revocation {
        Revocation::NotFound => Err(AdminError::NoSuchToken { kind, id }),
        Revocation::AlreadyRevoked => Ok(Revoked::Before),
        Revocation::Revoked => {
            record(
                &mut tx,
                actor,
                action,
                &format!("{kind} {id}"),
                &NoDetail {},
            )
            .await?;
            tx.commit().await?;
            tracing::info!(token.id = %id, by = %actor.name, "revoked {kind}");
            Ok(Revoked::Now)
        }
    }
}

/// Subscribes a URL to event kinds (already checked by `domain::webhook`); the secret is stored sealed.
pub async fn subscribe(
    pool: &PgPool,
    sealer: &Sealer,
    actor: &Actor,
    url: &HttpUrl,
    secret: &str,
    events: &[String],
) -> Result<(Uuid, OffsetDateTime), AdminError> {
    let sealed_secret = sealer
        .seal(secret)
        .map_err(|err| AdminError::Sealing(Box::new(err)))?;
    let id = Uuid::now_v7();
    let mut tx = pool.begin().await?;
    let created_at = webhooks::insert(&mut tx, id, url, &sealed_secret, events).await?;
    let detail = WebhookDetail {
        host: url.host(),
        events,
    };
    record(
        &mut tx,
        actor,
        Audited::WebhookCreate,
        &format!("webhook {id}"),
        &detail,
    )
    .await?;
    tx.commit().await?;
    tracing::info!(webhook.id = %id, events = ?events, by = %actor.name, "subscribed a webhook");
    Ok((id, created_at))
}

/// Deletes a subscription and its pending deliveries.
pub async fn unsubscribe(pool: &PgPool, actor: &Actor, id: Uuid) -> Result<(), AdminError> {
    let mut tx = pool.begin().await?;
    if !webhooks::delete(&mut tx, id).await? {
        return Err(AdminError::NoSuchWebhook(id));
    }
    record(
        &mut tx,
        actor,
        Audited::WebhookDelete,
        &format!("webhook {id}"),
        &NoDetail {},
    )
    .await?;
    tx.commit().await?;
    tracing::info!(webhook.id = %id, by = %actor.name, "deleted a webhook");
    Ok(())
}
