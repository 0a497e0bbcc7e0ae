//! Validation of an authorization request (`GET /oauth2/authorize`).
//!
//! Until the client and its redirect URI are known to be good, an error is shown to the user as a
//! page and never redirected (that would make us an open redirector, RFC 9700 §4.11). After that,
//! errors go back to the client's redirect URI with `error`, `state` and `iss` (RFC 9207).

use std::sync::Arc;

use super::answer::ResponseMode;
use super::oidc_request::{self, OidcParams, Refusal, ResponseType};
use crate::configuration::OAuthSettings;
use crate::domain::client::{Client, ResolvedRedirect};
use crate::domain::grant_type::GrantType;
use crate::domain::ids::{ClientId, UserId};
use crate::domain::pkce::CodeChallenge;
use crate::domain::redirect_uri::RedirectUri;
use crate::domain::scope::ScopeSet;
use crate::error::{ErrorCode, PageError};
use crate::params::Params;
use crate::state::AppState;

/// A request that passed validation.
pub struct ValidRequest {
    pub client: Arc<Client>,
    pub redirect: ResolvedRedirect,
    pub state: Option<String>,
    /// What was asked, limited to what the client may ask for (the user's limits apply later).
    pub scope: ScopeSet,
    pub code_challenge: Option<CodeChallenge>,
    pub nonce: Option<String>,
    pub oidc: OidcParams,
    /// How answers to this request travel.
    pub response_mode: ResponseMode,
}

/// An invalid request, and where its error goes.
pub enum Invalid {
    /// Shown to the user (unknown client, bad redirect URI).
    Page(PageError),
    /// Sent to the client's redirect URI.
    Redirect(ErrorRedirect),
}

/// An error answer for the client's redirect URI.
pub struct ErrorRedirect {
    /// How the answer travels (the query unless the request asked otherwise).
    pub mode: ResponseMode,
    pub redirect_uri: RedirectUri,
    pub error: ErrorCode,
    pub description: String,
    pub state: Option<String>,
}

/// Validates the query of `/oauth2/authorize`, step by step: the client and its redirect URI (their
/// errors are pages), then the channel every later error goes back through, then the flow, PKCE,
/// scope and the OpenID Connect parameters.
pub async fn validate(state: &AppState, params: &Params) -> Result<ValidRequest, Invalid> {
    let (client, redirect) = client_and_redirect(state, params).await?;
    let Ok(client_state) = params.get("state") else {
        return Err(ErrorTo::new(&redirect.uri, None, ResponseMode::Query)
            .invalid(ErrorCode::InvalidRequest, "the parameter state is repeated"));
    };
    if client_state.is_some_and(|value| value.len() > MAX_STATE_BYTES) {
        return Err(ErrorTo::new(&redirect.uri, None, ResponseMode::Query).invalid(
            ErrorCode::InvalidRequest,
            format!("state is longer than {MAX_STATE_BYTES} bytes"),
        ));
    }
    // The response type and mode decide how every later answer travels (a hybrid request's errors
    // go in the fragment too); errors in them go back in the query.
    let (response_type, response_mode) =
        oidc_request::response_type_and_mode(params, &client).map_err(|(error, description)| {
            ErrorTo::new(&redirect.uri, client_state, ResponseMode::Query).invalid(error, description)
        })?;
    let to_client = ErrorTo::new(&redirect.uri, client_state, response_mode.effective);
    let fail = |(error, description): Refusal| to_client.invalid(error, description);

    may_use_the_code_flow(&client).map_err(fail)?;
    let code_challenge = pkce(params, &client, &state.settings.oauth).map_err(fail)?;
    let scope = requested_scope(state, params, &client).await.map_err(fail)?;
    let nonce = bounded(params, "nonce", MAX_NONCE_BYTES)
        .map_err(fail)?
        .map(str::to_owned);
    let mut oidc = oidc_request::parse(params).map_err(fail)?;
    bound_if_hybrid(response_type, nonce.as_deref(), &scope).map_err(fail)?;
    oidc.response_type = response_type;
    oidc.response_mode = response_mode.requested;
    if let Some(hint) = single(params, "id_token_hint").map_err(fail)? {
        oidc.expected_subject = Some(hinted_subject(state, &client, hint).await.map_err(fail)?);
    }
    Ok(ValidRequest {
        client: client.clone(),
        redirect,
        state: client_state.map(str::to_owned),
        scope,
        code_challenge,
        nonce,
        oidc,
        response_mode: response_mode.effective,
    })
}

/// The client and the redirect URI its answers go to. Until both are known to be good, an error is
/// a page: redirecting it would make us an open redirector.
async fn client_and_redirect(
    state: &AppState,
    params: &Params,
) -> Result<(Arc<Client>, ResolvedRedirect), Invalid> {
    let page = |message: String| Invalid::Page(PageError::bad_request("Invalid request", message));
    let client_id = params.get("client_id").map_err(|error| page(error.to_string()))?;
    let client_id =
        client_id.ok_or_else(|| page("The request does not name a client (client_id).".into()))?;
    let client = match state.clients.get(&ClientId::from(client_id)).await {
        Ok(Some(client)) => client,
        Ok(None) => {
            return Err(page(
                "The application that sent you here is not registered.".into(),
            ));
        }
        Err(error) => return Err(Invalid::Page(PageError::from(error))),
    };
    let requested_redirect = params
        .get("redirect_uri")
        .map_err(|error| page(error.to_string()))?;
    match client.resolve_redirect_uri(requested_redirect) {
        Some(redirect) => Ok((client, redirect)),
        None => Err(page(match requested_redirect {
            Some(_) => "The redirect_uri is not registered for this application.".into(),
            None => "The request must name a redirect_uri: this application has registered several.".into(),
        })),
    }
}

