//! Queries on `account_links`: single-use links sent by email.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use shared::db::DbConn;

use crate::domain::ids::UserId;
use crate::domain::opaque_token::TokenHash;

use super::schema::account_links;

/// What a link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    VerifyEmail,
    ResetPassword,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify_email",
            Purpose::ResetPassword => "reset_password",
        }
    }
}

pub fn insert(
    conn: &mut DbConn,
    token_hash: &TokenHash,
    user_id: &UserId,
    purpose: Purpose,
    now: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(account_links::table)
        .values((
            account_links::token_hash.eq(token_hash.as_str()),
            account_links::user_id.eq(user_id),
            account_links::purpose.eq(purpose.as_str()),
            account_links::created_at.eq(now),
            account_links::expires_at.eq(expires_at),
            account_links::used_at.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)
        .map(|_| ())
}

/// The user of a link that is unused and unexpired (without using it).
pub fn find_usable(
    conn: &mut DbConn,
    token_hash: &TokenHash,
    purpose: Purpose,
    now: NaiveDateTime,
) -> QueryResult<Option<UserId>> {
    account_links::table
        .find(token_hash.as_str())
        .filter(account_links::purpose.eq(purpose.as_str()))
        .filter(account_links::used_at.is_null())
        .filter(account_links::expires_at.gt(now))
        .select(account_links::user_id)
        .first(conn)
        .optional()
}

/// Uses a link: returns its user if it was usable. The row update is the claim, so two concurrent
/// uses of one link cannot both succeed.
pub fn use_once(
    conn: &mut DbConn,
    token_hash: &TokenHash,
    purpose: Purpose,
    now: NaiveDateTime,
) -> QueryResult<Option<UserId>> {
    diesel::update(
        account_links::table
            .find(token_hash.as_str())
            .filter(account_links::purpose.eq(purpose.as_str()))
            .filter(account_links::used_at.is_null())
            .filter(account_links::expires_at.gt(now)),
    )
    .set(account_links::used_at.eq(now))
    .returning(account_links::user_id)
    .get_result(conn)
    .optional()
}

/// Retires every other usable link of that purpose (a new password makes older reset links void).
pub fn retire_all(
    conn: &mut DbConn,
    user_id: &UserId,
    purpose: Purpose,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        account_links::table
            .filter(account_links::user_id.eq(user_id))
            .filter(account_links::purpose.eq(purpose.as_str()))
            .filter(account_links::used_at.is_null()),
    )
    .set(account_links::used_at.eq(now))
    .execute(conn)
}

/// Links of any purpose created for a user since `since` (the per-user email budget).
pub fn count_since(conn: &mut DbConn, user_id: &UserId, since: NaiveDateTime) -> QueryResult<i64> {
    account_links::table
        .filter(account_links::user_id.eq(user_id))
        .filter(account_links::created_at.gt(since))
        .count()
        .get_result(conn)
}
