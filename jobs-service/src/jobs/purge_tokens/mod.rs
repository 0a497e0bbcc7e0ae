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
//! PostgreSQL, `rowid` on SQLite: [`steps::delete_expired`]), and the families of a batch are locked
//! (`FOR UPDATE` on PostgreSQL; SQLite's transaction already holds its one write lock:
//! [`families::lock_families`]).

mod families;
mod steps;

use anyhow::Context;

pub use steps::{Cutoffs, ExpiryStep, backlog_steps, count_eligible};

use super::batches::{Batcher, drain};
use super::{Completion, JobContext, Tally};
use crate::session::JobSession;
use families::{FamilyCursor, delete_empty_grants, delete_expired_families};
use steps::{LEAF_STEPS, delete_expired};

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
