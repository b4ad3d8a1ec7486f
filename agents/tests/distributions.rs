//! Nodes of EKS (AL2, AL2023, Bottlerocket), AKS, GKE, k3s, RKE2 and OpenShift: the agent recognises the
//! distribution by itself, says why, and every check of that distribution's benchmark gets the verdict
//! the benchmark means.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop loudly at the first unexpected error"
)]

mod fixtures;

use std::collections::BTreeMap;

use fixtures::{NodeTree, SECRETS, distros};
use kubeward_agent::scan::{Scan, ScanOptions, scan};
use kubeward_benchmark::report::CheckResult;
use kubeward_benchmark::{Catalog, Status};

use Status::{Error as E, Fail as F, Manual as M, NotApplicable as NA, Pass as P, Warn as W};

fn run_with(node: &NodeTree, benchmark: &str) -> Scan {
    scan(&ScanOptions {
        host_root: node.host_root(),
        proc_root: node.proc_root(),
        node_name: None,
        benchmark: benchmark.to_owned(),
    })
    .unwrap()
}

fn run(node: &NodeTree) -> Scan {
    run_with(node, "auto")
}

fn result<'a>(scan: &'a Scan, id: &str) -> &'a CheckResult {
    scan.report
        .results
        .iter()
        .find(|result| result.check == id)
        .unwrap_or_else(|| panic!("no result for {id}"))
}

/// The distribution, the catalog it chose, and the status of every check of that catalog: those listed,
/// `default` for the rest.
fn assert_judged(
    scan: &Scan,
    distribution: &str,
    catalog: &str,
    listed: &[(&str, Status)],
    default: Status,
) {
    let platform = scan.report.node.platform.as_ref().unwrap();
    assert_eq!(platform.distribution, distribution);
    assert_eq!(platform.choice, "auto");
    assert_eq!(platform.uncertain, None, "{platform:?}");
    assert!(
        platform
            .signals
            .iter()
            .all(|signal| signal.distribution == distribution),
        "{platform:?}"
    );
    let catalog = Catalog::builtin(catalog).unwrap();
    assert_eq!(scan.report.benchmark, catalog.benchmark);
    let expected: BTreeMap<&str, Status> = listed.iter().copied().collect();
    assert_eq!(expected.len(), listed.len(), "a check is listed twice");
    for id in expected.keys() {
        assert!(
            catalog.check(id).is_some(),
            "{id} is not in {}",
            catalog.name
        );
    }
    assert_eq!(scan.report.results.len(), catalog.checks.len());
    let wrong: Vec<String> = catalog
        .checks
        .iter()
        .filter_map(|check| {
            let want = expected.get(check.id.as_str()).copied().unwrap_or(default);
            let got = result(scan, &check.id);
            (got.status != want).then(|| {
                format!(
                    "{}: expected {want}, got {} ({:?} {:?})",
                    check.id, got.status, got.detail, got.evidence
                )
            })
        })
        .collect();
    assert!(wrong.is_empty(), "{}:\n{}", catalog.name, wrong.join("\n"));
}

