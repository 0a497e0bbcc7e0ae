//! The gateway's answers when it does not forward a request: RFC 6750 challenges for token
//! problems, JSON bodies with the request id for everything.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use shared::bearer::{Challenge, ErrorCode};
use shared::http_error::ErrorBody;

/// Why a request was not forwarded.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("no route matches this request")]
    NoRoute,
    /// A path a URL parser would rewrite (see `route_table::is_ambiguous_path`).
    #[error("the path must not contain . or .. segments, backslashes or control characters")]
    AmbiguousPath,
    #[error("this route does not allow the method")]
    MethodNotAllowed(Vec<actix_web::http::Method>),
    #[error("a bearer token is required")]
    MissingToken,
    #[error("the Authorization header is malformed")]
    MalformedToken,
    #[error("the token is not active")]
    InvalidToken,
    #[error("the token lacks the scope this request needs")]
    InsufficientScope(String),
    #[error("the authorization server is unavailable")]
    AuthUnavailable(Duration),
    #[error("too many requests")]
    RateLimited(Duration),
    #[error("the upstream is unavailable")]
    UpstreamUnavailable(Duration),
    #[error("the upstream could not be reached")]
    BadGateway,
    #[error("the upstream did not answer in time")]
    GatewayTimeout,
    /// A failure of the gateway itself; the body says only "internal error", the log has the cause.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

const REALM: &str = "api";

impl GatewayError {
    fn code(&self) -> &'static str {
        match self {
            GatewayError::NoRoute => "not_found",
            GatewayError::MethodNotAllowed(_) => "method_not_allowed",
            GatewayError::MissingToken | GatewayError::InvalidToken => "invalid_token",
            GatewayError::MalformedToken | GatewayError::AmbiguousPath => "invalid_request",
            GatewayError::InsufficientScope(_) => "insufficient_scope",
            GatewayError::AuthUnavailable(_) | GatewayError::UpstreamUnavailable(_) => {
                "temporarily_unavailable"
            }
            GatewayError::RateLimited(_) => "rate_limited",
            GatewayError::BadGateway => "bad_gateway",
            GatewayError::GatewayTimeout => "gateway_timeout",
            GatewayError::Internal(_) => "internal_error",
        }
    }

    /// The `WWW-Authenticate` challenge (RFC 6750 §3): no error code when no token was sent.
    fn challenge(&self) -> Option<Challenge> {
        let challenge = Challenge::new().realm(REALM);
        match self {
            GatewayError::MissingToken => Some(challenge),
            GatewayError::InvalidToken => Some(
                challenge
                    .error(ErrorCode::InvalidToken)
                    .description("the token is not active"),
            ),
            GatewayError::MalformedToken => Some(challenge.error(ErrorCode::InvalidRequest)),
            GatewayError::InsufficientScope(scope) => {
                Some(challenge.error(ErrorCode::InsufficientScope).scope(scope))
            }
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            GatewayError::AuthUnavailable(after)
            | GatewayError::RateLimited(after)
            | GatewayError::UpstreamUnavailable(after) => Some(*after),
            _ => None,
        }
    }
}

impl ResponseError for GatewayError {
    fn status_code(&self) -> StatusCode {
        match self {
            GatewayError::NoRoute => StatusCode::NOT_FOUND,
            GatewayError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            GatewayError::MissingToken | GatewayError::InvalidToken => StatusCode::UNAUTHORIZED,
            GatewayError::MalformedToken | GatewayError::AmbiguousPath => StatusCode::BAD_REQUEST,
            GatewayError::InsufficientScope(_) => StatusCode::FORBIDDEN,
            GatewayError::AuthUnavailable(_) | GatewayError::UpstreamUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            GatewayError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            GatewayError::BadGateway => StatusCode::BAD_GATEWAY,
            GatewayError::GatewayTimeout => StatusCode::GATEWAY_TIMEOUT,
            GatewayError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let GatewayError::Internal(cause) = self {
            tracing::error!(error.cause = %format_args!("{cause:#}"), "gateway request failed");
        }
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        if let Some(challenge) = self.challenge() {
            response.insert_header((header::WWW_AUTHENTICATE, challenge.to_string()));
        }
        if let Some(after) = self.retry_after() {
            // Whole seconds, rounded up: a client told 0 would retry at once.
            let secs = after.as_millis().div_ceil(1000).max(1);
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if let GatewayError::MethodNotAllowed(allowed) = self {
            let allow = allowed
                .iter()
                .map(|method| method.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            response.insert_header((header::ALLOW, allow));
        }
        response.json(ErrorBody::new(self.code(), self.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use actix_web::body::MessageBody;
    use anyhow::Context;

    use super::*;

    #[test]
    fn an_internal_error_keeps_its_cause_and_answers_only_internal_error() {
        let cause = Err::<(), _>(std::io::Error::other("disk on fire"))
            .context("cannot sign the identity token")
            .unwrap_err();
        let error = GatewayError::Internal(cause);

        let response = error.error_response();

        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = response.into_body().try_into_bytes().unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "internal_error");
        assert_eq!(body["message"], "internal error");
        let source = error.source().expect("the cause is kept");
        assert_eq!(source.to_string(), "cannot sign the identity token");
        assert_eq!(source.source().unwrap().to_string(), "disk on fire");
    }

    #[test]
    fn token_refusals_carry_their_rfc_6750_challenge() {
        let cases = [
            (GatewayError::MissingToken, r#"Bearer realm="api""#),
            (
                GatewayError::InvalidToken,
                r#"Bearer realm="api", error="invalid_token", error_description="the token is not active""#,
            ),
            (
                GatewayError::MalformedToken,
                r#"Bearer realm="api", error="invalid_request""#,
            ),
            (
                GatewayError::InsufficientScope("orders:read orders:write".into()),
                r#"Bearer realm="api", error="insufficient_scope", scope="orders:read orders:write""#,
            ),
        ];
        for (error, expected) in cases {
            let response = error.error_response();
            assert_eq!(
                response.headers().get(header::WWW_AUTHENTICATE).unwrap(),
                expected
            );
        }
        let unavailable = GatewayError::AuthUnavailable(Duration::from_secs(1)).error_response();
        assert!(!unavailable.headers().contains_key(header::WWW_AUTHENTICATE));
    }
}
