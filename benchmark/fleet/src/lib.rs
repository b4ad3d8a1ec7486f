//! A fleet generator for demos and load tests: kubeadm-like nodes whose deviations from the benchmark appear
//! and get fixed over time, evaluated by the real evaluator into real reports.
//!
//! Pure and deterministic: the same spec gives the same reports (scan ids included), so pushing a simulated
//! history twice stores it once.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use kubeward_benchmark::catalog::Catalog;
use kubeward_benchmark::evaluate::evaluate;
use kubeward_benchmark::facts::{
    Component, ConfigLayer, FileFact, FileSet, FileSetFacts, FileStat, Flag, LayerKind, NodeFacts,
    ProcessFacts,
};
use kubeward_benchmark::report::{AgentInfo, NodeInfo, NodeRole, Report, SCHEMA_V1};

/// What to simulate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetSpec {
    pub seed: u64,
    /// Nodes per cluster; the first `control_planes` of each are control-plane nodes.
    pub nodes: usize,
    pub control_planes: usize,
    pub days: u32,
    /// The last simulated day; scans run once a day, in the early morning UTC.
    pub until: OffsetDateTime,
}

/// A simulated node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatedNode {
    pub name: String,
    pub control_plane: bool,
    index: u64,
}

/// Deviations a node can drift into and out of, each breaking one check.
const DEVIATIONS: &[Deviation] = &[
    Deviation::ApiserverProfiling,
    Deviation::KubeletConfigMode,
    Deviation::KubeletAnonymous,
    Deviation::AuditLogMaxAge,
    Deviation::EtcdDataDirMode,
    Deviation::NoNodeRestriction,
    Deviation::KubeletReadOnlyPort,
    Deviation::SchedulerBindsEverywhere,
    Deviation::SchedulerManifestMode,
    Deviation::ApiserverKeyMode,
    Deviation::ProxyMetricsEverywhere,
    Deviation::KubeletNoRotation,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deviation {
    ApiserverProfiling,
    KubeletConfigMode,
    KubeletAnonymous,
    AuditLogMaxAge,
    EtcdDataDirMode,
    NoNodeRestriction,
    KubeletReadOnlyPort,
    SchedulerBindsEverywhere,
    SchedulerManifestMode,
    ApiserverKeyMode,
    ProxyMetricsEverywhere,
    KubeletNoRotation,
}

/// SplitMix64: a small, good mixing function, enough for reproducible choices.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn hash(parts: &[u64]) -> u64 {
    parts
        .iter()
        .fold(0x6b75_6265_7761_7264, |acc, part| mix(acc ^ mix(*part)))
}

impl FleetSpec {
    pub fn nodes(&self, cluster: &str) -> Vec<SimulatedNode> {
        let cluster_hash = cluster
            .bytes()
            .fold(self.seed, |acc, byte| mix(acc ^ u64::from(byte)));
        (0..self.nodes)
            .map(|index| {
                let control_plane = index < self.control_planes;
                let name = if control_plane {
                    format!("{cluster}-cp-{}", index + 1)
                } else {
                    format!("{cluster}-worker-{}", index + 1 - self.control_planes)
                };
                SimulatedNode {
                    name,
                    control_plane,
                    index: hash(&[cluster_hash, index as u64]),
                }
            })
            .collect()
    }

    /// The day's scan time of a node: 02:00 UTC plus a few minutes that differ per node. Shortly after
    /// midnight the last day's 02:00 is still to come, and a server refuses a scan from the future: that scan
    /// is then placed just after midnight, the same for every run until 02:00, so that a rerun is a retry.
    fn scan_time(&self, node: &SimulatedNode, day: u32) -> OffsetDateTime {
        let first = self.until.date().midnight().assume_utc()
            - Duration::days(i64::from(self.days.saturating_sub(1)));
        let planned = first
            + Duration::days(i64::from(day))
            + Duration::hours(2)
            + Duration::seconds((node.index % 3600) as i64);
        if planned <= self.until {
            return planned;
        }
        let after_midnight =
            self.until.date().midnight().assume_utc() + Duration::seconds((node.index % 60) as i64);
        after_midnight.min(self.until)
    }

