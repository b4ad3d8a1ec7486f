//! The Kubernetes manifests give the agent what a scan needs and nothing more, and give the server its
//! database from a Secret.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop loudly at the first unexpected error"
)]

mod kustomize;

use std::path::PathBuf;

use serde_json::Value;

fn base() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes")
}

fn load(file: &str) -> Value {
    let text = std::fs::read_to_string(base().join(file)).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

/// A container's arguments, as strings.
fn args(container: &Value) -> Vec<&str> {
    container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect()
}

fn container(document: &Value) -> &Value {
    &document["spec"]["template"]["spec"]["containers"][0]
}

fn env<'a>(container: &'a Value, name: &str) -> &'a Value {
    container["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["name"] == name)
        .unwrap()
}

#[test]
fn the_kustomization_lists_every_manifest_of_the_base() {
    let kustomization = load("kustomization.yaml");
    assert_eq!(kustomization["namespace"], "kubeward");
    let listed: Vec<&str> = kustomization["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    let mut present: Vec<String> = std::fs::read_dir(base())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml") && name != "kustomization.yaml")
        .collect();
    present.sort();
    let mut listed_sorted: Vec<String> = listed.iter().map(|name| (*name).to_owned()).collect();
    listed_sorted.sort();
    assert_eq!(listed_sorted, present);
    for file in &listed {
        let document = load(file);
        assert!(document["kind"].is_string(), "{file}");
    }
}

