//! PKCE (RFC 7636) as OAuth 2.1 profiles it: the S256 method only, since `plain` offers no protection
//! once the request is seen.

use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A code challenge method. Only S256: `plain` offers no protection once the request is seen
/// (OAuth 2.1 §4.1.1). Stored in the `code_challenge_method` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, diesel::AsExpression, diesel::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum CodeChallengeMethod {
    S256,
}

impl CodeChallengeMethod {
    pub const fn as_str(self) -> &'static str {
        match self {
            CodeChallengeMethod::S256 => "S256",
        }
    }
}

/// Case-sensitive, as RFC 7636 §4.3 spells the names.
impl FromStr for CodeChallengeMethod {
    type Err = PkceError;

    fn from_str(value: &str) -> Result<Self, PkceError> {
        match value {
            "S256" => Ok(CodeChallengeMethod::S256),
            _ => Err(PkceError::UnsupportedMethod),
        }
    }
}

shared::text_column!(CodeChallengeMethod);

/// Why a PKCE parameter was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PkceError {
    #[error("code_challenge_method must be S256; plain is not supported")]
    UnsupportedMethod,
    #[error("code_challenge must be the 43-character base64url SHA-256 of the code_verifier")]
    MalformedChallenge,
    #[error("code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~")]
    MalformedVerifier,
}

/// A validated S256 code challenge. Stored in the `code_challenge` column.
#[derive(Debug, Clone, PartialEq, Eq, diesel::AsExpression, diesel::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// Validates the challenge and its method. A missing method means `plain` (RFC 7636 §4.3),
    /// which is refused.
    pub fn parse(challenge: &str, method: Option<&str>) -> Result<Self, PkceError> {
        match method {
            Some(method) => method.parse::<CodeChallengeMethod>()?,
            None => return Err(PkceError::UnsupportedMethod),
        };
        challenge.parse()
    }

    /// The method it was sent with (the only one there is).
    pub fn method(&self) -> CodeChallengeMethod {
        CodeChallengeMethod::S256
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `verifier` hashes to this challenge, compared in constant time.
    pub fn is_satisfied_by(&self, verifier: &CodeVerifier) -> bool {
        let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.0.as_bytes()));
        computed.as_bytes().ct_eq(self.0.as_bytes()).into()
    }
}

/// The challenge's shape: 43 base64url characters that decode to 32 bytes, a SHA-256.
impl FromStr for CodeChallenge {
    type Err = PkceError;

    fn from_str(challenge: &str) -> Result<Self, PkceError> {
        let decodes_to_a_sha256 = URL_SAFE_NO_PAD
            .decode(challenge)
            .is_ok_and(|bytes| bytes.len() == 32);
        if challenge.len() != 43 || !decodes_to_a_sha256 {
            return Err(PkceError::MalformedChallenge);
        }
        Ok(CodeChallenge(challenge.to_owned()))
    }
}

shared::text_column!(CodeChallenge);

/// A `code_verifier` of valid length and alphabet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeVerifier(String);

impl CodeVerifier {
    /// `code-verifier = 43*128unreserved`
    pub fn parse(verifier: &str) -> Result<Self, PkceError> {
        let unreserved = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b);
        if (43..=128).contains(&verifier.len()) && verifier.bytes().all(unreserved) {
            Ok(CodeVerifier(verifier.to_owned()))
        } else {
            Err(PkceError::MalformedVerifier)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A pair computed independently: base64url(sha256(VERIFIER)) with Python's hashlib.
    const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "ngF5GsXcbwljx6u133FFr3Xht9xooA_DuaX_3QwODtc";

    #[test]
    fn a_matching_verifier_verifies() {
        let challenge = CodeChallenge::parse(CHALLENGE, Some("S256")).unwrap();
        assert!(challenge.is_satisfied_by(&CodeVerifier::parse(VERIFIER).unwrap()));
    }

    #[test]
    fn another_verifier_does_not_verify() {
        let challenge = CodeChallenge::parse(CHALLENGE, Some("S256")).unwrap();
        let other = CodeVerifier::parse(&"a".repeat(43)).unwrap();
        assert!(!challenge.is_satisfied_by(&other));
    }

    #[test]
    fn plain_and_a_missing_method_are_refused() {
        assert_eq!(
            CodeChallenge::parse(CHALLENGE, Some("plain")),
            Err(PkceError::UnsupportedMethod)
        );
        assert_eq!(
            CodeChallenge::parse(CHALLENGE, None),
            Err(PkceError::UnsupportedMethod)
        );
        assert_eq!(
            CodeChallenge::parse(CHALLENGE, Some("s256")),
            Err(PkceError::UnsupportedMethod)
        );
    }

    #[test]
    fn a_challenge_that_is_not_a_sha256_is_refused() {
        assert!(CodeChallenge::parse("short", Some("S256")).is_err());
        assert!(CodeChallenge::parse(&"a".repeat(44), Some("S256")).is_err());
        assert!(CodeChallenge::parse(&format!("{}+", &CHALLENGE[..42]), Some("S256")).is_err());
    }

    #[test]
    fn verifier_length_and_alphabet_are_enforced() {
        assert!(CodeVerifier::parse(&"a".repeat(42)).is_err());
        assert!(CodeVerifier::parse(&"a".repeat(43)).is_ok());
        assert!(CodeVerifier::parse(&"a".repeat(128)).is_ok());
        assert!(CodeVerifier::parse(&"a".repeat(129)).is_err());
        for bad_char in ['+', '/', '=', ' '] {
            let verifier = format!("{}{bad_char}", "a".repeat(42));
            assert!(CodeVerifier::parse(&verifier).is_err(), "{bad_char}");
        }
        assert!(CodeVerifier::parse(&format!("{}-._~", "a".repeat(40))).is_ok());
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn every_valid_verifier_satisfies_its_own_s256_challenge_and_no_other(
            verifier in "[A-Za-z0-9._~-]{43,128}",
            other in "[A-Za-z0-9._~-]{43,128}",
        ) {
            let parsed = CodeVerifier::parse(&verifier).unwrap();
            let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            let challenge = CodeChallenge::parse(&challenge, Some("S256")).unwrap();
            prop_assert!(challenge.is_satisfied_by(&parsed));
            prop_assume!(other != verifier);
            prop_assert!(!challenge.is_satisfied_by(&CodeVerifier::parse(&other).unwrap()));
        }

        #[test]
        fn a_verifier_of_the_wrong_length_or_alphabet_is_refused(
            short in "[A-Za-z0-9._~-]{0,42}",
            long in "[A-Za-z0-9._~-]{129,200}",
            valid in "[A-Za-z0-9._~-]{43,100}",
            bad in "[^A-Za-z0-9._~-]",
        ) {
            prop_assert!(CodeVerifier::parse(&short).is_err());
            prop_assert!(CodeVerifier::parse(&long).is_err());
            let with_a_bad_character = format!("{valid}{bad}");
            prop_assert!(CodeVerifier::parse(&with_a_bad_character).is_err());
        }

        #[test]
        fn only_s256_with_a_43_character_base64url_sha256_is_a_challenge(
            challenge in "\\PC{0,64}",
            method in prop::option::of("\\PC{0,8}"),
        ) {
            let parsed = CodeChallenge::parse(&challenge, method.as_deref());
            if parsed.is_ok() {
                prop_assert_eq!(method.as_deref(), Some("S256"));
                prop_assert_eq!(challenge.len(), 43);
                prop_assert_eq!(URL_SAFE_NO_PAD.decode(&challenge).map(|bytes| bytes.len()), Ok(32));
            }
        }
    }
}
