//! `/password/forgot` and `/password/reset`: an emailed single-use link to choose a new password.
//! A reset ends every session and token family of the user and tells them by email.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use shared::db::DbConn;
use shared::messaging::contracts::EmailTemplate;

use super::AccountContext;
use crate::db;
use crate::db::account_events::AccountEvent;
use crate::db::account_links::Purpose;
use crate::domain::opaque_token;
use crate::error::StoreError;

/// Sends a reset link if `email` belongs to an enabled account. The caller answers the same
/// whether or not it does.
pub fn request(
    conn: &mut DbConn,
    context: &AccountContext,
    email: &str,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    shared::db::transaction(conn, |conn| {
        if let Some(user) = db::users::find_by_email(conn, email)?
            && !user.disabled
        {
            context.email_link(conn, &user, Purpose::ResetPassword, now)?;
        }
        Ok(())
    })
}

/// Whether a reset link is still usable (to show the form or an error page).
pub fn link_is_usable(conn: &mut DbConn, link: &str, now: NaiveDateTime) -> Result<bool, StoreError> {
    let hash = opaque_token::hash(link);
    Ok(db::account_links::find_usable(conn, &hash, Purpose::ResetPassword, now)?.is_some())
}

/// Sets the new password if the link is usable (using it), ends every session and family of the
/// user, and queues the password-changed email. False if the link is unknown, used or expired.
pub fn complete(
    conn: &mut DbConn,
    context: &AccountContext,
    link: &str,
    password_hash: &str,
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    let hash = opaque_token::hash(link);
    shared::db::transaction(conn, |conn| {
        let Some(user_id) = db::account_links::use_once(conn, &hash, Purpose::ResetPassword, now)? else {
            return Ok(false);
        };
        let Some(user) = db::users::find_by_id(conn, &user_id)?.filter(|user| !user.disabled) else {
            return Ok(false);
        };
        db::users::set_password_hash(conn, &user.id, password_hash, now)?;
        // The link reached the address: that proves it as well as a verification link would.
        db::users::mark_email_verified(conn, &user.id, now)?;
        db::account_links::retire_all(conn, &user.id, Purpose::ResetPassword, now)?;
        db::users::sign_out_everywhere(conn, &user.id, "password_reset", now)?;
        db::account_events::record(conn, AccountEvent::PasswordReset, Some(&user.id), None, now)?;
        context.email(conn, &user, EmailTemplate::PasswordChanged, BTreeMap::new())?;
        tracing::info!(user.id = %user.id, "password reset");
        Ok(true)
    })
}
