//! From an inventory of objects (a live cluster's or a set of manifests) to cluster reports, one per catalog.

use kubeward_benchmark::Status;
use kubeward_benchmark::cluster_report::{
    CLUSTER_SCHEMA_V1, ClusterCheckResult, ClusterInfo, ClusterReport,
};
use kubeward_benchmark::policy::{self, Inventory, PlatformList, PolicyCatalog, Scene};
use kubeward_benchmark::report::AgentInfo;
use time::OffsetDateTime;
use uuid::Uuid;

/// The catalogs evaluated when none is named.
pub const DEFAULT_POLICY_CATALOGS: &[&str] = &["cis-1.12", "kubeward-hardening"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyScanError {
    #[error(transparent)]
    Catalog(#[from] policy::catalog::PolicyCatalogError),
    #[error(transparent)]
    Platform(#[from] policy::platform::PlatformError),
}

/// What to evaluate and how to name it.
#[derive(Debug, Clone)]
pub struct PolicyScanOptions {
    /// Catalog names; empty means [`DEFAULT_POLICY_CATALOGS`].
    pub catalogs: Vec<String>,
    /// The distribution whose platform-owned list applies; `none` judges every object alike.
    pub distribution: String,
    pub kubernetes_version: Option<String>,
    /// How many nodes the cluster has, from a live read.
    pub nodes: Option<u64>,
}

/// Loads the catalogs and the platform list named by the options, so that a typo fails before any work.
pub fn load(
    options: &PolicyScanOptions,
) -> Result<(Vec<PolicyCatalog>, PlatformList), PolicyScanError> {
    let names: Vec<&str> = if options.catalogs.is_empty() {
        DEFAULT_POLICY_CATALOGS.to_vec()
    } else {
        options.catalogs.iter().map(String::as_str).collect()
    };
    let catalogs = names
        .into_iter()
        .map(PolicyCatalog::builtin)
        .collect::<Result<Vec<_>, _>>()?;
    let platform = if options.distribution == "none" {
        PlatformList::none()
    } else {
        PlatformList::builtin(&options.distribution)?
    };
    Ok((catalogs, platform))
}

/// Evaluates every catalog over the inventory; `started_at` is when reading the objects began.
pub fn evaluate(
    inventory: &Inventory,
    catalogs: &[PolicyCatalog],
    platform: &PlatformList,
    options: &PolicyScanOptions,
    started_at: OffsetDateTime,
) -> Vec<ClusterReport> {
    let scene = Scene::new(inventory, platform);
    catalogs
        .iter()
        .map(|catalog| {
            let results = policy::evaluate_catalog(catalog, &scene);
            ClusterReport {
                schema: CLUSTER_SCHEMA_V1.to_owned(),
                scan_id: Uuid::now_v7(),
                agent: AgentInfo {
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                },
                source: inventory.source,
                cluster: ClusterInfo {
                    kubernetes_version: options.kubernetes_version.clone(),
                    distribution: Some(platform.name.clone()),
                    nodes: options.nodes,
                },
                benchmark: catalog.benchmark.clone(),
                started_at,
                finished_at: OffsetDateTime::now_utc(),
                results,
                context: None,
            }
        })
        .collect()
}

/// Whether `--fail-on` trips: on a check whose status (which platform-owned objects never decide) is bad enough.
pub fn trips(reports: &[ClusterReport], bad: impl Fn(Status) -> bool) -> bool {
    reports
        .iter()
        .flat_map(|report| report.results.iter())
        .any(|result: &ClusterCheckResult| bad(result.status))
}
