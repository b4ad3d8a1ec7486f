//! The cluster checks, rule by rule, over fixture objects: one case per trap the peers fall into
//! (`reference/policy-checks.md` §6) and per edge case of the evaluation model (§1).
//!
//! Every workload case runs twice: as written in a manifest, and as the API server returns the object, with
//! the defaults it fills in (strategy, empty security contexts, pull policies, status, ids). Both shapes must
//! give the same verdict.
#![allow(
    clippy::unwrap_used,
    reason = "a test should stop loudly at the first unexpected error"
)]

use kubeward_benchmark::Status;
use kubeward_benchmark::cluster_report::{ClusterCheckResult, ObjectResult, Source};
use kubeward_benchmark::policy::{self, Inventory, Object, PlatformList, PolicyCatalog, Scene};
use kubeward_benchmark::yaml11;
use serde_json::{Value, json};

fn objects(yaml: &str) -> Vec<Value> {
    let stream = yaml11::read_stream(yaml);
    assert!(stream.errors.is_empty(), "{:?}", stream.errors);
    stream
        .documents
        .into_iter()
        .map(|d| d.value)
        .filter(|value| !value.is_null())
        .collect()
}

/// Fills in what the API server's defaulting adds, so that fixtures also come in the shape a live LIST returns.
fn as_api_returns(mut value: Value) -> Value {
    fn container_defaults(container: &mut Value) {
        let map = container.as_object_mut().unwrap();
        map.entry("imagePullPolicy")
            .or_insert(json!("IfNotPresent"));
        map.entry("terminationMessagePath")
            .or_insert(json!("/dev/termination-log"));
        map.entry("terminationMessagePolicy")
            .or_insert(json!("File"));
        map.entry("resources").or_insert(json!({}));
        if let Some(ports) = map.get_mut("ports").and_then(Value::as_array_mut) {
            for port in ports {
                port.as_object_mut()
                    .unwrap()
                    .entry("protocol")
                    .or_insert(json!("TCP"));
            }
        }
    }
    fn pod_spec_defaults(spec: &mut Value) {
        let map = spec.as_object_mut().unwrap();
        map.entry("restartPolicy").or_insert(json!("Always"));
        map.entry("dnsPolicy").or_insert(json!("ClusterFirst"));
        map.entry("schedulerName")
            .or_insert(json!("default-scheduler"));
        map.entry("terminationGracePeriodSeconds")
            .or_insert(json!(30));
        map.entry("securityContext").or_insert(json!({}));
        for key in ["containers", "initContainers", "ephemeralContainers"] {
            if let Some(list) = map.get_mut(key).and_then(Value::as_array_mut) {
                list.iter_mut().for_each(container_defaults);
            }
        }
    }
    let kind = value["kind"].as_str().unwrap_or("").to_owned();
    let metadata = value["metadata"].as_object_mut().unwrap();
    metadata.insert("uid".into(), json!("5f0c9d1e-0000-4000-8000-000000000001"));
    metadata.insert("resourceVersion".into(), json!("123456"));
    metadata.insert("creationTimestamp".into(), json!("2026-11-01T10:00:00Z"));
    if !matches!(
        kind.as_str(),
        "Namespace" | "ClusterRole" | "ClusterRoleBinding"
    ) {
        metadata.entry("namespace").or_insert(json!("default"));
    }
    let spec_path: &[&str] = match kind.as_str() {
        "Pod" => &["spec"],
        "CronJob" => &["spec", "jobTemplate", "spec", "template", "spec"],
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
            &["spec", "template", "spec"]
        }
        _ => &[],
    };
    if !spec_path.is_empty() {
        let mut spec = &mut value;
        for key in spec_path {
            spec = spec.get_mut(*key).unwrap();
        }
        pod_spec_defaults(spec);
    }
    match kind.as_str() {
        "Deployment" => {
            let spec = value["spec"].as_object_mut().unwrap();
            spec.entry("strategy").or_insert(json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}));
            spec.entry("revisionHistoryLimit").or_insert(json!(10));
            spec.entry("progressDeadlineSeconds").or_insert(json!(600));
            spec.entry("replicas").or_insert(json!(1));
            value["status"] = json!({"observedGeneration": 1, "replicas": 1});
        }
        "DaemonSet" | "StatefulSet" => {
            let spec = value["spec"].as_object_mut().unwrap();
            spec.entry("updateStrategy").or_insert(
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}),
            );
            spec.entry("revisionHistoryLimit").or_insert(json!(10));
        }
        "Service" => {
            let spec = value["spec"].as_object_mut().unwrap();
            spec.entry("type").or_insert(json!("ClusterIP"));
            spec.entry("sessionAffinity").or_insert(json!("None"));
            spec.entry("clusterIP").or_insert(json!("10.96.12.7"));
            value["status"] = json!({"loadBalancer": {}});
        }
        _ => {}
    }
    value
}

/// Evaluates one check over fixture objects and returns its result.
fn evaluate(
    catalog: &str,
    check: &str,
    source: Source,
    values: Vec<Value>,
    platform: &PlatformList,
) -> ClusterCheckResult {
    let objects = values
        .into_iter()
        .map(|value| Object::from_value(value, None).unwrap())
        .collect();
    let inventory = Inventory::new(source, objects);
    let catalog = PolicyCatalog::builtin(catalog).unwrap();
    let check = catalog
        .check(check)
        .unwrap_or_else(|| panic!("no check {check}"));
    let scene = Scene::new(&inventory, platform);
    policy::evaluate_policy_check(check, &scene)
}

fn object<'a>(result: &'a ClusterCheckResult, name: &str) -> Option<&'a ObjectResult> {
    result.objects.iter().find(|object| object.name == name)
}

/// The status of one object: `pass` when it is evaluated but not listed.
fn status_of(result: &ClusterCheckResult, name: &str) -> Status {
    object(result, name).map_or(Status::Pass, |object| object.status)
}

/// Runs a case in both shapes (manifest, API) and checks the named object's status in each.
fn case(catalog: &str, check: &str, yaml: &str, name: &str, expected: Status) {
    let none = PlatformList::none();
    let manifest = evaluate(catalog, check, Source::Manifests, objects(yaml), &none);
    assert!(
        manifest.evaluated > 0,
        "{check}: nothing evaluated\n{manifest:#?}"
    );
    assert_eq!(
        status_of(&manifest, name),
        expected,
        "{check} on {name} (manifest)\n{manifest:#?}"
    );
    let api = evaluate(
        catalog,
        check,
        Source::Api,
        objects(yaml).into_iter().map(as_api_returns).collect(),
        &none,
    );
    assert_eq!(
        status_of(&api, name),
        expected,
        "{check} on {name} (as the API returns it)\n{api:#?}"
    );
}

