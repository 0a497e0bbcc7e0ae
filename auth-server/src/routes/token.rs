//! `POST /oauth2/token`: authenticate the client, check it may use the grant it asks for, then run
//! the grant (`grants::request`).

use actix_web::{HttpRequest, HttpResponse, web};

use crate::client_address;
use crate::client_auth::{self, Presented};
use crate::domain::client::Client;
use crate::domain::grant_type::GrantType;
use crate::error::{OAuthError, no_store};
use crate::form_body;
use crate::grants::request::{TokenRequest, grant_type_of};
use crate::params::Params;
use crate::state::AppState;

pub async fn post_token(
    http: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let params = form_body::read(&http, body).await?;
    refuse_credentials_in_query(&http)?;
    let grant_type = grant_type_of(&params)?;
    let address = client_address::of(&http, state.settings.throttle.trusted_proxies);
    let client =
        client_auth::authenticate(&state, Presented::from_request(&http, &params)?, &address).await?;
    tracing::Span::current().record("client.id", client.id.as_str());
    may_use(&client, grant_type)?;
    let request = TokenRequest::from_params(grant_type, &params)?;
    let response = request.issue(&state, client, address).await?;
    metrics::counter!("oauth_tokens_issued_total", "grant_type" => grant_type.as_str()).increment(1);
    let mut ok = HttpResponse::Ok();
    no_store(&mut ok);
    Ok(ok.json(response))
}

/// A client uses only the grants it was registered for; the legacy password grant does not even
/// exist for the others.
fn may_use(client: &Client, grant_type: GrantType) -> Result<(), OAuthError> {
    if client.allows_grant(grant_type) {
        Ok(())
    } else if grant_type == GrantType::Password {
        Err(OAuthError::unsupported_grant_type(
            "the password grant is not supported for this client",
        ))
    } else {
        Err(OAuthError::unauthorized_client(format!(
            "this client may not use the {grant_type} grant"
        )))
    }
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
