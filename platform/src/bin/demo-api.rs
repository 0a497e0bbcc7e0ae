//! `demo-api`: the demo upstream behind the gateway, as a process of its own (see
//! `platform::demo::api`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use platform::demo::api::{DemoApiSettings, serve};

/// The demo API: answers with the identity the resource-gateway vouched for.
#[derive(Debug, Parser)]
#[command(name = "demo-api", version)]
struct Cli {
    /// A YAML file overriding the built-in defaults (otherwise DEMO_CONFIG_FILE, if set).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    shared::cli::run_with_settings::<DemoApiSettings, _, _>(cli.config, serve).await
}
