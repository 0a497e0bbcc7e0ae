//! The id_token (OIDC Core §2): a JWT signed with the client's chosen algorithm, and the checks of
//! an `id_token_hint` we issued ourselves.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDateTime;
use jsonwebtoken::{DecodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};
use shared::db::DbConn;

use super::keys::{self, KeyEncryptionKey, SigningAlgorithm};
use crate::db;
use crate::domain::client::Client;
use crate::domain::ids::{ClientId, UserId};
use crate::domain::time;

/// What an id_token says.
#[derive(Debug, Serialize, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: UserId,
    pub aud: ClientId,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub c_hash: Option<String>,
    pub azp: ClientId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// The facts an id_token is made of.
pub struct IdTokenFacts<'a> {
    pub issuer: &'a str,
    pub client: &'a Client,
    pub user_id: &'a UserId,
    pub auth_time: NaiveDateTime,
    pub nonce: Option<&'a str>,
    /// The hash of the login session's id (`sid` is derived from it).
    pub session_hash: Option<&'a str>,
    /// Issued alongside: hashed into `at_hash`.
    pub access_token: Option<&'a str>,
    /// Issued alongside in the hybrid flow: hashed into `c_hash`.
    pub code: Option<&'a str>,
    pub ttl_secs: u64,
}

/// Signs an id_token with the active key of the client's algorithm.
pub fn sign(conn: &mut DbConn, kek: &KeyEncryptionKey, facts: &IdTokenFacts<'_>) -> anyhow::Result<String> {
    let alg = facts.client.id_token_alg;
    let key = keys::signing_key(conn, kek, alg)?;
    let now = time::now();
    let claims = IdTokenClaims {
        iss: facts.issuer.to_owned(),
        sub: facts.user_id.clone(),
        aud: facts.client.id.clone(),
        exp: time::unix(time::after_secs(now, facts.ttl_secs)),
        iat: time::unix(now),
        auth_time: time::unix(facts.auth_time),
        nonce: facts.nonce.map(str::to_owned),
        at_hash: facts.access_token.map(|token| half_hash(alg, token)),
        c_hash: facts.code.map(|code| half_hash(alg, code)),
        azp: facts.client.id.clone(),
        sid: facts.session_hash.map(session_id),
    };
    let mut header = Header::new(alg.jwt_algorithm());
    header.kid = Some(key.kid);
    Ok(jsonwebtoken::encode(&header, &claims, &key.encoding_key)?)
}

/// OIDC Core §3.1.3.6 / §3.3.2.11: the left half of the hash of the value, with the hash of the
/// signing algorithm (SHA-512 for Ed25519), base64url.
pub fn half_hash(alg: SigningAlgorithm, value: &str) -> String {
    let digest = match alg {
        SigningAlgorithm::Rs256 | SigningAlgorithm::Es256 => Sha256::digest(value.as_bytes()).to_vec(),
        SigningAlgorithm::EdDsa => Sha512::digest(value.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// The `sid` of a login session: derived from the stored hash, so it reveals nothing of the cookie
/// and needs no column of its own.
pub fn session_id(session_hash: &str) -> String {
    let digest = Sha256::digest(format!("oidc-sid\u{0}{session_hash}").as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// Why an `id_token_hint` was refused.
#[derive(Debug, thiserror::Error)]
pub enum HintError {
    #[error("the id_token_hint is not an id_token issued by this server")]
    Invalid,
    #[error(transparent)]
    Store(#[from] diesel::result::Error),
}

/// Verifies an id_token we issued: our `iss`, a known published key, the key's own algorithm, and a
/// valid signature. Expiry is not checked: an RP may log out with an expired id_token (OIDC
/// RP-Initiated Logout §2), and prompt=none may name one.
pub fn verify_hint(conn: &mut DbConn, issuer: &str, hint: &str) -> Result<IdTokenClaims, HintError> {
    let header = jsonwebtoken::decode_header(hint).map_err(|_| HintError::Invalid)?;
    let kid = header.kid.ok_or(HintError::Invalid)?;
    // Our kids are RFC 7638 thumbprints (base64url): anything else is no key of ours, and must not
    // reach the database (a NUL there is a query error, not an answer).
    if kid.is_empty()
        || kid.len() > 128
        || !kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(HintError::Invalid);
    }
    let row = db::signing_keys::find(conn, &kid)?.ok_or(HintError::Invalid)?;
    if row.publish_until.is_some_and(|until| until <= time::now()) {
        return Err(HintError::Invalid);
    }
    let alg = row.alg;
    // The key's algorithm, never the header's: no algorithm confusion.
    if header.alg != alg.jwt_algorithm() {
        return Err(HintError::Invalid);
    }
    let jwk: jsonwebtoken::jwk::Jwk =
        serde_json::from_str(&row.public_jwk).map_err(|_| HintError::Invalid)?;
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| HintError::Invalid)?;
    let mut validation = Validation::new(alg.jwt_algorithm());
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_issuer(&[issuer]);
    validation.set_required_spec_claims(&["iss", "sub", "aud"]);
    let data =
        jsonwebtoken::decode::<IdTokenClaims>(hint, &key, &validation).map_err(|_| HintError::Invalid)?;
    Ok(data.claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_is_the_left_half_of_the_algorithms_hash() {
        // Computed independently: base64url(SHA-256(token)[..16]).
        assert_eq!(
            half_hash(
                SigningAlgorithm::Rs256,
                "jHkWEdUXMU1BwAsC4vtUsZwnNmkzoMl7lZsJ2cOGH2E"
            ),
            "YUFrni_chPeXoAzPBnUHVg"
        );
        assert_eq!(half_hash(SigningAlgorithm::EdDsa, "x").len(), 43);
    }

    #[test]
    fn the_sid_does_not_reveal_the_session_hash() {
        let sid = session_id("abc");
        assert_eq!(sid, session_id("abc"));
        assert_ne!(sid, session_id("abd"));
        assert!(!sid.contains("abc"));
    }
}
