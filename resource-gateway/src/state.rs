//! What the gateway's handler shares.

use std::sync::Arc;

use crate::configuration::Settings;
use crate::identity::IdentitySigner;
use crate::introspection::IntrospectionClient;
use crate::rate_limit::RateLimits;
use crate::route_table::SharedRoutes;
use crate::token_cache::TokenVerifier;
use crate::upstream::Forwarder;

pub struct GatewayState {
    pub routes: SharedRoutes,
    pub verifier: TokenVerifier,
    pub signer: IdentitySigner,
    pub forwarder: Forwarder,
    pub rate_limits: RateLimits,
}

impl GatewayState {
    /// The state around `routes`, the table that route reloads replace.
    pub fn new(settings: &Settings, routes: SharedRoutes) -> anyhow::Result<GatewayState> {
        let client = Arc::new(IntrospectionClient::new(
            settings.introspection.clone(),
            &settings.tls,
        )?);
        Ok(GatewayState {
            routes,
            verifier: TokenVerifier::new(client, &settings.cache),
            signer: IdentitySigner::new(settings.identity.clone())?,
            forwarder: Forwarder::new(settings.upstream.clone(), &settings.tls)?,
            rate_limits: RateLimits::default(),
        })
    }
}
