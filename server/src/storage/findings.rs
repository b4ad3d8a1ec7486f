//! Findings and their event feed.

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

/// Arbitrary, fixed key of the advisory lock that orders event inserts (ASCII "kw-feed").
const EVENT_FEED_LOCK: i64 = 0x006b_772d_6665_6564;

#[derive(Debug, Clone)]
pub struct FindingRow {
    pub id: i64,
    pub check_id: String,
    pub state: String,
    pub first_seen: OffsetDateTime,
    pub state_since: OffsetDateTime,
    pub reopen_count: i32,
}

#[tracing::instrument(skip_all, fields(node.id = node_id))]
pub async fn for_node(
    conn: &mut PgConnection,
    node_id: i64,
) -> Result<Vec<FindingRow>, sqlx::Error> {
    sqlx::query_as!(
        FindingRow,
        r#"SELECT id, check_id, state, first_seen, state_since, reopen_count
           FROM findings WHERE node_id = $1"#,
        node_id
    )
    .fetch_all(conn)
    .await
}

/// The fields of a finding that transitions change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingFields {
    pub state: &'static str,
    pub first_seen: OffsetDateTime,
    pub state_since: OffsetDateTime,
    pub reopen_count: i32,
}

#[tracing::instrument(skip_all, fields(node.id = node_id, check = check_id))]
pub async fn insert(
    conn: &mut PgConnection,
    cluster_id: i64,
    node_id: i64,
    check_id: &str,
    fields: &FindingFields,
) -> Result<i64, sqlx::Error> {
    let row = sqlx::query!(
        r#"INSERT INTO findings (cluster_id, node_id, check_id, state, first_seen, state_since, reopen_count)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id"#,
        cluster_id,
        node_id,
        check_id,
        fields.state,
        fields.first_seen,
        fields.state_since,
        fields.reopen_count
    )
    .fetch_one(conn)
    .await?;
    Ok(row.id)
}

#[tracing::instrument(skip_all, fields(finding.id = id))]
pub async fn update(
    conn: &mut PgConnection,
    id: i64,
    fields: &FindingFields,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"UPDATE findings SET state = $2, first_seen = $3, state_since = $4, reopen_count = $5 WHERE id = $1"#,
        id,
        fields.state,
        fields.first_seen,
        fields.state_since,
        fields.reopen_count
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes the lock that keeps event ids committed in order; held until the transaction ends. Taken only by
/// ingests that write events, as late as possible.
#[tracing::instrument(skip_all)]
pub async fn lock_event_feed(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query!("SELECT pg_advisory_xact_lock($1)", EVENT_FEED_LOCK)
        .execute(conn)
        .await?;
    Ok(())
}

#[tracing::instrument(skip_all, fields(finding.id = finding_id))]
pub async fn insert_event(
    conn: &mut PgConnection,
    finding_id: i64,
    kind: &str,
    at: OffsetDateTime,
    scan_id: Uuid,
) -> Result<i64, sqlx::Error> {
    let row = sqlx::query!(
        "INSERT INTO finding_events (finding_id, kind, at, scan_id) VALUES ($1, $2, $3, $4) RETURNING id",
        finding_id,
        kind,
        at,
        scan_id
    )
    .fetch_one(conn)
    .await?;
    Ok(row.id)
}

#[derive(Debug, Clone)]
pub struct EventRow {
    pub id: i64,
    pub finding_id: i64,
    pub kind: String,
    pub at: OffsetDateTime,
    pub scan_id: Uuid,
}

#[tracing::instrument(skip_all, fields(node.id = node_id))]
pub async fn events_for_node(
    conn: &mut PgConnection,
    node_id: i64,
) -> Result<Vec<EventRow>, sqlx::Error> {
    sqlx::query_as!(
        EventRow,
        r#"SELECT e.id, e.finding_id, e.kind, e.at, e.scan_id
           FROM finding_events e JOIN findings f ON f.id = e.finding_id
           WHERE f.node_id = $1
           ORDER BY e.at, e.scan_id, e.id"#,
        node_id
    )
    .fetch_all(conn)
    .await
}

/// Gives an existing event its corrected scan, time and kind (a late scan moved the transition).
#[tracing::instrument(skip_all, fields(event.id = id))]
pub async fn correct_event(
    conn: &mut PgConnection,
    id: i64,
    kind: &str,
    at: OffsetDateTime,
    scan_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE finding_events SET kind = $2, at = $3, scan_id = $4 WHERE id = $1",
        id,
        kind,
        at,
        scan_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A finding with its place, for listings.
#[derive(Debug, Clone)]
pub struct FindingListing {
    pub id: i64,
    pub cluster: String,
    pub node: String,
    pub check_id: String,
    pub state: String,
    pub first_seen: OffsetDateTime,
    pub state_since: OffsetDateTime,
    pub reopen_count: i32,
}

#[tracing::instrument(skip_all)]
pub async fn list(
    conn: &mut PgConnection,
    cluster: Option<&str>,
) -> Result<Vec<FindingListing>, sqlx::Error> {
    sqlx::query_as!(
        FindingListing,
        r#"SELECT f.id, c.name AS cluster, n.name AS node, f.check_id, f.state, f.first_seen, f.state_since,
                  f.reopen_count
           FROM findings f JOIN nodes n ON n.id = f.node_id JOIN clusters c ON c.id = f.cluster_id
           WHERE $1::text IS NULL OR c.name = $1
           ORDER BY c.name, n.name, f.check_id"#,
        cluster
    )
    .fetch_all(conn)
    .await
}

/// An event of the feed with its finding's place.
#[derive(Debug, Clone)]
pub struct FeedEvent {
    pub id: i64,
    pub finding_id: i64,
    pub kind: String,
    pub at: OffsetDateTime,
    pub scan_id: Uuid,
    pub cluster: String,
    pub node: String,
    pub check_id: String,
}

/// Events after a cursor, in id order.
#[tracing::instrument(skip_all)]
pub async fn events_after(
    conn: &mut PgConnection,
    after: i64,
    limit: i64,
) -> Result<Vec<FeedEvent>, sqlx::Error> {
    sqlx::query_as!(
        FeedEvent,
        r#"SELECT e.id, e.finding_id, e.kind, e.at, e.scan_id, c.name AS cluster, n.name AS node, f.check_id
           FROM finding_events e JOIN findings f ON f.id = e.finding_id
           JOIN nodes n ON n.id = f.node_id JOIN clusters c ON c.id = f.cluster_id
           WHERE e.id > $1 ORDER BY e.id LIMIT $2"#,
        after,
        limit
    )
    .fetch_all(conn)
    .await
}
