//! Embedded migrations, one set per backend. Where a service's SQL is portable both backends apply
//! the same directory (named twice: an `EmbeddedMigrations` cannot be copied); where it is not
//! (PostgreSQL's `CREATE INDEX CONCURRENTLY`) the SQLite set has the same version names and the same
//! resulting tables, which the schema tests check on both backends.
//!
//! On PostgreSQL a session advisory lock serialises migrations: replicas that all migrate at start,
//! or a migration Job started twice, apply each migration once and the others wait. A service that
//! must not migrate (its role cannot) waits instead for the version it needs ([`wait_until_migrated`],
//! `migrate --wait` in each binary, the init container of the Kubernetes Deployments).

use std::time::{Duration, Instant};

use diesel::RunQueryDsl;
use diesel::migration::MigrationSource;
use diesel::sql_types::{BigInt, Text};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness};

use super::{DbConn, DbPool, SessionSettings};

/// The advisory lock every migration run holds on PostgreSQL ("migrate" in ASCII).
const MIGRATION_LOCK: i64 = 0x006d_6967_7261_7465;

/// A service's migrations for each backend.
pub struct Migrations {
    pub postgres: EmbeddedMigrations,
    pub sqlite: EmbeddedMigrations,
}

/// Applies pending migrations from a pool, off the async threads (a service's `migrate` subcommand
/// and its `migrate_on_start`).
pub async fn migrate(pool: &DbPool, migrations: Migrations) -> anyhow::Result<Vec<String>> {
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

/// Applies every pending migration of the connection's backend, returning the versions applied.
/// On PostgreSQL it holds [`MIGRATION_LOCK`] meanwhile, waiting for a concurrent run to finish.
pub fn run_migrations(conn: &mut DbConn, migrations: Migrations) -> anyhow::Result<Vec<String>> {
    let locked = matches!(conn, DbConn::Postgresql(_));
    if locked {
        diesel::sql_query("SELECT pg_advisory_lock($1)")
            .bind::<BigInt, _>(MIGRATION_LOCK)
            .execute(conn)
            .map_err(|error| anyhow::anyhow!("cannot take the migration lock: {error}"))?;
    }
    let source = match conn {
        DbConn::Postgresql(_) => migrations.postgres,
        DbConn::Sqlite(_) => migrations.sqlite,
    };
    let applied = conn
        .run_pending_migrations(source)
        .map(|applied| applied.into_iter().map(|version| version.to_string()).collect())
        .map_err(|error| anyhow::anyhow!("failed to apply database migrations: {error}"));
    if locked {
        // Closing the session would release it too; a pooled connection lives on.
        let _ = diesel::sql_query("SELECT pg_advisory_unlock($1)")
            .bind::<BigInt, _>(MIGRATION_LOCK)
            .execute(conn);
    }
    applied
}

#[derive(diesel::QueryableByName)]
struct AppliedVersion {
    #[diesel(sql_type = Text)]
    version: String,
}

/// The versions this binary knows that the database has not applied, read without writing anything
/// (diesel's own check creates its bookkeeping table, which a service's role may not): only SELECT
/// on `__diesel_schema_migrations` is needed. A database without that table has applied nothing.
pub fn pending_versions(conn: &mut DbConn, migrations: &Migrations) -> anyhow::Result<Vec<String>> {
    let known: Vec<String> = match conn {
        DbConn::Postgresql(_) => versions::<diesel::pg::Pg>(&migrations.postgres)?,
        DbConn::Sqlite(_) => versions::<diesel::sqlite::Sqlite>(&migrations.sqlite)?,
    };
    let applied: Vec<String> = match diesel::sql_query("SELECT version FROM __diesel_schema_migrations")
        .load::<AppliedVersion>(conn)
    {
        Ok(rows) => rows.into_iter().map(|row| row.version).collect(),
        Err(error) if is_missing_table(&error) => Vec::new(),
        Err(error) => anyhow::bail!("cannot read which migrations are applied: {error}"),
    };
    Ok(known
        .into_iter()
        .filter(|version| !applied.contains(version))
        .collect())
}

fn versions<DB: diesel::backend::Backend>(source: &EmbeddedMigrations) -> anyhow::Result<Vec<String>> {
    let migrations = MigrationSource::<DB>::migrations(source)
        .map_err(|error| anyhow::anyhow!("cannot read the embedded migrations: {error}"))?;
    Ok(migrations
        .iter()
        .map(|migration| migration.name().version().to_string())
        .collect())
}

fn is_missing_table(error: &diesel::result::Error) -> bool {
    let message = error.to_string();
    message.contains("does not exist") || message.contains("no such table")
}

/// Waits until the database at `url` has every migration of `migrations`, checking every second,
/// for at most `timeout`: for a process that must not migrate but needs the schema (a Deployment's
/// init container, while the migration Job runs). A database not reachable yet counts as not ready.
pub async fn wait_until_migrated(
    url: &str,
    session: &SessionSettings,
    migrations: Migrations,
    timeout: Duration,
) -> anyhow::Result<()> {
    let migrations = std::sync::Arc::new(migrations);
    let deadline = Instant::now() + timeout;
    loop {
        let (url, session, migrations) = (url.to_owned(), session.clone(), migrations.clone());
        let outcome = tokio::task::spawn_blocking(move || {
            super::connect(&url, &session)
                .map_err(|error| anyhow::anyhow!("cannot connect (DATABASE_URL): {error}"))
                .and_then(|mut conn| pending_versions(&mut conn, &migrations))
        })
        .await
        .map_err(|error| anyhow::anyhow!("the check did not complete: {error}"))?;
        let reason = match outcome {
            Ok(pending) if pending.is_empty() => return Ok(()),
            Ok(pending) => format!("not applied yet: {}", pending.join(", ")),
            Err(error) => format!("{error:#}"),
        };
        if Instant::now() >= deadline {
            anyhow::bail!(
                "the database is not migrated after {} s ({reason})",
                timeout.as_secs()
            );
        }
        tracing::info!(%reason, "waiting for the migrations");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