#[test]
fn the_agent_daemonset_reads_the_host_and_runs_everywhere() {
    let daemonset = load("agent-daemonset.yaml");
    assert_eq!(daemonset["kind"], "DaemonSet");
    let pod = &daemonset["spec"]["template"]["spec"];
    assert_eq!(pod["hostPID"], true);
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert!(
        pod["hostNetwork"].is_null(),
        "the agent needs no host network"
    );
    assert!(
        pod["tolerations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["operator"] == "Exists" && t["key"].is_null()),
        "it must also run on control-plane nodes"
    );
    let agent = container(&daemonset);
    let args = args(agent);
    assert_eq!(args[0], "run");
    assert!(args.contains(&"--host-root=/host"));
    assert!(args.contains(&"--proc-root=/proc"));
    assert_eq!(
        env(agent, "NODE_NAME")["valueFrom"]["fieldRef"]["fieldPath"],
        "spec.nodeName"
    );

    let mounts = agent["volumeMounts"].as_array().unwrap();
    let volumes = pod["volumes"].as_array().unwrap();
    let volume = |name: &str| volumes.iter().find(|v| v["name"] == name).unwrap();
    let host = mounts.iter().find(|m| m["mountPath"] == "/host").unwrap();
    assert_eq!(host["readOnly"], true);
    assert_eq!(
        volume(host["name"].as_str().unwrap())["hostPath"]["path"],
        "/"
    );

    // The token comes from a Secret, through the file the agent reads.
    let token_file = env(agent, "KUBEWARD_TOKEN_FILE")["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let token_mount = mounts
        .iter()
        .find(|m| token_file.starts_with(m["mountPath"].as_str().unwrap()))
        .unwrap();
    assert_eq!(token_mount["readOnly"], true);
    assert_eq!(
        volume(token_mount["name"].as_str().unwrap())["secret"]["secretName"],
        "kubeward-agent-token"
    );

    // The spool is on the node (or an emptyDir), where the agent may write despite its read-only root.
    let spool_arg = args
        .iter()
        .find_map(|a| a.strip_prefix("--spool-dir="))
        .unwrap();
    let spool_mount = mounts
        .iter()
        .find(|m| spool_arg.starts_with(m["mountPath"].as_str().unwrap()))
        .unwrap();
    assert_ne!(spool_mount["readOnly"], true);
    let spool_volume = volume(spool_mount["name"].as_str().unwrap());
    assert!(spool_volume["hostPath"].is_object() || spool_volume["emptyDir"].is_object());

    let resources = &agent["resources"];
    for key in ["requests", "limits"] {
        assert!(
            resources[key]["memory"].is_string() && resources[key]["cpu"].is_string(),
            "{key}"
        );
    }
}

#[test]
fn the_agent_gets_only_the_privileges_a_scan_needs_each_with_its_reason() {
    let daemonset = load("agent-daemonset.yaml");
    let security = &container(&daemonset)["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_ne!(security["privileged"], true);
    assert_eq!(security["capabilities"]["drop"], serde_json::json!(["ALL"]));
    let added: Vec<&str> = security["capabilities"]["add"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(added, ["DAC_READ_SEARCH", "SYS_PTRACE"]);
    // Each added capability has a comment saying why, right above it.
    let text = std::fs::read_to_string(base().join("agent-daemonset.yaml")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for capability in added {
        let at = lines
            .iter()
            .position(|line| line.trim() == format!("- {capability}"))
            .unwrap();
        let comment = lines[..at]
            .iter()
            .rev()
            .take_while(|line| line.trim_start().starts_with('#'))
            .count();
        assert!(comment >= 1, "{capability} has no comment saying why");
        assert!(
            lines[at - comment].contains(capability),
            "the comment above {capability} must name it"
        );
    }
}

#[test]
fn the_server_takes_its_database_from_a_secret_and_runs_unprivileged() {
    let deployment = load("server-deployment.yaml");
    assert_eq!(deployment["kind"], "Deployment");
    let server = container(&deployment);
    let database = env(server, "DATABASE_URL");
    assert_eq!(
        database["valueFrom"]["secretKeyRef"]["name"],
        "kubeward-database"
    );
    assert!(database["value"].is_null(), "no database URL in plain text");
    // It listens beyond loopback, so it must be configured for OpenID Connect, with its secrets in files,
    // and serve TLS itself from its certificate Secret.
    let args = args(server);
    assert!(args.contains(&"--bind=0.0.0.0:8443"), "{args:?}");
    assert!(!args.contains(&"--plain-http"), "{args:?}");
    let tls_mount = server["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|mount| mount["name"] == "tls")
        .unwrap();
    let tls_dir = tls_mount["mountPath"].as_str().unwrap();
    for (flag, file) in [("--tls-cert", "tls.crt"), ("--tls-key", "tls.key")] {
        assert!(
            args.contains(&format!("{flag}={tls_dir}/{file}").as_str()),
            "{args:?}"
        );
    }
    let tls_volume = deployment["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|volume| volume["name"] == "tls")
        .unwrap();
    assert_eq!(tls_volume["secret"]["secretName"], "kubeward-server-tls");
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(server[probe]["httpGet"]["scheme"], "HTTPS", "{probe}");
    }
    for (name, key) in [
        ("KUBEWARD_OIDC_ISSUER", "issuer"),
        ("KUBEWARD_OIDC_CLIENT_ID", "client-id"),
        ("KUBEWARD_PUBLIC_URL", "public-url"),
        ("KUBEWARD_OIDC_ROLES", "roles"),
    ] {
        let reference = &env(server, name)["valueFrom"]["configMapKeyRef"];
        assert_eq!(reference["name"], "kubeward-oidc", "{name}");
        assert_eq!(reference["key"], key, "{name}");
    }
    let mount = server["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|mount| mount["name"] == "secrets")
        .unwrap();
    assert_eq!(mount["readOnly"], true);
    let directory = mount["mountPath"].as_str().unwrap();
    for (name, file) in [
        ("KUBEWARD_OIDC_CLIENT_SECRET_FILE", "oidc-client-secret"),
        ("KUBEWARD_SESSION_KEY_FILE", "session-key"),
    ] {
        assert_eq!(
            env(server, name)["value"],
            format!("{directory}/{file}"),
            "{name}"
        );
    }
    let volume = &deployment["spec"]["template"]["spec"]["volumes"][0];
    assert_eq!(volume["name"], "secrets");
    assert_eq!(volume["secret"]["secretName"], "kubeward-server");
    assert_eq!(server["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(server["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"],
        true
    );
    assert_eq!(server["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        server["securityContext"]["capabilities"]["drop"],
        serde_json::json!(["ALL"])
    );
    let service = load("server-service.yaml");
    assert_eq!(
        service["spec"]["selector"],
        deployment["spec"]["selector"]["matchLabels"]
    );
    let daemonset = load("agent-daemonset.yaml");
    let server_url = env(container(&daemonset), "KUBEWARD_SERVER")["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let port = service["spec"]["ports"][0]["port"].as_u64().unwrap();
    assert!(
        server_url.starts_with("https://")
            && server_url.contains(&format!(
                "{}.kubeward.svc:{port}",
                service["metadata"]["name"].as_str().unwrap()
            )),
        "{server_url}"
    );
    // Agents check the server's certificate against the CA of its Secret, and have only that CA of it.
    let agent = container(&daemonset);
    assert!(
        agent["env"]
            .as_array()
            .unwrap()
            .iter()
            .all(|var| var["name"] != "KUBEWARD_INSECURE_HTTP"),
        "agent tokens must not cross the pod network in clear"
    );
    let ca_file = env(agent, "KUBEWARD_CA_FILE")["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let ca_mount = agent["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|mount| ca_file.starts_with(mount["mountPath"].as_str().unwrap()))
        .unwrap();
    let ca_volume = daemonset["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|volume| volume["name"] == ca_mount["name"])
        .unwrap();
    assert_eq!(ca_volume["secret"]["secretName"], "kubeward-server-tls");
    assert_eq!(
        ca_volume["secret"]["items"],
        serde_json::json!([{"key": "ca.crt", "path": "ca.crt"}])
    );
}

#[test]
fn docker_compose_signs_the_server_in_at_its_own_provider_under_one_issuer_name() {
    let text = std::fs::read_to_string(base().join("../../docker-compose.yml")).unwrap();
    let compose: Value = serde_yaml_ng::from_str(&text).unwrap();
    let server = &compose["services"]["server"]["environment"];
    let oidc = &compose["services"]["oidc"];
    let issuer = server["KUBEWARD_OIDC_ISSUER"].as_str().unwrap();
    assert_eq!(oidc["environment"]["ISSUER"], issuer);
    let public_url = server["KUBEWARD_PUBLIC_URL"].as_str().unwrap();
    assert_eq!(
        oidc["environment"]["REDIRECT_URI"],
        format!("{public_url}/auth/callback")
    );
    assert_eq!(
        oidc["environment"]["POST_LOGOUT_REDIRECT_URI"],
        format!("{public_url}/logged-out")
    );
    // The issuer's host name reaches the provider from the server's container too.
    let host = issuer
        .trim_start_matches("http://")
        .split(':')
        .next()
        .unwrap();
    let aliases = oidc["networks"]["default"]["aliases"].as_array().unwrap();
    assert!(aliases.iter().any(|alias| alias == host), "{aliases:?}");
    assert_eq!(
        compose["services"]["server"]["depends_on"]["oidc"]["condition"],
        "service_healthy"
    );
    assert!(
        server["KUBEWARD_OIDC_ROLES"]
            .as_str()
            .unwrap()
            .contains("kubeward-auditors=auditor")
    );
    // The server serves TLS from the certificate the tls service makes; the agent trusts its CA and never
    // sends its token in clear.
    assert!(public_url.starts_with("https://"), "{public_url}");
    assert_eq!(server["KUBEWARD_TLS_CERT"], "/tls/tls.crt");
    assert_eq!(server["KUBEWARD_TLS_KEY"], "/tls/tls.key");
    let agent_args: Vec<&str> = compose["services"]["agent"]["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|arg| arg.as_str().unwrap())
        .collect();
    assert!(
        agent_args.contains(&"--server=https://server:8080"),
        "{agent_args:?}"
    );
    assert!(
        agent_args.contains(&"--ca-file=/ca/ca.crt"),
        "{agent_args:?}"
    );
    assert!(!agent_args.contains(&"--insecure-http"), "{agent_args:?}");
    assert_eq!(
        compose["services"]["server"]["depends_on"]["tls"]["condition"],
        "service_completed_successfully"
    );
}

#[test]
fn the_cluster_agent_role_gets_and_lists_exactly_the_kinds_it_reads_and_nothing_else() {
    let role = load("cluster-agent-clusterrole.yaml");
    assert_eq!(role["kind"], "ClusterRole");
    let mut granted: Vec<(String, String)> = Vec::new();
    for rule in role["rules"].as_array().unwrap() {
        let verbs: Vec<&str> = rule["verbs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(
            verbs,
            ["get", "list"],
            "read-only, no watch-all and no write: {rule}"
        );
        assert!(rule["nonResourceURLs"].is_null() && rule["resourceNames"].is_null());
        for group in rule["apiGroups"].as_array().unwrap() {
            for resource in rule["resources"].as_array().unwrap() {
                let (group, resource) = (group.as_str().unwrap(), resource.as_str().unwrap());
                assert!(
                    !group.contains('*') && !resource.contains('*'),
                    "no wildcards"
                );
                assert!(!matches!(
                    resource,
                    "secrets" | "nodes/proxy" | "users" | "groups" | "serviceaccounts/token"
                ));
                granted.push((group.to_owned(), resource.to_owned()));
            }
        }
    }
    granted.sort();
    let mut listed: Vec<(String, String)> = kubeward_agent::cluster::LISTED_KINDS
        .iter()
        .chain(std::iter::once(&kubeward_agent::cluster::NODES))
        .map(|kind| (kind.group.to_owned(), kind.resource.to_owned()))
        .collect();
    listed.sort();
    assert_eq!(
        granted, listed,
        "the role and what the agent lists must stay the same set"
    );
    let binding = load("cluster-agent-clusterrolebinding.yaml");
    assert_eq!(binding["roleRef"]["name"], "kubeward-cluster-agent");
    assert_eq!(
        binding["subjects"],
        serde_json::json!([{"kind": "ServiceAccount", "name": "kubeward-cluster-agent", "namespace": "kubeward"}])
    );
}

#[test]
fn the_cluster_agent_is_one_unprivileged_replica_with_a_read_only_root() {
    let deployment = load("cluster-agent-deployment.yaml");
    assert_eq!(deployment["spec"]["replicas"], 1);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "kubeward-cluster-agent");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert!(pod["hostPID"].is_null() && pod["hostNetwork"].is_null());
    assert!(
        pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["hostPath"].is_null())
    );
    let agent = container(&deployment);
    let args = args(agent);
    assert_eq!(&args[..2], ["run", "--cluster"]);
    let context = &agent["securityContext"];
    assert_eq!(context["readOnlyRootFilesystem"], true);
    assert_eq!(context["allowPrivilegeEscalation"], false);
    assert_eq!(context["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert!(context["capabilities"]["add"].is_null());
    assert_eq!(
        env(agent, "KUBEWARD_TOKEN_FILE")["value"],
        "/etc/kubeward/token/token"
    );
}

#[test]
fn kubewards_own_manifests_pass_its_hardening_checks_but_for_what_the_platform_list_names() {
    let rendered = kustomize::render(&base());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kubeward-agent"))
        .args(["manifests", "-", "--format", "json", "--fail-on", "fail"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &rendered).unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "a hardening check failed on kubeward's own manifests"
    );
    let reports: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    let objects: Vec<&Value> = reports
        .iter()
        .flat_map(|report| report["results"].as_array().unwrap())
        .flat_map(|result| result["objects"].as_array().unwrap())
        .collect();
    // What the platform list names is there, visibly, with its reason.
    let agent = objects
        .iter()
        .find(|object| object["kind"] == "DaemonSet" && object["name"] == "kubeward-agent")
        .unwrap();
    assert!(
        agent["platform"]["reason"]
            .as_str()
            .unwrap()
            .contains("kubeward")
    );
    // The cluster agent's own RBAC passes every RBAC check of CIS section 5.
    let rbac_findings: Vec<&&Value> = objects
        .iter()
        .filter(|object| {
            object["name"] == "kubeward-cluster-agent" && object["kind"] == "ClusterRoleBinding"
        })
        .collect();
    assert!(rbac_findings.is_empty(), "{rbac_findings:#?}");
}