const CIS: &str = "cis-1.12";
const KW: &str = "kubeward-hardening";

fn deployment(name: &str, pod_spec: &str) -> String {
    let indented: String = pod_spec
        .lines()
        .map(|line| format!("      {line}\n"))
        .collect();
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: shop\nspec:\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n{indented}"
    )
}

#[test]
fn trap_1_the_pods_run_as_non_root_is_inherited_and_no_run_as_group_is_demanded() {
    let yaml = deployment(
        "inherits",
        "securityContext: {runAsNonRoot: true}\ncontainers:\n- name: app\n  image: a:1\n",
    );
    case(CIS, "5.2.7", &yaml, "inherits", Status::Pass);
    let yaml = deployment(
        "own",
        "containers:\n- name: app\n  image: a:1\n  securityContext: {runAsUser: 1000}\n",
    );
    case(CIS, "5.2.7", &yaml, "own", Status::Pass);
    // The container's value wins over the pod's, both ways.
    let yaml = deployment(
        "override",
        "securityContext: {runAsUser: 1000}\ncontainers:\n- name: app\n  image: a:1\n  securityContext: {runAsUser: 0}\n",
    );
    case(CIS, "5.2.7", &yaml, "override", Status::Warn);
    case(KW, "KW-NONROOT", &yaml, "override", Status::Fail);
}

#[test]
fn trap_2_an_unknown_image_user_is_manual_not_a_failure() {
    let yaml = deployment("plain", "containers:\n- name: app\n  image: a:1\n");
    case(KW, "KW-NONROOT", &yaml, "plain", Status::Manual);
    let none = PlatformList::none();
    let result = evaluate(KW, "KW-NONROOT", Source::Manifests, objects(&yaml), &none);
    assert!(
        object(&result, "plain")
            .unwrap()
            .detail
            .as_deref()
            .unwrap()
            .contains("USER")
    );
}

#[test]
fn trap_3_helm_output_without_a_namespace_is_manual_not_the_default_namespace() {
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: b}\n";
    let none = PlatformList::none();
    let result = evaluate(CIS, "5.6.4", Source::Manifests, objects(yaml), &none);
    assert_eq!(status_of(&result, "settings"), Status::Manual);
    let mut explicit = objects(yaml);
    explicit[0]["metadata"]["namespace"] = json!("default");
    let result = evaluate(CIS, "5.6.4", Source::Manifests, explicit, &none);
    assert_eq!(status_of(&result, "settings"), Status::Warn);
}

#[test]
fn trap_4_the_api_servers_own_objects_in_default_are_not_flagged() {
    let yaml = "kind: Service\napiVersion: v1\nmetadata: {name: kubernetes, namespace: default}\nspec: {ports: [{port: 443}]}\n---\nkind: ConfigMap\napiVersion: v1\nmetadata: {name: kube-root-ca.crt, namespace: default}\n---\nkind: ServiceAccount\napiVersion: v1\nmetadata: {name: default, namespace: default}\n---\nkind: EndpointSlice\napiVersion: discovery.k8s.io/v1\nmetadata: {name: kubernetes, namespace: default, labels: {kubernetes.io/service-name: kubernetes}}\n---\nkind: ConfigMap\napiVersion: v1\nmetadata: {name: mine, namespace: default}\n";
    let none = PlatformList::none();
    let result = evaluate(KW, "KW-DEFAULT-NS", Source::Api, objects(yaml), &none);
    assert_eq!(result.objects.len(), 1, "{result:#?}");
    assert_eq!(status_of(&result, "mine"), Status::Fail);
}

#[test]
fn a_deployment_in_default_is_one_finding_not_one_per_replica_set_and_pod() {
    let mut values = objects(
        "kind: Deployment\napiVersion: apps/v1\nmetadata: {name: web, namespace: default}\nspec: {template: {spec: {containers: [{name: app, image: a:1}]}}}\n",
    );
    values.push(json!({"kind": "ReplicaSet", "apiVersion": "apps/v1",
        "metadata": {"name": "web-1", "namespace": "default", "ownerReferences": [{"kind": "Deployment", "name": "web", "controller": true}]}}));
    values.push(json!({"kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": "web-1-x", "namespace": "default", "ownerReferences": [{"kind": "ReplicaSet", "name": "web-1", "controller": true}]},
        "spec": {"containers": [{"name": "app", "image": "a:1"}]}}));
    // A pod whose owner is not in the inventory (an operator's) is its own finding.
    values.push(json!({"kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": "operated", "namespace": "default", "ownerReferences": [{"kind": "Cluster", "name": "db", "controller": true}]},
        "spec": {"containers": [{"name": "db", "image": "db:1"}]}}));
    let none = PlatformList::none();
    for (catalog, check) in [(KW, "KW-DEFAULT-NS"), (CIS, "5.6.4")] {
        let result = evaluate(catalog, check, Source::Api, values.clone(), &none);
        let listed: Vec<&str> = result.objects.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(listed, ["web", "operated"], "{check}: {result:#?}");
    }
}
const SHOP_NAMESPACE: &str = "kind: Namespace\napiVersion: v1\nmetadata: {name: shop, labels: {pod-security.kubernetes.io/enforce: baseline}}\n---\n";

/// The namespace of the fixtures, enforcing the strictest level: the policy part of the 5.2 checks passes, so
/// what a test counts is the workloads.
const SHOP_RESTRICTED: &str = "kind: Namespace\napiVersion: v1\nmetadata: {name: shop, labels: {pod-security.kubernetes.io/enforce: restricted}}\n---\n";

#[test]
fn trap_5_a_rule_less_default_deny_policy_isolates() {
    let policy = "kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {name: deny, namespace: shop}\nspec: {podSelector: {}, policyTypes: [Ingress]}\n---\n";
    let yaml = format!(
        "{SHOP_NAMESPACE}{policy}{}",
        deployment("web", "containers:\n- {name: app, image: a:1}\n")
    );
    let none = PlatformList::none();
    let deny = evaluate(
        KW,
        "KW-NETPOL-DEFAULT-DENY",
        Source::Api,
        objects(&yaml),
        &none,
    );
    assert_eq!(
        (deny.status, deny.evaluated),
        (Status::Pass, 1),
        "{deny:#?}"
    );
    let coverage = evaluate(KW, "KW-NETPOL-COVERAGE", Source::Api, objects(&yaml), &none);
    assert_eq!(coverage.status, Status::Pass, "{coverage:#?}");
    // Without any policy, the live cluster fails both.
    let bare = format!(
        "{SHOP_NAMESPACE}{}",
        deployment("web", "containers:\n- {name: app, image: a:1}\n")
    );
    assert_eq!(
        evaluate(
            KW,
            "KW-NETPOL-DEFAULT-DENY",
            Source::Api,
            objects(&bare),
            &none
        )
        .status,
        Status::Fail
    );
    assert_eq!(
        evaluate(KW, "KW-NETPOL-COVERAGE", Source::Api, objects(&bare), &none).status,
        Status::Fail
    );
}

