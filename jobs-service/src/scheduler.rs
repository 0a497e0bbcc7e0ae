//! The schedule: one task per enabled job wakes at each tick of the job's cron expression and
//! tries to run it (skipping when another replica holds it), and one task refreshes the backlog
//! gauge. A run that outlasts ticks makes the job skip them; the next run starts at the first tick
//! after it ended.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use shared::db::DbPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::configuration::Settings;
use crate::jobs::purge_tokens::{self, Cutoffs};
use crate::jobs::{self, Job, RunOutcome};

/// The running schedule.
pub struct Scheduler {
    tasks: Vec<JoinHandle<()>>,
    stop: watch::Sender<bool>,
}

impl Scheduler {
    /// Starts a task per enabled job, and the backlog gauge.
    pub fn start(settings: Arc<Settings>, pool: DbPool) -> Scheduler {
        let (stop, stopping) = watch::channel(false);
        let runner = settings.runner_name();
        let mut tasks = Vec::new();
        for job in Job::ALL.into_iter().filter(|job| job.enabled(&settings)) {
            let schedule = cron::Schedule::from_str(job.schedule(&settings))
                .expect("schedules are validated when the settings load");
            tracing::info!(
                job.id = job.name(),
                schedule = job.schedule(&settings),
                "job {} scheduled",
                job.name()
            );
            tasks.push(tokio::spawn(job_loop(
                settings.clone(),
                job,
                schedule,
                runner.clone(),
                stopping.clone(),
            )));
        }
        tasks.push(tokio::spawn(backlog_loop(settings, pool, stopping)));
        Scheduler { tasks, stop }
    }

    /// Stops scheduling, lets a running job stop at its next batch boundary (recorded as
    /// `interrupted`), and waits for that at most `timeout`.
    pub async fn stop(self, timeout: Duration) {
        let _ = self.stop.send(true);
        let all = futures_util::future::join_all(self.tasks);
        if tokio::time::timeout(timeout, all).await.is_err() {
            tracing::warn!("jobs still running at shutdown were abandoned; the next runner takes them over");
        }
    }
}

async fn job_loop(
    settings: Arc<Settings>,
    job: Job,
    schedule: cron::Schedule,
    runner: String,
    mut stopping: watch::Receiver<bool>,
) {
    while let Some(next) = schedule.upcoming(Utc).next() {
        let wait = (next - Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stopping.changed() => return,
        }
        if *stopping.borrow() {
            return;
        }
        let (tick, now) = (next.naive_utc(), Utc::now().naive_utc());
        match jobs::run_tick(&settings, job, &runner, tick, now, stopping.clone()).await {
            Ok(RunOutcome::Ran(_) | RunOutcome::Skipped) => {}
            Err(error) => tracing::error!(job.id = job.name(), "job {} could not run: {error:#}", job.name()),
        }
    }
}

/// Refreshes `jobs_backlog_rows{table}`: the rows purge-tokens would delete now, per step, each
/// count bounded by `backlog_count_limit` and driven by the step's index.
async fn backlog_loop(settings: Arc<Settings>, pool: DbPool, mut stopping: watch::Receiver<bool>) {
    let interval = Duration::from_millis(settings.backlog_interval_ms.max(1000));
    loop {
        let cutoffs = Cutoffs::new(Utc::now().naive_utc(), &settings.purge_tokens);
        let limit = settings.backlog_count_limit;
        let counted: anyhow::Result<Vec<(&'static str, i64)>> = shared::db::run(&pool, move |conn| {
            purge_tokens::backlog_steps()
                .map(|step| {
                    Ok((
                        step.name,
                        purge_tokens::count_eligible(conn, &step, &cutoffs, limit)?,
                    ))
                })
                .collect()
        })
        .await;
        match counted {
            Ok(counts) => {
                for (table, rows) in counts {
                    metrics::gauge!("jobs_backlog_rows", "table" => table).set(rows as f64);
                }
            }
            Err(error) => tracing::warn!("could not count the purge backlog: {error:#}"),
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = stopping.changed() => return,
        }
    }
}
