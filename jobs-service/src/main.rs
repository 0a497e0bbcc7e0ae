use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use jobs_service::configuration::Settings;
use jobs_service::db::runs;
use jobs_service::jobs::{self, Job, RunOutcome};
use jobs_service::startup::{self, Application};

#[derive(Debug, Parser)]
#[command(name = "jobs-service", version, about = "Runs the platform's periodic jobs")]
struct Cli {
    /// A YAML file overriding the built-in defaults (otherwise JOBS_CONFIG_FILE, if set).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve /healthz, /readyz, /metrics and run the enabled jobs on their schedules (the default).
    Serve,
    /// Apply the jobs-service's pending database migrations, then exit.
    Migrate {
        /// Apply nothing: wait until another process (the migration Job) has applied every
        /// migration this binary knows, at most SECONDS; exit 1 if it has not by then.
        #[arg(long, value_name = "SECONDS")]
        wait: Option<u64>,
    },
    /// Run one job once, now, whether or not it is enabled (for a Kubernetes CronJob or an
    /// operator). Exits 0 when it succeeded or another runner holds it, 1 when it failed.
    Run {
        #[arg(value_enum)]
        job: Job,
    },
    /// The history of job runs.
    Runs {
        #[command(subcommand)]
        command: RunsCommand,
    },
}

#[derive(Debug, Subcommand)]
enum RunsCommand {
    /// The most recent runs, newest first.
    List {
        /// Only the runs of this job.
        #[arg(long, value_enum)]
        job: Option<Job>,
        /// How many runs to show.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..=10_000))]
        limit: i64,
        /// One JSON array on standard output.
        #[arg(long)]
        json: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => shared::cli::run_with_settings(cli.config, serve).await,
        Command::Migrate { wait } => {
            shared::cli::run_with_settings(cli.config, move |settings| migrate(settings, wait)).await
        }
        Command::Run { job } => {
            shared::cli::run_with_settings(cli.config, move |settings| run_job(settings, job)).await
        }
        Command::Runs {
            command: RunsCommand::List { job, limit, json },
        } => {
            shared::cli::run_with_settings(cli.config, move |settings| list_runs(settings, job, limit, json))
                .await
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    shared::telemetry::init("jobs-service", &settings.log);
    let listen_addr = settings.listen_addr.clone();
    let application = Application::build(settings).await?;
    tracing::info!(listen_addr = %listen_addr, "jobs-service listening");
    Ok(application.run_until_stopped().await?)
}

/// `migrate`, or with `--wait SECONDS`, waiting for another process to have migrated.
async fn migrate(settings: Settings, wait: Option<u64>) -> anyhow::Result<()> {
    shared::telemetry::init_for_cli(&settings.log);
    let Some(seconds) = wait else {
        let applied = startup::migrate(&shared::db::build_pool(&settings.database)).await?;
        println!("{} migration(s) applied", applied.len());
        return Ok(());
    };
    let session = shared::db::SessionSettings {
        statement_timeout_ms: settings.database.statement_timeout_ms,
    };
    let url = secrecy::ExposeSecret::expose_secret(&settings.database.url).to_owned();
    let timeout = std::time::Duration::from_secs(seconds);
    shared::db::wait_until_migrated(&url, &session, jobs_service::db::MIGRATIONS, timeout).await?;
    println!("the database has every migration");
    Ok(())
}

async fn run_job(settings: Settings, job: Job) -> anyhow::Result<()> {
    shared::telemetry::init_for_cli(&settings.log);
    let settings = Arc::new(settings);
    let runner = format!("cli:{}", settings.runner_name());
    let (stop, stopping) = tokio::sync::watch::channel(false);
    // Ctrl-C or SIGTERM stops the job at its next batch boundary, recorded as `interrupted`.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        let _ = stop.send(true);
    });
    let now = chrono::Utc::now().naive_utc();
    match jobs::run_once(&settings, job, &runner, now, stopping).await? {
        RunOutcome::Skipped => {
            eprintln!("{} is running on another runner; nothing done", job.name());
            Ok(())
        }
        RunOutcome::Ran(run) => {
            println!(
                "{}",
                serde_json::to_string(&run).context("failed to print the run")?
            );
            match run.error {
                Some(error) => anyhow::bail!("{} failed: {error}", job.name()),
                None => Ok(()),
            }
        }
    }
}

async fn list_runs(settings: Settings, job: Option<Job>, limit: i64, json: bool) -> anyhow::Result<()> {
    shared::telemetry::init_for_cli(&settings.log);
    let pool = shared::db::build_pool(&settings.database);
    let listed: anyhow::Result<Vec<runs::JobRun>> = shared::db::run(&pool, move |conn| {
        runs::list(conn, job.map(Job::name), limit).context("failed to read job_runs")
    })
    .await;
    let listed = listed?;
    if json {
        println!("{}", serde_json::to_string_pretty(&listed)?);
        return Ok(());
    }
    println!(
        "{:<36}  {:<20}  {:<12}  {:<26}  {:>10}  {:>12}  runner",
        "id", "job", "status", "started_at", "seconds", "rows"
    );
    for run in listed {
        let seconds = run
            .finished_at
            .map(|finished| format!("{:.3}", (finished - run.started_at).as_seconds_f64()))
            .unwrap_or_else(|| "-".to_owned());
        println!(
            "{:<36}  {:<20}  {:<12}  {:<26}  {:>10}  {:>12}  {}",
            run.id,
            run.job,
            run.status,
            run.started_at.to_string(),
            seconds,
            run.rows_affected,
            run.runner
        );
    }
    Ok(())
}
