//! Client authentication at the token, introspection and revocation endpoints (RFC 6749 §2.3):
//! `client_secret_basic`, `client_secret_post`, or only `client_id` for public clients. Using more
//! than one method in a request is `invalid_request`; every failure is the same 401 `invalid_client`.

use std::sync::Arc;

use actix_web::HttpRequest;
use actix_web::http::header::AUTHORIZATION;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::domain::client::Client;
use crate::domain::ids::ClientId;
use crate::error::OAuthError;
use crate::params::Params;
use crate::state::AppState;

/// The credentials a request carries.
#[derive(Debug, PartialEq, Eq)]
pub enum Presented {
    Basic {
        client_id: ClientId,
        secret: String,
    },
    Post {
        client_id: ClientId,
        secret: String,
    },
    /// A public client identifies itself without a secret.
    ClientIdOnly {
        client_id: ClientId,
    },
    /// An `Authorization: Basic` header that does not decode: authentication fails.
    MalformedBasic,
    None,
}

impl Presented {
    /// Reads the credentials from the `Authorization` header and the form body.
    pub fn from_request(request: &HttpRequest, params: &Params) -> Result<Presented, OAuthError> {
        let repeated = |error: crate::params::ParamError| OAuthError::invalid_request(error.to_string());
        let body_id = params.get("client_id").map_err(repeated)?;
        let body_secret = params.get("client_secret").map_err(repeated)?;
        let header = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok());

        match header.and_then(strip_basic_scheme) {
            Some(encoded) => {
                if body_secret.is_some() {
                    return Err(OAuthError::invalid_request(
                        "use one client authentication method, not several",
                    ));
                }
                let Some((client_id, secret)) = decode_basic(encoded) else {
                    return Ok(Presented::MalformedBasic);
                };
                if body_id.is_some_and(|body_id| body_id != client_id) {
                    return Err(OAuthError::invalid_request(
                        "client_id differs from the Authorization header",
                    ));
                }
                Ok(Presented::Basic {
                    client_id: ClientId::from(client_id),
                    secret,
                })
            }
            None => Ok(match (body_id, body_secret) {
                (Some(id), Some(secret)) => Presented::Post {
                    client_id: ClientId::from(id),
                    secret: secret.to_owned(),
                },
                (Some(id), None) => Presented::ClientIdOnly {
                    client_id: ClientId::from(id),
                },
                (None, _) => Presented::None,
            }),
        }
    }

    fn client_id(&self) -> Option<&ClientId> {
        match self {
            Presented::Basic { client_id, .. }
            | Presented::Post { client_id, .. }
            | Presented::ClientIdOnly { client_id } => Some(client_id),
            Presented::MalformedBasic | Presented::None => None,
        }
    }
}

/// Authenticates the client of a request. Confidential clients must prove their secret; public
/// clients may only name themselves. Secret guesses are limited per client id *and* address, so a
/// stranger cannot lock a client out from elsewhere; public clients have no secret to guess.
pub async fn authenticate(
    state: &AppState,
    presented: Presented,
    address: &str,
) -> Result<Arc<Client>, OAuthError> {
    let realm = state.settings.issuer.as_str();
    let Some(client_id) = presented.client_id().cloned() else {
        return Err(OAuthError::invalid_client(realm));
    };
    let client = state.clients.get(&client_id).await?;
    let authenticated = match (&presented, &client) {
        (Presented::Basic { secret, .. } | Presented::Post { secret, .. }, Some(client))
            if !client.is_public =>
        {
            let throttle = &state.throttles.client_authentication;
            let key = format!("{client_id}\u{0}{address}");
            // Only a read on the hot path; failures are counted after the comparison.
            if let Some(retry_after) = throttle.blocked_for(&key) {
                return Err(OAuthError::too_many_attempts(realm, retry_after));
            }
            let matches = client.secret_matches(secret);
            if !matches {
                throttle.record_failure(&key);
            }
            matches
        }
        (Presented::ClientIdOnly { .. }, Some(client)) => client.is_public,
        _ => false,
    };
    match client {
        Some(client) if authenticated => Ok(client),
        Some(_) => {
            tracing::info!(client.id = %client_id, "client authentication failed");
            Err(OAuthError::invalid_client(realm))
        }
        // An id nobody registered is whatever a stranger typed: only its length is logged.
        None => {
            tracing::info!(
                client.id_length = client_id.as_str().len(),
                "client authentication failed: unknown client"
            );
            Err(OAuthError::invalid_client(realm))
        }
    }
}

