//! The keys id_tokens are signed with: generated here (aws-lc-rs), stored in `signing_keys` with the
//! private part sealed (AES-256-GCM) under `keys.encryption_key`, published in the JWKS, and rotated.
//!
//! There is one active key per algorithm. Rotation retires it (it stops signing at once) and keeps
//! publishing it until `publish_until`, the moment the last token it signed expires, so a rotation
//! never breaks a valid token.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::NaiveDateTime;
use jsonwebtoken::EncodingKey;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse, ThumbprintHash};
use secrecy::{ExposeSecret, SecretString};
use shared::db::DbConn;

use crate::db;
use crate::db::models::SigningKeyRow;
pub use crate::domain::signing_alg::SigningAlgorithm;
use crate::domain::time;

/// The AES-256-GCM key that seals private keys at rest. Never printed.
pub struct KeyEncryptionKey(LessSafeKey);

impl fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyEncryptionKey(<redacted>)")
    }
}

impl KeyEncryptionKey {
    /// Reads `keys.encryption_key`: standard base64 of exactly 32 random bytes.
    pub fn from_setting(setting: Option<&SecretString>) -> anyhow::Result<KeyEncryptionKey> {
        let setting = setting.ok_or_else(|| {
            anyhow::anyhow!(
                "keys.encryption_key is not set: set AUTH_KEYS__ENCRYPTION_KEY to 32 random bytes in \
                 base64 (for example `openssl rand -base64 32`); it seals the id_token signing keys"
            )
        })?;
        let bytes = STANDARD
            .decode(setting.expose_secret().trim())
            .map_err(|_| anyhow::anyhow!("keys.encryption_key is not valid base64"))?;
        anyhow::ensure!(
            bytes.len() == 32,
            "keys.encryption_key must decode to exactly 32 bytes (AES-256), not {}",
            bytes.len()
        );
        let key = UnboundKey::new(&AES_256_GCM, &bytes)
            .map_err(|_| anyhow::anyhow!("keys.encryption_key is not a usable AES-256 key"))?;
        Ok(KeyEncryptionKey(LessSafeKey::new(key)))
    }

    /// base64(nonce || ciphertext || tag); the `kid` is bound as associated data, so a sealed key
    /// cannot be moved to another row.
    fn seal(&self, plaintext: &[u8], kid: &str) -> anyhow::Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| anyhow::anyhow!("the random number generator failed"))?;
        let mut in_out = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(kid.as_bytes()),
                &mut in_out,
            )
            .map_err(|_| anyhow::anyhow!("sealing a private key failed"))?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&in_out);
        Ok(STANDARD.encode(sealed))
    }

    fn open(&self, sealed: &str, kid: &str) -> anyhow::Result<Vec<u8>> {
        let sealed = STANDARD
            .decode(sealed)
            .map_err(|_| anyhow::anyhow!("the sealed private key of {kid} is not base64"))?;
        anyhow::ensure!(
            sealed.len() > NONCE_LEN,
            "the sealed private key of {kid} is truncated"
        );
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| anyhow::anyhow!("the sealed private key of {kid} has a bad nonce"))?;
        let mut in_out = ciphertext.to_vec();
        let plaintext = self
            .0
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut in_out)
            .map_err(|_| {
                anyhow::anyhow!(
                    "the private key of {kid} cannot be unsealed: keys.encryption_key is not the key it was \
                        sealed with"
                )
            })?;
        Ok(plaintext.to_vec())
    }
}

/// A key ready to sign.
pub struct ActiveKey {
    pub kid: String,
    pub alg: SigningAlgorithm,
    pub encoding_key: EncodingKey,
}

/// A key as `keys list` shows it (never its private part).
#[derive(Debug, serde::Serialize)]
pub struct KeyView {
    pub kid: String,
    pub alg: SigningAlgorithm,
    pub created_at: NaiveDateTime,
    pub retired_at: Option<NaiveDateTime>,
    pub publish_until: Option<NaiveDateTime>,
    pub status: KeyStatus,
}

/// Where a signing key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Signs new id_tokens.
    Active,
    /// Replaced, still published for the tokens it signed.
    Retired,
    /// No longer published.
    Expired,
}

impl std::fmt::Display for KeyStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyStatus::Active => "active",
            KeyStatus::Retired => "retired",
            KeyStatus::Expired => "expired",
        })
    }
}

