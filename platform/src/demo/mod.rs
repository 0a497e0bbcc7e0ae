//! The demo app: what a team would write on top of the platform, served in the platform's process
//! on its own port (`PLATFORM_DEMO_LISTEN_ADDR`, 127.0.0.1:8084 by default).
//!
//! - A third-party web app (`sign_in`): a public client that signs a person in with the authorization
//!   code flow and PKCE, verifies the id_token, calls userinfo, and calls the demo API through the
//!   gateway with the access token.
//! - The demo API's upstream (`echo`): the gateway routes `/api/...` to it, and it answers with the
//!   identity the gateway vouched for (verified with the gateway's JWKS).

pub mod api;
mod echo;
mod sign_in;

use std::time::Duration;

use actix_web::web;
use shared::identity::{IdentitySettings, IdentityVerifier};

use crate::credentials::DemoCredentials;
use crate::settings::Addresses;

/// What the demo app's handlers share.
pub struct DemoApp {
    pub addresses: Addresses,
    /// The auth-server's `iss` (the id_token is checked against it).
    pub issuer: String,
    pub client_id: String,
    pub username: String,
    http: reqwest::Client,
    /// Sign-ins in progress, by their `state`: the PKCE verifier and the nonce. Ten minutes to finish.
    pending: moka::sync::Cache<String, sign_in::Pending>,
}

impl DemoApp {
    pub fn new(
        addresses: Addresses,
        issuer: String,
        credentials: &DemoCredentials,
    ) -> anyhow::Result<DemoApp> {
        Ok(DemoApp {
            addresses,
            issuer,
            client_id: credentials.app_client_id.clone(),
            username: credentials.username.clone(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            pending: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(600))
                .build(),
        })
    }
}

/// The verifier of the gateway's identity tokens, for the echo upstream.
pub fn identity_verifier(
    addresses: &Addresses,
    gateway: &resource_gateway::configuration::Settings,
) -> anyhow::Result<IdentityVerifier> {
    IdentityVerifier::new(&IdentitySettings {
        jwks_url: format!("{}/.well-known/jwks.json", addresses.gateway),
        issuer: gateway.identity.issuer.clone(),
        audience: gateway.identity.audience.clone(),
        jwks_refresh_secs: 5,
        jwks_max_age_secs: 300,
        jwks_timeout_ms: 2_000,
        leeway_secs: 5,
    })
}

/// Mounts the demo app. The app must hold `web::Data<DemoApp>` and `web::Data<IdentityVerifier>`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(sign_in::get_home))
        .route("/login", web::get().to(sign_in::get_login))
        .route("/callback", web::get().to(sign_in::get_callback))
        .route("/echo", web::to(echo::echo))
        .route("/echo/{tail:.*}", web::to(echo::echo));
}
