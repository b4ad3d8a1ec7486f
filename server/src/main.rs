use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = kubeward_server::cli::Cli::parse();
    kubeward_server::cli::run(cli).await
}
