//! The command line: `kubeward-agent scan`, `run`, `manifests` and `cluster`. Exit codes: 0 done, 1 `--fail-on` met,
//! 2 usage or setup error, 75 `run --once` left reports in the spool.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use kubeward_benchmark::Status;
use kubeward_benchmark::policy::node_facts::NodeFact;
use kubeward_benchmark::values::parse_go_duration;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::cluster;
use crate::delivery::Deliverer;
use crate::manifests;
use crate::metrics::{self, Metrics};
use crate::output;
use crate::policy_scan::{self, PolicyScanOptions};
use crate::run::{ClusterJob, Job, RunEnd, RunOptions, Runner, Stopper};
use crate::scan::{DEFAULT_BENCHMARK, GENERIC_BENCHMARK, ScanOptions, scan};

#[derive(Debug, Parser)]
#[command(
    name = "kubeward-agent",
    version,
    about = "kubeward's node agent: evaluates the CIS Kubernetes Benchmark on this node"
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, env = "KUBEWARD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan this node once and print the results.
    Scan(ScanArgs),
    /// Scan on a schedule and deliver every report to the server, spooling what cannot be delivered yet.
    // Boxed: its many options would make every other command as large.
    Run(Box<RunArgs>),
    /// Push a generated fleet's backdated daily scans to the server (for demos and load tests).
    Simulate(SimulateArgs),
    /// Evaluate the cluster checks on manifest files before they are deployed (CI).
    Manifests(ManifestsArgs),
    /// Read a live cluster through its API once and evaluate the cluster checks.
    Cluster(ClusterArgs),
}

/// How to reach a cluster's API: shared by `cluster` and `run --cluster`.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectionArgs {
    /// A kubeconfig to use instead of the pod's service account (for a person running the agent).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (from --kubeconfig, or from KUBECONFIG and ~/.kube/config).
    #[arg(long)]
    pub context: Option<String>,
    /// Objects per LIST page.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=5000))]
    pub page_size: u32,
}

