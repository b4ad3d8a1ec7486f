//! Platform-owned objects: the lists, per distribution and versioned, of objects a cluster runs for itself.
//!
//! An object on the list is still evaluated; its result carries the list's name, version and reason, and it
//! does not decide the check's status. The lists are data (`catalog/platform/*.yaml`), never code.

use serde::Deserialize;

use super::selectors::glob_matches;
use crate::cluster_report::PlatformMark;
use crate::text::Text;

const BUILTIN: &[(&str, &str)] = &[
    (
        "kubernetes",
        include_str!("../../catalog/platform/kubernetes.yaml"),
    ),
    (
        "kubeadm",
        include_str!("../../catalog/platform/kubeadm.yaml"),
    ),
    ("eks", include_str!("../../catalog/platform/eks.yaml")),
    ("k3s", include_str!("../../catalog/platform/k3s.yaml")),
    ("rke2", include_str!("../../catalog/platform/rke2.yaml")),
    ("aks", include_str!("../../catalog/platform/aks.yaml")),
    ("gke", include_str!("../../catalog/platform/gke.yaml")),
    (
        "openshift",
        include_str!("../../catalog/platform/openshift.yaml"),
    ),
];

/// A loaded list, with the entries of the lists it includes.
#[derive(Debug, Clone, PartialEq)]
pub struct PlatformList {
    pub name: String,
    pub version: String,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    kind: String,
    #[serde(default)]
    namespace: Option<String>,
    name: String,
    reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawList {
    list: String,
    version: String,
    #[serde(default)]
    includes: Vec<String>,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("platform list {list}: {message}")]
pub struct PlatformError {
    pub list: String,
    pub message: String,
}

impl PlatformList {
    pub fn builtin_names() -> impl Iterator<Item = &'static str> {
        BUILTIN.iter().map(|(name, _)| *name)
    }

    /// The list of a distribution, with what it includes.
    pub fn builtin(name: &str) -> Result<PlatformList, PlatformError> {
        let error = |message: String| PlatformError {
            list: name.to_owned(),
            message,
        };
        let (_, text) = BUILTIN
            .iter()
            .find(|(builtin, _)| *builtin == name)
            .ok_or_else(|| {
                error(format!(
                    "no such list; known: {}",
                    PlatformList::builtin_names().collect::<Vec<_>>().join(", ")
                ))
            })?;
        let raw: RawList = serde_yaml_ng::from_str(text).map_err(|err| error(err.to_string()))?;
        if raw.list != name {
            return Err(error(format!("the file names itself {}", raw.list)));
        }
        let mut entries = Vec::new();
        for included in &raw.includes {
            if included == name {
                return Err(error("includes itself".to_owned()));
            }
            entries.extend(PlatformList::builtin(included)?.entries);
        }
        for entry in &raw.entries {
            if entry.kind.is_empty() || entry.name.is_empty() || entry.reason.trim().is_empty() {
                return Err(error(format!(
                    "an entry for {} {} needs a kind, a name and a reason",
                    entry.kind, entry.name
                )));
            }
        }
        entries.extend(raw.entries);
        Ok(PlatformList {
            name: raw.list,
            version: raw.version,
            entries,
        })
    }

    /// An empty list, for an auditor who wants every object judged like any other.
    pub fn none() -> PlatformList {
        PlatformList {
            name: "none".to_owned(),
            version: "0".to_owned(),
            entries: Vec::new(),
        }
    }

    /// The mark of an object named on the list.
    pub fn mark(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<PlatformMark> {
        self.entries
            .iter()
            .find(|entry| {
                glob_matches(&entry.kind, kind)
                    && match (&entry.namespace, namespace) {
                        (None, _) => true,
                        (Some(wanted), Some(namespace)) => glob_matches(wanted, namespace),
                        (Some(_), None) => false,
                    }
                    && glob_matches(&entry.name, name)
            })
            .map(|entry| PlatformMark {
                list: Text::from(&self.name),
                version: Text::from(&self.version),
                reason: Text::from(&entry.reason),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_list_loads() {
        for name in PlatformList::builtin_names() {
            let list = PlatformList::builtin(name).unwrap();
            assert!(!list.entries.is_empty(), "{name}");
        }
    }

    #[test]
    fn kubewards_own_agent_is_on_the_list_visibly_and_nothing_matches_by_prefix() {
        let list = PlatformList::builtin("kubeadm").unwrap();
        let mark = list
            .mark("DaemonSet", Some("kubeward"), "kubeward-agent")
            .unwrap();
        assert!(mark.reason.contains("kubeward"));
        assert!(
            list.mark("DaemonSet", Some("kubeward"), "kubeward-agent2")
                .is_none()
        );
        assert!(
            list.mark("Deployment", Some("kube-system"), "coredns-evil")
                .is_none()
        );
        assert!(
            list.mark("ClusterRoleBinding", None, "kubeadm:cluster-admins")
                .is_some()
        );
        assert!(
            PlatformList::builtin("kubernetes")
                .unwrap()
                .mark("ClusterRoleBinding", None, "kubeadm:cluster-admins")
                .is_none()
        );
    }

    #[test]
    fn a_platform_namespace_can_be_owned_whole_but_only_by_an_explicit_wildcard() {
        let openshift = PlatformList::builtin("openshift").unwrap();
        assert!(
            openshift
                .mark("Deployment", Some("openshift-dns"), "dns-default")
                .is_some()
        );
        assert!(
            openshift
                .mark("Deployment", Some("shop"), "openshift-lookalike")
                .is_none()
        );
        assert!(openshift.mark("Deployment", None, "dns-default").is_none());
    }
}
