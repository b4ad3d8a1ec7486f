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

/// A distribution's own process that runs or starts the components: `k3s server`, `rke2 agent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Supervisor {
    pub kind: SupervisorKind,
    pub pid: u32,
    /// `server` or `agent`.
    pub mode: String,
    /// The arguments after the subcommand.
    pub args: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SupervisorKind {
    K3s,
    Rke2,
}

impl SupervisorKind {
    pub fn name(self) -> &'static str {
        match self {
            SupervisorKind::K3s => "k3s",
            SupervisorKind::Rke2 => "rke2",
        }
    }
}

/// What runs on the host: the components with their own processes, and the distributions' supervisors.
#[derive(Debug, Default)]
pub struct Discovered {
    pub components: BTreeMap<Component, FoundProcess>,
    /// The lowest pid of each supervisor kind.
    pub supervisors: Vec<Supervisor>,
}

/// Recognises `k3s server`, `k3s agent`, `rke2 server` and `rke2 agent`. k3s renames its kernel thread name
/// to `k3s-server` or `k3s-agent` while its argv\[0\] stays the binary's path, so either one counts.
pub fn identify_supervisor(argv: &[String], comm: &str, pid: u32) -> Option<Supervisor> {
    let first = argv.first()?;
    // A rewritten process title can put the subcommand in argv[0] itself ("k3s server").
    let mut words: Vec<&str> = first.split_whitespace().collect();
    words.extend(argv.iter().skip(1).map(String::as_str));
    let base = words
        .first()
        .map(|word| word.rsplit('/').next().unwrap_or(word))?;
    let kind = match (base, comm) {
        ("k3s", _) | (_, "k3s-server" | "k3s-agent") => SupervisorKind::K3s,
        ("rke2", _) => SupervisorKind::Rke2,
        _ => return None,
    };
    let from_comm = comm
        .strip_prefix("k3s-")
        .filter(|_| kind == SupervisorKind::K3s);
    let subcommand = words
        .get(1)
        .copied()
        .filter(|word| matches!(*word, "server" | "agent"));
    let mode = subcommand
        .or(from_comm)
        .filter(|mode| matches!(*mode, "server" | "agent"))?;
    let skip = if subcommand.is_some() { 2 } else { 1 };
    Some(Supervisor {
        kind,
        pid,
        mode: mode.to_owned(),
        args: words
            .iter()
            .skip(skip)
            .map(|word| (*word).to_owned())
            .collect(),
    })
}

/// Lists the component processes under `proc_root`, the lowest pid of each component, and the
/// distributions' supervisors.
pub fn discover(proc_root: &Path) -> Result<Discovered, ProcRootError> {
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
    let mut supervisors: Vec<Supervisor> = Vec::new();
    for pid in pids {
        let dir = proc_root.join(pid.to_string());
        // Processes come and go during a scan, and kernel threads have no command line: skip both.
        let Some(argv) = read_cmdline(&dir) else {
            continue;
        };
        let comm = fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if let Some(supervisor) = identify_supervisor(&argv, comm.trim(), pid) {
            // k3s re-executes itself and RKE2 starts helpers: the lowest pid is the one started first.
            if !supervisors
                .iter()
                .any(|known| known.kind == supervisor.kind)
            {
                supervisors.push(supervisor);
            }
            continue;
        }
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
    Ok(Discovered {
        components: found,
        supervisors,
    })
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
        settings_error: None,
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

    #[test]
    fn k3s_and_rke2_are_recognised_by_binary_or_kernel_name() {
        let k3s = identify_supervisor(
            &argv(&["/usr/local/bin/k3s", "server", "--secrets-encryption"]),
            "k3s-server",
            7,
        )
        .unwrap();
        assert_eq!(
            (k3s.kind, k3s.mode.as_str()),
            (SupervisorKind::K3s, "server")
        );
        assert_eq!(k3s.args, ["--secrets-encryption"]);
        // The kernel name alone says which mode runs when the command line has no subcommand.
        let agent = identify_supervisor(&argv(&["/usr/local/bin/k3s"]), "k3s-agent", 8).unwrap();
        assert_eq!(agent.mode, "agent");
        let title =
            identify_supervisor(&argv(&["/usr/local/bin/k3s server"]), "k3s-server", 9).unwrap();
        assert_eq!(title.mode, "server");
        let rke2 = identify_supervisor(&argv(&["/usr/bin/rke2", "agent"]), "rke2", 10).unwrap();
        assert_eq!(
            (rke2.kind, rke2.mode.as_str()),
            (SupervisorKind::Rke2, "agent")
        );
        // Other subcommands (k3s kubectl, rke2 certificate) and look-alikes are not supervisors.
        assert_eq!(
            identify_supervisor(&argv(&["/usr/local/bin/k3s", "kubectl", "get"]), "k3s", 11),
            None
        );
        assert_eq!(
            identify_supervisor(&argv(&["/usr/bin/k3sup", "install"]), "k3sup", 12),
            None
        );
        assert_eq!(
            identify_supervisor(&argv(&["bash", "-c", "k3s server"]), "bash", 13),
            None
        );
    }
}