impl ConnectionArgs {
    fn connection(&self) -> cluster::Connection {
        cluster::Connection {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub target: PolicyTarget,
}

/// What the cluster checks evaluate against: shared by `manifests` and `cluster`.
#[derive(Debug, Clone, clap::Args)]
pub struct PolicyTarget {
    /// Evaluate one catalog only (`cis-1.12` or `kubeward-hardening`); both by default. With `--format json`,
    /// one catalog prints one report, both print a JSON array of two.
    #[arg(long, env = "KUBEWARD_POLICY_BENCHMARK")]
    pub benchmark: Option<String>,
    /// The distribution whose platform-owned list applies (kubernetes, kubeadm, eks, aks, gke, k3s, rke2,
    /// openshift), or `none` to
    /// judge every object alike. Manifests default to `kubernetes`; a live cluster to what its version says.
    #[arg(long, env = "KUBEWARD_DISTRIBUTION")]
    pub distribution: Option<String>,
    #[arg(long, value_enum, default_value_t = PolicyFormat::Table)]
    pub format: PolicyFormat,
    /// Exit with status 1 when a check is this bad: `fail` trips on fail and error, `warn` also on warn.
    #[arg(long, value_enum)]
    pub fail_on: Option<FailOn>,
}

impl PolicyTarget {
    /// The options for a scan, with the distribution guessed from the version when none is named.
    fn options(&self, kubernetes_version: Option<String>) -> PolicyScanOptions {
        let distribution = self
            .distribution
            .clone()
            .unwrap_or_else(|| cluster::distribution_of(kubernetes_version.as_deref()).to_owned());
        PolicyScanOptions {
            catalogs: self.benchmark.iter().cloned().collect(),
            distribution,
            kubernetes_version,
            nodes: None,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ManifestsArgs {
    /// Files, directories (read recursively for *.yaml, *.yml, *.json) or `-` for standard input.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// The namespace objects without one are applied to; without it, checks that need it are `manual`.
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// The kubeward server to fetch the cluster's context from (its namespaces, network policies, service
    /// accounts, roles and bindings), so the manifests are judged as that cluster will take them.
    #[arg(long, requires = "cluster", value_name = "URL")]
    pub context_from: Option<String>,
    /// The cluster (as enrolled in kubeward) the manifests are for; with --context-from.
    #[arg(long, requires = "context_from")]
    pub cluster: Option<String>,
    /// An API token with the auditor role, for --context-from.
    #[arg(long, env = "KUBEWARD_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,
    #[arg(long, env = "KUBEWARD_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// Allows plain HTTP to a server that is not on this machine (for tests).
    #[arg(long, env = "KUBEWARD_INSECURE_HTTP")]
    pub insecure_http: bool,
    #[command(flatten)]
    pub target: PolicyTarget,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PolicyFormat {
    Table,
    Json,
    Junit,
    Sarif,
}

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// The server's base URL.
    #[arg(long, env = "KUBEWARD_SERVER")]
    pub server: String,
    /// A file holding the cluster's agent token.
    #[arg(long, env = "KUBEWARD_TOKEN_FILE")]
    pub token_file: PathBuf,
    /// How many nodes to simulate.
    #[arg(long, default_value_t = 10)]
    pub nodes: usize,
    /// How many of them are control-plane nodes.
    #[arg(long, default_value_t = 1)]
    pub control_planes: usize,
    /// Days of daily scans, ending today.
    #[arg(long, default_value_t = 90)]
    pub days: u32,
    /// Node names start with this.
    #[arg(long, default_value = "sim")]
    pub name: String,
    /// Makes another fleet with the same shape.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Nodes delivered at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    #[arg(long, env = "KUBEWARD_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    #[arg(long, env = "KUBEWARD_INSECURE_HTTP")]
    pub insecure_http: bool,
}

/// What to scan: shared by `scan` and `run`.
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// Where the host's file system is mounted (`/host` in the DaemonSet).
    #[arg(long, env = "KUBEWARD_HOST_ROOT", default_value = "/")]
    pub host_root: PathBuf,
    /// The host's process directory (the pod runs with hostPID).
    #[arg(long, env = "KUBEWARD_PROC_ROOT", default_value = "/proc")]
    pub proc_root: PathBuf,
    /// The node's name; defaults to NODE_NAME, then <host-root>/etc/hostname.
    #[arg(long, env = "NODE_NAME")]
    pub node_name: Option<String>,
    /// The benchmark catalog to evaluate: `auto` picks the one of the node's distribution (eks-1.8.0,
    /// aks-1.8.0, gke-1.9.0, k3s-cis-1.12, rke2-cis-1.12, openshift-1.8.0, else cis-1.12) and says why in
    /// the report; a catalog name overrides the choice.
    #[arg(long, env = "KUBEWARD_BENCHMARK", default_value = DEFAULT_BENCHMARK)]
    pub benchmark: String,
}

impl Target {
    fn options(&self) -> ScanOptions {
        ScanOptions {
            host_root: self.host_root.clone(),
            proc_root: self.proc_root.clone(),
            node_name: self.node_name.clone(),
            benchmark: self.benchmark.clone(),
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    #[command(flatten)]
    pub target: Target,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Exit with status 1 when a result is this bad: `fail` trips on fail and error, `warn` also on warn.
    #[arg(long, value_enum)]
    pub fail_on: Option<FailOn>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Junit,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FailOn {
    Fail,
    Warn,
}

impl FailOn {
    fn trips_on(self, status: Status) -> bool {
        match self {
            FailOn::Fail => matches!(status, Status::Fail | Status::Error),
            FailOn::Warn => matches!(status, Status::Fail | Status::Error | Status::Warn),
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub target: Target,
    /// The server's base URL, e.g. https://kubeward.example.com.
    #[arg(long, env = "KUBEWARD_SERVER")]
    pub server: String,
    /// A file holding the cluster's agent token (mounted from a Secret); read again before each delivery round.
    #[arg(long, env = "KUBEWARD_TOKEN_FILE")]
    pub token_file: PathBuf,
    /// Time between scans, plus a random jitter.
    #[arg(long, env = "KUBEWARD_INTERVAL", default_value = "6h", value_parser = parse_duration)]
    pub interval: Duration,
    /// The most random delay added to each interval, so that many nodes do not report in the same second.
    #[arg(long, env = "KUBEWARD_JITTER", default_value = "10m", value_parser = parse_duration)]
    pub jitter: Duration,
    /// Where undelivered reports wait.
    #[arg(
        long,
        env = "KUBEWARD_SPOOL_DIR",
        default_value = "/var/lib/kubeward-agent/spool"
    )]
    pub spool_dir: PathBuf,
    /// The most reports the spool keeps; the oldest are dropped beyond it.
    #[arg(long, env = "KUBEWARD_SPOOL_MAX_REPORTS", default_value_t = 200)]
    pub spool_max_reports: usize,
    /// The most bytes the spool keeps; the oldest reports are dropped beyond it.
    #[arg(long, env = "KUBEWARD_SPOOL_MAX_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub spool_max_bytes: u64,
    /// PEM file of the CA that signs the server's certificate (instead of the system's roots).
    #[arg(long, env = "KUBEWARD_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// Allow plain HTTP to an address that is not loopback.
    #[arg(long, env = "KUBEWARD_INSECURE_HTTP")]
    pub insecure_http: bool,
    /// Scan once, deliver what can be delivered, and exit (for Jobs and CronJobs).
    #[arg(long)]
    pub once: bool,
    /// With --once: how long to keep retrying before leaving reports in the spool (exit status 75).
    #[arg(long, env = "KUBEWARD_RETRY_FOR", default_value = "2m", value_parser = parse_duration)]
    pub retry_for: Duration,
    /// Serve /healthz and /metrics on this address (e.g. 127.0.0.1:9464).
    #[arg(long, env = "KUBEWARD_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Scan the cluster through its API (the cluster agent) instead of this node.
    #[arg(long, env = "KUBEWARD_CLUSTER_MODE")]
    pub cluster: bool,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// With --cluster: evaluate one catalog only (`cis-1.12` or `kubeward-hardening`); both by default.
    #[arg(long, env = "KUBEWARD_POLICY_BENCHMARK")]
    pub policy_benchmark: Option<String>,
    /// With --cluster: the distribution whose platform-owned list applies; from the cluster's version by default.
    #[arg(long, env = "KUBEWARD_DISTRIBUTION")]
    pub distribution: Option<String>,
}

/// Go-style durations: `90s`, `10m`, `6h`, `1h30m`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let nanos = parse_go_duration(text)
        .ok_or_else(|| format!("{text:?} is not a duration such as 10m or 6h"))?;
    u64::try_from(nanos)
        .map(Duration::from_nanos)
        .map_err(|_| format!("{text:?} must not be negative"))
}

/// Exit status of `run --once` when reports remain in the spool (EX_TEMPFAIL).
const EXIT_PENDING: u8 = 75;

pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Scan(args) => run_scan(&args),
        Command::Run(args) => run_agent(&args),
        Command::Simulate(args) => run_simulation(&args),
        Command::Manifests(args) => run_manifests(&args),
        Command::Cluster(args) => run_cluster(&args),
    }
}

fn run_simulation(args: &SimulateArgs) -> ExitCode {
    let deliverer = match Deliverer::new(&args.server, args.ca_file.as_deref(), args.insecure_http)
    {
        Ok(deliverer) => Arc::new(deliverer),
        Err(err) => {
            eprintln!("kubeward-agent: {err}");
            return ExitCode::from(2);
        }
    };
    let token = match std::fs::read_to_string(&args.token_file) {
        Ok(text) if !text.trim().is_empty() => Arc::<str>::from(text.trim()),
        Ok(_) => {
            eprintln!(
                "kubeward-agent: the token file {} is empty",
                args.token_file.display()
            );
            return ExitCode::from(2);
        }
        Err(err) => {
            eprintln!(
                "kubeward-agent: cannot read the token file {}: {err}",
                args.token_file.display()
            );
            return ExitCode::from(2);
        }
    };
    if args.nodes == 0 || args.days == 0 || args.control_planes > args.nodes {
        eprintln!(
            "kubeward-agent: --nodes and --days must be positive and --control-planes at most --nodes"
        );
        return ExitCode::from(2);
    }
    let catalog = match kubeward_benchmark::Catalog::builtin(GENERIC_BENCHMARK) {
        Ok(catalog) => Arc::new(catalog),
        Err(err) => {
            eprintln!("kubeward-agent: {err}");
            return ExitCode::from(2);
        }
    };
    let spec = Arc::new(kubeward_fleet::FleetSpec {
        seed: args.seed,
        nodes: args.nodes,
        control_planes: args.control_planes,
        days: args.days,
        until: time::OffsetDateTime::now_utc(),
    });
    let tally = crate::simulate::simulate(
        deliverer,
        token,
        catalog,
        spec,
        &args.name,
        args.concurrency,
    );
    let load = |counter: &std::sync::atomic::AtomicUsize| {
        counter.load(std::sync::atomic::Ordering::Relaxed)
    };
    println!(
        "simulated {} nodes over {} days: {} stored now, {} stored before, {} failed",
        args.nodes,
        args.days,
        load(&tally.stored_now),
        load(&tally.stored_before),
        load(&tally.failed)
    );
    if load(&tally.failed) == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn run_agent(args: &RunArgs) -> ExitCode {
    let deliverer = match Deliverer::new(&args.server, args.ca_file.as_deref(), args.insecure_http)
    {
        Ok(deliverer) => deliverer,
        Err(err) => {
            eprintln!("kubeward-agent: {err}");
            return ExitCode::from(2);
        }
    };
    let job = if args.cluster {
        Job::Cluster(ClusterJob {
            connection: args.connection.connection(),
            page_size: args.connection.page_size,
            catalogs: args.policy_benchmark.iter().cloned().collect(),
            distribution: args.distribution.clone(),
        })
    } else {
        Job::Node(args.target.options())
    };
    let options = RunOptions {
        job,
        token_file: args.token_file.clone(),
        interval: args.interval,
        jitter: args.jitter,
        spool_dir: args.spool_dir.clone(),
        spool_max_reports: args.spool_max_reports,
        spool_max_bytes: args.spool_max_bytes,
        once: args.once,
        retry_for: args.retry_for,
    };
    let metrics = Arc::new(Metrics::default());
    let stopper = Arc::new(Stopper::default());
    match Signals::new([SIGTERM, SIGINT]) {
        Ok(mut signals) => {
            let stopper = stopper.clone();
            let spawned = std::thread::Builder::new()
                .name("signals".to_owned())
                .spawn(move || {
                    if let Some(signal) = signals.forever().next() {
                        tracing::info!(
                            signal,
                            "stopping: the report in flight is finished or stays in the spool"
                        );
                        stopper.stop();
                    }
                });
            if let Err(err) = spawned {
                eprintln!("kubeward-agent: cannot watch for signals: {err}");
                return ExitCode::from(2);
            }
        }
        Err(err) => {
            eprintln!("kubeward-agent: cannot watch for signals: {err}");
            return ExitCode::from(2);
        }
    }
    if let Some(address) = args.listen {
        match metrics::serve(address, metrics.clone()) {
            Ok(bound) => tracing::info!(address = %bound, "serving /healthz and /metrics"),
            Err(err) => {
                eprintln!("kubeward-agent: cannot listen on {address}: {err}");
                return ExitCode::from(2);
            }
        }
    }
    let runner = match Runner::new(options, deliverer, metrics, stopper) {
        Ok(runner) => runner,
        Err(err) => {
            eprintln!("kubeward-agent: {err}");
            return ExitCode::from(2);
        }
    };
    match runner.run() {
        Ok(RunEnd::Drained | RunEnd::Stopped) => ExitCode::SUCCESS,
        Ok(RunEnd::Pending(count)) => {
            eprintln!(
                "kubeward-agent: {count} report(s) could not be delivered yet and stay in the spool"
            );
            ExitCode::from(EXIT_PENDING)
        }
        Err(err) => {
            eprintln!("kubeward-agent: {err}");
            ExitCode::from(2)
        }
    }
}

fn run_manifests(args: &ManifestsArgs) -> ExitCode {
    let started_at = time::OffsetDateTime::now_utc();
    let mut options = args.target.options(None);
    if args.target.distribution.is_none() {
        options.distribution = "kubernetes".to_owned();
    }
    let (catalogs, platform) = match policy_scan::load(&options) {
        Ok(loaded) => loaded,
        Err(err) => {
            eprintln!("kubeward-agent: {err}");
            return ExitCode::from(2);
        }
    };
    let set = manifests::read_inputs(&args.inputs, args.namespace.as_deref());
    for note in &set.notes {
        eprintln!("kubeward-agent: skipped {note}");
    }
    for error in &set.errors {
        eprintln!("kubeward-agent: {error}");
    }
    if set.files == 0 && set.errors.is_empty() {
        eprintln!("kubeward-agent: no *.yaml, *.yml or *.json file found in the inputs");
        return ExitCode::from(2);
    }
    let (inventory, node_facts) = match &args.context_from {
        None => (set.inventory, None),
        Some(server) => match cluster_context(args, server) {
            Ok((context, node_facts)) => {
                eprintln!(
                    "kubeward-agent: judged with cluster {}'s context: {} objects ({}), {} node facts",
                    args.cluster.as_deref().unwrap_or_default(),
                    context.len(),
                    kubeward_benchmark::policy::context::kinds(&context)
                        .into_iter()
                        .collect::<Vec<_>>()
                        .join(", "),
                    node_facts.len()
                );
                (
                    kubeward_benchmark::policy::context::with_context(&set.inventory, context),
                    Some(node_facts),
                )
            }
            Err(err) => {
                eprintln!("kubeward-agent: {err}");
                return ExitCode::from(2);
            }
        },
    };
    let mut reports = policy_scan::evaluate(&inventory, &catalogs, &platform, &options, started_at);
    if let Some(node_facts) = &node_facts {
        for report in &mut reports {
            // What the cluster's nodes said decides the results no manifest can, as the server decides them.
            if let Some(catalog) = catalogs
                .iter()
                .find(|catalog| catalog.benchmark == report.benchmark)
            {
                kubeward_benchmark::policy::node_facts::apply(report, catalog, node_facts);
            }
            kubeward_benchmark::policy::context::keep_manifest_results(report);
        }
    }
    let set = manifests::ManifestSet { inventory, ..set };
    tracing::info!(
        files = set.files,
        objects = set.inventory.objects().len(),
        input_errors = set.errors.len(),
        "evaluated {} objects from {} files",
        set.inventory.objects().len(),
        set.files
    );
    print_policy_reports(&args.target, &reports, &catalogs, &set.errors)
}

fn run_cluster(args: &ClusterArgs) -> ExitCode {
    let started_at = time::OffsetDateTime::now_utc();
    // Catalog names are checked before the cluster is read.
    if let Err(err) = policy_scan::load(&args.target.options(None)) {
        eprintln!("kubeward-agent: {err}");
        return ExitCode::from(2);
    }
    let read =
        match cluster::read_blocking(&args.connection.connection(), args.connection.page_size) {
            Ok(read) => read,
            Err(err) => {
                eprintln!("kubeward-agent: {err}");
                return ExitCode::from(2);
            }
        };
    for (kind, problem) in &read.inventory.forbidden {
        eprintln!("kubeward-agent: {kind}: {problem}");
    }
    let mut options = args.target.options(read.kubernetes_version.clone());
    options.nodes = read.nodes;
    let (catalogs, platform) = match policy_scan::load(&options) {
        Ok(loaded) => loaded,
        Err(err) => {
            eprintln!("kubeward-agent: {err}");
            return ExitCode::from(2);
        }
    };
    let reports =
        policy_scan::evaluate(&read.inventory, &catalogs, &platform, &options, started_at);
    tracing::info!(
        objects = read.inventory.objects().len(),
        requests = read.requests,
        "read {} objects in {} requests",
        read.inventory.objects().len(),
        read.requests
    );
    print_policy_reports(&args.target, &reports, &catalogs, &[])
}

/// Prints cluster reports in the chosen format and turns `--fail-on` into the exit status. Input errors trip
/// `--fail-on` like an `error` result: a manifest that could not be read was not checked.
fn print_policy_reports(
    target: &PolicyTarget,
    reports: &[kubeward_benchmark::cluster_report::ClusterReport],
    catalogs: &[kubeward_benchmark::policy::PolicyCatalog],
    input_errors: &[manifests::InputError],
) -> ExitCode {
    // A large cluster's reports are tens of megabytes of JSON: they are written as they are encoded, never
    // held whole as text.
    let written = match target.format {
        PolicyFormat::Json => match reports {
            [one] => write_json_stdout(one),
            many => write_json_stdout(&many),
        },
        PolicyFormat::Sarif => {
            write_json_stdout(&output::sarif::render(reports, catalogs, input_errors))
        }
        PolicyFormat::Table => write_stdout(&output::cluster_table::render(
            reports,
            catalogs,
            std::io::stdout().is_terminal(),
        )),
        PolicyFormat::Junit => write_stdout(&output::cluster_junit::render(reports, catalogs)),
    };
    if !written {
        return ExitCode::from(2);
    }
    let tripped = target.fail_on.is_some_and(|level| {
        !input_errors.is_empty() || policy_scan::trips(reports, |status| level.trips_on(status))
    });
    if tripped {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Writes a command's output; false (after saying why) when stdout is gone. A closed pipe (`| head`) is not
/// worth a panic, but the output is incomplete, so the command fails.
fn write_stdout(text: &str) -> bool {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => true,
        Err(err) => {
            eprintln!("kubeward-agent: cannot write the output: {err}");
            false
        }
    }
}

/// Writes a value as pretty JSON and a newline, encoding it straight into stdout; false (after saying why)
/// when it cannot.
fn write_json_stdout(value: &impl serde::Serialize) -> bool {
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let written = serde_json::to_writer_pretty(&mut stdout, value)
        .map_err(std::io::Error::from)
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush());
    match written {
        Ok(()) => true,
        Err(err) => {
            eprintln!("kubeward-agent: cannot write the output: {err}");
            false
        }
    }
}

fn run_scan(args: &ScanArgs) -> ExitCode {
    let options = args.target.options();
    let scan = match scan(&options) {
        Ok(scan) => scan,
        Err(err) => {
            eprintln!("kubeward-agent: {err}");
            return ExitCode::from(2);
        }
    };
    if let Some(doubt) = scan
        .report
        .node
        .platform
        .as_ref()
        .and_then(|platform| platform.uncertain.as_deref())
    {
        eprintln!("kubeward-agent: warning: {doubt}");
    }
    let text = match args.format {
        Format::Json => match serde_json::to_string_pretty(&scan.report) {
            Ok(json) => json + "\n",
            Err(err) => {
                eprintln!("kubeward-agent: cannot encode the report: {err}");
                return ExitCode::from(2);
            }
        },
        Format::Table => {
            output::table::render(&scan.report, &scan.catalog, std::io::stdout().is_terminal())
        }
        Format::Junit => output::junit::render(&scan.report, &scan.catalog),
    };
    if !write_stdout(&text) {
        return ExitCode::from(2);
    }
    tracing::info!(
        node.name = %scan.report.node.name,
        results = scan.report.results.len(),
        files_read = scan.io.files_read(),
        "scan of {} finished",
        scan.report.node.name
    );
    // A host with no Kubernetes component was not checked at all: that counts as an error.
    let tripped = args.fail_on.is_some_and(|level| {
        scan.found_nothing()
            || scan
                .report
                .results
                .iter()
                .any(|result| level.trips_on(result.status))
    });
    if tripped {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Fetches and reads the cluster's context for `manifests --context-from`: its objects, and what its nodes
/// said of the facts no manifest holds.
fn cluster_context(
    args: &ManifestsArgs,
    server: &str,
) -> Result<(Vec<kubeward_benchmark::policy::Object>, Vec<NodeFact>), String> {
    let cluster = args.cluster.as_deref().unwrap_or_default();
    let token = args
        .api_token
        .as_deref()
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or("--context-from needs an API token with the auditor role in KUBEWARD_API_TOKEN")?;
    let client = Deliverer::new(server, args.ca_file.as_deref(), args.insecure_http)
        .map_err(|err| err.to_string())?;
    let body = client.context(token, cluster)?;
    let answer: ContextAnswer = serde_json::from_slice(&body).map_err(|err| {
        format!("the server's context of cluster {cluster} cannot be read: {err}")
    })?;
    let objects = kubeward_benchmark::policy::context::read(&answer.context)
        .map_err(|err| format!("the server's context of cluster {cluster}: {err}"))?;
    Ok((objects, answer.node_facts))
}

/// The server's answer to `GET /api/v1/clusters/{name}/context` (the fields read here).
#[derive(serde::Deserialize)]
struct ContextAnswer {
    context: kubeward_benchmark::policy::context::ClusterContext,
    /// A server from before node facts were served sends none: those checks then stay `manual`.
    #[serde(default)]
    node_facts: Vec<NodeFact>,
}
