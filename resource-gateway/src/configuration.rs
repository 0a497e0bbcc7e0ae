//! The resource-gateway's settings (see `configuration/base.yaml` for the defaults and README.md for each).

use serde::Deserialize;
use shared::configuration::{Layered, ShutdownSettings};
use shared::telemetry::LogSettings;

use crate::identity::IdentitySettings;
use crate::introspection::IntrospectionSettings;
use crate::token_cache::CacheSettings;
use crate::upstream::UpstreamSettings;

/// Every setting of the resource-gateway.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// `host:port` to listen on (`GATEWAY_LISTEN_ADDR`).
    pub listen_addr: String,
    /// HTTP worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// The TOML file of routes (`GATEWAY_ROUTES_FILE`); empty: no routes.
    pub routes_file: String,
    pub log: LogSettings,
    pub shutdown: ShutdownSettings,
    pub introspection: IntrospectionSettings,
    pub cache: CacheSettings,
    pub identity: IdentitySettings,
    pub upstream: UpstreamSettings,
}

impl Layered for Settings {
    const DEFAULTS: &'static str = include_str!("../configuration/base.yaml");
    const ENV_PREFIX: &'static str = "GATEWAY";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_environment_variables_override_the_defaults() {
        let environment = [
            ("GATEWAY_LISTEN_ADDR", "0.0.0.0:9080"),
            ("GATEWAY_INTROSPECTION__URL", "http://auth:8081/oauth2/introspect"),
        ]
        .map(|(key, value)| (key.to_owned(), value.to_owned()));

        let settings: Settings = Settings::load_from_environment(&environment).unwrap();

        assert_eq!(settings.listen_addr, "0.0.0.0:9080");
        assert_eq!(settings.introspection.url, "http://auth:8081/oauth2/introspect");
        assert_eq!(Settings::defaults().unwrap().listen_addr, "127.0.0.1:8080");
    }
}
