//! API tokens, stored as hashes.

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::role::Role;
use crate::domain::token::TokenHash;

#[tracing::instrument(skip_all, fields(token.name = name))]
pub async fn insert(
    conn: &mut PgConnection,
    id: Uuid,
    name: &str,
    role: Role,
    hash: &TokenHash,
    expires_at: Option<OffsetDateTime>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO api_tokens (id, name, role, token_hash, expires_at) VALUES ($1, $2, $3, $4, $5)",
        id,
        name,
        role.as_str(),
        &hash.0[..],
        expires_at
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A valid token's id, name and role: not revoked, not expired. Its use is recorded at most once a minute.
#[tracing::instrument(skip_all)]
pub async fn authenticate(
    conn: &mut PgConnection,
    hash: &TokenHash,
) -> Result<Option<(Uuid, String, Role)>, sqlx::Error> {
    let row = sqlx::query!(
        r#"UPDATE api_tokens SET last_used_at = CASE
               WHEN last_used_at IS NULL OR last_used_at < now() - interval '1 minute' THEN now()
               ELSE last_used_at END
           WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
           RETURNING id, name, role"#,
        &hash.0[..]
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.and_then(|row| Role::parse(&row.role).map(|role| (row.id, row.name, role))))
}

#[tracing::instrument(skip_all, fields(token.id = %id))]
pub async fn revoke(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<super::tokens::Revocation, sqlx::Error> {
    use super::tokens::Revocation;
    let row = sqlx::query!(
        r#"UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now())
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
pub struct ApiTokenRow {
    pub id: Uuid,
    pub name: String,
    pub role: String,
    pub created_at: OffsetDateTime,
    pub expires_at: Option<OffsetDateTime>,
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

#[tracing::instrument(skip_all)]
pub async fn list(conn: &mut PgConnection) -> Result<Vec<ApiTokenRow>, sqlx::Error> {
    sqlx::query_as!(
        ApiTokenRow,
        "SELECT id, name, role, created_at, expires_at, last_used_at, revoked_at FROM api_tokens ORDER BY created_at"
    )
    .fetch_all(conn)
    .await
}
