//! Queries on `username_reservations`: usernames held by registrations whose address already had
//! an account (see `accounts::registration`).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use shared::db::DbConn;

use super::schema::{username_reservations, users};

/// Holds `username` with the password typed (its argon2 hash).
pub fn insert(conn: &mut DbConn, username: &str, password_hash: &str, now: NaiveDateTime) -> QueryResult<()> {
    diesel::insert_into(username_reservations::table)
        .values((
            username_reservations::username.eq(username),
            username_reservations::password_hash.eq(password_hash),
            username_reservations::created_at.eq(now),
        ))
        .execute(conn)
        .map(|_| ())
}

/// The password hash a reservation of `username` holds, if there is one.
pub fn password_hash_of(conn: &mut DbConn, username: &str) -> QueryResult<Option<String>> {
    username_reservations::table
        .find(username)
        .select(username_reservations::password_hash)
        .first(conn)
        .optional()
}

/// Whether `username` is used by an account or held by a reservation.
pub fn is_taken(conn: &mut DbConn, username: &str) -> QueryResult<bool> {
    let account = diesel::select(diesel::dsl::exists(
        users::table.filter(users::username.eq(username)),
    ));
    let reservation = diesel::select(diesel::dsl::exists(username_reservations::table.find(username)));
    Ok(account.get_result::<bool>(conn)? || reservation.get_result::<bool>(conn)?)
}
