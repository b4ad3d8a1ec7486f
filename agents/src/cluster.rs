//! A live cluster read through the Kubernetes API: one paginated LIST per kind (`limit` + `continue`,
//! restarted from the start on 410 Gone), each page turned into objects as it arrives, with the fields no
//! check reads (managed fields, most status) dropped at once so that a large cluster stays small in memory.
//!
//! A kind the agent's role may not list is recorded with the permission it lacks, and the checks that read
//! it come out as `error` naming that permission: never a silent pass. Optional kinds (policy engines and
//! CNI policies whose CRDs may not be installed) are skipped when the API does not know them.

use std::path::PathBuf;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use kubeward_benchmark::cluster_report::Source;
use kubeward_benchmark::policy::{Inventory, Object};

use crate::keep::Keeper;
use crate::page::read_page;
use serde_json::Value;

/// A kind the cluster agent lists, and where.
#[derive(Debug, Clone, Copy)]
pub struct ListedKind {
    pub kind: &'static str,
    /// The API group ("" for the core group), for the permission an error names.
    pub group: &'static str,
    pub resource: &'static str,
    /// The collection path, e.g. `/apis/apps/v1/deployments`.
    pub path: &'static str,
    /// A CRD that may not be installed: a 404 means "not in this cluster".
    pub optional: bool,
}

const fn listed(
    kind: &'static str,
    group: &'static str,
    resource: &'static str,
    path: &'static str,
    optional: bool,
) -> ListedKind {
    ListedKind {
        kind,
        group,
        resource,
        path,
        optional,
    }
}

/// The cluster's nodes, which are counted (for coverage), never read by a check. The ClusterRole grants
/// get/list on them beside [`LISTED_KINDS`].
pub const NODES: ListedKind = listed("Node", "", "nodes", "/api/v1/nodes", true);

/// Every kind the checks read. The cluster agent's ClusterRole grants get/list on exactly these (a test
/// compares the two); Secrets are never among them. Controllers come before what they own, so that a
/// ReplicaSet or a pod whose controller is already kept shrinks to its name and owner (see [`Keeper`]).
pub const LISTED_KINDS: &[ListedKind] = &[
    listed("Namespace", "", "namespaces", "/api/v1/namespaces", false),
    listed(
        "Deployment",
        "apps",
        "deployments",
        "/apis/apps/v1/deployments",
        false,
    ),
    listed(
        "StatefulSet",
        "apps",
        "statefulsets",
        "/apis/apps/v1/statefulsets",
        false,
    ),
    listed(
        "DaemonSet",
        "apps",
        "daemonsets",
        "/apis/apps/v1/daemonsets",
        false,
    ),
    listed(
        "CronJob",
        "batch",
        "cronjobs",
        "/apis/batch/v1/cronjobs",
        false,
    ),
    listed(
        "ReplicationController",
        "",
        "replicationcontrollers",
        "/api/v1/replicationcontrollers",
        false,
    ),
    listed(
        "ReplicaSet",
        "apps",
        "replicasets",
        "/apis/apps/v1/replicasets",
        false,
    ),
    listed("Job", "batch", "jobs", "/apis/batch/v1/jobs", false),
    listed("Pod", "", "pods", "/api/v1/pods", false),
    listed(
        "PodTemplate",
        "",
        "podtemplates",
        "/api/v1/podtemplates",
        false,
    ),
    listed("Service", "", "services", "/api/v1/services", false),
    listed(
        "ServiceAccount",
        "",
        "serviceaccounts",
        "/api/v1/serviceaccounts",
        false,
    ),
    listed(
        "LimitRange",
        "",
        "limitranges",
        "/api/v1/limitranges",
        false,
    ),
    listed(
        "ResourceQuota",
        "",
        "resourcequotas",
        "/api/v1/resourcequotas",
        false,
    ),
    // Only the default namespace's ConfigMaps: 5.6.4 is all that reads them.
    listed(
        "ConfigMap",
        "",
        "configmaps",
        "/api/v1/namespaces/default/configmaps",
        false,
    ),
    listed(
        "NetworkPolicy",
        "networking.k8s.io",
        "networkpolicies",
        "/apis/networking.k8s.io/v1/networkpolicies",
        false,
    ),
    listed(
        "Role",
        "rbac.authorization.k8s.io",
        "roles",
        "/apis/rbac.authorization.k8s.io/v1/roles",
        false,
    ),
    listed(
        "RoleBinding",
        "rbac.authorization.k8s.io",
        "rolebindings",
        "/apis/rbac.authorization.k8s.io/v1/rolebindings",
        false,
    ),
    listed(
        "ClusterRole",
        "rbac.authorization.k8s.io",
        "clusterroles",
        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        false,
    ),
    listed(
        "ClusterRoleBinding",
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        false,
    ),
    // Policy engines and CNI policies, where their CRDs are installed.
    listed(
        "CiliumNetworkPolicy",
        "cilium.io",
        "ciliumnetworkpolicies",
        "/apis/cilium.io/v2/ciliumnetworkpolicies",
        true,
    ),
    listed(
        "CiliumClusterwideNetworkPolicy",
        "cilium.io",
        "ciliumclusterwidenetworkpolicies",
        "/apis/cilium.io/v2/ciliumclusterwidenetworkpolicies",
        true,
    ),
    listed(
        "GlobalNetworkPolicy",
        "crd.projectcalico.org",
        "globalnetworkpolicies",
        "/apis/crd.projectcalico.org/v1/globalnetworkpolicies",
        true,
    ),
    listed(
        "ClusterPolicy",
        "kyverno.io",
        "clusterpolicies",
        "/apis/kyverno.io/v1/clusterpolicies",
        true,
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot read the kubeconfig: {0}")]
    Kubeconfig(String),
    #[error(
        "not running in a pod with a service account ({0}); give --kubeconfig (and --context) to scan from outside"
    )]
    InCluster(String),
    #[error("cannot build a Kubernetes client: {0}")]
    Client(String),
    #[error("listing {kind} failed: {message}")]
    List { kind: &'static str, message: String },
}

