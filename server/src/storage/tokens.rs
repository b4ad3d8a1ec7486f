//! Agent tokens, stored as hashes.

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::token::TokenHash;

#[tracing::instrument(skip_all, fields(cluster.id = cluster_id))]
pub async fn insert(
    conn: &mut PgConnection,
    id: Uuid,
    cluster_id: i64,
    hash: &TokenHash,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO agent_tokens (id, cluster_id, token_hash) VALUES ($1, $2, $3)",
        id,
        cluster_id,
        &hash.0[..]
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Issues a new agent token for a cluster; only its hash is stored, the token is returned to be shown once.
#[tracing::instrument(skip_all, fields(cluster.id = cluster_id))]
pub async fn issue(
    conn: &mut PgConnection,
    cluster_id: i64,
) -> Result<(Uuid, crate::domain::token::NewAgentToken), sqlx::Error> {
    let token = crate::domain::token::NewAgentToken::generate();
    let id = Uuid::now_v7();
    insert(conn, id, cluster_id, &token.hash()).await?;
    Ok((id, token))
}

/// The token's id and cluster, if the token exists and is not revoked.
#[tracing::instrument(skip_all)]
pub async fn authenticate(
    conn: &mut PgConnection,
    hash: &TokenHash,
) -> Result<Option<(Uuid, i64, String)>, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT t.id, t.cluster_id, c.name AS cluster_name
           FROM agent_tokens t JOIN clusters c ON c.id = t.cluster_id
           WHERE t.token_hash = $1 AND t.revoked_at IS NULL"#,
        &hash.0[..]
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|row| (row.id, row.cluster_id, row.cluster_name)))
}

/// Records a token's use at most once a minute, so that a busy agent does not rewrite the row on every report.
#[tracing::instrument(skip_all)]
pub async fn touch(conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"UPDATE agent_tokens SET last_used_at = now()
           WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')"#,
        id
    )
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
pub enum Revocation {
    Revoked,
    AlreadyRevoked,
    NotFound,
}

#[tracing::instrument(skip_all, fields(token.id = %id))]
pub async fn revoke(conn: &mut PgConnection, id: Uuid) -> Result<Revocation, sqlx::Error> {
    let row = sqlx::query!(
        r#"UPDATE agent_tokens SET revoked_at = coalesce(revoked_at, now())
           WHERE id = $1
           RETURNING (revoked_at < now()) AS "was_revoked!""#,
        id
    )
    .fetch_optional(conn)
    .await?;
    Ok(match row {
        None => Revocation::NotFound,
        Some(row) if row.was_revoked => Revocation::AlreadyRevoked,
        Some(_) => Revocation::Revoked,
    })
}

#[derive(Debug, Clone)]
pub struct TokenRow {
    pub id: Uuid,
    pub cluster: String,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

#[tracing::instrument(skip_all)]
pub async fn list(conn: &mut PgConnection) -> Result<Vec<TokenRow>, sqlx::Error> {
    let rows = sqlx::query_as!(
        TokenRow,
        r#"SELECT t.id, c.name AS cluster, t.created_at, t.last_used_at, t.revoked_at
           FROM agent_tokens t JOIN clusters c ON c.id = t.cluster_id
           ORDER BY c.name, t.created_at"#
    )
    .fetch_all(conn)
    .await?;
    Ok(rows)
}
