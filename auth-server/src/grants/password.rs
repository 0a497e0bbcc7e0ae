//! The resource owner password credentials grant (RFC 6749 §4.3). **Legacy**: OAuth 2.1 removes it,
//! because the client sees the user's password. It is off unless a confidential client is
//! registered with `--allow-password-grant`, it is not advertised in the metadata, sign-in
//! guessing is limited by the same throttles as the login page, and an unconfirmed account is
//! refused when `accounts.require_verified_email` is on, as on the login page.

use secrecy::SecretString;
use shared::db::run;

use super::{TokenResponse, resolve_requested_scope, start_family};
use crate::domain::client::Client;
use crate::domain::scope::ScopeSet;
use crate::domain::time;
use crate::error::{OAuthError, StoreError};
use crate::state::AppState;
use crate::{db, password, throttle};

/// What the client sent.
pub struct PasswordRequest {
    pub username: String,
    pub password: SecretString,
    pub scope: Option<ScopeSet>,
    /// The caller's address, for the throttles.
    pub address: String,
}

/// Checks the user's credentials and issues tokens (a new family, like a code exchange).
pub async fn issue(
    state: &AppState,
    client: &Client,
    request: PasswordRequest,
) -> Result<TokenResponse, OAuthError> {
    if !client.allows_grant(crate::domain::grant_type::GrantType::Password) {
        return Err(OAuthError::unsupported_grant_type(
            "the password grant is not supported for this client",
        ));
    }
    let scope = resolve_requested_scope(&state.pool, client, request.scope.as_ref()).await?;
    let account_key = format!("{}\u{0}{}", request.username, request.address);
    let limits = [
        (&state.throttles.login_per_account_and_ip, account_key.as_str()),
        (&state.throttles.login_per_ip, request.address.as_str()),
    ];
    if throttle::reserve_all(&limits).is_err() {
        return Err(OAuthError::invalid_grant(
            "too many failed sign-in attempts; retry later",
        ));
    }
    let username = request.username.clone();
    let user = run(&state.pool, move |conn| {
        db::users::find_by_username(conn, &username).map_err(StoreError::from)
    })
    .await?;
    let matches = password::verify_off_thread(
        request.password,
        user.as_ref().map(|user| user.password_hash.clone()),
    )
    .await;
    let Some(user) = user.filter(|user| matches && !user.disabled) else {
        metrics::counter!("auth_sign_in_total", "outcome" => "failure").increment(1);
        return Err(OAuthError::invalid_grant("the username or password is incorrect"));
    };
    throttle::release_all(&limits);
    // As on the login page, and only after the right password: a stranger learns nothing.
    if state.settings.accounts.require_verified_email && user.email_verified_at.is_none() {
        metrics::counter!("auth_sign_in_total", "outcome" => "unverified").increment(1);
        return Err(OAuthError::invalid_grant(
            "the account's email address is not confirmed yet",
        ));
    }
    let (client, lifetimes) = (client.clone(), state.settings.tokens.clone());
    let response = run(&state.pool, move |conn| {
        shared::db::transaction(conn, |conn| {
            // The account as it was checked, locked until the family exists (see the function).
            if !db::users::lock_unchanged(conn, &user.id, &user.password_hash)? {
                return Ok(Err(OAuthError::invalid_grant(
                    "the username or password is incorrect",
                )));
            }
            let held = db::users::scopes_of(conn, &user.id)?;
            let granted = scope.intersection(&held);
            if granted.is_empty() && !scope.is_empty() {
                return Ok(Err(OAuthError::invalid_scope(
                    "none of the requested scopes may be granted to this user",
                )));
            }
            let (_, response) =
                start_family(conn, &client, &user.id, None, &granted, time::now(), &lifetimes)?;
            tracing::info!(
                user.id = %user.id,
                client.id = %client.id,
                "tokens issued by the legacy password grant",
            );
            Ok::<_, OAuthError>(Ok(response))
        })
    })
    .await??;
    Ok(response)
}
