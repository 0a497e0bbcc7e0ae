//! `GET /oauth2/jwks`: the public keys id_tokens are verified with, the retired ones included until
//! the tokens they signed have expired.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use shared::db::run;

use crate::domain::time;
use crate::error::OAuthError;
use crate::oidc::keys;
use crate::state::AppState;

/// How long a JWKS may be cached. A new key signs at once, so relying parties that cache longer
/// refetch on an unknown `kid` (as OIDC Core §10.1.1 expects).
const MAX_AGE_SECS: u32 = 300;

pub async fn get_jwks(state: web::Data<AppState>) -> Result<HttpResponse, OAuthError> {
    let kek = state.key_encryption.clone();
    let published = run(&state.pool, move |conn| {
        let published = keys::published_jwks(conn, time::now())?;
        if !published.is_empty() {
            return Ok(published);
        }
        // The database was unreachable when this replica started: prepare the keys now.
        keys::ensure_active(conn, &kek)?;
        keys::published_jwks(conn, time::now())
    })
    .await
    .map_err(crate::oidc::oauth_failure)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, format!("public, max-age={MAX_AGE_SECS}")))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .content_type("application/jwk-set+json")
        .json(serde_json::json!({ "keys": published })))
}
