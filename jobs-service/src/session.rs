//! One run of one job, on a dedicated connection that holds the job's PostgreSQL advisory lock.
//!
//! The lock is a session lock: it lives exactly as long as the connection. A runner that dies
//! (SIGKILL, crash, lost network) closes the connection and so frees the job for the next tick of
//! any replica. Every batch of the run executes on that same connection, which is the fencing: a
//! runner whose connection (and so lock) is gone cannot delete anything either.

use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer};
use secrecy::ExposeSecret;
use shared::configuration::DatabaseSettings;
use shared::db::DbConn;

/// The first key of every jobs-service advisory lock (`pg_try_advisory_lock(int, int)`); the second
/// is the job's number. ASCII "jobs".
const LOCK_NAMESPACE: i32 = 0x6a6f_6273;

/// A dedicated connection holding one job's lock.
pub struct JobSession {
    /// `None` only while a batch runs on the blocking pool, or after a batch task panicked.
    conn: Option<DbConn>,
    lock_key: i32,
}

impl JobSession {
    /// Opens a connection and tries to take the job's lock; `None` when another runner holds it.
    pub async fn try_acquire(
        database: &DatabaseSettings,
        lock_key: i32,
    ) -> anyhow::Result<Option<JobSession>> {
        let url = database.url.expose_secret().to_owned();
        let statement_timeout_ms = database.statement_timeout_ms;
        tokio::task::spawn_blocking(move || -> anyhow::Result<Option<JobSession>> {
            let mut conn =
                DbConn::establish(&url).context("cannot connect to the database (DATABASE_URL)")?;
            conn.batch_execute(&format!(
                "SET TIME ZONE 'UTC'; SET statement_timeout = {statement_timeout_ms}; \
                 SET application_name = 'jobs-service';"
            ))
            .context("failed to set up the job's session")?;
            if !try_lock(&mut conn, lock_key).context("failed to try the job's advisory lock")? {
                return Ok(None);
            }
            Ok(Some(JobSession {
                conn: Some(conn),
                lock_key,
            }))
        })
        .await
        .context("the connection task did not complete")?
    }

    /// Runs `work` on the session's connection, off the async threads.
    pub async fn run<T, F>(&mut self, work: F) -> anyhow::Result<T>
    where
        F: FnOnce(&mut DbConn) -> anyhow::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let mut conn = self
            .conn
            .take()
            .context("the job's connection was lost in an earlier batch")?;
        let (conn, outcome) = tokio::task::spawn_blocking(move || {
            let outcome = work(&mut conn);
            (conn, outcome)
        })
        .await
        .context("a batch task did not complete")?;
        self.conn = Some(conn);
        outcome
    }

    /// Releases the lock and closes the connection (dropping the session does the same, through
    /// the closed connection).
    pub async fn release(mut self) {
        let lock_key = self.lock_key;
        if let Some(mut conn) = self.conn.take() {
            let _ = tokio::task::spawn_blocking(move || {
                let _ = diesel::sql_query("SELECT pg_advisory_unlock($1, $2)")
                    .bind::<Integer, _>(LOCK_NAMESPACE)
                    .bind::<Integer, _>(lock_key)
                    .execute(&mut conn);
            })
            .await;
        }
    }
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

fn try_lock(conn: &mut DbConn, lock_key: i32) -> QueryResult<bool> {
    diesel::sql_query("SELECT pg_try_advisory_lock($1, $2) AS locked")
        .bind::<Integer, _>(LOCK_NAMESPACE)
        .bind::<Integer, _>(lock_key)
        .get_result::<Locked>(conn)
        .map(|row| row.locked)
}
