//! Which files each of the benchmark's file sets holds on this node, stat'ed with owners named.
//!
//! Paths come from the running components' own flags and config; kubeadm's well-known paths are used only when
//! the component is not running. A set with nothing on the node is `Absent` with the reason, so that the
//! evaluator reports `not_applicable` rather than failing something that is not there.

use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use kubeward_benchmark::facts::{
    Component, ConfigLookup, FileFact, FileSet, FileSetFacts, FileStat, LayerKind, ProcessFacts,
};
use serde_json::Value;

use crate::accounts::Accounts;
use crate::configs::{config_path, join_host, last_flag};
use crate::host::HostFs;

/// Bounds on directory walks, so that a huge or looping tree cannot stall a scan.
const MAX_WALK_DEPTH: usize = 16;
const MAX_WALK_ENTRIES: usize = 10_000;

const KUBEADM_MANIFESTS: &str = "/etc/kubernetes/manifests";
const KUBEADM_PKI: &str = "/etc/kubernetes/pki";

/// Systemd unit files and drop-in directories of the kubelet, across distributions' layouts.
const KUBELET_UNITS: &[&str] = &[
    "/etc/systemd/system/kubelet.service",
    "/usr/lib/systemd/system/kubelet.service",
    "/lib/systemd/system/kubelet.service",
    "/run/systemd/system/kubelet.service",
];
const KUBELET_UNIT_DROP_IN_DIRS: &[&str] = &[
    "/etc/systemd/system/kubelet.service.d",
    "/usr/lib/systemd/system/kubelet.service.d",
    "/lib/systemd/system/kubelet.service.d",
    "/run/systemd/system/kubelet.service.d",
];

/// The fixed paths a distribution keeps the files no component flag names: admin kubeconfigs, CNI
/// configuration.
#[derive(Debug, Clone)]
pub struct Layout {
    pub admin_kubeconfigs: Vec<(String, String)>,
    pub cni_dirs: Vec<String>,
}

impl Layout {
    pub fn kubeadm() -> Self {
        Layout {
            admin_kubeconfigs: vec![
                (
                    "/etc/kubernetes/admin.conf".to_owned(),
                    "kubeadm's admin kubeconfig".to_owned(),
                ),
                (
                    "/etc/kubernetes/super-admin.conf".to_owned(),
                    "kubeadm's super-admin kubeconfig".to_owned(),
                ),
            ],
            cni_dirs: vec![
                "/etc/cni/net.d".to_owned(),
                "/var/lib/cni/networks".to_owned(),
            ],
        }
    }

    /// k3s and RKE2 write the admin kubeconfig in their data directory and the user's copy under
    /// /etc/rancher; k3s keeps its CNI configuration in its data directory too.
    pub fn rancher(name: &str, data_dir: &str) -> Self {
        let mut cni_dirs = vec![
            "/etc/cni/net.d".to_owned(),
            "/var/lib/cni/networks".to_owned(),
        ];
        if name == "k3s" {
            cni_dirs.insert(0, format!("{data_dir}/agent/etc/cni/net.d"));
        }
        Layout {
            admin_kubeconfigs: vec![
                (
                    format!("{data_dir}/server/cred/admin.kubeconfig"),
                    format!("{name}'s admin kubeconfig"),
                ),
                (
                    format!("/etc/rancher/{name}/{name}.yaml"),
                    format!("{name}'s user kubeconfig (write-kubeconfig)"),
                ),
            ],
            cni_dirs,
        }
    }
}

#[derive(Debug)]
pub struct FileCollector<'a> {
    pub host: &'a HostFs,
    pub accounts: &'a Accounts,
    pub processes: &'a BTreeMap<Component, ProcessFacts>,
    pub layout: &'a Layout,
}

