//! The key-encryption key: AES-256-GCM under which the signing keys' private parts are sealed at
//! rest (`keys.encryption_key`), and, while it changes, the previous one that still opens what it
//! sealed (`keys.previous_encryption_key`).

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretString};

use crate::configuration::KeySettings;

/// The AES-256-GCM key that seals private keys at rest, and during a change of key the previous
/// one, which still opens what it sealed (`keys.previous_encryption_key`). Never printed.
pub struct KeyEncryptionKey {
    current: LessSafeKey,
    previous: Option<LessSafeKey>,
    /// HMAC-SHA256 under the current key's bytes, from which [`derive`](Self::derive) makes keys
    /// for other purposes (so one secret to keep, and each purpose's key independent of the rest).
    derivation: hmac::Key,
}

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
        let bytes = key_bytes(setting, "keys.encryption_key")?;
        Ok(KeyEncryptionKey {
            current: aes_key(&bytes, "keys.encryption_key")?,
            previous: None,
            derivation: hmac::Key::new(hmac::HMAC_SHA256, &bytes),
        })
    }

    /// A 256-bit key for `purpose` (such as the CSRF tokens' MAC), derived from the current key:
    /// the same on every replica and across restarts, changed when the key-encryption key is.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut derived = [0u8; 32];
        derived.copy_from_slice(hmac::sign(&self.derivation, purpose.as_bytes()).as_ref());
        derived
    }

    /// Reads `keys.encryption_key` and, when set, `keys.previous_encryption_key` (a change of key
    /// under way: deploy README, "Rotating the key-encryption key").
    pub fn from_settings(settings: &KeySettings) -> anyhow::Result<KeyEncryptionKey> {
        let mut kek = KeyEncryptionKey::from_setting(settings.encryption_key.as_ref())?;
        if let Some(previous) = &settings.previous_encryption_key {
            let bytes = key_bytes(previous, "keys.previous_encryption_key")?;
            kek.previous = Some(aes_key(&bytes, "keys.previous_encryption_key")?);
        }
        Ok(kek)
    }

    /// base64(nonce || ciphertext || tag); the `kid` is bound as associated data, so a sealed key
    /// cannot be moved to another row.
    pub(super) fn seal(&self, plaintext: &[u8], kid: &str) -> anyhow::Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| anyhow::anyhow!("the random number generator failed"))?;
        let mut in_out = plaintext.to_vec();
        self.current
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

    pub(super) fn open(&self, sealed: &str, kid: &str) -> anyhow::Result<Vec<u8>> {
        Ok(self.open_telling_which(sealed, kid)?.0)
    }

    /// The plaintext, and whether it was the previous key that opened it.
    pub(super) fn open_telling_which(&self, sealed: &str, kid: &str) -> anyhow::Result<(Vec<u8>, bool)> {
        let sealed = STANDARD
            .decode(sealed)
            .map_err(|_| anyhow::anyhow!("the sealed private key of {kid} is not base64"))?;
        anyhow::ensure!(
            sealed.len() > NONCE_LEN,
            "the sealed private key of {kid} is truncated"
        );
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let open_with = |key: &LessSafeKey| {
            let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
            let mut in_out = ciphertext.to_vec();
            let plaintext = key
                .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut in_out)
                .ok()?;
            Some(plaintext.to_vec())
        };
        if let Some(plaintext) = open_with(&self.current) {
            return Ok((plaintext, false));
        }
        if let Some(plaintext) = self.previous.as_ref().and_then(open_with) {
            return Ok((plaintext, true));
        }
        anyhow::bail!(
            "the private key of {kid} cannot be unsealed: neither keys.encryption_key nor \
             keys.previous_encryption_key is the key it was sealed with"
        )
    }
}

/// An AES-256 key from `setting` (standard base64 of exactly 32 bytes), or an error naming it.
/// The 32 bytes a key setting holds (standard base64).
fn key_bytes(setting: &SecretString, name: &str) -> anyhow::Result<Vec<u8>> {
    let bytes = STANDARD
        .decode(setting.expose_secret().trim())
        .map_err(|_| anyhow::anyhow!("{name} is not valid base64"))?;
    anyhow::ensure!(
        bytes.len() == 32,
        "{name} must decode to exactly 32 bytes (AES-256), not {}",
        bytes.len()
    );
    Ok(bytes)
}

fn aes_key(bytes: &[u8], name: &str) -> anyhow::Result<LessSafeKey> {
    let key = UnboundKey::new(&AES_256_GCM, bytes)
        .map_err(|_| anyhow::anyhow!("{name} is not a usable AES-256 key"))?;
    Ok(LessSafeKey::new(key))
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
    fn during_a_change_of_key_the_previous_one_still_opens_and_only_the_new_one_seals() {
        let (old, new) = (STANDARD.encode([7u8; 32]), STANDARD.encode([9u8; 32]));
        let sealed_before = kek().seal(b"private", "kid-1").unwrap();
        let both = KeyEncryptionKey::from_settings(&KeySettings {
            encryption_key: Some(SecretString::from(new.clone())),
            previous_encryption_key: Some(SecretString::from(old)),
            rotation_interval_secs: 1,
            rotation_check_interval_secs: 0,
        })
        .unwrap();

        assert_eq!(
            both.open_telling_which(&sealed_before, "kid-1").unwrap(),
            (b"private".to_vec(), true)
        );
        let sealed_after = both.seal(b"private", "kid-1").unwrap();
        let only_new = KeyEncryptionKey::from_setting(Some(&SecretString::from(new))).unwrap();
        assert_eq!(only_new.open(&sealed_after, "kid-1").unwrap(), b"private");
        assert!(only_new.open(&sealed_before, "kid-1").is_err());
    }

    #[test]
    fn the_encryption_key_must_be_32_bytes_of_base64() {
        assert!(KeyEncryptionKey::from_setting(None).is_err());
        let short = SecretString::from(STANDARD.encode([1u8; 16]));
        assert!(KeyEncryptionKey::from_setting(Some(&short)).is_err());
        assert!(KeyEncryptionKey::from_setting(Some(&SecretString::from("not base64!"))).is_err());
    }
}
