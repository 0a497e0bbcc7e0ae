//! `purge-tokens`: deletes expired and revoked access tokens, grant families whose refresh tokens
//! all expired longer ago than the retention, expired codes, authorization requests, login
//! sessions and account links, published outbox messages and old account events.
//!
//! Every step deletes in batches chosen through an expiry index (`ORDER BY expires_at LIMIT n`),
//! each batch in its own short transaction with a statement and lock timeout (the batch budget),
//! with a pause between batches. Rows are never loaded into the service, except the keys of one
//! batch of grant families. A grant family (the grant, its refresh and access tokens and its codes)
//! is always deleted whole in one transaction, children first.
//!
//! The statements are PostgreSQL's, run on SQLite as they are where both understand them. Two
//! differ, each in one function: a batch of expired rows goes by physical row id (`ctid` on
//! PostgreSQL, `rowid` on SQLite: [`delete_expired`]), and the families of a batch are locked
//! (`FOR UPDATE` on PostgreSQL; SQLite's transaction already holds its one write lock:
//! [`lock_families`]).

use anyhow::Context;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};
use shared::auth_schema::{access_tokens, authorization_codes, grants, refresh_tokens};
use shared::db::{Backend, DbConn};

use super::batches::{Batcher, Deleted, drain};
use super::{Completion, JobContext, Tally};
use crate::configuration::PurgeTokensSettings;
use crate::session::JobSession;

/// A table purged by expiry alone: `filter` selects the eligible rows given the cutoff `$1`, and
/// `order` is the column of the index that drives the batches.
#[derive(Debug, Clone, Copy)]
pub struct ExpiryStep {
    /// The name in metrics and `job_runs.details`.
    pub name: &'static str,
    pub table: &'static str,
    filter: &'static str,
    order: &'static str,
    cutoff: Cutoff,
}

/// Which instant a step's cutoff is.
#[derive(Debug, Clone, Copy)]
enum Cutoff {
    Now,
    RefreshRetention,
    OutboxRetention,
    EventsRetention,
}

/// Steps before the families: rows that nothing references.
const LEAF_STEPS: &[ExpiryStep] = &[
    ExpiryStep {
        name: "access_tokens",
        table: "access_tokens",
        filter: "expires_at < $1",
        order: "expires_at",
        cutoff: Cutoff::Now,
    },
    ExpiryStep {
        name: "revoked_access_tokens",
        table: "access_tokens",
        filter: "revoked_at IS NOT NULL AND revoked_at < $1",
        order: "revoked_at",
        cutoff: Cutoff::Now,
    },
    // An unused code is dead once expired. A redeemed one is kept for the retention: replaying it
    // is how the auth-server detects a stolen code and revokes the family.
    ExpiryStep {
        name: "authorization_codes",
        table: "authorization_codes",
        filter: "expires_at < $1 AND used_at IS NULL",
        order: "expires_at",
        cutoff: Cutoff::Now,
    },
    ExpiryStep {
        name: "redeemed_authorization_codes",
        table: "authorization_codes",
        filter: "expires_at < $1",
        order: "expires_at",
        cutoff: Cutoff::RefreshRetention,
    },
    ExpiryStep {
        name: "authorization_requests",
        table: "authorization_requests",
        filter: "expires_at < $1",
        order: "expires_at",
        cutoff: Cutoff::Now,
    },
    ExpiryStep {
        name: "login_sessions",
        table: "login_sessions",
        filter: "expires_at < $1",
        order: "expires_at",
        cutoff: Cutoff::Now,
    },
    ExpiryStep {
        name: "account_links",
        table: "account_links",
        filter: "expires_at < $1",
        order: "expires_at",
        cutoff: Cutoff::Now,
    },
    ExpiryStep {
        name: "outbox_messages",
        table: "outbox_messages",
        filter: "published_at IS NOT NULL AND published_at < $1",
        order: "published_at",
        cutoff: Cutoff::OutboxRetention,
    },
    ExpiryStep {
        name: "account_events",
        table: "account_events",
        filter: "occurred_at < $1",
        order: "occurred_at",
        cutoff: Cutoff::EventsRetention,
    },
];

/// Every step that the backlog gauge counts: the leaf steps, then the refresh tokens of families
/// past the retention (an upper bound: a family with one live token keeps its expired ones).
pub fn backlog_steps() -> impl Iterator<Item = ExpiryStep> {
    LEAF_STEPS.iter().copied().chain(std::iter::once(ExpiryStep {
        name: "refresh_tokens",
        table: "refresh_tokens",
        filter: "expires_at < $1",
        order: "expires_at",
        cutoff: Cutoff::RefreshRetention,
    }))
}

/// The instants the cutoffs are computed from.
#[derive(Debug, Clone, Copy)]
pub struct Cutoffs {
    pub now: NaiveDateTime,
    pub refresh_retention: NaiveDateTime,
    pub outbox_retention: NaiveDateTime,
    pub events_retention: NaiveDateTime,
}

