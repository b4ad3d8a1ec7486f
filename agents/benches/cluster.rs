//! Benchmark of the cluster checks at scale.
//!
//! Run with `cargo bench -p kubeward-agent --bench cluster`. It generates a cluster of 500 namespaces,
//! 10,000 workloads (with their ReplicaSets), 20,000 pods and 2,000 RBAC objects, shaped as the API returns
//! them (defaults, managed fields, status), and measures:
//! - the evaluation of both catalogs in process, from the listed objects to the reports (median of 5), and
//!   the peak RSS of a process that does only that;
//! - `kubeward-agent cluster` reading the same cluster from a loopback stub API in pages of 500 (median of 3
//!   wall times, and its peak RSS);
//! - `kubeward-agent manifests` on 1,000 files (median of 5).
//!
//! Targets (issue 13): evaluation ≤ 1 s and ≤ 128 MiB; live scan ≤ 5 s; 1,000 manifest files ≤ 1 s.

#[path = "../tests/stub_api/mod.rs"]
mod stub_api;

use std::collections::BTreeMap;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use kubeward_agent::policy_scan::{self, PolicyScanOptions};
use kubeward_benchmark::cluster_report::Source;
use kubeward_benchmark::policy::{Inventory, Object};
use serde_json::{Value, json};

const AGENT: &str = env!("CARGO_BIN_EXE_kubeward-agent");
const NAMESPACES: usize = 500;
const DEPLOYMENTS: usize = 7_000;
const STATEFULSETS: usize = 1_500;
const DAEMONSETS: usize = 500;
const CRONJOBS: usize = 1_000;
const PODS_PER_DEPLOYMENT: usize = 2;
const PODS_PER_STATEFULSET: usize = 4;
const RBAC_PER_KIND: usize = 500;
const MANIFEST_FILES: usize = 1_000;

