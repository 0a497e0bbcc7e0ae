//! The identity the resource-gateway vouches for, as upstream services receive it: a short-lived JWT
//! in the `X-Auth-Identity` header, signed by the gateway (EdDSA) and verifiable with the public
//! keys it publishes at `/.well-known/jwks.json`. The plain `X-Auth-*` headers carry the same facts
//! for services that trust the network; this token lets a service check that the gateway said them.
//!
//! An upstream service builds one [`IdentityVerifier`] at startup from its [`IdentitySettings`],
//! registers it as `web::Data`, and takes a [`GatewayIdentity`] in its handlers:
//!
//! ```ignore
//! async fn get_orders(identity: GatewayIdentity) -> Result<HttpResponse, IdentityError> {
//!     identity.require_scopes(&["orders:read"])?;
//!     Ok(HttpResponse::Ok().json(orders_of(&identity.0.sub)))
//! }
//! ```

mod error;
mod extractor;
mod verifier;

use serde::{Deserialize, Serialize};

pub use error::{IdentityError, TokenRejection};
pub use extractor::GatewayIdentity;
pub use verifier::IdentityVerifier;

/// The header carrying the signed identity.
pub const IDENTITY_HEADER: &str = "x-auth-identity";
/// Plain headers the gateway sets (and strips from every incoming request).
pub const SUBJECT_HEADER: &str = "x-auth-subject";
pub const CLIENT_ID_HEADER: &str = "x-auth-client-id";
pub const SCOPES_HEADER: &str = "x-auth-scopes";
pub const USERNAME_HEADER: &str = "x-auth-username";

/// The claims of the identity token: the contract between the gateway and upstream services.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IdentityClaims {
    /// The gateway (`identity.issuer` in its settings).
    pub iss: String,
    /// Who the token is for (`identity.audience`).
    pub aud: String,
    /// The user, or the client itself for a client_credentials token.
    pub sub: String,
    pub client_id: String,
    /// Space-separated granted scopes.
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    pub iat: i64,
    pub exp: i64,
}

impl IdentityClaims {
    /// The granted scopes.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|scope| !scope.is_empty())
    }
}

/// How an upstream service verifies the gateway's identity tokens (an `identity` section in its
/// settings).
#[derive(Debug, Clone, Deserialize)]
pub struct IdentitySettings {
    /// The gateway's JWK Set, e.g. `http://resource-gateway:8080/.well-known/jwks.json`.
    pub jwks_url: String,
    /// The `iss` the gateway signs with (its `identity.issuer`).
    pub issuer: String,
    /// The `aud` this service accepts (the gateway's `identity.audience` for routes to it).
    pub audience: String,
    /// Minimum interval between two fetches of the JWKS, whatever their cause: a flood of tokens
    /// with unknown key ids costs at most one fetch per interval.
    pub jwks_refresh_secs: u64,
    /// Age after which the cached keys are fetched again when a token uses one of them, so a key the
    /// gateway has withdrawn stops being accepted. An unreachable JWKS keeps the cached keys in use.
    pub jwks_max_age_secs: u64,
    /// Timeout of one JWKS fetch (connecting included).
    pub jwks_timeout_ms: u64,
    /// Clock skew tolerated on `exp`.
    pub leeway_secs: u64,
}
