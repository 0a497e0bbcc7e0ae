//! `POST /oauth2/revoke` (RFC 7009). The policy is described in `revocation.rs`.

use actix_web::{HttpRequest, HttpResponse, web};
use shared::db::run;

use crate::client_address;
use crate::client_auth::{self, Presented};
use crate::error::{OAuthError, StoreError, no_store};
use crate::form_body;
use crate::revocation::{self, Revocation};
use crate::state::AppState;

pub async fn post_revoke(
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
    // token_type_hint is optional and never needed: the token's prefix says what it is.
    let token = params
        .get("token")
        .map_err(|error| OAuthError::invalid_request(error.to_string()))?
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?
        .to_owned();
    let outcome = run(&state.pool, move |conn| {
        revocation::revoke(conn, &client, &token).map_err(StoreError::from)
    })
    .await?;
    if outcome == Revocation::NotIssuedToCaller {
        return Err(OAuthError::invalid_grant(
            "the token was not issued to this client",
        ));
    }
    let mut ok = HttpResponse::Ok();
    no_store(&mut ok);
    Ok(ok.finish())
}
