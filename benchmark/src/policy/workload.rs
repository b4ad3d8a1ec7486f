//! Workloads: where an object's pod spec is, which containers it runs, and the security context that applies
//! to each container once the pod's own is inherited.
//!
//! The unit of a finding is the top-level owner: a live Pod made by a ReplicaSet made by a Deployment is the
//! Deployment's finding, judged from the Deployment's template. A live Pod is judged on its own only when no
//! known controller owns it (a bare pod, or one made by an operator the inventory does not hold).

use super::json::Json;
use super::objects::{Inventory, Object, array, field, flag, integer, text};

/// The kinds that carry a pod spec, and where.
const POD_SPEC_PATHS: &[(&str, &[&str])] = &[
    ("Pod", &["spec"]),
    ("Deployment", &["spec", "template", "spec"]),
    ("ReplicaSet", &["spec", "template", "spec"]),
    ("StatefulSet", &["spec", "template", "spec"]),
    ("DaemonSet", &["spec", "template", "spec"]),
    ("Job", &["spec", "template", "spec"]),
    ("ReplicationController", &["spec", "template", "spec"]),
    ("DeploymentConfig", &["spec", "template", "spec"]),
    ("Rollout", &["spec", "template", "spec"]),
    (
        "CronJob",
        &["spec", "jobTemplate", "spec", "template", "spec"],
    ),
    ("PodTemplate", &["template", "spec"]),
];

/// Where a kind keeps its pod spec, for the kinds that carry one.
pub fn pod_spec_path(kind: &str) -> Option<&'static [&'static str]> {
    POD_SPEC_PATHS
        .iter()
        .find(|(known, _)| *known == kind)
        .map(|(_, path)| *path)
}

/// A workload with a pod spec, named by its top-level owner.
#[derive(Debug, Clone, Copy)]
pub struct Workload<'a> {
    pub object: &'a Object,
    pub spec: &'a Json,
    /// The path of the pod spec inside the object, as evidence paths are written (`spec.template.spec`).
    pub spec_path: &'static str,
    /// The labels pods get (the template's), for selectors.
    pub pod_labels: &'a Json,
    /// The annotations pods get (the template's).
    pub pod_annotations: &'a Json,
    /// For a live pod of a known controller: its top-level owner's pod template. The pod is then judged only
    /// for what differs from it, reported apart from the owner's finding: containers the template does not
    /// have (injected by a mutating webhook when the pod was admitted) and ephemeral containers
    /// (`kubectl debug`), which no template can show. Everything else is the owner's finding.
    pub drift_from: Option<&'a Json>,
}

/// The path of the pod template's metadata for each kind, for the pods' labels.
fn template_metadata(kind: &str) -> &'static [&'static str] {
    match kind {
        "Pod" => &["metadata"],
        "CronJob" => &["spec", "jobTemplate", "spec", "template", "metadata"],
        "PodTemplate" => &["template", "metadata"],
        _ => &["spec", "template", "metadata"],
    }
}

static EMPTY: Json = Json::Null;

