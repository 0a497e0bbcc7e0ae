//! Batches: a step runs batch after batch, each in its own short transaction whose statements and
//! lock waits are bounded by the batch budget, with a pause between batches and a batch size that
//! adapts to how long batches take.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use shared::db::DbConn;

use super::{Completion, JobContext, Tally};
use crate::configuration::PurgeTokensSettings;
use crate::session::JobSession;

/// Rows deleted per step (or table) by one batch.
pub type Deleted = Vec<(&'static str, usize)>;

/// Rows per step and whether another batch may find more.
pub type BatchResult = QueryResult<(Deleted, bool)>;

/// Runs `batch` until it reports nothing more, adapting the batch size to the budget and pausing
/// between batches; stops early (between batches) when the service is shutting down.
pub async fn drain<F>(
    session: &mut JobSession,
    context: &JobContext,
    batcher: &mut Batcher,
    tally: &mut Tally,
    batch: F,
) -> anyhow::Result<Completion>
where
    F: FnMut(&mut DbConn, i64) -> BatchResult + Send + 'static,
{
    let mut batch = batch;
    loop {
        if context.stopping() {
            return Ok(Completion::Interrupted);
        }
        let size = batcher.size;
        let budget_ms = batcher.budget.as_millis();
        let started = Instant::now();
        let mut work = batch;
        let (outcome, work) = session
            .run(move |conn| {
                let outcome = shared::db::transaction(conn, |conn| {
                    // SQLite has no statement timeout; its lock wait is the connection's
                    // `busy_timeout`, and the batch size still adapts to the time batches take.
                    if let DbConn::Postgresql(pg) = conn {
                        pg.batch_execute(&format!(
                            "SET LOCAL statement_timeout = {budget_ms}; SET LOCAL lock_timeout = {budget_ms};"
                        ))?;
                    }
                    work(conn, size)
                });
                Ok((outcome, work))
            })
            .await?;
        batch = work;
        match outcome {
            Ok((rows, more)) => {
                for (name, deleted) in rows {
                    tally.add(name, deleted as i64);
                }
                batcher.after(started.elapsed());
                if !more {
                    return Ok(Completion::Completed);
                }
            }
            Err(error) if is_timeout(&error) => batcher.after_timeout(error)?,
            Err(error) => return Err(error.into()),
        }
        tokio::time::sleep(batcher.pause).await;
    }
}

/// The batch size, halved when a batch takes more than half its budget (or hits it), doubled back
/// towards the configured size when batches are quick.
#[derive(Debug)]
pub struct Batcher {
    max: i64,
    size: i64,
    budget: Duration,
    pause: Duration,
    consecutive_timeouts: u32,
}

impl Batcher {
    pub fn new(settings: &PurgeTokensSettings) -> Batcher {
        Batcher {
            max: settings.batch_size,
            size: settings.batch_size,
            budget: Duration::from_millis(settings.batch_budget_ms.max(1)),
            pause: Duration::from_millis(settings.pause_ms),
            consecutive_timeouts: 0,
        }
    }

    fn after(&mut self, elapsed: Duration) {
        self.consecutive_timeouts = 0;
        if elapsed > self.budget / 2 {
            self.size = (self.size / 2).max(1);
        } else if elapsed < self.budget / 4 {
            self.size = (self.size * 2).min(self.max);
        }
    }

    fn after_timeout(&mut self, error: diesel::result::Error) -> anyhow::Result<()> {
        self.consecutive_timeouts += 1;
        if self.consecutive_timeouts > 5 {
            return Err(anyhow::Error::new(error).context("batches keep running out of their time budget"));
        }
        tracing::warn!(
            batch_size = self.size,
            "a purge batch ran out of its time budget; halving the batch"
        );
        self.size = (self.size / 2).max(1);
        Ok(())
    }
}

fn is_timeout(error: &diesel::result::Error) -> bool {
    match error {
        diesel::result::Error::DatabaseError(_, info) => {
            let message = info.message();
            message.contains("statement timeout")
                || message.contains("lock timeout")
                || message.contains("database is locked")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use shared::configuration::Layered;

    use super::*;

    fn batcher() -> Batcher {
        let settings = crate::configuration::Settings::defaults().unwrap().purge_tokens;
        Batcher::new(&PurgeTokensSettings {
            batch_size: 1000,
            batch_budget_ms: 2000,
            ..settings
        })
    }

    fn timeout() -> diesel::result::Error {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::Unknown,
            Box::new("canceling statement due to statement timeout".to_owned()),
        )
    }

    #[test]
    fn a_slow_batch_halves_the_size_and_quick_ones_grow_it_back_to_the_configured_size() {
        let mut batcher = batcher();

        batcher.after(Duration::from_millis(1500));
        assert_eq!(batcher.size, 500);
        batcher.after(Duration::from_millis(700));
        assert_eq!(
            batcher.size, 500,
            "between a quarter and half of the budget: unchanged"
        );
        batcher.after(Duration::from_millis(100));
        batcher.after(Duration::from_millis(100));
        assert_eq!(batcher.size, 1000, "never above batch_size");
    }

    #[test]
    fn a_batch_cancelled_by_the_budget_is_retried_smaller_and_the_run_fails_after_five_in_a_row() {
        let mut batcher = batcher();

        for expected in [500, 250, 125, 62, 31] {
            batcher.after_timeout(timeout()).unwrap();
            assert_eq!(batcher.size, expected);
        }
        assert!(batcher.after_timeout(timeout()).is_err());
        assert!(is_timeout(&timeout()));
    }
}
