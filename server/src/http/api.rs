//! The read API and the ticket link: clusters, nodes, findings, the event feed. Lists are paginated by an
//! opaque cursor: pass the `next` of one answer as `cursor` to get the following page; `next` is null at
//! the end. Filters and cursors are checked, and a bad one is a 400 naming it.

use actix_web::{HttpRequest, HttpResponse, web};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::input::{http_url, json_body};
use super::problem::ApiError;
use super::query::{ApiQuery, FindingAtQuery, FindingsQuery, NodesQuery, PageQuery};
use crate::app::views::{
    Cluster, ClusterPage, Event, EventPage, Finding, FindingPage, Node, NodePage, TicketLink,
    time_text,
};
use crate::domain::cluster::ClusterName;
use crate::shared::AppState;
use crate::storage::findings::{self, FindingFilter};
use crate::storage::{clusters, nodes};

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 500;

pub(super) fn bad(field: &str, detail: impl Into<String>) -> ApiError {
    ApiError::BadParameter {
        field: field.to_owned(),
        detail: format!("{field}: {}", detail.into()),
    }
}

pub(super) fn limit(text: Option<&str>) -> Result<i64, ApiError> {
    match text {
        None => Ok(DEFAULT_LIMIT),
        Some(text) => match text.parse::<i64>() {
            Ok(value) if (1..=MAX_LIMIT).contains(&value) => Ok(value),
            _ => Err(bad(
                "limit",
                format!("must be an integer from 1 to {MAX_LIMIT}"),
            )),
        },
    }
}

/// Cursors are the last id of a page, as a decimal number; only ones this server handed out are accepted.
pub(super) fn id_cursor(text: Option<&str>) -> Result<i64, ApiError> {
    match text {
        None => Ok(0),
        // At most 18 digits, as the document says: every id this server hands out is shorter.
        Some(text)
            if (1..=18).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()) =>
        {
            text.parse::<i64>()
                .map_err(|_| bad("cursor", "is not a cursor this API returned"))
        }
        Some(_) => Err(bad("cursor", "is not a cursor this API returned")),
    }
}

pub(super) fn text_param(
    name: &str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>, ApiError> {
    match value {
        None => Ok(None),
        Some(value)
            if value.is_empty()
                || value.chars().count() > max
                || value.chars().any(char::is_control) =>
        {
            Err(bad(
                name,
                format!("must be 1 to {max} characters without control characters"),
            ))
        }
        Some(value) => Ok(Some(value.to_owned())),
    }
}

pub(super) fn time_param(
    name: &str,
    value: Option<&str>,
) -> Result<Option<OffsetDateTime>, ApiError> {
    value
        .map(|text| {
            OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
                bad(
                    name,
                    "must be an RFC 3339 time such as 2026-11-01T00:00:00Z",
                )
            })
        })
        .transpose()
}

/// `at`: an RFC 3339 time, or a day (`YYYY-MM-DD`) meaning the end of that day in UTC, as the pages show it.
pub(super) fn at_param(text: Option<&str>) -> Result<Option<OffsetDateTime>, ApiError> {
    let Some(text) = text else {
        return Ok(None);
    };
    crate::domain::time::parse_at(text)
        .map(Some)
        .ok_or_else(|| bad("at", "must be a day such as 2026-11-01 or an RFC 3339 time"))
}

/// The page and the cursor of the next one: one more row than asked for tells whether there is more.
pub(super) fn paginate<T>(
    mut rows: Vec<T>,
    limit: i64,
    cursor_of: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next = if more {
        rows.last().map(cursor_of)
    } else {
        None
    };
    (rows, next)
}

