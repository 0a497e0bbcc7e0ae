//! Queries on `login_sessions`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use shared::db::DbConn;

use crate::domain::ids::UserId;
use crate::domain::opaque_token::TokenHash;

use super::models::LoginSession;
use super::schema::login_sessions;

pub fn insert(conn: &mut DbConn, session: &LoginSession) -> QueryResult<()> {
    diesel::insert_into(login_sessions::table)
        .values(session)
        .execute(conn)
        .map(|_| ())
}

/// The session with this hash if it is neither expired nor revoked.
pub fn find_active(
    conn: &mut DbConn,
    id_hash: &TokenHash,
    now: NaiveDateTime,
) -> QueryResult<Option<LoginSession>> {
    login_sessions::table
        .find(id_hash.as_str())
        .filter(login_sessions::expires_at.gt(now))
        .filter(login_sessions::revoked_at.is_null())
        .select(LoginSession::as_select())
        .first(conn)
        .optional()
}

pub fn revoke(conn: &mut DbConn, id_hash: &TokenHash, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        login_sessions::table
            .find(id_hash.as_str())
            .filter(login_sessions::revoked_at.is_null()),
    )
    .set(login_sessions::revoked_at.eq(now))
    .execute(conn)
}

pub fn revoke_all_for_user(conn: &mut DbConn, user_id: &UserId, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        login_sessions::table
            .filter(login_sessions::user_id.eq(user_id))
            .filter(login_sessions::revoked_at.is_null()),
    )
    .set(login_sessions::revoked_at.eq(now))
    .execute(conn)
}
