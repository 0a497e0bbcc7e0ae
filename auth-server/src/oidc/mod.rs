//! OpenID Connect on top of the OAuth server: signing keys, id_tokens, claims and discovery.

pub mod claims;
pub mod discovery;
pub mod id_token;
pub mod key_encryption;
pub mod keys;
pub mod logout;
pub mod rotation;

use std::sync::Arc;

use shared::db::DbPool;

use crate::configuration::Settings;
use crate::error::OAuthError;
use keys::KeyEncryptionKey;

/// What the token endpoint needs to sign id_tokens.
pub struct IdTokenIssuer {
    pub issuer: String,
    pub ttl_secs: u64,
    pub key_encryption: Arc<KeyEncryptionKey>,
}

impl IdTokenIssuer {
    pub fn new(issuer: &str, ttl_secs: u64, key_encryption: Arc<KeyEncryptionKey>) -> Self {
        IdTokenIssuer {
            issuer: issuer.to_owned(),
            ttl_secs,
            key_encryption,
        }
    }

    /// The id_token of a code exchange (OIDC Core §3.1.3.3).
    pub fn sign(
        &self,
        conn: &mut shared::db::DbConn,
        client: &crate::domain::client::Client,
        code: &crate::db::models::AuthorizationCode,
        access_token: &str,
    ) -> Result<String, OAuthError> {
        let facts = id_token::IdTokenFacts {
            issuer: &self.issuer,
            client,
            user_id: &code.user_id,
            auth_time: code.auth_time,
            nonce: code.nonce.as_deref(),
            session_hash: code.session_hash.as_deref(),
            access_token: Some(access_token),
            code: None,
            ttl_secs: self.ttl_secs,
        };
        id_token::sign(conn, &self.key_encryption, &facts).map_err(oauth_failure)
    }
}

/// At start: makes sure every algorithm has an active key (so the JWKS lists them before the first
/// token is signed) and that `keys.encryption_key` opens them, then starts the scheduled rotation.
/// A database that cannot be reached yet does not stop the start (readiness reports it, and the
/// keys are prepared on first use); a key that does not open them does.
pub async fn startup(pool: &DbPool, kek: &Arc<KeyEncryptionKey>, settings: &Settings) -> anyhow::Result<()> {
    let for_keys = kek.clone();
    match shared::db::run(pool, move |conn| keys::ensure_active(conn, &for_keys)).await {
        Ok(0) => {}
        Ok(created) => tracing::info!(
            keys.created = created,
            "created {created} id_token signing key(s)"
        ),
        Err(error) if shared::db::is_unavailable(&error) => tracing::warn!(
            error.cause = %format_args!("{error:#}"),
            "the signing keys could not be checked at start: the database is unreachable"
        ),
        Err(error) => return Err(error.context("cannot prepare the id_token signing keys")),
    }
    rotation::spawn(pool.clone(), kek.clone(), settings);
    Ok(())
}

/// A failure of key or token work, answered in the protocol's format: 503 when the database could
/// not be reached, 500 otherwise (the cause goes to the log, never to the client).
pub fn oauth_failure(error: anyhow::Error) -> OAuthError {
    if shared::db::is_unavailable(&error) {
        OAuthError::unavailable(error)
    } else {
        OAuthError::server_error(error)
    }
}
