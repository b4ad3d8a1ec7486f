use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // Logs go to stderr so that `scan --format json` prints exactly one report on stdout.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_env("KUBEWARD_LOG").unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .init();
    // clap exits with status 2 on usage errors, as the CLI promises.
    let cli = kubeward_agent::cli::Cli::parse();
    kubeward_agent::cli::run(cli)
}
