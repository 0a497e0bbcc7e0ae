//! The email-service's settings (see `configuration/base.yaml` for the defaults and README.md for each).

use secrecy::SecretString;
use serde::Deserialize;
use shared::configuration::{Layered, ShutdownSettings};
use shared::telemetry::LogSettings;

/// Every setting of the email-service.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// `host:port` to listen on (`EMAIL_LISTEN_ADDR`).
    pub listen_addr: String,
    /// HTTP worker threads; 0 means one per CPU core.
    pub workers: usize,
    pub log: LogSettings,
    pub shutdown: ShutdownSettings,
    pub amqp: AmqpSettings,
    pub smtp: SmtpSettings,
}

/// The RabbitMQ broker the email commands come from.
#[derive(Debug, Clone, Deserialize)]
pub struct AmqpSettings {
    /// `amqp://user:password@host:port/vhost` (`AMQP_URL`); not connected to yet.
    pub url: SecretString,
}

/// The SMTP server emails are sent through.
#[derive(Debug, Clone, Deserialize)]
pub struct SmtpSettings {
    /// `smtp://host:port`, with credentials if the server needs them (`SMTP_URL`); not used yet.
    pub url: SecretString,
}

impl Layered for Settings {
    const DEFAULTS: &'static str = include_str!("../configuration/base.yaml");
    const ENV_PREFIX: &'static str = "EMAIL";
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
        ]
        .map(|(key, value)| (key.to_owned(), value.to_owned()));

        let settings: Settings = Settings::load_from_environment(&environment).unwrap();

        assert_eq!(settings.listen_addr, "0.0.0.0:9082");
        assert_eq!(
            settings.amqp.url.expose_secret(),
            "amqp://mailer:hunter2@rabbitmq:5672/%2f"
        );
        assert_eq!(settings.smtp.url.expose_secret(), "smtp://mailpit:1025");
        assert!(!format!("{settings:?}").contains("hunter2"));
        assert_eq!(Settings::defaults().unwrap().listen_addr, "127.0.0.1:8082");
    }
}
