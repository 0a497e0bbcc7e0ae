//! The resource-gateway's settings (see `configuration/base.yaml` for the defaults and README.md for
//! each). Every `*Settings` type of the gateway is here, so this module imports no other of the
//! crate: components import their settings from it.

use secrecy::SecretString;
use serde::Deserialize;
use shared::configuration::{ConfigError, Layered, ShutdownSettings};
use shared::resilience::{BackoffSettings, BreakerSettings};
use shared::telemetry::LogSettings;

/// Every setting of the resource-gateway.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// `host:port` to listen on (`GATEWAY_LISTEN_ADDR`).
    pub listen_addr: String,
    /// `host:port` of `/healthz`, `/readyz` and `/metrics` (`GATEWAY_ADMIN_LISTEN_ADDR`); empty: they are
    /// served on `listen_addr`.
    pub admin_listen_addr: String,
    /// TLS of the listeners, and the CA bundle the service's HTTPS clients trust (`GATEWAY_TLS__*`).
    pub tls: shared::server::tls::TlsSettings,
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

    /// Refuses the resilience values the breakers and the retry budget would silently clamp
    /// (settings built in code, as tests do, are still clamped).
    fn validated(self) -> Result<Self, ConfigError> {
        self.introspection.breaker.check("introspection.breaker")?;
        self.upstream.breaker.check("upstream.breaker")?;
        if self.introspection.retry_budget.window_secs == 0 {
            return Err(ConfigError::new(
                "introspection.retry_budget: window_secs must be at least 1",
            ));
        }
        Ok(self)
    }
}

/// Settings of the introspection client.
#[derive(Debug, Clone, Deserialize)]
pub struct IntrospectionSettings {
    pub url: String,
    /// The gateway's own client registration at the auth-server (registered with `--introspect`).
    pub client_id: String,
    pub client_secret: SecretString,
    pub attempt_timeout_ms: u64,
    /// Total time for all attempts of one introspection.
    pub deadline_ms: u64,
    pub max_retries: u32,
    pub backoff: BackoffSettings,
    pub retry_budget: RetryBudgetSettings,
    pub breaker: BreakerSettings,
}

/// The retry budget of introspection (see `shared::resilience::RetryBudget`).
#[derive(Debug, Clone, Deserialize)]
pub struct RetryBudgetSettings {
    /// Retries may add this percentage to the calls of the window.
    pub percent: u64,
    /// Retries allowed per second whatever the traffic.
    pub min_per_second: u64,
    pub window_secs: u64,
}

/// Settings of the token cache.
#[derive(Debug, Clone, Deserialize)]
pub struct CacheSettings {
    pub max_entries: u64,
    /// Longest time an active token is trusted without asking the auth-server again.
    pub max_ttl_secs: u64,
    /// How long an inactive answer is remembered.
    pub negative_ttl_secs: u64,
}

/// Settings of the identity token.
#[derive(Debug, Clone, Deserialize)]
pub struct IdentitySettings {
    pub issuer: String,
    pub audience: String,
    /// Lifetime of each identity token.
    pub ttl_secs: u64,
    /// PKCS#8 PEM of an Ed25519 private key; empty: generate one at start.
    pub signing_key_file: String,
}

/// Settings of upstream calls.
#[derive(Debug, Clone, Deserialize)]
pub struct UpstreamSettings {
    /// Total time of an upstream call when the route sets none.
    pub timeout_ms: u64,
    pub connect_timeout_ms: u64,
    /// Retries of idempotent, body-less requests.
    pub max_retries: u32,
    pub backoff: BackoffSettings,
    pub breaker: BreakerSettings,
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

    #[test]
    fn resilience_values_that_would_be_clamped_are_refused_at_load() {
        let cases = [
            (
                "GATEWAY_INTROSPECTION__BREAKER__CONSECUTIVE_FAILURES",
                "0",
                "consecutive_failures",
            ),
            (
                "GATEWAY_UPSTREAM__BREAKER__HALF_OPEN_PROBES",
                "0",
                "half_open_probes",
            ),
            ("GATEWAY_UPSTREAM__BREAKER__MAX_OPEN_MS", "10", "max_open_ms"),
            (
                "GATEWAY_INTROSPECTION__RETRY_BUDGET__WINDOW_SECS",
                "0",
                "window_secs",
            ),
        ];
        for (variable, value, named) in cases {
            let environment = [(variable.to_owned(), value.to_owned())];

            let error = Settings::load_from_environment(&environment)
                .unwrap_err()
                .to_string();

            assert!(error.contains(named), "{variable}: {error}");
        }
    }
}
