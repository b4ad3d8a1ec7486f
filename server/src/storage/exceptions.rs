//! Exceptions: requests, decisions and revocations (rows are never deleted), and the waiver events their
//! approval, revocation and expiry put on the findings feed.

use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::domain::actor::Actor;
use crate::domain::exception::{Facts, Stored};

/// An exception as stored, with its cluster's name.
#[derive(Debug, Clone)]
pub struct ExceptionRow {
    pub id: i64,
    /// The one check it names; none when it names a group.
    pub check_id: Option<String>,
    pub check_group: Option<String>,
    /// The checks it covers.
    pub check_ids: Vec<String>,
    pub cluster: Option<String>,
    pub node_pattern: Option<String>,
    /// As stored: the empty string for cluster-scoped objects.
    pub namespace: Option<String>,
    pub object_kind: Option<String>,
    pub object_pattern: Option<String>,
    pub justification: String,
    pub expires_at: OffsetDateTime,
    pub state: String,
    pub requested_by_id: String,
    pub requested_by: String,
    pub requested_at: OffsetDateTime,
    pub decided_by: Option<String>,
    pub decided_at: Option<OffsetDateTime>,
    pub decision_note: Option<String>,
    pub revoked_by: Option<String>,
    pub revoked_at: Option<OffsetDateTime>,
    pub revoke_reason: Option<String>,
}

impl ExceptionRow {
    /// What it names, for people: the check, or the group.
    pub fn names(&self) -> &str {
        self.check_id
            .as_deref()
            .or(self.check_group.as_deref())
            .unwrap_or_default()
    }

    pub fn facts(&self) -> Facts {
        Facts {
            stored: Stored::parse(&self.state).unwrap_or(Stored::Requested),
            requested_by_id: self.requested_by_id.clone(),
            requested_at: self.requested_at,
            decided_at: self.decided_at,
            revoked_at: self.revoked_at,
            expires_at: self.expires_at,
        }
    }
}

/// A new request.
#[derive(Debug, Clone)]
pub struct NewException<'a> {
    pub check_id: Option<&'a str>,
    pub check_group: Option<&'a str>,
    pub check_ids: &'a [String],
    pub cluster_id: Option<i64>,
    pub node_pattern: Option<&'a str>,
    pub node_like: Option<&'a str>,
    pub namespace: Option<&'a str>,
    pub object_kind: Option<&'a str>,
    pub object_pattern: Option<&'a str>,
    pub object_like: Option<&'a str>,
    pub justification: &'a str,
    pub expires_at: OffsetDateTime,
}

#[tracing::instrument(skip_all)]
pub async fn insert(
    conn: &mut PgConnection,
    new: &NewException<'_>,
    by: &Actor,
    at: OffsetDateTime,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"INSERT INTO exceptions (check_id, cluster_id, node_pattern, node_like, justification, expires_at,
                                   requested_by_id, requested_by, requested_at, check_group, check_ids,
                                   namespace, object_kind, object_pattern, object_like)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id"#,
        new.check_id,
        new.cluster_id,
        new.node_pattern,
        new.node_like,
        new.justification,
        new.expires_at,
        by.id,
        by.name,
        at,
        new.check_group,
        new.check_ids,
        new.namespace,
        new.object_kind,
        new.object_pattern,
        new.object_like
    )
    .fetch_one(conn)
    .await
}

/// Filters of a listing; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct ExceptionFilter {
    pub id: Option<i64>,
    /// Exceptions that cover this check (naming it or a group holding it).
    pub check: Option<String>,
    pub cluster: Option<String>,
    /// Only those in this state at `at` (`requested`, `lapsed`, `in_force`, `expired`, `rejected`, `revoked`).
    pub state: Option<&'static str>,
}

/// Exceptions requested by `at`, after the id `after`, in id order, at most `limit`.
#[tracing::instrument(skip_all)]
pub async fn list(
    conn: &mut PgConnection,
    filter: &ExceptionFilter,
    at: OffsetDateTime,
    after: i64,
    limit: i64,
) -> Result<Vec<ExceptionRow>, sqlx::Error> {
    sqlx::query_as!(
        ExceptionRow,
        r#"SELECT e.id, e.check_id, e.check_group, e.check_ids, c.name AS "cluster?", e.node_pattern, e.namespace,
                  e.object_kind, e.object_pattern, e.justification, e.expires_at, e.state,
                  e.requested_by_id, e.requested_by, e.requested_at, e.decided_by, e.decided_at, e.decision_note,
                  e.revoked_by, e.revoked_at, e.revoke_reason
           FROM exceptions e LEFT JOIN clusters c ON c.id = e.cluster_id
           WHERE e.id > $1
             AND ($2::bigint IS NULL OR e.id = $2)
             AND ($3::text IS NULL OR $3 = ANY(e.check_ids))
             AND ($4::text IS NULL OR c.name = $4)
             AND e.requested_at <= $5
             AND ($7::text IS NULL
                  OR exception_state_at(e.state, e.requested_at, e.decided_at, e.revoked_at, e.expires_at, $5) = $7)
           ORDER BY e.id
           LIMIT $6"#,
        after,
        filter.id,
        filter.check,
        filter.cluster,
        at,
        limit,
        filter.state
    )
    .fetch_all(conn)
    .await
}