    /// Whether a deviation is present on a node on a day: up to two episodes, each a few days to a few weeks.
    fn deviates(&self, node: &SimulatedNode, deviation: usize, day: u32) -> bool {
        let days = u64::from(self.days.max(1));
        (0..2u64).any(|episode| {
            let h = hash(&[self.seed, node.index, deviation as u64, episode]);
            let occurs = h % 100 < 35;
            let start = (h >> 8) % days;
            let length = 3 + (h >> 24) % 25;
            occurs && u64::from(day) >= start && u64::from(day) < start + length
        })
    }

    /// The report a node sends on a day, evaluated by the real evaluator.
    pub fn report(&self, catalog: &Catalog, node: &SimulatedNode, day: u32) -> Report {
        let active: Vec<Deviation> = DEVIATIONS
            .iter()
            .enumerate()
            .filter(|(index, _)| self.deviates(node, *index, day))
            .map(|(_, deviation)| *deviation)
            .collect();
        let facts = node_facts(node.control_plane, &active);
        let finished_at = self.scan_time(node, day);
        let mut roles = vec![NodeRole::Worker];
        if node.control_plane {
            roles = vec![NodeRole::ControlPlane, NodeRole::Etcd, NodeRole::Worker];
        }
        let id = hash(&[self.seed, node.index, u64::from(day), 0x5ca4]);
        let id2 = hash(&[id, 1]);
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&id.to_be_bytes());
        bytes[8..].copy_from_slice(&id2.to_be_bytes());
        Report {
            schema: SCHEMA_V1.to_owned(),
            scan_id: Uuid::new_v8(bytes),
            agent: AgentInfo {
                version: format!("{}-simulated", env!("CARGO_PKG_VERSION")),
            },
            node: NodeInfo {
                name: node.name.clone(),
                roles,
                kubelet_version: Some("v1.33.2".to_owned()),
                container_runtime: None,
                pod_security_defaults: None,
                platform: None,
            },
            benchmark: catalog.benchmark.clone(),
            started_at: finished_at - Duration::milliseconds(12),
            finished_at,
            results: evaluate(catalog, &facts),
        }
    }
}

fn flags(pairs: &[(&str, &str)]) -> Vec<Flag> {
    pairs
        .iter()
        .map(|(name, value)| Flag {
            name: (*name).to_owned(),
            value: Some((*value).to_owned()),
            source: None,
        })
        .collect()
}

fn file(path: &str, mode: u32, owner: (&str, u32)) -> FileFact {
    FileFact {
        path: path.to_owned(),
        found_via: "simulated kubeadm layout".to_owned(),
        stat: Ok(FileStat {
            mode,
            uid: owner.1,
            gid: owner.1,
            user: Some(owner.0.to_owned()),
            group: Some(owner.0.to_owned()),
        }),
    }
}

const ROOT: (&str, u32) = ("root", 0);
const ETCD: (&str, u32) = ("etcd", 4242);

