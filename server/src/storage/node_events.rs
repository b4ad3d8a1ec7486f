//! Node events: a node falling silent (`stale`), raised once per silence and queued for webhooks.

use sqlx::PgConnection;
use time::OffsetDateTime;

/// What one pass of the staleness check did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaleSweep {
    /// Nodes newly found stale.
    pub raised: i64,
    /// Webhook deliveries queued for them.
    pub queued: i64,
}

/// Raises a `stale` event for every node whose newest scan finished before `stale_before` and whose
/// current silence has no event yet, and queues a delivery for every webhook subscribed to `node.stale`,
/// all in one statement: an event is never raised without its deliveries.
#[tracing::instrument(skip_all)]
pub async fn raise_stale(
    conn: &mut PgConnection,
    stale_before: OffsetDateTime,
) -> Result<StaleSweep, sqlx::Error> {
    let row = sqlx::query!(
        r#"WITH raised AS (
               INSERT INTO node_events (node_id, kind, last_seen)
               SELECT id, 'stale', last_seen FROM nodes WHERE last_seen < $1
               ON CONFLICT (node_id, kind, last_seen) DO NOTHING
               RETURNING id
           ), queued AS (
               INSERT INTO webhook_deliveries (webhook_id, node_event_id)
               SELECT w.id, raised.id FROM raised
               CROSS JOIN webhooks w WHERE w.deleted_at IS NULL AND 'node.stale' = ANY(w.events)
               RETURNING id
           )
           SELECT (SELECT count(*) FROM raised) AS "raised!", (SELECT count(*) FROM queued) AS "queued!""#,
        stale_before
    )
    .fetch_one(conn)
    .await?;
    Ok(StaleSweep {
        raised: row.raised,
        queued: row.queued,
    })
}

/// A node event with the node it is about.
#[derive(Debug, Clone)]
pub struct NodeEventRow {
    pub id: i64,
    pub kind: String,
    pub at: OffsetDateTime,
    pub node_id: i64,
    pub cluster: String,
    pub node: String,
    pub roles: Vec<String>,
    /// When the node's newest scan finished, as the event saw it.
    pub last_seen: OffsetDateTime,
}

#[tracing::instrument(skip_all, fields(node_event.id = id))]
pub async fn get(conn: &mut PgConnection, id: i64) -> Result<Option<NodeEventRow>, sqlx::Error> {
    sqlx::query_as!(
        NodeEventRow,
        r#"SELECT e.id, e.kind, e.at, n.id AS node_id, c.name AS cluster, n.name AS node, n.roles, e.last_seen
           FROM node_events e JOIN nodes n ON n.id = e.node_id JOIN clusters c ON c.id = n.cluster_id
           WHERE e.id = $1"#,
        id
    )
    .fetch_optional(conn)
    .await
}
