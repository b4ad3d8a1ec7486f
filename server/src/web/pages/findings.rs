//! `/findings`: a filterable list of findings (cluster, node, section, state, age), today or as of a past day,
//! and its CSV and JSON exports (`/findings/export.csv`, `/findings/export.json`), which hold every finding the
//! same filters match, with the same columns as the page.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{AsOf, Layout, day_text, encode, time_text};
use crate::catalogs::Catalogs;
use crate::domain::object;
use crate::shared::AppState;
use crate::storage::findings::{self, FindingDetail, FindingFilter, SubjectName};
use crate::web::error::PageError;
use crate::web::form::PageContext;
use crate::web::security;
use crate::web::session::Visitor;

/// Findings on one page of the list.
const PAGE_SIZE: i64 = 200;
/// An export larger than this asks for narrower filters rather than exhausting the server.
const EXPORT_LIMIT: usize = 100_000;

#[derive(Debug, Deserialize)]
pub struct FindingsQuery {
    at: Option<String>,
    cluster: Option<String>,
    node: Option<String>,
    kind: Option<String>,
    namespace: Option<String>,
    object: Option<String>,
    section: Option<String>,
    state: Option<String>,
    min_age: Option<String>,
    cursor: Option<String>,
}

/// The filters, checked.
#[derive(Debug, Clone)]
struct Filters {
    as_of: Option<AsOf>,
    cluster: String,
    node: String,
    /// An object's kind, namespace and name: only findings on matching objects.
    kind: String,
    namespace: String,
    object: String,
    section: String,
    /// `open`, `resolved` or `all`.
    state: String,
    min_age: Option<i64>,
    cursor: i64,
}

fn text_filter(name: &str, value: Option<&str>, max: usize) -> Result<String, PageError> {
    let value = value.unwrap_or_default().trim();
    if value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(PageError::BadRequest(format!(
            "{name}= must be at most {max} characters without control characters"
        )));
    }
    Ok(value.to_owned())
}

impl Filters {
    fn parse(query: &FindingsQuery) -> Result<Self, PageError> {
        let state = match query.state.as_deref().unwrap_or("open") {
            state @ ("open" | "resolved" | "all") => state.to_owned(),
            _ => {
                return Err(PageError::BadRequest(
                    "state= must be open, resolved or all".to_owned(),
                ));
            }
        };
        let section = text_filter("section", query.section.as_deref(), 32)?;
        if !section.is_empty() && !kubeward_benchmark::validate::is_check_id(&section) {
            return Err(PageError::BadRequest(
                "section= must be a section number such as 1.2".to_owned(),
            ));
        }
        let min_age = match query.min_age.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(
                text.parse::<i64>()
                    .ok()
                    .filter(|days| (0..=3650).contains(days))
                    .ok_or_else(|| {
                        PageError::BadRequest(
                            "min_age= must be a number of days, 0 to 3650".to_owned(),
                        )
                    })?,
            ),
        };
        let cursor = match query.cursor.as_deref() {
            None | Some("") => 0,
            Some(text) => text
                .parse::<i64>()
                .ok()
                .filter(|id| *id >= 0)
                .ok_or_else(|| {
                    PageError::BadRequest("cursor= is not one this page made".to_owned())
                })?,
        };
        Ok(Filters {
            as_of: AsOf::parse(query.at.as_deref())?,
            cluster: text_filter("cluster", query.cluster.as_deref(), 63)?,
            node: text_filter("node", query.node.as_deref(), 253)?,
            kind: text_filter("kind", query.kind.as_deref(), 63)?,
            namespace: text_filter("namespace", query.namespace.as_deref(), 63)?,
            object: text_filter("object", query.object.as_deref(), 253)?,
            section,
            state,
            min_age,
            cursor,
        })
    }

    fn moment(&self) -> OffsetDateTime {
        self.as_of
            .as_ref()
            .map_or_else(OffsetDateTime::now_utc, |as_of| as_of.end)
    }

    fn storage_filter(&self) -> FindingFilter {
        let some = |text: &str| (!text.is_empty()).then(|| text.to_owned());
        FindingFilter {
            cluster: some(&self.cluster),
            node: some(&self.node),
            kind: some(&self.kind),
            namespace: some(&self.namespace).map(|ns| object::stored_namespace(&ns).to_owned()),
            object: some(&self.object),
            section: some(&self.section),
            state: match self.state.as_str() {
                "open" => Some("open"),
                "resolved" => Some("resolved"),
                _ => None,
            },
            before: self
                .min_age
                .map(|days| self.moment() - time::Duration::days(days)),
            ..FindingFilter::default()
        }
    }

    /// The query string of these filters (without the cursor), to build links and exports.
    fn query(&self) -> String {
        let mut parts = Vec::new();
        for (name, value) in [
            ("cluster", &self.cluster),
            ("node", &self.node),
            ("kind", &self.kind),
            ("namespace", &self.namespace),
            ("object", &self.object),
            ("section", &self.section),
        ] {
            if !value.is_empty() {
                parts.push(format!("{name}={}", encode(value)));
            }
        }
        parts.push(format!("state={}", self.state));
        if let Some(days) = self.min_age {
            parts.push(format!("min_age={days}"));
        }
        if let Some(as_of) = &self.as_of {
            parts.push(format!("at={}", as_of.text));
        }
        parts.join("&")
    }

    async fn fetch(
        &self,
        state: &AppState,
        after: i64,
        limit: i64,
    ) -> Result<Vec<FindingDetail>, PageError> {
        let filter = self.storage_filter();
        let mut conn = state.pool.acquire().await?;
        Ok(match &self.as_of {
            None => findings::page(&mut conn, &filter, after, limit).await?,
            Some(as_of) => {
                findings::page_as_of(&mut conn, &filter, as_of.end, after, limit).await?
            }
        })
    }
}

