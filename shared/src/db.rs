//! The one database connection type, its pool, the embedded-migrations runner and `run`, which takes
//! a synchronous diesel query off the async threads.

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, ManageConnection, Pool, PooledConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness};
use secrecy::ExposeSecret;
use tokio::sync::Semaphore;

use crate::configuration::DatabaseSettings;

/// Every query in the platform runs on this connection type. It is PostgreSQL today; the embedded
/// mode turns it into a diesel `MultiConnection` over PostgreSQL and SQLite, so queries must stay
/// portable (text ids, `TIMESTAMP` in UTC, no arrays, JSON or enums in columns).
pub type DbConn = diesel::PgConnection;

/// The backend of [`DbConn`], for `check_for_backend` in models.
pub type DbBackend = diesel::pg::Pg;

/// A pool of [`DbConn`] with fair admission: [`run`] waits its turn on a FIFO semaphore with as many
/// permits as connections, so under load requests are served in arrival order. (r2d2's own wait
/// lets a thread that just returned a connection take it again ahead of older waiters, which left
/// some requests waiting hundreds of milliseconds at the 99th percentile.)
#[derive(Clone, Debug)]
pub struct DbPool {
    connections: Pool<DbConnectionManager>,
    turns: Arc<Semaphore>,
    acquire_timeout: Duration,
}

impl DbPool {
    /// A connection, waiting at most the acquire timeout (for code that runs outside [`run`]: the
    /// CLI, migrations, tests).
    pub fn get(&self) -> Result<PooledDbConn, diesel::r2d2::PoolError> {
        self.connections.get()
    }
}

/// A connection checked out of a [`DbPool`].
pub type PooledDbConn = PooledConnection<DbConnectionManager>;

thread_local! {
    /// Set by [`run`] just before it returns a connection found dead, so that the pool discards it.
    static DISCARD_RETURNED_CONNECTION: Cell<bool> = const { Cell::new(false) };
}

/// diesel's connection manager, plus a way to discard connections whose socket died. diesel only
/// reports a connection broken when its transaction state is; a connection to a database that
/// restarted would otherwise go back to the pool and fail every request that draws it, forever.
#[derive(Debug)]
pub struct DbConnectionManager(ConnectionManager<DbConn>);

impl ManageConnection for DbConnectionManager {
    type Connection = DbConn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConn, Self::Error> {
        self.0.connect()
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), Self::Error> {
        self.0.is_valid(conn)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        // r2d2 calls this synchronously while the connection is dropped, on the dropping thread.
        DISCARD_RETURNED_CONNECTION.with(|discard| discard.replace(false)) || self.0.has_broken(conn)
    }
}

/// A database call that failed: no connection, or the query itself (for callers of [`run`] whose
/// closure returns diesel errors).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Pool(#[from] DbError),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

/// Why a database call could not be made at all (as opposed to a query that failed).
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be obtained in time: the database is down or saturated.
    #[error("the database is unavailable")]
    Unavailable(#[source] diesel::r2d2::PoolError),
    /// Every connection stayed busy for the whole acquire timeout.
    #[error("the database is saturated")]
    Saturated,
    /// The blocking task panicked or was cancelled.
    #[error("the database task did not complete")]
    TaskFailed(#[source] tokio::task::JoinError),
}

/// Builds the pool without connecting, so a service starts (and reports not-ready) while the
/// database is down, and recovers by itself when it comes back.
pub fn build_pool(settings: &DatabaseSettings) -> DbPool {
    let manager = DbConnectionManager(ConnectionManager::<DbConn>::new(settings.url.expose_secret()));
    let acquire_timeout = Duration::from_millis(settings.acquire_timeout_ms);
    let connections = Pool::builder()
        .max_size(settings.pool_size)
        .min_idle(Some(settings.pool_size.min(2)))
        .connection_timeout(acquire_timeout)
        // A `SELECT 1` before every checkout would double the round trips of every request; broken
        // connections are detected when a query fails and are then discarded by the pool.
        .test_on_check_out(false)
        .connection_customizer(Box::new(SessionSetup {
            statement_timeout_ms: settings.statement_timeout_ms,
        }))
        .build_unchecked(manager);
    let turns = Arc::new(Semaphore::new(settings.pool_size as usize));
    DbPool {
        connections,
        turns,
        acquire_timeout,
    }
}

/// Per-connection session settings applied when the pool opens a connection.
#[derive(Debug)]
struct SessionSetup {
    statement_timeout_ms: u64,
}

impl CustomizeConnection<DbConn, diesel::r2d2::Error> for SessionSetup {
    fn on_acquire(&self, conn: &mut DbConn) -> Result<(), diesel::r2d2::Error> {
        // Timestamps are stored as UTC `TIMESTAMP`; a session time zone other than UTC would shift
        // `now()`-based defaults.
        conn.batch_execute(&format!(
            "SET TIME ZONE 'UTC'; SET statement_timeout = {};",
            self.statement_timeout_ms
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Runs a synchronous database closure on the blocking thread pool with a pooled connection.
/// The closure returns its own error type, which must be able to express [`DbError`].
pub async fn run<T, E, F>(pool: &DbPool, work: F) -> Result<T, E>
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

/// Whether a query error means the database could not do the work now (so 503, not 500): the
/// connection failed, or a statement or lock wait ran out of time under load.
pub fn is_connection_failure(error: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match error {
        Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _,
        )
        | Error::BrokenTransactionManager => true,
        // diesel does not expose PostgreSQL's SQLSTATE (57014, 55P03); these are its messages.
        Error::DatabaseError(_, info) => {
            let message = info.message();
            message.contains("statement timeout") || message.contains("lock timeout")
        }
        _ => false,
    }
}

/// Applies pending migrations from a pool, off the async threads (a service's `migrate` subcommand
/// and its `migrate_on_start`).
pub async fn migrate(pool: &DbPool, migrations: EmbeddedMigrations) -> anyhow::Result<Vec<String>> {
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().map_err(|error| {
            anyhow::anyhow!("cannot connect to the database to migrate it (DATABASE_URL): {error}")
        })?;
        run_migrations(&mut conn, migrations)
    })
    .await
    .map_err(|error| anyhow::anyhow!("the migration task did not complete: {error}"))?
}

/// Applies every pending migration, returning the versions applied.
pub fn run_migrations(conn: &mut DbConn, migrations: EmbeddedMigrations) -> anyhow::Result<Vec<String>> {
    let applied = conn
        .run_pending_migrations(migrations)
        .map_err(|error| anyhow::anyhow!("failed to apply database migrations: {error}"))?;
    Ok(applied.into_iter().map(|version| version.to_string()).collect())
}

/// Checks that a connection can be obtained and answers, for readiness probes.
pub async fn ping(pool: &DbPool) -> Result<(), String> {
    let outcome: Result<(), PingError> = run(pool, |conn| {
        conn.batch_execute("SELECT 1").map_err(PingError::Query)
    })
    .await;
    outcome.map_err(|error| error.to_string())
}

#[derive(Debug, thiserror::Error)]
enum PingError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("query failed: {0}")]
    Query(diesel::result::Error),
}
