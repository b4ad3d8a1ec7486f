//! Two node facts the cluster checks need and no CIS node check reports: the container runtime the kubelet
//! talks to (containerd grants NET_RAW to every container unless it is dropped, CRI-O does not: CIS 5.2.8),
//! and the Pod Security defaults the API server applies to a namespace without labels (its admission
//! configuration: CIS 5.2.1 and the policy part of 5.2.x). The server decides those cluster results from them.
//!
//! Neither is ever guessed: a kubelet that names no endpoint, or an admission file that cannot be read,
//! leaves the fact out of the report, and the cluster result stays `manual` naming what is missing.

use kubeward_benchmark::NodeFacts;
use kubeward_benchmark::facts::{Component, ProcessFacts};
use kubeward_benchmark::report::PodSecurityDefaults;
use serde_json::Value;

use crate::configs::{config_path, last_flag};
use crate::documents::parse_mapping;
use crate::host::HostFs;

/// The runtime behind the kubelet's `containerRuntimeEndpoint` (the flag wins over the config files, the
/// last config layer over earlier ones, as the kubelet merges them).
pub fn container_runtime(facts: &NodeFacts) -> Option<String> {
    let kubelet = facts.processes.get(&Component::Kubelet)?;
    let endpoint = last_flag(kubelet, "container-runtime-endpoint")
        .map(str::to_owned)
        .or_else(|| {
            kubelet.config_layers.iter().rev().find_map(|layer| {
                layer
                    .content
                    .as_ref()
                    .ok()?
                    .get("containerRuntimeEndpoint")?
                    .as_str()
                    .map(str::to_owned)
            })
        })?;
    Some(runtime_of(&endpoint))
}

/// `containerd`, `cri-o` or `docker` from an endpoint; any other endpoint as written (shortened), which the
/// server reads as an unknown runtime.
pub fn runtime_of(endpoint: &str) -> String {
    let lower = endpoint.to_ascii_lowercase();
    if lower.contains("crio") || lower.contains("cri-o") {
        "cri-o".to_owned()
    } else if lower.contains("containerd") {
        "containerd".to_owned()
    } else if lower.contains("docker") {
        "docker".to_owned()
    } else {
        endpoint.chars().take(200).collect()
    }
}

/// The API server's Pod Security defaults: `None` on a node without an API server, or when its admission
/// configuration cannot be read.
pub fn pod_security_defaults(host: &HostFs, facts: &NodeFacts) -> Option<PodSecurityDefaults> {
    let apiserver = facts.processes.get(&Component::KubeApiserver)?;
    if disables_pod_security(apiserver) {
        return Some(PodSecurityDefaults {
            enforce: "privileged".to_owned(),
            source:
                "--disable-admission-plugins turns PodSecurity off: nothing is enforced by default"
                    .to_owned(),
        });
    }
    let Some(file) = last_flag(apiserver, "admission-control-config-file") else {
        return Some(PodSecurityDefaults {
            enforce: "privileged".to_owned(),
            source: "no --admission-control-config-file: the built-in default".to_owned(),
        });
    };
    let document = read_document(host, file)?;
    let plugin = document
        .get("plugins")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|plugin| plugin.get("name").and_then(Value::as_str) == Some("PodSecurity"));
    let Some(plugin) = plugin else {
        return Some(PodSecurityDefaults {
            enforce: "privileged".to_owned(),
            source: format!("{file} configures no PodSecurity plugin: the built-in default"),
        });
    };
    let (configuration, source) = match plugin.get("configuration") {
        Some(inline) => (inline.clone(), file.to_owned()),
        None => {
            let path = config_path(file, plugin.get("path").and_then(Value::as_str)?);
            (read_document(host, &path)?, path)
        }
    };
    let enforce = match configuration.get("defaults").and_then(|d| d.get("enforce")) {
        None => "privileged",
        Some(Value::String(level)) => level.as_str(),
        Some(_) => return None,
    };
    matches!(enforce, "privileged" | "baseline" | "restricted").then(|| PodSecurityDefaults {
        enforce: enforce.to_owned(),
        source,
    })
}

fn disables_pod_security(apiserver: &ProcessFacts) -> bool {
    last_flag(apiserver, "disable-admission-plugins").is_some_and(|plugins| {
        plugins
            .split(',')
            .any(|plugin| plugin.trim() == "PodSecurity")
    })
}

fn read_document(host: &HostFs, path: &str) -> Option<Value> {
    match host
        .read(path)
        .map_err(|err| err.to_string())
        .and_then(|bytes| parse_mapping(&bytes))
    {
        Ok(document) => Some(document),
        Err(err) => {
            tracing::warn!(path, error = %err, "cannot read the API server's admission configuration");
            None
        }
    }
}
