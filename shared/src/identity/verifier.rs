//! Verifies the gateway's identity tokens against its published keys.
//!
//! The keys are cached. A token naming an unknown key id causes a fetch of the JWKS, but fetches are
//! spaced by at least `jwks_refresh_secs` and concurrent ones coalesce behind one lock, so a flood of
//! made-up key ids cannot turn into a flood on the gateway. The algorithm is pinned to EdDSA and
//! only Ed25519 keys are taken from the JWKS; the token's own `alg` only ever causes a refusal.

use crate::server::tls::TlsSettings;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::error::{IdentityError, TokenRejection};
use super::{IdentityClaims, IdentitySettings};
use crate::request_id::{self, REQUEST_ID_HEADER};

/// Verifies identity tokens; build one at startup and share it (`web::Data<IdentityVerifier>`).
pub struct IdentityVerifier {
    client: reqwest::Client,
    jwks_url: String,
    refresh_interval: Duration,
    max_age: Duration,
    validation: Validation,
    keys: RwLock<Arc<KeySet>>,
    refresh: Mutex<RefreshLog>,
}

impl IdentityVerifier {
    /// Builds the verifier without fetching anything, so a service starts while the gateway is down.
    pub fn new(settings: &IdentitySettings) -> anyhow::Result<IdentityVerifier> {
        Self::with_tls(settings, &TlsSettings::default())
    }

    /// As [`new`](Self::new), the JWKS fetched trusting `tls.ca_file` besides the system's roots.
    pub fn with_tls(settings: &IdentitySettings, tls: &TlsSettings) -> anyhow::Result<IdentityVerifier> {
        // With two crypto backends compiled in, jsonwebtoken has no default and would panic on first use.
        anyhow::ensure!(
            jsonwebtoken::crypto::CryptoProvider::try_get_default().is_some(),
            "jsonwebtoken has no default crypto provider (are both of its backends enabled?)"
        );
        let timeout = Duration::from_millis(settings.jwks_timeout_ms);
        let client = tls
            .trust(reqwest::Client::builder())?
            .connect_timeout(timeout)
            .timeout(timeout)
            .build()
            .context("failed to build the JWKS client")?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = settings.leeway_secs;
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        Ok(IdentityVerifier {
            client,
            jwks_url: settings.jwks_url.clone(),
            refresh_interval: Duration::from_secs(settings.jwks_refresh_secs),
            max_age: Duration::from_secs(settings.jwks_max_age_secs),
            validation,
            keys: RwLock::new(Arc::new(KeySet::default())),
            refresh: Mutex::new(RefreshLog::default()),
        })
    }