#[utoipa::path(
    get, path = "/api/v1/clusters", tag = "clusters",
    params(PageQuery),
    responses((status = 200, description = "Clusters by name, with node counts and staleness", body = ClusterPage))
)]
pub async fn list_clusters(
    ApiQuery(query): ApiQuery<PageQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let limit = limit(query.limit.as_deref())?;
    // Cluster cursors are the last name of a page, so anything that is not a cluster name is not ours.
    let after = match query.cursor.as_deref() {
        None => String::new(),
        Some(text) => ClusterName::parse(text)
            .map_err(|_| bad("cursor", "is not a cursor this API returned"))?
            .to_string(),
    };
    let mut conn = state.pool.acquire().await?;
    let stale_before = OffsetDateTime::now_utc() - state.stale_after;
    let rows = clusters::page(&mut conn, stale_before, &after, limit + 1).await?;
    let (rows, next) = paginate(rows, limit, |row| row.name.clone());
    let items = rows
        .iter()
        .map(|row| Cluster {
            name: row.name.clone(),
            labels: row
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            nodes: row.nodes,
            stale_nodes: row.stale_nodes,
            last_seen: row.last_seen.map(time_text),
        })
        .collect();
    Ok(HttpResponse::Ok().json(ClusterPage { items, next }))
}

#[utoipa::path(
    get, path = "/api/v1/nodes", tag = "nodes",
    params(NodesQuery),
    responses((status = 200, description = "Nodes in id order, with staleness", body = NodePage))
)]
pub async fn list_nodes(
    ApiQuery(query): ApiQuery<NodesQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let limit = limit(query.limit.as_deref())?;
    let after = id_cursor(query.cursor.as_deref())?;
    let cluster = text_param("cluster", query.cluster.as_deref(), 63)?;
    let at = at_param(query.at.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    let stale_before = at.unwrap_or_else(OffsetDateTime::now_utc) - state.stale_after;
    let rows = match at {
        None => nodes::page(&mut conn, cluster.as_deref(), after, limit + 1).await?,
        Some(at) => nodes::page_as_of(&mut conn, cluster.as_deref(), at, after, limit + 1).await?,
    };
    let (rows, next) = paginate(rows, limit, |row| row.id.to_string());
    let items = rows
        .iter()
        .map(|row| Node {
            id: row.id,
            cluster: row.cluster.clone(),
            name: row.name.clone(),
            roles: row.roles.clone(),
            kubelet_version: row.kubelet_version.clone(),
            first_seen: time_text(row.first_seen),
            last_seen: time_text(row.last_seen),
            stale: row.is_stale(stale_before),
        })
        .collect();
    Ok(HttpResponse::Ok().json(NodePage { items, next }))
}

#[utoipa::path(
    get, path = "/api/v1/findings", tag = "findings",
    params(FindingsQuery),
    responses((status = 200, description = "Findings in id order", body = FindingPage))
)]
pub async fn list_findings(
    ApiQuery(query): ApiQuery<FindingsQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let at = at_param(query.at.as_deref())?;
    let limit = limit(query.limit.as_deref())?;
    let after = id_cursor(query.cursor.as_deref())?;
    let state_filter = match query.state.as_deref() {
        None => None,
        Some("open") => Some("open"),
        Some("resolved") => Some("resolved"),
        Some(_) => return Err(bad("state", "must be open or resolved")),
    };
    let section = text_param("section", query.section.as_deref(), 32)?;
    if section
        .as_deref()
        .is_some_and(|section| !kubeward_benchmark::validate::is_check_id(section))
    {
        return Err(bad("section", "must be a section number such as 1.2"));
    }
    let filter = FindingFilter {
        cluster: text_param("cluster", query.cluster.as_deref(), 63)?,
        node: text_param("node", query.node.as_deref(), 253)?,
        kind: text_param("kind", query.kind.as_deref(), 63)?,
        namespace: text_param("namespace", query.namespace.as_deref(), 63)?
            .map(|ns| crate::domain::object::stored_namespace(&ns).to_owned()),
        object: text_param("object", query.object.as_deref(), 253)?,
        check: text_param("check", query.check.as_deref(), 64)?,
        section,
        state: state_filter,
        since: time_param("since", query.since.as_deref())?,
        before: None,
        id: None,
    };
    let mut conn = state.pool.acquire().await?;
    let rows = match at {
        None => findings::page(&mut conn, &filter, after, limit + 1).await?,
        Some(at) => findings::page_as_of(&mut conn, &filter, at, after, limit + 1).await?,
    };
    let (rows, next) = paginate(rows, limit, |row| row.id.to_string());
    let items = rows
        .iter()
        .map(|row| Finding::from_row(row, &state.catalogs))
        .collect();
    Ok(HttpResponse::Ok().json(FindingPage { items, next }))
}

