//! Queries on `grants`, the token families.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use shared::db::DbConn;

use super::models::Grant;
use super::schema::{access_tokens, grants, refresh_tokens};
use crate::domain::ids::{GrantId, UserId};

pub fn insert(conn: &mut DbConn, grant: &Grant) -> QueryResult<()> {
    diesel::insert_into(grants::table)
        .values(grant)
        .execute(conn)
        .map(|_| ())
}

/// Locks a family's row until the end of the transaction and returns it. Everything that adds
/// tokens to a family (rotation) or revokes it takes this lock first, so the two take turns: a
/// revocation never misses a token minted while it ran, and a rotation never mints into a family
/// revoked while it waited. (Under READ COMMITTED each later statement then sees the other's
/// committed rows. On SQLite the transaction holds the whole database's write lock instead; see
/// `shared::db::transaction`.)
pub fn lock(conn: &mut DbConn, grant_id: &GrantId) -> QueryResult<Option<Grant>> {
    shared::select_for_update!(
        conn,
        grants::table.find(grant_id).select(Grant::as_select()),
        |query, conn| query.first(conn).optional()
    )
}

/// Revokes a family and every token in it. Tokens are marked one by one (through the `grant_id`
/// index) so that introspection reads a single row and never has to join the family.
pub fn revoke(conn: &mut DbConn, grant_id: &GrantId, reason: &str, now: NaiveDateTime) -> QueryResult<()> {
    lock(conn, grant_id)?;
    diesel::update(grants::table.find(grant_id).filter(grants::revoked_at.is_null()))
        .set((grants::revoked_at.eq(now), grants::revoked_reason.eq(reason)))
        .execute(conn)?;
    diesel::update(
        access_tokens::table
            .filter(access_tokens::grant_id.eq(grant_id))
            .filter(access_tokens::revoked_at.is_null()),
    )
    .set(access_tokens::revoked_at.eq(now))
    .execute(conn)?;
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::grant_id.eq(grant_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now))
    .execute(conn)?;
    Ok(())
}

/// Revokes every family of a user (disabled account, password changed), and their
/// client_credentials-free access tokens with them.
pub fn revoke_all_for_user(
    conn: &mut DbConn,
    user_id: &UserId,
    reason: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let ids: Vec<GrantId> = grants::table
        .filter(grants::user_id.eq(user_id))
        .filter(grants::revoked_at.is_null())
        .select(grants::id)
        .load(conn)?;
    for id in &ids {
        revoke(conn, id, reason, now)?;
    }
    Ok(ids.len())
}
