//! The security-alert email: a refresh token was used twice (a sign it was copied), so its family
//! was revoked and the user is told, in the same transaction as the revocation.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::QueryResult;
use shared::db::DbConn;
use shared::messaging::contracts::EmailTemplate;

use crate::db;
use crate::db::account_events::AccountEvent;
use crate::domain::client::Client;
use crate::domain::ids::UserId;

/// Records the reuse and queues the alert to the family's user.
pub fn refresh_token_reused(
    conn: &mut DbConn,
    user_id: &UserId,
    client: &Client,
    now: NaiveDateTime,
) -> QueryResult<()> {
    db::account_events::record(
        conn,
        AccountEvent::RefreshTokenReuse,
        Some(user_id),
        Some(&client.id),
        now,
    )?;
    let Some(user) = db::users::find_by_id(conn, user_id)? else {
        return Ok(());
    };
    let variables = BTreeMap::from([("client_id".to_owned(), client.name.clone())]);
    super::queue_email(conn, &user, EmailTemplate::SecurityAlert, variables, None)
}