/// A pod spec as the API returns it, varied so that every check has work and findings.
fn pod_spec(index: usize) -> Value {
    let mut container = json!({
        "name": "app", "image": format!("registry.example.com/team{}/app:{}.0", index % 40, index % 9),
        "imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": !index.is_multiple_of(3),
                            "capabilities": {"drop": ["ALL"]}},
        "env": [{"name": "MODE", "value": "production"}],
        "volumeMounts": [{"name": "data", "mountPath": "/data"}]
    });
    if index.is_multiple_of(7) {
        container["securityContext"]["privileged"] = json!(true);
    }
    if index.is_multiple_of(11)
        && let Some(env) = container["env"].as_array_mut()
    {
        env.push(json!({"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "app", "key": "token"}}}));
    }
    let mut volumes = vec![json!({"name": "data", "emptyDir": {}})];
    if index.is_multiple_of(13) {
        volumes.push(json!({"name": "runtime", "hostPath": {"path": "/var/run/containerd/containerd.sock", "type": ""}}));
    }
    json!({
        "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
        "terminationGracePeriodSeconds": 30, "serviceAccountName": format!("app-{}", index % 4),
        "securityContext": if index.is_multiple_of(5) { json!({}) } else { json!({"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}}) },
        "initContainers": [{"name": "init", "image": "busybox:1.36", "resources": {}, "securityContext": {"runAsUser": 1000}}],
        "containers": [container],
        "volumes": volumes,
    })
}

fn metadata(name: &str, namespace: &str, index: usize) -> Value {
    json!({
        "name": name, "namespace": namespace, "uid": format!("00000000-0000-4000-8000-{index:012}"),
        "resourceVersion": format!("{}", 10_000 + index), "generation": 1,
        "creationTimestamp": "2026-11-01T10:00:00Z",
        "labels": {"app": name, "team": format!("team{}", index % 40)},
        "managedFields": [{"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "apps/v1",
                           "time": "2026-11-01T10:00:00Z", "fieldsType": "FieldsV1",
                           "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}, "f:spec": {"f:replicas": {}}}}]
    })
}

fn template(name: &str, index: usize) -> Value {
    json!({"metadata": {"labels": {"app": name}}, "spec": pod_spec(index)})
}

/// The generated cluster, by collection path.
fn generate() -> BTreeMap<String, Vec<Value>> {
    let mut lists: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut push = |path: &str, item: Value| lists.entry(path.to_owned()).or_default().push(item);
    for n in 0..NAMESPACES {
        let name = format!("team-{n}");
        let mut namespace = metadata(&name, "", n);
        namespace.as_object_mut().map(|m| m.remove("namespace"));
        if n % 3 != 0 {
            namespace["labels"]["pod-security.kubernetes.io/enforce"] = json!("baseline");
        }
        push(
            "/api/v1/namespaces",
            json!({"metadata": namespace, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}),
        );
        push(
            "/api/v1/serviceaccounts",
            json!({"metadata": metadata("default", &name, n)}),
        );
        if n % 2 == 0 {
            push(
                "/apis/networking.k8s.io/v1/networkpolicies",
                json!({"metadata": metadata("default-deny", &name, n),
                "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}),
            );
        }
        if n % 4 == 0 {
            push(
                "/api/v1/limitranges",
                json!({"metadata": metadata("defaults", &name, n),
                "spec": {"limits": [{"type": "Container", "default": {"memory": "256Mi"}}]}}),
            );
        }
    }
    let namespace_of = |index: usize| format!("team-{}", index % NAMESPACES);
    let mut pod_index = 0;
    for d in 0..DEPLOYMENTS {
        let (name, namespace) = (format!("web-{d}"), namespace_of(d));
        push(
            "/apis/apps/v1/deployments",
            json!({"metadata": metadata(&name, &namespace, d),
            "spec": {"replicas": PODS_PER_DEPLOYMENT, "selector": {"matchLabels": {"app": name}},
                     "strategy": {"type": if d % 17 == 0 { "Recreate" } else { "RollingUpdate" }},
                     "template": template(&name, d)},
            "status": {"replicas": PODS_PER_DEPLOYMENT, "readyReplicas": PODS_PER_DEPLOYMENT}}),
        );
        let replica_set = format!("{name}-5d8f7c");
        let mut rs_meta = metadata(&replica_set, &namespace, d);
        rs_meta["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "controller": true}]);
        push(
            "/apis/apps/v1/replicasets",
            json!({"metadata": rs_meta, "spec": {"replicas": PODS_PER_DEPLOYMENT, "template": template(&name, d)}}),
        );
        for p in 0..PODS_PER_DEPLOYMENT {
            let mut pod_meta = metadata(&format!("{replica_set}-{p}x7k"), &namespace, pod_index);
            pod_meta["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": replica_set, "controller": true}]);
            push(
                "/api/v1/pods",
                json!({"metadata": pod_meta, "spec": pod_spec(d), "status": {"phase": "Running", "podIP": "10.244.0.1"}}),
            );
            pod_index += 1;
        }
        if d % 2 == 0 {
            push(
                "/api/v1/services",
                json!({"metadata": metadata(&name, &namespace, d),
                "spec": {"type": if d % 50 == 0 { "NodePort" } else { "ClusterIP" }, "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}], "selector": {"app": name}},
                "status": {"loadBalancer": {}}}),
            );
        }
    }
    for s in 0..STATEFULSETS {
        let (name, namespace) = (format!("db-{s}"), namespace_of(s));
        push(
            "/apis/apps/v1/statefulsets",
            json!({"metadata": metadata(&name, &namespace, s),
            "spec": {"replicas": PODS_PER_STATEFULSET, "serviceName": name, "selector": {"matchLabels": {"app": name}}, "template": template(&name, s)}}),
        );
        for p in 0..PODS_PER_STATEFULSET {
            let mut pod_meta = metadata(&format!("{name}-{p}"), &namespace, pod_index);
            pod_meta["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": name, "controller": true}]);
            push(
                "/api/v1/pods",
                json!({"metadata": pod_meta, "spec": pod_spec(s), "status": {"phase": "Running"}}),
            );
            pod_index += 1;
        }
    }
    for d in 0..DAEMONSETS {
        let name = format!("node-agent-{d}");
        push(
            "/apis/apps/v1/daemonsets",
            json!({"metadata": metadata(&name, &namespace_of(d), d),
            "spec": {"selector": {"matchLabels": {"app": name}}, "template": template(&name, d)}}),
        );
    }
    for c in 0..CRONJOBS {
        let name = format!("report-{c}");
        push(
            "/apis/batch/v1/cronjobs",
            json!({"metadata": metadata(&name, &namespace_of(c), c),
            "spec": {"schedule": "0 1 * * *", "jobTemplate": {"spec": {"template": template(&name, c)}}}}),
        );
    }
    let verbs = ["get", "list", "watch"];
    for r in 0..RBAC_PER_KIND {
        let namespace = namespace_of(r);
        let resources = if r % 9 == 0 {
            json!(["secrets"])
        } else if r % 10 == 0 {
            json!(["pods/*"])
        } else {
            json!(["configmaps", "pods"])
        };
        push(
            "/apis/rbac.authorization.k8s.io/v1/roles",
            json!({"metadata": metadata(&format!("role-{r}"), &namespace, r),
            "rules": [{"apiGroups": [""], "resources": resources, "verbs": verbs}]}),
        );
        push(
            "/apis/rbac.authorization.k8s.io/v1/rolebindings",
            json!({"metadata": metadata(&format!("binding-{r}"), &namespace, r),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": if r % 5 == 0 { "ClusterRole" } else { "Role" }, "name": if r % 5 == 0 { "edit".to_owned() } else { format!("role-{r}") }},
            "subjects": [{"kind": "ServiceAccount", "name": format!("app-{}", r % 4), "namespace": namespace}]}),
        );
        let mut cluster_role = metadata(&format!("cluster-role-{r}"), "", r);
        cluster_role.as_object_mut().map(|m| m.remove("namespace"));
        push(
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            json!({"metadata": cluster_role,
            "rules": [{"apiGroups": ["apps"], "resources": ["deployments", "replicasets"], "verbs": if r % 25 == 0 { json!(["*"]) } else { json!(verbs) }}]}),
        );
        let mut cluster_binding = metadata(&format!("cluster-binding-{r}"), "", r);
        cluster_binding
            .as_object_mut()
            .map(|m| m.remove("namespace"));
        push(
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            json!({"metadata": cluster_binding,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": if r % 100 == 0 { "cluster-admin".to_owned() } else { format!("cluster-role-{r}") }},
            "subjects": [{"kind": "ServiceAccount", "name": format!("app-{}", r % 4), "namespace": namespace}]}),
        );
    }
    lists
}

/// What a LIST returns, item by item: the objects the agent evaluates.
fn objects_of(lists: &BTreeMap<String, Vec<Value>>) -> Vec<Value> {
    let kind_of = |path: &str| match path.rsplit('/').next().unwrap_or("") {
        "namespaces" => "Namespace",
        "serviceaccounts" => "ServiceAccount",
        "networkpolicies" => "NetworkPolicy",
        "limitranges" => "LimitRange",
        "deployments" => "Deployment",
        "replicasets" => "ReplicaSet",
        "pods" => "Pod",
        "services" => "Service",
        "statefulsets" => "StatefulSet",
        "daemonsets" => "DaemonSet",
        "cronjobs" => "CronJob",
        "roles" => "Role",
        "rolebindings" => "RoleBinding",
        "clusterroles" => "ClusterRole",
        "clusterrolebindings" => "ClusterRoleBinding",
        _ => "Unknown",
    };
    lists
        .iter()
        .flat_map(|(path, items)| {
            items.iter().map(move |item| {
                let mut item = item.clone();
                item["kind"] = Value::from(kind_of(path));
                item
            })
        })
        .collect()
}

fn evaluate(values: Vec<Value>) -> usize {
    let objects: Vec<Object> = values
        .into_iter()
        .filter_map(|value| Object::from_value(value, None).ok())
        .collect();
    let inventory = Inventory::new(Source::Api, objects);
    let options = PolicyScanOptions {
        catalogs: Vec::new(),
        distribution: "kubernetes".to_owned(),
        kubernetes_version: None,
    };
    let Ok((catalogs, platform)) = policy_scan::load(&options) else {
        return 0;
    };
    let reports = policy_scan::evaluate(
        &inventory,
        &catalogs,
        &platform,
        &options,
        time::OffsetDateTime::now_utc(),
    );
    reports
        .iter()
        .flat_map(|r| &r.results)
        .map(|r| r.objects.len())
        .sum()
}

#[expect(unsafe_code, reason = "getrusage has no safe wrapper in std")]
fn children_peak_rss_kib() -> i64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage for the duration of the call.
    let result = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    if result == 0 { usage.ru_maxrss } else { -1 }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// Peak RSS of one child doing `role`, in KiB. RUSAGE_CHILDREN keeps the largest child so far, so the roles
/// run from the smallest expected to the largest, each checked on its own.
fn child_peak(role: &str, extra: &[&str]) -> Result<i64, String> {
    let status = Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
        .env("KUBEWARD_BENCH_ROLE", role)
        .args(extra)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("the {role} child failed: {status}"));
    }
    Ok(children_peak_rss_kib())
}

fn main() -> ExitCode {
    if std::env::var("KUBEWARD_BENCH_ROLE").as_deref() == Ok("evaluate") {
        let values = objects_of(&generate());
        return if evaluate(values) > 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    let lists = generate();
    let values = objects_of(&lists);
    let counts = |kinds: &[&str]| {
        values
            .iter()
            .filter(|v| kinds.contains(&v["kind"].as_str().unwrap_or("")))
            .count()
    };
    println!(
        "generated cluster: {} namespaces, {} workloads (+{} ReplicaSets), {} pods, {} RBAC objects, {} objects in all",
        counts(&["Namespace"]),
        counts(&["Deployment", "StatefulSet", "DaemonSet", "CronJob"]),
        counts(&["ReplicaSet"]),
        counts(&["Pod"]),
        counts(&["Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"]),
        values.len()
    );

    // 1. In-process evaluation.
    let mut evaluation = Vec::new();
    let mut findings = 0;
    for _ in 0..5 {
        let copy = values.clone();
        let started = Instant::now();
        findings = evaluate(copy);
        evaluation.push(started.elapsed());
    }
    let evaluation = median(evaluation);
    let evaluate_rss = match child_peak("evaluate", &[]) {
        Ok(kib) => kib,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "evaluation of both catalogs: median {:.0} ms over 5 runs, {findings} object results listed",
        ms(evaluation)
    );
    println!(
        "peak RSS of a process generating and evaluating the cluster: {:.1} MiB",
        evaluate_rss as f64 / 1024.0
    );

    // 2. A live scan through the stub API.
    let stub = stub_api::start(lists, stub_api::Behaviour::default());
    let Ok(dir) = tempfile::tempdir() else {
        return ExitCode::FAILURE;
    };
    let config = stub_api::kubeconfig(dir.path(), &stub.address);
    let mut live = Vec::new();
    let mut live_rss = 0;
    for _ in 0..3 {
        let started = Instant::now();
        let status = Command::new(AGENT)
            .args([
                "cluster",
                "--format",
                "json",
                "--context",
                "stub",
                "--kubeconfig",
            ])
            .arg(&config)
            .stdout(Stdio::null())
            .status();
        live.push(started.elapsed());
        if !status.is_ok_and(|s| s.success()) {
            eprintln!("the live scan failed");
            return ExitCode::FAILURE;
        }
        live_rss = children_peak_rss_kib();
    }
    let requests = stub.requests.lock().map(|r| r.len()).unwrap_or(0);
    let live = median(live);
    println!(
        "kubeward-agent cluster through the stub API (pages of 500): median {:.0} ms over 3 runs, {} requests per scan, peak RSS {:.1} MiB",
        ms(live),
        requests / 3,
        live_rss as f64 / 1024.0
    );

    // 3. Manifests: 1,000 files of a Deployment and a Service each.
    let manifests = dir.path().join("manifests");
    for index in 0..MANIFEST_FILES {
        let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": format!("app-{index}"), "namespace": format!("team-{}", index % 50)},
            "spec": {"selector": {"matchLabels": {"app": format!("app-{index}")}}, "template": template(&format!("app-{index}"), index)}});
        let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": format!("app-{index}"), "namespace": format!("team-{}", index % 50)},
            "spec": {"ports": [{"port": 80}]}});
        let text = format!(
            "{}---\n{}",
            serde_yaml_ng::to_string(&deployment).unwrap_or_default(),
            serde_yaml_ng::to_string(&service).unwrap_or_default()
        );
        let file = manifests
            .join(format!("team-{}", index % 50))
            .join(format!("app-{index}.yaml"));
        if std::fs::create_dir_all(file.parent().unwrap_or(&manifests))
            .and_then(|()| std::fs::write(&file, text))
            .is_err()
        {
            return ExitCode::FAILURE;
        }
    }
    let mut files = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let status = Command::new(AGENT)
            .arg("manifests")
            .arg(&manifests)
            .args(["--format", "json"])
            .stdout(Stdio::null())
            .status();
        files.push(started.elapsed());
        if !status.is_ok_and(|s| s.success()) {
            eprintln!("the manifests run failed");
            return ExitCode::FAILURE;
        }
    }
    let files = median(files);
    println!(
        "kubeward-agent manifests on {MANIFEST_FILES} files: median {:.0} ms over 5 runs",
        ms(files)
    );

    let mut met = true;
    for (name, ok) in [
        ("evaluation <= 1 s", evaluation <= Duration::from_secs(1)),
        (
            "evaluation peak RSS <= 128 MiB",
            evaluate_rss > 0 && evaluate_rss <= 128 * 1024,
        ),
        ("live scan <= 5 s", live <= Duration::from_secs(5)),
        (
            "1,000 manifest files <= 1 s",
            files <= Duration::from_secs(1),
        ),
    ] {
        println!("target {name}: {}", if ok { "met" } else { "MISSED" });
        met &= ok;
    }
    if met {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
