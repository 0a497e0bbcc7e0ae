//! Queries on `consents`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use shared::db::DbConn;

use super::models::Consent;
use super::schema::consents;
use crate::domain::ids::{ClientId, UserId};
use crate::domain::scope::ScopeSet;

/// The scopes this user has agreed to share with this client, or `None` if the user never agreed to
/// anything with it.
pub fn consented_scopes(
    conn: &mut DbConn,
    user_id: &UserId,
    client_id: &ClientId,
) -> QueryResult<Option<ScopeSet>> {
    let scope: Option<String> = consents::table
        .find((user_id, client_id))
        .select(consents::scope)
        .first(conn)
        .optional()?;
    // Stored scope lists were validated when written; an unparsable one counts as no consent.
    Ok(scope.map(|scope| ScopeSet::parse(&scope).unwrap_or_default()))
}

/// Adds scopes to what the user has agreed to share with the client. Call inside a transaction:
/// the row is locked while it is merged, so two consents given at once (two tabs) both count.
pub fn remember(
    conn: &mut DbConn,
    user_id: &UserId,
    client_id: &ClientId,
    scopes: &ScopeSet,
    now: NaiveDateTime,
) -> QueryResult<()> {
    if merge_into_existing(conn, user_id, client_id, scopes, now)? {
        return Ok(());
    }
    let consent = Consent {
        user_id: user_id.clone(),
        client_id: client_id.clone(),
        scope: scopes.to_string(),
        created_at: now,
        updated_at: now,
    };
    // In a savepoint: if a concurrent first consent inserted the row meanwhile, the unique violation
    // rolls back only the insert, and the scopes are merged into that row instead.
    match shared::db::transaction(conn, |conn| {
        diesel::insert_into(consents::table)
            .values(&consent)
            .execute(conn)
    }) {
        Ok(_) => Ok(()),
        Err(error) if super::is_unique_violation(&error) => {
            merge_into_existing(conn, user_id, client_id, scopes, now).map(|_| ())
        }
        Err(error) => Err(error),
    }
}

/// Merges `scopes` into the user's consent row if there is one; false if there is none.
fn merge_into_existing(
    conn: &mut DbConn,
    user_id: &UserId,
    client_id: &ClientId,
    scopes: &ScopeSet,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let existing: Option<Consent> = shared::select_for_update!(
        conn,
        consents::table
            .find((user_id, client_id))
            .select(Consent::as_select()),
        |query, conn| query.first(conn).optional()
    )?;
    let Some(existing) = existing else {
        return Ok(false);
    };
    let merged = ScopeSet::parse(&existing.scope).unwrap_or_default().union(scopes);
    diesel::update(consents::table.find((user_id, client_id)))
        .set((
            consents::scope.eq(merged.to_string()),
            consents::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(true)
}
