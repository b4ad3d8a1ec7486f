//! Webhook subscriptions and their durable delivery queue.

use crate::domain::url::HttpUrl;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

#[tracing::instrument(skip_all, fields(webhook.id = %id))]
pub async fn insert(
    conn: &mut PgConnection,
    id: Uuid,
    url: &HttpUrl,
    secret: &str,
    events: &[String],
) -> Result<OffsetDateTime, sqlx::Error> {
    let row = sqlx::query!(
        "INSERT INTO webhooks (id, url, secret, events) VALUES ($1, $2, $3, $4) RETURNING created_at",
        id,
        url.as_str(),
        secret,
        events
    )
    .fetch_one(conn)
    .await?;
    Ok(row.created_at)
}

#[derive(Debug, Clone)]
pub struct WebhookRow {
    pub id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    pub created_at: OffsetDateTime,
}

#[tracing::instrument(skip_all)]
pub async fn list(conn: &mut PgConnection) -> Result<Vec<WebhookRow>, sqlx::Error> {
    sqlx::query_as!(
        WebhookRow,
        "SELECT id, url, events, created_at FROM webhooks WHERE deleted_at IS NULL ORDER BY created_at"
    )
    .fetch_all(conn)
    .await
}

/// Unsubscribes; pending deliveries of the webhook are dropped with it. `false` when there is no such webhook.
#[tracing::instrument(skip_all, fields(webhook.id = %id))]
pub async fn delete(conn: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    let row = sqlx::query!(
        "UPDATE webhooks SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL RETURNING id",
        id
    )
    .fetch_optional(&mut *conn)
    .await?;
    if row.is_some() {
        sqlx::query!(
            "UPDATE webhook_deliveries SET state = 'failed', last_error = 'the webhook was deleted' WHERE webhook_id = $1 AND state = 'pending'",
            id
        )
        .execute(conn)
        .await?;
    }
    Ok(row.is_some())
}

/// Queues an event for every webhook subscribed to its kind, in the caller's transaction.
#[tracing::instrument(skip_all, fields(event.id = event_id))]
pub async fn enqueue(
    conn: &mut PgConnection,
    event_id: i64,
    kind: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"INSERT INTO webhook_deliveries (webhook_id, event_id)
           SELECT id, $1 FROM webhooks WHERE deleted_at IS NULL AND $2 = ANY(events)"#,
        event_id,
        kind
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A delivery whose time has come.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub id: i64,
    pub url: String,
    pub secret: String,
    /// A finding event, or else
    pub event_id: Option<i64>,
    /// a node event.
    pub node_event_id: Option<i64>,
    pub attempts: i32,
}

/// Locks the next due delivery, and its webhook, for the caller's transaction. Other workers skip both: a
/// webhook is sent one delivery at a time, and a slow one holds up only its own deliveries. The webhook
/// row is locked without its key, so queueing new deliveries for it (which references the key) never waits.
#[tracing::instrument(skip_all)]
pub async fn lock_next_due(conn: &mut PgConnection) -> Result<Option<DueDelivery>, sqlx::Error> {
    sqlx::query_as!(
        DueDelivery,
        r#"SELECT d.id, w.url, w.secret, d.event_id, d.node_event_id, d.attempts
           FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
           WHERE d.state = 'pending' AND d.next_attempt_at <= now()
           ORDER BY d.next_attempt_at, d.id
           LIMIT 1
           FOR UPDATE OF d SKIP LOCKED
           FOR NO KEY UPDATE OF w SKIP LOCKED"#
    )
    .fetch_optional(conn)
    .await
}

/// Records an attempt: delivered, to retry at `retry_at`, or failed for good when `retry_at` is `None`.
#[tracing::instrument(skip_all, fields(delivery.id = id))]
pub async fn record_attempt(
    conn: &mut PgConnection,
    id: i64,
    delivered: bool,
    status: Option<i32>,
    error: Option<&str>,
    retry_at: Option<OffsetDateTime>,
) -> Result<(), sqlx::Error> {
    let state = if delivered {
        "delivered"
    } else if retry_at.is_some() {
        "pending"
    } else {
        "failed"
    };
    sqlx::query!(
        r#"UPDATE webhook_deliveries
           SET state = $2, attempts = attempts + 1, last_status = $3, last_error = $4,
               next_attempt_at = coalesce($5, next_attempt_at),
               delivered_at = CASE WHEN $2 = 'delivered' THEN now() ELSE NULL END
           WHERE id = $1"#,
        id,
        state,
        status,
        error,
        retry_at
    )
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct DeliveryRow {
    pub id: i64,
    pub event_id: Option<i64>,
    pub node_event_id: Option<i64>,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: OffsetDateTime,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: OffsetDateTime,
    pub delivered_at: Option<OffsetDateTime>,
}

/// The delivery log of a webhook, newest first.
#[tracing::instrument(skip_all, fields(webhook.id = %webhook_id))]
pub async fn deliveries(
    conn: &mut PgConnection,
    webhook_id: Uuid,
    limit: i64,
) -> Result<Vec<DeliveryRow>, sqlx::Error> {
    sqlx::query_as!(
        DeliveryRow,
        r#"SELECT id, event_id, node_event_id, state, attempts, next_attempt_at, last_status, last_error, created_at, delivered_at
           FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2"#,
        webhook_id,
        limit
    )
    .fetch_all(conn)
    .await
}

/// Secrets stored before sealing (`(webhook id, secret)`), to be sealed at start.
#[tracing::instrument(skip_all)]
pub async fn unsealed_secrets(conn: &mut PgConnection) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    let rows =
        sqlx::query!("SELECT id, secret FROM webhooks WHERE secret NOT LIKE 'v1:%' FOR UPDATE")
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().map(|row| (row.id, row.secret)).collect())
}

/// Replaces a webhook's secret with its sealed form.
#[tracing::instrument(skip_all, fields(webhook.id = %id))]
pub async fn store_sealed_secret(
    conn: &mut PgConnection,
    id: Uuid,
    sealed: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!("UPDATE webhooks SET secret = $2 WHERE id = $1", id, sealed)
        .execute(conn)
        .await?;
    Ok(())
}
