//! Queries on `signing_keys`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use shared::db::DbConn;

use super::models::SigningKeyRow;
use super::schema::signing_keys;
use crate::domain::signing_alg::SigningAlgorithm;

pub fn insert(conn: &mut DbConn, key: &SigningKeyRow) -> QueryResult<()> {
    diesel::insert_into(signing_keys::table)
        .values(key.clone())
        .execute(conn)
        .map(|_| ())
}

/// The key that signs with `alg` now, if any.
pub fn find_active(conn: &mut DbConn, alg: SigningAlgorithm) -> QueryResult<Option<SigningKeyRow>> {
    signing_keys::table
        .filter(signing_keys::alg.eq(alg))
        .filter(signing_keys::retired_at.is_null())
        .select(SigningKeyRow::as_select())
        .first(conn)
        .optional()
}

pub fn find(conn: &mut DbConn, kid: &str) -> QueryResult<Option<SigningKeyRow>> {
    signing_keys::table
        .find(kid)
        .select(SigningKeyRow::as_select())
        .first(conn)
        .optional()
}

/// Stops a key from signing; it stays published until `publish_until`. Returns 0 if it was already
/// retired.
pub fn retire(
    conn: &mut DbConn,
    kid: &str,
    now: NaiveDateTime,
    publish_until: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        signing_keys::table
            .find(kid)
            .filter(signing_keys::retired_at.is_null()),
    )
    .set((
        signing_keys::retired_at.eq(now),
        signing_keys::publish_until.eq(publish_until),
    ))
    .execute(conn)
}

/// The active keys and the retired ones still published at `now`, oldest first.
pub fn published(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<Vec<SigningKeyRow>> {
    signing_keys::table
        .filter(
            signing_keys::retired_at
                .is_null()
                .or(signing_keys::publish_until.gt(now)),
        )
        .order(signing_keys::created_at.asc())
        .select(SigningKeyRow::as_select())
        .load(conn)
}

/// Stores `kid`'s private key sealed anew, if it is still sealed as `was` (a concurrent reseal or
/// rotation wins). Returns the rows changed.
pub fn replace_sealed(conn: &mut DbConn, kid: &str, was: &str, sealed: &str) -> QueryResult<usize> {
    diesel::update(
        signing_keys::table
            .find(kid)
            .filter(signing_keys::private_key_sealed.eq(was)),
    )
    .set(signing_keys::private_key_sealed.eq(sealed))
    .execute(conn)
}

pub fn all(conn: &mut DbConn) -> QueryResult<Vec<SigningKeyRow>> {
    signing_keys::table
        .order(signing_keys::created_at.desc())
        .select(SigningKeyRow::as_select())
        .load(conn)
}

/// Deletes retired keys no token can need any more.
pub fn delete_unpublished(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(
        signing_keys::table
            .filter(signing_keys::retired_at.is_not_null())
            .filter(signing_keys::publish_until.le(now)),
    )
    .execute(conn)
}
