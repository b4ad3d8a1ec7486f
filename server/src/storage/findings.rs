//! Findings and their event feed.

use crate::domain::url::HttpUrl;
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

/// A finding on an object, with its object.
#[derive(Debug, Clone)]
pub struct ObjectFindingRow {
    pub id: i64,
    pub object_id: i64,
    pub check_id: String,
    pub state: String,
    pub first_seen: OffsetDateTime,
    pub state_since: OffsetDateTime,
    pub reopen_count: i32,
}

impl ObjectFindingRow {
    pub fn into_finding(self) -> FindingRow {
        FindingRow {
            id: self.id,
            check_id: self.check_id,
            state: self.state,
            first_seen: self.first_seen,
            state_since: self.state_since,
            reopen_count: self.reopen_count,
        }
    }
}

/// The findings on a cluster's objects for the given checks (one benchmark's timeline).
#[tracing::instrument(skip_all, fields(cluster.id = cluster_id))]
pub async fn for_objects(
    conn: &mut PgConnection,
    cluster_id: i64,
    checks: &[String],
) -> Result<Vec<ObjectFindingRow>, sqlx::Error> {
    sqlx::query_as!(
        ObjectFindingRow,
        r#"SELECT id, object_id AS "object_id!", check_id, state, first_seen, state_since, reopen_count
           FROM findings WHERE cluster_id = $1 AND object_id IS NOT NULL AND check_id = ANY($2)"#,
        cluster_id,
        checks
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

/// What a finding is about: a node, or a Kubernetes object of the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Node(i64),
    Object(i64),
}

#[tracing::instrument(skip_all, fields(subject = ?subject, check = check_id))]
pub async fn insert(
    conn: &mut PgConnection,
    cluster_id: i64,
    subject: Subject,
    check_id: &str,
    fields: &FindingFields,
) -> Result<i64, sqlx::Error> {
    let (node_id, object_id) = match subject {
        Subject::Node(id) => (Some(id), None),
        Subject::Object(id) => (None, Some(id)),
    };
    let row = sqlx::query!(
        r#"INSERT INTO findings (cluster_id, node_id, object_id, check_id, state, first_seen, state_since, reopen_count)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id"#,
        cluster_id,
        node_id,
        object_id,
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
        r#"SELECT e.id, e.finding_id, e.kind, e.at, e.scan_id AS "scan_id!"
           FROM finding_events e JOIN findings f ON f.id = e.finding_id
           WHERE f.node_id = $1 AND e.scan_id IS NOT NULL
           ORDER BY e.at, e.scan_id, e.id"#,
        node_id
    )
    .fetch_all(conn)
    .await
}

/// The transition events of a cluster's object findings for the given checks, in timeline order.
#[tracing::instrument(skip_all, fields(cluster.id = cluster_id))]
pub async fn events_for_objects(
    conn: &mut PgConnection,
    cluster_id: i64,
    checks: &[String],
) -> Result<Vec<EventRow>, sqlx::Error> {
    sqlx::query_as!(
        EventRow,
        r#"SELECT e.id, e.finding_id, e.kind, e.at, e.scan_id AS "scan_id!"
           FROM finding_events e JOIN findings f ON f.id = e.finding_id
           WHERE f.cluster_id = $1 AND f.object_id IS NOT NULL AND f.check_id = ANY($2)
             AND e.scan_id IS NOT NULL
           ORDER BY e.at, e.scan_id, e.id"#,
        cluster_id,
        checks
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
    /// The scan behind a transition; none for a waiver event.
    pub scan_id: Option<Uuid>,
    /// The exception behind a waiver event.
    pub exception_id: Option<i64>,
    pub recorded_at: OffsetDateTime,
    pub cluster: String,
    pub node: Option<String>,
    pub object_kind: Option<String>,
    pub object_namespace: Option<String>,
    pub object_name: Option<String>,
    pub check_id: String,
}

impl FeedEvent {
    pub fn subject(&self) -> SubjectName<'_> {
        match (&self.object_kind, &self.object_name) {
            (Some(kind), Some(name)) => SubjectName::Object {
                kind,
                namespace: self.object_namespace.as_deref().filter(|ns| !ns.is_empty()),
                name,
            },
            _ => SubjectName::Node(self.node.as_deref().unwrap_or_default()),
        }
    }
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
        r#"SELECT e.id, e.finding_id, e.kind, e.at, e.scan_id, e.exception_id, e.recorded_at, c.name AS cluster,
                  n.name AS "node?", o.kind AS "object_kind?", o.namespace AS "object_namespace?",
                  o.name AS "object_name?", f.check_id
           FROM finding_events e JOIN findings f ON f.id = e.finding_id
           LEFT JOIN nodes n ON n.id = f.node_id LEFT JOIN objects o ON o.id = f.object_id
           JOIN clusters c ON c.id = f.cluster_id
           WHERE e.id > $1 ORDER BY e.id LIMIT $2"#,
        after,
        limit
    )
    .fetch_all(conn)
    .await
}

