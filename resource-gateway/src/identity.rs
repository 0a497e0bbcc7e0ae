//! The identity the gateway vouches for: a short-lived EdDSA JWT (`shared::identity::IdentityClaims`)
//! sent upstream in `X-Auth-Identity`, and the JWK Set of its public key at `/.well-known/jwks.json`.
//! The signing key comes from a PKCS#8 PEM file; without one, a key is generated at start, which is
//! fine for one replica but not for several behind one JWKS URL (a warning says so).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use moka::sync::Cache;
use shared::identity::IdentityClaims;

use crate::caller::Caller;
use crate::configuration::IdentitySettings;
use crate::token_cache::TokenKey;

/// Signs identity tokens and publishes the public key.
pub struct IdentitySigner {
    key: EncodingKey,
    key_id: String,
    jwks: JwkSet,
    settings: IdentitySettings,
    /// Signed tokens by caller, reused for half their lifetime: signing costs more than the rest
    /// of a cached request.
    signed: Cache<TokenKey, Arc<str>>,
}

impl IdentitySigner {
    pub fn new(settings: IdentitySettings) -> anyhow::Result<IdentitySigner> {
        let key = if settings.signing_key_file.is_empty() {
            tracing::warn!(
                "no identity.signing_key_file: using a key generated at start (not for several replicas)"
            );
            let rng = aws_lc_rs::rand::SystemRandom::new();
            // jsonwebtoken builds the JWK only from the 48-byte PKCS#8 v1 form.
            let pkcs8 = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8v1(&rng)
                .map_err(|_| anyhow::anyhow!("cannot generate an Ed25519 key"))?;
            EncodingKey::from_ed_der(pkcs8.as_ref())
        } else {
            let pem = std::fs::read(&settings.signing_key_file).map_err(|error| {
                anyhow::anyhow!(
                    "cannot read identity.signing_key_file {}: {error}",
                    settings.signing_key_file
                )
            })?;
            EncodingKey::from_ed_pem(&pem).map_err(|error| {
                anyhow::anyhow!("identity.signing_key_file is not an Ed25519 PKCS#8 PEM key: {error}")
            })?
        };
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::EdDSA)?;
        let key_id = jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)?;
        jwk.common.key_id = Some(key_id.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk.common.key_algorithm = Some(KeyAlgorithm::EdDSA);
        let reuse_for = Duration::from_secs((settings.ttl_secs / 2).max(1));
        Ok(IdentitySigner {
            key,
            key_id,
            jwks: JwkSet { keys: vec![jwk] },
            signed: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(reuse_for)
                .build(),
            settings,
        })
    }

    /// A token vouching for `caller`, valid `ttl_secs` (never beyond the access token's own `exp`),
    /// reused for half its lifetime for the same access token (`token_key`, its fingerprint).
    pub fn sign(&self, caller: &Caller, token_key: &TokenKey) -> anyhow::Result<Arc<str>> {
        if let Some(token) = self.signed.get(token_key) {
            return Ok(token);
        }
        let scope = caller.scopes.join(" ");
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
        let mut exp = now + self.settings.ttl_secs as i64;
        if let Some(token_exp) = caller.expires_at {
            exp = exp.min(token_exp);
        }
        let claims = IdentityClaims {
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            sub: caller.subject.clone(),
            client_id: caller.client_id.clone(),
            scope,
            username: caller.username.clone(),
            iat: now,
            exp,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.key_id.clone());
        let token: Arc<str> = jsonwebtoken::encode(&header, &claims, &self.key)?.into();
        self.signed.insert(*token_key, token.clone());
        Ok(token)
    }

    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }
}
