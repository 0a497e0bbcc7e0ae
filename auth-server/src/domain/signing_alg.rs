//! The JWS algorithms an id_token can be signed with (a client picks one at registration).

use std::fmt;

use jsonwebtoken::Algorithm;

/// The JWS algorithms an id_token can be signed with. Stored by its JWS name (`signing_keys.alg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, diesel::AsExpression, diesel::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum SigningAlgorithm {
    Rs256,
    Es256,
    EdDsa,
}

impl SigningAlgorithm {
    /// Every supported algorithm; RS256 first, the default (OIDC Core §3.1.3.7).
    pub const ALL: [SigningAlgorithm; 3] = [
        SigningAlgorithm::Rs256,
        SigningAlgorithm::Es256,
        SigningAlgorithm::EdDsa,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            SigningAlgorithm::Rs256 => "RS256",
            SigningAlgorithm::Es256 => "ES256",
            SigningAlgorithm::EdDsa => "EdDSA",
        }
    }

    pub fn parse(name: &str) -> Option<SigningAlgorithm> {
        Self::ALL.into_iter().find(|alg| alg.as_str() == name)
    }

    pub const fn jwt_algorithm(self) -> Algorithm {
        match self {
            SigningAlgorithm::Rs256 => Algorithm::RS256,
            SigningAlgorithm::Es256 => Algorithm::ES256,
            SigningAlgorithm::EdDsa => Algorithm::EdDSA,
        }
    }
}

impl std::str::FromStr for SigningAlgorithm {
    type Err = String;

    /// The JWS name (`RS256`, `ES256`, `EdDSA`), as the CLI's `--id-token-alg` takes it.
    fn from_str(name: &str) -> Result<Self, String> {
        SigningAlgorithm::parse(name).ok_or_else(|| "one of RS256, ES256, EdDSA".to_owned())
    }
}

shared::text_column!(SigningAlgorithm);

impl serde::Serialize for SigningAlgorithm {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
