//! `/clusters/{cluster}/nodes/{node}/diff`: what changed between two scans of a node: findings opened and
//! resolved, other status changes, and evidence that changed under the same status. Without `from` and `to`,
//! the node's last two scans (as of the page's day).

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use kubeward_benchmark::catalog::compare_ids;
use serde::Deserialize;
use uuid::Uuid;

use super::{Layout, encode, time_text};
use crate::app::standing as read_model;
use crate::domain::cluster::ClusterName;
use crate::shared::AppState;
use crate::storage::scans::{self, ScanResult};
use crate::web::error::PageError;
use crate::web::form::PageContext;
use crate::web::security;

#[derive(Debug, Deserialize)]
pub struct DiffQuery {
    from: Option<String>,
    to: Option<String>,
}

#[derive(Debug)]
pub struct Change {
    pub check: String,
    pub check_link: String,
    pub title: String,
    pub before: String,
    pub after: String,
    pub evidence_before: String,
    pub evidence_after: String,
}

#[derive(Template)]
#[template(path = "diff.html")]
struct DiffPage {
    layout: Layout,
    cluster: String,
    node: String,
    node_link: String,
    from_scan: String,
    from_time: String,
    to_scan: String,
    to_time: String,
    opened: Vec<Change>,
    resolved: Vec<Change>,
    other: Vec<Change>,
    evidence: Vec<Change>,
}

fn failing(status: &str) -> bool {
    matches!(status, "fail" | "warn")
}

fn evidence_text(result: Option<&ScanResult>) -> String {
    result
        .and_then(|result| result.evidence.as_array())
        .map(|items| {
            items
                .iter()
                .map(|item| {
                    format!(
                        "{}: {}",
                        item["subject"].as_str().unwrap_or_default(),
                        item["observed"].as_str().unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

fn scan_id(name: &str, text: &str) -> Result<Uuid, PageError> {
    Uuid::parse_str(text).map_err(|_| PageError::BadRequest(format!("{name}= must be a scan id")))
}

pub async fn show(
    path: web::Path<(String, String)>,
    query: web::Query<DiffQuery>,
    state: web::Data<AppState>,
    context: PageContext,
) -> Result<HttpResponse, PageError> {
    let (cluster, node) = path.into_inner();
    let cluster = ClusterName::parse(&cluster)
        .map_err(|_| PageError::NotFound("this cluster".to_owned()))?
        .to_string();
    let layout = context.layout(format!("Changes on {node}"));
    let moment = layout.moment();
    let mut conn = state.pool.acquire().await?;
    let (_, found) = read_model::node(
        &mut conn,
        layout.standing_moment(),
        state.stale_after,
        &cluster,
        &node,
    )
    .await?
    .ok_or_else(|| PageError::NotFound(format!("node {node} of {cluster} at that time")))?;
    let (from, to) = match (query.from.as_deref(), query.to.as_deref()) {
        (Some(from), Some(to)) => (scan_id("from", from)?, scan_id("to", to)?),
        (None, None) => {
            let latest = scans::latest_of_node(&mut conn, found.id, moment, 2).await?;
            match latest.as_slice() {
                [newest, previous] => (previous.0, newest.0),
                _ => {
                    return Err(PageError::NotFound(format!(
                        "a second scan of {node} to compare with"
                    )));
                }
            }
        }
        _ => {
            return Err(PageError::BadRequest(
                "give both from= and to=, or neither".to_owned(),
            ));
        }
    };
    let mut load = async |id: Uuid| -> Result<(scans::ScanListing, Vec<ScanResult>), PageError> {
        let (scan, results) = scans::results(&mut conn, id)
            .await?
            .ok_or_else(|| PageError::NotFound(format!("scan {id}")))?;
        // A scan of another node is not this page's to show.
        if scan.cluster != cluster || scan.node != node {
            return Err(PageError::NotFound(format!("scan {id} of {node}")));
        }
        Ok((scan, results))
    };
    let (from_scan, from_results) = load(from).await?;
    let (to_scan, to_results) = load(to).await?;
    drop(conn);

    let before: BTreeMap<&str, &ScanResult> = from_results
        .iter()
        .map(|result| (result.check_id.as_str(), result))
        .collect();
    let after: BTreeMap<&str, &ScanResult> = to_results
        .iter()
        .map(|result| (result.check_id.as_str(), result))
        .collect();
    let mut checks: Vec<&str> = before.keys().chain(after.keys()).copied().collect();
    checks.sort_by(|a, b| compare_ids(a, b));
    checks.dedup();
    let (mut opened, mut resolved, mut other, mut evidence) = (vec![], vec![], vec![], vec![]);
    for check in checks {
        let (old, new) = (before.get(check).copied(), after.get(check).copied());
        let status = |result: Option<&ScanResult>| {
            result.map_or_else(|| "absent".to_owned(), |result| result.status.clone())
        };
        let change = Change {
            check: check.to_owned(),
            check_link: layout.link(&format!("/checks/{}", encode(check))),
            title: state
                .catalogs
                .check_title(check)
                .unwrap_or("(unknown check)")
                .to_owned(),
            before: status(old),
            after: status(new),
            evidence_before: evidence_text(old),
            evidence_after: evidence_text(new),
        };
        if change.before != change.after {
            if !failing(&change.before) && failing(&change.after) {
                opened.push(change);
            } else if failing(&change.before) && !failing(&change.after) && change.after != "error"
            {
                resolved.push(change);
            } else {
                other.push(change);
            }
        } else if change.evidence_before != change.evidence_after {
            evidence.push(change);
        }
    }
    let page = DiffPage {
        node_link: layout.link(&format!(
            "/clusters/{}/nodes/{}",
            encode(&cluster),
            encode(&node)
        )),
        from_scan: from_scan.scan_id.to_string(),
        from_time: time_text(from_scan.finished_at),
        to_scan: to_scan.scan_id.to_string(),
        to_time: time_text(to_scan.finished_at),
        cluster,
        node,
        opened,
        resolved,
        other,
        evidence,
        layout,
    };
    Ok(security::page(StatusCode::OK, page.render()?))
}
