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
    generate_into(|path, item| lists.entry(path.to_owned()).or_default().push(item));
    lists
}

/// Emits the generated cluster item by item, each controller before what it owns.
fn generate_into(mut push: impl FnMut(&str, Value)) {
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
}

/// Prints the slowest checks, for finding where evaluation time goes.
fn time_each_check(objects: Vec<Object>) {
    let inventory = Inventory::new(Source::Api, objects);
    let Ok(platform) = kubeward_benchmark::policy::PlatformList::builtin("kubernetes") else {
        return;
    };
    let started = Instant::now();
    let scene = kubeward_benchmark::policy::Scene::new(&inventory, &platform);
    eprintln!("scene: {:.0} ms", ms(started.elapsed()));
    stage("scene");
    let mut times = Vec::new();
    for name in kubeward_benchmark::policy::PolicyCatalog::builtin_names() {
        let Ok(catalog) = kubeward_benchmark::policy::PolicyCatalog::builtin(name) else {
            continue;
        };
        for check in &catalog.checks {
            let started = Instant::now();
            let result = kubeward_benchmark::policy::evaluate_policy_check(check, &scene);
            stage(&check.id);
            times.push((
                started.elapsed(),
                check.id.clone(),
                result.evaluated,
                result.objects.len(),
            ));
        }
    }
    times.sort_by_key(|time| std::cmp::Reverse(time.0));
    let total: Duration = times.iter().map(|t| t.0).sum();
    eprintln!("checks: {:.0} ms in all", ms(total));
    for (time, id, evaluated, listed) in times.iter().take(12) {
        eprintln!(
            "{id:<22} {:>6.1} ms  {evaluated} evaluated, {listed} listed",
            ms(*time)
        );
    }
}

fn evaluate(objects: Vec<Object>) -> usize {
    let inventory = Inventory::new(Source::Api, objects);
    stage("inventory indexed");
    let options = PolicyScanOptions {
        catalogs: Vec::new(),
        distribution: "kubernetes".to_owned(),
        kubernetes_version: None,
        nodes: None,
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

/// Prints the time since the first stage and the resident set now and at its peak, when
/// KUBEWARD_BENCH_STAGES is set (for finding where time and memory go).
fn stage(label: &str) {
    if std::env::var_os("KUBEWARD_BENCH_STAGES").is_none() {
        return;
    }
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let since = START.get_or_init(Instant::now).elapsed();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map(|rest| rest.trim().to_owned())
            .unwrap_or_default()
    };
    eprintln!(
        "{label}: {:.0} ms, RSS {} (peak {})",
        ms(since),
        field("VmRSS:"),
        field("VmHWM:")
    );
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// Runs a command to its end and returns its wall time and its own peak RSS in KiB (from `wait4`, which
/// reports that one child). Children are started while this process is still small, since a child's
/// resident set counts the parent's pages until it execs.
#[expect(unsafe_code, reason = "wait4 has no safe wrapper in std")]
fn measured(command: &mut Command) -> Result<(Duration, i64), String> {
    let started = Instant::now();
    let child = command
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let pid = libc::pid_t::try_from(child.id()).map_err(|e| e.to_string())?;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `status` and `usage` are valid and writable; `pid` is our child, not yet waited for.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let elapsed = started.elapsed();
    if waited != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(format!("{command:?} failed"));
    }
    Ok((elapsed, usage.ru_maxrss))
}

fn main() -> ExitCode {
    let role = std::env::var("KUBEWARD_BENCH_ROLE").unwrap_or_default();
    if role == "evaluate" {
        return evaluate_child();
    }
    if role == "stub" {
        // The stub API in a process of its own, so that the agent processes start from a small parent.
        let stub = stub_api::start(
            generate(),
            stub_api::Behaviour {
                cache: true,
                ..stub_api::Behaviour::default()
            },
        );
        println!("{}", stub.address);
        let _ = std::io::Write::flush(&mut std::io::stdout());
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("{err}");
            ExitCode::FAILURE
        }
    }
}