/// Filters of a findings listing; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct FindingFilter {
    pub cluster: Option<String>,
    pub node: Option<String>,
    /// Only findings on objects of this kind (`Deployment`), namespace or name.
    pub kind: Option<String>,
    pub namespace: Option<String>,
    pub object: Option<String>,
    pub check: Option<String>,
    pub section: Option<String>,
    pub state: Option<&'static str>,
    pub since: Option<OffsetDateTime>,
    /// Only findings in their state since this time or earlier (at least so old).
    pub before: Option<OffsetDateTime>,
    pub id: Option<i64>,
}

/// A finding with what an integration needs: where, since when, its latest evidence and its ticket.
#[derive(Debug, Clone)]
pub struct FindingDetail {
    pub id: i64,
    pub cluster: String,
    /// The node of a node finding.
    pub node: Option<String>,
    /// The object of an object finding (the namespace is empty for cluster-scoped kinds).
    pub object_kind: Option<String>,
    pub object_namespace: Option<String>,
    pub object_name: Option<String>,
    pub check_id: String,
    pub state: String,
    pub first_seen: OffsetDateTime,
    pub state_since: OffsetDateTime,
    pub last_seen: Option<OffsetDateTime>,
    pub reopen_count: i32,
    pub ticket_key: Option<String>,
    pub ticket_url: Option<String>,
    pub evidence: Option<serde_json::Value>,
    /// An object result's detail (the missing fact of a `manual` one) and platform-owned mark.
    pub detail: Option<String>,
    pub platform: Option<serde_json::Value>,
    pub benchmark_id: Option<String>,
    pub benchmark_version: Option<String>,
    /// The exception waiving this open finding at the moment read (the one in force that ends last).
    pub exception_id: Option<i64>,
}

/// What a finding is about, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectName<'a> {
    Node(&'a str),
    Object {
        kind: &'a str,
        namespace: Option<&'a str>,
        name: &'a str,
    },
}

impl SubjectName<'_> {
    /// `cp-1`, `Deployment shop/cart`, `ClusterRoleBinding admin-all`.
    pub fn label(&self) -> String {
        match self {
            SubjectName::Node(name) => (*name).to_owned(),
            SubjectName::Object {
                kind,
                namespace: Some(namespace),
                name,
            } => format!("{kind} {namespace}/{name}"),
            SubjectName::Object {
                kind,
                namespace: None,
                name,
            } => format!("{kind} {name}"),
        }
    }
}

impl FindingDetail {
    pub fn subject(&self) -> SubjectName<'_> {
        match (&self.object_kind, &self.object_name) {
            (Some(kind), Some(name)) => SubjectName::Object {
                kind,
                namespace: self.object_namespace.as_deref().filter(|ns| !ns.is_empty()),
                name,
            },
            _ => SubjectName::Node(self.node.as_deref().unwrap_or_default()),
        }
    }
}

/// The ids a filter's names stand for; `None` in a field means the filter does not name it.
struct ResolvedNames {
    cluster_id: Option<i64>,
    node_ids: Option<Vec<i64>>,
    object_ids: Option<Vec<i64>>,
    /// The object filter when it names more objects than [`OBJECT_IDS_AT_MOST`]: applied to each finding
    /// as the page walks the findings in id order (a list of thousands of ids makes PostgreSQL fetch and sort
    /// every matching finding before the first page: 64 ms against 8 ms for one kind in one cluster).
    broad_objects: Option<ObjectNames>,
}

