//! Why a request's gateway identity was refused, and the HTTP answer for each reason.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};

use crate::bearer::{Challenge, ErrorCode};
use crate::http_error::{ErrorBody, error_chain_fmt};

/// The realm named in `WWW-Authenticate` challenges.
const REALM: &str = "upstream";

/// Why a request's gateway identity was refused.
#[derive(thiserror::Error)]
pub enum IdentityError {
    /// No `X-Auth-Identity` header: 401.
    #[error("the request carries no gateway identity")]
    Missing,
    /// The token failed verification: 401.
    #[error("the gateway identity is invalid: {0}")]
    Invalid(TokenRejection),
    /// The token's key is not cached and the gateway's JWKS cannot be fetched: 503 with
    /// `Retry-After`, since the token may well be valid.
    #[error("the gateway's signing keys are unavailable")]
    KeysUnavailable { retry_after: Duration },
    /// The identity lacks scopes the resource requires (all of them are named): 403.
    #[error("the token lacks the required scopes: {}", .0.join(" "))]
    MissingScopes(Vec<String>),
    /// The identity has none of the scopes the resource accepts: 403.
    #[error("the token has none of the accepted scopes: {}", .0.join(" "))]
    NoAcceptedScope(Vec<String>),
    /// The app has no `web::Data<IdentityVerifier>`: a wiring mistake, 500.
    #[error("no identity verifier is registered in the app")]
    NotConfigured,
}

/// What was wrong with an identity token. The reasons name no part of the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token is not signed with EdDSA")]
    WrongAlgorithm,
    #[error("the token names no key id")]
    MissingKeyId,
    #[error("the token's key is not published by the gateway")]
    UnknownKey,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token was issued by someone else")]
    WrongIssuer,
    #[error("the token is meant for another audience")]
    WrongAudience,
    #[error("the token's claims are missing or malformed")]
    BadClaims,
}

impl IdentityError {
    fn code(&self) -> &'static str {
        match self {
            IdentityError::Missing | IdentityError::Invalid(_) => "invalid_token",
            IdentityError::KeysUnavailable { .. } => "temporarily_unavailable",
            IdentityError::MissingScopes(_) | IdentityError::NoAcceptedScope(_) => "insufficient_scope",
            IdentityError::NotConfigured => "internal_error",
        }
    }

    fn challenge(&self) -> Option<Challenge> {
        let challenge = Challenge::new().realm(REALM);
        match self {
            IdentityError::Missing | IdentityError::Invalid(_) => {
                Some(challenge.error(ErrorCode::InvalidToken))
            }
            IdentityError::MissingScopes(scopes) | IdentityError::NoAcceptedScope(scopes) => Some(
                challenge
                    .error(ErrorCode::InsufficientScope)
                    .scope(scopes.join(" ")),
            ),
            _ => None,
        }
    }

    fn public_message(&self) -> String {
        match self {
            // A 5xx body says only something generic; the cause is on the request's span.
            IdentityError::NotConfigured => "internal error".to_owned(),
            other => other.to_string(),
        }
    }
}

impl std::fmt::Debug for IdentityError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        error_chain_fmt(self, f)
    }
}

impl ResponseError for IdentityError {
    fn status_code(&self) -> StatusCode {
        match self {
            IdentityError::Missing | IdentityError::Invalid(_) => StatusCode::UNAUTHORIZED,
            IdentityError::KeysUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            IdentityError::MissingScopes(_) | IdentityError::NoAcceptedScope(_) => StatusCode::FORBIDDEN,
            IdentityError::NotConfigured => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let IdentityError::NotConfigured = self {
            tracing::error!("a handler takes GatewayIdentity but the app has no web::Data<IdentityVerifier>");
        }
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        if let Some(challenge) = self.challenge() {
            response.insert_header((header::WWW_AUTHENTICATE, challenge.to_string()));
        }
        if let IdentityError::KeysUnavailable { retry_after } = self {
            // Whole seconds, rounded up: a client told 0 would retry at once.
            let secs = retry_after.as_millis().div_ceil(1000).max(1);
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        response.json(ErrorBody::new(self.code(), self.public_message()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_challenge_names_every_missing_scope() {
        let error = IdentityError::MissingScopes(vec!["orders:read".into(), "orders:write".into()]);

        let response = error.error_response();

        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            response.headers().get(header::WWW_AUTHENTICATE).unwrap(),
            "Bearer realm=\"upstream\", error=\"insufficient_scope\", scope=\"orders:read orders:write\""
        );
    }

    #[test]
    fn retry_after_is_rounded_up_to_at_least_one_second() {
        for (millis, expected) in [(0, "1"), (1, "1"), (1500, "2"), (30_000, "30")] {
            let error = IdentityError::KeysUnavailable {
                retry_after: Duration::from_millis(millis),
            };

            let response = error.error_response();

            assert_eq!(
                response.headers().get(header::RETRY_AFTER).unwrap(),
                expected,
                "{millis} ms"
            );
        }
    }
}
