//! `GET|POST /oauth2/userinfo` (OIDC Core §5.3): the claims of the token's user that its scopes
//! release. The token comes in the `Authorization: Bearer` header or, for POST, the form body
//! (RFC 6750 §2.1-2.2); a token in the query string is ignored (OAuth 2.1 §5.2).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
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
    respond(&state, bearer_header(&http)).await
}

pub async fn post_userinfo(
    http: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let header = bearer_header(&http);
    let in_body = if form_body::is_form_content_type(&http) {
        match form_body::read(&http, body).await {
            Ok(params) => match params.get("access_token") {
                Ok(token) => token.map(str::to_owned),
                Err(_) => return bearer_error(StatusCode::BAD_REQUEST, "invalid_request"),
            },
            Err(_) => return bearer_error(StatusCode::BAD_REQUEST, "invalid_request"),
        }
    } else {
        None
    };
    let token = match (header, in_body) {
        // RFC 6750 §2: a client must not use more than one method.
        (Presented::Token(_), Some(_)) | (Presented::Malformed, Some(_)) => {
            return bearer_error(StatusCode::BAD_REQUEST, "invalid_request");
        }
        (Presented::Missing, Some(token)) => Presented::Token(token),
        (header, None) => header,
    };
    respond(&state, token).await
}

enum Presented {
    Missing,
    Malformed,
    Token(String),
}

fn bearer_header(http: &HttpRequest) -> Presented {
    let Some(value) = http.headers().get(header::AUTHORIZATION) else {
        return Presented::Missing;
    };
    let Ok(value) = value.to_str() else {
        return Presented::Malformed;
    };
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            Presented::Token(token.trim().to_owned())
        }
        _ => Presented::Malformed,
    }
}

async fn respond(state: &AppState, presented: Presented) -> HttpResponse {
    let Presented::Token(token) = presented else {
        return bearer_error(StatusCode::UNAUTHORIZED, "invalid_token");
    };
    if TokenKind::of(&token) != Some(TokenKind::AccessToken) {
        return bearer_error(StatusCode::UNAUTHORIZED, "invalid_token");
    }
    let hash = opaque_token::hash(&token);
    let custom = state.settings.oidc.custom_claims.clone();
    let outcome = run(&state.pool, move |conn| {
        let now = time::now();
        let Some(access) = db::access_tokens::find(conn, &hash)?
            .filter(|access| access.revoked_at.is_none() && access.expires_at > now)
        else {
            return Ok(Err(StatusCode::UNAUTHORIZED));
        };
        let scope = ScopeSet::parse(&access.scope).unwrap_or_default();
        // A client_credentials token has no user to describe.
        let Some(user_id) = access.user_id else {
            return Ok(Err(StatusCode::UNAUTHORIZED));
        };
        if !scope.contains("openid") {
            return Ok(Err(StatusCode::FORBIDDEN));
        }
        let Some(user) = db::users::find_by_id(conn, &user_id)?.filter(|user| !user.disabled) else {
            return Ok(Err(StatusCode::UNAUTHORIZED));
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
        Ok(Err(StatusCode::FORBIDDEN)) => bearer_error(StatusCode::FORBIDDEN, "insufficient_scope"),
        Ok(Err(_)) => bearer_error(StatusCode::UNAUTHORIZED, "invalid_token"),
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

/// An RFC 6750 §3 error: the code in `WWW-Authenticate` and in a JSON body.
fn bearer_error(status: StatusCode, error: &'static str) -> HttpResponse {
    let challenge = format!("Bearer error=\"{error}\"");
    let mut response = HttpResponse::build(status);
    no_store(&mut response);
    response
        .insert_header((header::WWW_AUTHENTICATE, challenge))
        .json(serde_json::json!({
            "error": error,
            "error_description": match error {
                "invalid_token" => "the access token is missing, expired, revoked or malformed",
                "insufficient_scope" => "the access token was not issued with the openid scope",
                _ => "the request is malformed",
            },
            "request_id": shared::request_id::current(),
        }))
}
