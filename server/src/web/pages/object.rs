//! `/clusters/{cluster}/objects/{kind}/{namespace}/{name}`: one Kubernetes object a cluster report named
//! (`_` as the namespace of a cluster-scoped one): each of its findings with the evidence of that moment, the
//! field that decided, the remediation, and the object's history.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::{Layout, encode, text_of, time_text};
use crate::domain::cluster::ClusterName;
use crate::domain::object::stored_namespace;
use crate::shared::AppState;
use crate::storage::findings::{self, FindingDetail, FindingFilter};
use crate::storage::{clusters, policies};
use crate::web::error::PageError;
use crate::web::form::PageContext;
use crate::web::security;

/// One piece of an object's evidence: every field is text from the cluster, escaped by the template.
#[derive(Debug)]
pub struct EvidenceLine {
    pub subject: String,
    pub path: String,
    pub observed: String,
    pub expected: String,
}

#[derive(Debug)]
pub struct FindingBlock {
    pub check: String,
    pub check_link: String,
    pub title: String,
    pub state: String,
    pub state_since: String,
    pub first_seen: String,
    pub last_seen: String,
    pub reopened: i32,
    pub ticket: String,
    pub evidence: Vec<EvidenceLine>,
    pub detail: Option<String>,
    /// `list version: reason` when a platform-owned list names the object.
    pub platform: Option<String>,
    /// The exception waiving this open finding at the page's moment, with its link.
    pub waived_by: Option<(i64, String)>,
    pub remediation: String,
}

#[derive(Debug)]
pub struct HistoryRow {
    pub at: String,
    pub kind: String,
    pub check: String,
}

#[derive(Template)]
#[template(path = "object.html")]
struct ObjectPage {
    layout: Layout,
    cluster: String,
    cluster_link: String,
    kind: String,
    namespace: Option<String>,
    name: String,
    first_seen: String,
    findings: Vec<FindingBlock>,
    history: Vec<HistoryRow>,
}

fn evidence_lines(value: Option<&serde_json::Value>) -> Vec<EvidenceLine> {
    value
        .and_then(serde_json::Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|item| EvidenceLine {
                    subject: text_of(&item["subject"]),
                    path: text_of(&item["path"]),
                    observed: text_of(&item["observed"]),
                    expected: text_of(&item["expected"]),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn platform_text(value: Option<&serde_json::Value>) -> Option<String> {
    let mark = value?;
    Some(format!(
        "{} {}: {}",
        text_of(&mark["list"]),
        text_of(&mark["version"]),
        text_of(&mark["reason"])
    ))
}

pub async fn show(
    path: web::Path<(String, String, String, String)>,
    state: web::Data<AppState>,
    context: PageContext,
) -> Result<HttpResponse, PageError> {
    let (cluster, kind, namespace, name) = path.into_inner();
    let cluster_name =
        ClusterName::parse(&cluster).map_err(|_| PageError::NotFound("this cluster".to_owned()))?;
    let cluster = cluster_name.to_string();
    let namespace = stored_namespace(&namespace).to_owned();
    let label = if namespace.is_empty() {
        format!("{kind} {name}")
    } else {
        format!("{kind} {namespace}/{name}")
    };
    let layout = context.layout(label.clone());
    let moment = layout.moment();
    let mut conn = state.pool.acquire().await?;
    let not_found = || PageError::NotFound(format!("{label} in cluster {cluster}"));
    let cluster_id = clusters::find_by_name(&mut conn, &cluster_name)
        .await?
        .ok_or_else(not_found)?
        .id;
    let object = policies::object(&mut conn, cluster_id, &kind, &namespace, &name)
        .await?
        .filter(|object| object.first_seen <= moment)
        .ok_or_else(not_found)?;
    let filter = FindingFilter {
        cluster: Some(cluster.clone()),
        kind: Some(kind.clone()),
        namespace: Some(namespace.clone()),
        object: Some(name.clone()),
        ..FindingFilter::default()
    };
    let rows: Vec<FindingDetail> = match &context.as_of {
        None => findings::page(&mut conn, &filter, 0, 1000).await?,
        Some(as_of) => findings::page_as_of(&mut conn, &filter, as_of.end, 0, 1000).await?,
    };
    let events = policies::object_events(&mut conn, object.id, moment).await?;
    drop(conn);

    let mut blocks: Vec<FindingBlock> = rows
        .iter()
        .map(|row| {
            let check = row
                .benchmark_id
                .as_ref()
                .zip(row.benchmark_version.as_ref())
                .and_then(|(id, version)| {
                    state.catalogs.describe(
                        &kubeward_benchmark::report::BenchmarkRef {
                            id: id.clone(),
                            version: version.clone(),
                        },
                        &row.check_id,
                    )
                });
            FindingBlock {
                check_link: layout.link(&format!("/checks/{}", encode(&row.check_id))),
                check: row.check_id.clone(),
                title: check.map_or_else(|| "(unknown check)".to_owned(), |c| c.title.to_owned()),
                state: row.state.clone(),
                state_since: time_text(row.state_since),
                first_seen: time_text(row.first_seen),
                last_seen: row.last_seen.map(time_text).unwrap_or_default(),
                reopened: row.reopen_count,
                ticket: row.ticket_key.clone().unwrap_or_default(),
                evidence: evidence_lines(row.evidence.as_ref()),
                detail: row.detail.clone(),
                platform: platform_text(row.platform.as_ref()),
                waived_by: row
                    .exception_id
                    .map(|id| (id, layout.link(&format!("/exceptions/{id}")))),
                remediation: check.map(|c| c.remediation.to_owned()).unwrap_or_default(),
            }
        })
        .collect();
    // Open findings first, then by check.
    blocks.sort_by(|a, b| (a.state != "open", &a.check).cmp(&(b.state != "open", &b.check)));
    let page = ObjectPage {
        cluster_link: layout.link(&format!("/clusters/{}", encode(&cluster))),
        kind: object.kind,
        namespace: (!object.namespace.is_empty()).then_some(object.namespace),
        name: object.name,
        first_seen: time_text(object.first_seen),
        findings: blocks,
        history: events
            .into_iter()
            .map(|event| HistoryRow {
                at: time_text(event.at),
                kind: event.kind,
                check: event.check_id,
            })
            .collect(),
        cluster,
        layout,
    };
    Ok(security::page(StatusCode::OK, page.render()?))
}