#[test]
fn trap_6_cni_specific_policies_count() {
    let cilium = "kind: CiliumNetworkPolicy\napiVersion: cilium.io/v2\nmetadata: {name: c, namespace: shop}\nspec: {endpointSelector: {matchLabels: {app: web}}}\n---\n";
    let yaml = format!(
        "{SHOP_NAMESPACE}{cilium}{}",
        deployment("web", "containers:\n- {name: app, image: a:1}\n")
    );
    let none = PlatformList::none();
    assert_eq!(
        evaluate(CIS, "5.3.2", Source::Api, objects(&yaml), &none).status,
        Status::Pass
    );
    assert_eq!(
        evaluate(KW, "KW-NETPOL-COVERAGE", Source::Api, objects(&yaml), &none).status,
        Status::Pass
    );
    let calico = "kind: GlobalNetworkPolicy\napiVersion: crd.projectcalico.org/v1\nmetadata: {name: g}\nspec: {selector: all()}\n---\n";
    let yaml = format!(
        "{SHOP_NAMESPACE}{calico}{}",
        deployment("web", "containers:\n- {name: app, image: a:1}\n")
    );
    assert_eq!(
        evaluate(CIS, "5.3.2", Source::Api, objects(&yaml), &none).status,
        Status::Pass
    );
}

#[test]
fn trap_7_runtime_sockets_are_found_however_spelled_and_through_parent_directories() {
    for path in [
        "/run/containerd/containerd.sock",
        "/var/run//docker.sock",
        "/var/run",
        "/run/crio/crio.sock/",
        "/run/./k3s/containerd/containerd.sock",
        "/var",
    ] {
        let yaml = deployment(
            "agent",
            &format!(
                "containers:\n- name: app\n  image: a:1\n  volumeMounts: [{{name: s, mountPath: /s}}]\nvolumes:\n- name: s\n  hostPath: {{path: \"{path}\"}}\n"
            ),
        );
        case(KW, "KW-RUNTIME-SOCKET", &yaml, "agent", Status::Fail);
    }
    let declared = deployment(
        "agent",
        "containers:\n- {name: app, image: a:1}\nvolumes:\n- {name: s, hostPath: {path: /var/run/docker.sock}}\n",
    );
    case(KW, "KW-RUNTIME-SOCKET", &declared, "agent", Status::Warn);
    let harmless = deployment(
        "agent",
        "containers:\n- name: app\n  image: a:1\n  volumeMounts: [{name: s, mountPath: /s}]\nvolumes:\n- {name: s, hostPath: {path: /var/log/app}}\n",
    );
    case(KW, "KW-RUNTIME-SOCKET", &harmless, "agent", Status::Pass);
}

#[test]
fn trap_8_a_privileged_ephemeral_container_of_a_live_pod_is_found() {
    let yaml = "kind: Pod\napiVersion: v1\nmetadata: {name: debugged, namespace: shop}\nspec:\n  containers: [{name: app, image: a:1}]\n  ephemeralContainers:\n  - name: debugger\n    image: busybox:1\n    securityContext: {privileged: true}\n";
    case(CIS, "5.2.2", yaml, "debugged", Status::Warn);
    let none = PlatformList::none();
    let result = evaluate(CIS, "5.2.2", Source::Api, objects(yaml), &none);
    let evidence = &object(&result, "debugged").unwrap().evidence[0];
    assert_eq!(
        evidence.path.as_deref(),
        Some("spec.ephemeralContainers[0].securityContext.privileged")
    );
    assert!(evidence.subject.contains("ephemeral"));
}

const BUILT_IN_RBAC: &str = "kind: ClusterRole\napiVersion: rbac.authorization.k8s.io/v1\nmetadata: {name: cluster-admin, labels: {kubernetes.io/bootstrapping: rbac-defaults}}\nrules: [{apiGroups: ['*'], resources: ['*'], verbs: ['*']}]\n---\nkind: ClusterRoleBinding\napiVersion: rbac.authorization.k8s.io/v1\nmetadata: {name: cluster-admin}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\nsubjects: [{kind: Group, name: 'system:masters', apiGroup: rbac.authorization.k8s.io}]\n---\nkind: ClusterRole\napiVersion: rbac.authorization.k8s.io/v1\nmetadata: {name: 'system:controller:clusterrole-aggregation-controller'}\nrules: [{apiGroups: ['*'], resources: ['*'], verbs: [escalate, get, list, watch]}]\n---\n";

#[test]
fn traps_9_and_10_built_in_roles_and_bindings_are_platform_owned_and_never_fail_the_check() {
    let kubernetes = PlatformList::builtin("kubernetes").unwrap();
    for (catalog, check) in [(CIS, "5.1.1"), (CIS, "5.1.3"), (CIS, "5.1.7")] {
        let result = evaluate(
            catalog,
            check,
            Source::Api,
            objects(BUILT_IN_RBAC),
            &kubernetes,
        );
        assert_eq!(result.status, Status::Pass, "{check}: {result:#?}");
        assert!(
            !result.objects.is_empty(),
            "{check}: the built-ins are shown, not dropped"
        );
        assert!(
            result
                .objects
                .iter()
                .all(|object| object.platform.is_some()),
            "{check}: {result:#?}"
        );
    }
    // With no platform list, the same objects are judged like any other.
    let result = evaluate(
        CIS,
        "5.1.3",
        Source::Api,
        objects(BUILT_IN_RBAC),
        &PlatformList::none(),
    );
    assert_eq!(result.status, Status::Warn);
}

#[test]
fn trap_11_kubeadms_cluster_admins_binding_is_on_the_kubeadm_list() {
    let yaml = "kind: ClusterRoleBinding\napiVersion: rbac.authorization.k8s.io/v1\nmetadata: {name: 'kubeadm:cluster-admins'}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\nsubjects: [{kind: Group, name: 'kubeadm:cluster-admins'}]\n";
    let kubeadm = PlatformList::builtin("kubeadm").unwrap();
    let result = evaluate(CIS, "5.1.1", Source::Manifests, objects(yaml), &kubeadm);
    assert_eq!(result.status, Status::Pass);
    assert_eq!(result.objects[0].platform.as_ref().unwrap().list, "kubeadm");
    let generic = evaluate(
        CIS,
        "5.1.1",
        Source::Manifests,
        objects(yaml),
        &PlatformList::builtin("kubernetes").unwrap(),
    );
    assert_eq!(generic.status, Status::Warn);
}

