//! Reading a form body: the right content type, a size limit, and errors in the format of the
//! endpoint (OAuth JSON or an HTML page) rather than actix's plain-text defaults.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, web};
use futures_util::StreamExt;

use crate::error::{OAuthError, PageError};
use crate::params::Params;

/// Largest form body accepted.
pub const MAX_FORM_BYTES: usize = 16 * 1024;

/// Why a form body was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormBodyError {
    #[error("the request body could not be read")]
    Unreadable,
    #[error("the request body is too large")]
    TooLarge,
    #[error("the request body must be application/x-www-form-urlencoded")]
    WrongContentType,
}

impl From<FormBodyError> for OAuthError {
    fn from(error: FormBodyError) -> Self {
        OAuthError::invalid_request(error.to_string())
    }
}

impl From<FormBodyError> for PageError {
    fn from(error: FormBodyError) -> Self {
        PageError::bad_request("Invalid form", error.to_string())
    }
}

/// How long a client may take to send its form body.
const BODY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads and decodes an `application/x-www-form-urlencoded` body. A wrong content type is refused
/// before anything is read, reading stops at the size limit, and a body that stops arriving is
/// given up after a deadline; in those cases actix closes the connection rather than reading the
/// rest.
pub async fn read(request: &HttpRequest, mut payload: web::Payload) -> Result<Params, FormBodyError> {
    if !is_form_content_type(request) {
        return Err(FormBodyError::WrongContentType);
    }
    let receive = async {
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| FormBodyError::Unreadable)?;
            if body.len() + chunk.len() > MAX_FORM_BYTES {
                return Err(FormBodyError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    let body = tokio::time::timeout(BODY_DEADLINE, receive)
        .await
        .map_err(|_| FormBodyError::Unreadable)??;
    Ok(Params::parse(&body))
}

pub fn is_form_content_type(request: &HttpRequest) -> bool {
    request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media_type| {
            media_type
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}
