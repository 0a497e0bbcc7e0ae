//! The jobs-service's settings (see `configuration/base.yaml` for the defaults and README.md for each).

use std::str::FromStr;

use serde::Deserialize;
use shared::configuration::{ConfigError, DatabaseSettings, Layered, ShutdownSettings};
use shared::telemetry::LogSettings;

/// Every setting of the jobs-service.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// `host:port` to listen on (`JOBS_LISTEN_ADDR`).
    pub listen_addr: String,
    /// `host:port` of `/healthz`, `/readyz` and `/metrics` (`JOBS_ADMIN_LISTEN_ADDR`); empty: they are
    /// served on `listen_addr`.
    pub admin_listen_addr: String,
    /// TLS of the listeners, and the CA bundle the service's HTTPS clients trust (`JOBS_TLS__*`).
    pub tls: shared::server::tls::TlsSettings,
    /// HTTP worker threads; 0 means one per CPU core.
    pub workers: usize,
    pub log: LogSettings,
    /// The auth-server's database (`DATABASE_URL`), which also holds the jobs-service's tables.
    pub database: DatabaseSettings,
    pub shutdown: ShutdownSettings,
    /// The auth-server's public base URL, for the links in reminder emails.
    pub auth_public_url: String,
    /// This replica's name in `job_runs`; empty means `<hostname>-<pid>`.
    pub runner_id: String,
    /// How often the backlog gauge is refreshed.
    pub backlog_interval_ms: u64,
    /// The most rows the backlog gauge counts per table (the count stops there).
    pub backlog_count_limit: i64,
    /// PostgreSQL: how long the session holding a job's lock may sit idle before the server ends it
    /// (and so frees the lock): a frozen or partitioned runner lets the job go within about this.
    /// TCP keepalives on the session catch a vanished host in about the same time.
    pub dead_runner_timeout_secs: u64,
    pub purge_tokens: PurgeTokensSettings,
    pub unverified_accounts: UnverifiedAccountsSettings,
    pub report: ReportSettings,
}

/// `purge-tokens`: expired and revoked tokens, codes, sessions, links, old outbox rows and events.
#[derive(Debug, Clone, Deserialize)]
pub struct PurgeTokensSettings {
    pub enabled: bool,
    pub schedule: String,
    /// The most rows (or grant families) deleted by one batch.
    pub batch_size: i64,
    /// The time one batch may take: a slower batch halves the batch size, and a batch that hits it
    /// is cancelled by PostgreSQL (statement timeout) and retried smaller.
    pub batch_budget_ms: u64,
    /// The pause between two batches, so other writers get the rows and the I/O.
    pub pause_ms: u64,
    /// How long a grant family is kept after its last refresh token expired, so that a rotated
    /// token presented again is still recognised as reuse.
    pub refresh_token_retention_hours: i64,
    /// How long published outbox messages are kept.
    pub outbox_retention_hours: i64,
    /// How long `account_events` are kept (the report counts from them).
    pub account_events_retention_days: i64,
}

/// `unverified-accounts`: remind, then delete, accounts whose address was never verified.
#[derive(Debug, Clone, Deserialize)]
pub struct UnverifiedAccountsSettings {
    pub enabled: bool,
    pub schedule: String,
    pub remind_after_days: i64,
    pub delete_after_days: i64,
    pub batch_size: i64,
}

/// `report`: a summary email to the admins.
#[derive(Debug, Clone, Deserialize)]
pub struct ReportSettings {
    pub enabled: bool,
    pub schedule: String,
    pub period_hours: i64,
    /// Comma-separated addresses (never logged).
    pub recipients: String,
}

impl ReportSettings {
    /// The recipients, trimmed, without empty entries.
    pub fn recipient_list(&self) -> Vec<String> {
        self.recipients
            .split(',')
            .map(str::trim)
            .filter(|address| !address.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

impl Settings {
    /// This replica's runner name: `runner_id`, or `<hostname>-<pid>`.
    pub fn runner_name(&self) -> String {
        if !self.runner_id.trim().is_empty() {
            return self.runner_id.trim().to_owned();
        }
        // Kubernetes sets HOSTNAME to the pod's name.
        let host = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "localhost".to_owned());
        format!("{host}-{}", std::process::id())
    }
}

impl Layered for Settings {
    const DEFAULTS: &'static str = include_str!("../configuration/base.yaml");
    const ENV_PREFIX: &'static str = "JOBS";

    fn validated(self) -> Result<Self, ConfigError> {
        for (name, schedule) in [
            ("purge_tokens.schedule", &self.purge_tokens.schedule),
            ("unverified_accounts.schedule", &self.unverified_accounts.schedule),
            ("report.schedule", &self.report.schedule),
        ] {
            cron::Schedule::from_str(schedule).map_err(|error| {
                ConfigError::new(format!("{name}: invalid cron expression {schedule:?}: {error}"))
            })?;
        }
        if self.purge_tokens.batch_size < 1 {
            return Err(ConfigError::new("purge_tokens.batch_size must be at least 1"));
        }
        if self.unverified_accounts.batch_size < 1 {
            return Err(ConfigError::new(
                "unverified_accounts.batch_size must be at least 1",
            ));
        }
        if self.unverified_accounts.delete_after_days <= self.unverified_accounts.remind_after_days {
            return Err(ConfigError::new(
                "unverified_accounts.delete_after_days must be greater than \
                    unverified_accounts.remind_after_days",
            ));
        }
        if self.report.enabled && self.report.recipient_list().is_empty() {
            return Err(ConfigError::new(
                "report.recipients: the report is enabled but has no recipient",
            ));
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn load(environment: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let environment: Vec<(String, String)> = environment
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        Settings::load_from_environment(&environment)
    }

    #[test]
    fn the_documented_environment_variables_override_the_defaults() {
        let settings = load(&[
            ("JOBS_LISTEN_ADDR", "0.0.0.0:9083"),
            ("JOBS_DATABASE__POOL_SIZE", "2"),
            ("JOBS_PURGE_TOKENS__SCHEDULE", "* * * * * *"),
            ("JOBS_REPORT__RECIPIENTS", "a@example.test, b@example.test"),
            ("DATABASE_URL", "postgres://jobs:hunter2@db:5432/auth"),
        ])
        .unwrap();

        assert_eq!(settings.listen_addr, "0.0.0.0:9083");
        assert_eq!(settings.database.pool_size, 2);
        assert_eq!(settings.purge_tokens.schedule, "* * * * * *");
        assert_eq!(
            settings.report.recipient_list(),
            ["a@example.test", "b@example.test"]
        );
        assert_eq!(
            settings.database.url.expose_secret(),
            "postgres://jobs:hunter2@db:5432/auth"
        );
        assert!(!format!("{settings:?}").contains("hunter2"));
        let defaults = Settings::defaults().unwrap();
        assert_eq!(defaults.listen_addr, "127.0.0.1:8083");
        assert!(!defaults.database.migrate_on_start);
    }

    #[test]
    fn an_invalid_cron_expression_is_refused_naming_the_setting() {
        let error = load(&[("JOBS_PURGE_TOKENS__SCHEDULE", "every minute")]).unwrap_err();

        assert!(error.to_string().contains("purge_tokens.schedule"), "{error}");
    }

    #[test]
    fn deletion_must_come_after_the_reminder() {
        let error = load(&[("JOBS_UNVERIFIED_ACCOUNTS__DELETE_AFTER_DAYS", "2")]).unwrap_err();

        assert!(error.to_string().contains("delete_after_days"), "{error}");
    }
}