/// Generates a key pair for `alg` and returns the row to store.
pub fn generate(
    kek: &KeyEncryptionKey,
    alg: SigningAlgorithm,
    now: NaiveDateTime,
) -> anyhow::Result<SigningKeyRow> {
    let pkcs8 = generate_pkcs8(alg)?;
    let encoding_key = encoding_key(alg, &pkcs8)?;
    let mut jwk = Jwk::from_encoding_key(&encoding_key, alg.jwt_algorithm())?;
    // RFC 7638 thumbprint: stable, unique per key, and reveals nothing the JWK does not.
    let kid = jwk.thumbprint(ThumbprintHash::SHA256)?;
    jwk.common.key_id = Some(kid.clone());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    Ok(SigningKeyRow {
        private_key_sealed: kek.seal(&pkcs8, &kid)?,
        public_jwk: serde_json::to_string(&jwk)?,
        kid,
        alg,
        created_at: now,
        retired_at: None,
        publish_until: None,
    })
}

fn generate_pkcs8(alg: SigningAlgorithm) -> anyhow::Result<Vec<u8>> {
    let failed = |_| anyhow::anyhow!("generating a {alg} key failed");
    Ok(match alg {
        SigningAlgorithm::Rs256 => {
            let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map_err(failed)?;
            let der: aws_lc_rs::encoding::Pkcs8V1Der<'_> = key.as_der().map_err(failed)?;
            der.as_ref().to_vec()
        }
        SigningAlgorithm::Es256 => EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .and_then(|key| key.to_pkcs8v1())
            .map_err(failed)?
            .as_ref()
            .to_vec(),
        SigningAlgorithm::EdDsa => Ed25519KeyPair::generate()
            .and_then(|key| key.to_pkcs8v1())
            .map_err(failed)?
            .as_ref()
            .to_vec(),
    })
}

/// jsonwebtoken reads PKCS#8 for every family through PEM.
fn encoding_key(alg: SigningAlgorithm, pkcs8: &[u8]) -> anyhow::Result<EncodingKey> {
    let encoded = STANDARD.encode(pkcs8);
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in encoded.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line)?);
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    let key = match alg {
        SigningAlgorithm::Rs256 => EncodingKey::from_rsa_pem(pem.as_bytes()),
        SigningAlgorithm::Es256 => EncodingKey::from_ec_pem(pem.as_bytes()),
        SigningAlgorithm::EdDsa => EncodingKey::from_ed_pem(pem.as_bytes()),
    };
    Ok(key?)
}

/// Creates the missing active keys (at start, so the JWKS lists every algorithm before any token
/// is signed). Two replicas starting together both try; the unique index lets one win.
pub fn ensure_active(conn: &mut DbConn, kek: &KeyEncryptionKey) -> anyhow::Result<usize> {
    let mut created = 0;
    for alg in SigningAlgorithm::ALL {
        if db::signing_keys::find_active(conn, alg)?.is_some() {
            continue;
        }
        let row = generate(kek, alg, time::now())?;
        match db::signing_keys::insert(conn, &row) {
            Ok(()) => created += 1,
            Err(error) if db::is_unique_violation(&error) => {}
            Err(error) => return Err(error.into()),
        }
    }
    // A wrong encryption key is found now, at start, rather than at the first sign-in.
    for alg in SigningAlgorithm::ALL {
        if let Some(row) = db::signing_keys::find_active(conn, alg)? {
            kek.open(&row.private_key_sealed, &row.kid)?;
        }
    }
    Ok(created)
}

/// The active key of `alg`, unsealed.
pub fn signing_key(
    conn: &mut DbConn,
    kek: &KeyEncryptionKey,
    alg: SigningAlgorithm,
) -> anyhow::Result<ActiveKey> {
    let row = match db::signing_keys::find_active(conn, alg)? {
        Some(row) => row,
        None => {
            ensure_active(conn, kek)?;
            db::signing_keys::find_active(conn, alg)?
                .ok_or_else(|| anyhow::anyhow!("no active {alg} signing key"))?
        }
    };
    let pkcs8 = kek.open(&row.private_key_sealed, &row.kid)?;
    Ok(ActiveKey {
        encoding_key: encoding_key(alg, &pkcs8)?,
        kid: row.kid,
        alg,
    })
}

