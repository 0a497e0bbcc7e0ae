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
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub smtp_message_id: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
}

pub const SENDING: &str = "sending";
pub const RETRYING: &str = "retrying";
pub const SENT: &str = "sent";
pub const DEAD: &str = "dead";

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
        .values(fresh)
        .on_conflict(dsl::message_id)
        .do_update()
        .set((
            dsl::status.eq(SENDING),
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
    status: &str,
    error: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    use deliveries::dsl;
    let sent_at = (status == SENT).then_some(now);
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
pub fn list(conn: &mut DbConn, status: Option<&str>, limit: i64) -> QueryResult<Vec<Delivery>> {
    let mut query = deliveries::table
        .select(Delivery::as_select())
        .order(deliveries::updated_at.desc())
        .limit(limit)
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(deliveries::status.eq(status.to_owned()));
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
