//! The exact verdict of every check on real node layouts, and the evidence behind a sample of them.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop loudly at the first unexpected error"
)]

mod fixtures;

use std::collections::BTreeMap;

use fixtures::NodeTree;
use kubeward_agent::scan::{Scan, ScanOptions, scan};
use kubeward_benchmark::report::{CheckResult, NodeRole};
use kubeward_benchmark::{Catalog, Status};

use Status::{Error as E, Fail as F, Manual as M, NotApplicable as NA, Pass as P, Warn as W};

fn run(node: &NodeTree) -> Scan {
    scan(&ScanOptions {
        host_root: node.host_root(),
        proc_root: node.proc_root(),
        node_name: None,
        benchmark: "cis-1.12".to_owned(),
    })
    .unwrap()
}

fn result<'a>(scan: &'a Scan, id: &str) -> &'a CheckResult {
    scan.report
        .results
        .iter()
        .find(|result| result.check == id)
        .unwrap()
}

/// Asserts the status of every check of the catalog: those listed, and `default` for the rest.
fn assert_statuses(scan: &Scan, listed: &[(&str, Status)], default: Status) {
    let catalog = Catalog::builtin("cis-1.12").unwrap();
    let expected: BTreeMap<&str, Status> = listed.iter().copied().collect();
    assert_eq!(expected.len(), listed.len(), "a check is listed twice");
    for id in expected.keys() {
        assert!(
            catalog.check(id).is_some(),
            "{id} is not a check of the catalog"
        );
    }
    assert_eq!(scan.report.results.len(), catalog.checks.len());
    let mut wrong = Vec::new();
    for check in &catalog.checks {
        let want = expected.get(check.id.as_str()).copied().unwrap_or(default);
        let got = result(scan, &check.id);
        if got.status != want {
            wrong.push(format!(
                "{}: expected {want}, got {} ({:?} {:?})",
                check.id, got.status, got.detail, got.evidence
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} checks differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn a_kubeadm_control_plane_node_gets_the_verdict_the_benchmark_means_for_every_check() {
    let node = fixtures::control_plane();
    let scan = run(&node);
    assert_eq!(scan.report.node.name, "cp-1");
    assert_eq!(
        scan.report.node.roles,
        [NodeRole::ControlPlane, NodeRole::Etcd, NodeRole::Worker]
    );
    assert_statuses(
        &scan,
        &[
            ("1.1.1", P),
            ("1.1.2", P),
            ("1.1.3", P),
            ("1.1.4", P),
            ("1.1.5", F),
            ("1.1.6", P),
            ("1.1.7", P),
            ("1.1.8", F),
            ("1.1.9", W),
            ("1.1.10", P),
            ("1.1.11", P),
            ("1.1.12", P),
            ("1.1.13", P),
            ("1.1.14", P),
            ("1.1.15", P),
            ("1.1.16", P),
            ("1.1.17", F),
            ("1.1.18", P),
            ("1.1.19", P),
            ("1.1.20", P),
            ("1.1.21", W),
            ("1.2.1", P),
            ("1.2.2", F),
            ("1.2.3", W),
            ("1.2.4", P),
            ("1.2.5", F),
            ("1.2.6", P),
            ("1.2.7", P),
            ("1.2.8", P),
            ("1.2.9", W),
            ("1.2.10", P),
            ("1.2.11", P),
            ("1.2.12", P),
            ("1.2.13", P),
            ("1.2.14", P),
            ("1.2.15", P),
            ("1.2.16", P),
            ("1.2.17", F),
            ("1.2.18", P),
            ("1.2.19", P),
            ("1.2.20", M),
            ("1.2.21", P),
            ("1.2.22", P),
            ("1.2.23", P),
            ("1.2.24", P),
            ("1.2.25", P),
            ("1.2.26", P),
            ("1.2.27", P),
            ("1.2.28", W),
            ("1.2.29", W),
            ("1.2.30", F),
            ("1.3.1", P),
            ("1.3.2", P),
            ("1.3.3", P),
            ("1.3.4", P),
            ("1.3.5", P),
            ("1.3.6", F),
            ("1.3.7", P),
            ("1.4.1", F),
            ("1.4.2", F),
            ("2.1", P),
            ("2.2", P),
            ("2.3", P),
            ("2.4", P),
            ("2.5", P),
            ("2.6", F),
            ("2.7", P),
            ("3.1.1", M),
            ("3.1.2", M),
            ("3.1.3", M),
            ("3.2.1", P),
            ("3.2.2", M),
            ("4.1.1", F),
            ("4.1.2", P),
            ("4.1.3", NA),
            ("4.1.4", NA),
            ("4.1.5", P),
            ("4.1.6", P),
            ("4.1.7", P),
            ("4.1.8", P),
            ("4.1.9", F),
            ("4.1.10", P),
            ("4.2.1", P),
            ("4.2.2", P),
            ("4.2.3", P),
            ("4.2.4", P),
            ("4.2.5", W),
            ("4.2.6", P),
            ("4.2.7", P),
            ("4.2.8", P),
            ("4.2.9", W),
            ("4.2.10", P),
            ("4.2.11", P),
            ("4.2.12", W),
            ("4.2.13", W),
            ("4.2.14", W),
            ("4.3.1", F),
        ],
        NA,
    );
}

#[test]
fn control_plane_evidence_says_what_was_inspected_where_the_value_came_from_and_what_was_expected()
{
    let node = fixtures::control_plane();
    let scan = run(&node);

    let manifest = &result(&scan, "1.1.5").evidence[0];
    assert_eq!(
        manifest.subject,
        "/etc/kubernetes/manifests/kube-scheduler.yaml"
    );
    assert_eq!(manifest.observed, "0644");
    assert_eq!(manifest.expected, "0600 or more restrictive");
    assert_eq!(
        manifest.source.as_deref(),
        Some("kubelet staticPodPath in /var/lib/kubelet/config.yaml")
    );

    // The etcd data directory's owner is named through the host's passwd, with numeric ids.
    let data_dir = &result(&scan, "1.1.12").evidence[0];
    assert_eq!(data_dir.subject, "/var/lib/etcd");
    assert_eq!(
        data_dir.observed,
        format!("etcd:etcd ({0}:{0})", fixtures::ETCD_UID)
    );
    assert_eq!(data_dir.source.as_deref(), Some("etcd --data-dir"));

    let stranger = &result(&scan, "1.1.8").evidence[0];
    assert!(stranger.observed.contains("(1000:1000)"), "{stranger:?}");
    assert!(
        stranger
            .observed
            .contains("no name in the host's /etc/passwd"),
        "{stranger:?}"
    );

    // The kubelet's kubeconfig is an absolute symlink, resolved inside the host root.
    let kubeconfig = &result(&scan, "4.1.5").evidence[0];
    assert_eq!(kubeconfig.subject, "/etc/kubernetes/kubelet.conf");
    assert_eq!(kubeconfig.observed, "0600");

    // Unit files behind the merged-/usr link are listed once each.
    let units: Vec<&str> = result(&scan, "4.1.1")
        .evidence
        .iter()
        .map(|e| e.subject.as_str())
        .collect();
    assert_eq!(
        units,
        [
            "/usr/lib/systemd/system/kubelet.service",
            "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf"
        ]
    );

    let anonymous = &result(&scan, "4.2.1").evidence[0];
    assert_eq!(
        anonymous.subject,
        "kubelet (pid 812) --anonymous-auth / authentication.anonymous.enabled"
    );
    assert_eq!(anonymous.observed, "false");
    assert_eq!(
        anonymous.source.as_deref(),
        Some("config file /var/lib/kubelet/config.yaml")
    );

    // "0s" is zero: the idle timeout is off, whatever the spelling.
    assert_eq!(result(&scan, "4.2.5").evidence[0].observed, "0s");

    // Defaults are named as such.
    let scheduler_bind = &result(&scan, "1.4.2").evidence[0];
    assert_eq!(scheduler_bind.observed, "0.0.0.0");
    assert_eq!(
        scheduler_bind.source.as_deref(),
        Some("kube-scheduler default")
    );
    let extend = &result(&scan, "1.2.30").evidence[0];
    assert_eq!(extend.source.as_deref(), Some("kube-apiserver default"));

    // etcd: the command line beats the environment; the environment counts when the flag is absent.
    assert_eq!(
        result(&scan, "2.3").evidence[0].source.as_deref(),
        Some("command line")
    );
    let peer_auto_tls = &result(&scan, "2.6").evidence[0];
    assert_eq!(
        peer_auto_tls.source.as_deref(),
        Some("environment variable ETCD_PEER_AUTO_TLS")
    );
    assert_eq!(peer_auto_tls.observed, "true");

    // kube-proxy's config is read from its pod's file system.
    let metrics = &result(&scan, "4.3.1").evidence[0];
    assert_eq!(metrics.observed, "0.0.0.0:10249");
    assert_eq!(
        metrics.source.as_deref(),
        Some("config file /var/lib/kube-proxy/config.conf")
    );

    // The first provider writes: identity first means secrets are stored in plain text.
    let encryption = &result(&scan, "1.2.28").evidence[0];
    assert_eq!(encryption.observed, "identity");
    assert_eq!(
        encryption.subject,
        "/etc/kubernetes/enc/encryption.yaml resources [secrets]: first provider"
    );

    let ciphers = &result(&scan, "1.2.29").evidence[0];
    assert_eq!(
        ciphers.observed,
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_RSA_WITH_AES_128_CBC_SHA"
    );

    let gate = &result(&scan, "1.3.6").evidence[0];
    assert_eq!(
        gate.subject,
        "kube-controller-manager (pid 1301) feature gate RotateKubeletServerCertificate"
    );
    assert_eq!(gate.observed, "false");

    // Every automated result that is decided carries evidence.
    let catalog = Catalog::builtin("cis-1.12").unwrap();
    for result in &scan.report.results {
        let check = catalog.check(&result.check).unwrap();
        if matches!(result.status, Status::Pass | Status::Fail | Status::Warn) {
            assert!(!result.evidence.is_empty(), "{} has no evidence", check.id);
            for evidence in &result.evidence {
                assert!(
                    evidence.source.is_some(),
                    "{} evidence has no source",
                    check.id
                );
            }
        }
    }
}

#[test]
fn a_scan_reads_each_file_at_most_once() {
    let node = fixtures::control_plane();
    let scan = run(&node);
    assert!(scan.io.repeated().is_empty(), "{:?}", scan.io.repeated());
    assert!(scan.io.files_read() >= 5, "{:?}", scan.io.reads);
}

#[test]
fn a_worker_whose_kubelet_runs_on_flags_alone_gets_the_flag_mode_defaults() {
    let node = fixtures::flags_only_worker();
    let scan = run(&node);
    assert_eq!(scan.report.node.roles, [NodeRole::Worker]);
    assert_statuses(
        &scan,
        &[
            ("1.1.9", P),
            ("1.1.10", P),
            ("4.1.1", P),
            ("4.1.2", P),
            ("4.1.3", W),
            ("4.1.4", P),
            ("4.1.5", P),
            ("4.1.6", P),
            ("4.1.7", P),
            ("4.1.8", P),
            ("4.2.1", P),
            ("4.2.2", P),
            ("4.2.3", P),
            ("4.2.4", W),
            ("4.2.5", P),
            ("4.2.6", P),
            ("4.2.7", W),
            ("4.2.8", P),
            ("4.2.9", W),
            ("4.2.10", P),
            ("4.2.11", P),
            ("4.2.12", P),
            ("4.2.13", P),
            ("4.2.14", P),
            ("4.3.1", P),
        ],
        NA,
    );
    let read_only = &result(&scan, "4.2.4").evidence[0];
    assert_eq!(read_only.observed, "10255");
    assert_eq!(
        read_only.source.as_deref(),
        Some("kubelet default when started without a config file")
    );
    // A worker is not a control-plane node: control-plane checks do not apply, they do not fail.
    let apiserver = result(&scan, "1.2.1");
    assert_eq!(
        apiserver.detail.as_deref(),
        Some("kube-apiserver is not running on this node")
    );
    assert_eq!(
        result(&scan, "4.1.9").detail.as_deref(),
        Some("the kubelet runs on flags alone, without --config")
    );
}

#[test]
fn the_kubelet_config_named_by_its_flag_wins_over_a_compliant_file_at_the_default_path() {
    let node = fixtures::decoy_config();
    let scan = run(&node);
    assert_statuses(
        &scan,
        &[
            ("4.1.5", P),
            ("4.1.6", P),
            ("4.1.9", F),
            ("4.1.10", P),
            ("4.2.1", F),
            ("4.2.2", F),
            ("4.2.3", F),
            ("4.2.4", W),
            ("4.2.5", P),
            ("4.2.6", P),
            ("4.2.7", P),
            ("4.2.8", P),
            ("4.2.9", W),
            ("4.2.10", F),
            ("4.2.11", P),
            ("4.2.12", W),
            ("4.2.13", W),
            ("4.2.14", W),
        ],
        NA,
    );
    let mode = &result(&scan, "4.1.9").evidence;
    assert_eq!(mode.len(), 1);
    assert_eq!(
        mode[0].subject,
        "/etc/kubernetes/kubelet/kubelet-config.yaml"
    );
    assert_eq!(mode[0].source.as_deref(), Some("kubelet --config"));
    let anonymous = &result(&scan, "4.2.1").evidence[0];
    assert_eq!(anonymous.observed, "true");
    assert_eq!(
        anonymous.source.as_deref(),
        Some("config file /etc/kubernetes/kubelet/kubelet-config.yaml")
    );
    let json = serde_json::to_string(&scan.report).unwrap();
    assert!(
        !json.contains("/var/lib/kubelet/config.yaml"),
        "the decoy was read"
    );
}

#[test]
fn a_kubelet_config_with_yaml_1_1_booleans_is_read_as_the_kubelet_reads_it() {
    let node = fixtures::yaml11_config();
    let scan = run(&node);
    assert_statuses(
        &scan,
        &[
            ("4.1.5", P),
            ("4.1.6", P),
            ("4.1.7", P),
            ("4.1.8", P),
            ("4.1.9", P),
            ("4.1.10", P),
            ("4.2.1", P),
            ("4.2.2", P),
            ("4.2.3", P),
            ("4.2.4", P),
            ("4.2.5", P),
            ("4.2.6", P),
            ("4.2.7", P),
            ("4.2.8", P),
            ("4.2.9", W),
            ("4.2.10", P),
            ("4.2.11", P),
            ("4.2.12", W),
            ("4.2.13", W),
            ("4.2.14", P),
        ],
        NA,
    );
    let observed = |id: &str| result(&scan, id).evidence[0].observed.clone();
    assert_eq!(observed("4.2.1"), "false");
    assert_eq!(observed("4.2.6"), "true");
    assert_eq!(observed("4.2.10"), "true");
    assert_eq!(observed("4.2.14"), "true");
}

#[test]
fn kubelet_drop_ins_merge_in_name_order_under_the_command_line() {
    let node = fixtures::drop_ins();
    let scan = run(&node);
    assert_statuses(
        &scan,
        &[
            ("4.1.5", P),
            ("4.1.6", P),
            ("4.1.7", P),
            ("4.1.8", P),
            ("4.1.9", F),
            ("4.1.10", P),
            ("4.2.1", P),
            ("4.2.2", P),
            ("4.2.3", P),
            ("4.2.4", W),
            ("4.2.5", P),
            ("4.2.6", P),
            ("4.2.7", P),
            ("4.2.8", P),
            ("4.2.9", W),
            ("4.2.10", P),
            ("4.2.11", P),
            ("4.2.12", W),
            ("4.2.13", W),
            ("4.2.14", W),
        ],
        NA,
    );
    let source = |id: &str| result(&scan, id).evidence[0].source.clone().unwrap();
    assert_eq!(
        source("4.2.1"),
        "config drop-in /etc/kubernetes/kubelet.conf.d/10-anonymous.conf"
    );
    // A key a drop-in does not set still comes from the config file underneath.
    assert_eq!(source("4.2.3"), "config file /var/lib/kubelet/config.yaml");
    assert_eq!(source("4.2.4"), "command line");
    assert_eq!(
        source("4.2.10"),
        "config drop-in /etc/kubernetes/kubelet.conf.d/20-rotate.conf"
    );
    assert_eq!(
        source("4.2.14"),
        "config drop-in /etc/kubernetes/kubelet.conf.d/30-seccomp.conf"
    );
    // Every config file the kubelet reads is checked (failing ones first, then in merge order); the README
    // is not a drop-in.
    let files: Vec<&str> = result(&scan, "4.1.9")
        .evidence
        .iter()
        .map(|e| e.subject.as_str())
        .collect();
    assert_eq!(
        files,
        [
            "/etc/kubernetes/kubelet.conf.d/20-rotate.conf",
            "/var/lib/kubelet/config.yaml",
            "/etc/kubernetes/kubelet.conf.d/10-anonymous.conf",
            "/etc/kubernetes/kubelet.conf.d/30-seccomp.conf",
        ]
    );
}

#[test]
fn unreadable_and_malformed_inputs_are_errors_with_reasons_never_failures() {
    let node = fixtures::unreadable();
    let scan = run(&node);
    assert_statuses(
        &scan,
        &[
            ("1.1.1", E),
            ("1.1.2", E),
            ("1.1.3", E),
            ("1.1.4", E),
            ("1.1.5", E),
            ("1.1.6", E),
            ("1.1.7", E),
            ("1.1.8", E),
            ("4.1.5", E),
            ("4.1.6", E),
            ("4.1.7", E),
            ("4.1.8", E),
            ("4.1.9", P),
            ("4.1.10", P),
            ("4.2.1", E),
            ("4.2.2", E),
            ("4.2.3", E),
            ("4.2.4", E),
            ("4.2.5", E),
            ("4.2.6", E),
            ("4.2.7", P),
            ("4.2.8", E),
            ("4.2.9", E),
            ("4.2.10", E),
            ("4.2.11", E),
            ("4.2.12", E),
            ("4.2.13", E),
            ("4.2.14", E),
        ],
        NA,
    );
    let detail = result(&scan, "4.2.1").detail.clone().unwrap();
    assert!(detail.contains("/var/lib/kubelet/config.yaml"), "{detail}");
    assert!(detail.contains("not valid YAML (line"), "{detail}");
    let loop_detail = result(&scan, "4.1.5").detail.clone().unwrap();
    assert!(
        loop_detail.contains("too many levels of symbolic links"),
        "{loop_detail}"
    );
}

#[test]
fn a_malformed_encryption_configuration_is_an_error_that_does_not_quote_it() {
    let node = NodeTree::new();
    node.accounts().hostname("enc-1");
    node.process(
        10,
        &["kube-apiserver", "--encryption-provider-config=/etc/kubernetes/enc.yaml"],
        &[],
    )
    .root_file(
        "/etc/kubernetes/enc.yaml",
        0o600,
        "resources:\n  - resources: [secrets]\n    providers:\n      - aescbc: {keys: [{name: k, secret: SECRET-INSIDE-A-MALFORMED-ENCRYPTION-CONFIG}\n",
    );
    let scan = run(&node);
    let encryption = result(&scan, "1.2.28");
    assert_eq!(encryption.status, E);
    let json = serde_json::to_string(&scan.report).unwrap();
    assert!(!json.contains("SECRET-INSIDE"), "{json}");
}

#[test]
fn no_secret_on_any_fixture_reaches_the_report() {
    for node in [
        fixtures::control_plane(),
        fixtures::flags_only_worker(),
        fixtures::decoy_config(),
        fixtures::drop_ins(),
        fixtures::unreadable(),
    ] {
        let json = serde_json::to_string(&run(&node).report).unwrap();
        for secret in fixtures::SECRETS {
            assert!(!json.contains(secret), "{secret} leaked");
        }
    }
}

/// The node facts the cluster checks need: the kubelet's runtime from its endpoint, and the API server's Pod
/// Security defaults from its admission configuration (inline, or in a file it points to), never guessed.
#[test]
fn the_runtime_and_the_pod_security_defaults_are_read_as_the_components_read_them() {
    use kubeward_benchmark::report::PodSecurityDefaults;

    // kubeadm's control plane: containerd by flag; an API server without an admission configuration enforces
    // nothing by default.
    let control_plane = run(&fixtures::control_plane());
    assert_eq!(
        control_plane.report.node.container_runtime.as_deref(),
        Some("containerd")
    );
    assert_eq!(
        control_plane.report.node.pod_security_defaults,
        Some(PodSecurityDefaults {
            enforce: "privileged".to_owned(),
            source: "no --admission-control-config-file: the built-in default".to_owned(),
        })
    );

    // A worker whose kubelet names no endpoint: no runtime is reported, and no API server, no defaults.
    let worker = run(&fixtures::flags_only_worker());
    assert_eq!(worker.report.node.container_runtime, None);
    assert_eq!(worker.report.node.pod_security_defaults, None);

    // CRI-O from the config file (the last layer that names it); the admission file points to a
    // PodSecurityConfiguration by a relative path.
    let node = NodeTree::new();
    node.accounts().hostname("cp-2");
    node.process(
        10,
        &["/usr/bin/kubelet", "--config=/etc/kubernetes/kubelet.yaml"],
        &[],
    );
    node.root_file(
        "/etc/kubernetes/kubelet.yaml",
        0o600,
        "kind: KubeletConfiguration\ncontainerRuntimeEndpoint: unix:///var/run/crio/crio.sock\n",
    );
    node.process(
        11,
        &[
            "kube-apiserver",
            "--admission-control-config-file=/etc/kubernetes/admission/config.yaml",
        ],
        &[],
    );
    node.root_file(
        "/etc/kubernetes/admission/config.yaml",
        0o600,
        "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n- name: EventRateLimit\n  path: eventconfig.yaml\n- name: PodSecurity\n  path: pss.yaml\n",
    );
    node.root_file(
        "/etc/kubernetes/admission/pss.yaml",
        0o600,
        "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\ndefaults:\n  enforce: baseline\n  audit: restricted\n",
    );
    let scanned = run(&node);
    assert_eq!(
        scanned.report.node.container_runtime.as_deref(),
        Some("cri-o")
    );
    assert_eq!(
        scanned.report.node.pod_security_defaults,
        Some(PodSecurityDefaults {
            enforce: "baseline".to_owned(),
            source: "/etc/kubernetes/admission/pss.yaml".to_owned(),
        })
    );

    // Inline configuration, and PodSecurity turned off: nothing is enforced.
    let inline = NodeTree::new();
    inline.accounts().hostname("cp-3");
    inline.process(
        11,
        &[
            "kube-apiserver",
            "--admission-control-config-file=/etc/kubernetes/admission.yaml",
        ],
        &[],
    );
    inline.root_file(
        "/etc/kubernetes/admission.yaml",
        0o600,
        "plugins:\n- name: PodSecurity\n  configuration:\n    kind: PodSecurityConfiguration\n    defaults: {enforce: restricted}\n",
    );
    assert_eq!(
        run(&inline)
            .report
            .node
            .pod_security_defaults
            .map(|defaults| defaults.enforce),
        Some("restricted".to_owned())
    );
    let disabled = NodeTree::new();
    disabled.accounts().hostname("cp-4");
    disabled.process(
        11,
        &[
            "kube-apiserver",
            "--disable-admission-plugins=PodSecurity",
            "--admission-control-config-file=/etc/kubernetes/admission.yaml",
        ],
        &[],
    );
    assert_eq!(
        run(&disabled)
            .report
            .node
            .pod_security_defaults
            .map(|defaults| defaults.enforce),
        Some("privileged".to_owned())
    );

    // An admission file that cannot be read, or names a level that does not exist: no defaults, not a guess.
    let unreadable = NodeTree::new();
    unreadable.accounts().hostname("cp-5");
    unreadable.process(
        11,
        &[
            "kube-apiserver",
            "--admission-control-config-file=/etc/kubernetes/missing.yaml",
        ],
        &[],
    );
    assert_eq!(run(&unreadable).report.node.pod_security_defaults, None);
    let bogus = NodeTree::new();
    bogus.accounts().hostname("cp-6");
    bogus.process(
        11,
        &[
            "kube-apiserver",
            "--admission-control-config-file=/etc/kubernetes/admission.yaml",
        ],
        &[],
    );
    bogus.root_file(
        "/etc/kubernetes/admission.yaml",
        0o600,
        "plugins:\n- name: PodSecurity\n  configuration:\n    defaults: {enforce: \"<script>\"}\n",
    );
    assert_eq!(run(&bogus).report.node.pod_security_defaults, None);
}
