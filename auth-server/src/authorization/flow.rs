//! Moving a pending authorization request forward: to the login page, to the consent page, or to the
//! client with a code. Every step re-reads the request from the database, so nothing the browser
//! sends (hidden fields included) can change the client, redirect URI or scope.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse};
use chrono::NaiveDateTime;
use shared::db::run;

use super::answer::ClientAnswer;
use super::session::ActiveSession;
use crate::browser::BrowserBinding;
use crate::db;
use crate::db::models::{AuthorizationCode, AuthorizationRequest};
use crate::domain::client::Client;
use crate::domain::ids::UserId;
use crate::domain::opaque_token::{self, TokenHash, TokenKind};
use crate::domain::redirect_uri::{RedirectUri, with_query};
use crate::domain::response_type::ResponseType;
use crate::domain::scope::ScopeSet;
use crate::domain::time;
use crate::error::{ErrorCode, PageError, StoreError};
use crate::pages::see_other;
use crate::state::AppState;

/// A pending request, its client, and the browser it is bound to.
pub struct Pending {
    pub request: AuthorizationRequest,
    pub client: Arc<Client>,
    pub browser: BrowserBinding,
}

/// Loads a pending request for the browser making this HTTP request; another browser gets 403.
pub async fn pending_for_browser(
    state: &AppState,
    http: &HttpRequest,
    request_id: Option<&str>,
) -> Result<Pending, PageError> {
    let expired = || {
        PageError::bad_request(
            "Sign-in expired",
            "This sign-in request has expired or was already answered. Go back to the application and start \
                again.",
        )
    };
    let request_id = request_id
        .filter(|id| TokenKind::of(id) == Some(TokenKind::AuthorizationRequest))
        .ok_or_else(expired)?;
    let browser = BrowserBinding::from_request(&state.cookies, http);
    let id = request_id.to_owned();
    let request = run(&state.pool, move |conn| {
        db::authorization_requests::find_pending(conn, &id, time::now()).map_err(StoreError::from)
    })
    .await?
    .ok_or_else(expired)?;
    if browser.is_new || !opaque_token::matches_hash(&browser.value, &request.browser_hash) {
        return Err(PageError::forbidden(
            "This sign-in request was started in another browser.",
        ));
    }
    let client = state.clients.get(&request.client_id).await?.ok_or_else(expired)?;
    Ok(Pending {
        request,
        client,
        browser,
    })
}

/// Sends the browser to the next step of the request, honouring `prompt`, `max_age` and
/// `id_token_hint` (OIDC Core §3.1.2.1): to the login page, to the consent page, or back to the
/// client with a code or an error.
pub async fn advance(
    state: &AppState,
    pending: &Pending,
    session: Option<&ActiveSession>,
) -> Result<HttpResponse, PageError> {
    let request = &pending.request;
    let prompt = request.prompt.unwrap_or_default();
    let login_page = || Ok(see_other(&format!("/login?request={}", request.id)));
    let Some(session) = session else {
        if prompt.none {
            return refuse(
                state,
                pending,
                ErrorCode::LoginRequired,
                "the user is not signed in",
            )
            .await;
        }
        return login_page();
    };
    // A sign-in made while answering this request satisfies prompt=login and max_age.
    let fresh = session.auth_time >= request.created_at;
    let too_old = request.max_age.is_some_and(|max_age| {
        time::now().signed_duration_since(session.auth_time) > chrono::TimeDelta::seconds(max_age)
    });
    let other_user = request
        .expected_subject
        .as_ref()
        .is_some_and(|subject| *subject != session.user.id);
    if !fresh && (prompt.login || too_old || other_user) {
        if prompt.none {
            return refuse(
                state,
                pending,
                ErrorCode::LoginRequired,
                "the user must sign in again",
            )
            .await;
        }
        return login_page();
    }
    if other_user {
        return refuse(
            state,
            pending,
            ErrorCode::LoginRequired,
            "the signed-in user is not the one id_token_hint names",
        )
        .await;
    }
    let (granted, consented) = granted_and_consented(state, pending, &session.user.id).await?;
    // A client the user never agreed to is always shown, even when no scope is at stake: letting
    // it learn who signed in is itself a decision for the user.
    let covered = consented.is_some_and(|consented| granted.is_subset(&consented));
    if (pending.client.skip_consent || covered) && !prompt.consent {
        Ok(issue_code(state, pending, session, &granted, false)
            .await?
            .into_response())
    } else if prompt.none {
        refuse(
            state,
            pending,
            ErrorCode::ConsentRequired,
            "the user has not agreed to this request",
        )
        .await
    } else {
        Ok(see_other(&format!("/consent?request={}", request.id)))
    }
}

/// Answers the request with an error for the client (the request is used up).
async fn refuse(
    state: &AppState,
    pending: &Pending,
    error: ErrorCode,
    description: &str,
) -> Result<HttpResponse, PageError> {
    Ok(answer_error(state, pending, error, description)
        .await?
        .into_response())
}

/// The scope the user would grant (the request's, limited to what the user may hold), and what the
/// user already agreed to share with this client (`None`: never asked).
pub async fn granted_and_consented(
    state: &AppState,
    pending: &Pending,
    user_id: &UserId,
) -> Result<(ScopeSet, Option<ScopeSet>), PageError> {
    let requested = ScopeSet::parse(&pending.request.scope).unwrap_or_default();
    let (user_id, client_id) = (user_id.clone(), pending.client.id.clone());
    let (held, consented) = run(&state.pool, move |conn| {
        let held = db::users::scopes_of(conn, &user_id)?;
        let consented = db::consents::consented_scopes(conn, &user_id, &client_id)?;
        Ok::<_, StoreError>((held, consented))
    })
    .await?;
    Ok((requested.intersection(&held), consented))
}