impl<'a> Workload<'a> {
    pub fn of(object: &'a Object) -> Option<Workload<'a>> {
        let (_, path) = POD_SPEC_PATHS
            .iter()
            .find(|(kind, _)| object.kind == *kind)?;
        let spec = field(&object.body, path)?;
        if !spec.is_object() {
            return None;
        }
        let spec_path = match object.kind.as_str() {
            "Pod" => "spec",
            "CronJob" => "spec.jobTemplate.spec.template.spec",
            "PodTemplate" => "template.spec",
            _ => "spec.template.spec",
        };
        let pod_metadata = field(&object.body, template_metadata(&object.kind));
        let pod_labels = pod_metadata
            .and_then(|metadata| metadata.get("labels"))
            .unwrap_or(&EMPTY);
        let pod_annotations = pod_metadata
            .and_then(|metadata| metadata.get("annotations"))
            .unwrap_or(&EMPTY);
        Some(Workload {
            object,
            spec,
            spec_path,
            pod_labels,
            pod_annotations,
            drift_from: None,
        })
    }

    /// Whether the pod-wide settings (host namespaces, volumes, the service account) are this workload's to
    /// judge; a pod judged for what differs from its template leaves them to its owner.
    pub fn judges_pod(&self) -> bool {
        self.drift_from.is_none()
    }

    /// Whether the pod runs Windows containers, outside the Linux-only rules as PSS restricted has it.
    pub fn is_windows(&self) -> bool {
        text(self.spec, &["os", "name"]) == Some("windows")
    }

    /// The containers this workload answers for: all of them, or for a pod judged by its drift only those
    /// its owner's template does not have.
    pub fn containers(&self) -> impl Iterator<Item = Container<'a>> + 'a {
        let spec = self.spec;
        let spec_path = self.spec_path;
        let drift_from = self.drift_from;
        ContainerKind::ALL.into_iter().flat_map(move |kind| {
            array(spec, &[kind.field()])
                .iter()
                .enumerate()
                .filter(|(_, body)| body.is_object())
                .map(move |(index, body)| Container {
                    kind,
                    name: text(body, &["name"]).unwrap_or("(unnamed)"),
                    body,
                    pod_spec: spec,
                    spec_path,
                    index,
                    injected: drift_from.is_some() && kind != ContainerKind::Ephemeral,
                })
                .filter(move |container| {
                    drift_from.is_none_or(|template| !template_has(template, container))
                })
        })
    }

    pub fn pod_flag(&self, key: &str) -> Option<bool> {
        flag(self.spec, &[key])
    }

    pub fn path(&self, rest: &str) -> String {
        format!("{}.{rest}", self.spec_path)
    }

    /// The ServiceAccount the pods run as: an omitted name is `default`; the old `serviceAccount` field counts.
    pub fn service_account(&self) -> &'a str {
        text(self.spec, &["serviceAccountName"])
            .or_else(|| text(self.spec, &["serviceAccount"]))
            .filter(|name| !name.is_empty())
            .unwrap_or("default")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerKind {
    Regular,
    Init,
    Ephemeral,
}

impl ContainerKind {
    pub const ALL: [ContainerKind; 3] = [
        ContainerKind::Regular,
        ContainerKind::Init,
        ContainerKind::Ephemeral,
    ];

    fn field(self) -> &'static str {
        match self {
            ContainerKind::Regular => "containers",
            ContainerKind::Init => "initContainers",
            ContainerKind::Ephemeral => "ephemeralContainers",
        }
    }
}

/// Whether a pod template has this container (of the same kind, by name). A template never has ephemeral
/// containers.
fn template_has(template: &Json, container: &Container<'_>) -> bool {
    array(template, &[container.kind.field()])
        .iter()
        .any(|own| text(own, &["name"]) == Some(container.name))
}

#[derive(Debug, Clone)]
pub struct Container<'a> {
    pub kind: ContainerKind,
    pub name: &'a str,
    pub body: &'a Json,
    pub pod_spec: &'a Json,
    spec_path: &'static str,
    index: usize,
    /// A container of a live pod that its owner's template does not have.
    injected: bool,
}

impl<'a> Container<'a> {
    /// How evidence names the container.
    pub fn subject(&self) -> String {
        if self.injected {
            let kind = match self.kind {
                ContainerKind::Init => "init, ",
                _ => "",
            };
            return format!(
                "container {} ({kind}not in its owner's template: injected at admission)",
                self.name
            );
        }
        match self.kind {
            ContainerKind::Regular => format!("container {}", self.name),
            ContainerKind::Init => format!("container {} (init)", self.name),
            ContainerKind::Ephemeral => format!("container {} (ephemeral)", self.name),
        }
    }

    /// Where the container is in its object (`spec.template.spec.initContainers[0]`); written only when
    /// evidence needs it, since most containers pass.
    pub fn path(&self) -> String {
        format!("{}.{}[{}]", self.spec_path, self.kind.field(), self.index)
    }

    /// The path of a field of the container's security context.
    pub fn context_path(&self, key: &str) -> String {
        format!("{}.securityContext.{key}", self.path())
    }