#[test]
fn trap_12_unset_allow_privilege_escalation_fails() {
    let unset = deployment("unset", "containers:\n- {name: app, image: a:1}\n");
    case(CIS, "5.2.6", &unset, "unset", Status::Warn);
    // (`off` would be read as the boolean false, as kubectl reads it: not a name.)
    let disabled = deployment(
        "disabled",
        "containers:\n- {name: app, image: a:1, securityContext: {allowPrivilegeEscalation: false}}\n",
    );
    case(CIS, "5.2.6", &disabled, "disabled", Status::Pass);
    let sys_admin = deployment(
        "sysadmin",
        "containers:\n- {name: app, image: a:1, securityContext: {allowPrivilegeEscalation: false, capabilities: {add: [cap_sys_admin]}}}\n",
    );
    case(CIS, "5.2.6", &sys_admin, "sysadmin", Status::Warn);
}

#[test]
fn trap_13_net_raw_by_the_runtimes_default_is_manual_and_names_the_runtime() {
    let yaml = deployment("quiet", "containers:\n- {name: app, image: a:1}\n");
    case(CIS, "5.2.8", &yaml, "quiet", Status::Manual);
    let dropped = deployment(
        "dropped",
        "containers:\n- {name: app, image: a:1, securityContext: {capabilities: {drop: [CAP_NET_RAW]}}}\n",
    );
    case(CIS, "5.2.8", &dropped, "dropped", Status::Pass);
    let added = deployment(
        "added",
        "containers:\n- {name: app, image: a:1, securityContext: {capabilities: {add: [net_raw]}}}\n",
    );
    case(CIS, "5.2.8", &added, "added", Status::Warn);
}

#[test]
fn trap_14_unset_seccomp_is_manual_pending_the_kubelets_default() {
    let unset = deployment("unset", "containers:\n- {name: app, image: a:1}\n");
    case(CIS, "5.6.2", &unset, "unset", Status::Manual);
    let runtime = deployment(
        "runtime",
        "securityContext: {seccompProfile: {type: RuntimeDefault}}\ncontainers:\n- {name: app, image: a:1}\n",
    );
    case(CIS, "5.6.2", &runtime, "runtime", Status::Pass);
    let unconfined = deployment(
        "unconfined",
        "securityContext: {seccompProfile: {type: RuntimeDefault}}\ncontainers:\n- {name: app, image: a:1, securityContext: {seccompProfile: {type: Unconfined}}}\n",
    );
    case(CIS, "5.6.2", &unconfined, "unconfined", Status::Warn);
}

#[test]
fn traps_15_and_16_an_unlabelled_namespace_is_manual_and_an_unrelated_webhook_is_no_control() {
    let webhook = "kind: ValidatingWebhookConfiguration\napiVersion: admissionregistration.k8s.io/v1\nmetadata: {name: cert-manager-webhook}\nwebhooks: [{name: webhook.cert-manager.io, rules: [{apiGroups: ['*'], apiVersions: ['*'], operations: [CREATE], resources: ['*/*'], scope: '*'}]}]\n---\n";
    let namespace = "kind: Namespace\napiVersion: v1\nmetadata: {name: shop}\n---\n";
    let yaml = format!(
        "{webhook}{namespace}{}",
        deployment("web", "containers:\n- {name: app, image: a:1}\n")
    );
    let none = PlatformList::none();
    let result = evaluate(CIS, "5.2.1", Source::Api, objects(&yaml), &none);
    let shop = object(&result, "shop").unwrap();
    assert_eq!(shop.status, Status::Manual, "{result:#?}");
    assert!(shop.detail.as_deref().unwrap().contains("admission"));
    let privileged = format!(
        "kind: Namespace\napiVersion: v1\nmetadata: {{name: shop, labels: {{pod-security.kubernetes.io/enforce: privileged}}}}\n---\n{}",
        deployment("web", "containers:\n- {name: app, image: a:1}\n")
    );
    assert_eq!(
        evaluate(CIS, "5.2.1", Source::Api, objects(&privileged), &none).status,
        Status::Warn
    );
    assert_eq!(
        evaluate(KW, "KW-PSA-LEVEL", Source::Api, objects(&privileged), &none).status,
        Status::Fail
    );
    let kyverno = format!(
        "kind: ClusterPolicy\napiVersion: kyverno.io/v1\nmetadata: {{name: pss}}\nspec:\n  validationFailureAction: Enforce\n  rules: [{{name: baseline, validate: {{podSecurity: {{level: baseline}}}}}}]\n---\n{namespace}{}",
        deployment("web", "containers:\n- {name: app, image: a:1}\n")
    );
    assert_eq!(
        evaluate(CIS, "5.2.1", Source::Api, objects(&kyverno), &none).status,
        Status::Pass
    );
}

#[test]
fn trap_17_internal_load_balancers_are_not_internet_exposed() {
    let service = |name: &str, extra: &str| {
        format!(
            "kind: Service\napiVersion: v1\nmetadata:\n  name: {name}\n  namespace: shop\n{extra}spec: {{type: LoadBalancer, ports: [{{port: 80}}]}}\n---\n"
        )
    };
    let yaml = [
        service(
            "aws",
            "  annotations: {service.beta.kubernetes.io/aws-load-balancer-scheme: internal}\n",
        ),
        service(
            "azure",
            "  annotations: {service.beta.kubernetes.io/azure-load-balancer-internal: 'true'}\n",
        ),
        service(
            "gke",
            "  annotations: {networking.gke.io/load-balancer-type: Internal}\n",
        ),
        service("public", ""),
    ]
    .concat();
    let none = PlatformList::none();
    for shape in [Source::Manifests, Source::Api] {
        let values = if shape == Source::Api {
            objects(&yaml).into_iter().map(as_api_returns).collect()
        } else {
            objects(&yaml)
        };
        let result = evaluate(KW, "KW-SVC-LB", shape, values, &none);
        assert_eq!(result.evaluated, 4);
        assert_eq!(result.objects.len(), 1, "{result:#?}");
        assert_eq!(status_of(&result, "public"), Status::Fail);
    }
    let mut private = objects(&service("status", ""));
    private[0]["status"] = json!({"loadBalancer": {"ingress": [{"ip": "10.0.4.7"}]}});
    assert_eq!(
        evaluate(KW, "KW-SVC-LB", Source::Api, private, &none).status,
        Status::Pass
    );
}

#[test]
fn trap_18_secrets_encryption_is_never_failed_from_the_api_alone() {
    let none = PlatformList::none();
    let result = evaluate(KW, "KW-SECRETS-ENCRYPTION", Source::Api, Vec::new(), &none);
    assert_eq!(result.status, Status::Manual);
}

