//! `GET /.well-known/oauth-authorization-server` (RFC 8414) and `GET
//! /.well-known/openid-configuration` (OIDC Discovery): one document, exactly what this server
//! supports, served under both names so the two can never disagree.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde_json::json;
use shared::db::run;

use crate::db;
use crate::error::StoreError;
use crate::state::AppState;

pub async fn get_metadata(state: web::Data<AppState>) -> HttpResponse {
    let settings = &state.settings;
    let mut metadata = json!({
        "issuer": settings.issuer,
        "authorization_endpoint": settings.endpoint("/oauth2/authorize"),
        "token_endpoint": settings.endpoint("/oauth2/token"),
        "introspection_endpoint": settings.endpoint("/oauth2/introspect"),
        "revocation_endpoint": settings.endpoint("/oauth2/revoke"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
    });
    crate::oidc::discovery::extend(&mut metadata, settings);
    // The catalogue is listed when the database answers; the rest of the document never needs it.
    let scopes = run(&state.pool, |conn| {
        db::scopes::list(conn).map_err(StoreError::from)
    })
    .await;
    if let Ok(scopes) = scopes {
        metadata["scopes_supported"] = scopes.into_iter().map(|scope| scope.name).collect();
    }
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .json(metadata)
}