/// Replaces the active key of every algorithm whose key was created at or before `older_than`
/// (every algorithm with `None`). A retired key is published for `publish_for_secs` more: the
/// lifetime of the tokens it may have signed. Keys past their publication are deleted.
/// Returns the kids of the new keys.
pub fn rotate(
    conn: &mut DbConn,
    kek: &KeyEncryptionKey,
    older_than: Option<NaiveDateTime>,
    publish_for_secs: u64,
) -> anyhow::Result<Vec<String>> {
    let mut rotated = Vec::new();
    for alg in SigningAlgorithm::ALL {
        let now = time::now();
        let current = db::signing_keys::find_active(conn, alg)?;
        if let (Some(current), Some(limit)) = (&current, older_than)
            && current.created_at > limit
        {
            continue;
        }
        let row = generate(kek, alg, now)?;
        let kid = row.kid.clone();
        let replaced = shared::db::transaction(conn, |conn| {
            if let Some(current) = &current {
                let publish_until = time::after_secs(now, publish_for_secs);
                // Another replica may have rotated meanwhile; then it already did our work.
                if db::signing_keys::retire(conn, &current.kid, now, publish_until)? == 0 {
                    return Ok::<_, diesel::result::Error>(false);
                }
            }
            db::signing_keys::insert(conn, &row)?;
            Ok(true)
        });
        match replaced {
            Ok(true) => {
                tracing::info!(key.kid = %kid, key.alg = %alg, "signing key rotated");
                rotated.push(kid);
            }
            Ok(false) => {}
            Err(error) if db::is_unique_violation(&error) => {}
            Err(error) => return Err(error.into()),
        }
    }
    db::signing_keys::delete_unpublished(conn, time::now())?;
    Ok(rotated)
}

/// The public keys to publish now: the active ones and the retired ones still within reach.
pub fn published_jwks(conn: &mut DbConn, now: NaiveDateTime) -> anyhow::Result<Vec<serde_json::Value>> {
    db::signing_keys::published(conn, now)?
        .iter()
        .map(|row| Ok(serde_json::from_str(&row.public_jwk)?))
        .collect()
}

/// Every stored key, newest first.
pub fn list(conn: &mut DbConn, now: NaiveDateTime) -> anyhow::Result<Vec<KeyView>> {
    Ok(db::signing_keys::all(conn)?
        .into_iter()
        .map(|row| KeyView {
            status: match (row.retired_at, row.publish_until) {
                (None, _) => KeyStatus::Active,
                (Some(_), Some(until)) if until > now => KeyStatus::Retired,
                (Some(_), _) => KeyStatus::Expired,
            },
            kid: row.kid,
            alg: row.alg,
            created_at: row.created_at,
            retired_at: row.retired_at,
            publish_until: row.publish_until,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek() -> KeyEncryptionKey {
        KeyEncryptionKey::from_setting(Some(&SecretString::from(STANDARD.encode([7u8; 32])))).unwrap()
    }

    #[test]
    fn a_sealed_key_opens_only_under_its_kid_and_its_key() {
        let sealed = kek().seal(b"private", "kid-1").unwrap();
        assert_eq!(kek().open(&sealed, "kid-1").unwrap(), b"private");
        assert!(kek().open(&sealed, "kid-2").is_err());
        let other =
            KeyEncryptionKey::from_setting(Some(&SecretString::from(STANDARD.encode([8u8; 32])))).unwrap();
        assert!(other.open(&sealed, "kid-1").is_err());
    }

    #[test]
    fn the_encryption_key_must_be_32_bytes_of_base64() {
        assert!(KeyEncryptionKey::from_setting(None).is_err());
        let short = SecretString::from(STANDARD.encode([1u8; 16]));
        assert!(KeyEncryptionKey::from_setting(Some(&short)).is_err());
        assert!(KeyEncryptionKey::from_setting(Some(&SecretString::from("not base64!"))).is_err());
    }

    #[test]
    fn generated_keys_sign_and_publish_no_private_member() {
        for alg in [SigningAlgorithm::Es256, SigningAlgorithm::EdDsa] {
            let row = generate(&kek(), alg, time::now()).unwrap();
            let jwk: serde_json::Value = serde_json::from_str(&row.public_jwk).unwrap();
            assert_eq!(jwk["kid"], row.kid.as_str());
            for private in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(jwk.get(private).is_none(), "{alg} JWK has {private}");
            }
            let pkcs8 = kek().open(&row.private_key_sealed, &row.kid).unwrap();
            let key = encoding_key(alg, &pkcs8).unwrap();
            let header = jsonwebtoken::Header::new(alg.jwt_algorithm());
            jsonwebtoken::encode(&header, &serde_json::json!({"a": 1}), &key).unwrap();
        }
    }
}