/// How to reach the API server.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
}

impl Connection {
    /// The in-cluster service account unless a kubeconfig or a context is named.
    pub async fn client(&self) -> Result<Client, ClusterError> {
        let config = if self.kubeconfig.is_some() || self.context.is_some() {
            let kubeconfig = match &self.kubeconfig {
                Some(path) => Kubeconfig::read_from(path),
                None => Kubeconfig::read(),
            }
            .map_err(|err| ClusterError::Kubeconfig(err.to_string()))?;
            let options = KubeConfigOptions {
                context: self.context.clone(),
                ..KubeConfigOptions::default()
            };
            Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|err| ClusterError::Kubeconfig(err.to_string()))?
        } else {
            Config::incluster().map_err(|err| ClusterError::InCluster(err.to_string()))?
        };
        Client::try_from(config).map_err(|err| ClusterError::Client(err.to_string()))
    }
}

/// What a read of the cluster found.
#[derive(Debug)]
pub struct ClusterRead {
    pub inventory: Inventory,
    pub kubernetes_version: Option<String>,
    /// How many nodes the cluster has; `None` when the agent could not count them.
    pub nodes: Option<u64>,
    /// LIST requests made, for the log and the benchmark.
    pub requests: usize,
}

/// How many times a list restarts after its continue token expired (410 Gone) before giving up.
const MAX_RESTARTS: usize = 3;

enum ListFailure {
    Forbidden(String),
    NotFound,
    Other(String),
}

