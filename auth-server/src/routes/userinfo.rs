//! `GET|POST /oauth2/userinfo` (OIDC Core §5.3): the claims of the token's user that its scopes
//! release. The token comes in the `Authorization: Bearer` header or, for POST, the form body
//! (RFC 6750 §2.1-2.2); a token in the query string is ignored (OAuth 2.1 §5.2).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use shared::bearer::{self, Bearer, Challenge};
use shared::db::run;

use crate::db;
use crate::domain::opaque_token::{self, TokenKind};
use crate::domain::scope::ScopeSet;
use crate::domain::time;
use crate::error::{StoreError, no_store};
use crate::form_body;
use crate::oidc::claims;
use crate::state::AppState;

pub async fn get_userinfo(http: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let presented = Presented::from(bearer::from_request(&http));
    respond(&state, presented).await
}

pub async fn post_userinfo(
    http: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let header = Presented::from(bearer::from_request(&http));
    let in_body = if form_body::is_form_content_type(&http) {
        match form_body::read(&http, body).await {
            Ok(params) => match params.get("access_token") {
                Ok(token) => token.map(str::to_owned),
                Err(_) => return refuse(&state, Refusal::Malformed),
            },
            Err(_) => return refuse(&state, Refusal::Malformed),
        }
    } else {
        None
    };
    let presented = match (header, in_body) {
        // RFC 6750 §2: a client must not use more than one method.
        (Presented::Token(_) | Presented::Malformed, Some(_)) => {
            return refuse(&state, Refusal::Malformed);
        }
        (Presented::Missing, Some(token)) => Presented::Token(token),
        (header, None) => header,
    };
    respond(&state, presented).await
}

/// The token the request carries, read by the parser every service shares (`shared::bearer`).
enum Presented {
    Missing,
    Malformed,
    Token(String),
}

impl From<Bearer<'_>> for Presented {
    fn from(bearer: Bearer<'_>) -> Presented {
        match bearer {
            Bearer::Token(token) => Presented::Token(token.to_owned()),
            Bearer::Missing => Presented::Missing,
            Bearer::Malformed => Presented::Malformed,
        }
    }
}

/// Why userinfo answers with an RFC 6750 §3 error instead of claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// No token at all: a bare challenge, without an error code (RFC 6750 §3.1).
    Missing,
    /// Several `Authorization` headers, a value that is not a token68, or a token sent two ways.
    Malformed,
    /// Unknown, expired, revoked, not an access token, or its user is gone or disabled.
    InvalidToken,
    /// The token was not issued with `openid`.
    InsufficientScope,
}

impl Refusal {
    fn status(self) -> StatusCode {
        match self {
            Refusal::Missing | Refusal::InvalidToken => StatusCode::UNAUTHORIZED,
            Refusal::Malformed => StatusCode::BAD_REQUEST,
            Refusal::InsufficientScope => StatusCode::FORBIDDEN,
        }
    }

    /// The code in the challenge; none when no credential was presented.
    fn challenge_code(self) -> Option<bearer::ErrorCode> {
        match self {
            Refusal::Missing => None,
            Refusal::Malformed => Some(bearer::ErrorCode::InvalidRequest),
            Refusal::InvalidToken => Some(bearer::ErrorCode::InvalidToken),
            Refusal::InsufficientScope => Some(bearer::ErrorCode::InsufficientScope),
        }
    }

    /// The code in the JSON body, which always names one so that a client reading only the body
    /// knows what to do.
    fn body_code(self) -> bearer::ErrorCode {
        self.challenge_code().unwrap_or(bearer::ErrorCode::InvalidToken)
    }

    fn description(self) -> &'static str {
        match self {
            Refusal::Missing => "no access token was presented",
            Refusal::Malformed => "the request is malformed",
            Refusal::InvalidToken => "the access token is expired, revoked or malformed",
            Refusal::InsufficientScope => "the access token was not issued with the openid scope",
        }
    }
}

async fn respond(state: &AppState, presented: Presented) -> HttpResponse {
    let token = match presented {
        Presented::Token(token) => token,
        Presented::Missing => return refuse(state, Refusal::Missing),
        Presented::Malformed => return refuse(state, Refusal::Malformed),
    };
    if TokenKind::of(&token) != Some(TokenKind::AccessToken) {
        return refuse(state, Refusal::InvalidToken);
    }
    let hash = opaque_token::hash(&token);
    let custom = state.settings.oidc.custom_claims.clone();
    let outcome = run(&state.pool, move |conn| {
        let now = time::now();
        let Some(access) = db::access_tokens::find(conn, &hash)?
            .filter(|access| access.revoked_at.is_none() && access.expires_at > now)
        else {
            return Ok(Err(Refusal::InvalidToken));
        };
        let scope = ScopeSet::parse(&access.scope).unwrap_or_default();
        // A client_credentials token has no user to describe.
        let Some(user_id) = access.user_id else {
            return Ok(Err(Refusal::InvalidToken));
        };
        if !scope.contains("openid") {
            return Ok(Err(Refusal::InsufficientScope));
        }
        let Some(user) = db::users::find_by_id(conn, &user_id)?.filter(|user| !user.disabled) else {
            return Ok(Err(Refusal::InvalidToken));
        };
        let stored = db::user_claims::of_user(conn, &user.id)?;
        Ok::<_, StoreError>(Ok(claims::release(&user, &stored, &scope, &custom)))
    })
    .await;
    match outcome {
        Ok(Ok(released)) => {
            let mut response = HttpResponse::Ok();
            no_store(&mut response);
            response.json(released)
        }
        Ok(Err(refusal)) => refuse(state, refusal),
        Err(error) => {
            tracing::warn!(error.cause = %format_args!("{error:#}"), "userinfo could not read the database");
            let mut response = HttpResponse::ServiceUnavailable();
            no_store(&mut response);
            response
                .insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")))
                .json(serde_json::json!({
                    "error": "temporarily_unavailable",
                    "error_description": "the service is temporarily unavailable; retry later",
                    "request_id": shared::request_id::current(),
                }))
        }
    }
}

/// An RFC 6750 §3 error: the challenge in `WWW-Authenticate`, with the issuer as realm, and the
/// code in a JSON body.
fn refuse(state: &AppState, refusal: Refusal) -> HttpResponse {
    let mut challenge = Challenge::new().realm(state.settings.issuer.as_str());
    if let Some(code) = refusal.challenge_code() {
        challenge = challenge.error(code).description(refusal.description());
    }
    let mut response = HttpResponse::build(refusal.status());
    no_store(&mut response);
    response
        .insert_header((header::WWW_AUTHENTICATE, challenge.to_string()))
        .json(serde_json::json!({
            "error": refusal.body_code().as_str(),
            "error_description": refusal.description(),
            "request_id": shared::request_id::current(),
        }))
}
