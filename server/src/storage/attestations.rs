//! Attestations of manual checks: recorded and revoked by auditors, never deleted or edited otherwise.

use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::domain::actor::Actor;

#[derive(Debug, Clone)]
pub struct AttestationRow {
    pub id: i64,
    pub check_id: String,
    pub cluster: Option<String>,
    pub node_pattern: Option<String>,
    pub verdict: String,
    pub statement: String,
    pub evidence_url: Option<String>,
    pub valid_from: OffsetDateTime,
    pub valid_until: OffsetDateTime,
    pub attested_by: String,
    pub attested_at: OffsetDateTime,
    pub revoked_by: Option<String>,
    pub revoked_at: Option<OffsetDateTime>,
    pub revoke_reason: Option<String>,
    /// For a check on objects: the cluster scan it was recorded against and that check's result in it.
    pub evidence_scan_id: Option<uuid::Uuid>,
    pub evidence: Option<serde_json::Value>,
}

impl AttestationRow {
    /// Whether it answered for its checks at `at`.
    pub fn valid_at(&self, at: OffsetDateTime) -> bool {
        self.valid_from <= at
            && at < self.valid_until
            && self.revoked_at.is_none_or(|revoked| at < revoked)
    }
}

#[derive(Debug, Clone)]
pub struct NewAttestation<'a> {
    pub check_id: &'a str,
    pub cluster_id: Option<i64>,
    pub node_pattern: Option<&'a str>,
    pub node_like: Option<&'a str>,
    pub verdict: &'a str,
    pub statement: &'a str,
    pub evidence_url: Option<&'a str>,
    pub valid_from: OffsetDateTime,
    pub valid_until: OffsetDateTime,
    pub evidence_scan_id: Option<uuid::Uuid>,
    pub evidence: Option<&'a serde_json::Value>,
}

#[tracing::instrument(skip_all)]
pub async fn insert(
    conn: &mut PgConnection,
    new: &NewAttestation<'_>,
    by: &Actor,
    at: OffsetDateTime,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"INSERT INTO attestations (check_id, cluster_id, node_pattern, node_like, verdict, statement, evidence_url,
                                     valid_from, valid_until, attested_by_id, attested_by, attested_at,
                                     evidence_scan_id, evidence)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id"#,
        new.check_id,
        new.cluster_id,
        new.node_pattern,
        new.node_like,
        new.verdict,
        new.statement,
        new.evidence_url,
        new.valid_from,
        new.valid_until,
        by.id,
        by.name,
        at,
        new.evidence_scan_id,
        new.evidence
    )
    .fetch_one(conn)
    .await
}

#[derive(Debug, Clone, Default)]
pub struct AttestationFilter {
    pub id: Option<i64>,
    pub check: Option<String>,
    pub cluster: Option<String>,
    /// Only those answering (`true`) or not answering (`false`) at `at`.
    pub valid: Option<bool>,
}

#[tracing::instrument(skip_all)]
/// Attestations recorded by `at`, after the id `after`, in id order, at most `limit`.
pub async fn list(
    conn: &mut PgConnection,
    filter: &AttestationFilter,
    at: OffsetDateTime,
    after: i64,
    limit: i64,
) -> Result<Vec<AttestationRow>, sqlx::Error> {
    sqlx::query_as!(
        AttestationRow,
        r#"SELECT a.id, a.check_id, c.name AS "cluster?", a.node_pattern, a.verdict, a.statement, a.evidence_url,
                  a.valid_from, a.valid_until, a.attested_by, a.attested_at, a.revoked_by, a.revoked_at,
                  a.revoke_reason, a.evidence_scan_id, a.evidence
           FROM attestations a LEFT JOIN clusters c ON c.id = a.cluster_id
           WHERE a.id > $1
             AND ($2::bigint IS NULL OR a.id = $2)
             AND ($3::text IS NULL OR a.check_id = $3)
             AND ($4::text IS NULL OR c.name = $4)
             AND a.attested_at <= $5
             AND ($7::boolean IS NULL OR attestation_valid(a.valid_from, a.valid_until, a.revoked_at, $5) = $7)
           ORDER BY a.id
           LIMIT $6"#,
        after,
        filter.id,
        filter.check,
        filter.cluster,
        at,
        limit,
        filter.valid
    )
    .fetch_all(conn)
    .await
}

/// Ends an attestation now; `false` when there is none by that id or it has ended already.
#[tracing::instrument(skip_all, fields(attestation.id = id))]
pub async fn revoke(
    conn: &mut PgConnection,
    id: i64,
    by: &Actor,
    at: OffsetDateTime,
    reason: &str,
) -> Result<bool, sqlx::Error> {
    let row = sqlx::query!(
        r#"UPDATE attestations SET revoked_by_id = $2, revoked_by = $3, revoked_at = $4, revoke_reason = $5
           WHERE id = $1 AND revoked_at IS NULL AND valid_until > $4
           RETURNING id"#,
        id,
        by.id,
        by.name,
        at,
        reason
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}
