//! Token introspection (RFC 7662). An inactive token, whatever the reason (unknown, expired,
//! revoked, rotated away), is exactly `{"active":false}`: the caller learns nothing more (§2.2).

use chrono::NaiveDateTime;
use serde::Serialize;
use shared::db::DbConn;

use crate::db;
use crate::domain::ids::ClientId;
use crate::domain::opaque_token::{self, TokenKind};
use crate::domain::time;

/// The introspection response.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Introspection {
    pub active: bool,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub details: Option<ActiveDetails>,
}

/// The members of an active token's response.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ActiveDetails {
    pub scope: String,
    pub client_id: ClientId,
    /// The user, or the client itself for a client_credentials token: either id, so plain text.
    pub sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `Bearer` for access tokens; refresh tokens have none, since they are not bearer credentials
    /// for resource servers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    /// `access_token` or `refresh_token`, so a resource server cannot mistake one for the other.
    pub token_use: &'static str,
    pub exp: i64,
    pub iat: i64,
    pub iss: String,
    /// The client the token was issued to.
    pub aud: ClientId,
}

impl Introspection {
    pub fn inactive() -> Self {
        Introspection {
            active: false,
            details: None,
        }
    }
}

/// Looks a token up by the hash of its value. The type prefix routes the lookup, so the optional
/// `token_type_hint` is never needed (and a wrong hint changes nothing).
pub fn introspect(conn: &mut DbConn, token: &str, issuer: &str) -> diesel::QueryResult<Introspection> {
    let now = time::now();
    let hash = opaque_token::hash(token);
    let details = match TokenKind::of(token) {
        Some(TokenKind::AccessToken) => db::access_tokens::find_with_username(conn, &hash)?
            .filter(|(token, _)| is_current(token.revoked_at, None, token.expires_at, now))
            .map(|(token, username)| ActiveDetails {
                sub: match &token.user_id {
                    Some(user_id) => user_id.to_string(),
                    None => token.client_id.to_string(),
                },
                username,
                token_type: Some("Bearer"),
                token_use: "access_token",
                exp: time::unix(token.expires_at),
                iat: time::unix(token.issued_at),
                iss: issuer.to_owned(),
                aud: token.client_id.clone(),
                scope: token.scope,
                client_id: token.client_id,
            }),
        Some(TokenKind::RefreshToken) => db::refresh_tokens::find_with_username(conn, &hash)?
            .filter(|(token, _)| is_current(token.revoked_at, token.used_at, token.expires_at, now))
            .map(|(token, username)| ActiveDetails {
                sub: token.user_id.to_string(),
                username: Some(username),
                token_type: None,
                token_use: "refresh_token",
                exp: time::unix(token.expires_at),
                iat: time::unix(token.issued_at),
                iss: issuer.to_owned(),
                aud: token.client_id.clone(),
                scope: token.scope,
                client_id: token.client_id,
            }),
        _ => None,
    };
    Ok(match details {
        Some(details) => Introspection {
            active: true,
            details: Some(details),
        },
        None => Introspection::inactive(),
    })
}

fn is_current(
    revoked_at: Option<NaiveDateTime>,
    used_at: Option<NaiveDateTime>,
    expires_at: NaiveDateTime,
    now: NaiveDateTime,
) -> bool {
    revoked_at.is_none() && used_at.is_none() && expires_at > now
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inactive_token_serialises_to_exactly_active_false() {
        assert_eq!(
            serde_json::to_string(&Introspection::inactive()).unwrap(),
            r#"{"active":false}"#
        );
    }
}
