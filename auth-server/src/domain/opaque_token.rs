//! Opaque credentials: 256 bits from the operating system's CSPRNG, base64url-encoded behind a short
//! type prefix (so secret scanners recognise a leaked one), stored only as their SHA-256.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Random bytes in every credential we generate.
const RANDOM_BYTES: usize = 32;

/// What a generated value is; the prefix tells it apart at a glance and routes lookups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    AccessToken,
    RefreshToken,
    AuthorizationCode,
    ClientSecret,
    /// The value of the login-session cookie.
    Session,
    /// The value of the cookie that binds pending authorization requests to one browser.
    Browser,
    /// The id of a pending authorization request (a URL parameter, bound to the browser).
    AuthorizationRequest,
    /// A single-use link sent by email (address verification, password reset).
    AccountLink,
}

impl TokenKind {
    pub const fn prefix(self) -> &'static str {
        match self {
            TokenKind::AccessToken => "oat_",
            TokenKind::RefreshToken => "ort_",
            TokenKind::AuthorizationCode => "oac_",
            TokenKind::ClientSecret => "ocs_",
            TokenKind::Session => "oss_",
            TokenKind::Browser => "obr_",
            TokenKind::AuthorizationRequest => "oar_",
            TokenKind::AccountLink => "oal_",
        }
    }

    /// The kind a presented value claims to be, from its prefix.
    pub fn of(value: &str) -> Option<TokenKind> {
        [
            TokenKind::AccessToken,
            TokenKind::RefreshToken,
            TokenKind::AuthorizationCode,
            TokenKind::ClientSecret,
            TokenKind::Session,
            TokenKind::Browser,
            TokenKind::AuthorizationRequest,
            TokenKind::AccountLink,
        ]
        .into_iter()
        .find(|kind| value.starts_with(kind.prefix()))
    }
}

/// A freshly generated credential: the value to hand out once, and the hash to store.
pub struct Generated {
    pub value: String,
    pub hash: TokenHash,
}

/// The stored form of a credential: lowercase hex SHA-256 of its value. Made only by [`hash`] (or
/// read back from storage), so a plaintext cannot be passed where a hash is expected, and its
/// `Debug` prints no digits: a hash is not a secret, but it names one.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl TokenHash {
    /// A hash read back from a row.
    pub fn from_stored(hash: String) -> TokenHash {
        TokenHash(hash)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

/// Generates a new credential of the given kind.
pub fn generate(kind: TokenKind) -> Generated {
    let mut bytes = [0u8; RANDOM_BYTES];
    getrandom::fill(&mut bytes).expect("the operating system's random number generator is available");
    let value = format!("{}{}", kind.prefix(), URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash(&value);
    Generated { value, hash }
}

/// Generates a random identifier (not a secret) such as a client id or a grant id.
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random number generator is available");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored form of a credential.
pub fn hash(value: &str) -> TokenHash {
    TokenHash(hex::encode(Sha256::digest(value.as_bytes())))
}

/// Compares a presented value with a stored hash in constant time.
pub fn matches_hash(value: &str, stored_hash: &str) -> bool {
    hash(value)
        .as_str()
        .as_bytes()
        .ct_eq(stored_hash.as_bytes())
        .into()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn generated_values_carry_their_prefix_and_256_bits() {
        let token = generate(TokenKind::AccessToken);
        assert!(token.value.starts_with("oat_"));
        let encoded = token.value.trim_start_matches("oat_");
        assert_eq!(URL_SAFE_NO_PAD.decode(encoded).unwrap().len(), 32);
        assert_eq!(TokenKind::of(&token.value), Some(TokenKind::AccessToken));
    }

    #[test]
    fn only_the_hash_is_derived_and_it_verifies() {
        let token = generate(TokenKind::RefreshToken);
        assert_eq!(token.hash.as_str().len(), 64);
        assert!(!token.hash.as_str().contains(&token.value));
        assert!(matches_hash(&token.value, token.hash.as_str()));
        assert!(!matches_hash("ort_other", token.hash.as_str()));
    }

    #[test]
    fn ten_thousand_tokens_are_all_distinct() {
        let values: HashSet<String> = (0..10_000)
            .map(|_| generate(TokenKind::AuthorizationCode).value)
            .collect();
        assert_eq!(values.len(), 10_000);
    }

    #[test]
    fn unknown_prefixes_have_no_kind() {
        assert_eq!(TokenKind::of("garbage"), None);
        assert_eq!(TokenKind::of(""), None);
    }
}
