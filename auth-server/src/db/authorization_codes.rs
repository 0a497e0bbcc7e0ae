//! Queries on `authorization_codes`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use shared::db::DbConn;

use crate::domain::ids::{GrantId, UserId};
use crate::domain::opaque_token::TokenHash;

use super::models::AuthorizationCode;
use super::schema::authorization_codes;

pub fn insert(conn: &mut DbConn, code: &AuthorizationCode) -> QueryResult<()> {
    diesel::insert_into(authorization_codes::table)
        .values(code)
        .execute(conn)
        .map(|_| ())
}

pub fn find(conn: &mut DbConn, code_hash: &TokenHash) -> QueryResult<Option<AuthorizationCode>> {
    authorization_codes::table
        .find(code_hash.as_str())
        .select(AuthorizationCode::as_select())
        .first(conn)
        .optional()
}

/// Marks the code used if nobody has; true for the one caller that wins. Concurrent callers block
/// on the row lock and then see `used_at` set, so exactly one redemption succeeds.
pub fn claim(conn: &mut DbConn, code_hash: &TokenHash, now: NaiveDateTime) -> QueryResult<bool> {
    diesel::update(
        authorization_codes::table
            .find(code_hash.as_str())
            .filter(authorization_codes::used_at.is_null()),
    )
    .set(authorization_codes::used_at.eq(now))
    .execute(conn)
    .map(|updated| updated == 1)
}

/// Records the family that the code's redemption created, for revocation on replay.
pub fn set_grant(conn: &mut DbConn, code_hash: &TokenHash, grant_id: &GrantId) -> QueryResult<()> {
    diesel::update(authorization_codes::table.find(code_hash.as_str()))
        .set(authorization_codes::grant_id.eq(grant_id))
        .execute(conn)
        .map(|_| ())
}

/// Makes every unredeemed code of a user unusable (account disabled, password changed).
pub fn burn_all_for_user(conn: &mut DbConn, user_id: &UserId, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        authorization_codes::table
            .filter(authorization_codes::user_id.eq(user_id))
            .filter(authorization_codes::used_at.is_null()),
    )
    .set(authorization_codes::used_at.eq(now))
    .execute(conn)
}

/// Makes every unredeemed code issued in a login session unusable (the session ended).
pub fn burn_all_of_session(
    conn: &mut DbConn,
    session_hash: &TokenHash,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        authorization_codes::table
            .filter(authorization_codes::session_hash.eq(session_hash.as_str()))
            .filter(authorization_codes::used_at.is_null()),
    )
    .set(authorization_codes::used_at.eq(now))
    .execute(conn)
}