fn evaluate_child() -> ExitCode {
    // Item by item into what the agent keeps, as pages would arrive: the peak is the agent's, not the
    // generator's.
    let kind_of: BTreeMap<&str, &str> = kubeward_agent::cluster::LISTED_KINDS
        .iter()
        .map(|listed| (listed.path, listed.kind))
        .collect();
    let mut keeper = kubeward_agent::keep::Keeper::default();
    let mut objects = Vec::new();
    stage("start");
    generate_into(|path, item| {
        let kind = kind_of.get(path).copied().unwrap_or("Unknown");
        objects.extend(keeper.object(item, kind, "v1").and_then(Result::ok));
    });
    drop(keeper);
    stage("kept");
    if std::env::var_os("KUBEWARD_BENCH_CHECKS").is_some() {
        time_each_check(objects);
        return ExitCode::SUCCESS;
    }
    let found = evaluate(objects);
    stage("evaluated");
    if found > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn run() -> Result<bool, String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    // 1. The peak RSS of a process that keeps and evaluates the cluster.
    let (_, evaluate_rss) = measured(Command::new(&me).env("KUBEWARD_BENCH_ROLE", "evaluate"))?;

    // 2. A live scan through the stub API (its own process), one warm-up and three measured.
    let mut stub = Command::new(&me)
        .env("KUBEWARD_BENCH_ROLE", "stub")
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut address = String::new();
    if let Some(out) = stub.stdout.take() {
        std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut address)
            .map_err(|e| e.to_string())?;
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let config = stub_api::kubeconfig(dir.path(), address.trim());
    let scan = || {
        let mut command = Command::new(AGENT);
        command
            .args([
                "cluster",
                "--format",
                "json",
                "--context",
                "stub",
                "--kubeconfig",
            ])
            .arg(&config);
        command
    };
    let live_runs: Result<Vec<(Duration, i64)>, String> =
        (0..4).map(|_| measured(&mut scan())).collect();
    let _ = stub.kill();
    let _ = stub.wait();
    let live_runs = live_runs?;
    let live = median(live_runs[1..].iter().map(|run| run.0).collect());
    let live_rss = live_runs.iter().map(|run| run.1).max().unwrap_or(0);

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
        std::fs::create_dir_all(file.parent().unwrap_or(&manifests))
            .and_then(|()| std::fs::write(&file, text))
            .map_err(|e| e.to_string())?;
    }
    let mut files = Vec::new();
    for _ in 0..5 {
        let (time, _) = measured(
            Command::new(AGENT)
                .arg("manifests")
                .arg(&manifests)
                .args(["--format", "json"]),
        )?;
        files.push(time);
    }
    let files = median(files);

    // 4. Evaluation in this process, from what the agent keeps to the reports.
    let mut keeper = kubeward_agent::keep::Keeper::default();
    let kind_of: BTreeMap<&str, &str> = kubeward_agent::cluster::LISTED_KINDS
        .iter()
        .map(|listed| (listed.path, listed.kind))
        .collect();
    let mut values = Vec::new();
    let mut generated: BTreeMap<&str, usize> = BTreeMap::new();
    generate_into(|path, item| {
        let kind = kind_of.get(path).copied().unwrap_or("Unknown");
        *generated.entry(kind).or_default() += 1;
        values.extend(keeper.object(item, kind, "v1").and_then(Result::ok));
    });
    let counts = |kinds: &[&str]| -> usize {
        kinds
            .iter()
            .map(|kind| generated.get(kind).copied().unwrap_or(0))
            .sum()
    };
    println!(
        "generated cluster: {} namespaces, {} workloads (+{} ReplicaSets), {} pods, {} RBAC objects, {} objects in all; {} kept (pods that match their template are their owner's)",
        counts(&["Namespace"]),
        counts(&["Deployment", "StatefulSet", "DaemonSet", "CronJob"]),
        counts(&["ReplicaSet"]),
        counts(&["Pod"]),
        counts(&["Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"]),
        generated.values().sum::<usize>(),
        values.len()
    );
    let mut evaluation = Vec::new();
    let mut findings = 0;
    for _ in 0..5 {
        let copy = values.clone();
        let started = Instant::now();
        findings = evaluate(copy);
        evaluation.push(started.elapsed());
    }
    let evaluation = median(evaluation);

    println!(
        "evaluation of both catalogs, objects to reports: median {:.0} ms over 5 runs, {findings} object results listed",
        ms(evaluation)
    );
    println!(
        "peak RSS of a process keeping and evaluating the cluster: {:.1} MiB",
        evaluate_rss as f64 / 1024.0
    );
    println!(
        "kubeward-agent cluster through the stub API (pages of 500): median {:.0} ms over 3 runs after a warm-up, peak RSS {:.1} MiB",
        ms(live),
        live_rss as f64 / 1024.0
    );
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
    Ok(met)
}
