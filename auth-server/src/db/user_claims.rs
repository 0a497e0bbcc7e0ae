//! Queries on `user_claims`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use shared::db::DbConn;

use super::models::UserClaim;
use super::schema::user_claims;
use crate::domain::ids::UserId;

/// Every claim of a user.
pub fn of_user(conn: &mut DbConn, user_id: &UserId) -> QueryResult<Vec<UserClaim>> {
    user_claims::table
        .filter(user_claims::user_id.eq(user_id))
        .select(UserClaim::as_select())
        .load(conn)
}

/// Sets one claim (JSON value), replacing any previous value.
pub fn set(
    conn: &mut DbConn,
    user_id: &UserId,
    claim: &str,
    value: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    shared::db::transaction(conn, |conn| {
        diesel::delete(
            user_claims::table
                .filter(user_claims::user_id.eq(user_id))
                .filter(user_claims::claim.eq(claim)),
        )
        .execute(conn)?;
        diesel::insert_into(user_claims::table)
            .values(&UserClaim {
                user_id: user_id.clone(),
                claim: claim.to_owned(),
                value: value.to_owned(),
                updated_at: now,
            })
            .execute(conn)
            .map(|_| ())
    })
}