/// An object filter by name, as the request gave it.
#[derive(Debug, Clone, Default)]
struct ObjectNames {
    kind: Option<String>,
    namespace: Option<String>,
    name: Option<String>,
}

/// Above this many matching objects, the object filter is applied finding by finding instead of by id.
const OBJECT_IDS_AT_MOST: usize = 200;

/// The cluster, node and object ids a filter names, or `None` when a named one does not exist (nothing
/// matches). Names become ids first, so that a page is read from the findings table alone, in id order, and
/// the planner can walk an index instead of joining the whole table before the limit.
async fn resolve_names(
    conn: &mut PgConnection,
    filter: &FindingFilter,
) -> Result<Option<ResolvedNames>, sqlx::Error> {
    let cluster_id = match &filter.cluster {
        None => None,
        Some(name) => match sqlx::query_scalar!("SELECT id FROM clusters WHERE name = $1", name)
            .fetch_optional(&mut *conn)
            .await?
        {
            Some(id) => Some(id),
            None => return Ok(None),
        },
    };
    let node_ids: Option<Vec<i64>> = match &filter.node {
        None => None,
        Some(name) => {
            let ids = sqlx::query_scalar!(
                "SELECT id FROM nodes WHERE name = $1 AND ($2::bigint IS NULL OR cluster_id = $2)",
                name,
                cluster_id
            )
            .fetch_all(&mut *conn)
            .await?;
            if ids.is_empty() {
                return Ok(None);
            }
            Some(ids)
        }
    };
    let mut broad_objects = None;
    let object_ids: Option<Vec<i64>> =
        if filter.kind.is_none() && filter.namespace.is_none() && filter.object.is_none() {
            None
        } else {
            let ids = sqlx::query_scalar!(
                r#"SELECT id FROM objects
                   WHERE ($1::bigint IS NULL OR cluster_id = $1) AND ($2::text IS NULL OR kind = $2)
                     AND ($3::text IS NULL OR namespace = $3) AND ($4::text IS NULL OR name = $4)
                   LIMIT $5"#,
                cluster_id,
                filter.kind,
                filter.namespace,
                filter.object,
                i64::try_from(OBJECT_IDS_AT_MOST + 1).unwrap_or(i64::MAX)
            )
            .fetch_all(&mut *conn)
            .await?;
            if ids.is_empty() {
                return Ok(None);
            }
            if ids.len() > OBJECT_IDS_AT_MOST {
                broad_objects = Some(ObjectNames {
                    kind: filter.kind.clone(),
                    namespace: filter.namespace.clone(),
                    name: filter.object.clone(),
                });
                None
            } else {
                Some(ids)
            }
        };
    Ok(Some(ResolvedNames {
        cluster_id,
        node_ids,
        object_ids,
        broad_objects,
    }))
}

