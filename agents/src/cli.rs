//! The command line: `kubeward-agent scan`. Exit codes: 0 done, 1 `--fail-on` met, 2 usage or setup error.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use kubeward_benchmark::Status;

use crate::output;
use crate::scan::{DEFAULT_BENCHMARK, ScanOptions, scan};

#[derive(Debug, Parser)]
#[command(
    name = "kubeward-agent",
    version,
    about = "kubeward's node agent: evaluates the CIS Kubernetes Benchmark on this node"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan this node once and print the results.
    Scan(ScanArgs),
}

#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// Where the host's file system is mounted (`/host` in the DaemonSet).
    #[arg(long, env = "KUBEWARD_HOST_ROOT", default_value = "/")]
    pub host_root: PathBuf,
    /// The host's process directory (the pod runs with hostPID).
    #[arg(long, env = "KUBEWARD_PROC_ROOT", default_value = "/proc")]
    pub proc_root: PathBuf,
    /// The node's name; defaults to NODE_NAME, then <host-root>/etc/hostname.
    #[arg(long, env = "NODE_NAME")]
    pub node_name: Option<String>,
    /// The benchmark catalog to evaluate.
    #[arg(long, default_value = DEFAULT_BENCHMARK)]
    pub benchmark: String,
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

pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Scan(args) => run_scan(&args),
    }
}

fn run_scan(args: &ScanArgs) -> ExitCode {
    let options = ScanOptions {
        host_root: args.host_root.clone(),
        proc_root: args.proc_root.clone(),
        node_name: args.node_name.clone(),
        benchmark: args.benchmark.clone(),
    };
    let scan = match scan(&options) {
        Ok(scan) => scan,
        Err(err) => {
            eprintln!("kubeward-agent: {err}");
            return ExitCode::from(2);
        }
    };
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
    let mut stdout = std::io::stdout().lock();
    if let Err(err) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        // A closed pipe (`| head`) is not worth a panic, but the output is incomplete.
        eprintln!("kubeward-agent: cannot write the output: {err}");
        return ExitCode::from(2);
    }
    tracing::info!(
        node.name = %scan.report.node.name,
        results = scan.report.results.len(),
        files_read = scan.io.files_read(),
        "scan of {} finished",
        scan.report.node.name
    );
    let tripped = args.fail_on.is_some_and(|level| {
        scan.report
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
