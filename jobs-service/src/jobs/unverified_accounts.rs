//! `unverified-accounts`: accounts whose address was never verified get one reminder email
//! `remind_after_days` after registering, and are deleted `delete_after_days` after registering,
//! as are the usernames reserved by registrations whose address had an account.
//! Both go through the partial index `jobs_users_unverified` (created_at of unverified users), in
//! batches of `batch_size`, each batch in one transaction with its outbox rows.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};
use shared::db::{Backend, DbConn};
use shared::messaging::contracts::{EmailTemplate, Envelope, SendEmail};
use shared::messaging::outbox;

use super::{Completion, JobContext, Tally};
use crate::db::schema::jobs_unverified_reminders;
use crate::session::JobSession;

/// Runs the job: reminders first (so nobody is deleted without having been reminded, unless the
/// job was off for the whole window), then deletions.
pub async fn run(
    session: &mut JobSession,
    context: &JobContext,
    tally: &mut Tally,
) -> anyhow::Result<Completion> {
    let settings = context.settings.unverified_accounts.clone();
    let remind_before = context.now - chrono::Duration::days(settings.remind_after_days);
    let delete_before = context.now - chrono::Duration::days(settings.delete_after_days);
    let link = format!(
        "{}/verify-email/resend",
        context.settings.auth_public_url.trim_end_matches('/')
    );
    let days_left = (settings.delete_after_days - settings.remind_after_days).to_string();
    let size = settings.batch_size;
    let now = context.now;
    loop {
        if context.stopping() {
            return Ok(Completion::Interrupted);
        }
        let (link, days_left) = (link.clone(), days_left.clone());
        let reminded = session
            .run(move |conn| {
                Ok(shared::db::transaction(conn, |conn| {
                    remind_batch(conn, remind_before, delete_before, now, &link, &days_left, size)
                })?)
            })
            .await?;
        tally.add("reminders_sent", reminded as i64);
        if (reminded as i64) < size {
            break;
        }
    }
    loop {
        if context.stopping() {
            return Ok(Completion::Interrupted);
        }
        let deleted = session
            .run(move |conn| {
                Ok(shared::db::transaction(conn, |conn| {
                    delete_batch(conn, delete_before, size)
                })?)
            })
            .await?;
        tally.add("users_deleted", deleted as i64);
        if (deleted as i64) < size {
            break;
        }
    }
    // A username reserved by a registration whose address had an account goes when an unverified
    // account registered at the same moment would: the two must look alike from outside.
    loop {
        if context.stopping() {
            return Ok(Completion::Interrupted);
        }
        let released = session
            .run(move |conn| Ok(release_reservations(conn, delete_before, size)?))
            .await?;
        tally.add("usernames_released", released as i64);
        if (released as i64) < size {
            return Ok(Completion::Completed);
        }
    }
}

/// Deletes up to `size` username reservations made before `delete_before`.
fn release_reservations(conn: &mut DbConn, delete_before: NaiveDateTime, size: i64) -> QueryResult<usize> {
    shared::db::sql_query(
        conn,
        "DELETE FROM username_reservations WHERE username IN (SELECT username FROM username_reservations \
         WHERE created_at < $1 ORDER BY created_at LIMIT $2)",
    )
    .bind::<Timestamp, _>(delete_before)
    .bind::<BigInt, _>(size)
    .execute(conn)
}

#[derive(QueryableByName)]
struct Unverified {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    username: String,
    #[diesel(sql_type = Text)]
    email: String,
}

/// Sends the reminder to up to `size` accounts due for one, and remembers that they got it.
fn remind_batch(
    conn: &mut DbConn,
    remind_before: NaiveDateTime,
    delete_before: NaiveDateTime,
    now: NaiveDateTime,
    link: &str,
    days_left: &str,
    size: i64,
) -> QueryResult<usize> {
    let due_sql = "SELECT u.id, u.username, u.email FROM users u \
         WHERE u.email_verified_at IS NULL AND u.created_at < $1 AND u.created_at >= $2 \
         AND NOT EXISTS (SELECT 1 FROM jobs_unverified_reminders r WHERE r.user_id = u.id) \
         ORDER BY u.created_at LIMIT $3";
    // PostgreSQL locks the accounts it reminds and skips those another writer holds; on SQLite the
    // transaction holds the one write lock already.
    let statement = match conn.backend() {
        Backend::Postgresql => format!("{due_sql} FOR UPDATE OF u SKIP LOCKED"),
        Backend::Sqlite => due_sql.to_owned(),
    };
    let due: Vec<Unverified> = shared::db::sql_query(conn, &statement)
        .bind::<Timestamp, _>(remind_before)
        .bind::<Timestamp, _>(delete_before)
        .bind::<BigInt, _>(size)
        .load(conn)?;
    for user in &due {
        let email = SendEmail {
            to: user.email.clone(),
            template: EmailTemplate::VerifyEmailReminder,
            variables: BTreeMap::from([
                ("username".to_owned(), user.username.clone()),
                ("link".to_owned(), link.to_owned()),
                ("days".to_owned(), days_left.to_owned()),
            ]),
        };
        outbox::enqueue(conn, &Envelope::new(email, None))?;
        diesel::insert_into(jobs_unverified_reminders::table)
            .values((
                jobs_unverified_reminders::user_id.eq(&user.id),
                jobs_unverified_reminders::reminded_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(due.len())
}

#[derive(QueryableByName)]
struct DeletedUser {
    #[diesel(sql_type = Text)]
    id: String,
}

/// Deletes up to `size` accounts still unverified after the deletion delay. Their rows in other
/// auth tables (links, sessions, ...) go with them through the schema's `ON DELETE CASCADE`.
fn delete_batch(conn: &mut DbConn, delete_before: NaiveDateTime, size: i64) -> QueryResult<usize> {
    // The outer condition is evaluated again on the locked row: an account verified while this
    // batch waited for it is kept.
    let deleted: Vec<DeletedUser> = shared::db::sql_query(
        conn,
        "DELETE FROM users WHERE id IN (SELECT id FROM users WHERE email_verified_at IS NULL \
         AND created_at < $1 ORDER BY created_at LIMIT $2) \
         AND email_verified_at IS NULL AND created_at < $1 RETURNING id",
    )
    .bind::<Timestamp, _>(delete_before)
    .bind::<BigInt, _>(size)
    .load(conn)?;
    let ids: Vec<String> = deleted.into_iter().map(|user| user.id).collect();
    diesel::delete(jobs_unverified_reminders::table.filter(jobs_unverified_reminders::user_id.eq_any(&ids)))
        .execute(conn)?;
    Ok(ids.len())
}
