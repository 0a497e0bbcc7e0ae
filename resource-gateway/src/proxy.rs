//! The gateway's handlers: the JWKS of its identity tokens, and `proxy_request`, which takes every
//! request that is not the gateway's own (health, metrics, JWKS): it is matched to a route,
//! authenticated, authorised, rate-limited and forwarded. A request refused at any step never
//! reaches the upstream.

use std::sync::Arc;

use actix_web::http::header::HOST;
use actix_web::{HttpRequest, HttpResponse, web};
use anyhow::Context;
use shared::bearer::{self, Bearer};

use crate::caller::Caller;
use crate::error::GatewayError;
use crate::introspection::Unavailable;
use crate::route_table::{self, Match, Route};
use crate::state::GatewayState;
use crate::token_cache::{Checked, TokenKey};
use crate::upstream::{ForwardedIdentity, UpstreamClient};

/// `GET /.well-known/jwks.json`: the public key upstreams verify identity tokens with.
pub async fn get_jwks(state: web::Data<GatewayState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(state.signer.jwks())
}

/// Every other request: route, authenticate, authorise, rate-limit, forward.
pub async fn proxy_request(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<GatewayState>,
    http: web::Data<UpstreamClient>,
) -> Result<HttpResponse, GatewayError> {
    if route_table::is_ambiguous_path(request.path()) {
        return Err(GatewayError::AmbiguousPath);
    }
    let table = state.routes.current();
    let host = request.headers().get(HOST).and_then(|host| host.to_str().ok());
    let route = match table.find(host, request.path(), request.method()) {
        Match::Found(route) => route,
        Match::MethodNotAllowed(allowed) => return Err(GatewayError::MethodNotAllowed(allowed)),
        Match::NotFound => return Err(GatewayError::NoRoute),
    };
    if route.public {
        return state
            .forwarder
            .forward(&http, &request, payload, route, None)
            .await;
    }
    let (caller, token_key) = authenticate(&state, &request, route).await?;
    let identity_token = admit(&state, route, &caller, &token_key)?;
    let identity = ForwardedIdentity {
        caller: &caller,
        identity_token: &identity_token,
    };
    state
        .forwarder
        .forward(&http, &request, payload, route, Some(identity))
        .await
}

/// Counts the request against the route's rate limit for this client, then signs the identity
/// token the upstream will trust.
fn admit(
    state: &GatewayState,
    route: &Route,
    caller: &Caller,
    token_key: &TokenKey,
) -> Result<Arc<str>, GatewayError> {
    if let Some(limit) = route.rate_limit {
        state
            .rate_limits
            .check(&route.name, limit, &caller.client_id)
            .map_err(GatewayError::RateLimited)?;
    }
    state
        .signer
        .sign(caller, token_key)
        .context("cannot sign the identity token")
        .map_err(GatewayError::Internal)
}

/// The caller behind the bearer token, with the scopes this route and method need.
async fn authenticate(
    state: &GatewayState,
    request: &HttpRequest,
    route: &Route,
) -> Result<(Arc<Caller>, TokenKey), GatewayError> {
    let token = match bearer::from_request(request) {
        Bearer::Token(token) => token,
        Bearer::Missing => return Err(GatewayError::MissingToken),
        Bearer::Malformed => return Err(GatewayError::MalformedToken),
    };
    let (caller, token_key) = match state.verifier.verify(token).await {
        Ok(Checked::Active { caller, token_key }) => (caller, token_key),
        Ok(Checked::Inactive) => return Err(GatewayError::InvalidToken),
        // Fail closed: without an answer from the auth-server the request is refused with 503,
        // never let through and never 401 (which would make clients discard a good token).
        Err(Unavailable::BreakerOpen { retry_after }) => {
            return Err(GatewayError::AuthUnavailable(retry_after));
        }
        Err(_) => return Err(GatewayError::AuthUnavailable(std::time::Duration::from_secs(1))),
    };
    let required = route.required_scopes(request.method());
    if !required.is_met_by(&caller.scopes) {
        return Err(GatewayError::InsufficientScope(required.describe()));
    }
    Ok((caller, token_key))
}
