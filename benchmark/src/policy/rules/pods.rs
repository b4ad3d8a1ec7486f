//! Rules over pod specs: one verdict per top-level workload, with evidence per container and the path of the
//! field that decided. Every container kind counts (init and ephemeral too), and the container's security
//! context wins over the pod's where the API inherits.

use crate::cluster_report::ObjectEvidence;
use crate::policy::json::Json;
use crate::policy::objects::{array, field, integer, text};
use crate::policy::sockets::reached_socket;
use crate::policy::workload::{Container, ContainerKind, Workload};
use crate::policy::{Outcome, Scene, Target, Verdict, evidence};

/// Like [`each_workload`], for rules about the pod as a whole: a pod judged only for its ephemeral
/// containers is its owner's for these.
fn each_pod(
    scene: &Scene<'_>,
    linux_only: bool,
    judge: impl Fn(&Workload<'_>) -> Verdict,
) -> Vec<Verdict> {
    scene
        .pods()
        .filter(|workload| !(linux_only && workload.is_windows()))
        .map(judge)
        .collect()
}

/// One verdict per workload from a test of each container: the evidence of every container it flags.
fn each_container(
    scene: &Scene<'_>,
    linux_only: bool,
    flag: impl Fn(&Workload<'_>, &Container<'_>) -> Option<ObjectEvidence>,
) -> Vec<Verdict> {
    each_workload(scene, linux_only, |workload| {
        let found = workload
            .containers()
            .filter_map(|container| flag(workload, &container))
            .collect();
        Verdict::from_evidence(Target::of(workload.object), found)
    })
}

/// One verdict per workload from a per-workload judgement; `linux_only` leaves Windows pods unevaluated.
fn each_workload(
    scene: &Scene<'_>,
    linux_only: bool,
    judge: impl Fn(&Workload<'_>) -> Verdict,
) -> Vec<Verdict> {
    scene
        .workloads
        .iter()
        .filter(|workload| !(linux_only && workload.is_windows()))
        .map(judge)
        .collect()
}

pub fn privileged(scene: &Scene<'_>) -> Vec<Verdict> {
    each_container(scene, false, |_, container| {
        container.is_privileged().then(|| {
            evidence(
                container.subject(),
                Some(container.context_path("privileged")),
                "true",
                "false or unset",
            )
        })
    })
}

pub fn host_namespace(scene: &Scene<'_>, key: &str) -> Vec<Verdict> {
    each_pod(scene, false, |workload| {
        let found = if workload.pod_flag(key) == Some(true) {
            vec![evidence(
                "pod",
                Some(workload.path(key)),
                "true",
                "false or unset",
            )]
        } else {
            Vec::new()
        };
        Verdict::from_evidence(Target::of(workload.object), found)
    })
}

pub fn privilege_escalation(scene: &Scene<'_>) -> Vec<Verdict> {
    each_container(scene, true, |_, container| {
        if !container.may_escalate() {
            return None;
        }
        let observed = match container
            .own("allowPrivilegeEscalation")
            .and_then(Json::as_bool)
        {
            _ if container.is_privileged() => "privileged (escalation implied)",
            Some(false) => "false, but SYS_ADMIN is added (escalation implied)",
            Some(true) => "true",
            None => "unset (the API allows escalation)",
        };
        Some(evidence(
            container.subject(),
            Some(container.context_path("allowPrivilegeEscalation")),
            observed,
            "false",
        ))
    })
}

pub fn root_containers(scene: &Scene<'_>) -> Vec<Verdict> {
    each_workload(scene, true, |workload| {
        let pod_path = workload.spec_path;
        let mut found = Vec::new();
        let mut unknown = Vec::new();
        for container in workload.containers() {
            let user = container.inherited("runAsUser", pod_path);
            let non_root = container.inherited("runAsNonRoot", pod_path);
            match (
                user.as_ref().and_then(|(value, _)| value.as_i64()),
                non_root.as_ref().and_then(|(value, _)| value.as_bool()),
            ) {
                (Some(0), _) => found.push(evidence(
                    container.subject(),
                    user.map(|(_, path)| path),
                    "runAsUser 0",
                    "runAsNonRoot true or a runAsUser above 0",
                )),
                (Some(_), _) | (_, Some(true)) => {}
                _ => unknown.push(container.name.to_owned()),
            }
        }
        let target = Target::of(workload.object);
        if !found.is_empty() {
            Verdict::from_evidence(target, found)
        } else if !unknown.is_empty() {
            Verdict::unknown(
                target,
                format!(
                    "neither runAsNonRoot nor runAsUser is set for {}: the image's USER decides, and the API does \
                     not show it",
                    unknown.join(", ")
                ),
            )
        } else {
            Verdict::pass(target)
        }
    })
}

pub fn net_raw(scene: &Scene<'_>) -> Vec<Verdict> {
    each_workload(scene, true, |workload| {
        let mut found = Vec::new();
        let mut runtime_decides = Vec::new();
        for container in workload.containers() {
            let added = container.added_capabilities();
            let dropped = container.dropped_capabilities();
            let path = Some(container.context_path("capabilities"));
            if container.is_privileged() {
                found.push(evidence(
                    container.subject(),
                    Some(container.context_path("privileged")),
                    "privileged (every capability)",
                    "NET_RAW dropped",
                ));
            } else if let Some(cap) = added.iter().find(|cap| *cap == "NET_RAW" || *cap == "ALL") {
                found.push(evidence(
                    container.subject(),
                    path,
                    format!("adds {cap}"),
                    "NET_RAW not added",
                ));
            } else if !dropped.iter().any(|cap| cap == "NET_RAW" || cap == "ALL") {
                runtime_decides.push(container.name.to_owned());
            }
        }
        let target = Target::of(workload.object);
        if !found.is_empty() {
            Verdict::from_evidence(target, found)
        } else if !runtime_decides.is_empty() {
            Verdict::unknown(
                target,
                format!(
                    "{} do not drop NET_RAW: the node's runtime decides (containerd grants it by default, CRI-O \
                     does not)",
                    runtime_decides.join(", ")
                ),
            )
        } else {
            Verdict::pass(target)
        }
    })
}

/// What PSS restricted allows to add.
const ALLOWED_ADDED: &[&str] = &["NET_BIND_SERVICE"];
const DANGEROUS: &[&str] = &[
    "SYS_ADMIN",
    "NET_ADMIN",
    "ALL",
    "SYS_MODULE",
    "SYS_PTRACE",
    "BPF",
];

pub fn capabilities(scene: &Scene<'_>) -> Vec<Verdict> {
    each_workload(scene, true, |workload| {
        let mut found = Vec::new();
        for container in workload.containers() {
            let added = container.added_capabilities();
            let dropped = container.dropped_capabilities();
            let path = Some(container.context_path("capabilities"));
            if !dropped.iter().any(|cap| cap == "ALL") {
                found.push(evidence(
                    container.subject(),
                    path.clone(),
                    format!("drops [{}]", dropped.join(", ")),
                    "drop: [ALL]",
                ));
            }
            let extra: Vec<&String> = added
                .iter()
                .filter(|cap| !ALLOWED_ADDED.contains(&cap.as_str()))
                .collect();
            if !extra.is_empty() {
                let dangerous = extra.iter().any(|cap| DANGEROUS.contains(&cap.as_str()));
                found.push(evidence(
                    container.subject(),
                    path,
                    format!(
                        "adds [{}]{}",
                        extra
                            .iter()
                            .map(|cap| cap.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                        if dangerous { " (dangerous)" } else { "" }
                    ),
                    "adds nothing beyond NET_BIND_SERVICE",
                ));
            }
        }
        Verdict::from_evidence(Target::of(workload.object), found)
    })
}

pub fn windows_host_process(scene: &Scene<'_>) -> Vec<Verdict> {
    each_workload(scene, false, |workload| {
        let mut found = Vec::new();
        if field(
            workload.spec,
            &["securityContext", "windowsOptions", "hostProcess"],
        )
        .and_then(Json::as_bool)
            == Some(true)
        {
            found.push(evidence(
                "pod",
                Some(workload.path("securityContext.windowsOptions.hostProcess")),
                "true",
                "false or unset",
            ));
        }
        for container in workload.containers() {
            if field(
                container.body,
                &["securityContext", "windowsOptions", "hostProcess"],
            )
            .and_then(Json::as_bool)
                == Some(true)
            {
                found.push(evidence(
                    container.subject(),
                    Some(container.context_path("windowsOptions.hostProcess")),
                    "true",
                    "false or unset",
                ));
            }
        }
        Verdict::from_evidence(Target::of(workload.object), found)
    })
}

/// The host paths a pod declares: (volume index, volume name, path).
fn host_path_volumes<'a>(workload: &Workload<'a>) -> Vec<(usize, &'a str, &'a str)> {
    array(workload.spec, &["volumes"])
        .iter()
        .enumerate()
        .filter_map(|(index, volume)| {
            let path = text(volume, &["hostPath", "path"])?;
            Some((index, text(volume, &["name"]).unwrap_or(""), path))
        })
        .collect()
}

/// The containers that mount a volume, with whether each mount is writable.
fn mounts_of<'a>(workload: &Workload<'a>, volume: &str) -> Vec<(String, bool)> {
    workload
        .containers()
        .flat_map(|container| {
            array(container.body, &["volumeMounts"])
                .iter()
                .filter(|mount| text(mount, &["name"]) == Some(volume))
                .map(|mount| {
                    let read_only =
                        field(mount, &["readOnly"]).and_then(Json::as_bool) == Some(true);
                    (container.subject(), !read_only)
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Paths whose mounting gives a container power over the node.
const SENSITIVE: &[&str] = &[
    "/",
    "/etc",
    "/proc",
    "/sys",
    "/dev",
    "/boot",
    "/root",
    "/var/lib/kubelet",
    "/var/lib/docker",
    "/var/lib/containerd",
    "/run",
    "/var/run",
    "/var/log",
];

pub fn host_path(scene: &Scene<'_>) -> Vec<Verdict> {
    each_pod(scene, false, |workload| {
        let found = host_path_volumes(workload)
            .into_iter()
            .map(|(index, name, path)| {
                let mounts = mounts_of(workload, name);
                let writable = mounts.iter().any(|(_, writable)| *writable);
                let normal = crate::policy::sockets::normalise(path);
                let sensitive = SENSITIVE
                    .iter()
                    .any(|s| crate::policy::sockets::normalise(s) == normal)
                    || reached_socket(path).is_some();
                let mut observed = format!("hostPath {path}");
                if writable {
                    observed.push_str(", mounted writable");
                }
                if sensitive {
                    observed.push_str(" (sensitive host path)");
                }
                evidence(
                    format!("volume {name}"),
                    Some(workload.path(&format!("volumes[{index}].hostPath.path"))),
                    observed,
                    "no hostPath volumes",
                )
            })
            .collect();
        Verdict::from_evidence(Target::of(workload.object), found)
    })
}

pub fn runtime_socket(scene: &Scene<'_>) -> Vec<Verdict> {
    each_workload(scene, false, |workload| {
        let mut mounted = Vec::new();
        let mut declared = Vec::new();
        for (index, name, path) in host_path_volumes(workload) {
            let Some(socket) = reached_socket(path) else {
                continue;
            };
            let mounts = mounts_of(workload, name);
            let item = |who: String| {
                evidence(
                    who,
                    Some(workload.path(&format!("volumes[{index}].hostPath.path"))),
                    format!("hostPath {path} reaches {socket}"),
                    "no host path that is or contains a container runtime socket",
                )
            };
            if mounts.is_empty() {
                // A pod judged for its ephemeral containers leaves the template's volumes to its owner.
                if workload.judges_pod() {
                    declared.push(item(format!("volume {name} (declared, not mounted)")));
                }
            } else {
                mounted.extend(
                    mounts
                        .into_iter()
                        .map(|(who, _)| item(format!("{who}, volume {name}"))),
                );
            }
        }
        let target = Target::of(workload.object);
        if !mounted.is_empty() {
            Verdict::from_evidence(target, mounted)
        } else if !declared.is_empty() {
            Verdict {
                target,
                outcome: Outcome::Advisory,
                evidence: declared,
                detail: None,
            }
        } else {
            Verdict::pass(target)
        }
    })
}

pub fn secrets_in_env(scene: &Scene<'_>) -> Vec<Verdict> {
    each_workload(scene, false, |workload| {
        let mut found = Vec::new();
        for container in workload.containers() {
            for (index, variable) in array(container.body, &["env"]).iter().enumerate() {
                if field(variable, &["valueFrom", "secretKeyRef"]).is_some() {
                    found.push(evidence(
                        container.subject(),
                        Some(format!(
                            "{}.env[{index}].valueFrom.secretKeyRef",
                            container.path()
                        )),
                        format!(
                            "env {} from a Secret",
                            text(variable, &["name"]).unwrap_or("")
                        ),
                        "Secrets mounted as files",
                    ));
                }
            }
            for (index, source) in array(container.body, &["envFrom"]).iter().enumerate() {
                if field(source, &["secretRef"]).is_some() {
                    found.push(evidence(
                        container.subject(),
                        Some(format!("{}.envFrom[{index}].secretRef", container.path())),
                        format!(
                            "every key of Secret {} as env",
                            text(source, &["secretRef", "name"]).unwrap_or("")
                        ),
                        "Secrets mounted as files",
                    ));
                }
            }
        }
        Verdict::from_evidence(Target::of(workload.object), found)
    })
}

pub fn seccomp(scene: &Scene<'_>) -> Vec<Verdict> {
    each_workload(scene, true, |workload| {
        let mut found = Vec::new();
        let mut unset = Vec::new();
        for container in workload.containers() {
            match container.inherited("seccompProfile", workload.spec_path) {
                Some((profile, path)) => match text(profile, &["type"]) {
                    Some("RuntimeDefault" | "Localhost") => {}
                    other => found.push(evidence(
                        container.subject(),
                        Some(format!("{path}.type")),
                        other.unwrap_or("(no type)"),
                        "RuntimeDefault or Localhost",
                    )),
                },
                None => unset.push(container.name.to_owned()),
            }
        }
        let target = Target::of(workload.object);
        if !found.is_empty() {
            Verdict::from_evidence(target, found)
        } else if !unset.is_empty() {
            Verdict::unknown(
                target,
                format!(
                    "no seccomp profile for {}: the kubelets' seccompDefault (CIS 4.2.14) decides, a node fact",
                    unset.join(", ")
                ),
            )
        } else {
            Verdict::pass(target)
        }
    })
}

pub fn readonly_root_filesystem(scene: &Scene<'_>) -> Vec<Verdict> {
    each_container(scene, true, |_, container| {
        let observed = match container
            .own("readOnlyRootFilesystem")
            .and_then(Json::as_bool)
        {
            Some(true) => return None,
            Some(false) => "false",
            None => "unset (writable)",
        };
        Some(evidence(
            container.subject(),
            Some(container.context_path("readOnlyRootFilesystem")),
            observed,
            "true",
        ))
    })
}

pub fn image_pinning(scene: &Scene<'_>) -> Vec<Verdict> {
    each_workload(scene, false, |workload| {
        let found: Vec<_> = workload
            .containers()
            .filter_map(|container| {
                let image = container.image().unwrap_or("");
                if image.contains('@') {
                    return None;
                }
                // The tag follows the last `:` after the last `/` (a registry port is not a tag).
                let last = image.rsplit('/').next().unwrap_or(image);
                let tag = last.split_once(':').map(|(_, tag)| tag);
                match tag {
                    Some(tag) if tag != "latest" => None,
                    _ => Some(evidence(
                        container.subject(),
                        Some(format!("{}.image", container.path())),
                        if image.is_empty() {
                            "(no image)".to_owned()
                        } else {
                            image.to_owned()
                        },
                        "a version tag or a digest, not latest",
                    )),
                }
            })
            .collect();
        let target = Target::of(workload.object);
        if found.is_empty() {
            Verdict::pass(target)
        } else {
            Verdict {
                target,
                outcome: Outcome::Advisory,
                evidence: found,
                detail: None,
            }
        }
    })
}

pub fn resource_limits(scene: &Scene<'_>) -> Vec<Verdict> {
    each_pod(scene, false, |workload| {
        let namespace = workload.object.namespace();
        let defaults: Vec<&Json> = scene
            .inventory
            .in_namespace("LimitRange", namespace)
            .filter(|_| namespace.is_some())
            .flat_map(|range| array(&range.body, &["spec", "limits"]).iter())
            .filter(|limit| text(limit, &["type"]) == Some("Container"))
            .collect();
        let by_default = |kind: &str, resource: &str| {
            defaults
                .iter()
                .any(|limit| field(limit, &[kind, resource]).is_some())
        };
        let mut found = Vec::new();
        for container in workload
            .containers()
            .filter(|c| c.kind != ContainerKind::Ephemeral)
        {
            let wanted = [
                ("limits", "memory", "default"),
                ("requests", "cpu", "defaultRequest"),
                ("requests", "memory", "defaultRequest"),
            ];
            for (group, resource, default_key) in wanted {
                let own = field(container.body, &["resources", group, resource]).is_some();
                if !own && !by_default(default_key, resource) {
                    found.push(evidence(
                        container.subject(),
                        Some(format!("{}.resources.{group}.{resource}", container.path())),
                        "unset, and no LimitRange default",
                        format!("{group}.{resource} set"),
                    ));
                }
            }
        }
        let target = Target::of(workload.object);
        let namespace_unseen = !scene.inventory.knows_all("LimitRange") && defaults.is_empty();
        if !found.is_empty() && namespace_unseen {
            Verdict {
                outcome: Outcome::Unknown,
                detail: Some("a LimitRange outside the manifest set may fill these in".into()),
                target,
                evidence: found,
            }
        } else {
            Verdict::from_evidence(target, found)
        }
    })
}

pub fn linux_hardening(scene: &Scene<'_>) -> Vec<Verdict> {
    each_container(scene, true, |workload, container| {
        let profile_applies = |key: &str| {
            container
                .inherited(key, workload.spec_path)
                .and_then(|(profile, _)| text(profile, &["type"]))
                .is_some_and(|kind| kind != "Unconfined")
        };
        // Before Kubernetes 1.30 AppArmor was an annotation of the pod, per container.
        let apparmor_annotation = workload
            .pod_annotations
            .get(&format!(
                "container.apparmor.security.beta.kubernetes.io/{}",
                container.name
            ))
            .and_then(Json::as_str)
            .is_some_and(|value| value != "unconfined");
        let selinux = container
            .inherited("seLinuxOptions", workload.spec_path)
            .is_some();
        let dropped = container
            .dropped_capabilities()
            .iter()
            .any(|cap| cap == "ALL");
        let hardened = profile_applies("seccompProfile")
            || profile_applies("appArmorProfile")
            || apparmor_annotation
            || selinux
            || dropped;
        (!hardened).then(|| {
            evidence(
                container.subject(),
                Some(container.context_path("seccompProfile")),
                "no seccomp, AppArmor or SELinux profile and no dropped capabilities",
                "at least one of them",
            )
        })
    })
}

pub fn host_ports(scene: &Scene<'_>) -> Vec<Verdict> {
    each_workload(scene, false, |workload| {
        let host_network = workload.pod_flag("hostNetwork") == Some(true);
        let mut found = Vec::new();
        for container in workload.containers() {
            for (index, host, container_port) in container.host_ports() {
                // The API fills hostPort in from containerPort on hostNetwork pods: 5.2.5 already says it.
                if host_network && Some(host) == container_port {
                    continue;
                }
                found.push(evidence(
                    container.subject(),
                    Some(format!("{}.ports[{index}].hostPort", container.path())),
                    host.to_string(),
                    "unset or 0",
                ));
            }
        }
        Verdict::from_evidence(Target::of(workload.object), found)
    })
}

pub fn rolling_update(scene: &Scene<'_>) -> Vec<Verdict> {
    scene
        .workloads
        .iter()
        .filter(|workload| {
            matches!(
                workload.object.kind.as_str(),
                "Deployment" | "StatefulSet" | "DaemonSet"
            )
        })
        .map(|workload| {
            let object = workload.object;
            let (strategy_path, bad) = match object.kind.as_str() {
                "Deployment" => ("spec.strategy", "Recreate"),
                _ => ("spec.updateStrategy", "OnDelete"),
            };
            let strategy_key = if object.kind == "Deployment" {
                "strategy"
            } else {
                "updateStrategy"
            };
            let kind = text(&object.body, &["spec", strategy_key, "type"]);
            let target = Target::of(object);
            if kind == Some(bad) {
                return Verdict::from_evidence(
                    target,
                    vec![evidence(
                        "update strategy",
                        Some(format!("{strategy_path}.type")),
                        bad,
                        "RollingUpdate (the default)",
                    )],
                );
            }
            let unavailable = field(
                &object.body,
                &["spec", strategy_key, "rollingUpdate", "maxUnavailable"],
            );
            let replicas = integer(&object.body, &["spec", "replicas"]);
            let everything = match unavailable {
                Some(Json::Text(percent)) => percent.trim() == "100%",
                Some(number) if number.is_number() => {
                    replicas.is_some_and(|replicas| number.as_i64() == Some(replicas))
                }
                _ => false,
            };
            if everything {
                Verdict {
                    target,
                    outcome: Outcome::Advisory,
                    evidence: vec![evidence(
                        "update strategy",
                        Some(format!("{strategy_path}.rollingUpdate.maxUnavailable")),
                        unavailable.map(Json::to_string).unwrap_or_default(),
                        "less than every replica at once",
                    )],
                    detail: None,
                }
            } else {
                Verdict::pass(target)
            }
        })
        .collect()
}
