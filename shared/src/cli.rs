//! The entry point shared by service binaries: load the settings, run the command, and turn the
//! outcome into the exit code every binary of the platform uses (0 ok, 2 invalid configuration,
//! 1 any other failure), with the reason on standard error.

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::configuration::Layered;

/// Loads `S` (defaults, `config` or `{PREFIX}_CONFIG_FILE`, environment) and runs `command` with it.
pub async fn run_with_settings<S, F, Fut>(config: Option<PathBuf>, command: F) -> ExitCode
where
    S: Layered,
    F: FnOnce(S) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let settings = match S::load(config) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    match command(settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