#[test]
fn traps_19_and_20_a_rollout_is_one_finding_on_the_deployment_and_injected_drift_is_reported_apart()
{
    let template = "securityContext: {runAsNonRoot: true}\ncontainers:\n- {name: app, image: a:1, securityContext: {capabilities: {drop: [ALL]}}}\n";
    let mut values = objects(&format!("{SHOP_RESTRICTED}{}", deployment("web", template)));
    for revision in ["web-1", "web-2", "web-3"] {
        values.push(json!({"kind": "ReplicaSet", "apiVersion": "apps/v1",
            "metadata": {"name": revision, "namespace": "shop", "ownerReferences": [{"kind": "Deployment", "name": "web", "controller": true}]},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "a:0"}]}}}}));
    }
    // The live pod has an injected sidecar with NET_ADMIN; the template decides.
    values.push(json!({"kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": "web-3-abcde", "namespace": "shop", "ownerReferences": [{"kind": "ReplicaSet", "name": "web-3", "controller": true}]},
        "spec": {"initContainers": [{"name": "istio-init", "image": "istio/proxyv2:1.22", "securityContext": {"capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}}}],
                 "containers": [{"name": "app", "image": "a:1"}]}}));
    let none = PlatformList::none();
    let result = evaluate(CIS, "5.2.9", Source::Api, values.clone(), &none);
    // The Deployment (judged by its template, and it passes), the namespace for the policy part, and the live
    // pod for what its template does not have: the injected container, reported apart (the drift).
    assert_eq!(result.evaluated, 3, "{result:#?}");
    assert_eq!(status_of(&result, "web"), Status::Pass);
    assert!(!result.objects.iter().any(|o| o.kind == "ReplicaSet"));
    let pod = object(&result, "web-3-abcde").unwrap();
    assert_eq!(pod.status, Status::Warn);
    assert!(
        pod.evidence.iter().all(|e| e
            .subject
            .contains("istio-init (init, not in its owner's template")),
        "{pod:#?}"
    );
    assert!(
        pod.evidence
            .iter()
            .any(|e| e.observed.contains("NET_ADMIN"))
    );
    // The containers the template has are the Deployment's alone, even when the live copy differs.
    assert!(!pod.evidence.iter().any(|e| e.subject.contains("app")));
    // A pod that matches its template is not evaluated apart.
    let mut plain = values.clone();
    if let Some(pod) = plain.iter_mut().find(|v| v["kind"] == "Pod") {
        pod["spec"]["initContainers"] = json!([]);
    }
    let result = evaluate(CIS, "5.2.9", Source::Api, plain, &none);
    assert_eq!(
        (result.evaluated, result.status),
        (2, Status::Pass),
        "{result:#?}"
    );
    // The same pod without a known owner is judged on its own.
    let orphan: Vec<Value> = values.into_iter().filter(|v| v["kind"] == "Pod").collect();
    let result = evaluate(CIS, "5.2.9", Source::Api, orphan, &none);
    assert_eq!(status_of(&result, "web-3-abcde"), Status::Warn);
}

#[test]
fn trap_21_kubewards_own_agent_is_platform_owned_visibly() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/kubernetes/agent-daemonset.yaml"
    ))
    .unwrap();
    let mut values = objects(&text);
    values[0]["metadata"]["namespace"] = json!("kubeward");
    let list = PlatformList::builtin("kubernetes").unwrap();
    let result = evaluate(CIS, "5.2.3", Source::Manifests, values, &list);
    assert_eq!(result.status, Status::Pass, "{result:#?}");
    let agent = object(&result, "kubeward-agent").unwrap();
    assert_eq!(agent.status, Status::Warn);
    assert!(agent.platform.as_ref().unwrap().reason.contains("kubeward"));
}

#[test]
fn trap_22_a_namespace_with_only_a_disabled_default_service_account_passes_5_1_5() {
    let yaml = "kind: ServiceAccount\napiVersion: v1\nmetadata: {name: default, namespace: quiet}\nautomountServiceAccountToken: false\n---\nkind: ServiceAccount\napiVersion: v1\nmetadata: {name: default, namespace: loud}\n";
    let none = PlatformList::none();
    let result = evaluate(CIS, "5.1.5", Source::Api, objects(yaml), &none);
    assert_eq!(result.objects.len(), 1, "{result:#?}");
    assert_eq!(result.objects[0].namespace.as_deref(), Some("loud"));
}

#[test]
fn traps_23_and_24_any_wildcard_in_verbs_or_resources_is_found_even_mixed() {
    let role = |name: &str, rule: &str| {
        format!(
            "kind: Role\napiVersion: rbac.authorization.k8s.io/v1\nmetadata: {{name: {name}, namespace: shop}}\nrules: [{rule}]\n---\n"
        )
    };
    let yaml = [
        role(
            "mixed",
            "{apiGroups: [''], resources: [pods], verbs: [get, '*']}",
        ),
        role(
            "subresource",
            "{apiGroups: [''], resources: ['pods/*'], verbs: [get]}",
        ),
        role(
            "scale",
            "{apiGroups: [apps], resources: ['*/scale'], verbs: [update]}",
        ),
        role(
            "exact",
            "{apiGroups: [''], resources: [pods], verbs: [get, list]}",
        ),
    ]
    .concat();
    let none = PlatformList::none();
    let result = evaluate(CIS, "5.1.3", Source::Manifests, objects(&yaml), &none);
    for name in ["mixed", "subresource", "scale"] {
        assert_eq!(status_of(&result, name), Status::Warn, "{name}");
        assert!(
            object(&result, name).unwrap().evidence[0]
                .subject
                .contains("not bound")
        );
    }
    assert_eq!(status_of(&result, "exact"), Status::Pass);
}

#[test]
fn trap_25_yaml_1_1_booleans_make_a_container_privileged() {
    for spelling in ["on", "yes", "Y", "TRUE"] {
        let yaml = deployment(
            "yaml11",
            &format!(
                "containers:\n- name: app\n  image: a:1\n  securityContext:\n    privileged: {spelling}\n"
            ),
        );
        case(CIS, "5.2.2", &yaml, "yaml11", Status::Warn);
    }
    let quoted = deployment(
        "quoted",
        "containers:\n- name: app\n  image: a:1\n  securityContext:\n    privileged: \"on\"\n",
    );
    case(CIS, "5.2.2", &quoted, "quoted", Status::Pass);
    let host = deployment(
        "host",
        "hostNetwork: yes\ncontainers:\n- {name: app, image: a:1}\n",
    );
    case(CIS, "5.2.5", &host, "host", Status::Warn);
}

