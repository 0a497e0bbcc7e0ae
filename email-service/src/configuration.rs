//! The email-service's settings (see `configuration/base.yaml` for the defaults and README.md for each).

use secrecy::SecretString;
use serde::Deserialize;
use shared::configuration::{ConfigError, DatabaseSettings, Layered, ShutdownSettings};
use shared::messaging::settings::AmqpSettings;
use shared::telemetry::LogSettings;

/// Every setting of the email-service.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// `host:port` to listen on (`EMAIL_LISTEN_ADDR`).
    pub listen_addr: String,
    /// `host:port` of `/healthz`, `/readyz` and `/metrics` (`EMAIL_ADMIN_LISTEN_ADDR`); empty: they are
    /// served on `listen_addr`.
    pub admin_listen_addr: String,
    /// TLS of the listeners, and the CA bundle the service's HTTPS clients trust (`EMAIL_TLS__*`).
    pub tls: shared::server::tls::TlsSettings,
    /// HTTP worker threads; 0 means one per CPU core.
    pub workers: usize,
    pub log: LogSettings,
    pub shutdown: ShutdownSettings,
    /// The delivery records (`DATABASE_URL`).
    pub database: DatabaseSettings,
    pub amqp: AmqpSettings,
    pub consumer: ConsumerSettings,
    /// Where emails go: `smtp` (through `smtp`), or `mailbox` (kept in the database and shown at
    /// `/mail`, for development).
    pub transport: TransportKind,
    pub smtp: SmtpSettings,
    /// Overrides for the built-in templates; empty for none.
    pub templates_dir: String,
}

/// Where emails go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    Smtp,
    Mailbox,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ConsumerSettings {
    pub concurrency: usize,
    pub delivery_limit: i64,
    pub retry_delays_ms: Vec<u64>,
    /// How long one attempt holds a message (the database's clock): no other copy is sent before it
    /// runs out, and the send is cut at its end. Also how long consumers may finish the message in
    /// hand when the broker link is lost.
    pub claim_lease_ms: u64,
}

/// The SMTP server emails are sent through.
#[derive(Debug, Clone, Deserialize)]
pub struct SmtpSettings {
    /// `smtp://host:port`, `smtp://host:587?tls=required`, `smtps://host:465` (`SMTP_URL`).
    pub url: SecretString,
    /// The `From` mailbox.
    pub from: String,
    pub message_id_domain: String,
    pub timeout_ms: u64,
}

impl Layered for Settings {
    const DEFAULTS: &'static str = include_str!("../configuration/base.yaml");
    const ENV_PREFIX: &'static str = "EMAIL";

    fn validated(self) -> Result<Self, ConfigError> {
        // A claim shorter than a send would cut every send, and let other copies go out meanwhile.
        if self.consumer.claim_lease_ms < 1000 {
            return Err(ConfigError::new(
                "consumer.claim_lease_ms must be at least 1000 (it must cover a whole SMTP conversation)",
            ));
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn the_documented_environment_variables_override_the_defaults() {
        let environment = [
            ("EMAIL_LISTEN_ADDR", "0.0.0.0:9082"),
            ("AMQP_URL", "amqp://mailer:hunter2@rabbitmq:5672/%2f"),
            ("SMTP_URL", "smtp://mailpit:1025"),
            ("DATABASE_URL", "postgres://mailer:hunter2@db/email"),
            ("EMAIL_CONSUMER__DELIVERY_LIMIT", "3"),
        ]
        .map(|(key, value)| (key.to_owned(), value.to_owned()));

        let settings: Settings = Settings::load_from_environment(&environment).unwrap();

        assert_eq!(settings.listen_addr, "0.0.0.0:9082");
        assert_eq!(
            settings.amqp.url.expose_secret(),
            "amqp://mailer:hunter2@rabbitmq:5672/%2f"
        );
        assert_eq!(settings.smtp.url.expose_secret(), "smtp://mailpit:1025");
        assert_eq!(settings.consumer.delivery_limit, 3);
        assert!(!format!("{settings:?}").contains("hunter2"));
        let defaults = Settings::defaults().unwrap();
        assert_eq!(defaults.listen_addr, "127.0.0.1:8082");
        assert_eq!(defaults.consumer.retry_delays_ms.len(), 5);
    }

    #[test]
    fn a_claim_lease_too_short_for_a_send_is_refused_naming_the_setting() {
        let environment = [("EMAIL_CONSUMER__CLAIM_LEASE_MS".to_owned(), "0".to_owned())];

        let refused = Settings::load_from_environment(&environment).unwrap_err();

        assert!(
            refused.to_string().contains("consumer.claim_lease_ms"),
            "{refused}"
        );
    }
}
