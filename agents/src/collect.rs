//! Collecting a node's facts: which components run, with which flags and config files, and the files the
//! benchmark inspects. The order matters: file sets follow the processes' own flags and config.

use std::path::Path;

use kubeward_benchmark::NodeFacts;
use kubeward_benchmark::facts::Component;
use kubeward_benchmark::report::NodeRole;

use crate::accounts::Accounts;
use crate::configs;
use crate::encryption;
use crate::etcd_config;
use crate::files::{FileCollector, Layout};
use crate::host::HostFs;
use crate::k3s;
use crate::platform::{self, Detection};
use crate::processes::{self, ProcRootError, SupervisorKind};

/// What a scan collected: the facts the checks read, what the node shows of its distribution, and the
/// config files the agent followed.
#[derive(Debug)]
pub struct Collected {
    pub facts: NodeFacts,
    pub detection: Detection,
    pub followed: Vec<String>,
}

pub fn collect(host: &HostFs, proc_root: &Path) -> Result<Collected, ProcRootError> {
    let found = processes::discover(proc_root)?;
    let detection = platform::detect(host, &found);
    let mut facts = NodeFacts::default();
    let mut followed = Vec::new();
    for (component, process) in &found.components {
        let mut process_facts = processes::process_facts(proc_root, process);
        if *component == Component::Etcd {
            etcd_config::apply(host, &mut process_facts);
            if let Some(path) = configs::last_flag(&process_facts, "config-file") {
                followed.push(path.to_owned());
            }
        }
        tracing::debug!(component = %component, pid = process.pid, "found component");
        facts.processes.insert(*component, process_facts);
    }
    let mut layout = Layout::kubeadm();
    for supervisor in &found.supervisors {
        match supervisor.kind {
            SupervisorKind::K3s => {
                let options = k3s::options(host, supervisor);
                followed.extend(options.followed.iter().cloned());
                let data_dir = options.data_dir();
                if facts.processes.contains_key(&Component::Etcd)
                    || host.exists(&format!("{data_dir}/server/db/etcd"))
                {
                    followed.push(format!("{data_dir}/server/db/etcd/config"));
                }
                for (component, process_facts) in k3s::components(host, supervisor, &options) {
                    // A component with a process of its own is read from that process.
                    facts.processes.entry(component).or_insert(process_facts);
                }
                layout = Layout::rancher("k3s", &data_dir);
            }
            SupervisorKind::Rke2 => {
                layout = Layout::rancher("rke2", "/var/lib/rancher/rke2");
            }
        }
    }
    for (component, process_facts) in &mut facts.processes {
        process_facts.config_layers = match component {
            Component::Kubelet => configs::kubelet_layers(host, process_facts),
            Component::KubeProxy => configs::kube_proxy_layers(host, proc_root, process_facts),
            Component::KubeApiserver => configs::apiserver_layers(host, process_facts),
            _ => Vec::new(),
        };
        followed.extend(
            process_facts
                .config_layers
                .iter()
                .map(|layer| layer.path.clone()),
        );
    }
    facts.encryption = facts
        .processes
        .get(&Component::KubeApiserver)
        .and_then(|apiserver| encryption::collect(host, apiserver));
    if let Some(encryption) = &facts.encryption {
        followed.push(encryption.path.clone());
    }
    let accounts = Accounts::load(host);
    facts.files = FileCollector {
        host,
        accounts: &accounts,
        processes: &facts.processes,
        layout: &layout,
    }
    .collect();
    let mut seen = std::collections::HashSet::new();
    followed.retain(|path| seen.insert(path.clone()));
    Ok(Collected {
        facts,
        detection,
        followed,
    })
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
