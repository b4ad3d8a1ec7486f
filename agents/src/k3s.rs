//! The components k3s runs inside its one process, with the settings k3s gives them.
//!
//! k3s has no `kube-apiserver` or `kubelet` process to read: it starts them as goroutines with flags it
//! builds itself. Those flags are, in the order each component's flag library reads them (the last
//! occurrence of a scalar wins, list flags append):
//! 1. the values k3s passes itself (the defaults below, which follow its data directory),
//! 2. the `<component>-arg` entries of `/etc/rancher/k3s/config.yaml` and then its `config.yaml.d/*.yaml`
//!    drop-ins in name order (a later file replaces a key, `key+:` appends to it),
//! 3. the same options on k3s's own command line.
//!
//! Every flag carries where it came from, so evidence says "k3s built-in default" or the config file.
//! Nothing is read from the journal: a rotated log line must never turn into a passing value.

use std::collections::BTreeMap;

use kubeward_benchmark::facts::{Component, Flag, ProcessFacts};
use serde_json::Value;

use crate::argv::parse_flags;
use crate::configs::join_host;
use crate::documents::parse_mapping;
use crate::host::HostFs;
use crate::processes::Supervisor;
use crate::redact::redact_flags;

/// Where k3s keeps its state unless `--data-dir` says otherwise.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/rancher/k3s";
const DEFAULT_CONFIG: &str = "/etc/rancher/k3s/config.yaml";
const BUILT_IN: &str = "k3s built-in default";

/// k3s's settings after merging its config files and command line: option name (without dashes) → the
/// values in the order they apply, each with where it came from.
#[derive(Debug, Default)]
pub struct K3sOptions {
    values: BTreeMap<String, Vec<(String, String)>>,
    /// The config files read, in merge order, and the ones that could not be.
    pub followed: Vec<String>,
    pub unreadable: Vec<(String, String)>,
}

impl K3sOptions {
    /// The effective value of a scalar option.
    pub fn scalar(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(|values| values.last())
            .map(|(value, _)| value.as_str())
    }

    fn enabled(&self, name: &str) -> bool {
        self.scalar(name)
            .is_some_and(|value| matches!(value, "" | "true" | "True" | "TRUE" | "1"))
    }

    /// Every value of a list option, in order, with its source.
    fn list(&self, name: &str) -> &[(String, String)] {
        self.values.get(name).map_or(&[], Vec::as_slice)
    }

    pub fn data_dir(&self) -> String {
        self.scalar("data-dir")
            .filter(|dir| dir.starts_with('/'))
            .unwrap_or(DEFAULT_DATA_DIR)
            .trim_end_matches('/')
            .to_owned()
    }
}