fn finding_id(path: &str) -> Result<i64, ApiError> {
    path.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| bad("id", "must be a finding id"))
}

#[utoipa::path(
    get, path = "/api/v1/findings/{id}", tag = "findings",
    params(("id" = i64, Path, description = "The finding's stable id"), FindingAtQuery),
    responses((status = 200, description = "The finding", body = Finding))
)]
pub async fn get_finding(
    ApiQuery(query): ApiQuery<FindingAtQuery>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = finding_id(&path)?;
    let at = at_param(query.at.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    let filter = FindingFilter {
        id: Some(id),
        ..FindingFilter::default()
    };
    let rows = match at {
        None => findings::page(&mut conn, &filter, 0, 1).await?,
        Some(at) => findings::page_as_of(&mut conn, &filter, at, 0, 1).await?,
    };
    // As of a time before it opened, the finding did not exist yet.
    let row = rows
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::NotFound(format!("finding {id}")))?;
    Ok(HttpResponse::Ok().json(Finding::from_row(&row, &state.catalogs)))
}

/// `PATCH /api/v1/findings/{id}`: link a finding to an external ticket; both fields null unlinks it.
#[utoipa::path(
    patch, path = "/api/v1/findings/{id}", tag = "findings",
    params(("id" = i64, Path, description = "The finding's stable id")),
    request_body = TicketLink,
    responses((status = 200, description = "The finding with its ticket", body = Finding))
)]
pub async fn link_ticket(
    request: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
    who: web::ReqData<super::access::Principal>,
) -> Result<HttpResponse, ApiError> {
    let id = finding_id(&path)?;
    let link: TicketLink = json_body(&request, &body)?;
    if let Some(key) = &link.ticket_key
        && (key.is_empty() || key.chars().count() > 200 || key.chars().any(char::is_control))
    {
        return Err(bad(
            "ticket_key",
            "must be 1 to 200 characters without control characters",
        ));
    }
    let ticket_url = link
        .ticket_url
        .as_deref()
        .map(|url| http_url("ticket_url", url))
        .transpose()?;
    let mut tx = state.pool.begin().await?;
    if !findings::link_ticket(&mut tx, id, link.ticket_key.as_deref(), ticket_url.as_ref()).await? {
        return Err(ApiError::NotFound(format!("finding {id}")));
    }
    let filter = FindingFilter {
        id: Some(id),
        ..FindingFilter::default()
    };
    let row = findings::page(&mut tx, &filter, 0, 1).await?.pop();
    crate::storage::audit::append(
        &mut tx,
        &who.actor(&request),
        crate::domain::audit::Action::TicketLink,
        Some(&format!("finding {id}")),
        &serde_json::json!({ "ticket_key": link.ticket_key, "ticket_url": link.ticket_url }),
    )
    .await?;
    tx.commit().await?;
    let row = row.ok_or_else(|| ApiError::NotFound(format!("finding {id}")))?;
    tracing::info!(finding.id = id, ticket = ?link.ticket_key, "linked finding {id} to a ticket");
    Ok(HttpResponse::Ok().json(Finding::from_row(&row, &state.catalogs)))
}

/// `GET /api/v1/events`: every transition in id order; ids are committed in order, so polling with the last
/// `next` never skips one.
#[utoipa::path(
    get, path = "/api/v1/events", tag = "events",
    params(PageQuery),
    responses((status = 200, description = "Transitions after the cursor, in id order", body = EventPage))
)]
pub async fn list_events(
    ApiQuery(query): ApiQuery<PageQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let limit = limit(query.limit.as_deref())?;
    let after = id_cursor(query.cursor.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    let rows = findings::events_after(&mut conn, after, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    let rows: Vec<_> = rows
        .into_iter()
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect();
    // Unlike other lists, the feed always hands back a cursor: the place to poll from next time.
    let next = rows.last().map_or(after, |row| row.id).to_string();
    let items = rows.iter().map(Event::from_row).collect();
    Ok(HttpResponse::Ok().json(EventPage { items, next, more }))
}
