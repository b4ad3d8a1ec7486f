//! kubeward-agent: reads a Kubernetes node directly (processes, files, the kubelet's configuration) and
//! evaluates a benchmark catalog over what it found; as the cluster agent, reads the Kubernetes API
//! ([`cluster`]) or manifest files ([`manifests`]) and evaluates the cluster checks.
//!
//! Never shells out and never depends on the server crate; the node scan never talks to the API server. Every
//! read of the host goes through [`host::HostFs`], which keeps paths inside the host root and reads each file
//! once.

pub mod accounts;
pub mod argv;
pub mod cli;
pub mod cluster;
pub mod collect;
pub mod configs;
pub mod delivery;
pub mod documents;
pub mod encryption;
pub mod etcd_config;
pub mod files;
pub mod host;
pub mod k3s;
pub mod keep;
pub mod manifests;
pub mod metrics;
pub mod node_info;
pub mod output;
pub mod page;
pub mod platform;
pub mod policy_scan;
pub mod processes;
pub mod redact;
pub mod run;
pub mod scan;
pub mod simulate;
pub mod spool;
