//! `deliveries`: one record per message id, what happened to it.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use shared::db::DbConn;

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
    }
}

/// What happened to one email command.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = deliveries, treat_none_as_null = true)]
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

/// Records that an attempt begins (creating the record on the first one). Returns the record.
pub fn begin_attempt(conn: &mut DbConn, fresh: &Delivery) -> QueryResult<Delivery> {
    use deliveries::dsl;
    // An upsert: diesel builds `ON CONFLICT` for each backend, not for the two together.
    shared::on_backend!(conn, conn => diesel::insert_into(dsl::deliveries)
        .values(fresh.clone())
        .on_conflict(dsl::message_id)
        .do_update()
        .set((
            dsl::status.eq(DeliveryStatus::Sending),
            dsl::attempts.eq(dsl::attempts + 1),
            dsl::updated_at.eq(fresh.updated_at),
        ))
        .returning(deliveries::all_columns)
        .get_result(conn))
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