/// Findings as they stood at `at`, after the cursor `after` (an id), in id order, at most `limit`: only those
/// opened by then, with the state, state time, reopen count, evidence and last failing scan of that moment,
/// all read from the event log and the scans up to `at`. The ticket link is today's.
#[tracing::instrument(skip_all)]
pub async fn page_as_of(
    conn: &mut PgConnection,
    filter: &FindingFilter,
    at: OffsetDateTime,
    after: i64,
    limit: i64,
) -> Result<Vec<FindingDetail>, sqlx::Error> {
    let Some(names) = resolve_names(conn, filter).await? else {
        return Ok(Vec::new());
    };
    let broad = names.broad_objects.clone().unwrap_or_default();
    sqlx::query_as!(
        FindingDetail,
        r#"WITH page AS (
               SELECT f.id, f.cluster_id, f.node_id, f.object_id, f.check_id, f.first_seen, f.ticket_key, f.ticket_url,
                      CASE WHEN last_event.kind = 'resolved' THEN 'resolved' ELSE 'open' END AS state,
                      last_event.at AS state_since,
                      (SELECT count(*) FROM finding_events r
                       WHERE r.finding_id = f.id AND r.kind = 'reopened' AND r.at <= $10)::int AS reopen_count
               FROM findings f
               CROSS JOIN LATERAL (
                   SELECT e.kind, e.at FROM finding_events e
                   WHERE e.finding_id = f.id AND e.at <= $10 AND e.scan_id IS NOT NULL
                   ORDER BY e.at DESC, e.scan_id DESC, e.id DESC
                   LIMIT 1
               ) last_event
               WHERE f.first_seen <= $10
                 AND ($1::bigint IS NULL OR f.cluster_id = $1)
                 AND ($2::bigint[] IS NULL OR f.node_id = ANY($2))
                 AND ($12::bigint[] IS NULL OR f.object_id = ANY($12))
                 AND (($13::text IS NULL AND $14::text IS NULL AND $15::text IS NULL)
                      -- A scalar lookup by key for each finding walked: as EXISTS, PostgreSQL hashed
                      -- every object of the kind in the fleet first.
                      OR (SELECT ($13::text IS NULL OR o.kind = $13)
                                 AND ($14::text IS NULL OR o.namespace = $14)
                                 AND ($15::text IS NULL OR o.name = $15)
                          FROM objects o WHERE o.id = f.object_id))
                 AND ($3::text IS NULL OR f.check_id = $3)
                 AND ($4::text IS NULL OR f.check_id LIKE $4 || '.%')
                 AND ($5::text IS NULL OR (CASE WHEN last_event.kind = 'resolved' THEN 'resolved' ELSE 'open' END) = $5)
                 AND ($6::timestamptz IS NULL OR last_event.at >= $6)
                 AND ($11::timestamptz IS NULL OR last_event.at <= $11)
                 AND ($7::bigint IS NULL OR f.id = $7)
                 AND f.id > $8
               ORDER BY f.id
               LIMIT $9
           )
           SELECT p.id AS "id!", c.name AS "cluster!", n.name AS "node?", o.kind AS "object_kind?",
                  o.namespace AS "object_namespace?", o.name AS "object_name?", p.check_id AS "check_id!",
                  p.state AS "state!", p.first_seen AS "first_seen!", p.state_since AS "state_since!",
                  coalesce(latest.finished_at, olatest.finished_at) AS last_seen,
                  p.reopen_count AS "reopen_count!", p.ticket_key, p.ticket_url,
                  coalesce(latest.evidence, olatest.evidence) AS "evidence?", olatest.detail AS "detail?",
                  olatest.platform AS "platform?",
                  coalesce(latest.benchmark_id, olatest.benchmark_id) AS "benchmark_id?",
                  coalesce(latest.benchmark_version, olatest.benchmark_version) AS "benchmark_version?",
                  (SELECT e.id FROM exceptions e
                   WHERE p.state = 'open' AND p.check_id = ANY(e.check_ids)
                     AND exception_in_force(e.state, e.decided_at, e.revoked_at, e.expires_at, $10)
                     AND exception_covers(e.cluster_id, e.node_like, e.namespace, e.object_kind, e.object_like,
                                      p.cluster_id, n.name, o.namespace, o.kind, o.name)
                   ORDER BY e.expires_at DESC, e.id LIMIT 1) AS exception_id
           FROM page p
           LEFT JOIN nodes n ON n.id = p.node_id
           LEFT JOIN objects o ON o.id = p.object_id
           JOIN clusters c ON c.id = p.cluster_id
           LEFT JOIN LATERAL (
               SELECT s.finished_at, r.evidence, rs.benchmark_id, rs.benchmark_version
               FROM scans s
               JOIN result_sets rs ON rs.id = s.result_set_id
               JOIN check_results r ON r.id = (rs.result_map ->> p.check_id)::bigint
               WHERE p.node_id IS NOT NULL AND s.node_id = p.node_id AND s.finished_at <= $10
                 AND (p.state = 'open' OR s.finished_at < p.state_since)
               ORDER BY s.finished_at DESC, s.scan_id DESC
               LIMIT 1
           ) latest ON true
           LEFT JOIN LATERAL (
               SELECT s.finished_at, r.evidence, r.detail, r.platform, rs.benchmark_id, rs.benchmark_version
               FROM cluster_scans s
               -- Each step a lookup by key, fenced by LIMIT so that the planner walks the newest scans one
               -- by one instead of joining every stored list.
               CROSS JOIN LATERAL (
                   SELECT sets.benchmark_id, sets.benchmark_version,
                          (sets.result_map ->> p.check_id)::bigint AS check_result_id
                   FROM cluster_result_sets sets WHERE sets.id = s.result_set_id LIMIT 1
               ) rs
               CROSS JOIN LATERAL (
                   SELECT c.object_result_ids FROM cluster_check_results c
                   WHERE c.id = rs.check_result_id LIMIT 1
               ) cr
               CROSS JOIN LATERAL (
                   SELECT o.evidence, o.detail, o.platform FROM object_results o
                   WHERE o.object_id = p.object_id AND o.check_id = p.check_id
                     AND o.id = ANY(cr.object_result_ids)
                   LIMIT 1
               ) r
               WHERE p.object_id IS NOT NULL AND s.cluster_id = p.cluster_id AND s.finished_at <= $10
                 AND (p.state = 'open' OR s.finished_at < p.state_since)
               ORDER BY s.finished_at DESC, s.scan_id DESC
               LIMIT 1
           ) olatest ON true
           ORDER BY p.id"#,
        names.cluster_id,
        names.node_ids.as_deref(),
        filter.check,
        filter.section,
        filter.state,
        filter.since,
        filter.id,
        after,
        limit,
        at,
        filter.before,
        names.object_ids.as_deref(),
        broad.kind,
        broad.namespace,
        broad.name
    )
    .fetch_all(conn)
    .await
}