/// The longest `state` and `nonce` a client may send. Both are stored with the pending request until
/// the user answers, so an unauthenticated request must not store more than this (the other stored
/// parameters are bounded already: registered values, parsed enums, a 256-character `login_hint`).
/// Generous: some clients pack signed data into `state`.
const MAX_STATE_BYTES: usize = 2048;
const MAX_NONCE_BYTES: usize = 512;

/// A parameter given at most once, of at most `max` bytes.
fn bounded<'p>(params: &'p Params, name: &str, max: usize) -> Result<Option<&'p str>, Refusal> {
    match single(params, name)? {
        Some(value) if value.len() > max => Err((
            ErrorCode::InvalidRequest,
            format!("{name} is longer than {max} bytes"),
        )),
        value => Ok(value),
    }
}

/// A parameter given at most once.
fn single<'p>(params: &'p Params, name: &str) -> Result<Option<&'p str>, Refusal> {
    params
        .get(name)
        .map_err(|error| (ErrorCode::InvalidRequest, error.to_string()))
}

fn may_use_the_code_flow(client: &Client) -> Result<(), Refusal> {
    if client.allows_grant(GrantType::AuthorizationCode) {
        Ok(())
    } else {
        Err((
            ErrorCode::UnauthorizedClient,
            "this client may not use the authorization code flow".into(),
        ))
    }
}

/// The PKCE challenge (RFC 7636): S256 only; required of public clients, and of confidential ones
/// unless `oauth.require_pkce_for_confidential_clients` is off.
fn pkce(params: &Params, client: &Client, oauth: &OAuthSettings) -> Result<Option<CodeChallenge>, Refusal> {
    let invalid = |description: String| (ErrorCode::InvalidRequest, description);
    match (
        single(params, "code_challenge")?,
        single(params, "code_challenge_method")?,
    ) {
        (Some(challenge), method) => CodeChallenge::parse(challenge, method)
            .map(Some)
            .map_err(|error| invalid(error.to_string())),
        (None, Some(_)) => Err(invalid("code_challenge_method without code_challenge".into())),
        (None, None) if client.is_public || oauth.require_pkce_for_confidential_clients => {
            Err(invalid("code_challenge is required (PKCE with S256)".into()))
        }
        (None, None) => Ok(None),
    }
}

/// What was asked of the scope, limited to what the client may ask for (the user's limits apply
/// later).
async fn requested_scope(state: &AppState, params: &Params, client: &Client) -> Result<ScopeSet, Refusal> {
    let requested = crate::grants::parse_scope_param(single(params, "scope")?)
        .map_err(|error| (ErrorCode::InvalidScope, error.description.to_string()))?;
    crate::grants::resolve_requested_scope(&state.pool, client, requested.as_ref())
        .await
        .map_err(|error| {
            let code = if error.code == ErrorCode::InvalidScope {
                ErrorCode::InvalidScope
            } else {
                ErrorCode::TemporarilyUnavailable
            };
            (code, error.description.to_string())
        })
}

/// OIDC Core §3.3.2.11: a front-channel id_token (the hybrid flow) must be bound to the request.
fn bound_if_hybrid(
    response_type: ResponseType,
    nonce: Option<&str>,
    scope: &ScopeSet,
) -> Result<(), Refusal> {
    if response_type != ResponseType::CodeIdToken {
        return Ok(());
    }
    if nonce.is_none() {
        return Err((
            ErrorCode::InvalidRequest,
            "nonce is required with response_type=code id_token".into(),
        ));
    }
    if !scope.contains("openid") {
        return Err((
            ErrorCode::InvalidRequest,
            "response_type=code id_token needs the openid scope".into(),
        ));
    }
    Ok(())
}

/// The `sub` of an `id_token_hint`: an id_token we issued to this client (expired ones too, OIDC
/// Core §3.1.2.1: the hint says who, not that they are still signed in).
async fn hinted_subject(
    state: &AppState,
    client: &Client,
    hint: &str,
) -> Result<UserId, oidc_request::Refusal> {
    let (issuer, hint) = (state.settings.issuer.clone(), hint.to_owned());
    let verified = shared::db::run(&state.pool, move |conn| match crate::oidc::id_token::verify_hint(
        conn, &issuer, &hint,
    ) {
        Ok(claims) => Ok(Some(claims)),
        Err(crate::oidc::id_token::HintError::Invalid) => Ok(None),
        Err(crate::oidc::id_token::HintError::Store(error)) => Err(crate::error::StoreError::from(error)),
    })
    .await
    .map_err(|_| {
        (
            ErrorCode::TemporarilyUnavailable,
            "the id_token_hint could not be checked".to_owned(),
        )
    })?;
    match verified {
        Some(claims) if claims.aud == client.id => Ok(claims.sub),
        _ => Err((
            ErrorCode::InvalidRequest,
            "id_token_hint is not an id_token this server issued to this client".to_owned(),
        )),
    }
}

/// Builds the error redirects of one request.
struct ErrorTo<'a> {
    redirect_uri: &'a RedirectUri,
    state: Option<&'a str>,
    mode: ResponseMode,
}

impl<'a> ErrorTo<'a> {
    fn new(redirect_uri: &'a RedirectUri, state: Option<&'a str>, mode: ResponseMode) -> Self {
        ErrorTo {
            redirect_uri,
            state,
            mode,
        }
    }

    fn invalid(&self, error: ErrorCode, description: impl Into<String>) -> Invalid {
        Invalid::Redirect(ErrorRedirect {
            redirect_uri: self.redirect_uri.clone(),
            error,
            description: description.into(),
            state: self.state.map(str::to_owned),
            mode: self.mode,
        })
    }
}
