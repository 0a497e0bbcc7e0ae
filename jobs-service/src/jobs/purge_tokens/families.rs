//! Grant families, deleted whole: a family goes when none of its refresh tokens is alive past the
//! retention and none of its access tokens is alive now, children first, in one transaction; then
//! the grants left without any token or code.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};
use shared::auth_schema::{access_tokens, authorization_codes, grants, refresh_tokens};
use shared::db::DbConn;

use super::steps::Cutoffs;
use crate::jobs::batches::Deleted;

/// Where the scan of expired refresh tokens has got to: `(expires_at, token_hash)` of the last
/// token looked at. Tokens of families that must be kept stay behind it, so a batch never sees
/// them again in this run.
#[derive(Debug, Clone, Default)]
pub(super) struct FamilyCursor {
    expires_at: Option<NaiveDateTime>,
    token_hash: String,
}

#[derive(QueryableByName)]
struct Candidate {
    #[diesel(sql_type = Text)]
    grant_id: String,
    #[diesel(sql_type = Timestamp)]
    expires_at: NaiveDateTime,
    #[diesel(sql_type = Text)]
    token_hash: String,
}

/// One batch of families: looks at up to `size` refresh tokens expired before the retention
/// cutoff (in expiry order, after the cursor), keeps the families among theirs that have no token
/// still alive, and deletes those whole. Returns rows per table and the next cursor (`None` when
/// the scan is done).
pub(super) fn delete_expired_families(
    conn: &mut DbConn,
    cutoffs: &Cutoffs,
    cursor: &FamilyCursor,
    size: i64,
) -> QueryResult<(Deleted, Option<FamilyCursor>)> {
    let floor = cursor
        .expires_at
        .unwrap_or(chrono::DateTime::UNIX_EPOCH.naive_utc());
    let candidates: Vec<Candidate> = shared::db::sql_query(
        conn,
        "SELECT grant_id, expires_at, token_hash FROM refresh_tokens \
         WHERE expires_at < $1 AND expires_at >= $2 AND (expires_at, token_hash) > ($2, $3) \
         ORDER BY expires_at, token_hash LIMIT $4",
    )
    .bind::<Timestamp, _>(cutoffs.refresh_retention)
    .bind::<Timestamp, _>(floor)
    .bind::<Text, _>(&cursor.token_hash)
    .bind::<BigInt, _>(size)
    .load(conn)?;
    let next = match candidates.last() {
        Some(last) if candidates.len() as i64 == size => Some(FamilyCursor {
            expires_at: Some(last.expires_at),
            token_hash: last.token_hash.clone(),
        }),
        _ => None,
    };
    let mut grant_ids: Vec<String> = candidates
        .into_iter()
        .map(|candidate| candidate.grant_id)
        .collect();
    grant_ids.sort_unstable();
    grant_ids.dedup();
    let families = lock_families(conn, &grant_ids, cutoffs)?;
    if families.is_empty() {
        return Ok((Vec::new(), next));
    }
    let rows = vec![
        (
            "access_tokens",
            diesel::delete(access_tokens::table.filter(access_tokens::grant_id.eq_any(&families)))
                .execute(conn)?,
        ),
        (
            "authorization_codes",
            diesel::delete(
                authorization_codes::table.filter(authorization_codes::grant_id.eq_any(&families)),
            )
            .execute(conn)?,
        ),
        (
            "refresh_tokens",
            diesel::delete(refresh_tokens::table.filter(refresh_tokens::grant_id.eq_any(&families)))
                .execute(conn)?,
        ),
        (
            "grants",
            diesel::delete(grants::table.filter(grants::id.eq_any(&families))).execute(conn)?,
        ),
    ];
    Ok((rows, next))
}

/// Of the families `grant_ids`, those with no refresh token alive past the retention and no access
/// token alive now, locked for the rest of the transaction. The lock makes a concurrent rotation or
/// revocation of a family (which lock the same row) wait for this batch, and the checks then see
/// every committed token.
fn lock_families(conn: &mut DbConn, grant_ids: &[String], cutoffs: &Cutoffs) -> QueryResult<Vec<String>> {
    let live_refresh = refresh_tokens::table
        .filter(refresh_tokens::grant_id.eq(grants::id))
        .filter(refresh_tokens::expires_at.ge(cutoffs.refresh_retention));
    let live_access = access_tokens::table
        .filter(access_tokens::grant_id.eq(grants::id.nullable()))
        .filter(access_tokens::expires_at.ge(cutoffs.now));
    shared::select_for_update!(
        conn,
        grants::table
            .filter(grants::id.eq_any(grant_ids))
            .filter(diesel::dsl::not(diesel::dsl::exists(live_refresh)))
            .filter(diesel::dsl::not(diesel::dsl::exists(live_access)))
            .order(grants::id)
            .select(grants::id),
        |query, conn| query.load(conn)
    )
}

/// One batch of the scan of grants in id order: deletes those created before `cutoff` that have no
/// token and no code left (families that never had a refresh token end this way). Returns the rows
/// deleted and the last id looked at (`None` when the scan is done).
pub(super) fn delete_empty_grants(
    conn: &mut DbConn,
    cutoff: NaiveDateTime,
    after_id: &str,
    size: i64,
) -> QueryResult<(usize, Option<String>)> {
    let ids: Vec<String> = grants::table
        .filter(grants::id.gt(after_id))
        .order(grants::id)
        .limit(size)
        .select(grants::id)
        .load(conn)?;
    let last = if ids.len() as i64 == size {
        ids.last().cloned()
    } else {
        None
    };
    let deleted = diesel::delete(
        grants::table
            .filter(grants::id.eq_any(&ids))
            .filter(grants::created_at.lt(cutoff))
            .filter(diesel::dsl::not(diesel::dsl::exists(
                refresh_tokens::table.filter(refresh_tokens::grant_id.eq(grants::id)),
            )))
            .filter(diesel::dsl::not(diesel::dsl::exists(
                access_tokens::table.filter(access_tokens::grant_id.eq(grants::id.nullable())),
            )))
            .filter(diesel::dsl::not(diesel::dsl::exists(
                authorization_codes::table.filter(authorization_codes::grant_id.eq(grants::id.nullable())),
            ))),
    )
    .execute(conn)?;
    Ok((deleted, last))
}
