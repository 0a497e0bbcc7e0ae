//! RP-initiated logout: `GET|POST /oauth2/logout` (the `end_session_endpoint`) and `POST /logout`,
//! the confirmation the user gives when the request did not prove which relying party sent it.
//!
//! The browser returns to `post_logout_redirect_uri` only with a valid `id_token_hint` and only to
//! a URI registered for the hint's client, compared by exact string equality. A hint whose
//! signature does not verify is refused outright; a missing hint (or one naming another user than
//! the signed-in one, or issued in another of their sessions) gets a confirmation page, so that no
//! other site can sign a user out.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use shared::db::run;

use crate::authorization::session::{self, ActiveSession};
use crate::domain::ids::ClientId;
use crate::domain::redirect_uri::{self, with_query};
use crate::error::{PageError, StoreError};
use crate::form_body;
use crate::oidc::id_token::{self, HintError, IdTokenClaims};
use crate::oidc::logout;
use crate::pages::{LoggedOutPage, LogoutPage, render, secure_html, see_other};
use crate::params::Params;
use crate::state::AppState;

/// What the CSRF token of the confirmation form is bound to, besides the session cookie.
const LOGOUT_FORM: &str = "logout";

pub async fn get_end_session(
    http: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let params = Params::parse(http.query_string().as_bytes());
    end_session(&http, &state, &params).await
}

pub async fn post_end_session(
    http: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let params = form_body::read(&http, body).await?;
    end_session(&http, &state, &params).await
}

/// `POST /logout`: the user confirmed on our own page.
pub async fn post_logout_confirmation(
    http: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let form = form_body::read(&http, body).await?;
    let submitted = form.get("csrf_token").ok().flatten().unwrap_or_default();
    let Some(cookie) = state.cookies.session(&http) else {
        return Ok(logged_out(&state, None));
    };
    if !state.cookies.csrf_token_is_valid(submitted, &cookie, LOGOUT_FORM) {
        return Err(PageError::forbidden(
            "The form was not submitted from this sign-out page. Go back and try again.",
        ));
    }
    if let Some(session) = session::current(&state, &http).await? {
        end(&state, &session).await?;
    }
    Ok(logged_out(&state, None))
}

async fn end_session(
    http: &HttpRequest,
    state: &AppState,
    params: &Params,
) -> Result<HttpResponse, PageError> {
    let refuse = |message: &str| PageError::bad_request("Sign-out refused", message.to_owned());
    let field = |name: &str| {
        params
            .get(name)
            .map(|value| value.map(str::to_owned))
            .map_err(|error| refuse(&error.to_string()))
    };
    let (hint, return_uri) = (field("id_token_hint")?, field("post_logout_redirect_uri")?);
    let (client_state, client_id) = (field("state")?, field("client_id")?.map(ClientId::from));
    let verified = match hint {
        Some(hint) => Some(
            verify(state, hint)
                .await?
                .ok_or_else(|| refuse("The id_token_hint is not an id_token issued by this server."))?,
        ),
        None => None,
    };
    if let (Some(claims), Some(client_id)) = (&verified, &client_id)
        && claims.aud != *client_id
    {
        return Err(refuse(
            "The client_id is not the one the id_token_hint was issued to.",
        ));
    }
    let return_to = match return_uri {
        None => None,
        Some(uri) => {
            let claims = verified
                .as_ref()
                .ok_or_else(|| refuse("A post_logout_redirect_uri needs an id_token_hint."))?;
            let client = state.clients.get(&claims.aud).await?;
            let registered = client.as_ref().and_then(|client| {
                redirect_uri::find_exact(&client.post_logout_redirect_uris, &uri).cloned()
            });
            let Some(registered) = registered else {
                return Err(refuse(
                    "The post_logout_redirect_uri is not registered for this application.",
                ));
            };
            Some(registered)
        }
    };
    let session = session::current(state, http).await?;
    let proven = verified
        .as_ref()
        .is_some_and(|claims| session.as_ref().is_none_or(|session| hint_names(claims, session)));
    match (&session, proven) {
        (Some(session), false) => return Ok(confirmation(state, http, session)),
        (Some(session), true) => end(state, session).await?,
        (None, _) => {}
    }
    let destination = return_to.map(|uri| {
        let params: Vec<(&str, &str)> = client_state
            .iter()
            .map(|value| ("state", value.as_str()))
            .collect();
        if params.is_empty() {
            uri.into_string()
        } else {
            with_query(&uri, &params)
        }
    });
    Ok(logged_out(state, destination))
}

/// Whether the hint was issued in this very session: its user and its `sid`. A hint from an
/// earlier session of the same user (a stale tab, a replayed hint) proves nothing about this one,
/// so the user is asked (RP-Initiated Logout §2, the stricter reading).
fn hint_names(claims: &IdTokenClaims, session: &ActiveSession) -> bool {
    session.user.id == claims.sub
        && claims.sid.as_deref() == Some(id_token::session_id(session.id_hash.as_str()).as_str())
}

/// The claims of a hint whose signature verifies (expired ones included), `None` otherwise.
async fn verify(state: &AppState, hint: String) -> Result<Option<IdTokenClaims>, PageError> {
    let issuer = state.settings.issuer.clone();
    Ok(run(&state.pool, move |conn| {
        match id_token::verify_hint(conn, &issuer, &hint) {
            Ok(claims) => Ok(Some(claims)),
            Err(HintError::Invalid) => Ok(None),
            Err(HintError::Store(error)) => Err(StoreError::from(error)),
        }
    })
    .await?)
}

async fn end(state: &AppState, session: &ActiveSession) -> Result<(), PageError> {
    let (hash, revoke) = (session.id_hash.clone(), state.settings.oidc.logout_revokes_tokens);
    let revoked = run(&state.pool, move |conn| {
        logout::end_session(conn, &hash, revoke).map_err(StoreError::from)
    })
    .await?;
    tracing::info!(user.id = %session.user.id, grants.revoked = revoked, "signed out");
    Ok(())
}

fn confirmation(state: &AppState, http: &HttpRequest, session: &ActiveSession) -> HttpResponse {
    let cookie = state.cookies.session(http).unwrap_or_default();
    let csrf = state.cookies.csrf_token(&cookie, LOGOUT_FORM);
    let page = LogoutPage {
        username: Some(&session.user.username),
        csrf_token: &csrf,
    };
    render(secure_html(StatusCode::OK), &page)
}

/// Clears the session cookie, then returns to the client or shows the signed-out page.
fn logged_out(state: &AppState, destination: Option<String>) -> HttpResponse {
    let mut response = match destination {
        Some(location) => see_other(&location),
        None => render(secure_html(StatusCode::OK), &LoggedOutPage),
    };
    let removal = state.cookies.session_cookie(String::new(), 0);
    if let Err(error) = response.add_cookie(&removal) {
        tracing::warn!(%error, "the session cookie could not be cleared");
    }
    response
}
