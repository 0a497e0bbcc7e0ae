//! `report`: a summary of the last `period_hours` emailed to every address of `recipients`,
//! through the outbox (`email.send`, template `cleanup-report`).

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};
use shared::db::DbConn;
use shared::messaging::contracts::{EmailTemplate, Envelope, SendEmail};
use shared::messaging::outbox;

use super::{Completion, Job, JobContext, Tally};
use crate::db::runs;
use crate::session::JobSession;

/// The figures of one report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figures {
    pub tokens_issued: i64,
    pub rows_purged: i64,
    pub refresh_token_reuse: i64,
    pub failed_logins: i64,
    pub registrations: i64,
    pub outbox_pending: i64,
}

impl Figures {
    /// The template's variables: `period` and one per figure.
    pub fn variables(&self, period: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("period".to_owned(), period.to_owned()),
            ("tokens_issued".to_owned(), self.tokens_issued.to_string()),
            ("rows_purged".to_owned(), self.rows_purged.to_string()),
            (
                "refresh_token_reuse".to_owned(),
                self.refresh_token_reuse.to_string(),
            ),
            ("failed_logins".to_owned(), self.failed_logins.to_string()),
            ("registrations".to_owned(), self.registrations.to_string()),
            ("outbox_pending".to_owned(), self.outbox_pending.to_string()),
        ])
    }
}

/// Counts the figures and enqueues one email per recipient, in one transaction.
pub async fn run(
    session: &mut JobSession,
    context: &JobContext,
    tally: &mut Tally,
) -> anyhow::Result<Completion> {
    let recipients = context.settings.report.recipient_list();
    let until = context.now;
    let since = until - chrono::Duration::hours(context.settings.report.period_hours);
    let period = format!(
        "{} to {} UTC",
        since.format("%Y-%m-%d %H:%M"),
        until.format("%Y-%m-%d %H:%M")
    );
    let sent = session
        .run(move |conn| {
            Ok(shared::db::transaction(conn, |conn| {
                let figures = count(conn, since, until)?;
                for to in &recipients {
                    let email = SendEmail {
                        to: to.clone(),
                        template: EmailTemplate::CleanupReport,
                        variables: figures.variables(&period),
                    };
                    outbox::enqueue(conn, &Envelope::new(email, None))?;
                }
                QueryResult::Ok(recipients.len())
            })?)
        })
        .await?;
    tally.add("reports_sent", sent as i64);
    Ok(Completion::Completed)
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// The figures for `[since, until)`.
pub fn count(conn: &mut DbConn, since: NaiveDateTime, until: NaiveDateTime) -> QueryResult<Figures> {
    // A token issued in the period expires after its start, so the expiry index bounds the scan
    // to the tokens still stored that expire after `since`.
    let tokens_issued = ["access_tokens", "refresh_tokens"]
        .iter()
        .map(|table| {
            let statement = format!(
                "SELECT count(*) AS count FROM {table} WHERE expires_at >= $1 AND issued_at >= $1 AND \
                    issued_at < $2"
            );
            shared::db::sql_query(conn, &statement)
                .bind::<Timestamp, _>(since)
                .bind::<Timestamp, _>(until)
                .get_result::<Count>(conn)
                .map(|row| row.count)
        })
        .sum::<QueryResult<i64>>()?;
    let events = |conn: &mut DbConn, kind: &str| {
        shared::db::sql_query(
            conn,
            "SELECT count(*) AS count FROM account_events WHERE occurred_at >= $1 AND occurred_at < $2 AND \
                kind = $3",
        )
        .bind::<Timestamp, _>(since)
        .bind::<Timestamp, _>(until)
        .bind::<Text, _>(kind)
        .get_result::<Count>(conn)
        .map(|row| row.count)
    };
    Ok(Figures {
        tokens_issued,
        rows_purged: runs::rows_affected_since(conn, Job::PurgeTokens.name(), since)?,
        refresh_token_reuse: events(conn, "refresh_token_reuse")?,
        failed_logins: events(conn, "login_failed")?,
        registrations: events(conn, "registered")?,
        outbox_pending: outbox::pending_count(conn)?,
    })
}
