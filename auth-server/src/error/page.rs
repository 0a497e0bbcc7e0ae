//! `PageError`: the HTML page shown to a person when the authorization flow or an account form
//! cannot go on (never a redirect to a client).

use std::borrow::Cow;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use shared::db::{DbError, StoreError, is_connection_failure};

use crate::pages;

/// An error shown to a person as an HTML page (never a redirect).
pub struct PageError {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: Cow<'static, str>,
    retry_after_secs: Option<u64>,
    cause: Option<anyhow::Error>,
}

impl PageError {
    pub fn bad_request(title: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        PageError {
            status: StatusCode::BAD_REQUEST,
            title,
            message: message.into(),
            retry_after_secs: None,
            cause: None,
        }
    }

    pub fn not_found(title: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        PageError {
            status: StatusCode::NOT_FOUND,
            title,
            message: message.into(),
            retry_after_secs: None,
            cause: None,
        }
    }

    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        PageError {
            status: StatusCode::FORBIDDEN,
            title: "Request refused",
            message: message.into(),
            retry_after_secs: None,
            cause: None,
        }
    }

    pub fn too_many_attempts(retry_after_secs: u64) -> Self {
        PageError {
            status: StatusCode::TOO_MANY_REQUESTS,
            title: "Too many attempts",
            message: "Too many failed sign-in attempts. Wait a while and try again.".into(),
            retry_after_secs: Some(retry_after_secs.max(1)),
            cause: None,
        }
    }

    /// Over a per-address budget that counts every request, not only failures.
    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        PageError {
            status: StatusCode::TOO_MANY_REQUESTS,
            title: "Too many requests",
            message: "Too many requests from your network. Wait a while and try again.".into(),
            retry_after_secs: Some(retry_after_secs.max(1)),
            cause: None,
        }
    }

    /// Too much expensive work is already under way for strangers: retry in a moment.
    pub fn busy() -> Self {
        PageError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            title: "Busy",
            message: "We are handling many requests right now. Please try again in a moment.".into(),
            retry_after_secs: Some(1),
            cause: None,
        }
    }

    pub fn unavailable(cause: impl Into<anyhow::Error>) -> Self {
        PageError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            title: "Temporarily unavailable",
            message: "The sign-in service is temporarily unavailable. Please try again in a moment.".into(),
            retry_after_secs: Some(1),
            cause: Some(cause.into()),
        }
    }

    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        PageError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            title: "Something went wrong",
            message: "An unexpected error occurred. Please try again.".into(),
            retry_after_secs: None,
            cause: Some(cause.into()),
        }
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.title, self.message)
    }
}

impl std::fmt::Debug for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")?;
        if let Some(cause) = &self.cause {
            write!(f, "\ncaused by: {cause:?}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PageError {}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        if let (Some(cause), true) = (&self.cause, self.status.is_server_error()) {
            tracing::error!(error.cause = %format_args!("{cause:#}"), "page request failed");
        }
        let mut response = pages::error_page(self.status, self.title, &self.message);
        if let Some(secs) = self.retry_after_secs {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_str(&secs.to_string()).expect("digits are a valid header"),
            );
        }
        response
    }
}

impl From<DbError> for PageError {
    fn from(error: DbError) -> Self {
        PageError::unavailable(error)
    }
}

impl From<diesel::result::Error> for PageError {
    fn from(error: diesel::result::Error) -> Self {
        if is_connection_failure(&error) {
            PageError::unavailable(error)
        } else {
            PageError::internal(error)
        }
    }
}

impl From<StoreError> for PageError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(error) => PageError::from(error),
            StoreError::Query(error) => PageError::from(error),
        }
    }
}
