//! The transactional outbox: a service writes the message row in the same database transaction as
//! the change that causes it ([`enqueue`]); the [`relay`](super::relay) publishes pending rows with
//! publisher confirms and marks them published. The broker being down therefore never fails an
//! HTTP request and never loses a message. The table is created by the auth-server's migrations
//! (the jobs-service writes to the same database).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::contracts::{Envelope, Message};
use crate::db::{DbConn, clock};

diesel::table! {
    outbox_messages (message_id) {
        message_id -> Text,
        exchange -> Text,
        routing_key -> Text,
        message_type -> Text,
        body -> Text,
        created_at -> Timestamp,
        next_attempt_at -> Timestamp,
        attempts -> Integer,
        last_error -> Nullable<Text>,
        published_at -> Nullable<Timestamp>,
    }
}

/// A row of the outbox.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = outbox_messages, treat_none_as_null = true)]
pub struct OutboxMessage {
    pub message_id: String,
    /// Logical exchange name (`commands`, `events`), mapped to the real name by the topology.
    pub exchange: String,
    pub routing_key: String,
    pub message_type: String,
    pub body: String,
    pub created_at: NaiveDateTime,
    pub next_attempt_at: NaiveDateTime,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub published_at: Option<NaiveDateTime>,
}

/// Writes `envelope` to the outbox. Call it inside the transaction that makes the change the
/// message reports, then nudge the relay after the commit so it publishes at once. The row is due
/// at once by the database's clock, the one the relays compare it with.
pub fn enqueue<M: Message>(conn: &mut DbConn, envelope: &Envelope<M>) -> QueryResult<()> {
    use outbox_messages::dsl;
    let now = || clock::now_expression(conn.backend());
    let body = serde_json::to_string(envelope)
        .map_err(|error| diesel::result::Error::SerializationError(Box::new(error)))?;
    let row = (
        dsl::message_id.eq(&envelope.message_id),
        dsl::exchange.eq(M::EXCHANGE.as_str()),
        dsl::routing_key.eq(M::TYPE),
        dsl::message_type.eq(&envelope.message_type),
        dsl::body.eq(body),
        dsl::created_at.eq(now()),
        dsl::next_attempt_at.eq(now()),
        dsl::attempts.eq(0),
    );
    diesel::insert_into(outbox_messages::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Rows not yet published (the backlog an alert may watch).
pub fn pending_count(conn: &mut DbConn) -> QueryResult<i64> {
    outbox_messages::table
        .filter(outbox_messages::published_at.is_null())
        .count()
        .get_result(conn)
}
