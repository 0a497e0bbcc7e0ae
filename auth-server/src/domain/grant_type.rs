//! The grant types this server implements.

use std::fmt;
use std::str::FromStr;

/// A grant type a client may be registered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantType {
    AuthorizationCode,
    ClientCredentials,
    RefreshToken,
    /// The legacy password grant: never in a client's list; a client is allowed it by its own flag.
    Password,
}

impl GrantType {
    pub const ALL: [GrantType; 3] = [
        GrantType::AuthorizationCode,
        GrantType::ClientCredentials,
        GrantType::RefreshToken,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::RefreshToken => "refresh_token",
            GrantType::Password => "password",
        }
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A grant type this server does not implement.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unsupported grant type {0:?} (supported: authorization_code, client_credentials, refresh_token)")]
pub struct UnsupportedGrantType(pub String);

impl FromStr for GrantType {
    type Err = UnsupportedGrantType;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        GrantType::ALL
            .into_iter()
            .chain([GrantType::Password])
            .find(|grant_type| grant_type.as_str() == text)
            .ok_or_else(|| UnsupportedGrantType(text.to_owned()))
    }
}

/// Parses a space-separated list as stored in the database, skipping unknown names.
pub fn parse_list(text: &str) -> Vec<GrantType> {
    text.split(' ')
        .filter_map(|name| name.parse().ok())
        .filter(|grant_type| *grant_type != GrantType::Password)
        .collect()
}

/// Formats a list for storage.
pub fn format_list(grant_types: &[GrantType]) -> String {
    grant_types
        .iter()
        .map(|grant_type| grant_type.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}