#[test]
fn a_manifest_binding_to_the_built_in_cluster_admin_is_judged() {
    let yaml = "kind: ClusterRoleBinding\napiVersion: rbac.authorization.k8s.io/v1\nmetadata: {name: ci-admin}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\nsubjects: [{kind: ServiceAccount, name: deployer, namespace: ci}]\n";
    let none = PlatformList::none();
    for check in ["5.1.1", "5.1.2", "5.1.4", "5.1.8", "5.1.10", "5.1.13"] {
        let result = evaluate(CIS, check, Source::Manifests, objects(yaml), &none);
        assert_eq!(
            status_of(&result, "ci-admin"),
            Status::Warn,
            "{check}: {result:#?}"
        );
    }
    let unknown = yaml.replace("name: cluster-admin}", "name: custom-thing}");
    let result = evaluate(CIS, "5.1.2", Source::Manifests, objects(&unknown), &none);
    assert_eq!(status_of(&result, "ci-admin"), Status::Manual);
}

#[test]
fn a_role_binding_to_edit_reads_secrets_and_one_to_view_does_not_and_resource_names_scope_a_rule() {
    let binding = |name: &str, role: &str| {
        format!(
            "kind: RoleBinding\napiVersion: rbac.authorization.k8s.io/v1\nmetadata: {{name: {name}, namespace: shop}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {role}}}\nsubjects: [{{kind: User, name: alice}}]\n---\n"
        )
    };
    let named = "kind: Role\napiVersion: rbac.authorization.k8s.io/v1\nmetadata: {name: one-secret, namespace: shop}\nrules: [{apiGroups: [''], resources: [secrets], resourceNames: [tls], verbs: [get]}]\n---\nkind: RoleBinding\napiVersion: rbac.authorization.k8s.io/v1\nmetadata: {name: scoped, namespace: shop}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: one-secret}\nsubjects: [{kind: User, name: bob}]\n";
    let yaml = [
        binding("editor", "edit"),
        binding("viewer", "view"),
        named.to_owned(),
    ]
    .concat();
    let none = PlatformList::none();
    let result = evaluate(CIS, "5.1.2", Source::Manifests, objects(&yaml), &none);
    assert_eq!(status_of(&result, "editor"), Status::Warn, "{result:#?}");
    assert_eq!(status_of(&result, "viewer"), Status::Pass);
    assert_eq!(status_of(&result, "scoped"), Status::Pass);
}

#[test]
fn a_custom_role_aggregated_into_view_is_judged_with_it_in_manifests() {
    let yaml = "kind: ClusterRole\napiVersion: rbac.authorization.k8s.io/v1\nmetadata: {name: read-secrets, labels: {rbac.authorization.k8s.io/aggregate-to-view: 'true'}}\nrules: [{apiGroups: [''], resources: [secrets], verbs: [list]}]\n---\nkind: RoleBinding\napiVersion: rbac.authorization.k8s.io/v1\nmetadata: {name: viewer, namespace: shop}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\nsubjects: [{kind: Group, name: auditors}]\n";
    let none = PlatformList::none();
    let result = evaluate(CIS, "5.1.2", Source::Manifests, objects(yaml), &none);
    assert_eq!(status_of(&result, "viewer"), Status::Warn, "{result:#?}");
}

#[test]
fn a_workload_whose_service_account_is_admin_through_an_implicit_group_is_found() {
    let rbac = "kind: ClusterRoleBinding\napiVersion: rbac.authorization.k8s.io/v1\nmetadata: {name: all-sa-admin}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\nsubjects: [{kind: Group, name: 'system:serviceaccounts:shop'}]\n---\nkind: ServiceAccount\napiVersion: v1\nmetadata: {name: default, namespace: shop}\n---\n";
    let yaml = format!(
        "{rbac}{}",
        deployment("web", "containers:\n- {name: app, image: a:1}\n")
    );
    let none = PlatformList::none();
    let result = evaluate(
        KW,
        "KW-WORKLOAD-ADMIN-SA",
        Source::Manifests,
        objects(&yaml),
        &none,
    );
    assert_eq!(status_of(&result, "web"), Status::Fail, "{result:#?}");
    let safe = format!(
        "{rbac}{}",
        deployment(
            "web",
            "automountServiceAccountToken: false\ncontainers:\n- {name: app, image: a:1}\n"
        )
    );
    let result = evaluate(
        KW,
        "KW-WORKLOAD-ADMIN-SA",
        Source::Manifests,
        objects(&safe),
        &none,
    );
    assert_eq!(status_of(&result, "web"), Status::Pass, "{result:#?}");
}

#[test]
fn cron_jobs_and_pod_templates_are_read_at_their_own_pod_spec_paths() {
    let cron = "kind: CronJob\napiVersion: batch/v1\nmetadata: {name: nightly, namespace: shop}\nspec:\n  schedule: '0 1 * * *'\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          hostPID: true\n          containers: [{name: job, image: a:1}]\n          restartPolicy: OnFailure\n";
    case(CIS, "5.2.3", cron, "nightly", Status::Warn);
    let template = "kind: PodTemplate\napiVersion: v1\nmetadata: {name: tpl, namespace: shop}\ntemplate:\n  spec:\n    hostIPC: true\n    containers: [{name: a, image: a:1}]\n";
    let none = PlatformList::none();
    let result = evaluate(CIS, "5.2.4", Source::Manifests, objects(template), &none);
    assert_eq!(status_of(&result, "tpl"), Status::Warn);
}

#[test]
fn host_ports_implied_by_host_network_are_not_a_second_finding() {
    let yaml = "kind: Pod\napiVersion: v1\nmetadata: {name: net, namespace: shop}\nspec:\n  hostNetwork: true\n  containers: [{name: a, image: a:1, ports: [{containerPort: 9100, hostPort: 9100}]}]\n";
    case(CIS, "5.2.12", yaml, "net", Status::Pass);
    let explicit = "kind: Pod\napiVersion: v1\nmetadata: {name: port, namespace: shop}\nspec:\n  containers: [{name: a, image: a:1, ports: [{containerPort: 8080, hostPort: 80}]}]\n";
    case(CIS, "5.2.12", explicit, "port", Status::Warn);
}

#[test]
fn windows_pods_are_outside_the_linux_only_rules() {
    let yaml = format!(
        "{SHOP_RESTRICTED}{}",
        deployment(
            "win",
            "os: {name: windows}\ncontainers:\n- {name: app, image: a:1}\n",
        )
    );
    let none = PlatformList::none();
    // The 5.2 checks judge the namespace's admission as well (it passes here); the pod is not evaluated.
    for (catalog, check) in [(CIS, "5.2.6"), (CIS, "5.2.7"), (CIS, "5.2.9")] {
        let result = evaluate(catalog, check, Source::Manifests, objects(&yaml), &none);
        assert_eq!(
            (result.evaluated, result.status),
            (1, Status::Pass),
            "{check}: {result:#?}"
        );
    }
    for (catalog, check) in [(CIS, "5.6.2"), (KW, "KW-READONLY-ROOTFS")] {
        let result = evaluate(catalog, check, Source::Manifests, objects(&yaml), &none);
        assert_eq!(result.status, Status::NotApplicable, "{check}: {result:#?}");
    }
}

