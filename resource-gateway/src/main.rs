use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use resource_gateway::configuration::Settings;
use resource_gateway::startup::Application;

#[derive(Debug, Parser)]
#[command(
    name = "resource-gateway",
    version,
    about = "The front door for the platform's APIs"
)]
struct Cli {
    /// A YAML file overriding the built-in defaults (otherwise GATEWAY_CONFIG_FILE, if set).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the gateway (the default).
    Serve,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => shared::cli::run_with_settings(cli.config, serve).await,
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    shared::telemetry::init("resource-gateway", &settings.log);
    let listen_addr = settings.listen_addr.clone();
    let application = Application::build(settings).await?;
    tracing::info!(listen_addr = %listen_addr, "resource-gateway listening");
    Ok(application.run_until_stopped().await?)
}
