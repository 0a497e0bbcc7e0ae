//! The outbox relay: hands pending outbox rows to the [`Bus`] (RabbitMQ with confirms, or the
//! consumers of this process) and marks them published once the bus has taken them.
//!
//! Rows are claimed with a lease (`next_attempt_at` moves forward), so any number of relays
//! (replicas) share one outbox without handing a row over twice in normal operation; a relay that
//! dies holding a claim loses it when the lease ends. Leases and due times are the database's
//! clock (`db::clock`), never a relay's: two relays whose clocks disagree still see one lease. On
//! PostgreSQL the claim skips rows another relay is claiming (`FOR UPDATE SKIP LOCKED`); on SQLite
//! it is one statement under the database's single write lock, which gives the same. A failed
//! hand-over backs the row off with a growing delay (or the consumer's own); nothing is ever
//! dropped: a row for an exchange this relay does not know (written by a newer version) is kept and
//! retried, never published to a name the broker would refuse by closing the shared publishing
//! channel. The relay wakes on
//! [`OutboxRelay::nudge`] (called after a commit that wrote a message) and on a poll interval (rows
//! written by other processes, and retries).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};
use futures_util::future::join_all;
use serde::Deserialize;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::bus::{Bus, Handled, Relayed};
use super::contracts::Exchange;
use super::outbox::outbox_messages;
use super::publisher::PublishError;
use crate::db::{Backend, DbConn, DbPool, StoreError, clock};
use crate::resilience::BackoffSettings;

#[derive(Debug, Clone, Deserialize)]
pub struct RelaySettings {
    /// Rows claimed and handed over together.
    pub batch_size: i64,
    /// How often the outbox is scanned without a nudge (rows from other processes, retries).
    pub poll_interval_ms: u64,
    /// How long a claim lasts before another relay may take the row.
    pub lease_secs: i64,
    /// Back-off of a row whose hand-over failed.
    pub retry: BackoffSettings,
}

#[derive(QueryableByName, Debug)]
struct Claimed {
    #[diesel(sql_type = Text)]
    message_id: String,
    #[diesel(sql_type = Text)]
    exchange: String,
    #[diesel(sql_type = Text)]
    routing_key: String,
    #[diesel(sql_type = Text)]
    message_type: String,
    #[diesel(sql_type = Text)]
    body: String,
    #[diesel(sql_type = Integer)]
    attempts: i32,
}

