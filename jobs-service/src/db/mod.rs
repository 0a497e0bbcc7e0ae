//! The database: the table declarations, the jobs-service's embedded migrations and `job_runs`.

use diesel_migrations::{EmbeddedMigrations, embed_migrations};

pub mod runs;
pub mod schema;

/// The jobs-service's own migrations (`job_runs`, reminder tracking, two indexes on auth tables).
/// Their versions sort after the auth-server's, whose migrations must have run first.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");
