//! The `auth-server` command line: `serve` (the default), `migrate`, and the admin subcommands, the
//! way a Django project has management commands. `--json` output is a contract scripts rely on.

mod admin;
mod args;
mod output;

use std::process::ExitCode;

pub use args::*;
use shared::configuration::Layered;

use crate::admin::AdminError;
use crate::configuration::Settings;
use crate::startup::Application;

/// Runs a parsed command line and returns the process exit code: 0 on success, 2 for a bad
/// argument, 1 for any other failure.
pub async fn run(cli: Cli) -> ExitCode {
    let settings = match Settings::load(cli.config.clone()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let outcome = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Admin(AdminCommand::Migrate(MigrateArgs { wait: Some(seconds) })) => {
            shared::telemetry::init_for_cli(&settings.log);
            wait_until_migrated(&settings, seconds).await
        }
        Command::Admin(command) => {
            shared::telemetry::init_for_cli(&settings.log);
            tokio::task::spawn_blocking(move || admin::run(&settings, command))
                .await
                .map_err(|error| CliError::Other(anyhow::anyhow!("the command failed: {error}")))
                .and_then(|outcome| outcome)
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(CliError::Other(error)) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Why a command failed: a bad argument (exit 2, the message names it) or anything else (exit 1).
enum CliError {
    Usage(String),
    Other(anyhow::Error),
}

impl From<AdminError> for CliError {
    fn from(error: AdminError) -> Self {
        match error {
            AdminError::InvalidArgument { .. } => CliError::Usage(error.to_string()),
            other => CliError::Other(other.into()),
        }
    }
}

/// `migrate --wait SECONDS`.
async fn wait_until_migrated(settings: &Settings, seconds: u64) -> Result<(), CliError> {
    use secrecy::ExposeSecret;

    let session = shared::db::SessionSettings {
        statement_timeout_ms: settings.database.statement_timeout_ms,
    };
    let timeout = std::time::Duration::from_secs(seconds);
    let url = settings.database.url.expose_secret();
    shared::db::wait_until_migrated(url, &session, crate::db::MIGRATIONS, timeout)
        .await
        .map_err(CliError::Other)?;
    println!("the database has every migration");
    Ok(())
}

async fn serve(settings: Settings) -> Result<(), CliError> {
    shared::telemetry::init("auth-server", &settings.log);
    let issuer = settings.issuer.clone();
    if is_plain_http_off_loopback(&issuer) {
        tracing::warn!(
            issuer = %issuer,
            "the issuer is plain http on a non-loopback host: use https outside local development (RFC 8414)",
        );
    }
    let application = Application::build(settings).await.map_err(CliError::Other)?;
    let port = application.port();
    tracing::info!(port, issuer = %issuer, "auth-server listening on port {port}");
    application
        .run_until_stopped()
        .await
        .map_err(|error| CliError::Other(error.into()))
}

/// Plain http is for local development only (RFC 8414 wants https).
fn is_plain_http_off_loopback(issuer: &str) -> bool {
    url::Url::parse(issuer).is_ok_and(|url| {
        url.scheme() == "http"
            && !matches!(url.host(), Some(url::Host::Domain("localhost")))
            && !matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
            && !matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
    })
}
