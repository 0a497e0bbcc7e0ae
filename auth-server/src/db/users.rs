//! Queries on `users` and `user_scopes`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use shared::db::DbConn;

use super::models::User;
use super::schema::{user_scopes, users};
use super::{authorization_codes, grants, login_sessions};
use crate::domain::ids::UserId;
use crate::domain::scope::ScopeSet;

pub fn insert(conn: &mut DbConn, user: &User) -> QueryResult<()> {
    diesel::insert_into(users::table)
        .values(user)
        .execute(conn)
        .map(|_| ())
}

pub fn find_by_id(conn: &mut DbConn, id: &UserId) -> QueryResult<Option<User>> {
    users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .optional()
}

pub fn find_by_username(conn: &mut DbConn, username: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::username.eq(username))
        .select(User::as_select())
        .first(conn)
        .optional()
}

pub fn list(conn: &mut DbConn) -> QueryResult<Vec<User>> {
    users::table
        .order(users::username.asc())
        .select(User::as_select())
        .load(conn)
}

/// Locks the user's row until the transaction ends and tells whether the account is still as the
/// caller checked it: enabled, and with the password hash it verified. A sign-in creates its session
/// or token family after this in the same transaction, so a password change or a disable either
/// committed first (and is seen here) or waits on the lock for the session to exist, and then
/// ends it (they update this row before `sign_out_everywhere`).
pub fn lock_unchanged(conn: &mut DbConn, id: &UserId, verified_hash: &str) -> QueryResult<bool> {
    let row: Option<(bool, String)> = shared::select_for_update!(
        conn,
        users::table
            .find(id)
            .select((users::disabled, users::password_hash)),
        |query, conn| query.first(conn).optional()
    )?;
    Ok(matches!(row, Some((false, hash)) if hash == verified_hash))
}

pub fn set_password_hash(
    conn: &mut DbConn,
    id: &UserId,
    hash: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set((users::password_hash.eq(hash), users::updated_at.eq(now)))
        .execute(conn)
}

pub fn set_disabled(
    conn: &mut DbConn,
    id: &UserId,
    disabled: bool,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set((users::disabled.eq(disabled), users::updated_at.eq(now)))
        .execute(conn)
}

/// The scopes this user may hold.
pub fn scopes_of(conn: &mut DbConn, user_id: &UserId) -> QueryResult<ScopeSet> {
    let names: Vec<String> = user_scopes::table
        .filter(user_scopes::user_id.eq(user_id))
        .select(user_scopes::scope)
        .load(conn)?;
    Ok(ScopeSet::from_names(names))
}

/// Replaces the scopes this user may hold (one insert per row: portable to SQLite's backend).
pub fn set_scopes(conn: &mut DbConn, user_id: &UserId, scopes: &ScopeSet) -> QueryResult<()> {
    diesel::delete(user_scopes::table.filter(user_scopes::user_id.eq(user_id))).execute(conn)?;
    for scope in scopes.iter() {
        diesel::insert_into(user_scopes::table)
            .values((user_scopes::user_id.eq(user_id), user_scopes::scope.eq(scope)))
            .execute(conn)?;
    }
    Ok(())
}

/// Whether the user exists and is not disabled.
pub fn is_enabled(conn: &mut DbConn, id: &UserId) -> QueryResult<bool> {
    let disabled: Option<bool> = users::table
        .find(id)
        .select(users::disabled)
        .first(conn)
        .optional()?;
    Ok(disabled == Some(false))
}

pub fn find_by_email(conn: &mut DbConn, email: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::email.eq(email))
        .select(User::as_select())
        .first(conn)
        .optional()
}

/// Marks the address as confirmed (once: a later confirmation keeps the first time).
pub fn mark_email_verified(conn: &mut DbConn, id: &UserId, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(users::table.find(id).filter(users::email_verified_at.is_null()))
        .set((users::email_verified_at.eq(now), users::updated_at.eq(now)))
        .execute(conn)
}

/// Ends every session, pending code and token family of a user (password changed, account
/// disabled): whoever held any of them loses access.
pub fn sign_out_everywhere(
    conn: &mut DbConn,
    user_id: &UserId,
    reason: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    login_sessions::revoke_all_for_user(conn, user_id, now)?;
    // A code issued before the change must not start a new family afterwards.
    authorization_codes::burn_all_for_user(conn, user_id, now)?;
    grants::revoke_all_for_user(conn, user_id, reason, now)?;
    Ok(())
}
