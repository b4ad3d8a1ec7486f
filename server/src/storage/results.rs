//! Results, stored once per distinct content: `check_results` per result, `result_sets` per whole report.

use sqlx::PgConnection;

/// A result ready to store, with its digest.
#[derive(Debug, Clone)]
pub struct NewCheckResult {
    pub digest: Vec<u8>,
    pub check_id: String,
    pub status: String,
    pub evidence: serde_json::Value,
    pub detail: Option<String>,
}

/// A result set ready to store.
#[derive(Debug, Clone)]
pub struct NewResultSet {
    pub digest: Vec<u8>,
    pub benchmark_id: String,
    pub benchmark_version: String,
    /// Counts in the order pass, fail, warn, manual, not_applicable, error.
    pub counts: [i32; 6],
    /// Passing Automated checks: the numerator of the compliance score.
    pub automated_pass: i32,
    pub section_counts: serde_json::Value,
}

#[tracing::instrument(skip_all)]
pub async fn find_set(conn: &mut PgConnection, digest: &[u8]) -> Result<Option<i64>, sqlx::Error> {
    let row = sqlx::query!("SELECT id FROM result_sets WHERE digest = $1", digest)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|row| row.id))
}

/// Stores the results not yet known and returns the ids of all of them, in the given order.
#[tracing::instrument(skip_all, fields(results = results.len()))]
pub async fn store_results(
    conn: &mut PgConnection,
    results: &[NewCheckResult],
) -> Result<Vec<i64>, sqlx::Error> {
    let digests: Vec<Vec<u8>> = results.iter().map(|r| r.digest.clone()).collect();
    let checks: Vec<String> = results.iter().map(|r| r.check_id.clone()).collect();
    let statuses: Vec<String> = results.iter().map(|r| r.status.clone()).collect();
    let evidence: Vec<serde_json::Value> = results.iter().map(|r| r.evidence.clone()).collect();
    let details: Vec<Option<String>> = results.iter().map(|r| r.detail.clone()).collect();
    sqlx::query!(
        r#"INSERT INTO check_results (digest, check_id, status, evidence, detail)
           SELECT * FROM unnest($1::bytea[], $2::text[], $3::text[], $4::jsonb[], $5::text[])
           ON CONFLICT (digest) DO NOTHING"#,
        &digests,
        &checks,
        &statuses,
        &evidence,
        &details as &[Option<String>],
    )
    .execute(&mut *conn)
    .await?;
    let rows = sqlx::query!(
        r#"SELECT r.id AS "id!", d.ordinality AS "position!"
           FROM unnest($1::bytea[]) WITH ORDINALITY AS d(digest, ordinality)
           JOIN check_results r ON r.digest = d.digest"#,
        &digests
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut ids = vec![0i64; results.len()];
    for row in rows {
        if let Some(slot) = usize::try_from(row.position)
            .ok()
            .and_then(|p| ids.get_mut(p - 1))
        {
            *slot = row.id;
        }
    }
    Ok(ids)
}

/// Stores a result set (or finds it, when a concurrent ingest stored the same one first) and returns its id.
#[tracing::instrument(skip_all)]
pub async fn store_set(
    conn: &mut PgConnection,
    set: &NewResultSet,
    results: &[NewCheckResult],
    result_ids: &[i64],
) -> Result<i64, sqlx::Error> {
    let [pass, fail, warn, manual, not_applicable, error] = set.counts;
    let result_map: serde_json::Map<String, serde_json::Value> = results
        .iter()
        .zip(result_ids)
        .map(|(result, id)| (result.check_id.clone(), (*id).into()))
        .collect();
    let inserted = sqlx::query!(
        r#"INSERT INTO result_sets (digest, benchmark_id, benchmark_version, result_ids, pass_count, fail_count,
                                    warn_count, manual_count, not_applicable_count, error_count, section_counts,
                                    automated_pass_count, result_map)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
           ON CONFLICT (digest) DO NOTHING
           RETURNING id"#,
        &set.digest,
        set.benchmark_id,
        set.benchmark_version,
        result_ids,
        pass,
        fail,
        warn,
        manual,
        not_applicable,
        error,
        set.section_counts,
        set.automated_pass,
        serde_json::Value::Object(result_map),
    )
    .fetch_optional(&mut *conn)
    .await?;
    match inserted {
        Some(row) => Ok(row.id),
        None => sqlx::query!("SELECT id FROM result_sets WHERE digest = $1", &set.digest)
            .fetch_one(conn)
            .await
            .map(|row| row.id),
    }
}

/// The verdict of every check in a result set.
#[tracing::instrument(skip_all, fields(result_set.id = set_id))]
pub async fn statuses(
    conn: &mut PgConnection,
    set_id: i64,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT r.check_id, r.status
           FROM result_sets s CROSS JOIN LATERAL unnest(s.result_ids) AS u(result_id)
           JOIN check_results r ON r.id = u.result_id
           WHERE s.id = $1"#,
        set_id
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.check_id, row.status))
        .collect())
}
