//! The database: the one connection type on either backend, its pool, `run` (which takes a
//! synchronous diesel query off the async threads), transactions, migrations and the errors.
//!
//! PostgreSQL is the production backend; SQLite serves the one-command platform and a single service
//! tried alone (`DATABASE_URL=sqlite://...`). Both run the same diesel code. Where PostgreSQL can do
//! something SQLite cannot, the PostgreSQL statement stays and SQLite gets a single-process
//! equivalent in one named place: row locks ([`transaction`], [`select_for_update!`]), and in the
//! services the outbox claim, the purge batches and the job locks.

pub mod clock;
mod connection;
mod error;
mod migrations;
mod text_column;
mod transaction;

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{CustomizeConnection, ManageConnection, Pool, PooledConnection, R2D2Connection};
use secrecy::ExposeSecret;
use tokio::sync::Semaphore;

pub use connection::{Backend, DbBackend, DbConn, MultiBackend, SessionSettings, connect};
pub use error::{DbError, StoreError, is_connection_failure, is_unavailable};
pub use migrations::{Migrations, migrate, pending_versions, run_migrations, wait_until_migrated};
pub use transaction::transaction;

use crate::configuration::DatabaseSettings;

/// A pool of [`DbConn`] with fair admission: [`run`] waits its turn on a FIFO semaphore with as many
/// permits as connections, so under load requests are served in arrival order. (r2d2's own wait
/// lets a thread that just returned a connection take it again ahead of older waiters, which left
/// some requests waiting hundreds of milliseconds at the 99th percentile.)
#[derive(Clone, Debug)]
pub struct DbPool {
    connections: Pool<DbConnectionManager>,
    turns: Arc<Semaphore>,
    acquire_timeout: Duration,
    /// The longest [`run`] waits for its answer: the acquire timeout, the statement timeout and a
    /// little slack (see [`run`]).
    call_timeout: Duration,
    backend: Option<Backend>,
}

impl DbPool {
    /// A connection, waiting at most the acquire timeout (for code that runs outside [`run`]: the
    /// CLI, migrations, tests).
    pub fn get(&self) -> Result<PooledDbConn, diesel::r2d2::PoolError> {
        self.connections.get()
    }

    /// The backend the URL names (`None` for a URL that names none; connecting then fails with
    /// the reason).
    pub fn backend(&self) -> Option<Backend> {
        self.backend
    }

    /// The longest a call through [`run`] waits before it answers "unavailable".
    pub fn call_timeout(&self) -> Duration {
        self.call_timeout
    }
}

/// Slack over the acquire and statement timeouts before [`run`] stops waiting on its own: the
/// server's `statement_timeout` should have answered by then, so this fires only when the server
/// cannot answer at all.
const CALL_TIMEOUT_SLACK: Duration = Duration::from_millis(500);

/// The longest a readiness probe's `SELECT 1` may take: probes time out after a couple of seconds
/// (`timeoutSeconds: 2` in deploy/k8s), and a late "ready" is as good as none.
const PING_TIMEOUT: Duration = Duration::from_millis(1500);

/// A connection checked out of a [`DbPool`].
pub type PooledDbConn = PooledConnection<DbConnectionManager>;

thread_local! {
    /// Set by [`run`] just before it returns a connection found dead, so that the pool discards it.
    static DISCARD_RETURNED_CONNECTION: Cell<bool> = const { Cell::new(false) };
}

/// Opens connections for the pool (to either backend, by the URL's scheme), and discards those whose
/// socket died: diesel only reports a connection broken when its transaction state is, and a
/// connection to a database that restarted would otherwise go back to the pool and fail every
/// request that draws it, forever.
#[derive(Debug)]
pub struct DbConnectionManager {
    url: String,
    session: SessionSettings,
}

