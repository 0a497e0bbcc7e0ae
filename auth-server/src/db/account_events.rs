//! Queries on `account_events`: security-relevant facts, counted by the jobs-service's reports.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use shared::db::DbConn;

use super::schema::account_events;
use crate::domain::ids::{ClientId, UserId};
use crate::domain::opaque_token;

/// The kinds of facts recorded.
#[derive(Debug, Clone, Copy)]
pub enum AccountEvent {
    LoginFailed,
    RefreshTokenReuse,
    PasswordReset,
    Registered,
    EmailVerified,
}

impl AccountEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountEvent::LoginFailed => "login_failed",
            AccountEvent::RefreshTokenReuse => "refresh_token_reuse",
            AccountEvent::PasswordReset => "password_reset",
            AccountEvent::Registered => "registered",
            AccountEvent::EmailVerified => "email_verified",
        }
    }
}

pub fn record(
    conn: &mut DbConn,
    event: AccountEvent,
    user_id: Option<&UserId>,
    client_id: Option<&ClientId>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(account_events::table)
        .values((
            account_events::id.eq(opaque_token::random_id()),
            account_events::kind.eq(event.as_str()),
            account_events::user_id.eq(user_id),
            account_events::client_id.eq(client_id),
            account_events::occurred_at.eq(now),
        ))
        .execute(conn)
        .map(|_| ())
}
