//! Queries on `consents`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use shared::db::DbConn;

use super::models::Consent;
use super::schema::consents;
use crate::domain::scope::ScopeSet;

/// The scopes this user has agreed to share with this client, or `None` if the user never agreed to
/// anything with it.
pub fn consented_scopes(conn: &mut DbConn, user_id: &str, client_id: &str) -> QueryResult<Option<ScopeSet>> {
    let scope: Option<String> = consents::table
        .find((user_id, client_id))
        .select(consents::scope)
        .first(conn)
        .optional()?;
    // Stored scope lists were validated when written; an unparsable one counts as no consent.
    Ok(scope.map(|scope| ScopeSet::parse(&scope).unwrap_or_default()))
}

/// Adds scopes to what the user has agreed to share with the client. Call inside a transaction.
pub fn remember(
    conn: &mut DbConn,
    user_id: &str,
    client_id: &str,
    scopes: &ScopeSet,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let existing: Option<Consent> = consents::table
        .find((user_id, client_id))
        .select(Consent::as_select())
        .first(conn)
        .optional()?;
    match existing {
        Some(existing) => {
            let merged = ScopeSet::parse(&existing.scope).unwrap_or_default().union(scopes);
            diesel::update(consents::table.find((user_id, client_id)))
                .set((
                    consents::scope.eq(merged.to_string()),
                    consents::updated_at.eq(now),
                ))
                .execute(conn)?;
        }
        None => {
            let consent = Consent {
                user_id: user_id.to_owned(),
                client_id: client_id.to_owned(),
                scope: scopes.to_string(),
                created_at: now,
                updated_at: now,
            };
            diesel::insert_into(consents::table)
                .values(&consent)
                .execute(conn)?;
        }
    }
    Ok(())
}
