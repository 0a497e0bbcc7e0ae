//! Group commit for access tokens issued by client_credentials, the one hot write path.
//!
//! Concurrent requests hand their token row to a writer, which stores every row waiting at that
//! moment with one multi-row INSERT and one commit. Each request is answered only after its batch has
//! committed, so nothing is acknowledged that is not durable; under load PostgreSQL parses, plans
//! and flushes the WAL once per batch instead of once per token (measured on this machine: about
//! three times the rows per second of single-row inserts).

use std::sync::Arc;

use shared::db::{DbPool, run};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::db;
use crate::db::models::AccessToken;
use crate::error::StoreError;

/// Rows queued at most; past this, callers wait for room (backpressure instead of unbounded memory).
const QUEUE_CAPACITY: usize = 4096;

/// Hands access-token rows to the writers and waits for their batch to commit.
#[derive(Clone)]
pub struct TokenWriter {
    queue: mpsc::Sender<Queued>,
    /// The longest a caller waits for its row, queueing included (the pool's call bound).
    answer_within: std::time::Duration,
}

struct Queued {
    row: AccessToken,
    committed: oneshot::Sender<Result<(), WriteError>>,
}

/// Why a token was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteError {
    /// The database could not be reached: 503.
    Unavailable,
    /// The client was deleted meanwhile (its registration was still cached): `invalid_client`.
    ClientGone,
    Failed,
}

impl TokenWriter {
    /// Starts `writers` writer tasks on the current runtime, each writing batches of at most
    /// `max_batch` rows; several writers let one batch fill while another commits.
    pub fn start(pool: DbPool, writers: usize, max_batch: usize) -> TokenWriter {
        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..writers.max(1) {
            tokio::spawn(write_batches(pool.clone(), receiver.clone(), max_batch.max(1)));
        }
        TokenWriter {
            queue,
            answer_within: pool.call_timeout(),
        }
    }

    /// Stores one access token; returns once it is committed, or `Unavailable` after the pool's
    /// call bound: a writer stuck on a database that stopped answering holds its batch until `run`
    /// gives up, and the rows queued behind it must not wait longer than one call either.
    pub async fn insert(&self, row: AccessToken) -> Result<(), WriteError> {
        match tokio::time::timeout(self.answer_within, self.queue_and_wait(row)).await {
            Ok(reply) => reply,
            Err(_) => Err(WriteError::Unavailable),
        }
    }

    async fn queue_and_wait(&self, row: AccessToken) -> Result<(), WriteError> {
        let (committed, outcome) = oneshot::channel();
        self.queue
            .send(Queued { row, committed })
            .await
            .map_err(|_| WriteError::Unavailable)?;
        outcome.await.map_err(|_| WriteError::Unavailable)?
    }
}

async fn write_batches(pool: DbPool, receiver: Arc<Mutex<mpsc::Receiver<Queued>>>, max_batch: usize) {
    loop {
        let mut batch = Vec::new();
        {
            let mut receiver = receiver.lock().await;
            if receiver.recv_many(&mut batch, max_batch).await == 0 {
                return; // Every sender is gone: the application is shutting down.
            }
        }
        let count = batch.len();
        metrics::histogram!("oauth_token_batch_rows").record(count as f64);
        let rows: Vec<AccessToken> = batch.iter().map(|queued| queued.row.clone()).collect();
        let outcome = run(&pool, move |conn| {
            db::access_tokens::insert_batch(conn, &rows).map_err(StoreError::from)
        })
        .await;
        let replies: Vec<Result<(), WriteError>> = match outcome {
            Ok(()) => vec![Ok(()); count],
            Err(error) if error.is_unavailable() => vec![Err(WriteError::Unavailable); count],
            // One bad row (a client deleted while still cached) must not fail its neighbours:
            // store the rows one by one and answer each on its own.
            Err(_) => store_one_by_one(&pool, batch.iter().map(|queued| queued.row.clone()).collect()).await,
        };
        for (queued, reply) in batch.into_iter().zip(replies) {
            // A request that gave up waiting has dropped its receiver; nothing to tell it.
            let _ = queued.committed.send(reply);
        }
    }
}

async fn store_one_by_one(pool: &DbPool, rows: Vec<AccessToken>) -> Vec<Result<(), WriteError>> {
    let count = rows.len();
    let outcome = run(pool, move |conn| {
        Ok::<_, StoreError>(
            rows.iter()
                .map(|row| match db::access_tokens::insert(conn, row) {
                    Ok(()) => Ok(()),
                    Err(diesel::result::Error::DatabaseError(
                        diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                        _,
                    )) => Err(WriteError::ClientGone),
                    Err(error) if shared::db::is_connection_failure(&error) => Err(WriteError::Unavailable),
                    Err(error) => {
                        tracing::error!(error = %error, "an access token could not be stored");
                        Err(WriteError::Failed)
                    }
                })
                .collect::<Vec<_>>(),
        )
    })
    .await;
    outcome.unwrap_or_else(|_| vec![Err(WriteError::Unavailable); count])
}
