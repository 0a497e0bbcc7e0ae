//! The database: the table declarations, the jobs-service's embedded migrations and `job_runs`.

use diesel_migrations::embed_migrations;
use shared::db::Migrations;

pub mod runs;
pub mod schema;

/// The jobs-service's own migrations (`job_runs`, reminder tracking, two indexes on auth tables).
/// Their versions sort after the auth-server's, whose migrations must have run first. The SQLite set
/// has the same versions and tables; only its indexes are built without `CONCURRENTLY`.
pub const MIGRATIONS: Migrations = Migrations {
    postgres: embed_migrations!("migrations/postgres"),
    sqlite: embed_migrations!("migrations/sqlite"),
};
