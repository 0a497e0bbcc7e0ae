//! Validation of an authorization request (`GET /oauth2/authorize`).
//!
//! Until the client and its redirect URI are known to be good, an error is shown to the user as a
//! page and never redirected (that would make us an open redirector, RFC 9700 §4.11). After that,
//! errors go back to the client's redirect URI with `error`, `state` and `iss` (RFC 9207).

use std::sync::Arc;

use super::answer::ResponseMode;
use super::oidc_request::{self, OidcParams, ResponseType};
use crate::domain::client::{Client, ResolvedRedirect};
use crate::domain::grant_type::GrantType;
use crate::domain::pkce::CodeChallenge;
use crate::domain::scope::ScopeSet;
use crate::error::PageError;
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
    pub redirect_uri: String,
    pub error: &'static str,
    pub description: String,
    pub state: Option<String>,
}

/// Validates the query of `/oauth2/authorize`.
pub async fn validate(state: &AppState, params: &Params) -> Result<ValidRequest, Invalid> {
    let page = |message: String| Invalid::Page(PageError::bad_request("Invalid request", message));
    let client_id = params.get("client_id").map_err(|error| page(error.to_string()))?;
    let client_id =
        client_id.ok_or_else(|| page("The request does not name a client (client_id).".into()))?;
    let client = match state.clients.get(client_id).await {
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
    let Some(redirect) = client.resolve_redirect_uri(requested_redirect) else {
        return Err(page(match requested_redirect {
            Some(_) => "The redirect_uri is not registered for this application.".into(),
            None => "The request must name a redirect_uri: this application has registered several.".into(),
        }));
    };

    let Ok(client_state) = params.get("state") else {
        return Err(ErrorTo::new(&redirect.uri, None, ResponseMode::Query)
            .invalid("invalid_request", "the parameter state is repeated"));
    };
    // The response type and mode decide how every later answer travels (a hybrid request's errors
    // go in the fragment too); errors in them go back in the query.
    let (response_type, response_mode) =
        oidc_request::response_type_and_mode(params, &client).map_err(|(error, description)| {
            ErrorTo::new(&redirect.uri, client_state, ResponseMode::Query).invalid(error, description)
        })?;
    let to_client = ErrorTo::new(&redirect.uri, client_state, response_mode.effective);
    let fail = |error: &'static str, description: String| to_client.invalid(error, description);
    let single = |name: &str| {
        params
            .get(name)
            .map_err(|error| fail("invalid_request", error.to_string()))
    };

    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(fail(
            "unauthorized_client",
            "this client may not use the authorization code flow".into(),
        ));
    }
    let code_challenge = match (single("code_challenge")?, single("code_challenge_method")?) {
        (Some(challenge), method) => Some(
            CodeChallenge::parse(challenge, method)
                .map_err(|error| fail("invalid_request", error.to_string()))?,
        ),
        (None, Some(_)) => {
            return Err(fail(
                "invalid_request",
                "code_challenge_method without code_challenge".into(),
            ));
        }
        (None, None) if client.is_public || state.settings.oauth.require_pkce_for_confidential_clients => {
            return Err(fail(
                "invalid_request",
                "code_challenge is required (PKCE with S256)".into(),
            ));
        }
        (None, None) => None,
    };
    let requested_scope = crate::grants::parse_scope_param(single("scope")?)
        .map_err(|error| fail("invalid_scope", error.description.to_string()))?;
    let scope = crate::grants::resolve_requested_scope(&state.pool, &client, requested_scope.as_ref())
        .await
        .map_err(|error| {
            let code = if error.code == crate::error::ErrorCode::InvalidScope {
                "invalid_scope"
            } else {
                "temporarily_unavailable"
            };
            fail(code, error.description.to_string())
        })?;
    let nonce = single("nonce")?.map(str::to_owned);
    let mut oidc = oidc_request::parse(params).map_err(|(error, description)| fail(error, description))?;
    if response_type == ResponseType::CodeIdToken {
        // OIDC Core §3.3.2.11: the front-channel id_token must be bound to the request.
        if nonce.is_none() {
            return Err(fail(
                "invalid_request",
                "nonce is required with response_type=code id_token".into(),
            ));
        }
        if !scope.contains("openid") {
            return Err(fail(
                "invalid_request",
                "response_type=code id_token needs the openid scope".into(),
            ));
        }
    }
    oidc.response_type = Some(response_type.as_str().to_owned());
    oidc.response_mode = response_mode.requested.map(|mode| mode.as_str().to_owned());
    if let Some(hint) = single("id_token_hint")? {
        oidc.expected_subject = Some(
            hinted_subject(state, &client, hint)
                .await
                .map_err(|(error, description)| fail(error, description))?,
        );
    }

    let state = client_state.map(str::to_owned);
    Ok(ValidRequest {
        client: client.clone(),
        redirect,
        state,
        scope,
        code_challenge,
        nonce,
        oidc,
        response_mode: response_mode.effective,
    })
}

/// The `sub` of an `id_token_hint`: an id_token we issued to this client (expired ones too, OIDC
/// Core §3.1.2.1: the hint says who, not that they are still signed in).
async fn hinted_subject(
    state: &AppState,
    client: &Client,
    hint: &str,
) -> Result<String, oidc_request::Refusal> {
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
            "temporarily_unavailable",
            "the id_token_hint could not be checked".to_owned(),
        )
    })?;
    match verified {
        Some(claims) if claims.aud == client.id => Ok(claims.sub),
        _ => Err((
            "invalid_request",
            "id_token_hint is not an id_token this server issued to this client".to_owned(),
        )),
    }
}

/// Builds the error redirects of one request.
struct ErrorTo<'a> {
    redirect_uri: &'a str,
    state: Option<&'a str>,
    mode: ResponseMode,
}

impl<'a> ErrorTo<'a> {
    fn new(redirect_uri: &'a str, state: Option<&'a str>, mode: ResponseMode) -> Self {
        ErrorTo {
            redirect_uri,
            state,
            mode,
        }
    }

    fn invalid(&self, error: &'static str, description: impl Into<String>) -> Invalid {
        Invalid::Redirect(ErrorRedirect {
            redirect_uri: self.redirect_uri.to_owned(),
            error,
            description: description.into(),
            state: self.state.map(str::to_owned),
            mode: self.mode,
        })
    }
}
