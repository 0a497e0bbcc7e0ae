//! A token request, parsed once from its form into the grant it asks for and that grant's
//! parameters (RFC 6749 §4.1.3, §4.3.2, §4.4.2, §6), then run by that grant's module.

use std::sync::Arc;

use secrecy::SecretString;
use shared::db::run;

use super::authorization_code::{self, CodeExchange};
use super::password::{self, PasswordRequest};
use super::{TokenResponse, client_credentials, parse_scope_param, refresh_token};
use crate::domain::client::Client;
use crate::domain::grant_type::{GrantType, UnsupportedGrantType};
use crate::domain::scope::ScopeSet;
use crate::error::OAuthError;
use crate::params::{ParamError, Params};
use crate::state::AppState;

/// What a token request asks for.
pub enum TokenRequest {
    AuthorizationCode(CodeExchange),
    ClientCredentials {
        scope: Option<ScopeSet>,
    },
    /// The legacy resource owner password grant (clients registered for it only).
    Password {
        username: String,
        password: SecretString,
        scope: Option<ScopeSet>,
    },
    RefreshToken {
        presented: String,
        scope: Option<ScopeSet>,
    },
}

/// The `grant_type` of a token request: required, once, and one we know.
pub fn grant_type_of(params: &Params) -> Result<GrantType, OAuthError> {
    params
        .get("grant_type")
        .map_err(repeated)?
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?
        .parse()
        .map_err(|error: UnsupportedGrantType| OAuthError::unsupported_grant_type(error.to_string()))
}

impl TokenRequest {
    /// The parameters of `grant_type`, each at most once (RFC 6749 §3.2).
    pub fn from_params(grant_type: GrantType, params: &Params) -> Result<TokenRequest, OAuthError> {
        let scope = || parse_scope_param(params.get("scope").map_err(repeated)?);
        Ok(match grant_type {
            GrantType::AuthorizationCode => TokenRequest::AuthorizationCode(CodeExchange {
                code: required(params, "code")?,
                redirect_uri: optional(params, "redirect_uri")?,
                code_verifier: optional(params, "code_verifier")?,
            }),
            GrantType::ClientCredentials => TokenRequest::ClientCredentials { scope: scope()? },
            GrantType::Password => TokenRequest::Password {
                username: required(params, "username")?,
                password: SecretString::from(required(params, "password")?),
                scope: scope()?,
            },
            GrantType::RefreshToken => TokenRequest::RefreshToken {
                presented: required(params, "refresh_token")?,
                scope: scope()?,
            },
        })
    }

    /// Runs the grant for `client`, which has authenticated and may use it; `address` is the
    /// caller's (the password grant's throttles count by it).
    pub async fn issue(
        self,
        state: &AppState,
        client: Arc<Client>,
        address: String,
    ) -> Result<TokenResponse, OAuthError> {
        let lifetimes = state.settings.tokens.clone();
        match self {
            TokenRequest::AuthorizationCode(exchange) => {
                let id_tokens = state.id_tokens.clone();
                run(&state.pool, move |conn| {
                    authorization_code::exchange(conn, &client, &exchange, &lifetimes, &id_tokens)
                })
                .await
            }
            TokenRequest::ClientCredentials { scope } => {
                client_credentials::issue(state, client, scope).await
            }
            TokenRequest::Password {
                username,
                password,
                scope,
            } => {
                let request = PasswordRequest {
                    username,
                    password,
                    scope,
                    address,
                };
                password::issue(state, &client, request).await
            }
            TokenRequest::RefreshToken { presented, scope } => {
                let outbox = state.outbox.clone();
                run(&state.pool, move |conn| {
                    refresh_token::rotate(
                        conn,
                        &client,
                        &presented,
                        scope.as_ref(),
                        &lifetimes,
                        outbox.as_ref(),
                    )
                })
                .await
            }
        }
    }
}

fn repeated(error: ParamError) -> OAuthError {
    OAuthError::invalid_request(error.to_string())
}

fn required(params: &Params, name: &'static str) -> Result<String, OAuthError> {
    optional(params, name)?.ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))
}

fn optional(params: &Params, name: &str) -> Result<Option<String>, OAuthError> {
    Ok(params.get(name).map_err(repeated)?.map(str::to_owned))
}
