//! The JSON error body every service returns, and the helpers that build it.

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, HeaderValue};
use actix_web::{HttpResponse, HttpResponseBuilder};
use serde::Serialize;

use crate::request_id;

/// `{ "error", "message", "request_id" }`: a stable code for programs, a sentence for people, and the
/// id to quote when asking an operator to look at the logs.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
    pub request_id: Option<String>,
}

impl ErrorBody {
    pub fn new(error: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorBody {
            error: error.into(),
            message: message.into(),
            request_id: request_id::current(),
        }
    }
}

/// A JSON error response that is never cached.
pub fn json_error(status: StatusCode, error: &str, message: &str) -> HttpResponse {
    HttpResponseBuilder::new(status)
        .insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(ErrorBody::new(error, message))
}

/// Formats an error with its whole chain of causes, for `Debug` impls of error enums.
pub fn error_chain_fmt(error: &impl std::error::Error, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    writeln!(f, "{error}")?;
    let mut current = error.source();
    while let Some(cause) = current {
        writeln!(f, "caused by: {cause}")?;
        current = cause.source();
    }
    Ok(())
}

/// The default service of every app: unknown paths get a JSON 404, not an empty body.
pub async fn not_found() -> HttpResponse {
    json_error(StatusCode::NOT_FOUND, "not_found", "no such resource")
}