/// Issues the code and answers the request (single use: a second submit finds it gone).
/// Returns the answer carrying the code.
pub async fn issue_code(
    state: &AppState,
    pending: &Pending,
    session: &ActiveSession,
    granted: &ScopeSet,
    remember_consent: bool,
) -> Result<ClientAnswer, PageError> {
    let hybrid = pending.request.response_type != ResponseType::Code;
    if hybrid && !granted.contains("openid") {
        return answer_error(
            state,
            pending,
            ErrorCode::InvalidScope,
            "the user may not grant the openid scope",
        )
        .await;
    }
    let generated = opaque_token::generate(TokenKind::AuthorizationCode);
    let now = time::now();
    let code = new_code(&pending.request, generated.hash, session, granted, now, state);
    let request_id = pending.request.id.clone();
    let granted = granted.clone();
    let answered = run(&state.pool, move |conn| {
        shared::db::transaction(conn, |conn| {
            if !db::authorization_requests::delete(conn, &request_id)? {
                return Ok(false);
            }
            if remember_consent {
                db::consents::remember(conn, &code.user_id, &code.client_id, &granted, now)?;
            }
            db::authorization_codes::insert(conn, &code)?;
            Ok::<_, StoreError>(true)
        })
    })
    .await?;
    if !answered {
        return Err(PageError::bad_request(
            "Already answered",
            "This request was already answered.",
        ));
    }
    let mut params = vec![("code", generated.value.clone())];
    if hybrid {
        params.push((
            "id_token",
            front_channel_id_token(state, pending, session, generated.value).await?,
        ));
    }
    Ok(ClientAnswer::success(
        &pending.request,
        &state.settings.issuer,
        params,
    ))
}

/// The id_token of a hybrid answer (OIDC Core §3.3.2.11): bound to the code by `c_hash`, to the
/// request by `nonce`; no access token travels with it, so no `at_hash`.
async fn front_channel_id_token(
    state: &AppState,
    pending: &Pending,
    session: &ActiveSession,
    code: String,
) -> Result<String, PageError> {
    let client = pending.client.clone();
    let kek = state.key_encryption.clone();
    let (issuer, ttl_secs) = (
        state.settings.issuer.clone(),
        state.settings.oidc.id_token_ttl_secs,
    );
    let (user_id, auth_time, session_hash) = (
        session.user.id.clone(),
        session.auth_time,
        session.id_hash.as_str().to_owned(),
    );
    let nonce = pending.request.nonce.clone();
    run(&state.pool, move |conn| {
        let facts = crate::oidc::id_token::IdTokenFacts {
            issuer: &issuer,
            client: &client,
            user_id: &user_id,
            auth_time,
            nonce: nonce.as_deref(),
            session_hash: Some(&session_hash),
            access_token: None,
            code: Some(&code),
            ttl_secs,
        };
        crate::oidc::id_token::sign(conn, &kek, &facts)
    })
    .await
    .map_err(|error: anyhow::Error| {
        if shared::db::is_unavailable(&error) {
            PageError::unavailable(error)
        } else {
            PageError::internal(error)
        }
    })
}

fn new_code(
    request: &AuthorizationRequest,
    code_hash: TokenHash,
    session: &ActiveSession,
    granted: &ScopeSet,
    now: NaiveDateTime,
    state: &AppState,
) -> AuthorizationCode {
    AuthorizationCode {
        code_hash: code_hash.into_string(),
        client_id: request.client_id.clone(),
        user_id: session.user.id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        redirect_uri_explicit: request.redirect_uri_explicit,
        scope: granted.to_string(),
        code_challenge: request.code_challenge.clone(),
        code_challenge_method: request.code_challenge_method,
        nonce: request.nonce.clone(),
        auth_time: session.auth_time,
        created_at: now,
        expires_at: time::after_secs(now, state.settings.tokens.authorization_code_ttl_secs),
        used_at: None,
        grant_id: None,
        session_hash: Some(session.id_hash.as_str().to_owned()),
    }
}

/// The user declined: the request is answered with `access_denied`.
pub async fn deny(state: &AppState, pending: &Pending) -> Result<ClientAnswer, PageError> {
    answer_error(
        state,
        pending,
        ErrorCode::AccessDenied,
        "the user denied the request",
    )
    .await
}

/// Uses the request up and answers it with an error for the client.
pub async fn answer_error(
    state: &AppState,
    pending: &Pending,
    error: ErrorCode,
    description: &str,
) -> Result<ClientAnswer, PageError> {
    let request_id = pending.request.id.clone();
    run(&state.pool, move |conn| {
        db::authorization_requests::delete(conn, &request_id).map_err(StoreError::from)
    })
    .await?;
    Ok(ClientAnswer::error(
        &pending.request,
        &state.settings.issuer,
        error,
        description,
    ))
}

/// A client redirect URI carrying an error (RFC 6749 §4.1.2.1, with `iss` from RFC 9207).
pub fn error_location(
    redirect_uri: &RedirectUri,
    error: ErrorCode,
    description: &str,
    client_state: Option<&str>,
    issuer: &str,
) -> String {
    let mut params = vec![("error", error.as_str()), ("error_description", description)];
    params.extend(client_state.map(|state| ("state", state)));
    params.push(("iss", issuer));
    with_query(redirect_uri, &params)
}
