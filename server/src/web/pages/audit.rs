//! `/audit`: the audit trail for auditors, filterable, with CSV and JSON exports (themselves recorded).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::Layout;
use super::findings::{attachment, csv_cell};
use crate::app::views::AuditRecordView;
use crate::domain::audit::Action;
use crate::shared::AppState;
use crate::storage::audit::{self, AuditFilter};
use crate::web::error::PageError;
use crate::web::form::PageContext;
use crate::web::security;
use crate::web::session::Visitor;

const PAGE_SIZE: i64 = 200;
/// An export holds at most this many records; narrow the filters for more.
const EXPORT_LIMIT: usize = 100_000;

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    action: Option<String>,
    actor: Option<String>,
    cursor: Option<i64>,
}

struct Filters {
    action: Option<&'static str>,
    actor: Option<String>,
}

impl Filters {
    fn parse(query: &AuditQuery) -> Result<Self, PageError> {
        let action = match query.action.as_deref().filter(|text| !text.is_empty()) {
            None => None,
            Some(text) => Some(
                Action::parse(text)
                    .ok_or_else(|| {
                        PageError::BadRequest(
                            "action= is not an action the trail records".to_owned(),
                        )
                    })?
                    .as_str(),
            ),
        };
        let actor = query.actor.clone().filter(|text| !text.is_empty());
        if actor
            .as_ref()
            .is_some_and(|text| text.chars().count() > 300 || text.chars().any(char::is_control))
        {
            return Err(PageError::BadRequest(
                "actor= must be at most 300 characters without control characters".to_owned(),
            ));
        }
        Ok(Filters { action, actor })
    }

    fn storage(&self) -> AuditFilter {
        AuditFilter {
            action: self.action,
            actor: self.actor.clone(),
            ..AuditFilter::default()
        }
    }

    fn query(&self) -> String {
        format!(
            "action={}&actor={}",
            self.action.unwrap_or(""),
            super::encode(self.actor.as_deref().unwrap_or(""))
        )
    }
}

/// A record as the page shows it.
#[derive(Debug)]
pub struct RecordLine {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub actor_id: String,
    pub source: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    layout: Layout,
    records: Vec<RecordLine>,
    actions: Vec<&'static str>,
    action_filter: String,
    actor_filter: String,
    next: Option<String>,
    csv: String,
    json: String,
    head_id: i64,
    head_hash: String,
}

pub async fn show(
    query: web::Query<AuditQuery>,
    state: web::Data<AppState>,
    context: PageContext,
) -> Result<HttpResponse, PageError> {
    let visitor = &context.visitor;
    let filters = Filters::parse(&query)?;
    let layout = Layout::new("Audit trail", visitor, &None);
    let after = query.cursor.unwrap_or(0).max(0);
    let mut conn = state.pool.acquire().await?;
    let mut records = audit::page(&mut conn, &filters.storage(), after, PAGE_SIZE + 1).await?;
    let (head_id, head_hash) = audit::head(&mut conn).await?;
    drop(conn);
    let more = records.len() as i64 > PAGE_SIZE;
    records.truncate(usize::try_from(PAGE_SIZE).unwrap_or(0));
    let query_text = filters.query();
    let next = more
        .then(|| {
            records
                .last()
                .map(|record| format!("/audit?{query_text}&cursor={}", record.entry.id))
        })
        .flatten();
    let lines = records
        .iter()
        .map(|record| RecordLine {
            id: record.entry.id,
            at: super::time_text(record.entry.at),
            actor: record.entry.actor_name.clone(),
            actor_id: record.entry.actor_id.clone(),
            source: record.entry.source.clone(),
            action: record.entry.action.clone(),
            target: record.entry.target.clone(),
            detail: record.entry.detail.clone(),
        })
        .collect();
    let page = AuditPage {
        records: lines,
        actions: Action::ALL.iter().map(|action| action.as_str()).collect(),
        action_filter: filters.action.unwrap_or("").to_owned(),
        actor_filter: filters.actor.clone().unwrap_or_default(),
        next,
        csv: format!("/audit/export.csv?{query_text}"),
        json: format!("/audit/export.json?{query_text}"),
        head_id,
        head_hash: hex::encode(head_hash),
        layout,
    };
    Ok(security::page(StatusCode::OK, page.render()?))
}

/// Every record the filters match, after recording the export itself (so the export holds its own record).
async fn exported(
    request: &HttpRequest,
    query: &AuditQuery,
    state: &AppState,
    visitor: &Visitor,
    format: &str,
) -> Result<Vec<AuditRecordView>, PageError> {
    let filters = Filters::parse(query)?;
    let mut conn = state.pool.acquire().await?;
    audit::append(
        &mut conn,
        &visitor.actor(request),
        Action::AuditExport,
        None,
        &serde_json::json!({ "format": format, "action": filters.action, "actor": filters.actor }),
    )
    .await?;
    let mut views = Vec::new();
    let mut after = 0;
    loop {
        let records = audit::page(&mut conn, &filters.storage(), after, 5_000).await?;
        let Some(last) = records.last() else { break };
        after = last.entry.id;
        views.extend(records.iter().map(AuditRecordView::from_record));
        if views.len() > EXPORT_LIMIT {
            return Err(PageError::BadRequest(format!(
                "more than {EXPORT_LIMIT} records match; narrow the filters to export them"
            )));
        }
    }
    Ok(views)
}

fn export_name(extension: &str) -> String {
    format!(
        "kubeward-audit-{}.{extension}",
        super::day_text(time::OffsetDateTime::now_utc().date())
    )
}

/// `GET /audit/export.csv`
pub async fn export_csv(
    request: HttpRequest,
    query: web::Query<AuditQuery>,
    state: web::Data<AppState>,
    context: PageContext,
) -> Result<HttpResponse, PageError> {
    let visitor = &context.visitor;
    let views = exported(&request, &query, &state, visitor, "csv").await?;
    let mut csv =
        String::from("id,at,actor_id,actor,source,action,target,detail,prev_hash,hash\r\n");
    for view in &views {
        let cells = [
            view.id.to_string(),
            view.at.clone(),
            view.actor_id.clone(),
            view.actor.clone(),
            view.source.clone().unwrap_or_default(),
            view.action.clone(),
            view.target.clone().unwrap_or_default(),
            view.detail.to_string(),
            view.prev_hash.clone(),
            view.hash.clone(),
        ];
        let row: Vec<String> = cells.iter().map(|cell| csv_cell(cell)).collect();
        csv.push_str(&row.join(","));
        csv.push_str("\r\n");
    }
    Ok(attachment(
        "text/csv; charset=utf-8",
        export_name("csv"),
        csv,
    ))
}

/// `GET /audit/export.json`
pub async fn export_json(
    request: HttpRequest,
    query: web::Query<AuditQuery>,
    state: web::Data<AppState>,
    context: PageContext,
) -> Result<HttpResponse, PageError> {
    let visitor = &context.visitor;
    let views = exported(&request, &query, &state, visitor, "json").await?;
    let body =
        serde_json::to_string_pretty(&views).map_err(|err| PageError::Internal(Box::new(err)))?;
    Ok(attachment("application/json", export_name("json"), body))
}
