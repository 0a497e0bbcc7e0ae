//! Queries on `access_tokens`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use shared::db::DbConn;

use crate::domain::opaque_token::TokenHash;

use super::models::AccessToken;
use super::schema::{access_tokens, users};

pub fn insert(conn: &mut DbConn, token: &AccessToken) -> QueryResult<()> {
    diesel::insert_into(access_tokens::table)
        .values(token)
        .execute(conn)
        .map(|_| ())
}

/// Stores several tokens with one multi-row INSERT (diesel builds one for each backend, but not for
/// the two together).
pub fn insert_batch(conn: &mut DbConn, tokens: &[AccessToken]) -> QueryResult<()> {
    shared::on_backend!(conn, conn => diesel::insert_into(access_tokens::table)
        .values(tokens)
        .execute(conn)
        .map(|_| ()))
}

/// The token and its user's name, in one indexed query (the introspection hot path); nothing for
/// a disabled user's token.
pub fn find_with_username(
    conn: &mut DbConn,
    token_hash: &TokenHash,
) -> QueryResult<Option<(AccessToken, Option<String>)>> {
    access_tokens::table
        .left_join(users::table)
        .filter(access_tokens::token_hash.eq(token_hash.as_str()))
        // A disabled user's token is not found (a client's own token has no user).
        .filter(
            users::id
                .nullable()
                .is_null()
                .or(users::disabled.nullable().eq(false)),
        )
        .select((AccessToken::as_select(), users::username.nullable()))
        .first(conn)
        .optional()
}

pub fn find(conn: &mut DbConn, token_hash: &TokenHash) -> QueryResult<Option<AccessToken>> {
    access_tokens::table
        .find(token_hash.as_str())
        .select(AccessToken::as_select())
        .first(conn)
        .optional()
}

pub fn revoke(conn: &mut DbConn, token_hash: &TokenHash, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        access_tokens::table
            .find(token_hash.as_str())
            .filter(access_tokens::revoked_at.is_null()),
    )
    .set(access_tokens::revoked_at.eq(now))
    .execute(conn)
}