/// Handle to a running relay.
#[derive(Clone)]
pub struct OutboxRelay {
    wake: Arc<Notify>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl OutboxRelay {
    /// Starts relaying in the background until `stop` is cancelled.
    pub fn start(pool: DbPool, bus: Bus, settings: RelaySettings, stop: CancellationToken) -> OutboxRelay {
        let wake = Arc::new(Notify::new());
        let task = tokio::spawn(run(pool, bus, settings, wake.clone(), stop));
        OutboxRelay {
            wake,
            task: Arc::new(Mutex::new(Some(task))),
        }
    }

    /// Publish now: a transaction that wrote to the outbox has committed.
    pub fn nudge(&self) {
        self.wake.notify_one();
    }

    /// Waits until the relay has stopped (after its `stop` was cancelled): the batch in hand is
    /// settled first, so no consumer is cut off mid-message by an orderly shutdown.
    pub async fn stopped(&self) {
        let task = self
            .task
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

async fn run(pool: DbPool, bus: Bus, settings: RelaySettings, wake: Arc<Notify>, stop: CancellationToken) {
    let poll = Duration::from_millis(settings.poll_interval_ms);
    loop {
        // Drain: keep going while batches come back full.
        while bus.is_up() && !stop.is_cancelled() {
            match relay_batch(&pool, &bus, &settings).await {
                Ok(claimed) if claimed as i64 >= settings.batch_size => continue,
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(
                        error = %format_args!("{error:#}"),
                        "outbox relay: cannot read the outbox",
                    );
                    break;
                }
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
        }
    }
}

/// How one claimed row ends this round.
enum Settlement {
    Published,
    /// Handed over again after `delay` (from the database's now).
    Retry {
        delay: Duration,
        error: String,
    },
    /// Given up by its consumer: settled, with the reason kept.
    DeadLettered(String),
}

/// Claims, hands over and settles one batch; returns how many rows it claimed.
async fn relay_batch(pool: &DbPool, bus: &Bus, settings: &RelaySettings) -> anyhow::Result<usize> {
    let (batch, lease) = (settings.batch_size, settings.lease_secs);
    let claimed = crate::db::run(pool, move |conn| Ok::<_, StoreError>(claim(conn, batch, lease)?)).await?;
    if claimed.is_empty() {
        return Ok(0);
    }
    let handed = join_all(claimed.iter().map(|row| async move {
        let Some(exchange) = Exchange::parse(&row.exchange) else {
            return Err(HandOverError::UnknownExchange(row.exchange.clone()));
        };
        let relayed = Relayed {
            exchange,
            routing_key: &row.routing_key,
            message_id: &row.message_id,
            message_type: &row.message_type,
            body: row.body.as_bytes(),
            attempts: row.attempts.max(0) as u32,
        };
        bus.hand_over(&relayed).await.map_err(HandOverError::Bus)
    }))
    .await;

    let settlements: Vec<(String, Settlement)> = claimed
        .iter()
        .zip(handed)
        .map(|(row, handed)| {
            let settlement = match handed {
                Ok(Handled::Done) => Settlement::Published,
                Ok(Handled::RetryAfter(delay, error)) => Settlement::Retry { delay, error },
                Ok(Handled::DeadLettered(reason)) => {
                    tracing::warn!(
                        message_id = %row.message_id,
                        message_type = %row.message_type,
                        %reason,
                        "outbox relay: dead-lettered by its consumer",
                    );
                    Settlement::DeadLettered(reason)
                }
                Err(error) => {
                    tracing::warn!(
                        message_id = %row.message_id,
                        message_type = %row.message_type,
                        attempts = row.attempts + 1,
                        %error,
                        "outbox relay: hand-over failed; will retry"
                    );
                    Settlement::Retry {
                        delay: error.retry_delay(&settings.retry, row.attempts),
                        error: error.to_string(),
                    }
                }
            };
            (row.message_id.clone(), settlement)
        })
        .collect();
    let count = claimed.len();
    let published = settlements
        .iter()
        .filter(|(_, settlement)| matches!(settlement, Settlement::Published))
        .count() as u64;
    crate::db::run(pool, move |conn| Ok::<_, StoreError>(settle(conn, &settlements)?)).await?;
    metrics::counter!("outbox_published_total").increment(published);
    Ok(count)
}

/// The claim: up to `batch` due rows, oldest first, leased for `lease_secs` (the database's clock).
fn claim(conn: &mut DbConn, batch: i64, lease_secs: i64) -> QueryResult<Vec<Claimed>> {
    let backend = conn.backend();
    let now = clock::now(backend);
    let lease_until = clock::now_plus(backend, Duration::from_secs(lease_secs.max(0) as u64));
    let statement = match backend {
        Backend::Postgresql => format!(
            "UPDATE outbox_messages SET next_attempt_at = {lease_until} \
             WHERE message_id IN ( \
                 SELECT message_id FROM outbox_messages \
                 WHERE published_at IS NULL AND next_attempt_at <= {now} \
                 ORDER BY next_attempt_at, created_at LIMIT $1 FOR UPDATE SKIP LOCKED) \
             RETURNING message_id, exchange, routing_key, message_type, body, attempts"
        ),
        // One statement holds SQLite's single write lock from the SELECT to the UPDATE, so no other
        // relay can claim the same rows in between.
        Backend::Sqlite => format!(
            "UPDATE outbox_messages SET next_attempt_at = {lease_until} \
             WHERE message_id IN ( \
                 SELECT message_id FROM outbox_messages \
                 WHERE published_at IS NULL AND next_attempt_at <= {now} \
                 ORDER BY next_attempt_at, created_at LIMIT ?1) \
             RETURNING message_id, exchange, routing_key, message_type, body, attempts"
        ),
    };
    diesel::sql_query(statement).bind::<BigInt, _>(batch).load(conn)
}

fn settle(conn: &mut DbConn, settlements: &[(String, Settlement)]) -> QueryResult<()> {
    use outbox_messages::dsl;
    let backend = conn.backend();
    let now = || clock::now_expression(backend);
    crate::db::transaction(conn, |conn| {
        let published: Vec<&String> = settlements
            .iter()
            .filter(|(_, settlement)| matches!(settlement, Settlement::Published))
            .map(|(message_id, _)| message_id)
            .collect();
        if !published.is_empty() {
            diesel::update(dsl::outbox_messages.filter(dsl::message_id.eq_any(published)))
                .set((
                    dsl::published_at.eq(now().nullable()),
                    dsl::attempts.eq(dsl::attempts + 1),
                ))
                .execute(conn)?;
        }
        for (message_id, settlement) in settlements {
            match settlement {
                Settlement::Published => {}
                Settlement::Retry { delay, error } => {
                    diesel::update(dsl::outbox_messages.find(message_id))
                        .set((
                            dsl::next_attempt_at.eq(clock::now_plus_expression(backend, *delay)),
                            dsl::attempts.eq(dsl::attempts + 1),
                            dsl::last_error.eq(error),
                        ))
                        .execute(conn)?;
                }
                Settlement::DeadLettered(reason) => {
                    diesel::update(dsl::outbox_messages.find(message_id))
                        .set((
                            dsl::published_at.eq(now().nullable()),
                            dsl::attempts.eq(dsl::attempts + 1),
                            dsl::last_error.eq(format!("dead-lettered: {reason}")),
                        ))
                        .execute(conn)?;
                }
            }
        }
        Ok(())
    })
}

/// Makes every pending row due now, voiding the claims of earlier runs (and the back-off of rows
/// waiting for a retry; their attempt counts still advance). Only for a process that owns its
/// outbox alone, such as the one-process platform holding its data directory's lock: there every
/// claim found at start was left by a run that was killed mid-message.
pub fn void_stale_claims(conn: &mut DbConn) -> QueryResult<usize> {
    use outbox_messages::dsl;
    let backend = conn.backend();
    let now = || clock::now_expression(backend);
    diesel::update(
        dsl::outbox_messages
            .filter(dsl::published_at.is_null())
            .filter(dsl::next_attempt_at.gt(now())),
    )
    .set(dsl::next_attempt_at.eq(now()))
    .execute(conn)
}

/// Why a row was not handed over.
#[derive(Debug, thiserror::Error)]
enum HandOverError {
    /// Written by a version that knows an exchange this one does not: kept for a relay that knows
    /// it, never published (the broker would close the shared channel on an unknown name).
    #[error("unknown exchange {0:?}: kept for a relay that knows it")]
    UnknownExchange(String),
    #[error(transparent)]
    Bus(#[from] PublishError),
}

impl HandOverError {
    /// The wait before the next try: the relay's back-off, or its longest delay for a row that
    /// only a newer relay can publish.
    fn retry_delay(&self, retry: &BackoffSettings, attempts: i32) -> Duration {
        match self {
            HandOverError::UnknownExchange(_) => Duration::from_millis(retry.max_ms),
            HandOverError::Bus(_) => retry.delay(attempts.max(0) as u32),
        }
    }
}
