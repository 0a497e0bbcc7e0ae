//! Queries on `authorization_requests`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use shared::db::DbConn;

use super::models::AuthorizationRequest;
use super::schema::authorization_requests;

pub fn insert(conn: &mut DbConn, request: &AuthorizationRequest) -> QueryResult<()> {
    diesel::insert_into(authorization_requests::table)
        .values(request.clone())
        .execute(conn)
        .map(|_| ())
}

/// The pending request with this id, unless it has expired.
pub fn find_pending(
    conn: &mut DbConn,
    id: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<AuthorizationRequest>> {
    authorization_requests::table
        .find(id)
        .filter(authorization_requests::expires_at.gt(now))
        .select(AuthorizationRequest::as_select())
        .first(conn)
        .optional()
}

/// Removes a request once it is answered; returns whether it was still there (a double submit
/// of the consent form finds it gone and issues nothing).
pub fn delete(conn: &mut DbConn, id: &str) -> QueryResult<bool> {
    diesel::delete(authorization_requests::table.find(id))
        .execute(conn)
        .map(|deleted| deleted == 1)
}