/// One finding as the page and the exports show it.
#[derive(Debug, Serialize)]
pub struct FindingLine {
    pub id: i64,
    pub cluster: String,
    /// The node of a node finding; empty for an object finding.
    pub node: String,
    /// The object of an object finding (its namespace empty when cluster-scoped); empty for a node finding.
    pub kind: String,
    pub namespace: String,
    pub object: String,
    pub check: String,
    pub title: String,
    pub section: String,
    pub level: String,
    pub state: String,
    pub state_since: String,
    pub age_days: i64,
    pub first_seen: String,
    pub reopened: i32,
    pub ticket_key: String,
    pub ticket_url: String,
    /// The exception waiving this open finding at the moment shown; empty when none.
    pub exception: String,
    /// The latest evidence, one `subject: observed (expected …)` per line.
    pub evidence: String,
    /// The node's name or `Kind namespace/name`, as the page shows it.
    #[serde(skip)]
    pub subject: String,
    #[serde(skip)]
    pub node_link: String,
}

impl FindingLine {
    /// The line of one finding, as of `moment` (for its age), with links that keep the page's date.
    pub fn for_page(
        row: &FindingDetail,
        catalogs: &Catalogs,
        moment: OffsetDateTime,
        layout: &Layout,
    ) -> Self {
        let check = catalogs.describe(
            &kubeward_benchmark::report::BenchmarkRef {
                id: row.benchmark_id.clone().unwrap_or_default(),
                version: row.benchmark_version.clone().unwrap_or_default(),
            },
            &row.check_id,
        );
        let evidence = row
            .evidence
            .as_ref()
            .and_then(serde_json::Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .map(|item| {
                        let at = item["path"]
                            .as_str()
                            .map(|path| format!(" at {path}"))
                            .unwrap_or_default();
                        format!(
                            "{}: {} (expected {}){at}",
                            item["subject"].as_str().unwrap_or_default(),
                            item["observed"].as_str().unwrap_or_default(),
                            item["expected"].as_str().unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default();
        let subject = row.subject();
        FindingLine {
            id: row.id,
            node_link: layout.link(&subject_path(&row.cluster, &subject)),
            cluster: row.cluster.clone(),
            node: row.node.clone().unwrap_or_default(),
            kind: row.object_kind.clone().unwrap_or_default(),
            namespace: row.object_namespace.clone().unwrap_or_default(),
            object: row.object_name.clone().unwrap_or_default(),
            subject: subject.label(),
            check: row.check_id.clone(),
            title: check.map_or_else(
                || "(unknown check)".to_owned(),
                |check| check.title.to_owned(),
            ),
            section: check.map_or_else(String::new, |check| check.section.to_owned()),
            level: check
                .and_then(|check| check.level)
                .map_or_else(String::new, |level| format!("L{level}")),
            state: row.state.clone(),
            state_since: time_text(row.state_since),
            age_days: (moment - row.state_since).whole_days().max(0),
            first_seen: time_text(row.first_seen),
            reopened: row.reopen_count,
            ticket_key: row.ticket_key.clone().unwrap_or_default(),
            ticket_url: row.ticket_url.clone().unwrap_or_default(),
            exception: row
                .exception_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
            evidence,
        }
    }
}

#[derive(Template)]
#[template(path = "findings.html")]
struct FindingsPage {
    layout: Layout,
    lines: Vec<FindingLine>,
    filters_cluster: String,
    filters_node: String,
    filters_kind: String,
    filters_namespace: String,
    filters_section: String,
    filters_state: String,
    filters_min_age: String,
    next: Option<String>,
    csv: String,
    json: String,
    can_export: bool,
    first_page: String,
    paged: bool,
}

pub async fn show(
    query: web::Query<FindingsQuery>,
    state: web::Data<AppState>,
    context: PageContext,
) -> Result<HttpResponse, PageError> {
    let visitor = &context.visitor;
    let filters = Filters::parse(&query)?;
    let layout = Layout::new("Findings", visitor, &filters.as_of);
    let moment = filters.moment();
    let mut rows = filters.fetch(&state, filters.cursor, PAGE_SIZE + 1).await?;
    let more = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(usize::try_from(PAGE_SIZE).unwrap_or(0));
    let lines: Vec<FindingLine> = rows
        .iter()
        .map(|row| FindingLine::for_page(row, &state.catalogs, moment, &layout))
        .collect();
    let query_text = filters.query();
    let next = more
        .then(|| {
            lines
                .last()
                .map(|line| format!("/findings?{query_text}&cursor={}", line.id))
        })
        .flatten();
    let page = FindingsPage {
        filters_cluster: filters.cluster.clone(),
        filters_node: filters.node.clone(),
        filters_kind: filters.kind.clone(),
        filters_namespace: filters.namespace.clone(),
        filters_section: filters.section.clone(),
        filters_state: filters.state.clone(),
        filters_min_age: filters
            .min_age
            .map(|days| days.to_string())
            .unwrap_or_default(),
        next,
        csv: format!("/findings/export.csv?{query_text}"),
        json: format!("/findings/export.json?{query_text}"),
        can_export: visitor.role
            >= crate::web::access::rule_for("/findings/export.csv")
                .unwrap_or(crate::domain::role::Role::Admin),
        first_page: format!("/findings?{query_text}"),
        paged: filters.cursor > 0,
        lines,
        layout,
    };
    Ok(security::page(StatusCode::OK, page.render()?))
}

/// The filters of an export and every finding they match; the export is recorded in the audit trail.
async fn exported(
    request: &HttpRequest,
    query: &FindingsQuery,
    state: &AppState,
    visitor: &Visitor,
    format: &str,
) -> Result<(Filters, Vec<FindingLine>), PageError> {
    let filters = Filters::parse(query)?;
    let layout = Layout::new("Findings", visitor, &filters.as_of);
    let lines = everything(&filters, state, &layout).await?;
    let mut conn = state.pool.acquire().await?;
    crate::storage::audit::append(
        &mut conn,
        &visitor.actor(request),
        crate::domain::audit::Action::FindingsExport,
        None,
        &serde_json::json!({ "format": format, "filters": filters.query(), "findings": lines.len() }),
    )
    .await?;
    Ok((filters, lines))
}

/// Every finding the filters match, for the exports.
async fn everything(
    filters: &Filters,
    state: &AppState,
    layout: &Layout,
) -> Result<Vec<FindingLine>, PageError> {
    let moment = filters.moment();
    let mut lines = Vec::new();
    let mut after = 0;
    loop {
        let rows = filters.fetch(state, after, 1000).await?;
        let Some(last) = rows.last() else { break };
        after = last.id;
        lines.extend(
            rows.iter()
                .map(|row| FindingLine::for_page(row, &state.catalogs, moment, layout)),
        );
        if lines.len() > EXPORT_LIMIT {
            return Err(PageError::BadRequest(format!(
                "more than {EXPORT_LIMIT} findings match; narrow the filters to export them"
            )));
        }
    }
    Ok(lines)
}

pub fn attachment(content_type: &'static str, name: String, body: String) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(content_type)))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .body(body)
}

fn export_name(filters: &Filters, extension: &str) -> String {
    let day = filters.as_of.as_ref().map_or_else(
        || day_text(OffsetDateTime::now_utc().date()),
        |as_of| as_of.text.clone(),
    );
    format!("kubeward-findings-{day}.{extension}")
}

/// `GET /findings/export.csv`.
pub async fn export_csv(
    request: HttpRequest,
    query: web::Query<FindingsQuery>,
    state: web::Data<AppState>,
    context: PageContext,
) -> Result<HttpResponse, PageError> {
    let visitor = &context.visitor;
    let (filters, lines) = exported(&request, &query, &state, visitor, "csv").await?;
    let mut csv = String::from(
        "id,cluster,node,check,title,section,level,state,state_since,age_days,first_seen,reopened,ticket_key,ticket_url,exception,evidence,kind,namespace,object\r\n",
    );
    for line in &lines {
        let cells = [
            line.id.to_string(),
            line.cluster.clone(),
            line.node.clone(),
            line.check.clone(),
            line.title.clone(),
            line.section.clone(),
            line.level.clone(),
            line.state.clone(),
            line.state_since.clone(),
            line.age_days.to_string(),
            line.first_seen.clone(),
            line.reopened.to_string(),
            line.ticket_key.clone(),
            line.ticket_url.clone(),
            line.exception.clone(),
            line.evidence.clone(),
            // Object columns come last, so that the columns exports had before keep their places.
            line.kind.clone(),
            line.namespace.clone(),
            line.object.clone(),
        ];
        let row: Vec<String> = cells.iter().map(|cell| csv_cell(cell)).collect();
        csv.push_str(&row.join(","));
        csv.push_str("\r\n");
    }
    Ok(attachment(
        "text/csv; charset=utf-8",
        export_name(&filters, "csv"),
        csv,
    ))
}

/// `GET /findings/export.json`.
pub async fn export_json(
    request: HttpRequest,
    query: web::Query<FindingsQuery>,
    state: web::Data<AppState>,
    context: PageContext,
) -> Result<HttpResponse, PageError> {
    let visitor = &context.visitor;
    let (filters, lines) = exported(&request, &query, &state, visitor, "json").await?;
    let body =
        serde_json::to_string_pretty(&lines).map_err(|err| PageError::Internal(Box::new(err)))?;
    Ok(attachment(
        "application/json",
        export_name(&filters, "json"),
        body,
    ))
}

/// The page of a finding's subject: its node's, or its object's.
pub fn subject_path(cluster: &str, subject: &SubjectName<'_>) -> String {
    match subject {
        SubjectName::Node(node) => format!("/clusters/{}/nodes/{}", encode(cluster), encode(node)),
        SubjectName::Object {
            kind,
            namespace,
            name,
        } => format!(
            "/clusters/{}/objects/{}/{}/{}",
            encode(cluster),
            encode(kind),
            encode(namespace.unwrap_or(object::CLUSTER_SCOPED)),
            encode(name)
        ),
    }
}

/// One CSV cell (RFC 4180): quoted when it holds a comma, quote or line break; and a cell a spreadsheet would
/// take for a formula (`=`, `+`, `-`, `@`, tab, carriage return first) is prefixed with `'`, since evidence
/// comes from nodes and must not run in an auditor's spreadsheet.
pub fn csv_cell(text: &str) -> String {
    let mut cell = String::with_capacity(text.len() + 2);
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        cell.push('\'');
    }
    cell.push_str(text);
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell
    }
}

#[cfg(test)]
mod tests {
    use super::csv_cell;

    #[test]
    fn csv_cells_are_quoted_and_never_formulas() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("+1"), "'+1");
        assert_eq!(csv_cell("-2"), "'-2");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell(""), "");
    }
}
