//! `GET /oauth2/authorize`: validate, remember the request, and send the browser on.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use shared::db::run;

use crate::authorization::answer::{ClientAnswer, ResponseMode};
use crate::authorization::flow::{self, Pending, error_location};
use crate::authorization::request::{self, ErrorRedirect, Invalid, ValidRequest};
use crate::authorization::session;
use crate::browser::BrowserBinding;
use crate::client_address;
use crate::db;
use crate::db::models::AuthorizationRequest;
use crate::domain::opaque_token::{self, TokenKind};
use crate::domain::pkce::CodeChallenge;
use crate::domain::redirect_uri::RedirectUri;
use crate::domain::time;
use crate::error::{ErrorCode, PageError, StoreError};
use crate::params::Params;
use crate::state::AppState;

pub async fn get_authorize(http: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let params = Params::parse(http.query_string().as_bytes());
    let valid = match request::validate(&state, &params).await {
        Ok(valid) => valid,
        Err(Invalid::Page(error)) => return Err(error),
        Err(Invalid::Redirect(redirect)) => return Ok(redirect_error(&state, redirect)),
    };
    // Each stored request costs a row until it expires, and nobody has signed in yet.
    let address = client_address::of(&http, state.settings.throttle.trusted_proxies);
    if let Err(retry_after) = state.throttles.authorization_requests_per_ip.reserve(&address) {
        metrics::counter!("auth_authorization_requests_throttled_total").increment(1);
        return Err(PageError::too_many_requests(retry_after));
    }
    let browser = BrowserBinding::from_request(&state.cookies, &http);
    let pending = match remember_or_answer(&state, valid, browser).await {
        Ok(pending) => pending,
        Err(answer) => return Ok(answer),
    };
    let mut response = advance(&state, &http, &pending).await?;
    if pending.browser.is_new {
        response
            .add_cookie(&state.cookies.browser_cookie(pending.browser.value.clone()))
            .map_err(PageError::internal)?;
    }
    Ok(response)
}

/// Stores the request; if that fails, the answer for the client. The client and redirect URI are
/// known good by now, so a failure goes back to the client, not to an error page.
async fn remember_or_answer(
    state: &AppState,
    valid: ValidRequest,
    browser: BrowserBinding,
) -> Result<Pending, HttpResponse> {
    let redirect_uri = valid.redirect.uri.clone();
    let client_state = valid.state.clone();
    let mode = valid.response_mode;
    match remember(state, valid, browser).await {
        Ok(pending) => Ok(pending),
        Err(error) if error.is_unavailable() => Err(unavailable(state, redirect_uri, client_state, mode)),
        Err(error) => {
            tracing::error!(
                error.cause = %format_args!("{error:#}"),
                "an authorization request could not be stored",
            );
            Err(redirect_error(
                state,
                ErrorRedirect {
                    mode,
                    redirect_uri,
                    error: ErrorCode::ServerError,
                    description: "the authorization request could not be processed".into(),
                    state: client_state,
                },
            ))
        }
    }
}

/// Takes the stored request as far as the browser's session allows: a login page, a consent page,
/// or the answer to the client.
async fn advance(state: &AppState, http: &HttpRequest, pending: &Pending) -> Result<HttpResponse, PageError> {
    let outcome = match session::current(state, http).await {
        Ok(session) => flow::advance(state, pending, session.as_ref()).await,
        Err(error) => Err(error),
    };
    match outcome {
        // The client and redirect URI are known good, so a database failure goes back to the client.
        Err(error) if error.status == StatusCode::SERVICE_UNAVAILABLE => Ok(unavailable(
            state,
            pending.request.redirect_uri.clone(),
            pending.request.state.clone(),
            pending.request.effective_response_mode(),
        )),
        outcome => outcome,
    }
}

/// Stores the validated request, bound to this browser.
async fn remember(
    state: &AppState,
    valid: ValidRequest,
    browser: BrowserBinding,
) -> Result<Pending, StoreError> {
    let now = time::now();
    let request = AuthorizationRequest {
        id: opaque_token::generate(TokenKind::AuthorizationRequest).value,
        browser_hash: browser.hash(),
        client_id: valid.client.id.clone(),
        redirect_uri: valid.redirect.uri,
        redirect_uri_explicit: valid.redirect.explicit,
        scope: valid.scope.to_string(),
        state: valid.state,
        code_challenge_method: valid.code_challenge.as_ref().map(CodeChallenge::method),
        code_challenge: valid.code_challenge,
        nonce: valid.nonce,
        created_at: now,
        expires_at: time::after_secs(now, state.settings.tokens.authorization_request_ttl_secs),
        response_type: valid.oidc.response_type,
        response_mode: valid.oidc.response_mode,
        prompt: valid.oidc.prompt,
        max_age: valid.oidc.max_age,
        login_hint: valid.oidc.login_hint,
        expected_subject: valid.oidc.expected_subject,
    };
    let stored = request.clone();
    run(&state.pool, move |conn| {
        db::authorization_requests::insert(conn, &stored).map_err(StoreError::from)
    })
    .await?;
    Ok(Pending {
        request,
        client: valid.client,
        browser,
    })
}

fn redirect_error(state: &AppState, redirect: ErrorRedirect) -> HttpResponse {
    if redirect.mode != ResponseMode::Query {
        let mut params = vec![
            ("error", redirect.error.as_str().to_owned()),
            ("error_description", redirect.description),
        ];
        params.extend(redirect.state.map(|state| ("state", state)));
        params.push(("iss", state.settings.issuer.clone()));
        return ClientAnswer {
            redirect_uri: redirect.redirect_uri,
            mode: redirect.mode,
            params,
        }
        .into_response();
    }
    let location = error_location(
        &redirect.redirect_uri,
        redirect.error,
        &redirect.description,
        redirect.state.as_deref(),
        &state.settings.issuer,
    );
    HttpResponse::Found()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .finish()
}

fn unavailable(
    state: &AppState,
    redirect_uri: RedirectUri,
    client_state: Option<String>,
    mode: ResponseMode,
) -> HttpResponse {
    redirect_error(
        state,
        ErrorRedirect {
            mode,
            redirect_uri,
            error: ErrorCode::TemporarilyUnavailable,
            description: "the authorization server is temporarily unavailable".into(),
            state: client_state,
        },
    )
}
