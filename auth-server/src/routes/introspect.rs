//! `POST /oauth2/introspect` (RFC 7662), for resource servers and the gateway.

use actix_web::{HttpRequest, HttpResponse, web};
use shared::db::run;

use crate::client_address;
use crate::client_auth::{self, Presented};
use crate::error::{OAuthError, StoreError, no_store};
use crate::form_body;
use crate::introspection;
use crate::state::AppState;

pub async fn post_introspect(
    http: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let params = form_body::read(&http, body).await?;
    let client = client_auth::authenticate(
        &state,
        Presented::from_request(&http, &params)?,
        &client_address::of(&http, state.settings.throttle.trusted_proxies),
    )
    .await?;
    tracing::Span::current().record("client.id", client.id.as_str());
    // Only clients registered as resource servers may introspect: otherwise any client could scan
    // for valid tokens (RFC 7662 §4).
    if !client.can_introspect {
        return Err(OAuthError::invalid_client(&state.settings.issuer));
    }
    let token = params
        .get("token")
        .map_err(|error| OAuthError::invalid_request(error.to_string()))?
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?
        .to_owned();
    let issuer = state.settings.issuer.clone();
    let answer = run(&state.pool, move |conn| {
        introspection::introspect(conn, &token, &issuer).map_err(StoreError::from)
    })
    .await?;
    let mut ok = HttpResponse::Ok();
    no_store(&mut ok);
    Ok(ok.json(answer))
}
