//! The cluster report wire format (`kubeward/cluster-report/v1`): one cluster-scope scan against one catalog.
//!
//! Printed by `kubeward-agent cluster|manifests --format json` and posted to the server like node reports.
//! Field names are a contract: add fields, never rename them. Titles and remediation come from the catalogs,
//! never from the report.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::report::{AgentInfo, BenchmarkRef, Status};
use crate::text::Text;

/// The value of the `schema` field of every cluster report.
pub const CLUSTER_SCHEMA_V1: &str = "kubeward/cluster-report/v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterReport {
    pub schema: String,
    pub scan_id: Uuid,
    pub agent: AgentInfo,
    pub source: Source,
    pub cluster: ClusterInfo,
    pub benchmark: BenchmarkRef,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub finished_at: OffsetDateTime,
    pub results: Vec<ClusterCheckResult>,
    /// From a live cluster, in the first report of a run: the objects a manifest check needs of the cluster
    /// (namespaces and their labels, network policies, service accounts, roles and bindings, quotas), which
    /// the server serves to CI. See `policy::context`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<crate::policy::context::ClusterContext>,
}

/// Where the objects came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A live cluster, read through its API.
    Api,
    /// Manifest files, before they are deployed.
    Manifests,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    /// The distribution whose platform-owned list was applied (`kubernetes` when none was recognised).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution: Option<String>,
    /// How many nodes the cluster has, as the cluster agent counted them: the server shows how many of them
    /// report beside the score. Absent when the agent could not list nodes, and from manifest scans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterCheckResult {
    pub check: String,
    /// The worst status of the objects that are not platform-owned; `pass` when none fails,
    /// `not_applicable` when nothing was evaluated.
    pub status: Status,
    /// How many objects the check looked at.
    pub evaluated: u64,
    /// Every object whose result is not `pass`: failing, unknown, or platform-owned.
    #[serde(default)]
    pub objects: Vec<ObjectResult>,
    /// Why the whole check is what it is, when no object says it (a kind the agent may not list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectResult {
    pub kind: Text,
    /// Absent for cluster-scoped kinds, and for manifests that leave the namespace to deploy time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<Text>,
    pub name: Text,
    pub status: Status,
    #[serde(default)]
    pub evidence: Vec<ObjectEvidence>,
    /// The missing fact, for `manual`; the reason, for `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Text>,
    /// Where the object is written, for `source: manifests` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// Set when the object is on a platform-owned list: shown in its own bucket, never as a pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<PlatformMark>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectEvidence {
    /// What was inspected: `container app (init)`, `volume docker`, `subject ServiceAccount ci/deployer`.
    pub subject: Text,
    /// The field that decided, as a path into the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<Text>,
    pub observed: Text,
    pub expected: Text,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    pub file: Text,
    pub line: u64,
}

/// Which platform-owned list named the object, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformMark {
    pub list: Text,
    pub version: Text,
    pub reason: Text,
}
