use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use platform::platform::{Options, Platform};
use shared::configuration::Layered;

/// The whole platform in one process, on an embedded database: one command to try it.
#[derive(Debug, Parser)]
#[command(name = "platform", version)]
struct Cli {
    /// Where the platform keeps its state (database, keys, demo credentials).
    #[arg(
        long,
        env = "PLATFORM_DATA_DIR",
        default_value = ".platform",
        value_name = "DIR"
    )]
    data_dir: PathBuf,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let environment: Vec<(String, String)> = std::env::vars().collect();
    let log = match auth_server::configuration::Settings::load_from_environment(&environment) {
        Ok(settings) => settings.log,
        Err(error) => {
            eprintln!("error: auth-server: {error}");
            return ExitCode::from(2);
        }
    };
    shared::telemetry::init("platform", &log);
    let platform = match Platform::start(Options {
        data_dir: cli.data_dir,
        environment,
    })
    .await
    {
        Ok(platform) => platform,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", platform.try_it());
    match platform.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
