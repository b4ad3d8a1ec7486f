//! The audit trail: appended in the caller's transaction (an action and its record commit together or not at
//! all), read in id order. Appends serialise on the head row, which is what keeps ids gap-free and each
//! record's link to the one before it.

use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::domain::actor::Actor;
use crate::domain::audit::{self, Action, Entry, Record};

/// Appends a record and returns its id.
#[tracing::instrument(skip_all, fields(audit.action = action.as_str()))]
pub async fn append(
    conn: &mut PgConnection,
    actor: &Actor,
    action: Action,
    target: Option<&str>,
    detail: &serde_json::Value,
) -> Result<i64, sqlx::Error> {
    let head = sqlx::query!("SELECT last_id, last_hash FROM audit_head FOR UPDATE")
        .fetch_one(&mut *conn)
        .await?;
    let entry = Entry {
        id: head.last_id + 1,
        // Taken under the lock, so times follow ids.
        at: audit::to_micros(OffsetDateTime::now_utc()),
        actor_id: actor.id.clone(),
        actor_name: actor.name.clone(),
        source: actor.source.clone(),
        action: action.as_str().to_owned(),
        target: target.map(str::to_owned),
        detail: detail.to_string(),
    };
    let hash = audit::hash(&head.last_hash, &entry);
    sqlx::query!(
        r#"INSERT INTO audit_log (id, at, actor_id, actor_name, source, action, target, detail, prev_hash, hash)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"#,
        entry.id,
        entry.at,
        entry.actor_id,
        entry.actor_name,
        entry.source,
        entry.action,
        entry.target,
        entry.detail,
        head.last_hash,
        hash.as_slice()
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE audit_head SET last_id = $1, last_hash = $2",
        entry.id,
        hash.as_slice()
    )
    .execute(&mut *conn)
    .await?;
    Ok(entry.id)
}

/// Filters of a listing; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub action: Option<&'static str>,
    pub actor: Option<String>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
}

/// Records after the id `after`, oldest first, at most `limit`.
#[tracing::instrument(skip_all)]
pub async fn page(
    conn: &mut PgConnection,
    filter: &AuditFilter,
    after: i64,
    limit: i64,
) -> Result<Vec<Record>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT id, at, actor_id, actor_name, source, action, target, detail, prev_hash, hash
           FROM audit_log
           WHERE id > $1
             AND ($2::text IS NULL OR action = $2)
             AND ($3::text IS NULL OR actor_id = $3 OR actor_name = $3)
             AND ($4::timestamptz IS NULL OR at >= $4)
             AND ($5::timestamptz IS NULL OR at <= $5)
           ORDER BY id
           LIMIT $6"#,
        after,
        filter.action,
        filter.actor,
        filter.since,
        filter.until,
        limit
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Record {
            entry: Entry {
                id: row.id,
                at: row.at,
                actor_id: row.actor_id,
                actor_name: row.actor_name,
                source: row.source,
                action: row.action,
                target: row.target,
                detail: row.detail,
            },
            prev_hash: row.prev_hash,
            hash: row.hash,
        })
        .collect())
}

/// The last record's id and hash, as the head row keeps them.
pub async fn head(conn: &mut PgConnection) -> Result<(i64, Vec<u8>), sqlx::Error> {
    let row = sqlx::query!("SELECT last_id, last_hash FROM audit_head")
        .fetch_one(conn)
        .await?;
    Ok((row.last_id, row.last_hash))
}

/// The outcome of a verification: the last record checked, or where the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub records: i64,
    pub head_hash: Vec<u8>,
}

/// Where the chain breaks, with the last intact record's id and hash.
pub type Broken = (audit::Break, i64, Vec<u8>);

/// Walks the whole log in id order and checks every link, then the head; `expected` is a record id and hash
/// kept outside the database, checked on the way.
#[tracing::instrument(skip_all)]
pub async fn verify(
    conn: &mut PgConnection,
    expected: Option<(i64, Vec<u8>)>,
) -> Result<Result<Verified, Broken>, sqlx::Error> {
    let mut verifier = audit::Verifier::new(expected);
    let everything = AuditFilter::default();
    loop {
        let (after, _) = verifier.last();
        let records = page(&mut *conn, &everything, after, 5_000).await?;
        if records.is_empty() {
            break;
        }
        for record in &records {
            if let Err(broken) = verifier.check(record) {
                let (id, hash) = verifier.last();
                return Ok(Err((broken, id, hash.to_vec())));
            }
        }
    }
    let (head_id, head_hash) = head(conn).await?;
    if let Err(broken) = verifier.finish(head_id, &head_hash) {
        let (id, hash) = verifier.last();
        return Ok(Err((broken, id, hash.to_vec())));
    }
    let (records, hash) = verifier.last();
    Ok(Ok(Verified {
        records,
        head_hash: hash.to_vec(),
    }))
}