#[test]
fn secrets_in_env_are_found_in_both_forms_and_in_init_containers() {
    let yaml = deployment(
        "env",
        "initContainers:\n- name: migrate\n  image: a:1\n  envFrom: [{secretRef: {name: db}}]\ncontainers:\n- name: app\n  image: a:1\n  env: [{name: PASSWORD, valueFrom: {secretKeyRef: {name: db, key: password}}}]\n",
    );
    let none = PlatformList::none();
    let result = evaluate(CIS, "5.4.1", Source::Manifests, objects(&yaml), &none);
    assert_eq!(
        object(&result, "env").unwrap().evidence.len(),
        2,
        "{result:#?}"
    );
}

#[test]
fn rolling_updates_fail_on_recreate_and_warn_when_every_replica_may_go_at_once() {
    let recreate = deployment("recreate", "containers:\n- {name: a, image: a:1}\n").replace(
        "spec:\n  selector",
        "spec:\n  strategy: {type: Recreate}\n  selector",
    );
    case(KW, "KW-ROLLING-UPDATE", &recreate, "recreate", Status::Fail);
    let all = deployment("all", "containers:\n- {name: a, image: a:1}\n").replace(
        "spec:\n  selector",
        "spec:\n  replicas: 3\n  strategy: {rollingUpdate: {maxUnavailable: 3}}\n  selector",
    );
    case(KW, "KW-ROLLING-UPDATE", &all, "all", Status::Warn);
    let default = deployment("default", "containers:\n- {name: a, image: a:1}\n");
    case(KW, "KW-ROLLING-UPDATE", &default, "default", Status::Pass);
}

#[test]
fn a_kind_the_agent_may_not_list_is_an_error_naming_the_permission() {
    let objects = Vec::new();
    let mut inventory = Inventory::new(Source::Api, objects);
    inventory.forbidden.insert(
        "ClusterRoleBinding".to_owned(),
        "cannot list clusterrolebindings.rbac.authorization.k8s.io (get/list needed)".to_owned(),
    );
    let catalog = PolicyCatalog::builtin(CIS).unwrap();
    let none = PlatformList::none();
    let scene = Scene::new(&inventory, &none);
    let result = policy::evaluate_policy_check(catalog.check("5.1.1").unwrap(), &scene);
    assert_eq!(result.status, Status::Error);
    assert!(result.detail.unwrap().contains("clusterrolebindings"));
}

#[test]
fn every_rule_of_both_catalogs_can_fail() {
    // One fixture that breaks everything the rules look at: each automated rule must find something in it,
    // so that no check is a constant.
    let text = include_str!("fixtures/everything-wrong.yaml");
    let none = PlatformList::none();
    for name in PolicyCatalog::builtin_names() {
        let catalog = PolicyCatalog::builtin(name).unwrap();
        for check in catalog.checks.iter().filter(|check| check.rule.is_some()) {
            let result = evaluate(name, &check.id, Source::Api, objects(text), &none);
            assert!(
                matches!(result.status, Status::Fail | Status::Warn),
                "{name} {}: {:?}\n{result:#?}",
                check.id,
                result.status
            );
        }
    }
}

#[test]
fn a_debug_container_in_a_deployments_pod_is_reported_on_that_pod_alone() {
    let template = "hostPID: true\ncontainers:\n- {name: app, image: a:1}\n";
    let mut values = objects(&format!("{SHOP_RESTRICTED}{}", deployment("web", template)));
    values.push(json!({"kind": "ReplicaSet", "apiVersion": "apps/v1",
        "metadata": {"name": "web-1", "namespace": "shop", "ownerReferences": [{"kind": "Deployment", "name": "web", "controller": true}]},
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "a:1"}]}}}}));
    values.push(json!({"kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": "web-1-abcde", "namespace": "shop", "ownerReferences": [{"kind": "ReplicaSet", "name": "web-1", "controller": true}]},
        "spec": {"hostPID": true, "containers": [{"name": "app", "image": "a:1"}],
                 "ephemeralContainers": [{"name": "debugger", "image": "busybox:1.36", "securityContext": {"privileged": true}}]}}));
    let none = PlatformList::none();
    let privileged = evaluate(CIS, "5.2.2", Source::Api, values.clone(), &none);
    let pod = object(&privileged, "web-1-abcde").unwrap();
    assert_eq!(pod.status, Status::Warn);
    assert_eq!(pod.evidence.len(), 1);
    assert!(pod.evidence[0].subject.contains("debugger (ephemeral)"));
    // The pod-wide hostPID is the Deployment's finding, not the pod's a second time.
    let host_pid = evaluate(CIS, "5.2.3", Source::Api, values, &none);
    assert_eq!(status_of(&host_pid, "web"), Status::Warn);
    assert!(object(&host_pid, "web-1-abcde").is_none(), "{host_pid:#?}");
    // The Deployment, and the namespace for the policy part.
    assert_eq!(host_pid.evaluated, 2);
}

#[test]
fn an_apparmor_annotation_on_the_pod_template_counts_as_hardening() {
    let yaml = "kind: Deployment\napiVersion: apps/v1\nmetadata: {name: aa, namespace: shop}\nspec:\n  template:\n    metadata:\n      annotations: {container.apparmor.security.beta.kubernetes.io/app: runtime/default}\n    spec:\n      containers: [{name: app, image: a:1}, {name: other, image: b:1}]\n";
    let none = PlatformList::none();
    let result = evaluate(
        KW,
        "KW-LINUX-HARDENING",
        Source::Manifests,
        objects(yaml),
        &none,
    );
    let evidence = &object(&result, "aa").unwrap().evidence;
    assert_eq!(evidence.len(), 1, "{evidence:#?}");
    assert!(evidence[0].subject.contains("other"));
}

