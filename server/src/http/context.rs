//! `GET /api/v1/clusters/{name}/context`: a cluster's newest context, for manifest checks in CI
//! (`kubeward-agent manifests --context-from`). The objects are as the cluster agent sent them, trimmed to what
//! the checks read (see `kubeward_benchmark::policy::context`); never a Secret's data. Beside them, what the
//! cluster's nodes said of the facts no manifest holds (`kubeward_benchmark::policy::node_facts`), so that CI
//! decides those checks as the server does when the cluster scan arrives.

use actix_web::{HttpResponse, web};
use time::OffsetDateTime;

use super::api::{at_param, bad};
use super::problem::ApiError;
use super::query::{ApiQuery, ContextQuery};
use crate::app::ingest::cross_layer::facts_of_nodes;
use crate::app::views::{ClusterContextView, ContextObjects, NodeFactView, time_text};
use crate::domain::cluster::ClusterName;
use crate::shared::AppState;
use crate::storage::{cluster_scans, clusters};

#[utoipa::path(
    get, path = "/api/v1/clusters/{name}/context", tag = "clusters",
    params(("name" = String, Path, description = "Cluster name"), ContextQuery),
    responses(
        (status = 200, description = "The cluster's newest context by the moment", body = ClusterContextView),
        (status = 404, description = "No such cluster, or it has sent no context by then", body = crate::app::views::Problem, content_type = "application/problem+json")
    )
)]
pub async fn cluster_context(
    path: web::Path<String>,
    ApiQuery(query): ApiQuery<ContextQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let name = ClusterName::parse(&path).map_err(|err| bad("name", err.to_string()))?;
    let at = at_param(query.at.as_deref())?.unwrap_or_else(OffsetDateTime::now_utc);
    let mut conn = state.pool.acquire().await?;
    let cluster = clusters::find_by_name(&mut conn, &name)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("cluster {name}")))?;
    let row = cluster_scans::latest_context(&mut conn, cluster.id, at)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "a context of cluster {name} (its cluster agent has sent none by then; the agent of \
                 kubeward-agent run --cluster sends it with each run)"
            ))
        })?;
    let node_facts = facts_of_nodes(
        &mut conn,
        &state.catalogs.policy_fact_checks(),
        cluster.id,
        at,
    )
    .await?
    .into_iter()
    .map(|fact| NodeFactView {
        node: fact.node,
        control_plane: fact.control_plane,
        check: fact.check,
        status: fact.status,
        observed: fact.observed,
    })
    .collect();
    let objects = match row.objects {
        serde_json::Value::Array(objects) => objects,
        _ => Vec::new(),
    };
    Ok(HttpResponse::Ok().json(ClusterContextView {
        cluster: name.to_string(),
        scan_id: row.scan_id,
        scanned_at: time_text(row.scanned_at),
        object_count: i64::from(row.object_count),
        context: ContextObjects { objects },
        node_facts,
    }))
}
