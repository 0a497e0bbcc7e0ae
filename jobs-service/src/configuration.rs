//! The jobs-service's settings (see `configuration/base.yaml` for the defaults and README.md for each).

use serde::Deserialize;
use shared::configuration::{DatabaseSettings, Layered, ShutdownSettings};
use shared::telemetry::LogSettings;

/// Every setting of the jobs-service.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// `host:port` to listen on (`JOBS_LISTEN_ADDR`).
    pub listen_addr: String,
    /// HTTP worker threads; 0 means one per CPU core.
    pub workers: usize,
    pub log: LogSettings,
    /// The auth-server's database (`DATABASE_URL`). `migrate_on_start` is not used: the jobs-service
    /// owns no tables yet, and the auth-server migrates its own.
    pub database: DatabaseSettings,
    pub shutdown: ShutdownSettings,
}

impl Layered for Settings {
    const DEFAULTS: &'static str = include_str!("../configuration/base.yaml");
    const ENV_PREFIX: &'static str = "JOBS";
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn the_documented_environment_variables_override_the_defaults() {
        let environment = [
            ("JOBS_LISTEN_ADDR", "0.0.0.0:9083"),
            ("JOBS_DATABASE__POOL_SIZE", "2"),
            ("DATABASE_URL", "postgres://jobs:hunter2@db:5432/auth"),
        ]
        .map(|(key, value)| (key.to_owned(), value.to_owned()));

        let settings: Settings = Settings::load_from_environment(&environment).unwrap();

        assert_eq!(settings.listen_addr, "0.0.0.0:9083");
        assert_eq!(settings.database.pool_size, 2);
        assert_eq!(
            settings.database.url.expose_secret(),
            "postgres://jobs:hunter2@db:5432/auth"
        );
        assert!(!format!("{settings:?}").contains("hunter2"));
        let defaults = Settings::defaults().unwrap();
        assert_eq!(defaults.listen_addr, "127.0.0.1:8083");
        assert!(!defaults.database.migrate_on_start);
    }
}