pub async fn read_cluster(client: &Client, page_size: u32) -> Result<ClusterRead, ClusterError> {
    let kubernetes_version = version(client).await;
    let mut objects = Vec::new();
    let mut forbidden = std::collections::BTreeMap::new();
    let mut requests = 0;
    let mut keeper = Keeper::default();
    for listed in LISTED_KINDS {
        match list_kind(
            client,
            listed,
            page_size,
            &mut keeper,
            &mut objects,
            &mut requests,
        )
        .await
        {
            Ok(()) | Err(ListFailure::NotFound) => {}
            Err(ListFailure::Forbidden(message)) => {
                let group = if listed.group.is_empty() {
                    "\"\" (core)"
                } else {
                    listed.group
                };
                let needed = format!(
                    "the agent may not list {} (needs get and list on {} in API group {group}): {message}",
                    listed.resource, listed.resource
                );
                tracing::warn!(kind = listed.kind, "{needed}");
                if !listed.optional {
                    forbidden.insert(listed.kind.to_owned(), needed);
                }
            }
            Err(ListFailure::Other(message)) => {
                return Err(ClusterError::List {
                    kind: listed.kind,
                    message,
                });
            }
        }
    }
    let nodes = count_nodes(client, page_size, &mut requests).await;
    let mut inventory = Inventory::new(Source::Api, objects);
    inventory.forbidden = forbidden;
    Ok(ClusterRead {
        inventory,
        kubernetes_version,
        nodes,
        requests,
    })
}

/// Reads the cluster from synchronous code: a small runtime for the duration of the read.
pub fn read_blocking(connection: &Connection, page_size: u32) -> Result<ClusterRead, ClusterError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| ClusterError::Client(format!("cannot start the I/O runtime: {err}")))?;
    runtime.block_on(async {
        let client = connection.client().await?;
        read_cluster(&client, page_size).await
    })
}

