//! `mailbox_messages`: the emails the development mailbox caught, newest first.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use shared::db::DbConn;

diesel::table! {
    mailbox_messages (message_id) {
        message_id -> Text,
        recipient -> Text,
        subject -> Text,
        text_body -> Text,
        html_body -> Text,
        received_at -> Timestamp,
    }
}

/// One caught email.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = mailbox_messages)]
pub struct MailboxMessage {
    pub message_id: String,
    pub recipient: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub received_at: NaiveDateTime,
}

/// Keeps `message`; a second copy of the same message id (a command delivered again after a
/// crash) leaves the first in place.
pub fn insert(conn: &mut DbConn, message: &MailboxMessage) -> QueryResult<()> {
    shared::on_backend!(conn, conn => diesel::insert_into(mailbox_messages::table)
        .values(message)
        .on_conflict_do_nothing()
        .execute(conn)
        .map(|_| ()))
}

/// The latest `limit` messages, newest first.
pub fn latest(conn: &mut DbConn, limit: i64) -> QueryResult<Vec<MailboxMessage>> {
    mailbox_messages::table
        .select(MailboxMessage::as_select())
        .order((mailbox_messages::received_at.desc(), mailbox_messages::message_id))
        .limit(limit)
        .load(conn)
}

pub fn find(conn: &mut DbConn, message_id: &str) -> QueryResult<Option<MailboxMessage>> {
    mailbox_messages::table
        .find(message_id)
        .select(MailboxMessage::as_select())
        .first(conn)
        .optional()
}