impl ManageConnection for DbConnectionManager {
    type Connection = DbConn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConn, Self::Error> {
        connect(&self.url, &self.session).map_err(diesel::r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        // r2d2 calls this synchronously while the connection is dropped, on the dropping thread.
        DISCARD_RETURNED_CONNECTION.with(|discard| discard.replace(false)) || conn.is_broken()
    }
}

/// Builds the pool without connecting, so a service starts (and reports not-ready) while the
/// database is down, and recovers by itself when it comes back.
pub fn build_pool(settings: &DatabaseSettings) -> DbPool {
    let url = settings.url.expose_secret().to_owned();
    let backend = Backend::of(&url).ok();
    let manager = DbConnectionManager {
        url,
        session: SessionSettings {
            statement_timeout_ms: settings.statement_timeout_ms,
        },
    };
    let acquire_timeout = Duration::from_millis(settings.acquire_timeout_ms);
    let connections = Pool::builder()
        .max_size(settings.pool_size)
        .min_idle(Some(settings.pool_size.min(2)))
        .connection_timeout(acquire_timeout)
        // A `SELECT 1` before every checkout would double the round trips of every request; broken
        // connections are detected when a query fails and are then discarded by the pool.
        .test_on_check_out(false)
        .connection_customizer(Box::new(NoCustomization))
        .build_unchecked(manager);
    let turns = Arc::new(Semaphore::new(settings.pool_size as usize));
    DbPool {
        connections,
        turns,
        acquire_timeout,
        call_timeout: acquire_timeout
            + Duration::from_millis(settings.statement_timeout_ms)
            + CALL_TIMEOUT_SLACK,
        backend,
    }
}

/// The session settings are applied by the manager's `connect`, which dedicated connections (a job's
/// lock holder, the CLI) share with the pool.
#[derive(Debug)]
struct NoCustomization;

impl CustomizeConnection<DbConn, diesel::r2d2::Error> for NoCustomization {}

/// Runs a synchronous database closure on the blocking thread pool with a pooled connection.
/// The closure returns its own error type, which must be able to express [`DbError`].
///
/// The caller gets an answer within [`DbPool::call_timeout`] whatever the network does: a server
/// that stopped answering without closing the connection (a partition, packets silently dropped)
/// would otherwise hold the caller until TCP gives up, about 15 minutes. The closure itself cannot
/// be cancelled: it keeps its connection and its turn until libpq's keepalives and
/// `tcp_user_timeout` end it (see `connection::with_client_bounds`), and if it commits meanwhile
/// the caller has already answered 503, as for any commit whose answer was lost.
pub async fn run<T, E, F>(pool: &DbPool, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
{
    run_within(pool, pool.call_timeout, work).await
}

/// [`run`] with a shorter bound of its own.
async fn run_within<T, E, F>(pool: &DbPool, bound: Duration, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
{
    match tokio::time::timeout(bound, run_unbounded(pool, work)).await {
        Ok(outcome) => outcome,
        Err(_) => {
            metrics::counter!("db_calls_timed_out_total").increment(1);
            Err(DbError::TimedOut(bound).into())
        }
    }
}

async fn run_unbounded<T, E, F>(pool: &DbPool, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
{
    let started = std::time::Instant::now();
    let turn = tokio::time::timeout(pool.acquire_timeout, pool.turns.clone().acquire_owned())
        .await
        .map_err(|_| DbError::Saturated)?
        .map_err(|_| DbError::Saturated)?;
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        let mut conn = pool
            .connections
            .get_timeout(pool.acquire_timeout.saturating_sub(started.elapsed()))
            .map_err(DbError::Unavailable)?;
        let outcome = work(&mut conn);
        // Only on the error path (so the happy path pays no extra round trip): a connection that
        // cannot run `SELECT 1` is dead and must not go back to the pool.
        if outcome.is_err() && conn.batch_execute("SELECT 1").is_err() {
            DISCARD_RETURNED_CONNECTION.with(|discard| discard.set(true));
        }
        drop(conn);
        outcome
    })
    .await
    .map_err(DbError::TaskFailed)?
}

/// A raw statement written with PostgreSQL's placeholders (`$1`, `$2`, ...), as the connection's
/// backend reads it: SQLite's numbered placeholders are `?1`, `?2`. For the statements whose SQL
/// both backends understand otherwise (row values, `RETURNING`, `CAST`, correlated subqueries).
pub fn sql_query(conn: &DbConn, statement: &str) -> diesel::query_builder::SqlQuery {
    match conn.backend() {
        Backend::Postgresql => diesel::sql_query(statement),
        Backend::Sqlite => diesel::sql_query(sqlite_placeholders(statement)),
    }
}

/// `$1` to `?1`: the same numbering, so a placeholder used twice stays one parameter.
fn sqlite_placeholders(statement: &str) -> String {
    let mut converted = String::with_capacity(statement.len());
    let mut characters = statement.chars().peekable();
    while let Some(character) = characters.next() {
        let numbered = character == '$' && characters.peek().is_some_and(char::is_ascii_digit);
        converted.push(if numbered { '?' } else { character });
    }
    converted
}

/// Checks that a connection can be obtained and answers, for readiness probes.
pub async fn ping(pool: &DbPool) -> Result<(), String> {
    let bound = PING_TIMEOUT.min(pool.call_timeout);
    let outcome: Result<(), StoreError> = run_within(pool, bound, |conn| {
        conn.batch_execute("SELECT 1").map_err(StoreError::from)
    })
    .await;
    outcome.map_err(|error| match error {
        StoreError::Query(error) => format!("query failed: {error}"),
        unavailable => unavailable.to_string(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn postgresql_placeholders_become_sqlite_numbered_ones() {
        assert_eq!(
            super::sqlite_placeholders("SELECT a FROM t WHERE b < $1 AND c = $12 OR b = $1 AND d = '$'"),
            "SELECT a FROM t WHERE b < ?1 AND c = ?12 OR b = ?1 AND d = '$'"
        );
    }
}
