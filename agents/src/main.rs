use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // clap exits with status 2 on usage errors, as the CLI promises.
    let cli = kubeward_agent::cli::Cli::parse();
    // The Kubernetes client builds its TLS configuration without naming a provider: make it ring, the only
    // one in the tree, before anything asks.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Logs go to stderr so that `scan --format json` prints exactly one report on stdout. `run` logs what it
    // delivers at info; `scan` and `manifests` only warnings, unless KUBEWARD_LOG says otherwise.
    let default_level = match cli.command {
        kubeward_agent::cli::Command::Scan(_)
        | kubeward_agent::cli::Command::Manifests(_)
        | kubeward_agent::cli::Command::Cluster(_) => "warn",
        _ => "info",
    };
    let filter =
        EnvFilter::try_from_env("KUBEWARD_LOG").unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match cli.log_format {
        kubeward_agent::cli::LogFormat::Text => builder.init(),
        kubeward_agent::cli::LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    kubeward_agent::cli::run(cli)
}
