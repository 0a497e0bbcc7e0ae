use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use email_service::admin;
use email_service::configuration::Settings;
use email_service::startup::Application;
use shared::db::build_pool;

#[derive(Debug, Parser)]
#[command(name = "email-service", version, about = "Delivers the platform's emails")]
struct Cli {
    /// A YAML file overriding the built-in defaults (otherwise EMAIL_CONFIG_FILE, if set).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Consume email commands and deliver them (the default).
    Serve,
    /// Apply pending migrations of the delivery records and exit.
    Migrate {
        /// Apply nothing: wait until another process (the migration Job) has applied every
        /// migration this binary knows, at most SECONDS; exit 1 if it has not by then.
        #[arg(long, value_name = "SECONDS")]
        wait: Option<u64>,
    },
    /// Queue a test email through the broker, like any other email.
    SendTest {
        /// The recipient.
        #[arg(long, value_name = "ADDRESS", value_parser = email_address)]
        to: String,
    },
    /// The delivery records.
    Deliveries {
        #[command(subcommand)]
        command: DeliveriesCommand,
    },
    /// Email commands that could not be delivered.
    DeadLetters {
        #[command(subcommand)]
        command: DeadLettersCommand,
    },
}

#[derive(Debug, Subcommand)]
enum DeliveriesCommand {
    /// The latest records, newest first.
    List {
        /// Only this status.
        #[arg(long, value_enum)]
        status: Option<email_service::db::DeliveryStatus>,
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=10_000))]
        limit: i64,
    },
}

#[derive(Debug, Subcommand)]
enum DeadLettersCommand {
    /// Show them (they stay on the queue).
    List {
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
    },
    /// Send them back to be delivered again.
    Requeue {
        /// Only this message.
        #[arg(
            long,
            value_name = "ID",
            conflicts_with = "all",
            required_unless_present = "all"
        )]
        message_id: Option<String>,
        /// Every dead-lettered message.
        #[arg(long)]
        all: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    shared::cli::run_with_settings(cli.config, |settings: Settings| async move {
        match command {
            Command::Serve => serve(settings).await,
            other => {
                shared::telemetry::init_for_cli(&settings.log);
                let output = operate(settings, other).await?;
                println!("{}", serde_json::to_string_pretty(&output)?);
                Ok(())
            }
        }
    })
    .await
}

async fn operate(settings: Settings, command: Command) -> anyhow::Result<serde_json::Value> {
    Ok(match command {
        Command::Serve => unreachable!("handled by main"),
        Command::Migrate { wait: None } => {
            let applied = email_service::startup::migrate(&build_pool(&settings.database)).await?;
            serde_json::json!({ "applied": applied })
        }
        Command::Migrate { wait: Some(seconds) } => {
            let session = shared::db::SessionSettings {
                statement_timeout_ms: settings.database.statement_timeout_ms,
            };
            let url = secrecy::ExposeSecret::expose_secret(&settings.database.url).to_owned();
            let timeout = std::time::Duration::from_secs(seconds);
            shared::db::wait_until_migrated(&url, &session, email_service::db::MIGRATIONS, timeout).await?;
            serde_json::json!({ "migrated": true })
        }
        Command::SendTest { to } => admin::send_test(&settings, &to).await?,
        Command::Deliveries {
            command: DeliveriesCommand::List { status, limit },
        } => {
            let pool = build_pool(&settings.database);
            let records = shared::db::run(&pool, move |conn| {
                Ok::<_, shared::db::StoreError>(email_service::db::list(conn, status, limit)?)
            })
            .await?;
            serde_json::to_value(records)?
        }
        Command::DeadLetters {
            command: DeadLettersCommand::List { limit },
        } => serde_json::to_value(admin::dead_letters_list(&settings, limit as usize).await?)?,
        Command::DeadLetters {
            command: DeadLettersCommand::Requeue { message_id, all: _ },
        } => {
            let requeued = admin::dead_letters_requeue(&settings, message_id.as_deref()).await?;
            serde_json::json!({ "requeued": requeued })
        }
    })
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    shared::telemetry::init("email-service", &settings.log);
    let listen_addr = settings.listen_addr.clone();
    let application = Application::build(settings).await?;
    tracing::info!(listen_addr = %listen_addr, "email-service listening");
    Ok(application.run_until_stopped().await?)
}

/// `--to` must be an address (clap exits 2 and names the argument otherwise).
fn email_address(value: &str) -> Result<String, String> {
    value
        .parse::<lettre::Address>()
        .map(|_| value.to_owned())
        .map_err(|_| "not an email address".to_owned())
}