impl FileCollector<'_> {
    pub fn collect(&self) -> BTreeMap<FileSet, FileSetFacts> {
        let mut sets = BTreeMap::new();
        let manifests = self.manifest_dir();
        for (set, file) in [
            (FileSet::ApiserverManifest, "kube-apiserver.yaml"),
            (
                FileSet::ControllerManagerManifest,
                "kube-controller-manager.yaml",
            ),
            (FileSet::SchedulerManifest, "kube-scheduler.yaml"),
            (FileSet::EtcdManifest, "etcd.yaml"),
        ] {
            let facts = match &manifests {
                Ok(Some((dir, via))) => {
                    let path = join_host(dir, file);
                    self.existing(&[(path.clone(), via.clone())], || {
                        format!("{path} does not exist")
                    })
                }
                Ok(None) => FileSetFacts::Absent {
                    reason: "the kubelet runs no static pods (no staticPodPath)".to_owned(),
                },
                Err(reason) => FileSetFacts::Unreadable {
                    path: "the kubelet's static pod path".to_owned(),
                    reason: reason.clone(),
                },
            };
            sets.insert(set, facts);
        }
        let control_plane_manifest = matches!(
            sets.get(&FileSet::ApiserverManifest),
            Some(FileSetFacts::Files(_))
        );
        sets.insert(FileSet::CniFiles, self.cni_files());
        sets.insert(FileSet::EtcdDataDir, self.etcd_data_dir());
        sets.insert(
            FileSet::AdminKubeconfigs,
            self.existing(&self.layout.admin_kubeconfigs, || {
                let paths: Vec<&str> = self
                    .layout
                    .admin_kubeconfigs
                    .iter()
                    .map(|(path, _)| path.as_str())
                    .collect();
                format!("none of {} exists", paths.join(", "))
            }),
        );
        sets.insert(
            FileSet::SchedulerKubeconfig,
            self.flag_file(
                Component::KubeScheduler,
                "kubeconfig",
                "/etc/kubernetes/scheduler.conf",
            ),
        );
        sets.insert(
            FileSet::ControllerManagerKubeconfig,
            self.flag_file(
                Component::KubeControllerManager,
                "kubeconfig",
                "/etc/kubernetes/controller-manager.conf",
            ),
        );
        let (pki_tree, certificates, keys) = self.pki(control_plane_manifest);
        sets.insert(FileSet::PkiTree, pki_tree);
        sets.insert(FileSet::PkiCertificates, certificates);
        sets.insert(FileSet::PkiKeys, keys);
        sets.insert(FileSet::KubeletServiceFiles, self.kubelet_service_files());
        sets.insert(FileSet::ProxyKubeconfig, self.proxy_kubeconfig());
        sets.insert(
            FileSet::KubeletKubeconfig,
            self.flag_file(
                Component::Kubelet,
                "kubeconfig",
                "/etc/kubernetes/kubelet.conf",
            ),
        );
        sets.insert(FileSet::KubeletClientCa, self.kubelet_client_ca());
        sets.insert(FileSet::KubeletConfigFiles, self.kubelet_config_files());
        sets.insert(FileSet::CloudProviderConfig, self.cloud_provider_config());
        sets
    }

    /// Stats one file and names its owner through the host's account files.
    fn fact(&self, path: &str, found_via: &str) -> FileFact {
        let stat = self
            .host
            .stat(path)
            .map(|(_, metadata)| FileStat {
                mode: metadata.mode() & 0o7777,
                uid: metadata.uid(),
                gid: metadata.gid(),
                user: self.accounts.user(metadata.uid()).map(str::to_owned),
                group: self.accounts.group(metadata.gid()).map(str::to_owned),
            })
            .map_err(|err| err.to_string());
        FileFact {
            path: path.to_owned(),
            found_via: found_via.to_owned(),
            stat,
        }
    }

    /// The candidates that exist (an unreadable one counts: it is there and must be reported), deduplicated
    /// by where they really are, or `Absent`.
    fn existing(
        &self,
        candidates: &[(String, String)],
        absent: impl FnOnce() -> String,
    ) -> FileSetFacts {
        let mut seen = HashSet::new();
        let mut files = Vec::new();
        for (path, via) in candidates {
            match self.host.resolve(path) {
                Ok(resolved) => {
                    if seen.insert(resolved) {
                        files.push(self.fact(path, via));
                    }
                }
                Err(err) if err.is_not_found() => {}
                Err(_) => files.push(self.fact(path, via)),
            }
        }
        if files.is_empty() {
            FileSetFacts::Absent { reason: absent() }
        } else {
            FileSetFacts::Files(files)
        }
    }

    /// A file a component names with a flag; the kubeadm default only when the component is not running.
    fn flag_file(&self, component: Component, flag: &str, kubeadm_default: &str) -> FileSetFacts {
        match self.processes.get(&component) {
            Some(process) => match last_flag(process, flag) {
                Some(path) => self.existing(
                    &[(path.to_owned(), format!("{component} --{flag}"))],
                    || format!("{path}, named by {component} --{flag}, does not exist"),
                ),
                None => FileSetFacts::Absent {
                    reason: format!("{component} runs without --{flag}"),
                },
            },
            None => self.existing(
                &[(
                    kubeadm_default.to_owned(),
                    format!("kubeadm default ({component} is not running)"),
                )],
                || format!("{component} is not running and {kubeadm_default} does not exist"),
            ),
        }
    }

    /// A kubelet setting that can come from a flag or its config files, flags first.
    fn kubelet_setting(
        &self,
        kubelet: &ProcessFacts,
        flag: &str,
        key: &str,
    ) -> Result<Option<(String, String)>, String> {
        if let Some(value) = last_flag(kubelet, flag) {
            return Ok(Some((value.to_owned(), format!("kubelet --{flag}"))));
        }
        match kubelet.config_value(key) {
            ConfigLookup::Found { layer, value } => match value {
                Value::String(text) => Ok(Some((
                    config_path(&layer.path, text),
                    format!("kubelet {key} in {}", layer.path),
                ))),
                _ => Err(format!("{key} in {} is not a path", layer.path)),
            },
            ConfigLookup::Unreadable { layer, reason } => {
                Err(format!("{} could not be read: {reason}", layer.path))
            }
            ConfigLookup::NotSet => Ok(None),
        }
    }

    /// The kubelet's static pod directory, where kubeadm puts the control plane's manifests; `None` when
    /// the kubelet runs no static pods, an error when its config cannot be read.
    fn manifest_dir(&self) -> Result<Option<(String, String)>, String> {
        match self.processes.get(&Component::Kubelet) {
            Some(kubelet) => self.kubelet_setting(kubelet, "pod-manifest-path", "staticPodPath"),
            None => Ok(Some((
                KUBEADM_MANIFESTS.to_owned(),
                "kubeadm default (the kubelet is not running)".to_owned(),
            ))),
        }
    }

    fn cni_files(&self) -> FileSetFacts {
        let mut files = Vec::new();
        for dir in &self.layout.cni_dirs {
            if let Err(facts) = self.walk(dir, &format!("files under {dir}"), &mut files) {
                return facts;
            }
        }
        if files.is_empty() {
            FileSetFacts::Absent {
                reason: format!("no CNI files under {}", self.layout.cni_dirs.join(" or ")),
            }
        } else {
            FileSetFacts::Files(files)
        }
    }

    /// The cloud provider's config and credentials file: the one the kubelet names with --cloud-config,
    /// else AKS's /etc/kubernetes/azure.json when it is there.
    fn cloud_provider_config(&self) -> FileSetFacts {
        const AZURE_JSON: &str = "/etc/kubernetes/azure.json";
        let named = self
            .processes
            .get(&Component::Kubelet)
            .and_then(|kubelet| last_flag(kubelet, "cloud-config"));
        match named {
            Some(path) => self.existing(
                &[(path.to_owned(), "kubelet --cloud-config".to_owned())],
                || format!("{path}, named by kubelet --cloud-config, does not exist"),
            ),
            None => self.existing(
                &[(
                    AZURE_JSON.to_owned(),
                    "the AKS cloud provider file".to_owned(),
                )],
                || format!("the kubelet names no --cloud-config and {AZURE_JSON} does not exist"),
            ),
        }
    }

    fn etcd_data_dir(&self) -> FileSetFacts {
        match self.processes.get(&Component::Etcd) {
            Some(etcd) => {
                let from_flag =
                    last_flag(etcd, "data-dir").map(|dir| (dir.to_owned(), "etcd --data-dir"));
                let from_env = etcd
                    .env
                    .get("ETCD_DATA_DIR")
                    .map(|dir| (dir.clone(), "etcd environment ETCD_DATA_DIR"));
                match from_flag.or(from_env) {
                    Some((dir, via)) => self.existing(&[(dir.clone(), via.to_owned())], || {
                        format!("{dir}, etcd's data directory, does not exist")
                    }),
                    None => FileSetFacts::Absent {
                        reason: "etcd runs without --data-dir; its data directory is relative to its working directory".to_owned(),
                    },
                }
            }
            None => self.existing(
                &[(
                    "/var/lib/etcd".to_owned(),
                    "kubeadm default (etcd is not running)".to_owned(),
                )],
                || "etcd is not running and /var/lib/etcd does not exist".to_owned(),
            ),
        }
    }

    /// The PKI directory is where the API server's client CA lives, else kubeadm's. With no API server
    /// running, only a node that holds an API server manifest is a control-plane node whose PKI counts:
    /// workers keep a copy of the cluster CA there too, and section 1 is not about them.
    fn pki(&self, control_plane_manifest: bool) -> (FileSetFacts, FileSetFacts, FileSetFacts) {
        let absent = |reason: String| {
            (
                FileSetFacts::Absent {
                    reason: reason.clone(),
                },
                FileSetFacts::Absent {
                    reason: reason.clone(),
                },
                FileSetFacts::Absent { reason },
            )
        };
        let (dir, via) = match self.processes.get(&Component::KubeApiserver) {
            Some(apiserver) => match last_flag(apiserver, "client-ca-file") {
                Some(ca) => (
                    PathBuf::from(ca).parent().map_or_else(
                        || KUBEADM_PKI.to_owned(),
                        |dir| dir.to_string_lossy().into_owned(),
                    ),
                    "the directory of kube-apiserver --client-ca-file".to_owned(),
                ),
                None => (KUBEADM_PKI.to_owned(), "kubeadm's PKI directory".to_owned()),
            },
            None if control_plane_manifest => (
                KUBEADM_PKI.to_owned(),
                "kubeadm's PKI directory (kube-apiserver is not running)".to_owned(),
            ),
            None => {
                return absent(
                    "kube-apiserver is neither running nor installed on this node".to_owned(),
                );
            }
        };
        let mut tree = Vec::new();
        match self.host.stat(&dir) {
            Err(err) if err.is_not_found() => return absent(format!("{dir} does not exist")),
            _ => tree.push(self.fact(&dir, &via)),
        }
        if let Err(facts) = self.walk(&dir, &format!("walk of {dir}"), &mut tree) {
            return (facts.clone(), facts.clone(), facts);
        }
        let with_suffix = |suffix: &str| {
            let files: Vec<FileFact> = tree
                .iter()
                .filter(|file| file.path.ends_with(suffix))
                .cloned()
                .collect();
            if files.is_empty() {
                FileSetFacts::Absent {
                    reason: format!("no *{suffix} files under {dir}"),
                }
            } else {
                FileSetFacts::Files(files)
            }
        };
        let (certificates, keys) = (with_suffix(".crt"), with_suffix(".key"));
        (FileSetFacts::Files(tree), certificates, keys)
    }

    /// Walks a directory tree, adding every entry but the directory itself; symlinked directories are not
    /// entered (they could loop), symlinked files are stat'ed through.
    fn walk(&self, dir: &str, via: &str, out: &mut Vec<FileFact>) -> Result<(), FileSetFacts> {
        let mut stack = vec![(dir.to_owned(), 0usize)];
        let mut visited = 0usize;
        while let Some((current, depth)) = stack.pop() {
            let (resolved, names) = match self.host.list(&current) {
                Ok(listing) => listing,
                Err(err) if err.is_not_found() && current == dir => return Ok(()),
                Err(err) if current == dir && err.message == "not a directory" => return Ok(()),
                Err(err) => {
                    return Err(FileSetFacts::Unreadable {
                        path: current,
                        reason: err.to_string(),
                    });
                }
            };
            for name in names.iter() {
                visited += 1;
                if visited > MAX_WALK_ENTRIES {
                    return Err(FileSetFacts::Unreadable {
                        path: dir.to_owned(),
                        reason: format!("more than {MAX_WALK_ENTRIES} entries"),
                    });
                }
                let path = join_host(&current, name);
                let is_real_dir = self
                    .host
                    .lstat_in(&resolved, name)
                    .is_ok_and(|metadata| metadata.is_dir());
                out.push(self.fact(&path, via));
                if is_real_dir && depth < MAX_WALK_DEPTH {
                    stack.push((path, depth + 1));
                }
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(())
    }

    fn kubelet_service_files(&self) -> FileSetFacts {
        let mut candidates: Vec<(String, String)> = KUBELET_UNITS
            .iter()
            .map(|path| ((*path).to_owned(), "systemd unit path".to_owned()))
            .collect();
        for dir in KUBELET_UNIT_DROP_IN_DIRS {
            if let Ok((_, names)) = self.host.list(dir) {
                candidates.extend(names.iter().filter(|name| name.ends_with(".conf")).map(
                    |name| {
                        (
                            join_host(dir, name),
                            "systemd drop-in of kubelet.service".to_owned(),
                        )
                    },
                ));
            }
        }
        self.existing(&candidates, || {
            "no systemd unit for the kubelet on this node".to_owned()
        })
    }

    /// kube-proxy's kubeconfig is a host file only when kube-proxy runs on the host with --kubeconfig; in a
    /// kubeadm cluster it comes from a ConfigMap inside the pod, and the check does not apply.
    fn proxy_kubeconfig(&self) -> FileSetFacts {
        match self.processes.get(&Component::KubeProxy) {
            None => FileSetFacts::Absent {
                reason: "kube-proxy is not running on this node".to_owned(),
            },
            Some(proxy) => match last_flag(proxy, "kubeconfig") {
                Some(path) => self.existing(&[(path.to_owned(), "kube-proxy --kubeconfig".to_owned())], || {
                    format!("{path}, named by kube-proxy --kubeconfig, is not a file on the host")
                }),
                None => FileSetFacts::Absent {
                    reason: "kube-proxy names no kubeconfig on its command line (it reads one from its config)".to_owned(),
                },
            },
        }
    }

    fn kubelet_client_ca(&self) -> FileSetFacts {
        match self.processes.get(&Component::Kubelet) {
            Some(kubelet) => match self.kubelet_setting(
                kubelet,
                "client-ca-file",
                "authentication.x509.clientCAFile",
            ) {
                Ok(Some((path, via))) => self.existing(&[(path.clone(), via)], || {
                    format!("{path}, the kubelet's client CA, does not exist")
                }),
                Ok(None) => FileSetFacts::Absent {
                    reason: "the kubelet has no client CA file".to_owned(),
                },
                Err(reason) => FileSetFacts::Unreadable {
                    path: "kubelet configuration".to_owned(),
                    reason,
                },
            },
            None => self.existing(
                &[(
                    format!("{KUBEADM_PKI}/ca.crt"),
                    "kubeadm default (the kubelet is not running)".to_owned(),
                )],
                || {
                    "the kubelet is not running and /etc/kubernetes/pki/ca.crt does not exist"
                        .to_owned()
                },
            ),
        }
    }

    /// The kubelet's `--config` file and every drop-in it merges.
    fn kubelet_config_files(&self) -> FileSetFacts {
        match self.processes.get(&Component::Kubelet) {
            Some(kubelet) => {
                let candidates: Vec<(String, String)> = kubelet
                    .config_layers
                    .iter()
                    .map(|layer| {
                        let via = match layer.kind {
                            LayerKind::ConfigFile => "kubelet --config",
                            LayerKind::DropIn => "kubelet --config-dir drop-in",
                        };
                        (layer.path.clone(), via.to_owned())
                    })
                    .collect();
                if candidates.is_empty() {
                    FileSetFacts::Absent {
                        reason: "the kubelet runs on flags alone, without --config".to_owned(),
                    }
                } else {
                    self.existing(&candidates, || {
                        "the kubelet's config files do not exist".to_owned()
                    })
                }
            }
            None => self.existing(
                &[(
                    "/var/lib/kubelet/config.yaml".to_owned(),
                    "kubeadm default (the kubelet is not running)".to_owned(),
                )],
                || {
                    "the kubelet is not running and /var/lib/kubelet/config.yaml does not exist"
                        .to_owned()
                },
            ),
        }
    }
}
