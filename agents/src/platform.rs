//! Which distribution a node runs, from the node alone, and the benchmark that judges it.
//!
//! Every signal is kept, for and against the choice, and goes into the report: an auditor sees why a node
//! was judged by the EKS benchmark, and signals that point at two distributions are said ("benchmark choice
//! uncertain"), never settled silently. Signals come from the running processes (the strongest: they show
//! what runs now), the distributions' own directories and files, and the host's os-release.

use kubeward_benchmark::facts::Component;
use kubeward_benchmark::report::{Platform, PlatformSignal};

use crate::host::HostFs;
use crate::processes::{Discovered, SupervisorKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Distribution {
    K3s,
    Rke2,
    Openshift,
    Eks,
    Aks,
    Gke,
    /// Upstream Kubernetes as kubeadm (or a hand-made cluster) lays it out: the CIS benchmark itself.
    Kubeadm,
}

impl Distribution {
    /// The more specific distributions first: this order breaks ties between equally strong signals.
    const ALL: [Distribution; 7] = [
        Distribution::K3s,
        Distribution::Rke2,
        Distribution::Openshift,
        Distribution::Eks,
        Distribution::Aks,
        Distribution::Gke,
        Distribution::Kubeadm,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Distribution::K3s => "k3s",
            Distribution::Rke2 => "rke2",
            Distribution::Openshift => "openshift",
            Distribution::Eks => "eks",
            Distribution::Aks => "aks",
            Distribution::Gke => "gke",
            Distribution::Kubeadm => "kubeadm",
        }
    }

    /// The catalog that judges this distribution's nodes.
    pub fn catalog(self) -> &'static str {
        match self {
            Distribution::K3s => "k3s-cis-1.12",
            Distribution::Rke2 => "rke2-cis-1.12",
            Distribution::Openshift => "openshift-1.8.0",
            Distribution::Eks => "eks-1.8.0",
            Distribution::Aks => "aks-1.8.0",
            Distribution::Gke => "gke-1.9.0",
            Distribution::Kubeadm => "cis-1.12",
        }
    }

    fn from_name(name: &str) -> Option<Distribution> {
        Distribution::ALL
            .into_iter()
            .find(|distribution| distribution.name() == name)
    }
}

/// The catalog a distribution name (from a fingerprint) is judged by.
pub fn catalog_for(distribution: &str) -> Option<&'static str> {
    Distribution::from_name(distribution).map(Distribution::catalog)
}

/// How much a signal weighs: a running process outweighs files that may be left over from an install.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Weight {
    File = 1,
    Process = 3,
}

#[derive(Debug, Clone)]
struct Signal {
    distribution: Distribution,
    weight: Weight,
    observed: String,
}

/// What the node shows, before a choice is made.
#[derive(Debug, Default)]
pub struct Detection {
    signals: Vec<Signal>,
    variant: Option<String>,
    /// Whether any Kubernetes component (or a k3s/RKE2 supervisor) runs at all.
    pub components_found: bool,
}

/// Kubelet `--config` files that only one distribution uses, with the image variant they reveal.
const KUBELET_CONFIGS: &[(&str, Distribution, Option<&str>)] = &[
    (
        "/etc/kubernetes/kubelet/kubelet-config.json",
        Distribution::Eks,
        Some("al2"),
    ),
    (
        "/etc/kubernetes/kubelet/config.json",
        Distribution::Eks,
        Some("al2023"),
    ),
    (
        "/etc/kubernetes/kubelet/config",
        Distribution::Eks,
        Some("bottlerocket"),
    ),
    (
        "/home/kubernetes/kubelet-config.yaml",
        Distribution::Gke,
        None,
    ),
    ("/etc/default/kubeletconfig.json", Distribution::Aks, None),
    (
        "/etc/kubernetes/kubelet.conf",
        Distribution::Openshift,
        None,
    ),
    ("/var/lib/kubelet/config.yaml", Distribution::Kubeadm, None),
];