impl Cutoffs {
    pub fn new(now: NaiveDateTime, settings: &PurgeTokensSettings) -> Cutoffs {
        Cutoffs {
            now,
            refresh_retention: now - chrono::Duration::hours(settings.refresh_token_retention_hours),
            outbox_retention: now - chrono::Duration::hours(settings.outbox_retention_hours),
            events_retention: now - chrono::Duration::days(settings.account_events_retention_days),
        }
    }

    fn of(&self, step: &ExpiryStep) -> NaiveDateTime {
        match step.cutoff {
            Cutoff::Now => self.now,
            Cutoff::RefreshRetention => self.refresh_retention,
            Cutoff::OutboxRetention => self.outbox_retention,
            Cutoff::EventsRetention => self.events_retention,
        }
    }
}

/// Runs the job: the leaf steps, then the families, then the grants left without tokens.
pub async fn run(
    session: &mut JobSession,
    context: &JobContext,
    tally: &mut Tally,
) -> anyhow::Result<Completion> {
    let settings = &context.settings.purge_tokens;
    let cutoffs = Cutoffs::new(context.now, settings);
    let mut batcher = Batcher::new(settings);
    for step in LEAF_STEPS {
        let cutoff = cutoffs.of(step);
        let step = *step;
        let outcome = drain(session, context, &mut batcher, tally, move |conn, size| {
            delete_expired(conn, &step, cutoff, size).map(|deleted| {
                let rows = vec![(step.name, deleted)];
                (rows, deleted == size as usize)
            })
        })
        .await
        .with_context(|| format!("failed to purge {}", step.name))?;
        if outcome == Completion::Interrupted {
            return Ok(outcome);
        }
    }
    let mut cursor = FamilyCursor::default();
    let outcome = drain(session, context, &mut batcher, tally, move |conn, size| {
        let (rows, next) = delete_expired_families(conn, &cutoffs, &cursor, size)?;
        let more = next.is_some();
        if let Some(next) = next {
            cursor = next;
        }
        Ok((rows, more))
    })
    .await
    .context("failed to purge expired grant families")?;
    if outcome == Completion::Interrupted {
        return Ok(outcome);
    }
    let mut after_id = String::new();
    drain(session, context, &mut batcher, tally, move |conn, size| {
        let (deleted, last) = delete_empty_grants(conn, cutoffs.refresh_retention, &after_id, size)?;
        let more = last.is_some();
        if let Some(last) = last {
            after_id = last;
        }
        Ok((vec![("grants", deleted)], more))
    })
    .await
    .context("failed to purge grants without tokens")
}

/// Deletes up to `size` rows of one expiry step, oldest first.
fn delete_expired(
    conn: &mut DbConn,
    step: &ExpiryStep,
    cutoff: NaiveDateTime,
    size: i64,
) -> QueryResult<usize> {
    // By physical row id (on PostgreSQL a TID scan: no second index lookup per row). A row updated
    // by a concurrent writer after the subquery chose it has moved, and is left for a later batch;
    // the filter is checked again on each row deleted all the same.
    let ExpiryStep {
        table, filter, order, ..
    } = step;
    let statement = match conn.backend() {
        Backend::Postgresql => format!(
            "DELETE FROM {table} WHERE ctid = ANY(ARRAY(\
             SELECT ctid FROM {table} WHERE {filter} ORDER BY {order} LIMIT $2)) AND {filter}"
        ),
        Backend::Sqlite => format!(
            "DELETE FROM {table} WHERE rowid IN (\
             SELECT rowid FROM {table} WHERE {filter} ORDER BY {order} LIMIT $2) AND {filter}"
        ),
    };
    shared::db::sql_query(conn, &statement)
        .bind::<Timestamp, _>(cutoff)
        .bind::<BigInt, _>(size)
        .execute(conn)
}

/// Counts the rows one step would delete, stopping at `limit` (for the backlog gauge).
pub fn count_eligible(
    conn: &mut DbConn,
    step: &ExpiryStep,
    cutoffs: &Cutoffs,
    limit: i64,
) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        eligible: i64,
    }
    let ExpiryStep { table, filter, .. } = step;
    let statement = format!(
        "SELECT count(*) AS eligible FROM (SELECT 1 FROM {table} WHERE {filter} LIMIT $2) eligible_rows"
    );
    shared::db::sql_query(conn, &statement)
        .bind::<Timestamp, _>(cutoffs.of(step))
        .bind::<BigInt, _>(limit)
        .get_result::<Count>(conn)
        .map(|count| count.eligible)
}

/// Where the scan of expired refresh tokens has got to: `(expires_at, token_hash)` of the last
/// token looked at. Tokens of families that must be kept stay behind it, so a batch never sees
/// them again in this run.
#[derive(Debug, Clone, Default)]
struct FamilyCursor {
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
fn delete_expired_families(
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
fn delete_empty_grants(
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
