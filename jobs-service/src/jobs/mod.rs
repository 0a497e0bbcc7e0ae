//! The jobs, and how one run of a job goes: take the job's lock (or skip), record the run, do the
//! work, then record the outcome and publish `jobs.cleanup.completed` in one transaction.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{NaiveDateTime, TimeZone, Utc};
use shared::messaging::contracts::{CleanupCompleted, Envelope};
use shared::messaging::outbox;
use tokio::sync::watch;

use crate::configuration::Settings;
use crate::db::runs::{self, JobRun};
use crate::session::JobSession;

mod batches;
pub mod purge_tokens;
pub mod report;
pub mod unverified_accounts;

/// The jobs the service knows, by their names on the command line and in `job_runs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Job {
    PurgeTokens,
    UnverifiedAccounts,
    Report,
}

impl Job {
    pub const ALL: [Job; 3] = [Job::PurgeTokens, Job::UnverifiedAccounts, Job::Report];

    /// `purge-tokens`, `unverified-accounts`, `report`.
    pub fn name(self) -> &'static str {
        match self {
            Job::PurgeTokens => "purge-tokens",
            Job::UnverifiedAccounts => "unverified-accounts",
            Job::Report => "report",
        }
    }

    /// The second key of the job's advisory lock (stable: replicas of different versions agree).
    fn lock_key(self) -> i32 {
        match self {
            Job::PurgeTokens => 1,
            Job::UnverifiedAccounts => 2,
            Job::Report => 3,
        }
    }

    /// Whether the schedule runs the job (`run JOB` runs it regardless).
    pub fn enabled(self, settings: &Settings) -> bool {
        match self {
            Job::PurgeTokens => settings.purge_tokens.enabled,
            Job::UnverifiedAccounts => settings.unverified_accounts.enabled,
            Job::Report => settings.report.enabled,
        }
    }

    /// The job's cron expression (validated when the settings load).
    pub fn schedule(self, settings: &Settings) -> &str {
        match self {
            Job::PurgeTokens => &settings.purge_tokens.schedule,
            Job::UnverifiedAccounts => &settings.unverified_accounts.schedule,
            Job::Report => &settings.report.schedule,
        }
    }
}

/// What a job's run may use.
pub struct JobContext {
    pub settings: Arc<Settings>,
    /// The instant the run computes its cutoffs from (injected by tests).
    pub now: NaiveDateTime,
    /// Becomes `true` when the service is shutting down: long jobs stop between batches.
    pub stop: watch::Receiver<bool>,
}

impl JobContext {
    pub fn stopping(&self) -> bool {
        *self.stop.borrow()
    }
}

/// Whether the job did all its work or stopped early for a shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    Completed,
    Interrupted,
}

/// Rows affected per table or kind.
#[derive(Debug, Default, Clone)]
pub struct Tally(BTreeMap<String, i64>);

impl Tally {
    pub fn add(&mut self, name: &str, rows: i64) {
        *self.0.entry(name.to_owned()).or_default() += rows;
    }

    pub fn total(&self) -> i64 {
        self.0.values().sum()
    }

    pub fn details(&self) -> &BTreeMap<String, i64> {
        &self.0
    }
}

/// What `run_once` did.
#[derive(Debug)]
pub enum RunOutcome {
    /// Another runner holds the job, or has already run this tick of its schedule.
    Skipped,
    /// The run happened (successfully or not); its `job_runs` row.
    Ran(JobRun),
}

