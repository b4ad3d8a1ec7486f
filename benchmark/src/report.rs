//! The report wire format v1: one node's scan against one benchmark.
//!
//! Field names are a contract shared by every agent and server version: add fields, never rename them.
//! Validation of untrusted reports lives in [`crate::validate`]; this module only defines the shapes.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// The value of the `schema` field of every v1 report.
pub const SCHEMA_V1: &str = "kubeward/report/v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    /// Chosen by the agent; the server's idempotency key.
    pub scan_id: Uuid,
    pub agent: AgentInfo,
    pub node: NodeInfo,
    pub benchmark: BenchmarkRef,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub finished_at: OffsetDateTime,
    pub results: Vec<CheckResult>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInfo {
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub name: String,
    pub roles: Vec<NodeRole>,
    /// Unknown when the agent cannot tell without running the kubelet binary.
    #[serde(default)]
    pub kubelet_version: Option<String>,
    /// The runtime the kubelet talks to (`containerd`, `cri-o`, `docker`, or its endpoint as written), from its
    /// `containerRuntimeEndpoint`; absent when the kubelet does not name one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_runtime: Option<String>,
    /// On a node running the API server: the Pod Security level it enforces on namespaces without a label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_security_defaults: Option<PodSecurityDefaults>,
    /// The distribution the agent recognised, the signals that decided it, and the files it followed:
    /// why this report is judged by its benchmark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// The platform fingerprint of a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// `kubeadm`, `eks`, `aks`, `gke`, `k3s`, `rke2`, `openshift`, or `unknown` when no Kubernetes component
    /// was found at all.
    pub distribution: String,
    /// The node image family where it matters for paths (`al2`, `al2023`, `bottlerocket`, `cos`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// How the benchmark was chosen: `auto` (from the signals) or `override` (`--benchmark ID`).
    pub choice: String,
    /// Every signal seen, for and against the choice.
    #[serde(default)]
    pub signals: Vec<PlatformSignal>,
    /// The configuration files the agent followed to read the components' settings.
    #[serde(default)]
    pub followed: Vec<String>,
    /// Why the choice is uncertain: signals that point at different distributions, an override that
    /// disagrees with them, or no Kubernetes component on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncertain: Option<String>,
}

/// One observation that points at a distribution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformSignal {
    /// The distribution it points at.
    pub distribution: String,
    /// What was seen, where (`process 812 /home/kubernetes/bin/kubelet`, `file /etc/eks`).
    pub observed: String,
}

/// The API server's Pod Security admission defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodSecurityDefaults {
    /// `privileged`, `baseline` or `restricted`.
    pub enforce: String,
    /// Where it comes from: the admission configuration file, or why it is the built-in default.
    pub source: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeRole {
    ControlPlane,
    Etcd,
    Worker,
}

impl NodeRole {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeRole::ControlPlane => "control-plane",
            NodeRole::Etcd => "etcd",
            NodeRole::Worker => "worker",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BenchmarkRef {
    pub id: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    pub check: String,
    pub status: Status,
    #[serde(default)]
    pub evidence: Vec<Evidence>,
    /// Why the result is what it is when evidence alone does not say (errors, not applicable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// What was inspected: a file path, or a process and its setting.
    pub subject: String,
    pub observed: String,
    pub expected: String,
    /// Where the observed value came from (command line, a config file, a drop-in, a default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// The six verdicts of the wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// An Automated check whose test passed, or a Manual check whose test passed.
    Pass,
    /// An Automated check whose test failed.
    Fail,
    /// A Manual check whose test failed.
    Warn,
    /// The benchmark gives no automatable test: a person must judge.
    Manual,
    /// What the check is about is not on this node.
    NotApplicable,
    /// The agent could not read what it needed.
    Error,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Pass,
        Status::Fail,
        Status::Warn,
        Status::Manual,
        Status::NotApplicable,
        Status::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Warn => "warn",
            Status::Manual => "manual",
            Status::NotApplicable => "not_applicable",
            Status::Error => "error",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
