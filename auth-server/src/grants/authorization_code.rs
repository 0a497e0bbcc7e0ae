//! The authorization_code grant: a code, redeemed once, by the client it was issued to, with the
//! redirect URI of the request and the PKCE verifier of its challenge.
//!
//! Redemption is atomic: the first request to mark the code used wins. Any later redemption that is
//! otherwise valid (right client, redirect URI and verifier) is a replay, and revokes every token
//! issued from the code (OAuth 2.1 §4.1.3). A replay that fails those checks revokes nothing, so an
//! attacker holding only a stolen code cannot revoke the legitimate client's tokens.

use shared::db::DbConn;

use super::{TokenResponse, start_family};
use crate::configuration::TokenSettings;
use crate::db;
use crate::db::models::AuthorizationCode;
use crate::domain::client::Client;
use crate::domain::opaque_token::{self, TokenHash};
use crate::domain::pkce::CodeVerifier;
use crate::domain::scope::ScopeSet;
use crate::domain::time;
use crate::error::OAuthError;
use crate::oidc::IdTokenIssuer;

/// The parameters of a code exchange.
pub struct CodeExchange {
    pub code: String,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
}

/// Exchanges a code for tokens.
pub fn exchange(
    conn: &mut DbConn,
    client: &Client,
    exchange: &CodeExchange,
    lifetimes: &TokenSettings,
    id_tokens: &IdTokenIssuer,
) -> Result<TokenResponse, OAuthError> {
    let verifier = exchange
        .code_verifier
        .as_deref()
        .map(CodeVerifier::parse)
        .transpose()
        .map_err(|error| OAuthError::invalid_request(error.to_string()))?;
    let code_hash = opaque_token::hash(&exchange.code);

    // The inner `Err` is a refusal that must still commit (the revocation of a replayed code's family).
    let outcome: Result<TokenResponse, OAuthError> = shared::db::transaction(conn, |conn| {
        let Some(code) = db::authorization_codes::find(conn, &code_hash)? else {
            return Ok(Err(OAuthError::invalid_grant(
                "the authorization code is invalid",
            )));
        };
        if let Err(refusal) = check_binding(&code, client, exchange, verifier.as_ref()) {
            return Ok(Err(refusal));
        }
        if !db::users::is_enabled(conn, &code.user_id)? {
            return Ok(Err(OAuthError::invalid_grant("the user's account is disabled")));
        }
        let now = time::now();
        if code.used_at.is_none() && code.expires_at <= now {
            return Ok(Err(OAuthError::invalid_grant(
                "the authorization code has expired",
            )));
        }
        if code.used_at.is_some() || !db::authorization_codes::claim(conn, &code_hash, now)? {
            revoke_family_of_replayed(conn, &code_hash, now)?;
            return Ok(Err(OAuthError::invalid_grant(
                "the authorization code has already been used",
            )));
        }
        let scope = ScopeSet::parse(&code.scope).unwrap_or_default();
        let session_hash = code.session_hash.as_deref();
        let (grant_id, mut response) =
            start_family(conn, client, &code.user_id, session_hash, &scope, now, lifetimes)?;
        db::authorization_codes::set_grant(conn, &code_hash, &grant_id)?;
        if scope.contains("openid") {
            // Signed inside the transaction: if signing fails, no token is left behind.
            let id_token = id_tokens.sign(conn, client, &code, &response.access_token)?;
            response.id_token = Some(id_token);
        }
        Ok::<_, OAuthError>(Ok(response))
    })?;
    outcome
}

/// The checks that make a redemption "otherwise valid": the code is bound to its client, its
/// redirect URI and its PKCE challenge.
fn check_binding(
    code: &AuthorizationCode,
    client: &Client,
    exchange: &CodeExchange,
    verifier: Option<&CodeVerifier>,
) -> Result<(), OAuthError> {
    if code.client_id != client.id {
        return Err(OAuthError::invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    let redirect_matches = match exchange.redirect_uri.as_deref() {
        Some(sent) => sent == code.redirect_uri.as_str(),
        // OAuth 2.0 clients repeat redirect_uri when the authorization request carried it.
        None => !code.redirect_uri_explicit,
    };
    if !redirect_matches {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    match (&code.code_challenge, verifier) {
        (Some(challenge), Some(verifier)) if challenge.is_satisfied_by(verifier) => Ok(()),
        (Some(_), Some(_)) => Err(OAuthError::invalid_grant(
            "code_verifier does not match the code_challenge",
        )),
        (Some(_), None) => Err(OAuthError::invalid_grant("code_verifier is required")),
        // A verifier without a challenge is a PKCE downgrade attempt (RFC 9700 §4.8.2).
        (None, Some(_)) => Err(OAuthError::invalid_request(
            "code_verifier was sent but the authorization request had no code_challenge",
        )),
        (None, None) => Ok(()),
    }
}

/// Revokes the family created by the code's first redemption. The winner of a concurrent redemption
/// has committed by the time the loser's claim returns, so its family id is visible here.
fn revoke_family_of_replayed(
    conn: &mut DbConn,
    code_hash: &TokenHash,
    now: chrono::NaiveDateTime,
) -> diesel::QueryResult<()> {
    let grant_id = db::authorization_codes::find(conn, code_hash)?.and_then(|code| code.grant_id);
    if let Some(grant_id) = grant_id {
        tracing::warn!(grant.id = %grant_id, "authorization code replayed: revoking its tokens");
        metrics::counter!("oauth_code_replay_total").increment(1);
        db::grants::revoke(conn, &grant_id, "authorization_code_replayed", now)?;
    }
    Ok(())
}