    /// Verifies `token` (the value of `X-Auth-Identity`) and returns its claims.
    pub async fn verify(&self, token: &str) -> Result<IdentityClaims, IdentityError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid(TokenRejection::Malformed))?;
        // Refused before any key lookup, so forged headers never cause a JWKS fetch.
        if header.alg != Algorithm::EdDSA {
            return Err(invalid(TokenRejection::WrongAlgorithm));
        }
        let kid = header.kid.ok_or(invalid(TokenRejection::MissingKeyId))?;
        let key = self.key_for(&kid).await?;
        jsonwebtoken::decode::<IdentityClaims>(token, &key, &self.validation)
            .map(|data| data.claims)
            .map_err(|error| invalid(rejection_for(error.kind())))
    }

    async fn key_for(&self, kid: &str) -> Result<DecodingKey, IdentityError> {
        let cached = self.cached();
        if let Some(key) = cached.keys.get(kid) {
            if !cached.is_older_than(self.max_age) {
                return Ok(key.clone());
            }
            // One request refreshes a stale set while the others go on with it; if the JWKS cannot
            // be reached the stale key stays in use, and if the gateway withdrew it, it is refused.
            if let Ok(mut log) = self.refresh.try_lock()
                && log.may_fetch(self.refresh_interval)
            {
                let _ = self.fetch_and_store(&mut log).await;
            }
            return self
                .cached()
                .keys
                .get(kid)
                .cloned()
                .ok_or(invalid(TokenRejection::UnknownKey));
        }
        self.key_after_refresh(kid).await
    }

    /// An unknown key id: fetch the JWKS unless a fetch happened less than an interval ago.
    async fn key_after_refresh(&self, kid: &str) -> Result<DecodingKey, IdentityError> {
        let mut log = self.refresh.lock().await;
        // The fetch we queued behind may have brought the key.
        if let Some(key) = self.cached().keys.get(kid) {
            return Ok(key.clone());
        }
        if log.may_fetch(self.refresh_interval) {
            if self.fetch_and_store(&mut log).await.is_err() {
                return Err(IdentityError::KeysUnavailable {
                    retry_after: self.refresh_interval,
                });
            }
        } else if log.last_failed {
            let retry_after = log.until_next_fetch(self.refresh_interval);
            return Err(IdentityError::KeysUnavailable { retry_after });
        }
        self.cached()
            .keys
            .get(kid)
            .cloned()
            .ok_or(invalid(TokenRejection::UnknownKey))
    }

    /// Fetches the JWKS and replaces the cached keys; called with the refresh lock held.
    async fn fetch_and_store(&self, log: &mut RefreshLog) -> anyhow::Result<()> {
        let fetched = self.fetch().await;
        // Recorded once the fetch is over: a fetch dropped midway (its request cancelled) leaves the
        // next waiter free to try.
        log.last_attempt = Some(Instant::now());
        log.last_failed = fetched.is_err();
        match fetched {
            Ok(keys) => {
                tracing::debug!(jwks.keys = keys.keys.len(), "fetched the gateway's JWKS");
                let mut current = self.keys.write().unwrap_or_else(|poisoned| poisoned.into_inner());
                *current = Arc::new(keys);
                Ok(())
            }
            Err(error) => {
                tracing::warn!(error = format!("{error:#}"), "cannot refresh the gateway's JWKS");
                Err(error)
            }
        }
    }

    async fn fetch(&self) -> anyhow::Result<KeySet> {
        let mut request = self.client.get(&self.jwks_url);
        if let Some(id) = request_id::current() {
            request = request.header(REQUEST_ID_HEADER.as_str(), id);
        }
        let document: JwksDocument = request
            .send()
            .await
            .context("failed to reach the gateway's JWKS endpoint")?
            .error_for_status()
            .context("the gateway's JWKS endpoint answered with an error")?
            .json()
            .await
            .context("failed to read the gateway's JWKS")?;
        let keys: HashMap<String, DecodingKey> = document.keys.into_iter().filter_map(usable_key).collect();
        // An empty answer would wipe keys that verify today's tokens; keep them and fail closed instead.
        anyhow::ensure!(
            !keys.is_empty(),
            "the gateway's JWKS holds no usable Ed25519 signing key"
        );
        Ok(KeySet {
            keys,
            fetched_at: Some(Instant::now()),
        })
    }

    fn cached(&self) -> Arc<KeySet> {
        self.keys
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

/// The cached keys by key id.
#[derive(Default)]
struct KeySet {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
}

impl KeySet {
    fn is_older_than(&self, max_age: Duration) -> bool {
        self.fetched_at.is_none_or(|at| at.elapsed() >= max_age)
    }
}

/// When the JWKS was last fetched, and whether that failed.
#[derive(Default)]
struct RefreshLog {
    last_attempt: Option<Instant>,
    last_failed: bool,
}

impl RefreshLog {
    fn may_fetch(&self, interval: Duration) -> bool {
        self.last_attempt.is_none_or(|at| at.elapsed() >= interval)
    }

    fn until_next_fetch(&self, interval: Duration) -> Duration {
        self.last_attempt
            .map_or(Duration::ZERO, |at| interval.saturating_sub(at.elapsed()))
    }
}

/// A JWKS, its keys left unparsed so that one key we cannot read does not hide the others.
#[derive(Deserialize)]
struct JwksDocument {
    keys: Vec<serde_json::Value>,
}

/// The key id and verification key of an Ed25519 signing key; other keys are skipped.
fn usable_key(value: serde_json::Value) -> Option<(String, DecodingKey)> {
    let jwk: Jwk = serde_json::from_value(value).ok()?;
    let AlgorithmParameters::OctetKeyPair(params) = &jwk.algorithm else {
        return None;
    };
    let for_signatures = jwk
        .common
        .public_key_use
        .as_ref()
        .is_none_or(|usage| *usage == PublicKeyUse::Signature);
    let for_eddsa = jwk
        .common
        .key_algorithm
        .is_none_or(|alg| alg == KeyAlgorithm::EdDSA);
    if params.curve != EllipticCurve::Ed25519 || !for_signatures || !for_eddsa {
        return None;
    }
    let kid = jwk.common.key_id.clone()?;
    let key = DecodingKey::from_jwk(&jwk).ok()?;
    Some((kid, key))
}

fn invalid(rejection: TokenRejection) -> IdentityError {
    IdentityError::Invalid(rejection)
}

fn rejection_for(kind: &ErrorKind) -> TokenRejection {
    match kind {
        ErrorKind::InvalidSignature => TokenRejection::BadSignature,
        ErrorKind::ExpiredSignature => TokenRejection::Expired,
        ErrorKind::InvalidIssuer => TokenRejection::WrongIssuer,
        ErrorKind::InvalidAudience => TokenRejection::WrongAudience,
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => TokenRejection::WrongAlgorithm,
        ErrorKind::MissingRequiredClaim(_) | ErrorKind::InvalidClaimFormat(_) | ErrorKind::Json(_) => {
            TokenRejection::BadClaims
        }
        _ => TokenRejection::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    // RFC 8037's example Ed25519 public key.
    const X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    #[test]
    fn only_ed25519_signing_keys_with_a_kid_are_taken_from_a_jwks() {
        let document = vec![
            json!({"kty": "OKP", "crv": "Ed25519", "x": X, "kid": "good", "use": "sig", "alg": "EdDSA"}),
            json!({"kty": "OKP", "crv": "Ed25519", "x": X, "kid": "bare"}),
            json!({"kty": "OKP", "crv": "Ed25519", "x": X, "kid": "for-encryption", "use": "enc"}),
            json!({"kty": "OKP", "crv": "Ed25519", "x": X, "kid": "for-hmac", "alg": "HS256"}),
            json!({"kty": "OKP", "crv": "Ed25519", "x": X}),
            json!({"kty": "oct", "k": "c2VjcmV0", "kid": "shared-secret", "alg": "HS256"}),
            json!({"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "rsa", "alg": "RS256"}),
            json!({"kty": "future-key-type", "kid": "unknown"}),
            json!("not a key"),
        ];

        let mut kids: Vec<String> = document
            .into_iter()
            .filter_map(usable_key)
            .map(|(kid, _)| kid)
            .collect();
        kids.sort();

        assert_eq!(kids, ["bare", "good"]);
    }
}
