//! The auth-server's tables: the hand-kept schema, the row types and one query module per table.
//! Queries are small functions over `&mut DbConn` returning `QueryResult`.

use diesel_migrations::embed_migrations;
/// The auth database's tables, declared in `shared` (the jobs-service works on them too).
pub use shared::auth_schema as schema;
use shared::db::Migrations;

pub mod access_tokens;
pub mod account_events;
pub mod account_links;
pub mod authorization_codes;
pub mod authorization_requests;
pub mod clients;
pub mod consents;
pub mod grants;
pub mod login_sessions;
pub mod models;
pub mod refresh_tokens;
pub mod scopes;
pub mod signing_keys;
pub mod user_claims;
pub mod username_reservations;
pub mod users;

/// The migrations of the auth database, embedded in the binary. The SQL is portable (text ids, UTC
/// `TIMESTAMP`, partial indexes, `ON CONFLICT DO NOTHING`), so both backends apply the same files.
pub const MIGRATIONS: Migrations = Migrations {
    postgres: embed_migrations!("migrations"),
    sqlite: embed_migrations!("migrations"),
};

/// Whether a query failed on a unique constraint (a duplicate name, say).
pub fn is_unique_violation(error: &diesel::result::Error) -> bool {
    matches!(
        error,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}
