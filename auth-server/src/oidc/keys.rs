//! The keys id_tokens are signed with: generated here (aws-lc-rs), stored in `signing_keys` with the
//! private part sealed (AES-256-GCM) under `keys.encryption_key`, published in the JWKS, and rotated.
//!
//! There is one active key per algorithm. Rotation retires it (it stops signing at once) and keeps
//! publishing it until `publish_until`, the moment the last token it signed expires, so a rotation
//! never breaks a valid token.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::NaiveDateTime;
use jsonwebtoken::EncodingKey;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse, ThumbprintHash};
use shared::db::DbConn;

use crate::db;
use crate::db::models::SigningKeyRow;
pub use crate::domain::signing_alg::SigningAlgorithm;
use crate::domain::time;
pub use crate::oidc::key_encryption::KeyEncryptionKey;

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

/// What `keys reseal` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Resealed {
    /// Keys that were sealed under the previous key and are now under the current one.
    pub resealed: usize,
    /// Keys already under the current key, left as they were.
    pub unchanged: usize,
}

/// Seals every stored private key under the current key-encryption key, opening each with the
/// current or the previous one, in one transaction: a key neither opens aborts it and nothing is
/// written. Safe to run again (what is already under the current key is left alone).
pub fn reseal(conn: &mut DbConn, kek: &KeyEncryptionKey) -> anyhow::Result<Resealed> {
    shared::db::transaction(conn, |conn| {
        let mut outcome = Resealed {
            resealed: 0,
            unchanged: 0,
        };
        for row in db::signing_keys::all(conn)? {
            let (pkcs8, under_previous) = kek.open_telling_which(&row.private_key_sealed, &row.kid)?;
            if !under_previous {
                outcome.unchanged += 1;
                continue;
            }
            let sealed = kek.seal(&pkcs8, &row.kid)?;
            db::signing_keys::replace_sealed(conn, &row.kid, &row.private_key_sealed, &sealed)?;
            outcome.resealed += 1;
        }
        Ok(outcome)
    })
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    fn kek() -> KeyEncryptionKey {
        KeyEncryptionKey::from_setting(Some(&SecretString::from(STANDARD.encode([7u8; 32])))).unwrap()
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
