//! Errors as the protocol answers them: `OAuthError` is the RFC 6749 §5.2 JSON of the token,
//! introspection and revocation endpoints; `PageError` is the HTML page shown to a person when the
//! authorization flow cannot send them back to the client.

use std::borrow::Cow;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
pub use shared::db::StoreError;
use shared::db::{DbError, is_connection_failure};

mod page;

pub use page::PageError;

/// Every error code the auth-server answers with, on both channels: the token, introspection and
/// revocation endpoints (RFC 6749 §5.2), the authorization endpoint's redirects (RFC 6749 §4.1.2.1,
/// OpenID Connect Core §3.1.2.6) and userinfo's bearer errors (RFC 6750 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    LoginRequired,
    ConsentRequired,
    InvalidToken,
    InsufficientScope,
    ServerError,
    TemporarilyUnavailable,
}

impl ErrorCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

/// An error of an OAuth JSON endpoint.
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: Cow<'static, str>,
    status: StatusCode,
    /// The `WWW-Authenticate` challenge of a 401.
    challenge: Option<String>,
    retry_after_secs: Option<u64>,
    cause: Option<anyhow::Error>,
}

#[derive(Serialize)]
struct OAuthErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
    request_id: Option<String>,
}

impl OAuthError {
    fn new(code: ErrorCode, status: StatusCode, description: impl Into<Cow<'static, str>>) -> Self {
        OAuthError {
            code,
            description: sanitize_description(description.into()),
            status,
            challenge: None,
            retry_after_secs: None,
            cause: None,
        }
    }

    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, StatusCode::BAD_REQUEST, description)
    }

    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, StatusCode::BAD_REQUEST, description)
    }

    pub fn invalid_scope(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidScope, StatusCode::BAD_REQUEST, description)
    }

    pub fn unauthorized_client(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(
            ErrorCode::UnauthorizedClient,
            StatusCode::BAD_REQUEST,
            description,
        )
    }

    pub fn unsupported_grant_type(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(
            ErrorCode::UnsupportedGrantType,
            StatusCode::BAD_REQUEST,
            description,
        )
    }

    /// Client authentication failed: always 401 with a challenge naming the scheme the client should
    /// use (RFC 6749 §5.2), and the same description whatever the reason, so ids cannot be probed.
    pub fn invalid_client(realm: &str) -> Self {
        let mut error = Self::new(
            ErrorCode::InvalidClient,
            StatusCode::UNAUTHORIZED,
            "client authentication failed",
        );
        error.challenge = Some(format!("Basic realm=\"{realm}\", charset=\"UTF-8\""));
        error
    }

    /// Too many failed client authentications: 429 with `Retry-After`, still `invalid_client`
    /// (the registered code for a failed client authentication, RFC 6749 §5.2).
    pub fn too_many_attempts(realm: &str, retry_after_secs: u64) -> Self {
        let mut error = Self::invalid_client(realm);
        error.status = StatusCode::TOO_MANY_REQUESTS;
        error.description = "too many failed attempts; retry later".into();
        error.retry_after_secs = Some(retry_after_secs.max(1));
        error
    }

    /// A dependency (the database) is down: 503, retry later.
    pub fn unavailable(cause: impl Into<anyhow::Error>) -> Self {
        let mut error = Self::new(
            ErrorCode::TemporarilyUnavailable,
            StatusCode::SERVICE_UNAVAILABLE,
            "the service is temporarily unavailable; retry later",
        );
        error.retry_after_secs = Some(1);
        error.cause = Some(cause.into());
        error
    }

    /// A bug or an unexpected failure: 500 with a generic description; the cause goes to the log.
    pub fn server_error(cause: impl Into<anyhow::Error>) -> Self {
        let mut error = Self::new(
            ErrorCode::ServerError,
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error",
        );
        error.cause = Some(cause.into());
        error
    }
}

/// RFC 6749 §5.2 allows only `%x20-21 / %x23-5B / %x5D-7E` in `error_description`.
fn sanitize_description(description: Cow<'static, str>) -> Cow<'static, str> {
    let allowed = |c: char| matches!(c as u32, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E);
    if description.chars().all(allowed) {
        description
    } else {
        Cow::Owned(
            description
                .chars()
                .map(|c| if allowed(c) { c } else { '\'' })
                .collect(),
        )
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

impl std::fmt::Debug for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")?;
        if let Some(cause) = &self.cause {
            write!(f, "\ncaused by: {cause:?}")?;
        }
        Ok(())
    }
}

impl std::error::Error for OAuthError {}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        if let (Some(cause), true) = (&self.cause, self.status.is_server_error()) {
            tracing::error!(
                error.code = self.code.as_str(),
                error.cause = %format_args!("{cause:#}"),
                "request failed",
            );
        }
        metrics::counter!("oauth_errors_total", "error" => self.code.as_str()).increment(1);
        let mut response = HttpResponse::build(self.status);
        no_store(&mut response);
        if let Some(challenge) = &self.challenge {
            response.insert_header((header::WWW_AUTHENTICATE, challenge.as_str()));
        }
        if let Some(secs) = self.retry_after_secs {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        response.json(OAuthErrorBody {
            error: self.code.as_str(),
            error_description: &self.description,
            request_id: shared::request_id::current(),
        })
    }
}

/// `Cache-Control: no-store` and `Pragma: no-cache`, required on every response that carries
/// tokens, credentials or errors about them (RFC 6749 §5.1).
pub fn no_store(response: &mut actix_web::HttpResponseBuilder) {
    response
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")));
}

impl From<DbError> for OAuthError {
    fn from(error: DbError) -> Self {
        OAuthError::unavailable(error)
    }
}

impl From<diesel::result::Error> for OAuthError {
    fn from(error: diesel::result::Error) -> Self {
        if is_connection_failure(&error) {
            OAuthError::unavailable(error)
        } else {
            OAuthError::server_error(error)
        }
    }
}

impl From<StoreError> for OAuthError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(error) => OAuthError::from(error),
            StoreError::Query(error) => OAuthError::from(error),
        }
    }
}
