//! The client_credentials grant: a confidential client acting on its own behalf. It gets an access
//! token only (no refresh token: it can always ask again) and no family. The token row is stored by
//! the `TokenWriter`, which commits concurrent requests' tokens together.

use std::sync::Arc;

use super::{TokenOwner, TokenResponse, new_access_token, resolve_requested_scope};
use crate::domain::client::Client;
use crate::domain::scope::ScopeSet;
use crate::domain::time;
use crate::error::OAuthError;
use crate::state::AppState;
use crate::token_writer::WriteError;

/// Issues an access token to an authenticated confidential client.
pub async fn issue(
    state: &AppState,
    client: Arc<Client>,
    requested: Option<ScopeSet>,
) -> Result<TokenResponse, OAuthError> {
    if client.is_public {
        return Err(OAuthError::unauthorized_client(
            "client_credentials is for confidential clients only",
        ));
    }
    let scope = resolve_requested_scope(&state.pool, &client, requested.as_ref()).await?;
    let lifetimes = &state.settings.tokens;
    let owner = TokenOwner {
        client_id: &client.id,
        user_id: None,
        grant_id: None,
    };
    let (row, access_token) = new_access_token(&owner, &scope, time::now(), lifetimes);
    state
        .token_writer
        .insert(row)
        .await
        .map_err(|error| match error {
            WriteError::Unavailable => {
                OAuthError::unavailable(anyhow::anyhow!("the token could not be stored"))
            }
            WriteError::ClientGone => OAuthError::invalid_client(&state.settings.issuer),
            WriteError::Failed => OAuthError::server_error(anyhow::anyhow!("the token could not be stored")),
        })?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: lifetimes.access_token_ttl_secs,
        refresh_token: None,
        scope: scope.to_string(),
        id_token: None,
    })
}