/// One exception, locked for a decision in the caller's transaction.
#[tracing::instrument(skip_all, fields(exception.id = id))]
pub async fn lock(conn: &mut PgConnection, id: i64) -> Result<Option<ExceptionRow>, sqlx::Error> {
    sqlx::query_as!(
        ExceptionRow,
        r#"SELECT e.id, e.check_id, e.check_group, e.check_ids, c.name AS "cluster?", e.node_pattern, e.namespace,
                  e.object_kind, e.object_pattern, e.justification, e.expires_at, e.state,
                  e.requested_by_id, e.requested_by, e.requested_at, e.decided_by, e.decided_at, e.decision_note,
                  e.revoked_by, e.revoked_at, e.revoke_reason
           FROM exceptions e LEFT JOIN clusters c ON c.id = e.cluster_id
           WHERE e.id = $1
           FOR UPDATE OF e"#,
        id
    )
    .fetch_optional(conn)
    .await
}

/// Records an approval or a rejection.
#[tracing::instrument(skip_all, fields(exception.id = id))]
pub async fn decide(
    conn: &mut PgConnection,
    id: i64,
    state: Stored,
    by: &Actor,
    at: OffsetDateTime,
    note: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"UPDATE exceptions SET state = $2, decided_by_id = $3, decided_by = $4, decided_at = $5, decision_note = $6
           WHERE id = $1"#,
        id,
        state.as_str(),
        by.id,
        by.name,
        at,
        note
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a revocation (or the withdrawal of a request).
#[tracing::instrument(skip_all, fields(exception.id = id))]
pub async fn revoke(
    conn: &mut PgConnection,
    id: i64,
    by: &Actor,
    at: OffsetDateTime,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"UPDATE exceptions SET state = 'revoked', revoked_by_id = $2, revoked_by = $3, revoked_at = $4,
                  revoke_reason = $5
           WHERE id = $1"#,
        id,
        by.id,
        by.name,
        at,
        reason
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The kinds of waiver events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaiverEvent {
    Waived,
    Expired,
    Revoked,
}

impl WaiverEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            WaiverEvent::Waived => "waived",
            WaiverEvent::Expired => "waiver_expired",
            WaiverEvent::Revoked => "waiver_revoked",
        }
    }
}

/// Puts an event on the feed for every open finding the exception covers, except those another exception
/// still waives at `at` (they stay waived), and returns the events' ids in order. The caller holds the feed
/// lock, so the ids commit in order.
#[tracing::instrument(skip_all, fields(exception.id = exception_id))]
pub async fn raise_waiver_events(
    conn: &mut PgConnection,
    exception_id: i64,
    kind: WaiverEvent,
    at: OffsetDateTime,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"INSERT INTO finding_events (finding_id, kind, at, exception_id)
           SELECT f.id, $2, $3, e.id
           FROM exceptions e
           JOIN findings f ON f.check_id = ANY(e.check_ids) AND f.state = 'open'
           LEFT JOIN nodes n ON n.id = f.node_id
           LEFT JOIN objects o ON o.id = f.object_id
           WHERE e.id = $1
             AND exception_covers(e.cluster_id, e.node_like, e.namespace, e.object_kind, e.object_like,
                                  f.cluster_id, n.name, o.namespace, o.kind, o.name)
             AND NOT EXISTS (
                 SELECT 1 FROM exceptions other
                 WHERE other.id <> e.id AND f.check_id = ANY(other.check_ids)
                   AND exception_in_force(other.state, other.decided_at, other.revoked_at, other.expires_at, $3)
                   AND exception_covers(other.cluster_id, other.node_like, other.namespace, other.object_kind,
                                       other.object_like, f.cluster_id, n.name, o.namespace, o.kind, o.name))
           ORDER BY f.id
           RETURNING id"#,
        exception_id,
        kind.as_str(),
        at
    )
    .fetch_all(conn)
    .await
}

/// Whether any approved exception has reached its end unannounced (a cheap look before taking locks).
pub async fn any_expiry_due(
    conn: &mut PgConnection,
    now: OffsetDateTime,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM exceptions
                          WHERE state = 'approved' AND expiry_noted_at IS NULL AND expires_at <= $1) AS "due!""#,
        now
    )
    .fetch_one(conn)
    .await
}

/// Approved exceptions whose end has come and whose expiry is not yet on the feed, locked for this sweep;
/// another server sweeping at the same time skips them.
#[tracing::instrument(skip_all)]
pub async fn lock_due_expiries(
    conn: &mut PgConnection,
    now: OffsetDateTime,
) -> Result<Vec<(i64, String, OffsetDateTime)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT id, coalesce(check_id, check_group) AS "names!", expires_at FROM exceptions
           WHERE state = 'approved' AND expiry_noted_at IS NULL AND expires_at <= $1
           ORDER BY expires_at, id
           LIMIT 100
           FOR UPDATE SKIP LOCKED"#,
        now
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.id, row.names, row.expires_at))
        .collect())
}

pub async fn note_expiry(
    conn: &mut PgConnection,
    id: i64,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE exceptions SET expiry_noted_at = $2 WHERE id = $1",
        id,
        now
    )
    .execute(conn)
    .await?;
    Ok(())
}
