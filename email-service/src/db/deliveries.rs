//! `deliveries`: one record per message id, what happened to it.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::Text;
use serde::Serialize;
use shared::db::{DbConn, clock};

diesel::table! {
    deliveries (message_id) {
        message_id -> Text,
        template -> Text,
        recipient_hint -> Text,
        status -> Text,
        attempts -> Integer,
        last_error -> Nullable<Text>,
        smtp_message_id -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        claimed_until -> Nullable<Timestamp>,
        unfinished_attempts -> Integer,
    }
}

/// What happened to one email command.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Serialize)]
#[diesel(table_name = deliveries)]
pub struct Delivery {
    pub message_id: String,
    pub template: String,
    pub recipient_hint: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub smtp_message_id: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
    /// While the status is `sending`: until when the attempt holds the message (the database's
    /// clock); no other copy is sent before.
    pub claimed_until: Option<NaiveDateTime>,
    /// Attempts that began and never finished (their claim ran out while `sending`).
    pub unfinished_attempts: i32,
}

/// What a new attempt needs to claim a message.
#[derive(Debug, Clone)]
pub struct NewAttempt {
    pub message_id: String,
    pub template: String,
    pub recipient_hint: String,
    pub smtp_message_id: String,
}

/// What a claim found.
#[derive(Debug)]
pub enum Claim {
    /// This attempt holds the message until the claim runs out: send it. The record after the claim.
    Granted(Delivery),
    /// Sent before: send nothing.
    AlreadySent,
    /// Another attempt holds a claim that has not run out (it is sending now): try again later.
    HeldElsewhere,
}

/// Where a delivery stands; stored as its lowercase name in a TEXT column.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum, diesel::AsExpression, diesel::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// An attempt began (and, if the process died, may or may not have reached the SMTP server).
    Sending,
    /// A transient failure; a retry is scheduled.
    Retrying,
    /// The SMTP server accepted it (or the mailbox kept it): never sent again.
    Sent,
    /// Given up: dead-lettered with the reason in `last_error`.
    Dead,
}

impl DeliveryStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Sending => "sending",
            DeliveryStatus::Retrying => "retrying",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Dead => "dead",
        }
    }
}

impl std::str::FromStr for DeliveryStatus {
    type Err = String;

    fn from_str(stored: &str) -> Result<Self, String> {
        match stored {
            "sending" => Ok(DeliveryStatus::Sending),
            "retrying" => Ok(DeliveryStatus::Retrying),
            "sent" => Ok(DeliveryStatus::Sent),
            "dead" => Ok(DeliveryStatus::Dead),
            _ => Err(format!("{stored:?} is not a delivery status")),
        }
    }
}

shared::text_column!(DeliveryStatus);

pub fn find(conn: &mut DbConn, message_id: &str) -> QueryResult<Option<Delivery>> {
    deliveries::table
        .find(message_id)
        .select(Delivery::as_select())
        .first(conn)
        .optional()
}

/// Claims the message for one attempt of `lease`, in one statement, so two copies of a message
/// handled at once cannot both be sent: the record is created (`sending`, attempt 1), or taken
/// over (`sending`, attempts + 1) unless it says `sent` or another attempt's claim has not run
/// out. A `sending` record whose claim ran out was left by an attempt that never finished.
pub fn claim(conn: &mut DbConn, attempt: &NewAttempt, lease: Duration) -> QueryResult<Claim> {
    let backend = conn.backend();
    let (now, until) = (clock::now(backend), clock::now_plus(backend, lease));
    let statement = format!(
        "INSERT INTO deliveries (message_id, template, recipient_hint, status, attempts, \
             smtp_message_id, created_at, updated_at, claimed_until, unfinished_attempts) \
         VALUES ($1, $2, $3, 'sending', 1, $4, {now}, {now}, {until}, 0) \
         ON CONFLICT (message_id) DO UPDATE SET status = 'sending', \
             attempts = deliveries.attempts + 1, \
             unfinished_attempts = deliveries.unfinished_attempts \
                 + CASE WHEN deliveries.status = 'sending' THEN 1 ELSE 0 END, \
             updated_at = {now}, claimed_until = {until} \
         WHERE deliveries.status <> 'sent' AND NOT (deliveries.status = 'sending' \
             AND deliveries.claimed_until IS NOT NULL AND deliveries.claimed_until > {now}) \
         RETURNING *"
    );
    let claimed: Option<Delivery> = shared::db::sql_query(conn, &statement)
        .bind::<Text, _>(&attempt.message_id)
        .bind::<Text, _>(&attempt.template)
        .bind::<Text, _>(&attempt.recipient_hint)
        .bind::<Text, _>(&attempt.smtp_message_id)
        .get_result(conn)
        .optional()?;
    if let Some(record) = claimed {
        return Ok(Claim::Granted(record));
    }
    // Not claimed: which of the two reasons is only for the verdict; the claim itself was atomic.
    Ok(match find(conn, &attempt.message_id)? {
        Some(record) if record.status == DeliveryStatus::Sent => Claim::AlreadySent,
        _ => Claim::HeldElsewhere,
    })
}

/// Releases every claim, so that messages left `sending` by an earlier run can be sent at once.
/// Only for a process that owns its database alone (the one-process platform holding its data
/// directory's lock): there every claim found at start belongs to a run that was killed.
pub fn void_claims(conn: &mut DbConn) -> QueryResult<usize> {
    use deliveries::dsl;
    diesel::update(dsl::deliveries.filter(dsl::claimed_until.is_not_null()))
        .set(dsl::claimed_until.eq(None::<NaiveDateTime>))
        .execute(conn)
}

/// Sets the outcome of the attempt in progress.
pub fn finish(
    conn: &mut DbConn,
    message_id: &str,
    status: DeliveryStatus,
    error: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    use deliveries::dsl;
    let sent_at = (status == DeliveryStatus::Sent).then_some(now);
    diesel::update(dsl::deliveries.find(message_id))
        .set((
            dsl::status.eq(status),
            dsl::last_error.eq(error),
            dsl::updated_at.eq(now),
            dsl::sent_at.eq(sent_at),
            // The attempt is over: its claim with it.
            dsl::claimed_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)
}

/// The latest records, newest first, optionally of one status.
pub fn list(conn: &mut DbConn, status: Option<DeliveryStatus>, limit: i64) -> QueryResult<Vec<Delivery>> {
    let mut query = deliveries::table
        .select(Delivery::as_select())
        .order(deliveries::updated_at.desc())
        .limit(limit)
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(deliveries::status.eq(status));
    }
    query.load(conn)
}

/// `ada@example.com` -> `a***@example.com`: enough to tell deliveries apart, not an address book.
pub fn mask_address(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn addresses_are_masked() {
        assert_eq!(super::mask_address("ada@example.com"), "a***@example.com");
        assert_eq!(super::mask_address("nonsense"), "***");
    }
}