    /// A field only the container sets (`privileged`, `readOnlyRootFilesystem`, …).
    pub fn own(&self, key: &str) -> Option<&'a Json> {
        field(self.body, &["securityContext", key])
    }

    /// A field the container inherits from the pod: the container's value wins. Returns the value and the
    /// path it was read at.
    pub fn inherited(&self, key: &str, pod_path: &str) -> Option<(&'a Json, String)> {
        if let Some(value) = field(self.body, &["securityContext", key]).filter(|v| !v.is_null()) {
            return Some((value, self.context_path(key)));
        }
        field(self.pod_spec, &["securityContext", key])
            .filter(|v| !v.is_null())
            .map(|value| (value, format!("{pod_path}.securityContext.{key}")))
    }

    pub fn is_privileged(&self) -> bool {
        self.own("privileged").and_then(Json::as_bool) == Some(true)
    }

    /// Added capabilities, normalised: upper case, without the `CAP_` prefix.
    pub fn added_capabilities(&self) -> Vec<String> {
        self.capabilities("add")
    }

    pub fn dropped_capabilities(&self) -> Vec<String> {
        self.capabilities("drop")
    }

    fn capabilities(&self, which: &str) -> Vec<String> {
        array(self.body, &["securityContext", "capabilities", which])
            .iter()
            .filter_map(Json::as_str)
            .map(normalise_capability)
            .collect()
    }

    /// Whether privilege escalation is possible: unset means allowed, and privileged or SYS_ADMIN allow it.
    pub fn may_escalate(&self) -> bool {
        self.own("allowPrivilegeEscalation").and_then(Json::as_bool) != Some(false)
            || self.is_privileged()
            || self
                .added_capabilities()
                .iter()
                .any(|cap| cap == "SYS_ADMIN" || cap == "ALL")
    }

    pub fn host_ports(&self) -> Vec<(usize, i64, Option<i64>)> {
        array(self.body, &["ports"])
            .iter()
            .enumerate()
            .filter_map(|(index, port)| {
                let host = integer(port, &["hostPort"]).filter(|host| *host != 0)?;
                Some((index, host, integer(port, &["containerPort"])))
            })
            .collect()
    }

    pub fn image(&self) -> Option<&'a str> {
        text(self.body, &["image"])
    }
}

/// `cap_net_raw`, `CAP_NET_RAW` and `NET_RAW` are the same capability.
pub fn normalise_capability(name: &str) -> String {
    let upper = name.trim().to_ascii_uppercase();
    upper
        .strip_prefix("CAP_")
        .map_or(upper.clone(), str::to_owned)
}

/// The workloads of an inventory, each once, by top-level owner.
///
/// A Pod or Job whose controller is a kind that carries its own template (ReplicaSet, Job, …) and is in the
/// inventory is judged through that owner; one whose owner is missing is judged itself, since nothing else
/// would show it. A live pod of a known owner that runs ephemeral containers is also judged for those alone:
/// no template shows them.
pub fn top_level_workloads(inventory: &Inventory) -> Vec<Workload<'_>> {
    inventory
        .objects()
        .iter()
        .filter_map(|object| {
            if !owned_by_known_controller(inventory, object) {
                return Workload::of(object);
            }
            if object.kind != "Pod" {
                return None;
            }
            // A live pod of a known controller: judged apart only for what differs from its template. An
            // owner whose template cannot be read leaves every container of the pod to the pod.
            let template = top_level_owner(inventory, object)
                .and_then(Workload::of)
                .map_or(Json::null(), |owner| owner.spec);
            let workload = Workload {
                drift_from: Some(template),
                ..Workload::of(object)?
            };
            workload.containers().next().is_some().then_some(workload)
        })
        .collect()
}

/// Most controller links followed up from a pod (Pod → ReplicaSet → Deployment is two; a cycle stops here).
const OWNER_DEPTH: usize = 4;

/// The controller at the top of an object's chain of known controllers.
fn top_level_owner<'a>(inventory: &'a Inventory, object: &'a Object) -> Option<&'a Object> {
    let mut current = object;
    let mut owner = None;
    for _ in 0..OWNER_DEPTH {
        match controller_of(inventory, current) {
            Some(next) => {
                owner = Some(next);
                current = next;
            }
            None => break,
        }
    }
    owner
}

/// The known controller that owns an object, if the inventory holds it.
fn controller_of<'a>(inventory: &'a Inventory, object: &Object) -> Option<&'a Object> {
    let owner = array(&object.body, &["metadata", "ownerReferences"])
        .iter()
        .find(|reference| flag(reference, &["controller"]) == Some(true))?;
    let (kind, name) = (text(owner, &["kind"])?, text(owner, &["name"])?);
    if !POD_SPEC_PATHS.iter().any(|(known, _)| *known == kind) {
        return None;
    }
    inventory.find(kind, object.namespace(), name)
}

/// Whether a controller the inventory holds answers for this object (a Deployment for its ReplicaSets, a
/// ReplicaSet for its pods).
pub fn owned_by_known_controller(inventory: &Inventory, object: &Object) -> bool {
    controller_of(inventory, object).is_some()
}