#[test]
fn the_pod_security_checks_judge_each_namespace_by_the_level_its_admission_enforces() {
    let workload = |namespace: &str| {
        format!(
            "kind: Deployment\napiVersion: apps/v1\nmetadata: {{name: app, namespace: {namespace}}}\nspec: {{template: {{spec: {{containers: [{{name: a, image: a:1}}]}}}}}}\n---\n"
        )
    };
    let namespace = |name: &str, level: &str| {
        format!(
            "kind: Namespace\napiVersion: v1\nmetadata: {{name: {name}, labels: {{pod-security.kubernetes.io/enforce: {level}}}}}\n---\n"
        )
    };
    let mut yaml = String::new();
    for (name, level) in [
        ("strict", "restricted"),
        ("base", "baseline"),
        ("open", "privileged"),
        ("typo", "restrictd"),
    ] {
        yaml += &namespace(name, level);
        yaml += &workload(name);
    }
    yaml += "kind: Namespace\napiVersion: v1\nmetadata: {name: unlabelled}\n---\n";
    yaml += &workload("unlabelled");
    // No Namespace object at all: its labels are outside the manifest set.
    yaml += &workload("elsewhere");
    // A Kyverno policy enforcing restricted in one namespace only.
    yaml += &namespace("kyverno", "privileged");
    yaml += &workload("kyverno");
    yaml += "kind: Policy\napiVersion: kyverno.io/v1\nmetadata: {name: psa, namespace: kyverno}\nspec:\n  validationFailureAction: Enforce\n  rules: [{name: r, validate: {podSecurity: {level: restricted, version: latest}}}]\n";
    let none = PlatformList::none();
    let values = objects(&yaml);
    let namespaces = |check: &str| {
        let result = evaluate(CIS, check, Source::Manifests, values.clone(), &none);
        [
            "strict",
            "base",
            "open",
            "typo",
            "unlabelled",
            "elsewhere",
            "kyverno",
        ]
        .map(|name| {
            result
                .objects
                .iter()
                .find(|o| o.kind == "Namespace" && o.name == name)
                .map_or(Status::Pass, |o| o.status)
        })
    };
    let (pass, warn, manual) = (Status::Pass, Status::Warn, Status::Manual);
    // 5.2.2 (privileged) is forbidden from baseline up; 5.2.6 (privilege escalation) only by restricted.
    assert_eq!(
        namespaces("5.2.2"),
        [pass, pass, warn, warn, manual, manual, pass]
    );
    assert_eq!(
        namespaces("5.2.6"),
        [pass, warn, warn, warn, manual, manual, pass]
    );
    let result = evaluate(CIS, "5.2.6", Source::Manifests, values.clone(), &none);
    let base = result.objects.iter().find(|o| o.name == "base").unwrap();
    assert_eq!(base.evidence[0].observed, "enforce=baseline");
    assert_eq!(base.evidence[0].expected, "enforce=restricted or stricter");
    assert!(
        result
            .objects
            .iter()
            .find(|o| o.name == "unlabelled")
            .unwrap()
            .detail
            .as_deref()
            .unwrap()
            .contains("admission-control-config-file")
    );
    // A Gatekeeper constraint enforces one control, which no level sums up: the namespaces it covers are
    // manual, naming it, unless a label already forbids enough.
    let mut gatekept = values.clone();
    gatekept.push(json!({"kind": "K8sPSPPrivilegedContainer", "apiVersion": "constraints.gatekeeper.sh/v1beta1",
        "metadata": {"name": "no-privileged"}, "spec": {"enforcementAction": "deny"}}));
    let result = evaluate(CIS, "5.2.2", Source::Manifests, gatekept, &none);
    let open = result.objects.iter().find(|o| o.name == "open").unwrap();
    assert_eq!(open.status, Status::Manual);
    assert!(open.detail.as_deref().unwrap().contains("no-privileged"));
    assert!(!result.objects.iter().any(|o| o.name == "strict"));
}

#[test]
fn subjects_that_create_pod_controllers_are_indirect_pod_creators() {
    let role = |name: &str, resource: &str, group: &str| {
        format!(
            "kind: Role\napiVersion: rbac.authorization.k8s.io/v1\nmetadata: {{name: {name}, namespace: shop}}\nrules: [{{apiGroups: ['{group}'], resources: [{resource}], verbs: [create]}}]\n---\nkind: RoleBinding\napiVersion: rbac.authorization.k8s.io/v1\nmetadata: {{name: {name}, namespace: shop}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: {name}}}\nsubjects: [{{kind: User, name: {name}-user}}]\n---\n"
        )
    };
    let yaml = role("direct", "pods", "")
        + &role("deployer", "deployments", "apps")
        + &role("batch", "cronjobs", "batch")
        + &role("reader", "configmaps", "");
    let none = PlatformList::none();
    let result = evaluate(CIS, "5.1.4", Source::Manifests, objects(&yaml), &none);
    let listed = |name: &str| {
        result
            .objects
            .iter()
            .find(|o| o.kind == "RoleBinding" && o.name == name)
    };
    let direct = listed("direct").unwrap();
    assert_eq!(
        (direct.status, direct.detail.as_deref()),
        (Status::Warn, None)
    );
    for indirect in ["deployer", "batch"] {
        let object = listed(indirect).unwrap();
        assert_eq!(object.status, Status::Warn);
        assert!(object.detail.as_deref().unwrap().contains("indirectly"));
        assert!(object.evidence[0].expected.starts_with("no create on"));
    }
    assert!(listed("reader").is_none());
}

#[test]
fn egress_default_deny_needs_egress_in_policy_types_and_no_egress_rules() {
    let policy = |name: &str, spec: &str| {
        format!(
            "kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {{name: {name}, namespace: {name}}}\nspec: {spec}\n---\n{}",
            deployment_in(name)
        )
    };
    fn deployment_in(namespace: &str) -> String {
        format!(
            "kind: Deployment\napiVersion: apps/v1\nmetadata: {{name: app, namespace: {namespace}}}\nspec: {{template: {{spec: {{containers: [{{name: a, image: a:1}}]}}}}}}\n---\n"
        )
    }
    let yaml = policy("both", "{podSelector: {}, policyTypes: [Ingress, Egress]}")
        + &policy("untyped", "{podSelector: {}}")
        + &policy(
            "leaky",
            "{podSelector: {}, policyTypes: [Egress], egress: [{to: [{ipBlock: {cidr: 0.0.0.0/0}}]}]}",
        );
    let none = PlatformList::none();
    let status = |check: &str, name: &str| {
        let result = evaluate(KW, check, Source::Api, objects(&yaml), &none);
        status_of(&result, name)
    };
    assert_eq!(status("KW-NETPOL-DEFAULT-DENY", "both"), Status::Pass);
    assert_eq!(status("KW-NETPOL-DEFAULT-DENY", "untyped"), Status::Pass);
    assert_eq!(
        status("KW-NETPOL-DEFAULT-DENY-EGRESS", "both"),
        Status::Pass
    );
    // Without policyTypes, a policy with no egress rules leaves egress open.
    assert_eq!(
        status("KW-NETPOL-DEFAULT-DENY-EGRESS", "untyped"),
        Status::Warn
    );
    assert_eq!(
        status("KW-NETPOL-DEFAULT-DENY-EGRESS", "leaky"),
        Status::Warn
    );
}
