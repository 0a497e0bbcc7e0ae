//! Who is calling: the identity the gateway vouches for, built from an introspection response.

use serde::Deserialize;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub subject: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub username: Option<String>,
    /// When the token expires (seconds since the epoch), if the auth-server said.
    pub expires_at: Option<i64>,
}

/// The members of an RFC 7662 response the gateway uses.
#[derive(Debug, Deserialize)]
pub struct IntrospectionResponse {
    /// Required; a response without it is an error, never an inactive token.
    pub active: bool,
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub sub: Option<String>,
    pub username: Option<String>,
    pub token_type: Option<String>,
    /// Our auth-server says `access_token` or `refresh_token`.
    pub token_use: Option<String>,
    pub exp: Option<i64>,
}

impl IntrospectionResponse {
    /// The caller, if the token is an active access token. A refresh token is not a bearer
    /// credential for APIs, whatever the auth-server says of its activity.
    pub fn into_caller(self) -> Option<Caller> {
        if !self.active
            || self
                .token_use
                .as_deref()
                .is_some_and(|token_use| token_use != "access_token")
            || self
                .token_type
                .as_deref()
                .is_some_and(|token_type| !token_type.eq_ignore_ascii_case("bearer"))
        {
            return None;
        }
        let client_id = self.client_id?;
        Some(Caller {
            subject: self.sub.unwrap_or_else(|| client_id.clone()),
            scopes: self
                .scope
                .unwrap_or_default()
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            username: self.username,
            expires_at: self.exp,
            client_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(json: &str) -> IntrospectionResponse {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn an_active_access_token_becomes_a_caller() {
        let caller = response(
            r#"{"active":true,"scope":"a b","client_id":"c","sub":"u","username":"alice",
                "token_type":"Bearer","token_use":"access_token","exp":10}"#,
        )
        .into_caller()
        .unwrap();
        assert_eq!(caller.scopes, ["a", "b"]);
        assert_eq!(caller.subject, "u");
        assert_eq!(caller.username.as_deref(), Some("alice"));
    }

    #[test]
    fn inactive_tokens_and_refresh_tokens_are_not_callers() {
        assert!(response(r#"{"active":false}"#).into_caller().is_none());
        assert!(
            response(r#"{"active":true,"client_id":"c","token_use":"refresh_token"}"#)
                .into_caller()
                .is_none()
        );
        assert!(
            response(r#"{"active":true,"client_id":"c","token_type":"DPoP"}"#)
                .into_caller()
                .is_none()
        );
    }

    #[test]
    fn a_response_without_active_does_not_parse() {
        assert!(serde_json::from_str::<IntrospectionResponse>(r#"{"scope":"a"}"#).is_err());
    }
}
