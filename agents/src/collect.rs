//! Collecting a node's facts: which components run, with which flags and config files, and the files the
//! benchmark inspects. The order matters: file sets follow the processes' own flags and config.

use std::path::Path;

use kubeward_benchmark::NodeFacts;
use kubeward_benchmark::facts::Component;
use kubeward_benchmark::report::NodeRole;

use crate::accounts::Accounts;
use crate::configs;
use crate::encryption;
use crate::files::FileCollector;
use crate::host::HostFs;
use crate::processes::{self, ProcRootError};

pub fn collect(host: &HostFs, proc_root: &Path) -> Result<NodeFacts, ProcRootError> {
    let found = processes::discover(proc_root)?;
    let mut facts = NodeFacts::default();
    for (component, process) in &found {
        let mut process_facts = processes::process_facts(proc_root, process);
        process_facts.config_layers = match component {
            Component::Kubelet => configs::kubelet_layers(host, &process_facts),
            Component::KubeProxy => configs::kube_proxy_layers(host, proc_root, &process_facts),
            Component::KubeApiserver => configs::apiserver_layers(host, &process_facts),
            _ => Vec::new(),
        };
        tracing::debug!(component = %component, pid = process.pid, "found component");
        facts.processes.insert(*component, process_facts);
    }
    facts.encryption = facts
        .processes
        .get(&Component::KubeApiserver)
        .and_then(|apiserver| encryption::collect(host, apiserver));
    let accounts = Accounts::load(host);
    facts.files = FileCollector {
        host,
        accounts: &accounts,
        processes: &facts.processes,
    }
    .collect();
    Ok(facts)
}

/// The node's roles, from the components running on it.
pub fn roles(facts: &NodeFacts) -> Vec<NodeRole> {
    let runs = |component| facts.processes.contains_key(&component);
    let mut roles = Vec::new();
    if runs(Component::KubeApiserver)
        || runs(Component::KubeControllerManager)
        || runs(Component::KubeScheduler)
    {
        roles.push(NodeRole::ControlPlane);
    }
    if runs(Component::Etcd) {
        roles.push(NodeRole::Etcd);
    }
    if runs(Component::Kubelet) {
        roles.push(NodeRole::Worker);
    }
    roles
}
