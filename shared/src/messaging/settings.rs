//! The `amqp` section every service that talks to RabbitMQ shares.

use secrecy::SecretString;
use serde::Deserialize;

use crate::resilience::BackoffSettings;

#[derive(Debug, Clone, Deserialize)]
pub struct AmqpSettings {
    /// `amqp://user:password@host:5672/vhost` (`AMQP_URL`); `amqps://` for TLS.
    pub url: SecretString,
    /// Prefix of every exchange and queue name. Empty in production; tests use a unique one each.
    #[serde(default)]
    pub namespace: String,
    /// AMQP heartbeat: a dead peer is noticed after about two missed beats.
    pub heartbeat_secs: u16,
    /// Connecting (TCP + handshake + topology) gives up after this long and retries.
    pub connect_timeout_ms: u64,
    /// Back-off between reconnection attempts (full jitter).
    pub reconnect: BackoffSettings,
    /// A publish that has no broker confirm after this long counts as failed.
    pub publish_timeout_ms: u64,
}
