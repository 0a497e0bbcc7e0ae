//! The jobs-service's settings (see `configuration/base.yaml` for the defaults and README.md for each).

use std::path::PathBuf;

use serde::Deserialize;
use shared::configuration::{ConfigError, ConfigSource, DatabaseSettings, ShutdownSettings};
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

impl Settings {
    /// Loads the defaults, then `file` (or `JOBS_CONFIG_FILE`), then `JOBS_*` and `DATABASE_URL`.
    pub fn load(file: Option<PathBuf>) -> Result<Settings, ConfigError> {
        shared::configuration::load(source(file))
    }

    /// Loads only the defaults (tests start from these and change fields).
    pub fn defaults() -> Result<Settings, ConfigError> {
        shared::configuration::load_with_environment(source(None), &[])
    }
}

fn source(file: Option<PathBuf>) -> ConfigSource {
    ConfigSource {
        defaults: include_str!("../configuration/base.yaml"),
        file,
        env_prefix: "JOBS",
    }
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

        let settings: Settings =
            shared::configuration::load_with_environment(source(None), &environment).unwrap();

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