/// Directories and files that a distribution puts on its nodes.
const MARKERS: &[(&str, Distribution)] = &[
    ("/etc/rancher/k3s", Distribution::K3s),
    ("/var/lib/rancher/k3s", Distribution::K3s),
    ("/etc/rancher/rke2", Distribution::Rke2),
    ("/var/lib/rancher/rke2", Distribution::Rke2),
    (
        "/etc/kubernetes/static-pod-resources",
        Distribution::Openshift,
    ),
    ("/etc/kubernetes/kubelet-ca.crt", Distribution::Openshift),
    ("/etc/eks", Distribution::Eks),
    ("/etc/kubernetes/azure.json", Distribution::Aks),
    ("/etc/default/kubelet", Distribution::Aks),
    ("/home/kubernetes", Distribution::Gke),
    (
        "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
        Distribution::Kubeadm,
    ),
    (
        "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf",
        Distribution::Kubeadm,
    ),
    (
        "/etc/kubernetes/manifests/kube-apiserver.yaml",
        Distribution::Kubeadm,
    ),
];

impl Detection {
    fn add(&mut self, distribution: Distribution, weight: Weight, observed: String) {
        self.signals.push(Signal {
            distribution,
            weight,
            observed,
        });
    }

    fn variant(&mut self, variant: &str) {
        self.variant.get_or_insert_with(|| variant.to_owned());
    }
}

/// Reads the signals of the node.
pub fn detect(host: &HostFs, found: &Discovered) -> Detection {
    let mut detection = Detection {
        components_found: !found.components.is_empty() || !found.supervisors.is_empty(),
        ..Detection::default()
    };
    for supervisor in &found.supervisors {
        let distribution = match supervisor.kind {
            SupervisorKind::K3s => Distribution::K3s,
            SupervisorKind::Rke2 => Distribution::Rke2,
        };
        detection.add(
            distribution,
            Weight::Process,
            format!(
                "process {} runs `{} {}`",
                supervisor.pid,
                supervisor.kind.name(),
                supervisor.mode
            ),
        );
    }
    if let Some(kubelet) = found.components.get(&Component::Kubelet) {
        kubelet_signals(&mut detection, kubelet);
    }
    for (path, distribution) in MARKERS {
        if host.exists(path) {
            detection.add(*distribution, Weight::File, format!("{path} exists"));
        }
    }
    os_release_signals(host, &mut detection);
    detection
}

fn kubelet_signals(detection: &mut Detection, kubelet: &crate::processes::FoundProcess) {
    let pid = kubelet.pid;
    let executable = kubelet.argv.first().map(String::as_str).unwrap_or_default();
    if executable.starts_with("/home/kubernetes/bin/") {
        detection.add(
            Distribution::Gke,
            Weight::Process,
            format!("kubelet (pid {pid}) runs from {executable}"),
        );
    }
    if executable.starts_with("/var/lib/rancher/rke2/") {
        detection.add(
            Distribution::Rke2,
            Weight::Process,
            format!("kubelet (pid {pid}) runs from {executable}"),
        );
    }
    let flags = crate::argv::parse_flags(kubelet.argv.get(1..).unwrap_or_default());
    let value = |name: &str| {
        flags
            .iter()
            .rfind(|flag| flag.name == name)
            .and_then(|flag| flag.value.clone())
    };
    if let Some(config) = value("config")
        && let Some((_, distribution, variant)) =
            KUBELET_CONFIGS.iter().find(|(path, ..)| *path == config)
    {
        detection.add(
            *distribution,
            Weight::Process,
            format!("kubelet (pid {pid}) --config {config}"),
        );
        if let Some(variant) = variant {
            detection.variant(variant);
        }
    }
    if let Some(cloud_config) = value("cloud-config")
        && cloud_config.ends_with("/azure.json")
    {
        detection.add(
            Distribution::Aks,
            Weight::Process,
            format!("kubelet (pid {pid}) --cloud-config {cloud_config}"),
        );
    }
    if let Some(provider) = value("image-credential-provider-config")
        && provider.starts_with("/etc/eks/")
    {
        detection.add(
            Distribution::Eks,
            Weight::Process,
            format!("kubelet (pid {pid}) --image-credential-provider-config {provider}"),
        );
    }
}

