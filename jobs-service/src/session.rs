//! One run of one job, on a dedicated connection, holding the job's lock: only one runner (of any
//! replica or process) runs a job at a time.
//!
//! The lock lives exactly as long as the runner: a runner that dies (SIGKILL, crash, lost network)
//! loses it, which frees the job for the next tick of any replica.
//! - PostgreSQL: a session advisory lock on the dedicated connection. Every batch of the run
//!   executes on that same connection, which is the fencing: a runner whose connection (and so
//!   lock) is gone cannot delete anything either.
//! - SQLite: an exclusive lock on a file next to the database (`<database>.job-<n>.lock`), held by
//!   the open file, so the operating system frees it with the process. Every process that opens
//!   the database file shares that directory, which makes it the single-machine equivalent.

use std::fs::{File, TryLockError};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer};
use secrecy::ExposeSecret;
use shared::configuration::DatabaseSettings;
use shared::db::{DbConn, SessionSettings};

/// The job session's settings on PostgreSQL. A runner that stops without closing its connection
/// (frozen, partitioned, powered off) would otherwise keep the session, and the lock, until the
/// kernel gives up on the socket (about two hours): the server ends a session idle for
/// `dead_runner_timeout`, and its keepalive probes (a third of that, three of them) notice a host
/// that is gone.
fn session_setup(dead_runner_timeout: Duration) -> String {
    let millis = dead_runner_timeout.as_millis().max(1000);
    let probe_secs = (dead_runner_timeout.as_secs() / 3).max(1);
    format!(
        "SET application_name = 'jobs-service'; SET idle_session_timeout = {millis}; \
         SET idle_in_transaction_session_timeout = {millis}; SET tcp_keepalives_idle = {probe_secs}; \
         SET tcp_keepalives_interval = {probe_secs}; SET tcp_keepalives_count = 3;"
    )
}

/// The first key of every jobs-service advisory lock (`pg_try_advisory_lock(int, int)`); the second
/// is the job's number. ASCII "jobs".
const LOCK_NAMESPACE: i32 = 0x6a6f_6273;

/// A dedicated connection holding one job's lock.
pub struct JobSession {
    /// `None` only while a batch runs on the blocking pool, or after a batch task panicked.
    conn: Option<DbConn>,
    lock: JobLock,
}

/// How the job is held.
enum JobLock {
    /// `pg_try_advisory_lock(LOCK_NAMESPACE, key)` on the session's connection.
    Advisory(i32),
    /// The open, exclusively locked file; closing it releases the lock.
    File(#[expect(dead_code, reason = "held for its lock, never read")] File),
}

impl JobSession {
    /// Opens a connection and tries to take the job's lock; `None` when another runner holds it.
    pub async fn try_acquire(
        database: &DatabaseSettings,
        lock_key: i32,
        dead_runner_timeout: Duration,
    ) -> anyhow::Result<Option<JobSession>> {
        let url = database.url.expose_secret().to_owned();
        let session = SessionSettings {
            statement_timeout_ms: database.statement_timeout_ms,
        };
        tokio::task::spawn_blocking(move || -> anyhow::Result<Option<JobSession>> {
            let mut conn = shared::db::connect(&url, &session)
                .context("cannot connect to the database (DATABASE_URL)")?;
            let lock = match &mut conn {
                DbConn::Postgresql(pg) => {
                    pg.batch_execute(&session_setup(dead_runner_timeout))
                        .context("failed to set up the job's session")?;
                    if !try_advisory_lock(&mut conn, lock_key)
                        .context("failed to try the job's advisory lock")?
                    {
                        return Ok(None);
                    }
                    JobLock::Advisory(lock_key)
                }
                DbConn::Sqlite(_) => match try_file_lock(&url, lock_key)? {
                    Some(file) => JobLock::File(file),
                    None => return Ok(None),
                },
            };
            Ok(Some(JobSession {
                conn: Some(conn),
                lock,
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
    /// the closed connection or file).
    pub async fn release(mut self) {
        let JobLock::Advisory(lock_key) = self.lock else {
            return;
        };
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

fn try_advisory_lock(conn: &mut DbConn, lock_key: i32) -> QueryResult<bool> {
    diesel::sql_query("SELECT pg_try_advisory_lock($1, $2) AS locked")
        .bind::<Integer, _>(LOCK_NAMESPACE)
        .bind::<Integer, _>(lock_key)
        .get_result::<Locked>(conn)
        .map(|row| row.locked)
}

/// Takes `<database file>.job-<key>.lock` exclusively, or `None` when another runner holds it.
fn try_file_lock(url: &str, lock_key: i32) -> anyhow::Result<Option<File>> {
    let database = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let path = PathBuf::from(format!("{database}.job-{lock_key}.lock"));
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open the job's lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(error)) => {
            Err(error).with_context(|| format!("cannot lock the job's lock file {}", path.display()))
        }
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn sqlite_settings(directory: &std::path::Path) -> DatabaseSettings {
        DatabaseSettings {
            url: SecretString::from(format!("sqlite://{}/jobs.db", directory.display())),
            pool_size: 1,
            acquire_timeout_ms: 1_000,
            statement_timeout_ms: 1_000,
            migrate_on_start: false,
        }
    }

    #[tokio::test]
    async fn on_sqlite_a_second_runner_is_refused_the_job_until_the_first_lets_go() {
        let directory = tempfile::tempdir().unwrap();
        let settings = sqlite_settings(directory.path());

        let first = JobSession::try_acquire(&settings, 1, MINUTE).await.unwrap();
        let second = JobSession::try_acquire(&settings, 1, MINUTE).await.unwrap();
        let other_job = JobSession::try_acquire(&settings, 2, MINUTE).await.unwrap();

        assert!(first.is_some(), "a free job is taken");
        assert!(second.is_none(), "a held job is refused");
        assert!(other_job.is_some(), "another job is not held by it");
        first.unwrap().release().await;
        assert!(
            JobSession::try_acquire(&settings, 1, MINUTE)
                .await
                .unwrap()
                .is_some(),
            "released, the job is free again"
        );
    }
}
