//! Browser sessions, kept by the hash of their id.

use sqlx::PgConnection;
use time::OffsetDateTime;

/// A session being opened after a login.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub id_hash: &'a [u8],
    pub subject: &'a str,
    pub display_name: &'a str,
    pub role: &'a str,
    pub csrf_token: &'a str,
    pub id_token: Option<&'a str>,
    pub expires_at: OffsetDateTime,
}

#[tracing::instrument(skip_all)]
pub async fn insert(conn: &mut PgConnection, session: &NewSession<'_>) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"INSERT INTO web_sessions (id_hash, subject, display_name, role, csrf_token, id_token, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)"#,
        session.id_hash,
        session.subject,
        session.display_name,
        session.role,
        session.csrf_token,
        session.id_token,
        session.expires_at
    )
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub subject: String,
    pub display_name: String,
    pub role: String,
    pub csrf_token: String,
    pub id_token: Option<String>,
}

/// The live session with this id hash, touched as used now; `None` when it is unknown, ended, past its
/// absolute expiry, or idle since before `idle_since`.
#[tracing::instrument(skip_all)]
pub async fn touch(
    conn: &mut PgConnection,
    id_hash: &[u8],
    idle_since: OffsetDateTime,
) -> Result<Option<SessionRow>, sqlx::Error> {
    sqlx::query_as!(
        SessionRow,
        r#"UPDATE web_sessions SET last_seen_at = now()
           WHERE id_hash = $1 AND ended_at IS NULL AND expires_at > now() AND last_seen_at >= $2
           RETURNING subject, display_name, role, csrf_token, id_token"#,
        id_hash,
        idle_since
    )
    .fetch_optional(conn)
    .await
}

/// Ends a session (logout); ending an unknown or ended one does nothing.
#[tracing::instrument(skip_all)]
pub async fn end(conn: &mut PgConnection, id_hash: &[u8]) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE web_sessions SET ended_at = now() WHERE id_hash = $1 AND ended_at IS NULL",
        id_hash
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Forgets sessions that can no longer be used, keeping a day of them for investigations.
#[tracing::instrument(skip_all)]
pub async fn prune(conn: &mut PgConnection) -> Result<u64, sqlx::Error> {
    let done = sqlx::query!(
        r#"DELETE FROM web_sessions
           WHERE coalesce(ended_at, expires_at) < now() - interval '1 day'"#
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}