/// The host's `/etc/os-release`: node images that belong to one distribution.
fn os_release_signals(host: &HostFs, detection: &mut Detection) {
    let Ok(bytes) = host.read("/etc/os-release") else {
        return;
    };
    let text = String::from_utf8_lossy(&bytes);
    let field = |name: &str| {
        text.lines().find_map(|line| {
            line.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('='))
                .map(|value| value.trim().trim_matches('"').to_owned())
        })
    };
    let id = field("ID").unwrap_or_default();
    let version = field("VERSION_ID").unwrap_or_default();
    let (distribution, variant) = match id.as_str() {
        "bottlerocket" => (Distribution::Eks, "bottlerocket"),
        "cos" => (Distribution::Gke, "cos"),
        "rhcos" => (Distribution::Openshift, "rhcos"),
        // Amazon Linux is also used outside EKS, so it only counts as a file-weight signal.
        "amzn" if version == "2023" => (Distribution::Eks, "al2023"),
        "amzn" if version == "2" => (Distribution::Eks, "al2"),
        _ => return,
    };
    detection.add(
        distribution,
        Weight::File,
        format!("/etc/os-release ID={id} VERSION_ID={version}"),
    );
    detection.variant(variant);
}

/// The choice, and the fingerprint that explains it.
#[derive(Debug)]
pub struct Choice {
    pub catalog: String,
    pub platform: Platform,
}

/// Chooses the benchmark: the distribution with the strongest signals, or the one `--benchmark` names.
pub fn choose(detection: &Detection, requested: &str, followed: Vec<String>) -> Choice {
    let mut scores: Vec<(Distribution, u32)> = Distribution::ALL
        .into_iter()
        .map(|distribution| {
            let score = detection
                .signals
                .iter()
                .filter(|signal| signal.distribution == distribution)
                .map(|signal| signal.weight as u32)
                .sum();
            (distribution, score)
        })
        .filter(|(_, score)| *score > 0)
        .collect();
    // Highest score first; Distribution::ALL's order (specific before generic) breaks ties.
    scores.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let detected = if detection.components_found {
        Some(
            scores
                .first()
                .map_or(Distribution::Kubeadm, |(best, _)| *best),
        )
    } else {
        None
    };
    let mut doubts = Vec::new();
    if !detection.components_found {
        doubts.push(
            "no Kubernetes component was found on this host: check --proc-root (the pod needs hostPID) \
             and --host-root; this scan judged nothing that runs"
                .to_owned(),
        );
    }
    if let Some(detected) = detected {
        let others: Vec<String> = scores
            .iter()
            .filter(|(distribution, _)| *distribution != detected)
            .map(|(distribution, score)| format!("{} ({score})", distribution.name()))
            .collect();
        if !others.is_empty() {
            let best = scores
                .iter()
                .find(|(distribution, _)| *distribution == detected)
                .map_or(0, |(_, score)| *score);
            doubts.push(format!(
                "benchmark choice uncertain: signals point at {} ({best}) and also at {}",
                detected.name(),
                others.join(", ")
            ));
        }
    }
    let auto = requested == "auto";
    let catalog = if auto {
        detected
            .map_or("cis-1.12", Distribution::catalog)
            .to_owned()
    } else {
        requested.to_owned()
    };
    if !auto
        && let Some(detected) = detected
        && detected.catalog() != catalog
    {
        doubts.push(format!(
            "--benchmark {catalog} overrides the node's signals, which point at {} ({})",
            detected.name(),
            detected.catalog()
        ));
    }
    let signals = detection
        .signals
        .iter()
        .map(|signal| PlatformSignal {
            distribution: signal.distribution.name().to_owned(),
            observed: signal.observed.clone(),
        })
        .collect();
    Choice {
        catalog,
        platform: Platform {
            distribution: detected.map_or("unknown", Distribution::name).to_owned(),
            variant: detection.variant.clone(),
            choice: if auto { "auto" } else { "override" }.to_owned(),
            signals,
            followed,
            uncertain: (!doubts.is_empty()).then(|| doubts.join("; ")),
        },
    }
}
