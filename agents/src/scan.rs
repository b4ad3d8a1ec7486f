//! One scan: collect a node's facts, evaluate a catalog over them, and build the v1 report.

use std::path::PathBuf;

use kubeward_benchmark::report::{AgentInfo, Report, SCHEMA_V1};
use kubeward_benchmark::{Catalog, CatalogError, evaluate};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::collect;
use crate::host::{HostFs, IoCounters};
use crate::platform;
use crate::processes::ProcRootError;

/// The benchmark of the node's own distribution, chosen from what the node shows.
pub const DEFAULT_BENCHMARK: &str = "auto";

/// The catalog of upstream Kubernetes, used where a catalog is needed before any node is seen.
pub const GENERIC_BENCHMARK: &str = "cis-1.12";

#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub host_root: PathBuf,
    pub proc_root: PathBuf,
    /// From `--node-name` or `NODE_NAME`; else the host's `/etc/hostname`.
    pub node_name: Option<String>,
    pub benchmark: String,
}

/// Problems that stop a scan before it starts; the CLI exits with status 2 on them.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("the host root {0} does not exist or is not a directory")]
    HostRootMissing(PathBuf),
    #[error(transparent)]
    ProcRoot(#[from] ProcRootError),
    #[error("unknown benchmark: {0}")]
    Catalog(#[from] CatalogError),
    #[error(
        "cannot tell the node's name: pass --node-name, set NODE_NAME, or provide <host-root>/etc/hostname ({0})"
    )]
    NoNodeName(String),
    /// The report would not pass the server's validation (for example a node name with spaces).
    #[error("the report would be refused: {0}")]
    InvalidReport(#[from] kubeward_benchmark::ReportError),
}

/// A finished scan with what it read, for the CLI's outputs and for tests.
#[derive(Debug)]
pub struct Scan {
    pub report: Report,
    pub catalog: Catalog,
    pub io: IoCounters,
}

impl Scan {
    /// Whether the scan found no Kubernetes component at all: its verdicts judged nothing that runs.
    pub fn found_nothing(&self) -> bool {
        self.report
            .node
            .platform
            .as_ref()
            .is_some_and(|platform| platform.distribution == "unknown")
    }
}

pub fn scan(options: &ScanOptions) -> Result<Scan, SetupError> {
    let started_at = OffsetDateTime::now_utc();
    if !options.host_root.is_dir() {
        return Err(SetupError::HostRootMissing(options.host_root.clone()));
    }
    // An override is checked before the node is read: a typo must not cost a scan.
    if options.benchmark != DEFAULT_BENCHMARK {
        Catalog::builtin(&options.benchmark)?;
    }
    let host = HostFs::new(&options.host_root);
    let node_name = node_name(options, &host)?;
    let collected = collect::collect(&host, &options.proc_root)?;
    let facts = collected.facts;
    let choice = platform::choose(&collected.detection, &options.benchmark, collected.followed);
    let catalog = Catalog::builtin(&choice.catalog)?;
    let results = evaluate(&catalog, &facts);
    let report = Report {
        schema: SCHEMA_V1.to_owned(),
        scan_id: Uuid::now_v7(),
        agent: AgentInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
        },
        node: kubeward_benchmark::report::NodeInfo {
            name: node_name,
            roles: collect::roles(&facts),
            kubelet_version: None,
            container_runtime: crate::node_info::container_runtime(&facts),
            pod_security_defaults: crate::node_info::pod_security_defaults(&host, &facts),
            platform: Some(choice.platform),
        },
        benchmark: catalog.benchmark.clone(),
        started_at,
        finished_at: OffsetDateTime::now_utc(),
        results,
    };
    kubeward_benchmark::validate::validate_report(&report)?;
    Ok(Scan {
        report,
        catalog,
        io: host.counters(),
    })
}

fn node_name(options: &ScanOptions, host: &HostFs) -> Result<String, SetupError> {
    if let Some(name) = options
        .node_name
        .as_deref()
        .map(str::trim)
        .filter(|name| !name.is_empty())
    {
        return Ok(name.to_owned());
    }
    let bytes = host
        .read("/etc/hostname")
        .map_err(|err| SetupError::NoNodeName(format!("/etc/hostname: {err}")))?;
    let name = String::from_utf8_lossy(&bytes).trim().to_owned();
    if name.is_empty() || name.chars().any(char::is_whitespace) {
        return Err(SetupError::NoNodeName(
            "/etc/hostname holds no single name".to_owned(),
        ));
    }
    Ok(name)
}