/// Findings after the cursor `after` (an id), in id order, at most `limit`.
#[tracing::instrument(skip_all)]
pub async fn page(
    conn: &mut PgConnection,
    filter: &FindingFilter,
    after: i64,
    limit: i64,
) -> Result<Vec<FindingDetail>, sqlx::Error> {
    let Some(names) = resolve_names(conn, filter).await? else {
        return Ok(Vec::new());
    };
    let broad = names.broad_objects.clone().unwrap_or_default();
    // The evidence is the check's result in the node's newest scan while the finding is open, and in the
    // last scan before its resolution once resolved; that scan's time is also when it was last seen failing.
    sqlx::query_as!(
        FindingDetail,
        r#"WITH page AS (
               SELECT f.id, f.cluster_id, f.node_id, f.object_id, f.check_id, f.state, f.first_seen,
                      f.state_since, f.reopen_count, f.ticket_key, f.ticket_url
               FROM findings f
               WHERE ($1::bigint IS NULL OR f.cluster_id = $1)
                 AND ($2::bigint[] IS NULL OR f.node_id = ANY($2))
                 AND ($11::bigint[] IS NULL OR f.object_id = ANY($11))
                 AND (($12::text IS NULL AND $13::text IS NULL AND $14::text IS NULL)
                      -- A scalar lookup by key for each finding walked: as EXISTS, PostgreSQL hashed
                      -- every object of the kind in the fleet first.
                      OR (SELECT ($12::text IS NULL OR o.kind = $12)
                                 AND ($13::text IS NULL OR o.namespace = $13)
                                 AND ($14::text IS NULL OR o.name = $14)
                          FROM objects o WHERE o.id = f.object_id))
                 AND ($3::text IS NULL OR f.check_id = $3)
                 AND ($4::text IS NULL OR f.check_id LIKE $4 || '.%')
                 AND ($5::text IS NULL OR f.state = $5)
                 AND ($6::timestamptz IS NULL OR f.state_since >= $6)
                 AND ($10::timestamptz IS NULL OR f.state_since <= $10)
                 AND ($7::bigint IS NULL OR f.id = $7)
                 AND f.id > $8
               ORDER BY f.id
               LIMIT $9
           )
           SELECT p.id AS "id!", c.name AS "cluster!", n.name AS "node?", o.kind AS "object_kind?",
                  o.namespace AS "object_namespace?", o.name AS "object_name?", p.check_id AS "check_id!",
                  p.state AS "state!", p.first_seen AS "first_seen!", p.state_since AS "state_since!",
                  CASE WHEN p.state = 'open' AND p.node_id IS NOT NULL THEN n.last_seen
                       ELSE coalesce(latest.finished_at, olatest.finished_at) END AS last_seen,
                  p.reopen_count AS "reopen_count!", p.ticket_key, p.ticket_url,
                  coalesce(latest.evidence, olatest.evidence) AS "evidence?", olatest.detail AS "detail?",
                  olatest.platform AS "platform?",
                  coalesce(latest.benchmark_id, olatest.benchmark_id) AS "benchmark_id?",
                  coalesce(latest.benchmark_version, olatest.benchmark_version) AS "benchmark_version?",
                  (SELECT e.id FROM exceptions e
                   WHERE p.state = 'open' AND p.check_id = ANY(e.check_ids)
                     AND exception_in_force(e.state, e.decided_at, e.revoked_at, e.expires_at, now())
                     AND exception_covers(e.cluster_id, e.node_like, e.namespace, e.object_kind, e.object_like,
                                      p.cluster_id, n.name, o.namespace, o.kind, o.name)
                   ORDER BY e.expires_at DESC, e.id LIMIT 1) AS exception_id
           FROM page p
           LEFT JOIN nodes n ON n.id = p.node_id
           LEFT JOIN objects o ON o.id = p.object_id
           JOIN clusters c ON c.id = p.cluster_id
           LEFT JOIN LATERAL (
               SELECT s.finished_at, r.evidence, rs.benchmark_id, rs.benchmark_version
               FROM scans s
               JOIN result_sets rs ON rs.id = s.result_set_id
               JOIN check_results r ON r.id = (rs.result_map ->> p.check_id)::bigint
               WHERE p.node_id IS NOT NULL AND s.node_id = p.node_id
                 AND (p.state = 'open' OR s.finished_at < p.state_since)
               ORDER BY s.finished_at DESC, s.scan_id DESC
               LIMIT 1
           ) latest ON true
           LEFT JOIN LATERAL (
               SELECT s.finished_at, r.evidence, r.detail, r.platform, rs.benchmark_id, rs.benchmark_version
               FROM cluster_scans s
               -- Each step a lookup by key, fenced by LIMIT so that the planner walks the newest scans one
               -- by one instead of joining every stored list.
               CROSS JOIN LATERAL (
                   SELECT sets.benchmark_id, sets.benchmark_version,
                          (sets.result_map ->> p.check_id)::bigint AS check_result_id
                   FROM cluster_result_sets sets WHERE sets.id = s.result_set_id LIMIT 1
               ) rs
               CROSS JOIN LATERAL (
                   SELECT c.object_result_ids FROM cluster_check_results c
                   WHERE c.id = rs.check_result_id LIMIT 1
               ) cr
               CROSS JOIN LATERAL (
                   SELECT o.evidence, o.detail, o.platform FROM object_results o
                   WHERE o.object_id = p.object_id AND o.check_id = p.check_id
                     AND o.id = ANY(cr.object_result_ids)
                   LIMIT 1
               ) r
               WHERE p.object_id IS NOT NULL AND s.cluster_id = p.cluster_id
                 AND (p.state = 'open' OR s.finished_at < p.state_since)
               ORDER BY s.finished_at DESC, s.scan_id DESC
               LIMIT 1
           ) olatest ON true
           ORDER BY p.id"#,
        names.cluster_id,
        names.node_ids.as_deref(),
        filter.check,
        filter.section,
        filter.state,
        filter.since,
        filter.id,
        after,
        limit,
        filter.before,
        names.object_ids.as_deref(),
        broad.kind,
        broad.namespace,
        broad.name
    )
    .fetch_all(conn)
    .await
}

/// Links a finding to an external ticket (or unlinks it with `None`s); `false` when there is no such finding.
#[tracing::instrument(skip_all, fields(finding.id = id))]
pub async fn link_ticket(
    conn: &mut PgConnection,
    id: i64,
    key: Option<&str>,
    url: Option<&HttpUrl>,
) -> Result<bool, sqlx::Error> {
    let url = url.map(HttpUrl::as_str);
    let row = sqlx::query!(
        r#"UPDATE findings SET ticket_key = $2, ticket_url = $3,
                  ticket_linked_at = CASE WHEN $2::text IS NULL AND $3::text IS NULL THEN NULL ELSE now() END
           WHERE id = $1 RETURNING id"#,
        id,
        key,
        url
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}
