//! What governance lays over the scanned results at a moment: failing results an exception waived, and manual
//! results an attestation answered. Both are read from each node's scan at that moment (its newest now, or its
//! last of that day or before) and the exceptions and attestations in force then; nothing is precomputed, so
//! a past date shows exactly what was in force on it.

use sqlx::PgConnection;
use time::OffsetDateTime;

/// A failing result covered by an exception.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waived {
    pub cluster_id: i64,
    pub node_id: i64,
    pub check_id: String,
    /// `fail` or `warn`.
    pub status: String,
    /// The exception in force that ends last (lowest id on a tie).
    pub exception_id: i64,
    pub expires_at: OffsetDateTime,
}

/// A manual result answered by an attestation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attested {
    pub cluster_id: i64,
    pub node_id: i64,
    pub check_id: String,
    /// The attestation valid then that was recorded last.
    pub attestation_id: i64,
    pub verdict: String,
    pub attested_by: String,
    pub attested_at: OffsetDateTime,
    pub valid_until: OffsetDateTime,
}

/// Where to look: every node, one cluster's, or one node.
#[derive(Debug, Clone, Copy, Default)]
pub struct Within {
    pub cluster_id: Option<i64>,
    pub node_id: Option<i64>,
}

/// Failing results waived at `at`. `now` reads each node's newest scan from its row.
#[tracing::instrument(skip_all)]
pub async fn waived(
    conn: &mut PgConnection,
    at: OffsetDateTime,
    now: bool,
    within: Within,
) -> Result<Vec<Waived>, sqlx::Error> {
    sqlx::query_as!(
        Waived,
        r#"SELECT DISTINCT ON (n.id, e.check_id)
                  n.cluster_id, n.id AS node_id, e.check_id, r.status, e.id AS exception_id, e.expires_at
           FROM exceptions e
           JOIN nodes n ON scope_covers(e.cluster_id, e.node_like, n.cluster_id, n.name)
           CROSS JOIN LATERAL (
               SELECT n.last_result_set_id AS result_set_id WHERE $2
               UNION ALL
               (SELECT d.result_set_id FROM node_days d
                WHERE NOT $2 AND d.node_id = n.id AND d.day <= $3
                ORDER BY d.day DESC LIMIT 1)
           ) last
           JOIN result_sets rs ON rs.id = last.result_set_id
           JOIN check_results r ON r.id = (rs.result_map ->> e.check_id)::bigint
           WHERE exception_in_force(e.state, e.decided_at, e.revoked_at, e.expires_at, $1)
             AND r.status IN ('fail', 'warn')
             AND ($4::bigint IS NULL OR n.cluster_id = $4)
             AND ($5::bigint IS NULL OR n.id = $5)
           ORDER BY n.id, e.check_id, e.expires_at DESC, e.id"#,
        at,
        now,
        at.date(),
        within.cluster_id,
        within.node_id
    )
    .fetch_all(conn)
    .await
}

/// Manual results answered by an attestation valid at `at`.
#[tracing::instrument(skip_all)]
pub async fn attested(
    conn: &mut PgConnection,
    at: OffsetDateTime,
    now: bool,
    within: Within,
) -> Result<Vec<Attested>, sqlx::Error> {
    sqlx::query_as!(
        Attested,
        r#"SELECT DISTINCT ON (n.id, a.check_id)
                  n.cluster_id, n.id AS node_id, a.check_id, a.id AS attestation_id, a.verdict, a.attested_by,
                  a.attested_at, a.valid_until
           FROM attestations a
           JOIN nodes n ON scope_covers(a.cluster_id, a.node_like, n.cluster_id, n.name)
           CROSS JOIN LATERAL (
               SELECT n.last_result_set_id AS result_set_id WHERE $2
               UNION ALL
               (SELECT d.result_set_id FROM node_days d
                WHERE NOT $2 AND d.node_id = n.id AND d.day <= $3
                ORDER BY d.day DESC LIMIT 1)
           ) last
           JOIN result_sets rs ON rs.id = last.result_set_id
           JOIN check_results r ON r.id = (rs.result_map ->> a.check_id)::bigint
           WHERE attestation_valid(a.valid_from, a.valid_until, a.revoked_at, $1)
             AND r.status = 'manual'
             AND ($4::bigint IS NULL OR n.cluster_id = $4)
             AND ($5::bigint IS NULL OR n.id = $5)
           ORDER BY n.id, a.check_id, a.attested_at DESC, a.id DESC"#,
        at,
        now,
        at.date(),
        within.cluster_id,
        within.node_id
    )
    .fetch_all(conn)
    .await
}
