//! Queries on `refresh_tokens`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use shared::db::DbConn;

use crate::domain::opaque_token::TokenHash;

use super::models::RefreshToken;
use super::schema::{refresh_tokens, users};

pub fn insert(conn: &mut DbConn, token: &RefreshToken) -> QueryResult<()> {
    diesel::insert_into(refresh_tokens::table)
        .values(token)
        .execute(conn)
        .map(|_| ())
}

pub fn find(conn: &mut DbConn, token_hash: &TokenHash) -> QueryResult<Option<RefreshToken>> {
    refresh_tokens::table
        .find(token_hash.as_str())
        .select(RefreshToken::as_select())
        .first(conn)
        .optional()
}

/// The token and its user's name, for introspection; nothing for a disabled user's token.
pub fn find_with_username(
    conn: &mut DbConn,
    token_hash: &TokenHash,
) -> QueryResult<Option<(RefreshToken, String)>> {
    refresh_tokens::table
        .inner_join(users::table)
        .filter(refresh_tokens::token_hash.eq(token_hash.as_str()))
        // A disabled user's token is not found.
        .filter(users::disabled.eq(false))
        .select((RefreshToken::as_select(), users::username))
        .first(conn)
        .optional()
}

/// Marks the token rotated if it is still current; true for the one caller that wins.
pub fn claim_for_rotation(
    conn: &mut DbConn,
    token_hash: &TokenHash,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        refresh_tokens::table
            .find(token_hash.as_str())
            .filter(refresh_tokens::used_at.is_null())
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::used_at.eq(now))
    .execute(conn)
    .map(|updated| updated == 1)
}