async fn version(client: &Client) -> Option<String> {
    let request = http::Request::get("/version").body(Vec::new()).ok()?;
    let value: Value = client.request(request).await.ok()?;
    value
        .get("gitVersion")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Lists one kind page by page into `objects`; on 410 Gone the pages read so far are dropped and the list
/// starts over, since a continue token is only valid for one consistent snapshot.
async fn list_kind(
    client: &Client,
    listed: &ListedKind,
    page_size: u32,
    keeper: &mut Keeper,
    objects: &mut Vec<Object>,
    requests: &mut usize,
) -> Result<(), ListFailure> {
    let start = objects.len();
    let api_version = api_version_of(listed.path);
    // The sink and the restart both need the object list: they take turns through a cell.
    let objects = std::cell::RefCell::new(objects);
    list_pages(
        client,
        listed,
        page_size,
        requests,
        &mut || objects.borrow_mut().truncate(start),
        &mut |item: Value| match keeper.object(item, listed.kind, &api_version) {
            None => {}
            Some(Ok(object)) => objects.borrow_mut().push(object),
            Some(Err(err)) => tracing::warn!(
                kind = listed.kind,
                "an item of the list is not an object: {err}"
            ),
        },
    )
    .await
}

/// Pages through one list, giving each item to `on_item`; `on_restart` drops what the pages read so far
/// gave when an expired continue token (410 Gone) makes the list start over.
async fn list_pages(
    client: &Client,
    listed: &ListedKind,
    page_size: u32,
    requests: &mut usize,
    on_restart: &mut dyn FnMut(),
    on_item: &mut dyn FnMut(Value),
) -> Result<(), ListFailure> {
    let mut restarts = 0;
    let mut token: Option<String> = None;
    loop {
        let mut url = format!("{}?limit={page_size}", listed.path);
        if let Some(token) = &token {
            url.push_str("&continue=");
            url.push_str(&percent_encode(token));
        }
        let request = http::Request::get(url)
            .body(Vec::new())
            .map_err(|err| ListFailure::Other(err.to_string()))?;
        *requests += 1;
        let text = match client.request_text(request).await {
            Ok(text) => text,
            Err(kube::Error::Api(status)) if status.code == 410 && restarts < MAX_RESTARTS => {
                restarts += 1;
                tracing::info!(
                    kind = listed.kind,
                    restarts,
                    "the list's continue token expired; listing again"
                );
                on_restart();
                token = None;
                continue;
            }
            Err(kube::Error::Api(status)) if status.code == 403 => {
                return Err(ListFailure::Forbidden(status.message.clone()));
            }
            Err(kube::Error::Api(status)) if status.code == 404 => {
                return Err(ListFailure::NotFound);
            }
            Err(err) => return Err(ListFailure::Other(err.to_string())),
        };
        let next = read_page(&text, listed.kind == "Service", on_item)
            .map_err(|err| ListFailure::Other(format!("the list is not valid JSON: {err}")))?
            .next;
        match next {
            Some(next) => token = Some(next),
            None => return Ok(()),
        }
    }
}

/// How many nodes the cluster has, for the coverage pages show beside the score (nodes reporting against
/// nodes there are). Counted page by page and never kept; `None`, with a warning, when the agent may not
/// list nodes or the list fails: the scan itself does not depend on it.
async fn count_nodes(client: &Client, page_size: u32, requests: &mut usize) -> Option<u64> {
    let counter = std::cell::Cell::new(0u64);
    let listed = list_pages(
        client,
        &NODES,
        page_size,
        requests,
        &mut || counter.set(0),
        &mut |_| counter.set(counter.get() + 1),
    )
    .await;
    match listed {
        Ok(()) => Some(counter.get()),
        Err(ListFailure::Forbidden(message)) => {
            tracing::warn!(
                "the agent may not list nodes (needs get and list on nodes in API group \"\" (core)), so \
                 coverage is unknown: {message}"
            );
            None
        }
        Err(ListFailure::NotFound) => None,
        Err(ListFailure::Other(message)) => {
            tracing::warn!(
                "counting the cluster's nodes failed, so coverage is unknown: {message}"
            );
            None
        }
    }
}

/// The `apiVersion` of the objects of a collection path: `v1` for `/api/v1/pods`, `apps/v1` for
/// `/apis/apps/v1/deployments` (list items carry none of their own).
fn api_version_of(path: &str) -> String {
    let (rest, segments) = match path.strip_prefix("/apis/") {
        Some(rest) => (rest, 2),
        None => (path.strip_prefix("/api/").unwrap_or(path), 1),
    };
    rest.split('/').take(segments).collect::<Vec<_>>().join("/")
}

/// Encodes a continue token for a query string (tokens are base64 and may hold `+`, `/` and `=`).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The distribution a version string names (`v1.31.4-eks-2d98532`, `v1.30.6+k3s1`, `v1.30.6+rke2r1`,
/// `v1.30.5-gke.1014001`). AKS, OpenShift and kubeadm versions carry no such mark: `--distribution` names them.
pub fn distribution_of(version: Option<&str>) -> &'static str {
    match version {
        Some(version) if version.contains("-eks-") => "eks",
        Some(version) if version.contains("+k3s") => "k3s",
        Some(version) if version.contains("+rke2") => "rke2",
        Some(version) if version.contains("-gke.") => "gke",
        _ => "kubernetes",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_are_encoded_for_the_query_string() {
        assert_eq!(percent_encode("eyJ2Ijoi+/=="), "eyJ2Ijoi%2B%2F%3D%3D");
    }

    #[test]
    fn the_distribution_is_read_from_the_version_suffix() {
        assert_eq!(distribution_of(Some("v1.31.4-eks-2d98532")), "eks");
        assert_eq!(distribution_of(Some("v1.30.6+k3s1")), "k3s");
        assert_eq!(distribution_of(Some("v1.30.6+rke2r1")), "rke2");
        assert_eq!(distribution_of(Some("v1.30.5-gke.1014001")), "gke");
        assert_eq!(distribution_of(Some("v1.33.2")), "kubernetes");
        assert_eq!(distribution_of(None), "kubernetes");
    }

    #[test]
    fn every_listed_path_names_its_api_version() {
        assert_eq!(api_version_of("/api/v1/pods"), "v1");
        assert_eq!(api_version_of("/apis/apps/v1/deployments"), "apps/v1");
        assert_eq!(
            api_version_of("/api/v1/namespaces/default/configmaps"),
            "v1"
        );
        for listed in LISTED_KINDS {
            let version = api_version_of(listed.path);
            assert!(
                version == "v1" || version.starts_with(&format!("{}/", listed.group)),
                "{} gives {version}",
                listed.path
            );
        }
    }

    #[test]
    fn no_listed_kind_is_a_secret() {
        assert!(
            LISTED_KINDS
                .iter()
                .all(|listed| listed.resource != "secrets")
        );
    }
}
