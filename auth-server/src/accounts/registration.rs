//! `/register`: a new account, unverified until its owner follows the emailed link.

use chrono::NaiveDateTime;
use shared::db::DbConn;

use super::AccountContext;
use crate::db;
use crate::db::account_events::AccountEvent;
use crate::db::account_links::Purpose;
use crate::db::models::User;
use crate::domain::ids::UserId;
use crate::domain::scope::ScopeSet;
use crate::error::StoreError;

/// What the form gave, validated, with the password already hashed.
pub struct NewAccount {
    pub username: String,
    pub email: String,
    pub password_hash: String,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Registered {
    /// Created; the verification email is queued.
    Created,
    /// The username is taken: the form says so (usernames are not secret).
    UsernameTaken,
    /// The address belongs to an account already: the answer is the same as `Created`, and no
    /// account is created, but the username is reserved with the password typed, as an unverified
    /// account would hold it. Otherwise asking for the same username again (taken only if the
    /// first address was free) or signing in with it ("confirm your address" only if it was) would
    /// tell who has an account here.
    EmailTaken,
}

/// Whether the username is free for a new account: asked before the password is hashed, so a
/// taken name costs no argon2 work. `register` checks again in its transaction.
pub fn username_is_free(conn: &mut DbConn, username: &str) -> Result<bool, StoreError> {
    Ok(!db::username_reservations::is_taken(conn, username)?)
}

pub fn register(
    conn: &mut DbConn,
    context: &AccountContext,
    account: NewAccount,
    now: NaiveDateTime,
) -> Result<Registered, StoreError> {
    shared::db::transaction(conn, |conn| {
        if db::username_reservations::is_taken(conn, &account.username)? {
            return Ok(Registered::UsernameTaken);
        }
        if db::users::find_by_email(conn, &account.email)?.is_some() {
            return match db::username_reservations::insert(
                conn,
                &account.username,
                &account.password_hash,
                now,
            ) {
                Ok(()) => Ok(Registered::EmailTaken),
                Err(error) if db::is_unique_violation(&error) => Ok(Registered::UsernameTaken),
                Err(error) => Err(error.into()),
            };
        }
        let user = User {
            id: UserId::random(),
            username: account.username,
            email: account.email,
            password_hash: account.password_hash,
            disabled: false,
            created_at: now,
            updated_at: now,
            email_verified_at: None,
        };
        match db::users::insert(conn, &user) {
            Ok(()) => {}
            // A concurrent registration took the name or the address between our reads and now.
            Err(error) if db::is_unique_violation(&error) => return Ok(Registered::UsernameTaken),
            Err(error) => return Err(error.into()),
        }
        let wanted = ScopeSet::parse(&context.settings.registration_scope).unwrap_or_default();
        let known = db::scopes::find_all(conn, &wanted)?;
        db::users::set_scopes(
            conn,
            &user.id,
            &ScopeSet::from_names(known.into_iter().map(|scope| scope.name)),
        )?;
        db::account_events::record(conn, AccountEvent::Registered, Some(&user.id), None, now)?;
        context.email_link(conn, &user, Purpose::VerifyEmail, now)?;
        tracing::info!(user.id = %user.id, "account registered");
        Ok(Registered::Created)
    })
}