/// Runs `job` once, now, if no other runner holds it (a run started by hand, not a tick).
pub async fn run_once(
    settings: &Arc<Settings>,
    job: Job,
    runner: &str,
    now: NaiveDateTime,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<RunOutcome> {
    run(settings, job, runner, now, None, stop).await
}

/// Runs the scheduled tick `tick` of `job` if no other runner holds the job and no runner has run
/// that tick already: every replica's timer fires for the same tick, and one run is enough.
pub async fn run_tick(
    settings: &Arc<Settings>,
    job: Job,
    runner: &str,
    tick: NaiveDateTime,
    now: NaiveDateTime,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<RunOutcome> {
    run(settings, job, runner, now, Some(tick), stop).await
}

async fn run(
    settings: &Arc<Settings>,
    job: Job,
    runner: &str,
    now: NaiveDateTime,
    tick: Option<NaiveDateTime>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<RunOutcome> {
    let Some(mut session) = JobSession::try_acquire(
        &settings.database,
        job.lock_key(),
        Duration::from_secs(settings.dead_runner_timeout_secs),
    )
    .await?
    else {
        tracing::debug!(
            job.id = job.name(),
            "job {} is held by another runner",
            job.name()
        );
        metrics::counter!("jobs_skipped_total", "job" => job.name()).increment(1);
        return Ok(RunOutcome::Skipped);
    };
    let run_id = uuid::Uuid::new_v4().to_string();
    let started = Instant::now();
    let (id, name, runner_name) = (run_id.clone(), job.name(), runner.to_owned());
    let run = session
        .run(move |conn| {
            let abandoned = runs::abandon_unfinished(conn, name, &runner_name)?;
            if abandoned > 0 {
                tracing::warn!(
                    job.id = name,
                    abandoned,
                    "job {name}: took over from a runner that died mid-run"
                );
            }
            Ok(runs::start(conn, &id, name, &runner_name, tick)?)
        })
        .await
        .context("failed to record the start of the run")?;
    let Some(run) = run else {
        session.release().await;
        tracing::debug!(job.id = name, "job {name}: this tick has run already");
        metrics::counter!("jobs_skipped_total", "job" => job.name()).increment(1);
        return Ok(RunOutcome::Skipped);
    };
    tracing::info!(job.id = name, run.id = %run.id, "job {name} started");
    let context = JobContext {
        settings: settings.clone(),
        now,
        stop,
    };
    let mut tally = Tally::default();
    let result = match job {
        Job::PurgeTokens => purge_tokens::run(&mut session, &context, &mut tally).await,
        Job::UnverifiedAccounts => unverified_accounts::run(&mut session, &context, &mut tally).await,
        Job::Report => report::run(&mut session, &context, &mut tally).await,
    };
    let (status, error) = match &result {
        Ok(Completion::Completed) => ("succeeded", None),
        Ok(Completion::Interrupted) => ("interrupted", None),
        Err(error) => ("failed", Some(format!("{error:#}"))),
    };
    let finished = finish(&mut session, &run, status, error, &tally).await;
    session.release().await;
    record_metrics(job, status, started, &tally);
    let finished = finished.context("failed to record the end of the run")?;
    match &result {
        Err(error) => tracing::error!(job.id = name, run.id = %run.id, "job {name} failed: {error:#}"),
        Ok(_) => tracing::info!(
            job.id = name, run.id = %run.id, status, rows_affected = tally.total(),
            duration_ms = started.elapsed().as_millis() as u64, "job {name} {status}"
        ),
    }
    Ok(RunOutcome::Ran(finished))
}

/// Records the outcome and enqueues `jobs.cleanup.completed` in the same transaction.
async fn finish(
    session: &mut JobSession,
    run: &JobRun,
    status: &'static str,
    error: Option<String>,
    tally: &Tally,
) -> anyhow::Result<JobRun> {
    let run = run.clone();
    let details = tally.details().clone();
    let total = tally.total();
    session
        .run(move |conn| {
            let details_json = serde_json::to_string(&details)?;
            Ok(shared::db::transaction(conn, |conn| {
                let finished = runs::finish(conn, &run.id, status, total, &details_json, error.as_deref())?;
                let event = CleanupCompleted {
                    job: finished.job.clone(),
                    run_id: finished.id.clone(),
                    status: if status == "succeeded" {
                        "succeeded"
                    } else {
                        "failed"
                    }
                    .to_owned(),
                    rows_affected: total,
                    details,
                    started_at: Utc.from_utc_datetime(&finished.started_at),
                    finished_at: Utc.from_utc_datetime(&finished.finished_at.unwrap_or(finished.started_at)),
                };
                outbox::enqueue(conn, &Envelope::new(event, None))?;
                diesel::QueryResult::Ok(finished)
            })?)
        })
        .await
}

fn record_metrics(job: Job, status: &'static str, started: Instant, tally: &Tally) {
    metrics::counter!("jobs_runs_total", "job" => job.name(), "status" => status).increment(1);
    metrics::histogram!("jobs_run_duration_seconds", "job" => job.name())
        .record(started.elapsed().as_secs_f64());
    for (table, rows) in tally.details() {
        metrics::counter!("jobs_rows_affected_total", "job" => job.name(), "table" => table.clone())
            .increment((*rows).max(0) as u64);
    }
}