/// The credentials of a `Basic` header, scheme matched case-insensitively.
fn strip_basic_scheme(header: &str) -> Option<&str> {
    let (scheme, rest) = header.split_once(' ')?;
    scheme.eq_ignore_ascii_case("basic").then(|| rest.trim())
}

/// RFC 6749 §2.3.1: the id and secret are form-urlencoded, joined by `:`, then base64-encoded.
fn decode_basic(encoded: &str) -> Option<(String, String)> {
    let decoded = String::from_utf8(STANDARD.decode(encoded).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let id = form_decode(id)?;
    (!id.is_empty()).then_some(())?;
    Some((id, form_decode(secret)?))
}

/// The form-decoded text; `None` when it is not UTF-8 or holds a control character (a NUL would
/// reach the database as a query error, a newline a log line: neither is in any client id or
/// secret we issue).
fn form_decode(text: &str) -> Option<String> {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .filter(|decoded| !decoded.chars().any(char::is_control))
        .map(|decoded| decoded.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded_after_base64() {
        let encoded = STANDARD.encode("my%3Aclient:s%2Bcr+et%25");
        assert_eq!(
            decode_basic(&encoded),
            Some(("my:client".into(), "s+cr et%".into()))
        );
    }

    #[test]
    fn malformed_basic_credentials_are_refused() {
        assert_eq!(decode_basic("not base64!"), None);
        assert_eq!(decode_basic(&STANDARD.encode("no-colon")), None);
        assert_eq!(decode_basic(&STANDARD.encode(":secret")), None);
        for control in ["a\u{0}b:secret", "a%00b:secret", "a%0Ab:secret", "id:se%00cret"] {
            assert_eq!(decode_basic(&STANDARD.encode(control)), None, "{control:?}");
        }
    }

    #[test]
    fn the_scheme_is_case_insensitive() {
        assert_eq!(strip_basic_scheme("bAsIc abc"), Some("abc"));
        assert_eq!(strip_basic_scheme("Bearer abc"), None);
    }

    /// RFC 6749 §2.3.1's encoding, as a client library does it.
    fn form_encode(text: &str) -> String {
        form_urlencoded::byte_serialize(text.as_bytes()).collect()
    }

    proptest::proptest! {
        #[test]
        fn any_header_value_is_parsed_without_panicking(header in ".{0,200}") {
            if let Some(credentials) = strip_basic_scheme(&header) {
                let _ = decode_basic(credentials);
            }
        }

        #[test]
        fn any_bytes_behind_base64_are_parsed_without_panicking(
            raw in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
        ) {
            if let Some((id, secret)) = decode_basic(&STANDARD.encode(&raw)) {
                proptest::prop_assert!(!id.is_empty());
                proptest::prop_assert!(!id.chars().chain(secret.chars()).any(char::is_control));
            }
        }

        #[test]
        fn credentials_without_control_characters_round_trip(
            id in "[^\\p{Cc}]{1,64}",
            secret in "[^\\p{Cc}]{0,64}",
        ) {
            let encoded = STANDARD.encode(format!("{}:{}", form_encode(&id), form_encode(&secret)));
            let header = format!("Basic {encoded}");
            let decoded = decode_basic(strip_basic_scheme(&header).unwrap());
            proptest::prop_assert_eq!(decoded, Some((id, secret)));
        }

        #[test]
        fn credentials_with_a_control_character_are_refused(
            id in "[a-z]{0,8}\\p{Cc}[a-z]{0,8}",
            secret in "[a-z]{0,8}",
        ) {
            let encoded = STANDARD.encode(format!("{}:{}", form_encode(&id), form_encode(&secret)));
            proptest::prop_assert_eq!(decode_basic(&encoded), None);
        }
    }
}
