//! The client_credentials grant: a confidential client acting on its own behalf. It gets an access
//! token only (no refresh token: it can always ask again) and no family.

use shared::db::DbConn;

use super::{TokenOwner, TokenResponse, mint_access_token, resolve_requested_scope};
use crate::configuration::TokenSettings;
use crate::domain::client::Client;
use crate::domain::scope::ScopeSet;
use crate::domain::time;
use crate::error::OAuthError;

/// Issues an access token to an authenticated confidential client.
pub fn issue(
    conn: &mut DbConn,
    client: &Client,
    requested: Option<&ScopeSet>,
    lifetimes: &TokenSettings,
) -> Result<TokenResponse, OAuthError> {
    if client.is_public {
        return Err(OAuthError::unauthorized_client(
            "client_credentials is for confidential clients only",
        ));
    }
    let scope = resolve_requested_scope(conn, client, requested)?;
    let owner = TokenOwner {
        client_id: &client.id,
        user_id: None,
        grant_id: None,
    };
    let access_token = mint_access_token(conn, &owner, &scope, time::now(), lifetimes)?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: lifetimes.access_token_ttl_secs,
        refresh_token: None,
        scope: scope.to_string(),
    })
}
