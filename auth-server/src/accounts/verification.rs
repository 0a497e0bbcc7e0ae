//! `/verify-email`: the emailed link confirms the address, once; `/verify-email/resend` sends a
//! new link to an unconfirmed address.

use chrono::NaiveDateTime;
use shared::db::DbConn;

use super::AccountContext;
use crate::db;
use crate::db::account_events::AccountEvent;
use crate::db::account_links::Purpose;
use crate::domain::opaque_token;
use crate::error::StoreError;

/// Confirms the address the link was sent to. False if the link is unknown, used or expired.
pub fn confirm(conn: &mut DbConn, link: &str, now: NaiveDateTime) -> Result<bool, StoreError> {
    let hash = opaque_token::hash(link);
    shared::db::transaction(conn, |conn| {
        let Some(user_id) = db::account_links::use_once(conn, &hash, Purpose::VerifyEmail, now)? else {
            return Ok(false);
        };
        db::users::mark_email_verified(conn, &user_id, now)?;
        db::account_links::retire_all(conn, &user_id, Purpose::VerifyEmail, now)?;
        db::account_events::record(conn, AccountEvent::EmailVerified, Some(&user_id), None, now)?;
        tracing::info!(user.id = %user_id, "email address verified");
        Ok(true)
    })
}

/// Sends a new link if `email` belongs to an enabled, unconfirmed account. The caller answers the
/// same whatever happened.
pub fn resend(
    conn: &mut DbConn,
    context: &AccountContext,
    email: &str,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    shared::db::transaction(conn, |conn| {
        if let Some(user) = db::users::find_by_email(conn, email)?
            && !user.disabled
            && user.email_verified_at.is_none()
        {
            context.email_link(conn, &user, Purpose::VerifyEmail, now)?;
        }
        Ok(())
    })
}
