//! What an agent collected from a node, in the shape the evaluator reads.
//!
//! The agent fills these in (it does the I/O); the evaluator only reads them. Secrets must already be
//! redacted here: nothing downstream of these types is trusted to drop them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The value put in place of a secret.
pub const REDACTED: &str = "<redacted>";

/// The Kubernetes components whose processes and files the benchmark inspects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Component {
    KubeApiserver,
    KubeControllerManager,
    KubeScheduler,
    Etcd,
    Kubelet,
    KubeProxy,
}

impl Component {
    pub const ALL: [Component; 6] = [
        Component::KubeApiserver,
        Component::KubeControllerManager,
        Component::KubeScheduler,
        Component::Etcd,
        Component::Kubelet,
        Component::KubeProxy,
    ];

    /// The executable name, as in argv\[0\].
    pub fn executable(self) -> &'static str {
        match self {
            Component::KubeApiserver => "kube-apiserver",
            Component::KubeControllerManager => "kube-controller-manager",
            Component::KubeScheduler => "kube-scheduler",
            Component::Etcd => "etcd",
            Component::Kubelet => "kubelet",
            Component::KubeProxy => "kube-proxy",
        }
    }
}

impl std::fmt::Display for Component {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.executable())
    }
}

/// Named sets of files the benchmark inspects; the agent decides which paths each one holds on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileSet {
    ApiserverManifest,
    ControllerManagerManifest,
    SchedulerManifest,
    EtcdManifest,
    CniFiles,
    EtcdDataDir,
    AdminKubeconfigs,
    SchedulerKubeconfig,
    ControllerManagerKubeconfig,
    PkiTree,
    PkiCertificates,
    PkiKeys,
    KubeletServiceFiles,
    ProxyKubeconfig,
    KubeletKubeconfig,
    KubeletClientCa,
    KubeletConfigFiles,
    /// The cloud provider's configuration and credentials file the kubelet reads (AKS
    /// `/etc/kubernetes/azure.json`).
    CloudProviderConfig,
}

/// Everything collected from one node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeFacts {
    /// The running Kubernetes components, at most one process each.
    pub processes: BTreeMap<Component, ProcessFacts>,
    /// Every file set, always filled in by the agent (absent ones say why).
    pub files: BTreeMap<FileSet, FileSetFacts>,
    /// The API server's encryption configuration; `None` when it uses none (or is not running).
    pub encryption: Option<EncryptionFacts>,
}

/// One running component process.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessFacts {
    pub pid: u32,
    /// Command-line flags in order, names without leading dashes and with `_` normalised to `-`.
    pub flags: Vec<Flag>,
    /// Settings from the process environment that the component reads (etcd's `ETCD_*`), secrets redacted.
    pub env: BTreeMap<String, String>,
    /// Config file layers, lowest precedence first (the `--config` file, then drop-ins in merge order).
    pub config_layers: Vec<ConfigLayer>,
    /// The process the component runs inside when it has none of its own (`k3s server`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedded_in: Option<String>,
    /// Why none of the process's settings can be known (the config file k3s or etcd reads its flags from
    /// cannot be read): every setting check is then an error, never a default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flag {
    pub name: String,
    /// `None` for a bare boolean flag.
    pub value: Option<String>,
    /// Where the flag came from when it is not the process's own command line: a k3s config file, or the
    /// value k3s passes to the component it embeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerKind {
    ConfigFile,
    DropIn,
}

/// One config file that a component reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigLayer {
    pub path: String,
    pub kind: LayerKind,
    /// The parsed document, or why it could not be read (never quoting the file's content).
    pub content: Result<Value, String>,
}

impl ProcessFacts {
    /// Every occurrence of a flag, in command-line order.
    pub fn flag_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Flag> + 'a {
        self.flags.iter().filter(move |flag| flag.name == name)
    }

    /// Whether the process was started with a config file, which changes some components' defaults.
    pub fn uses_config_file(&self) -> bool {
        self.config_layers
            .iter()
            .any(|layer| layer.kind == LayerKind::ConfigFile)
    }

    /// The value of a dotted key in the merged config layers: later layers win, key by key.
    pub fn config_value(&self, key: &str) -> ConfigLookup<'_> {
        for layer in self.config_layers.iter().rev() {
            match &layer.content {
                Err(reason) => {
                    return ConfigLookup::Unreadable {
                        layer,
                        reason: reason.as_str(),
                    };
                }
                Ok(document) => {
                    if let Some(value) = lookup_dotted(document, key) {
                        return ConfigLookup::Found { layer, value };
                    }
                }
            }
        }
        ConfigLookup::NotSet
    }
}

/// The outcome of looking up a key in a component's config layers.
#[derive(Debug)]
pub enum ConfigLookup<'a> {
    Found {
        layer: &'a ConfigLayer,
        value: &'a Value,
    },
    /// A layer that would have to be consulted could not be read: the value is unknown.
    Unreadable {
        layer: &'a ConfigLayer,
        reason: &'a str,
    },
    NotSet,
}

fn lookup_dotted<'a>(document: &'a Value, key: &str) -> Option<&'a Value> {
    let mut current = document;
    for part in key.split('.') {
        current = current.as_object()?.get(part)?;
    }
    // Kubernetes fills empty and null fields with their defaults, so neither sets anything.
    match current {
        Value::Null => None,
        Value::String(text) if text.is_empty() => None,
        _ => Some(current),
    }
}

/// The files of one [`FileSet`] on this node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FileSetFacts {
    /// Nothing of this set is on the node; the reason names what was looked for.
    Absent {
        reason: String,
    },
    /// The set's location could not be listed.
    Unreadable {
        path: String,
        reason: String,
    },
    Files(Vec<FileFact>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileFact {
    /// The host path, as the component names it.
    pub path: String,
    /// How the agent came to this path (a component's flag, a well-known default, a directory walk).
    pub found_via: String,
    pub stat: Result<FileStat, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStat {
    /// Permission bits including setuid, setgid and sticky (`mode & 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// The owner's name in the host's `/etc/passwd`, when it has one.
    pub user: Option<String>,
    /// The group's name in the host's `/etc/group`, when it has one.
    pub group: Option<String>,
}

/// The API server's `EncryptionConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptionFacts {
    pub path: String,
    pub content: Result<Vec<EncryptedResources>, String>,
}

/// One entry of `resources:`: the resources it covers and the provider that writes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedResources {
    pub resources: Vec<String>,
    /// The first provider of the list; it encrypts every new write. `None` when the list is empty.
    pub first_provider: Option<String>,
}
