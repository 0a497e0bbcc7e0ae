//! The refresh_token grant with rotation: every use returns a new refresh token and retires the one
//! presented. Presenting a retired token again is reuse, a sign that it was stolen: the whole family
//! is revoked (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2). There is no grace period; two concurrent
//! refreshes with one token count as reuse.

use shared::db::DbConn;
use shared::messaging::relay::OutboxRelay;

use super::{FamilyRef, TokenOwner, TokenResponse, mint_access_token, mint_refresh_token};
use crate::accounts::security_alert;
use crate::configuration::TokenSettings;
use crate::db;
use crate::db::models::RefreshToken;
use crate::domain::client::Client;
use crate::domain::opaque_token::{self, TokenHash, TokenKind};
use crate::domain::scope::ScopeSet;
use crate::domain::time;
use crate::error::OAuthError;

/// How a rotation ended. A refusal still commits: the revocation of a reused family must stick.
enum Rotation {
    Rotated(TokenResponse),
    Refused(OAuthError),
    /// The token was presented again: its family is revoked and the user alerted (through the
    /// outbox, which is worth a nudge once committed).
    Reused,
}

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
    if TokenKind::of(presented) != Some(TokenKind::RefreshToken) {
        return Err(OAuthError::invalid_grant("the refresh token is invalid"));
    }
    let token_hash = opaque_token::hash(presented);
    let rotation = shared::db::transaction(conn, |conn| {
        let token = match lock_presented(conn, client, &token_hash)? {
            Checked::Valid(token) => token,
            Checked::Refused(refusal) => return Ok(Rotation::Refused(refusal)),
        };
        rotate_locked(conn, client, token, requested, lifetimes)
    })?;
    match rotation {
        Rotation::Rotated(response) => Ok(response),
        Rotation::Refused(refusal) => Err(refusal),
        Rotation::Reused => {
            if let Some(relay) = outbox {
                relay.nudge(); // The alert is committed: send it now.
            }
            Err(OAuthError::invalid_grant(
                "the refresh token has already been used",
            ))
        }
    }
}

/// What the presented token turned out to be, with its family locked.
enum Checked {
    Valid(RefreshToken),
    Refused(OAuthError),
}

/// Finds the presented token, takes turns with revocations and other rotations of its family
/// (the family's row lock), then reads the token again: what it says now is what every concurrent
/// writer has committed. Refuses what belongs to another client, a revoked family or token, and a
/// disabled user.
fn lock_presented(conn: &mut DbConn, client: &Client, token_hash: &TokenHash) -> Result<Checked, OAuthError> {
    let refuse = |description: &'static str| Ok(Checked::Refused(OAuthError::invalid_grant(description)));
    let Some(found) = db::refresh_tokens::find(conn, token_hash)? else {
        return refuse("the refresh token is invalid");
    };
    if found.client_id != client.id {
        return refuse("the refresh token was issued to another client");
    }
    let family = db::grants::lock(conn, &found.grant_id)?;
    if family.is_none_or(|family| family.revoked_at.is_some()) {
        return refuse("the refresh token has been revoked");
    }
    if !db::users::is_enabled(conn, &found.user_id)? {
        return refuse("the user's account is disabled");
    }
    match db::refresh_tokens::find(conn, token_hash)? {
        None => refuse("the refresh token is invalid"),
        Some(token) if token.revoked_at.is_some() => refuse("the refresh token has been revoked"),
        Some(token) => Ok(Checked::Valid(token)),
    }
}

/// The rotation proper, on a token whose family is locked: reuse revokes the family; otherwise a
/// new access token and a new refresh token, the old one marked used.
fn rotate_locked(
    conn: &mut DbConn,
    client: &Client,
    token: RefreshToken,
    requested: Option<&ScopeSet>,
    lifetimes: &TokenSettings,
) -> Result<Rotation, OAuthError> {
    let now = time::now();
    let reused = token.used_at.is_some();
    if !reused && token.expires_at <= now {
        return Ok(Rotation::Refused(OAuthError::invalid_grant(
            "the refresh token has expired",
        )));
    }
    let family_scope = ScopeSet::parse(&token.scope).unwrap_or_default();
    let scope = match requested {
        Some(requested) if !reused && !requested.is_subset(&family_scope) => {
            return Ok(Rotation::Refused(OAuthError::invalid_scope(
                "the requested scope exceeds the scope originally granted",
            )));
        }
        Some(requested) => requested.clone(),
        None => family_scope.clone(),
    };
    let presented = TokenHash::from_stored(token.token_hash.clone());
    if reused || !db::refresh_tokens::claim_for_rotation(conn, &presented, now)? {
        tracing::warn!(
            grant.id = %token.grant_id,
            client.id = %client.id,
            "refresh token reused: revoking its family",
        );
        metrics::counter!("oauth_refresh_token_reuse_total").increment(1);
        db::grants::revoke(conn, &token.grant_id, "refresh_token_reused", now)?;
        security_alert::refresh_token_reused(conn, &token.user_id, client, now)?;
        return Ok(Rotation::Reused);
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
    let refresh_token = mint_refresh_token(conn, &family, Some(&token.token_hash), now, lifetimes)?;
    Ok(Rotation::Rotated(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: lifetimes.access_token_ttl_secs,
        refresh_token: Some(refresh_token),
        scope: scope.to_string(),
        id_token: None,
    }))
}
