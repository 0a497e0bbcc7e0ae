//! `POST /oauth2/token`: authenticate the client, then run the grant it asks for.

use actix_web::{HttpRequest, HttpResponse, web};
use shared::db::run;

use crate::client_address;
use crate::client_auth::{self, Presented};
use crate::domain::grant_type::GrantType;
use crate::error::{OAuthError, no_store};
use crate::form_body;
use crate::grants::authorization_code::{self, CodeExchange};
use crate::grants::{client_credentials, parse_scope_param, refresh_token};
use crate::params::{ParamError, Params};
use crate::state::AppState;

pub async fn post_token(
    http: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let params = form_body::read(&http, body).await?;
    refuse_credentials_in_query(&http)?;
    let grant_type = params
        .get("grant_type")
        .map_err(repeated)?
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    let grant_type: GrantType =
        grant_type
            .parse()
            .map_err(|error: crate::domain::grant_type::UnsupportedGrantType| {
                OAuthError::unsupported_grant_type(error.to_string())
            })?;

    let client = client_auth::authenticate(
        &state,
        Presented::from_request(&http, &params)?,
        &client_address::of(&http, state.settings.throttle.trusted_proxies),
    )
    .await?;
    tracing::Span::current().record("client.id", client.id.as_str());
    if grant_type == GrantType::Password && !client.allows_grant(grant_type) {
        // The legacy grant does not exist for clients that were not registered for it.
        return Err(OAuthError::unsupported_grant_type(
            "the password grant is not supported for this client",
        ));
    }
    if !client.allows_grant(grant_type) {
        return Err(OAuthError::unauthorized_client(format!(
            "this client may not use the {grant_type} grant"
        )));
    }

    let lifetimes = state.settings.tokens.clone();
    let response = match grant_type {
        GrantType::AuthorizationCode => {
            let exchange = CodeExchange {
                code: required(&params, "code")?,
                redirect_uri: optional(&params, "redirect_uri")?,
                code_verifier: optional(&params, "code_verifier")?,
            };
            let id_tokens = crate::oidc::IdTokenIssuer::new(&state);
            run(&state.pool, move |conn| {
                authorization_code::exchange(conn, &client, &exchange, &lifetimes, &id_tokens)
            })
            .await?
        }
        GrantType::ClientCredentials => {
            let scope = parse_scope_param(params.get("scope").map_err(repeated)?)?;
            client_credentials::issue(&state, client, scope).await?
        }
        GrantType::Password => {
            let request = crate::grants::password::PasswordRequest {
                username: required(&params, "username")?,
                password: secrecy::SecretString::from(required(&params, "password")?),
                scope: parse_scope_param(params.get("scope").map_err(repeated)?)?,
                address: client_address::of(&http, state.settings.throttle.trusted_proxies),
            };
            crate::grants::password::issue(&state, &client, request).await?
        }
        GrantType::RefreshToken => {
            let presented = required(&params, "refresh_token")?;
            let scope = parse_scope_param(params.get("scope").map_err(repeated)?)?;
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
            .await?
        }
    };
    metrics::counter!("oauth_tokens_issued_total", "grant_type" => grant_type.as_str()).increment(1);
    let mut ok = HttpResponse::Ok();
    no_store(&mut ok);
    Ok(ok.json(response))
}

/// Credentials never belong in a URL, where logs and proxies keep them (OAuth 2.1 §2.4.1).
fn refuse_credentials_in_query(http: &HttpRequest) -> Result<(), OAuthError> {
    let query = Params::parse(http.query_string().as_bytes());
    if [
        "client_secret",
        "code",
        "refresh_token",
        "code_verifier",
        "password",
    ]
    .iter()
    .any(|name| query.contains(name))
    {
        return Err(OAuthError::invalid_request(
            "credentials must be sent in the request body, not the URL",
        ));
    }
    Ok(())
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
