//! The refresh_token grant with rotation: every use returns a new refresh token and retires the one
//! presented. Presenting a retired token again is reuse, a sign that it was stolen: the whole family
//! is revoked (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2). There is no grace period; two concurrent
//! refreshes with one token count as reuse.

use std::cell::Cell;

use shared::db::DbConn;
use shared::messaging::relay::OutboxRelay;

use super::{FamilyRef, TokenOwner, TokenResponse, mint_access_token, mint_refresh_token};
use crate::accounts::security_alert;
use crate::configuration::TokenSettings;
use crate::db;
use crate::domain::client::Client;
use crate::domain::opaque_token::{self, TokenKind};
use crate::domain::scope::ScopeSet;
use crate::domain::time;
use crate::error::OAuthError;

/// Rotates a refresh token: a new access token (with the requested scope, which may only narrow)
/// and a new refresh token carrying the family's full scope.
pub fn rotate(
    conn: &mut DbConn,
    client: &Client,
    presented: &str,
    requested: Option<&ScopeSet>,
    lifetimes: &TokenSettings,
    outbox: Option<&OutboxRelay>,
) -> Result<TokenResponse, OAuthError> {
    let reuse_detected = Cell::new(false);
    if TokenKind::of(presented) != Some(TokenKind::RefreshToken) {
        return Err(OAuthError::invalid_grant("the refresh token is invalid"));
    }
    let token_hash = opaque_token::hash(presented);

    // The inner `Err` is a refusal that must still commit (the revocation of a reused family).
    let outcome: Result<TokenResponse, OAuthError> = shared::db::transaction(conn, |conn| {
        let Some(found) = db::refresh_tokens::find(conn, &token_hash)? else {
            return Ok(Err(OAuthError::invalid_grant("the refresh token is invalid")));
        };
        if found.client_id != client.id {
            return Ok(Err(OAuthError::invalid_grant(
                "the refresh token was issued to another client",
            )));
        }
        // Take turns with revocations and other rotations of this family, then read the token
        // again: what it says now is what every concurrent writer has committed.
        let family = db::grants::lock(conn, &found.grant_id)?;
        if family.is_none_or(|family| family.revoked_at.is_some()) {
            return Ok(Err(OAuthError::invalid_grant(
                "the refresh token has been revoked",
            )));
        }
        if !db::users::is_enabled(conn, &found.user_id)? {
            return Ok(Err(OAuthError::invalid_grant("the user's account is disabled")));
        }
        let Some(token) = db::refresh_tokens::find(conn, &token_hash)? else {
            return Ok(Err(OAuthError::invalid_grant("the refresh token is invalid")));
        };
        if token.revoked_at.is_some() {
            return Ok(Err(OAuthError::invalid_grant(
                "the refresh token has been revoked",
            )));
        }
        let now = time::now();
        let reused = token.used_at.is_some();
        if !reused && token.expires_at <= now {
            return Ok(Err(OAuthError::invalid_grant("the refresh token has expired")));
        }
        let family_scope = ScopeSet::parse(&token.scope).unwrap_or_default();
        let scope = match requested {
            Some(requested) if !reused && !requested.is_subset(&family_scope) => {
                return Ok(Err(OAuthError::invalid_scope(
                    "the requested scope exceeds the scope originally granted",
                )));
            }
            Some(requested) => requested.clone(),
            None => family_scope.clone(),
        };
        if reused || !db::refresh_tokens::claim_for_rotation(conn, &token_hash, now)? {
            tracing::warn!(grant.id = %token.grant_id, client.id = %client.id, "refresh token reused: revoking its family");
            metrics::counter!("oauth_refresh_token_reuse_total").increment(1);
            db::grants::revoke(conn, &token.grant_id, "refresh_token_reused", now)?;
            security_alert::refresh_token_reused(conn, &token.user_id, client, now)?;
            reuse_detected.set(true);
            return Ok(Err(OAuthError::invalid_grant(
                "the refresh token has already been used",
            )));
        }
        let owner = TokenOwner {
            client_id: &client.id,
            user_id: Some(&token.user_id),
            grant_id: Some(&token.grant_id),
        };
        let access_token = mint_access_token(conn, &owner, &scope, now, lifetimes)?;
        let family = FamilyRef {
            grant_id: &token.grant_id,
            client_id: &client.id,
            user_id: &token.user_id,
            scope: &family_scope,
        };
        let refresh_token = mint_refresh_token(conn, &family, Some(&token_hash), now, lifetimes)?;
        Ok::<_, OAuthError>(Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: lifetimes.access_token_ttl_secs,
            refresh_token: Some(refresh_token),
            scope: scope.to_string(),
            id_token: None,
        }))
    })?;
    if reuse_detected.get()
        && let Some(relay) = outbox
    {
        relay.nudge(); // The alert is committed: send it now.
    }
    outcome
}
