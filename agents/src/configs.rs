//! The config files a running component reads, as layers the evaluator merges: the kubelet's `--config` file
//! and `--config-dir` drop-ins, kube-proxy's `--config`, the API server's `--authorization-config`.

use std::path::{Path, PathBuf};

use kubeward_benchmark::facts::{ConfigLayer, LayerKind, ProcessFacts};
use serde_json::{Value, json};

use crate::documents::parse_mapping;
use crate::host::HostFs;
use crate::redact::redact_document;

/// The last value of a flag, as the component's flag library keeps it.
pub fn last_flag<'a>(process: &'a ProcessFacts, name: &str) -> Option<&'a str> {
    process
        .flags
        .iter()
        .rfind(|flag| flag.name == name)
        .and_then(|flag| flag.value.as_deref())
        .filter(|value| !value.is_empty())
}

fn layer(host: &HostFs, path: &str, kind: LayerKind) -> ConfigLayer {
    let content = host
        .read(path)
        .map_err(|err| err.to_string())
        .and_then(|bytes| parse_mapping(&bytes))
        .map(|mut document| {
            redact_document(&mut document);
            document
        });
    ConfigLayer {
        path: path.to_owned(),
        kind,
        content,
    }
}

/// The kubelet's layers: the `--config` file, then the `.conf` files of `--config-dir` in name order, which
/// is the order the kubelet merges them in (later ones win).
pub fn kubelet_layers(host: &HostFs, kubelet: &ProcessFacts) -> Vec<ConfigLayer> {
    let mut layers = Vec::new();
    if let Some(path) = last_flag(kubelet, "config") {
        layers.push(layer(host, path, LayerKind::ConfigFile));
    }
    if let Some(dir) = last_flag(kubelet, "config-dir") {
        match host.list(dir) {
            Ok((_, names)) => {
                for name in names.iter().filter(|name| name.ends_with(".conf")) {
                    let path = join_host(dir, name);
                    layers.push(layer(host, &path, LayerKind::DropIn));
                }
            }
            Err(err) if err.is_not_found() => {
                tracing::info!(
                    dir,
                    "the kubelet's --config-dir does not exist; no drop-ins"
                );
            }
            Err(err) => layers.push(ConfigLayer {
                path: dir.to_owned(),
                kind: LayerKind::DropIn,
                content: Err(format!("cannot list the drop-in directory: {err}")),
            }),
        }
    }
    layers
}

/// kube-proxy usually runs in a pod, so its `--config` is a path in the pod's file system: read it through
/// the process's root under the proc root, and fall back to the host root for a kube-proxy run on the host.
pub fn kube_proxy_layers(
    host: &HostFs,
    proc_root: &Path,
    proxy: &ProcessFacts,
) -> Vec<ConfigLayer> {
    let Some(path) = last_flag(proxy, "config") else {
        return Vec::new();
    };
    let in_pod = HostFs::new(proc_root.join(proxy.pid.to_string()).join("root"));
    if in_pod.exists(path) {
        vec![layer(&in_pod, path, LayerKind::ConfigFile)]
    } else {
        vec![layer(host, path, LayerKind::ConfigFile)]
    }
}

/// With `--authorization-config` the API server's authorizers come from a file instead of
/// `--authorization-mode`; the layer exposes them under the key `authorizers`, in order.
pub fn apiserver_layers(host: &HostFs, apiserver: &ProcessFacts) -> Vec<ConfigLayer> {
    let Some(path) = last_flag(apiserver, "authorization-config") else {
        return Vec::new();
    };
    let content = host
        .read(path)
        .map_err(|err| err.to_string())
        .and_then(|bytes| parse_mapping(&bytes))
        .and_then(|document| {
            let authorizers = document
                .get("authorizers")
                .and_then(Value::as_array)
                .ok_or_else(|| "has no `authorizers` list".to_owned())?;
            let types: Vec<Value> = authorizers
                .iter()
                .map(|entry| entry.get("type").cloned().unwrap_or(Value::Null))
                .collect();
            if types.iter().any(|kind| !kind.is_string()) {
                return Err("an authorizer has no `type`".to_owned());
            }
            Ok(json!({ "authorizers": types }))
        });
    vec![ConfigLayer {
        path: path.to_owned(),
        kind: LayerKind::ConfigFile,
        content,
    }]
}

/// A path from a config file; relative ones are relative to that file's directory, as the kubelet reads them.
pub fn config_path(config_file: &str, value: &str) -> String {
    if value.starts_with('/') {
        value.to_owned()
    } else {
        let dir = Path::new(config_file).parent().unwrap_or(Path::new("/"));
        dir.join(value).to_string_lossy().into_owned()
    }
}

pub fn join_host(dir: &str, name: &str) -> String {
    let mut path = PathBuf::from(dir);
    path.push(name);
    path.to_string_lossy().into_owned()
}
