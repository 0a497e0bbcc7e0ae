//! User accounts.

use chrono::NaiveDateTime;
use secrecy::SecretString;
use serde::Serialize;
use shared::db::DbConn;

use super::{AdminError, actor, scopes};
use crate::db;
use crate::db::models::User;
use crate::domain::account;
use crate::domain::ids::UserId;
use crate::domain::time;
use crate::password;

/// What an operator gives to create a user.
pub struct UserSpec {
    pub username: String,
    pub email: String,
    pub scope: Option<String>,
    pub password: SecretString,
}

/// A user as the CLI prints it (never the password hash).
#[derive(Debug, Serialize)]
pub struct UserView {
    pub id: String,
    pub username: String,
    pub email: String,
    pub scope: String,
    pub disabled: bool,
    pub created_at: NaiveDateTime,
}

pub fn create(conn: &mut DbConn, spec: &UserSpec) -> Result<UserView, AdminError> {
    let username =
        account::username(&spec.username).map_err(|message| AdminError::invalid("--username", message))?;
    let email = account::email(&spec.email).map_err(|message| AdminError::invalid("--email", message))?;
    password::check_policy(&spec.password)
        .map_err(|message| AdminError::invalid("--password-stdin", message))?;
    let password_hash = password::hash(&spec.password)?;
    let now = time::now();
    let user = User {
        id: UserId::random(),
        username: username.clone(),
        email,
        password_hash,
        disabled: false,
        created_at: now,
        updated_at: now,
        // An administrator vouches for the address.
        email_verified_at: Some(now),
    };
    shared::db::transaction(conn, |conn| {
        let allowed = scopes::parse_known(conn, spec.scope.as_deref())?;
        db::users::insert(conn, &user).map_err(|error| {
            if db::is_unique_violation(&error) {
                AdminError::Conflict("a user with this username or email address already exists".into())
            } else {
                error.into()
            }
        })?;
        db::users::set_scopes(conn, &user.id, &allowed)?;
        Ok::<_, AdminError>(())
    })?;
    tracing::info!(admin.actor = %actor(), user.id = %user.id, "user created");
    view(conn, user)
}

pub fn list(conn: &mut DbConn) -> Result<Vec<UserView>, AdminError> {
    db::users::list(conn)?
        .into_iter()
        .map(|user| view(conn, user))
        .collect()
}

/// Sets a new password and ends every session and grant of the user: whoever knew the old password
/// loses access.
pub fn set_password(
    conn: &mut DbConn,
    username: &str,
    new_password: &SecretString,
) -> Result<(), AdminError> {
    password::check_policy(new_password)
        .map_err(|message| AdminError::invalid("--password-stdin", message))?;
    let hash = password::hash(new_password)?;
    let user = find(conn, username)?;
    let now = time::now();
    shared::db::transaction(conn, |conn| {
        db::users::set_password_hash(conn, &user.id, &hash, now)?;
        db::users::sign_out_everywhere(conn, &user.id, "password_changed", now)
    })?;
    tracing::info!(admin.actor = %actor(), user.id = %user.id, "user password set");
    Ok(())
}

/// Disables an account: it can no longer sign in, and its sessions and tokens are revoked.
pub fn disable(conn: &mut DbConn, username: &str) -> Result<(), AdminError> {
    let user = find(conn, username)?;
    let now = time::now();
    shared::db::transaction(conn, |conn| {
        db::users::set_disabled(conn, &user.id, true, now)?;
        db::users::sign_out_everywhere(conn, &user.id, "user_disabled", now)
    })?;
    tracing::info!(admin.actor = %actor(), user.id = %user.id, "user disabled");
    Ok(())
}

fn find(conn: &mut DbConn, username: &str) -> Result<User, AdminError> {
    db::users::find_by_username(conn, username)?
        .ok_or_else(|| AdminError::NotFound(format!("no user named {username}")))
}

fn view(conn: &mut DbConn, user: User) -> Result<UserView, AdminError> {
    let scope = db::users::scopes_of(conn, &user.id)?;
    Ok(UserView {
        id: user.id.into_string(),
        username: user.username,
        email: user.email,
        scope: scope.to_string(),
        disabled: user.disabled,
        created_at: user.created_at,
    })
}