/// Reads k3s's options: config file, drop-ins, then the command line.
pub fn options(host: &HostFs, k3s: &Supervisor) -> K3sOptions {
    let command_line = parse_flags(&k3s.args);
    let mut options = K3sOptions::default();
    let config_path = command_line
        .iter()
        .rfind(|flag| flag.name == "config" || flag.name == "c")
        .and_then(|flag| flag.value.clone())
        .unwrap_or_else(|| DEFAULT_CONFIG.to_owned());
    let mut files = vec![config_path.clone()];
    let drop_in_dir = format!("{config_path}.d");
    if let Ok((_, names)) = host.list(&drop_in_dir) {
        files.extend(
            names
                .iter()
                .filter(|name| name.ends_with(".yaml") || name.ends_with(".yml"))
                .map(|name| join_host(&drop_in_dir, name)),
        );
    }
    for path in files {
        match host.read(&path) {
            Ok(bytes) => match parse_mapping(&bytes) {
                Ok(Value::Object(document)) => {
                    options.followed.push(path.clone());
                    for (key, value) in document {
                        let (name, append) = match key.strip_suffix('+') {
                            Some(name) => (name.to_owned(), true),
                            None => (key, false),
                        };
                        let source = format!("k3s config {path} {name}");
                        let entries: Vec<(String, String)> = match value {
                            Value::Array(items) => items
                                .iter()
                                .map(|item| (scalar_text(item), source.clone()))
                                .collect(),
                            other => vec![(scalar_text(&other), source.clone())],
                        };
                        let slot = options.values.entry(name).or_default();
                        if !append {
                            slot.clear();
                        }
                        slot.extend(entries);
                    }
                }
                Ok(_) => options
                    .unreadable
                    .push((path, "not a mapping of options".to_owned())),
                Err(reason) => options.unreadable.push((path, reason)),
            },
            Err(err) if err.is_not_found() => {}
            Err(err) => options.unreadable.push((path, err.to_string())),
        }
    }
    // The command line comes after the files: it wins for scalars and appends to lists.
    let mut from_command_line: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for flag in command_line {
        let source = format!("k3s command line --{}", flag.name);
        from_command_line
            .entry(flag.name)
            .or_default()
            .push((flag.value.unwrap_or_else(|| "true".to_owned()), source));
    }
    for (name, values) in from_command_line {
        let slot = options.values.entry(name.clone()).or_default();
        if !name.ends_with("-arg") {
            slot.clear();
        }
        slot.extend(values);
    }
    options
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The components k3s runs in this process, each with the flags k3s gives it.
pub fn components(
    host: &HostFs,
    k3s: &Supervisor,
    options: &K3sOptions,
) -> BTreeMap<Component, ProcessFacts> {
    let data = options.data_dir();
    let server = k3s.mode == "server";
    let host_name = format!("k3s {}", k3s.mode);
    let mut components = BTreeMap::new();
    // A config file k3s reads but the agent cannot makes every setting unknown: it may override any of them.
    let settings_error = options
        .unreadable
        .first()
        .map(|(path, reason)| format!("k3s's config file {path} could not be read ({reason})"));
    let mut add = |component: Component, defaults: Vec<(String, String)>, user_option: &str| {
        let mut flags: Vec<Flag> = defaults
            .into_iter()
            .map(|(name, value)| Flag {
                name,
                value: Some(value),
                source: Some(BUILT_IN.to_owned()),
            })
            .collect();
        // k3s merges `name=value` into its argument map: a name replaces the value before it (its own
        // default included), and `name+=value` appends to it with a comma.
        for (argument, source) in options.list(user_option) {
            let argument = argument.trim_start_matches('-');
            let (name, value) = match argument.split_once('=') {
                Some((name, value)) => (name, Some(value.to_owned())),
                None => (argument, None),
            };
            let (name, append) = match name.strip_suffix('+') {
                Some(name) => (name, true),
                None => (name, false),
            };
            let name = name.replace('_', "-");
            let earlier = flags.iter().rposition(|flag| flag.name == name);
            let value = match (append, earlier, value) {
                (true, Some(index), Some(value)) => {
                    let before = flags.remove(index).value.unwrap_or_default();
                    Some(if before.is_empty() {
                        value
                    } else {
                        format!("{before},{value}")
                    })
                }
                (_, _, value) => value,
            };
            flags.retain(|flag| flag.name != name);
            flags.push(Flag {
                name,
                value,
                source: Some(source.clone()),
            });
        }
        redact_flags(&mut flags);
        components.insert(
            component,
            ProcessFacts {
                pid: k3s.pid,
                flags,
                env: BTreeMap::new(),
                config_layers: Vec::new(),
                embedded_in: Some(host_name.clone()),
                settings_error: settings_error.clone(),
            },
        );
    };
    let embedded_etcd = server
        && !options.enabled("disable-etcd")
        && host.exists(&format!("{data}/server/db/etcd"));
    if server && !options.enabled("disable-apiserver") {
        add(
            Component::KubeApiserver,
            apiserver_defaults(&data, embedded_etcd, options),
            "kube-apiserver-arg",
        );
    }
    if server && !options.enabled("disable-controller-manager") {
        add(
            Component::KubeControllerManager,
            controller_manager_defaults(&data),
            "kube-controller-manager-arg",
        );
    }
    if server && !options.enabled("disable-scheduler") {
        add(
            Component::KubeScheduler,
            scheduler_defaults(&data),
            "kube-scheduler-arg",
        );
    }
    if !options.enabled("disable-agent") {
        add(
            Component::Kubelet,
            kubelet_defaults(host, &data),
            "kubelet-arg",
        );
    }
    if !options.enabled("disable-kube-proxy") {
        add(
            Component::KubeProxy,
            proxy_defaults(&data),
            "kube-proxy-arg",
        );
    }
    if embedded_etcd {
        let config = format!("{data}/server/db/etcd/config");
        let mut etcd = crate::etcd_config::from_config_file(host, &config);
        etcd.pid = k3s.pid;
        etcd.embedded_in = Some(host_name.clone());
        components.insert(Component::Etcd, etcd);
    }
    components
}

fn pairs(entries: &[(&str, String)]) -> Vec<(String, String)> {
    entries
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect()
}

/// What k3s passes its embedded API server (the security-relevant and path-bearing flags).
fn apiserver_defaults(
    data: &str,
    embedded_etcd: bool,
    options: &K3sOptions,
) -> Vec<(String, String)> {
    let tls = format!("{data}/server/tls");
    let mut flags = pairs(&[
        ("allow-privileged", "true".to_owned()),
        ("anonymous-auth", "false".to_owned()),
        ("authorization-mode", "Node,RBAC".to_owned()),
        ("bind-address", "127.0.0.1".to_owned()),
        ("client-ca-file", format!("{tls}/client-ca.crt")),
        ("enable-admission-plugins", "NodeRestriction".to_owned()),
        ("enable-bootstrap-token-auth", "true".to_owned()),
        (
            "kubelet-certificate-authority",
            format!("{tls}/server-ca.crt"),
        ),
        (
            "kubelet-client-certificate",
            format!("{tls}/client-kube-apiserver.crt"),
        ),
        (
            "kubelet-client-key",
            format!("{tls}/client-kube-apiserver.key"),
        ),
        ("profiling", "false".to_owned()),
        (
            "requestheader-client-ca-file",
            format!("{tls}/request-header-ca.crt"),
        ),
        (
            "service-account-issuer",
            "https://kubernetes.default.svc.cluster.local".to_owned(),
        ),
        ("service-account-key-file", format!("{tls}/service.key")),
        (
            "service-account-signing-key-file",
            format!("{tls}/service.current.key"),
        ),
        ("tls-cert-file", format!("{tls}/serving-kube-apiserver.crt")),
        (
            "tls-private-key-file",
            format!("{tls}/serving-kube-apiserver.key"),
        ),
    ]);
    if embedded_etcd {
        flags.extend(pairs(&[
            ("etcd-cafile", format!("{tls}/etcd/server-ca.crt")),
            ("etcd-certfile", format!("{tls}/etcd/client.crt")),
            ("etcd-keyfile", format!("{tls}/etcd/client.key")),
            ("etcd-servers", "https://127.0.0.1:2379".to_owned()),
        ]));
    } else {
        // sqlite or an external datastore, reached through kine.
        flags.push(("etcd-servers".to_owned(), "unix://kine.sock".to_owned()));
    }
    if options.enabled("secrets-encryption") {
        flags.push((
            "encryption-provider-config".to_owned(),
            format!("{data}/server/cred/encryption-config.json"),
        ));
    }
    flags
}

fn controller_manager_defaults(data: &str) -> Vec<(String, String)> {
    let kubeconfig = format!("{data}/server/cred/controller.kubeconfig");
    pairs(&[
        ("authentication-kubeconfig", kubeconfig.clone()),
        ("authorization-kubeconfig", kubeconfig.clone()),
        ("bind-address", "127.0.0.1".to_owned()),
        ("kubeconfig", kubeconfig),
        ("profiling", "false".to_owned()),
        ("root-ca-file", format!("{data}/server/tls/server-ca.crt")),
        (
            "service-account-private-key-file",
            format!("{data}/server/tls/service.current.key"),
        ),
        ("use-service-account-credentials", "true".to_owned()),
    ])
}

fn scheduler_defaults(data: &str) -> Vec<(String, String)> {
    let kubeconfig = format!("{data}/server/cred/scheduler.kubeconfig");
    pairs(&[
        ("authentication-kubeconfig", kubeconfig.clone()),
        ("authorization-kubeconfig", kubeconfig.clone()),
        ("bind-address", "127.0.0.1".to_owned()),
        ("kubeconfig", kubeconfig),
        ("profiling", "false".to_owned()),
    ])
}

/// Newer k3s writes the kubelet's settings into a drop-in directory and passes `--config-dir`; older k3s
/// passes them as flags. The directory on disk says which: its files are then the evidence.
fn kubelet_defaults(host: &HostFs, data: &str) -> Vec<(String, String)> {
    let agent = format!("{data}/agent");
    let drop_ins = format!("{agent}/etc/kubelet.conf.d");
    let mut flags = pairs(&[
        ("kubeconfig", format!("{agent}/kubelet.kubeconfig")),
        (
            "container-runtime-endpoint",
            "unix:///run/k3s/containerd/containerd.sock".to_owned(),
        ),
    ]);
    if host.exists(&drop_ins) {
        flags.push(("config-dir".to_owned(), drop_ins));
    } else {
        flags.extend(pairs(&[
            ("anonymous-auth", "false".to_owned()),
            ("authentication-token-webhook", "true".to_owned()),
            ("authorization-mode", "Webhook".to_owned()),
            ("client-ca-file", format!("{agent}/client-ca.crt")),
            ("healthz-bind-address", "127.0.0.1".to_owned()),
            ("pod-manifest-path", format!("{agent}/pod-manifests")),
            ("read-only-port", "0".to_owned()),
            ("tls-cert-file", format!("{agent}/serving-kubelet.crt")),
            (
                "tls-private-key-file",
                format!("{agent}/serving-kubelet.key"),
            ),
        ]));
    }
    flags
}

fn proxy_defaults(data: &str) -> Vec<(String, String)> {
    pairs(&[
        ("healthz-bind-address", "127.0.0.1".to_owned()),
        ("kubeconfig", format!("{data}/agent/kubeproxy.kubeconfig")),
    ])
}
