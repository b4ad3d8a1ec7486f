//! Finding the Kubernetes components among the host's processes, by their executable, and reading each
//! one's own command line and environment.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use kubeward_benchmark::facts::{Component, ProcessFacts};

use crate::argv::parse_flags;
use crate::redact::{redact_flags, redact_value};

/// The kernel truncates `comm` to 15 bytes: kube-controller-manager shows as `kube-controller`.
const COMM_LEN: usize = 15;

/// A component process as found under the proc root.
#[derive(Debug, Clone)]
pub struct FoundProcess {
    pub component: Component,
    pub pid: u32,
    pub argv: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot list the process directory {path}: {source}")]
pub struct ProcRootError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Lists the component processes under `proc_root`, the lowest pid of each component.
pub fn discover(proc_root: &Path) -> Result<BTreeMap<Component, FoundProcess>, ProcRootError> {
    let entries = fs::read_dir(proc_root).map_err(|source| ProcRootError {
        path: proc_root.to_owned(),
        source,
    })?;
    let mut pids: Vec<u32> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    let mut found = BTreeMap::new();
    for pid in pids {
        let dir = proc_root.join(pid.to_string());
        // Processes come and go during a scan, and kernel threads have no command line: skip both.
        let Some(argv) = read_cmdline(&dir) else {
            continue;
        };
        let comm = fs::read_to_string(dir.join("comm")).unwrap_or_default();
        let Some(component) = identify(&argv, comm.trim()) else {
            continue;
        };
        if let Some(first) = found.get(&component) {
            let first: &FoundProcess = first;
            tracing::warn!(
                component = %component,
                pid,
                kept = first.pid,
                "more than one {component} process; checking the one with the lowest pid"
            );
            continue;
        }
        found.insert(
            component,
            FoundProcess {
                component,
                pid,
                argv,
            },
        );
    }
    Ok(found)
}

fn read_cmdline(dir: &Path) -> Option<Vec<String>> {
    let raw = fs::read(dir.join("cmdline")).ok()?;
    let argv: Vec<String> = raw
        .split(|byte| *byte == 0)
        .map(|word| String::from_utf8_lossy(word).into_owned())
        .collect();
    // The command line ends with a NUL, which leaves one empty word behind.
    let argv: Vec<String> = match argv.split_last() {
        Some((last, rest)) if last.is_empty() => rest.to_vec(),
        _ => argv,
    };
    if argv.first().is_none_or(String::is_empty) {
        None
    } else {
        Some(argv)
    }
}

/// Identifies a component by its executable's name, never by words elsewhere on its command line.
pub fn identify(argv: &[String], comm: &str) -> Option<Component> {
    let executable = |word: &str| -> Option<Component> {
        let name = word.rsplit('/').next().unwrap_or(word);
        Component::ALL
            .into_iter()
            .find(|component| component.executable() == name)
    };
    let first = argv.first()?;
    let base = first.rsplit('/').next().unwrap_or(first);
    if base == "hyperkube" {
        return argv.get(1).and_then(|word| executable(word));
    }
    if let Some(component) = executable(first) {
        return Some(component);
    }
    // A process that rewrote its argv[0] still has its kernel name, truncated to 15 bytes.
    Component::ALL.into_iter().find(|component| {
        let name = component.executable();
        comm == &name[..name.len().min(COMM_LEN)] && first.contains(name)
    })
}

/// The facts of one process: its flags, and for etcd its `ETCD_*` environment, with secrets redacted.
pub fn process_facts(proc_root: &Path, process: &FoundProcess) -> ProcessFacts {
    let skip = if process
        .argv
        .first()
        .is_some_and(|word| word.ends_with("hyperkube"))
    {
        2
    } else {
        1
    };
    let mut flags = parse_flags(process.argv.get(skip..).unwrap_or_default());
    redact_flags(&mut flags);
    let env = if process.component == Component::Etcd {
        read_etcd_environment(&proc_root.join(process.pid.to_string()).join("environ"))
    } else {
        BTreeMap::new()
    };
    ProcessFacts {
        pid: process.pid,
        flags,
        env,
        config_layers: Vec::new(),
        embedded_in: None,
    }
}

fn read_etcd_environment(path: &Path) -> BTreeMap<String, String> {
    let raw = match fs::read(path) {
        Ok(raw) => raw,
        Err(err) => {
            tracing::warn!(path = %path.display(), error = %err, "cannot read etcd's environment; only its flags count");
            return BTreeMap::new();
        }
    };
    raw.split(|byte| *byte == 0)
        .filter_map(|entry| {
            let entry = String::from_utf8_lossy(entry);
            let (name, value) = entry.split_once('=')?;
            name.starts_with("ETCD_")
                .then(|| (name.to_owned(), redact_value(name, value.to_owned())))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|word| (*word).to_owned()).collect()
    }

    #[test]
    fn components_are_identified_by_executable_only() {
        assert_eq!(
            identify(
                &argv(&["/usr/local/bin/kube-apiserver", "--etcd-servers=x"]),
                "kube-apiserver"
            ),
            Some(Component::KubeApiserver)
        );
        // The API server's --etcd-* flags do not make it etcd, and etcdctl is not etcd.
        assert_eq!(identify(&argv(&["etcdctl", "get"]), "etcdctl"), None);
        assert_eq!(
            identify(&argv(&["bash", "-c", "kubelet --x"]), "bash"),
            None
        );
        assert_eq!(
            identify(&argv(&["kube-controller-manager"]), "kube-controller"),
            Some(Component::KubeControllerManager)
        );
        assert_eq!(
            identify(&argv(&["/hyperkube", "kubelet", "--x"]), "hyperkube"),
            Some(Component::Kubelet)
        );
        assert_eq!(
            identify(&argv(&["kubelet-wrapper"]), "kubelet-wrapper"),
            None
        );
    }
}
