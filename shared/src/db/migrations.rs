//! Embedded migrations, one set per backend. Where a service's SQL is portable both backends apply
//! the same directory (named twice: an `EmbeddedMigrations` cannot be copied); where it is not
//! (PostgreSQL's `CREATE INDEX CONCURRENTLY`) the SQLite set has the same version names and the same
//! resulting tables, which the schema tests check on both backends.

use diesel_migrations::{EmbeddedMigrations, MigrationHarness};

use super::{DbConn, DbPool};

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
pub fn run_migrations(conn: &mut DbConn, migrations: Migrations) -> anyhow::Result<Vec<String>> {
    let source = match conn {
        DbConn::Postgresql(_) => migrations.postgres,
        DbConn::Sqlite(_) => migrations.sqlite,
    };
    let applied = conn
        .run_pending_migrations(source)
        .map_err(|error| anyhow::anyhow!("failed to apply database migrations: {error}"))?;
    Ok(applied.into_iter().map(|version| version.to_string()).collect())
}
