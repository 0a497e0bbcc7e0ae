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
use crate::error::{OAuthError, StoreError};

/// Rows queued at most; past this, callers wait for room (backpressure instead of unbounded memory).
const QUEUE_CAPACITY: usize = 4096;

/// Hands access-token rows to the writers and waits for their batch to commit.
#[derive(Clone)]
pub struct TokenWriter {
    queue: mpsc::Sender<Queued>,
}

struct Queued {
    row: AccessToken,
    committed: oneshot::Sender<Result<(), BatchFailure>>,
}

/// Why a batch did not commit, copied to every request in it.
#[derive(Debug, Clone, Copy)]
enum BatchFailure {
    Unavailable,
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
        TokenWriter { queue }
    }

    /// Stores one access token; returns once it is committed.
    pub async fn insert(&self, row: AccessToken) -> Result<(), OAuthError> {
        let (committed, outcome) = oneshot::channel();
        let stopped = || OAuthError::unavailable(anyhow::anyhow!("the token writer has stopped"));
        self.queue
            .send(Queued { row, committed })
            .await
            .map_err(|_| stopped())?;
        match outcome.await.map_err(|_| stopped())? {
            Ok(()) => Ok(()),
            Err(BatchFailure::Unavailable) => Err(OAuthError::unavailable(anyhow::anyhow!(
                "the token batch was not stored"
            ))),
            Err(BatchFailure::Failed) => Err(OAuthError::server_error(anyhow::anyhow!(
                "the token batch failed"
            ))),
        }
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
        let (rows, waiting): (Vec<AccessToken>, Vec<_>) = batch
            .into_iter()
            .map(|queued| (queued.row, queued.committed))
            .unzip();
        let count = rows.len();
        let outcome = run(&pool, move |conn| {
            db::access_tokens::insert_batch(conn, &rows).map_err(StoreError::from)
        })
        .await;
        metrics::histogram!("oauth_token_batch_rows").record(count as f64);
        let reply = match &outcome {
            Ok(()) => Ok(()),
            Err(StoreError::Unavailable(_)) => Err(BatchFailure::Unavailable),
            Err(StoreError::Query(error)) if shared::db::is_connection_failure(error) => {
                Err(BatchFailure::Unavailable)
            }
            Err(error) => {
                tracing::error!(error = %format_args!("{error:#}"), rows = count, "an access-token batch failed");
                Err(BatchFailure::Failed)
            }
        };
        for committed in waiting {
            // A request that gave up waiting has dropped its receiver; nothing to tell it.
            let _ = committed.send(reply);
        }
    }
}