fn node_facts(control_plane: bool, active: &[Deviation]) -> NodeFacts {
    let on = |deviation: Deviation| active.contains(&deviation);
    let mut processes = BTreeMap::new();
    let mut kubelet_config = json!({
        "authentication": {"anonymous": {"enabled": on(Deviation::KubeletAnonymous)}, "x509": {"clientCAFile": "/etc/kubernetes/pki/ca.crt"}},
        "authorization": {"mode": "Webhook"},
        "staticPodPath": "/etc/kubernetes/manifests",
        "rotateCertificates": !on(Deviation::KubeletNoRotation),
        "seccompDefault": true,
        "podPidsLimit": 4096,
        "serverTLSBootstrap": true,
    });
    if on(Deviation::KubeletReadOnlyPort) {
        kubelet_config["readOnlyPort"] = Value::from(10255);
    }
    processes.insert(
        Component::Kubelet,
        ProcessFacts {
            embedded_in: None,
            settings_error: None,
            pid: 812,
            flags: flags(&[
                ("kubeconfig", "/etc/kubernetes/kubelet.conf"),
                ("config", "/var/lib/kubelet/config.yaml"),
            ]),
            env: BTreeMap::new(),
            config_layers: vec![ConfigLayer {
                path: "/var/lib/kubelet/config.yaml".to_owned(),
                kind: LayerKind::ConfigFile,
                content: Ok(kubelet_config),
            }],
        },
    );
    let metrics = if on(Deviation::ProxyMetricsEverywhere) {
        "0.0.0.0:10249"
    } else {
        "127.0.0.1:10249"
    };
    processes.insert(
        Component::KubeProxy,
        ProcessFacts {
            embedded_in: None,
            settings_error: None,
            pid: 1601,
            flags: flags(&[("config", "/var/lib/kube-proxy/config.conf")]),
            env: BTreeMap::new(),
            config_layers: vec![ConfigLayer {
                path: "/var/lib/kube-proxy/config.conf".to_owned(),
                kind: LayerKind::ConfigFile,
                content: Ok(json!({"metricsBindAddress": metrics})),
            }],
        },
    );
    let mut files = BTreeMap::new();
    let config_mode = if on(Deviation::KubeletConfigMode) {
        0o644
    } else {
        0o600
    };
    files.insert(
        FileSet::KubeletConfigFiles,
        FileSetFacts::Files(vec![file(
            "/var/lib/kubelet/config.yaml",
            config_mode,
            ROOT,
        )]),
    );
    files.insert(
        FileSet::KubeletKubeconfig,
        FileSetFacts::Files(vec![file("/etc/kubernetes/kubelet.conf", 0o600, ROOT)]),
    );
    files.insert(
        FileSet::KubeletClientCa,
        FileSetFacts::Files(vec![file("/etc/kubernetes/pki/ca.crt", 0o644, ROOT)]),
    );
    files.insert(
        FileSet::KubeletServiceFiles,
        FileSetFacts::Files(vec![
            file("/usr/lib/systemd/system/kubelet.service", 0o644, ROOT),
            file(
                "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf",
                0o644,
                ROOT,
            ),
        ]),
    );
    files.insert(
        FileSet::CniFiles,
        FileSetFacts::Files(vec![file("/etc/cni/net.d/10-calico.conflist", 0o600, ROOT)]),
    );
    let absent = |reason: &str| FileSetFacts::Absent {
        reason: reason.to_owned(),
    };
    files.insert(
        FileSet::ProxyKubeconfig,
        absent("kube-proxy names no kubeconfig on its command line"),
    );

    if control_plane {
        let mut apiserver = vec![
            ("anonymous-auth", "false"),
            ("authorization-mode", "Node,RBAC"),
            ("client-ca-file", "/etc/kubernetes/pki/ca.crt"),
            ("etcd-cafile", "/etc/kubernetes/pki/etcd/ca.crt"),
            (
                "etcd-certfile",
                "/etc/kubernetes/pki/apiserver-etcd-client.crt",
            ),
            (
                "etcd-keyfile",
                "/etc/kubernetes/pki/apiserver-etcd-client.key",
            ),
            (
                "kubelet-client-certificate",
                "/etc/kubernetes/pki/apiserver-kubelet-client.crt",
            ),
            (
                "kubelet-client-key",
                "/etc/kubernetes/pki/apiserver-kubelet-client.key",
            ),
            ("service-account-key-file", "/etc/kubernetes/pki/sa.pub"),
            ("tls-cert-file", "/etc/kubernetes/pki/apiserver.crt"),
            ("tls-private-key-file", "/etc/kubernetes/pki/apiserver.key"),
            ("audit-log-path", "/var/log/kubernetes/audit.log"),
            ("audit-log-maxbackup", "10"),
            ("audit-log-maxsize", "100"),
            ("audit-policy-file", "/etc/kubernetes/audit-policy.yaml"),
        ];
        apiserver.push((
            "enable-admission-plugins",
            if on(Deviation::NoNodeRestriction) {
                "AlwaysPullImages"
            } else {
                "NodeRestriction,AlwaysPullImages"
            },
        ));
        apiserver.push((
            "audit-log-maxage",
            if on(Deviation::AuditLogMaxAge) {
                "7"
            } else {
                "30"
            },
        ));
        if !on(Deviation::ApiserverProfiling) {
            apiserver.push(("profiling", "false"));
        }
        processes.insert(
            Component::KubeApiserver,
            ProcessFacts {
                embedded_in: None,
                settings_error: None,
                pid: 1201,
                flags: flags(&apiserver),
                ..ProcessFacts::default()
            },
        );
        processes.insert(
            Component::KubeControllerManager,
            ProcessFacts {
                embedded_in: None,
                settings_error: None,
                pid: 1301,
                flags: flags(&[
                    ("bind-address", "127.0.0.1"),
                    ("kubeconfig", "/etc/kubernetes/controller-manager.conf"),
                    ("profiling", "false"),
                    ("root-ca-file", "/etc/kubernetes/pki/ca.crt"),
                    (
                        "service-account-private-key-file",
                        "/etc/kubernetes/pki/sa.key",
                    ),
                    ("terminated-pod-gc-threshold", "10"),
                    ("use-service-account-credentials", "true"),
                ]),
                ..ProcessFacts::default()
            },
        );
        let bind = if on(Deviation::SchedulerBindsEverywhere) {
            "0.0.0.0"
        } else {
            "127.0.0.1"
        };
        processes.insert(
            Component::KubeScheduler,
            ProcessFacts {
                embedded_in: None,
                settings_error: None,
                pid: 1401,
                flags: flags(&[
                    ("bind-address", bind),
                    ("kubeconfig", "/etc/kubernetes/scheduler.conf"),
                    ("profiling", "false"),
                ]),
                ..ProcessFacts::default()
            },
        );
        processes.insert(
            Component::Etcd,
            ProcessFacts {
                embedded_in: None,
                settings_error: None,
                pid: 1501,
                flags: flags(&[
                    ("cert-file", "/etc/kubernetes/pki/etcd/server.crt"),
                    ("key-file", "/etc/kubernetes/pki/etcd/server.key"),
                    ("client-cert-auth", "true"),
                    ("data-dir", "/var/lib/etcd"),
                    ("peer-cert-file", "/etc/kubernetes/pki/etcd/peer.crt"),
                    ("peer-key-file", "/etc/kubernetes/pki/etcd/peer.key"),
                    ("peer-client-cert-auth", "true"),
                    ("trusted-ca-file", "/etc/kubernetes/pki/etcd/ca.crt"),
                ]),
                ..ProcessFacts::default()
            },
        );
        let manifests = "/etc/kubernetes/manifests";
        let scheduler_mode = if on(Deviation::SchedulerManifestMode) {
            0o644
        } else {
            0o600
        };
        for (set, name, mode) in [
            (FileSet::ApiserverManifest, "kube-apiserver.yaml", 0o600),
            (
                FileSet::ControllerManagerManifest,
                "kube-controller-manager.yaml",
                0o600,
            ),
            (
                FileSet::SchedulerManifest,
                "kube-scheduler.yaml",
                scheduler_mode,
            ),
            (FileSet::EtcdManifest, "etcd.yaml", 0o600),
        ] {
            files.insert(
                set,
                FileSetFacts::Files(vec![file(&format!("{manifests}/{name}"), mode, ROOT)]),
            );
        }
        let data_mode = if on(Deviation::EtcdDataDirMode) {
            0o755
        } else {
            0o700
        };
        files.insert(
            FileSet::EtcdDataDir,
            FileSetFacts::Files(vec![file("/var/lib/etcd", data_mode, ETCD)]),
        );
        files.insert(
            FileSet::AdminKubeconfigs,
            FileSetFacts::Files(vec![
                file("/etc/kubernetes/admin.conf", 0o600, ROOT),
                file("/etc/kubernetes/super-admin.conf", 0o600, ROOT),
            ]),
        );
        files.insert(
            FileSet::SchedulerKubeconfig,
            FileSetFacts::Files(vec![file("/etc/kubernetes/scheduler.conf", 0o600, ROOT)]),
        );
        files.insert(
            FileSet::ControllerManagerKubeconfig,
            FileSetFacts::Files(vec![file(
                "/etc/kubernetes/controller-manager.conf",
                0o600,
                ROOT,
            )]),
        );
        let key_mode = if on(Deviation::ApiserverKeyMode) {
            0o644
        } else {
            0o600
        };
        let certificates = vec![
            file("/etc/kubernetes/pki/ca.crt", 0o644, ROOT),
            file("/etc/kubernetes/pki/apiserver.crt", 0o644, ROOT),
        ];
        let keys = vec![
            file("/etc/kubernetes/pki/ca.key", 0o600, ROOT),
            file("/etc/kubernetes/pki/apiserver.key", key_mode, ROOT),
        ];
        let mut tree = vec![file("/etc/kubernetes/pki", 0o755, ROOT)];
        tree.extend(certificates.iter().cloned());
        tree.extend(keys.iter().cloned());
        files.insert(FileSet::PkiTree, FileSetFacts::Files(tree));
        files.insert(FileSet::PkiCertificates, FileSetFacts::Files(certificates));
        files.insert(FileSet::PkiKeys, FileSetFacts::Files(keys));
    } else {
        for set in [
            FileSet::ApiserverManifest,
            FileSet::ControllerManagerManifest,
            FileSet::SchedulerManifest,
            FileSet::EtcdManifest,
        ] {
            files.insert(set, absent("no control-plane manifest on this node"));
        }
        for set in [
            FileSet::EtcdDataDir,
            FileSet::AdminKubeconfigs,
            FileSet::SchedulerKubeconfig,
            FileSet::ControllerManagerKubeconfig,
            FileSet::PkiTree,
            FileSet::PkiCertificates,
            FileSet::PkiKeys,
        ] {
            files.insert(set, absent("not a control-plane node"));
        }
    }
    NodeFacts {
        processes,
        files,
        encryption: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubeward_benchmark::report::Status;
    use kubeward_benchmark::validate::validate_report;

    fn spec() -> FleetSpec {
        FleetSpec {
            seed: 7,
            nodes: 6,
            control_planes: 1,
            days: 60,
            until: OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
        }
    }

    #[test]
    fn reports_are_valid_and_deterministic() {
        let catalog = Catalog::builtin("cis-1.12").unwrap();
        let spec = spec();
        let nodes = spec.nodes("prod");
        assert_eq!(nodes.len(), 6);
        assert!(nodes[0].control_plane && !nodes[1].control_plane);
        let report = spec.report(&catalog, &nodes[0], 10);
        validate_report(&report).unwrap();
        assert_eq!(report, spec.report(&catalog, &nodes[0], 10));
        assert_ne!(report.scan_id, spec.report(&catalog, &nodes[0], 11).scan_id);
        assert!(report.results.iter().all(|r| r.status != Status::Error));
        // Days are in order and end on the last day.
        let last = spec.report(&catalog, &nodes[0], 59);
        assert!(last.finished_at > report.finished_at);
        assert_eq!(last.finished_at.date(), spec.until.date());
    }

    #[test]
    fn no_scan_is_after_the_end_of_the_history_even_just_after_midnight() {
        let catalog = Catalog::builtin("cis-1.12").unwrap();
        let mut spec = spec();
        // 00:39 UTC: the last day's 02:00 scan would be in the future.
        spec.until = spec.until.replace_time(time::macros::time!(00:39));
        for node in spec.nodes("prod") {
            let last = spec.report(&catalog, &node, spec.days - 1);
            assert!(
                last.finished_at <= spec.until,
                "{} > {}",
                last.finished_at,
                spec.until
            );
            let before = spec.report(&catalog, &node, spec.days - 2);
            assert!(before.finished_at < last.finished_at);
        }
    }

    #[test]
    fn deviations_appear_and_get_fixed_over_time() {
        let catalog = Catalog::builtin("cis-1.12").unwrap();
        let spec = spec();
        let node = &spec.nodes("prod")[0];
        let failing: Vec<usize> = (0..spec.days)
            .map(|day| {
                spec.report(&catalog, node, day)
                    .results
                    .iter()
                    .filter(|r| r.status == Status::Fail)
                    .count()
            })
            .collect();
        let (min, max) = (failing.iter().min().unwrap(), failing.iter().max().unwrap());
        assert!(max > min, "the failures change over time: {failing:?}");
        // Workers carry no control-plane verdicts.
        let worker = spec.report(&catalog, &spec.nodes("prod")[2], 5);
        let apiserver = worker.results.iter().find(|r| r.check == "1.2.15").unwrap();
        assert_eq!(apiserver.status, Status::NotApplicable);
    }
}
