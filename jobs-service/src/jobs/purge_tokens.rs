//! `purge-tokens`: deletes expired and revoked access tokens, grant families whose refresh tokens
//! all expired longer ago than the retention, expired codes, authorization requests, login
//! sessions and account links, published outbox messages and old account events.
//!
//! Every step deletes in batches chosen through an expiry index (`ORDER BY expires_at LIMIT n`),
//! each batch in its own short transaction with a statement and lock timeout (the batch budget),
//! with a pause between batches. Rows are never loaded into the service, except the keys of one
//! batch of grant families. A grant family (the grant, its refresh and access tokens and its codes)
//! is always deleted whole in one transaction, children first.

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text, Timestamp};
use shared::db::DbConn;

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

/// Rows deleted per step (or table) by one batch.
type Deleted = Vec<(&'static str, usize)>;

/// Rows per step and whether another batch may find more.
type BatchResult = QueryResult<(Deleted, bool)>;

/// Runs `batch` until it reports nothing more, adapting the batch size to the budget and pausing
/// between batches; stops early (between batches) when the service is shutting down.
async fn drain<F>(
    session: &mut JobSession,
    context: &JobContext,
    batcher: &mut Batcher,
    tally: &mut Tally,
    batch: F,
) -> anyhow::Result<Completion>
where
    F: FnMut(&mut DbConn, i64) -> BatchResult + Send + 'static,
{
    let mut batch = batch;
    loop {
        if context.stopping() {
            return Ok(Completion::Interrupted);
        }
        let size = batcher.size;
        let budget_ms = batcher.budget.as_millis();
        let started = Instant::now();
        let mut work = batch;
        let (outcome, work) = session
            .run(move |conn| {
                let outcome = conn.transaction(|conn| {
                    conn.batch_execute(&format!(
                        "SET LOCAL statement_timeout = {budget_ms}; SET LOCAL lock_timeout = {budget_ms};"
                    ))?;
                    work(conn, size)
                });
                Ok((outcome, work))
            })
            .await?;
        batch = work;
        match outcome {
            Ok((rows, more)) => {
                for (name, deleted) in rows {
                    tally.add(name, deleted as i64);
                }
                batcher.after(started.elapsed());
                if !more {
                    return Ok(Completion::Completed);
                }
            }
            Err(error) if is_timeout(&error) => batcher.after_timeout(error)?,
            Err(error) => return Err(error.into()),
        }
        tokio::time::sleep(batcher.pause).await;
    }
}

/// The batch size, halved when a batch takes more than half its budget (or hits it), doubled back
/// towards the configured size when batches are quick.
#[derive(Debug)]
struct Batcher {
    max: i64,
    size: i64,
    budget: Duration,
    pause: Duration,
    consecutive_timeouts: u32,
}

impl Batcher {
    fn new(settings: &PurgeTokensSettings) -> Batcher {
        Batcher {
            max: settings.batch_size,
            size: settings.batch_size,
            budget: Duration::from_millis(settings.batch_budget_ms.max(1)),
            pause: Duration::from_millis(settings.pause_ms),
            consecutive_timeouts: 0,
        }
    }

    fn after(&mut self, elapsed: Duration) {
        self.consecutive_timeouts = 0;
        if elapsed > self.budget / 2 {
            self.size = (self.size / 2).max(1);
        } else if elapsed < self.budget / 4 {
            self.size = (self.size * 2).min(self.max);
        }
    }

    fn after_timeout(&mut self, error: diesel::result::Error) -> anyhow::Result<()> {
        self.consecutive_timeouts += 1;
        if self.consecutive_timeouts > 5 {
            return Err(anyhow::Error::new(error).context("batches keep running out of their time budget"));
        }
        tracing::warn!(
            batch_size = self.size,
            "a purge batch ran out of its time budget; halving the batch"
        );
        self.size = (self.size / 2).max(1);
        Ok(())
    }
}

fn is_timeout(error: &diesel::result::Error) -> bool {
    match error {
        diesel::result::Error::DatabaseError(_, info) => {
            let message = info.message();
            message.contains("statement timeout") || message.contains("lock timeout")
        }
        _ => false,
    }
}

/// Deletes up to `size` rows of one expiry step, oldest first.
fn delete_expired(
    conn: &mut DbConn,
    step: &ExpiryStep,
    cutoff: NaiveDateTime,
    size: i64,
) -> QueryResult<usize> {
    // By physical row id (a TID scan: no second index lookup per row). A row updated by a
    // concurrent writer after the subquery chose it has moved, and is left for a later batch; the
    // filter is checked again on each row deleted all the same.
    let ExpiryStep {
        table, filter, order, ..
    } = step;
    diesel::sql_query(format!(
        "DELETE FROM {table} WHERE ctid = ANY(ARRAY(\
         SELECT ctid FROM {table} WHERE {filter} ORDER BY {order} LIMIT $2)) AND {filter}"
    ))
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
    diesel::sql_query(format!(
        "SELECT count(*) AS eligible FROM (SELECT 1 FROM {table} WHERE {filter} LIMIT $2) rows"
    ))
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

#[derive(QueryableByName)]
struct FamilyId {
    #[diesel(sql_type = Text)]
    id: String,
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
    let candidates: Vec<Candidate> = diesel::sql_query(
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
    // Locking the grant rows makes a concurrent rotation or revocation of a family (which lock
    // the same row) wait for this batch, and the checks below then see every committed token.
    let families: Vec<String> = diesel::sql_query(
        "SELECT g.id FROM grants g WHERE g.id = ANY($1) \
         AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.grant_id = g.id AND r.expires_at >= $2) \
         AND NOT EXISTS (SELECT 1 FROM access_tokens a WHERE a.grant_id = g.id AND a.expires_at >= $3) \
         ORDER BY g.id FOR UPDATE OF g",
    )
    .bind::<Array<Text>, _>(&grant_ids)
    .bind::<Timestamp, _>(cutoffs.refresh_retention)
    .bind::<Timestamp, _>(cutoffs.now)
    .load::<FamilyId>(conn)?
    .into_iter()
    .map(|family| family.id)
    .collect();
    if families.is_empty() {
        return Ok((Vec::new(), next));
    }
    let mut rows = Vec::with_capacity(4);
    for (name, statement) in [
        (
            "access_tokens",
            "DELETE FROM access_tokens WHERE grant_id = ANY($1)",
        ),
        (
            "authorization_codes",
            "DELETE FROM authorization_codes WHERE grant_id = ANY($1)",
        ),
        (
            "refresh_tokens",
            "DELETE FROM refresh_tokens WHERE grant_id = ANY($1)",
        ),
        ("grants", "DELETE FROM grants WHERE id = ANY($1)"),
    ] {
        let deleted = diesel::sql_query(statement)
            .bind::<Array<Text>, _>(&families)
            .execute(conn)?;
        rows.push((name, deleted));
    }
    Ok((rows, next))
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
    let ids: Vec<String> = diesel::sql_query("SELECT id FROM grants WHERE id > $1 ORDER BY id LIMIT $2")
        .bind::<Text, _>(after_id)
        .bind::<BigInt, _>(size)
        .load::<FamilyId>(conn)?
        .into_iter()
        .map(|grant| grant.id)
        .collect();
    let last = if ids.len() as i64 == size {
        ids.last().cloned()
    } else {
        None
    };
    let deleted = diesel::sql_query(
        "DELETE FROM grants g WHERE g.id = ANY($1) AND g.created_at < $2 \
         AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.grant_id = g.id) \
         AND NOT EXISTS (SELECT 1 FROM access_tokens a WHERE a.grant_id = g.id) \
         AND NOT EXISTS (SELECT 1 FROM authorization_codes c WHERE c.grant_id = g.id)",
    )
    .bind::<Array<Text>, _>(&ids)
    .bind::<Timestamp, _>(cutoff)
    .execute(conn)?;
    Ok((deleted, last))
}

#[cfg(test)]
mod tests {
    use shared::configuration::Layered;

    use super::*;

    fn batcher() -> Batcher {
        let settings = crate::configuration::Settings::defaults().unwrap().purge_tokens;
        Batcher::new(&PurgeTokensSettings {
            batch_size: 1000,
            batch_budget_ms: 2000,
            ..settings
        })
    }

    fn timeout() -> diesel::result::Error {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::Unknown,
            Box::new("canceling statement due to statement timeout".to_owned()),
        )
    }

    #[test]
    fn a_slow_batch_halves_the_size_and_quick_ones_grow_it_back_to_the_configured_size() {
        let mut batcher = batcher();

        batcher.after(Duration::from_millis(1500));
        assert_eq!(batcher.size, 500);
        batcher.after(Duration::from_millis(700));
        assert_eq!(
            batcher.size, 500,
            "between a quarter and half of the budget: unchanged"
        );
        batcher.after(Duration::from_millis(100));
        batcher.after(Duration::from_millis(100));
        assert_eq!(batcher.size, 1000, "never above batch_size");
    }

    #[test]
    fn a_batch_cancelled_by_the_budget_is_retried_smaller_and_the_run_fails_after_five_in_a_row() {
        let mut batcher = batcher();

        for expected in [500, 250, 125, 62, 31] {
            batcher.after_timeout(timeout()).unwrap();
            assert_eq!(batcher.size, expected);
        }
        assert!(batcher.after_timeout(timeout()).is_err());
        assert!(is_timeout(&timeout()));
    }
}
