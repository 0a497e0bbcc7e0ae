//! The steps that purge a table by expiry alone, their cutoffs, and the batch delete of one step
//! (by physical row id: `ctid` on PostgreSQL, `rowid` on SQLite).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamp};
use shared::db::{Backend, DbConn};

use crate::configuration::PurgeTokensSettings;

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
pub(super) const LEAF_STEPS: &[ExpiryStep] = &[
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

    pub(super) fn of(&self, step: &ExpiryStep) -> NaiveDateTime {
        match step.cutoff {
            Cutoff::Now => self.now,
            Cutoff::RefreshRetention => self.refresh_retention,
            Cutoff::OutboxRetention => self.outbox_retention,
            Cutoff::EventsRetention => self.events_retention,
        }
    }
}

/// Deletes up to `size` rows of one expiry step, oldest first.
pub(super) fn delete_expired(
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