/// The managed items of sections 2 and 5, which only the cloud's API shows.
fn managed(ids: &[&'static str]) -> Vec<(&'static str, Status)> {
    ids.iter().map(|id| (*id, M)).collect()
}

const EKS_MANAGED: &[&str] = &[
    "2.1.1", "5.1.1", "5.1.2", "5.1.3", "5.1.4", "5.2.1", "5.3.1", "5.4.1", "5.4.2", "5.4.3",
    "5.4.4", "5.4.5", "5.5.1",
];

fn evidence_of(scan: &Scan, id: &str) -> String {
    format!("{:?}", result(scan, id).evidence)
}

#[test]
fn an_eks_al2_worker_is_judged_by_the_eks_benchmark() {
    let node = distros::eks_al2();
    let scan = run(&node);
    let mut listed = managed(EKS_MANAGED);
    listed.push(("3.2.6", F));
    assert_judged(&scan, "eks", "eks-1.8.0", &listed, P);
    let platform = scan.report.node.platform.as_ref().unwrap();
    assert_eq!(platform.variant.as_deref(), Some("al2"));
    assert_eq!(
        platform.followed,
        ["/etc/kubernetes/kubelet/kubelet-config.json"]
    );
    // 644 on the kubeconfig passes EKS's 3.1.1, where the generic benchmark asks 600.
    assert!(evidence_of(&scan, "3.1.1").contains("0644"));
    let generic = run_with(&node, "cis-1.12");
    assert_eq!(result(&generic, "4.1.5").status, F);
    // The read-only port is not in the config file: the kubelet's config-file default (closed) holds.
    assert!(evidence_of(&scan, "3.2.4").contains("default when started with a config file"));
}

#[test]
fn an_eks_al2023_worker_merges_the_config_json_d_drop_ins() {
    let scan = run(&distros::eks_al2023());
    let mut listed = managed(EKS_MANAGED);
    listed.push(("3.2.1", F));
    assert_judged(&scan, "eks", "eks-1.8.0", &listed, P);
    let platform = scan.report.node.platform.as_ref().unwrap();
    assert_eq!(platform.variant.as_deref(), Some("al2023"));
    assert!(
        platform
            .followed
            .contains(&"/etc/kubernetes/kubelet/config.json.d/00-nodeadm.conf".to_owned())
    );
    assert!(
        evidence_of(&scan, "3.2.1")
            .contains("config drop-in /etc/kubernetes/kubelet/config.json.d/00-nodeadm.conf")
    );
    // Both files are held to 644.
    assert!(evidence_of(&scan, "3.1.3").contains("00-nodeadm.conf"));
}

#[test]
fn an_eks_bottlerocket_worker_is_read_from_its_own_paths() {
    let scan = run(&distros::eks_bottlerocket());
    let mut listed = managed(EKS_MANAGED);
    listed.push(("3.2.4", F));
    assert_judged(&scan, "eks", "eks-1.8.0", &listed, P);
    assert_eq!(
        scan.report
            .node
            .platform
            .as_ref()
            .unwrap()
            .variant
            .as_deref(),
        Some("bottlerocket")
    );
    assert!(evidence_of(&scan, "3.1.1").contains("/etc/kubernetes/kubelet/kubeconfig"));
    assert!(evidence_of(&scan, "3.2.4").contains("10255"));
}

#[test]
fn an_aks_worker_checks_azure_json_and_reads_flags_and_config_together() {
    let scan = run(&distros::aks());
    let mut listed = managed(&[
        "2.1.1", "5.1.1", "5.1.2", "5.1.3", "5.1.4", "5.2.1", "5.3.1", "5.4.1", "5.4.2", "5.4.3",
        "5.4.4", "5.4.5", "5.5.1", "5.5.2",
    ]);
    listed.push(("3.1.4", F));
    assert_judged(&scan, "aks", "aks-1.8.0", &listed, P);
    assert!(evidence_of(&scan, "3.1.3").contains("/etc/kubernetes/azure.json"));
    assert!(evidence_of(&scan, "3.1.4").contains("1000:1000"));
    // --event-qps=0 is "0 or a level that keeps the events needed": it passes.
    assert!(evidence_of(&scan, "3.2.7").contains("observed: \"0\""));
}

#[test]
fn a_gke_cos_worker_has_only_its_four_file_items_on_the_node() {
    let scan = run(&distros::gke_cos());
    let mut listed = managed(&[
        "5.1.1", "5.2.1", "5.2.2", "5.3.1", "5.4.1", "5.5.1", "5.5.2", "5.5.3", "5.5.5", "5.6.3",
        "5.6.4", "5.6.5", "5.8.1", "5.8.3",
    ]);
    listed.push(("3.1.3", F));
    assert_judged(&scan, "gke", "gke-1.9.0", &listed, P);
    assert_eq!(
        scan.report
            .node
            .platform
            .as_ref()
            .unwrap()
            .variant
            .as_deref(),
        Some("cos")
    );
    // Space-separated --config was followed to the right file.
    assert!(evidence_of(&scan, "3.1.3").contains("/home/kubernetes/kubelet-config.yaml"));
    // The open read-only port is not a GKE 1.9.0 node item: the generic benchmark would fail it.
    assert!(
        scan.report
            .results
            .iter()
            .all(|result| !result.check.starts_with("4."))
    );
}

/// The checks a k3s or RKE2 node skips because the distribution makes them impossible.
const K3S_SKIPS: &[&str] = &[
    "1.1.1", "1.1.2", "1.1.3", "1.1.4", "1.1.5", "1.1.6", "1.1.7", "1.1.8", "1.1.12", "4.1.1",
    "4.1.2", "4.2.7",
];

#[test]
fn a_k3s_server_is_judged_from_its_config_files_and_its_embedded_components() {
    let node = distros::k3s_server();
    let scan = run(&node);
    let mut listed: Vec<(&str, Status)> = K3S_SKIPS.iter().map(|id| (*id, NA)).collect();
    listed.extend([
        ("1.2.1", W),
        ("1.2.3", W),
        ("1.2.11", W),
        ("1.2.20", M),
        ("1.2.29", W),
        ("1.2.30", F),
        ("3.1.1", M),
        ("3.1.2", M),
        ("3.1.3", M),
        ("3.2.2", M),
        ("4.2.12", W),
        ("4.2.13", W),
        ("4.2.14", W),
    ]);
    assert_judged(&scan, "k3s", "k3s-cis-1.12", &listed, P);
    assert_eq!(
        scan.report
            .node
            .roles
            .iter()
            .map(|role| role.as_str())
            .collect::<Vec<_>>(),
        ["control-plane", "etcd", "worker"]
    );
    // The drop-in's `kube-apiserver-arg+:` appended anonymous-auth=true; the evidence names the file.
    let anonymous = evidence_of(&scan, "1.2.1");
    assert!(anonymous.contains("in k3s server, pid 600"), "{anonymous}");
    assert!(
        anonymous.contains("k3s config /etc/rancher/k3s/config.yaml.d/50-debug.yaml"),
        "{anonymous}"
    );
    // A user's list replaces k3s's own value for the same flag rather than repeating it.
    assert!(evidence_of(&scan, "1.2.9").contains("\"NodeRestriction,EventRateLimit\""));
    // What nobody set comes from k3s's own defaults, and says so.
    assert!(evidence_of(&scan, "1.4.1").contains("k3s built-in default"));
    // Embedded etcd reads its config file, not flags.
    assert!(
        evidence_of(&scan, "2.2")
            .contains("etcd config file /var/lib/rancher/k3s/server/db/etcd/config")
    );
    // Newer k3s writes the kubelet's settings to kubelet.conf.d: the file is the evidence.
    assert!(evidence_of(&scan, "4.2.1").contains("00-k3s-defaults.conf"));
    // secrets-encryption: the encryption config k3s writes is read and judged.
    assert!(evidence_of(&scan, "1.2.28").contains("aescbc"));
    let platform = scan.report.node.platform.as_ref().unwrap();
    for followed in [
        "/etc/rancher/k3s/config.yaml",
        "/etc/rancher/k3s/config.yaml.d/50-debug.yaml",
    ] {
        assert!(
            platform.followed.contains(&followed.to_owned()),
            "{platform:?}"
        );
    }
}

#[test]
fn a_k3s_agent_of_an_older_release_is_judged_from_the_flags_k3s_passes() {
    let scan = run(&distros::k3s_agent());
    let mut listed: Vec<(&str, Status)> = [
        "1.1.9", "1.1.10", "4.1.3", "4.1.4", "4.1.5", "4.1.6", "4.1.8", "4.2.1", "4.2.2", "4.2.3",
        "4.2.4", "4.2.5", "4.2.6", "4.2.8", "4.2.9", "4.2.11", "4.3.1",
    ]
    .iter()
    .map(|id| (*id, P))
    .collect();
    listed.extend([
        ("4.1.7", W),
        ("4.2.10", F),
        ("4.2.12", W),
        ("4.2.13", W),
        ("4.2.14", W),
    ]);
    assert_judged(&scan, "k3s", "k3s-cis-1.12", &listed, NA);
    // The client CA at 644 passes the generic benchmark and not k3s's guide.
    assert!(evidence_of(&scan, "4.1.7").contains("0600 or more restrictive"));
    assert!(evidence_of(&scan, "4.2.4").contains("k3s built-in default"));
    assert!(
        evidence_of(&scan, "4.2.5").contains("k3s config /etc/rancher/k3s/config.yaml kubelet-arg")
    );
}

#[test]
fn an_rke2_server_reads_its_static_pods_and_etcds_config_file() {
    let scan = run(&distros::rke2_server());
    let listed = [
        ("1.1.5", F),
        ("1.2.3", W),
        ("1.2.9", W),
        ("1.2.11", W),
        ("1.2.20", M),
        ("1.2.29", W),
        ("1.2.30", F),
        ("3.1.1", M),
        ("3.1.2", M),
        ("3.1.3", M),
        ("3.2.2", M),
        ("4.1.1", NA),
        ("4.1.2", NA),
        ("4.2.7", NA),
        ("4.2.12", W),
        ("4.2.13", W),
        ("4.2.14", W),
    ];
    assert_judged(&scan, "rke2", "rke2-cis-1.12", &listed, P);
    assert!(
        evidence_of(&scan, "1.1.1")
            .contains("/var/lib/rancher/rke2/agent/pod-manifests/kube-apiserver.yaml")
    );
    // etcd ignores its flags when it has a config file; the TLS settings nested in it are read.
    assert!(
        evidence_of(&scan, "2.4")
            .contains("etcd config file /var/lib/rancher/rke2/server/db/etcd/config")
    );
    // The CIS profile's etcd user owns the data directory.
    assert!(evidence_of(&scan, "1.1.12").contains("etcd:etcd"));
    assert!(
        evidence_of(&scan, "1.1.13").contains("/var/lib/rancher/rke2/server/cred/admin.kubeconfig")
    );
    // 4.1.1: there is no kubelet unit, and that is said, not passed.
    assert!(
        result(&scan, "4.1.1")
            .detail
            .as_deref()
            .unwrap()
            .contains("no kubelet unit")
    );
}

#[test]
fn an_rke2_agent_checks_its_kubelet_drop_ins() {
    let scan = run(&distros::rke2_agent());
    let mut listed: Vec<(&str, Status)> = [
        "1.1.9", "1.1.10", "4.1.3", "4.1.4", "4.1.5", "4.1.6", "4.1.7", "4.1.8", "4.1.9", "4.1.10",
        "4.2.1", "4.2.2", "4.2.3", "4.2.4", "4.2.5", "4.2.6", "4.2.8", "4.2.9", "4.2.10", "4.2.11",
        "4.3.1",
    ]
    .iter()
    .map(|id| (*id, P))
    .collect();
    listed.extend([("4.2.12", W), ("4.2.13", W), ("4.2.14", W)]);
    assert_judged(&scan, "rke2", "rke2-cis-1.12", &listed, NA);
    assert!(evidence_of(&scan, "4.1.9").contains("00-rke2-defaults.conf"));
}

#[test]
fn openshift_nodes_are_judged_by_the_openshift_numbering() {
    let master = run(&distros::openshift_master());
    let listed = [("4.1.3", NA), ("4.1.4", NA), ("4.2.1", M)];
    assert_judged(&master, "openshift", "openshift-1.8.0", &listed, P);
    assert_eq!(
        master
            .report
            .node
            .platform
            .as_ref()
            .unwrap()
            .variant
            .as_deref(),
        Some("rhcos")
    );
    // OpenShift 4.2.2 is CIS 4.2.1, read from the kubelet's own config file.
    assert!(evidence_of(&master, "4.2.2").contains("--anonymous-auth"));
    assert!(evidence_of(&master, "4.2.2").contains("/etc/kubernetes/kubelet.conf"));
    let worker = run(&distros::openshift_worker());
    let listed = [("4.1.3", NA), ("4.1.4", NA), ("4.1.9", F), ("4.2.1", M)];
    assert_judged(&worker, "openshift", "openshift-1.8.0", &listed, P);
}

#[test]
fn no_secret_of_a_distribution_node_reaches_the_report() {
    for node in [
        distros::aks(),
        distros::k3s_server(),
        distros::k3s_agent(),
        distros::rke2_server(),
    ] {
        let json = serde_json::to_string(&run(&node).report).unwrap();
        for secret in SECRETS {
            assert!(!json.contains(secret), "{secret} leaked");
        }
    }
}

#[test]
fn signals_that_disagree_are_said_and_the_stronger_side_wins() {
    // A kubeadm node with k3s's directories left over from an old install: the running kubelet decides.
    let node = NodeTree::new();
    node.accounts().hostname("mixed-1");
    node.root_file(
        "/var/lib/kubelet/config.yaml",
        0o600,
        "kind: KubeletConfiguration\n",
    );
    node.dir("/etc/rancher/k3s", 0o755, 0, 0);
    node.process(
        5,
        &["/usr/bin/kubelet", "--config=/var/lib/kubelet/config.yaml"],
        &[],
    );
    let scan = run(&node);
    let platform = scan.report.node.platform.as_ref().unwrap();
    assert_eq!(platform.distribution, "kubeadm");
    assert_eq!(scan.report.benchmark.id, "cis-kubernetes");
    let doubt = platform.uncertain.as_deref().unwrap();
    assert!(doubt.starts_with("benchmark choice uncertain"), "{doubt}");
    assert!(
        doubt.contains("kubeadm (3)") && doubt.contains("k3s (1)"),
        "{doubt}"
    );
    assert!(
        platform
            .signals
            .iter()
            .any(|signal| signal.distribution == "k3s")
    );

    // Equal signals for EKS and GKE: the choice is made (by a fixed order) and said to be uncertain.
    let tied = NodeTree::new();
    tied.accounts().hostname("tied-1");
    tied.dir("/etc/eks", 0o755, 0, 0)
        .dir("/home/kubernetes", 0o755, 0, 0);
    tied.process(6, &["/usr/bin/kubelet"], &[]);
    let scan = run(&tied);
    let platform = scan.report.node.platform.as_ref().unwrap();
    assert_eq!(platform.distribution, "eks");
    assert!(
        platform.uncertain.as_deref().unwrap().contains("gke (1)"),
        "{platform:?}"
    );

    // A kubelet with no distribution's marks is upstream Kubernetes, judged by CIS itself, without doubt.
    let plain = NodeTree::new();
    plain.accounts().hostname("plain-1");
    plain.process(
        7,
        &["/opt/bin/kubelet", "--kubeconfig=/etc/k/kubelet.conf"],
        &[],
    );
    let scan = run(&plain);
    let platform = scan.report.node.platform.as_ref().unwrap();
    assert_eq!(
        (
            platform.distribution.as_str(),
            platform.uncertain.as_deref()
        ),
        ("kubeadm", None)
    );
}

#[test]
fn an_override_is_obeyed_and_its_disagreement_with_the_node_is_said() {
    let node = distros::eks_al2();
    let scan = run_with(&node, "cis-1.12");
    assert_eq!(scan.report.benchmark.id, "cis-kubernetes");
    let platform = scan.report.node.platform.as_ref().unwrap();
    assert_eq!(
        (platform.distribution.as_str(), platform.choice.as_str()),
        ("eks", "override")
    );
    let doubt = platform.uncertain.as_deref().unwrap();
    assert!(
        doubt.contains("--benchmark cis-1.12 overrides") && doubt.contains("eks-1.8.0"),
        "{doubt}"
    );
    // Overriding with the node's own benchmark is no disagreement.
    let agreed = run_with(&node, "eks-1.8.0");
    assert_eq!(
        agreed.report.node.platform.as_ref().unwrap().uncertain,
        None
    );
    // An unknown benchmark is refused before the node is read.
    let err = scan_error(&node, "eks-9.9");
    assert!(
        err.contains("unknown benchmark") && err.contains("eks-1.8.0"),
        "{err}"
    );
}

fn scan_error(node: &NodeTree, benchmark: &str) -> String {
    scan(&ScanOptions {
        host_root: node.host_root(),
        proc_root: node.proc_root(),
        node_name: None,
        benchmark: benchmark.to_owned(),
    })
    .unwrap_err()
    .to_string()
}

#[test]
fn a_k3s_config_that_cannot_be_read_makes_settings_unknown_never_defaults() {
    let node = distros::k3s_agent();
    node.root_file(
        "/etc/rancher/k3s/config.yaml",
        0o600,
        "kubelet-arg: [\"read-only-port=10255\"\n  broken: [",
    );
    let scan = run(&node);
    for id in ["4.2.1", "4.2.4", "4.2.10"] {
        let result = result(&scan, id);
        assert_eq!(result.status, E, "{id}: {result:?}");
        let detail = result.detail.as_deref().unwrap();
        assert!(
            detail.contains("/etc/rancher/k3s/config.yaml could not be read"),
            "{detail}"
        );
    }
    // File checks do not depend on the config and are still judged.
    assert_eq!(result(&scan, "4.1.5").status, P);
}

#[test]
fn k3s_without_embedded_etcd_has_no_etcd_checks_to_fail() {
    // sqlite (the single-server default) or an external datastore: no etcd data directory.
    let node = NodeTree::new();
    node.accounts().hostname("k3s-sqlite");
    node.process_named(
        20,
        &["/usr/local/bin/k3s", "server", "--disable-kube-proxy"],
        "k3s-server",
    );
    let scan = run(&node);
    assert_eq!(
        scan.report.node.platform.as_ref().unwrap().distribution,
        "k3s"
    );
    for id in ["2.1", "2.2", "2.7", "1.1.11"] {
        assert_eq!(result(&scan, id).status, NA, "{id}");
    }
    assert!(evidence_of(&scan, "1.2.1").contains("k3s built-in default"));
    // --disable-kube-proxy on k3s's own command line: there is no kube-proxy to judge.
    assert_eq!(result(&scan, "4.3.1").status, NA);
}
