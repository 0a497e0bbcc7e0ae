//! The outbox relay: publishes pending outbox rows with confirms and marks them published.
//!
//! Rows are claimed in short transactions (`FOR UPDATE SKIP LOCKED`, then a lease: `next_attempt_at`
//! moves forward), so any number of relays (replicas, the jobs-service) share one outbox without
//! publishing a row twice in normal operation; a relay that dies holding a claim loses it when the
//! lease ends. A failed publish backs the row off with a growing delay; nothing is ever dropped.
//! The relay wakes on [`OutboxRelay::nudge`] (called after a commit that wrote a message) and on a
//! poll interval (rows written by other processes, and retries).

use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text, Timestamp};
use futures_util::future::join_all;
use serde::Deserialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::contracts::Exchange;
use super::outbox::outbox_messages;
use super::publisher::{Outgoing, Publisher};
use crate::db::{DbPool, StoreError};
use crate::resilience::BackoffSettings;

#[derive(Debug, Clone, Deserialize)]
pub struct RelaySettings {
    /// Rows claimed and published together.
    pub batch_size: i64,
    /// How often the outbox is scanned without a nudge (rows from other processes, retries).
    pub poll_interval_ms: u64,
    /// How long a claim lasts before another relay may take the row.
    pub lease_secs: i64,
    /// Back-off of a row whose publish failed.
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
}

impl OutboxRelay {
    /// Starts relaying in the background until `stop` is cancelled.
    pub fn start(
        pool: DbPool,
        publisher: Publisher,
        settings: RelaySettings,
        stop: CancellationToken,
    ) -> OutboxRelay {
        let wake = Arc::new(Notify::new());
        let relay = OutboxRelay { wake: wake.clone() };
        tokio::spawn(run(pool, publisher, settings, wake, stop));
        relay
    }

    /// Publish now: a transaction that wrote to the outbox has committed.
    pub fn nudge(&self) {
        self.wake.notify_one();
    }
}

async fn run(
    pool: DbPool,
    publisher: Publisher,
    settings: RelaySettings,
    wake: Arc<Notify>,
    stop: CancellationToken,
) {
    let poll = Duration::from_millis(settings.poll_interval_ms);
    loop {
        // Drain: keep going while batches come back full.
        loop {
            if !publisher.supervisor().is_connected() {
                break;
            }
            match relay_batch(&pool, &publisher, &settings).await {
                Ok(claimed) if claimed as i64 >= settings.batch_size => continue,
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(%error, "outbox relay: cannot read the outbox");
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

/// Claims, publishes and settles one batch; returns how many rows it claimed.
async fn relay_batch(
    pool: &DbPool,
    publisher: &Publisher,
    settings: &RelaySettings,
) -> anyhow::Result<usize> {
    let (batch, lease) = (settings.batch_size, settings.lease_secs);
    let claimed = crate::db::run(pool, move |conn| Ok::<_, StoreError>(claim(conn, batch, lease)?)).await?;
    if claimed.is_empty() {
        return Ok(0);
    }
    let topology = publisher.supervisor().topology().clone();
    let outcomes = join_all(claimed.iter().map(|row| {
        let exchange = Exchange::parse(&row.exchange)
            .map(|exchange| topology.exchange(exchange))
            .unwrap_or_else(|| row.exchange.clone());
        async move {
            let outgoing = Outgoing {
                exchange: &exchange,
                routing_key: &row.routing_key,
                message_id: &row.message_id,
                message_type: &row.message_type,
                body: row.body.as_bytes(),
                headers: Vec::new(),
            };
            publisher.publish(&outgoing).await
        }
    }))
    .await;

    let now = Utc::now().naive_utc();
    let mut published = Vec::new();
    let mut failed = Vec::new();
    for (row, outcome) in claimed.iter().zip(outcomes) {
        match outcome {
            Ok(()) => published.push(row.message_id.clone()),
            Err(error) => {
                tracing::warn!(
                    message_id = %row.message_id,
                    message_type = %row.message_type,
                    attempts = row.attempts + 1,
                    %error,
                    "outbox relay: publish failed; will retry"
                );
                let delay = settings.retry.delay(row.attempts.max(0) as u32);
                let next = now + chrono::Duration::milliseconds(delay.as_millis() as i64);
                failed.push((row.message_id.clone(), next, error.to_string()));
            }
        }
    }
    let count = claimed.len();
    let published_count = published.len() as u64;
    crate::db::run(pool, move |conn| {
        Ok::<_, StoreError>(settle(conn, &published, &failed, now)?)
    })
    .await?;
    metrics::counter!("outbox_published_total").increment(published_count);
    Ok(count)
}

fn claim(conn: &mut crate::db::DbConn, batch: i64, lease_secs: i64) -> QueryResult<Vec<Claimed>> {
    let now = Utc::now().naive_utc();
    let lease_until = now + chrono::Duration::seconds(lease_secs);
    diesel::sql_query(
        "UPDATE outbox_messages SET next_attempt_at = $1 \
         WHERE message_id IN ( \
             SELECT message_id FROM outbox_messages \
             WHERE published_at IS NULL AND next_attempt_at <= $2 \
             ORDER BY next_attempt_at, created_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
         RETURNING message_id, exchange, routing_key, message_type, body, attempts",
    )
    .bind::<Timestamp, _>(lease_until)
    .bind::<Timestamp, _>(now)
    .bind::<BigInt, _>(batch)
    .load(conn)
}

fn settle(
    conn: &mut crate::db::DbConn,
    published: &[String],
    failed: &[(String, NaiveDateTime, String)],
    now: NaiveDateTime,
) -> QueryResult<()> {
    use outbox_messages::dsl;
    conn.transaction(|conn| {
        if !published.is_empty() {
            diesel::update(dsl::outbox_messages.filter(dsl::message_id.eq_any(published)))
                .set((dsl::published_at.eq(now), dsl::attempts.eq(dsl::attempts + 1)))
                .execute(conn)?;
        }
        for (message_id, next_attempt_at, error) in failed {
            diesel::update(dsl::outbox_messages.find(message_id))
                .set((
                    dsl::next_attempt_at.eq(next_attempt_at),
                    dsl::attempts.eq(dsl::attempts + 1),
                    dsl::last_error.eq(error),
                ))
                .execute(conn)?;
        }
        Ok(())
    })
}
