//! Publishing with publisher confirms, `mandatory` and persistent delivery: a publish succeeds only
//! when the broker has taken responsibility for the message. A nack, an unroutable message, a
//! missing link or a confirm that does not come in time is an error, never a success.

use std::time::Duration;

use lapin::options::BasicPublishOptions;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Confirmation};

use super::supervisor::Supervisor;

/// AMQP `delivery_mode` 2: the broker writes the message to disk.
const PERSISTENT: u8 = 2;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("not connected to the message broker")]
    NotConnected,
    #[error("the broker refused the message (nack)")]
    Nacked,
    #[error("no queue is bound for {routing_key:?} on {exchange:?} (returned: {reason})")]
    Unroutable {
        exchange: String,
        routing_key: String,
        reason: String,
    },
    #[error("no confirm from the broker within {0:?}")]
    Timeout(Duration),
    #[error("the channel was not in confirm mode: the broker did not confirm")]
    NotConfirmed,
    #[error("AMQP error: {0}")]
    Amqp(#[from] lapin::Error),
}

/// One message to publish.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    /// The real exchange name (`""` for the default exchange).
    pub exchange: &'a str,
    pub routing_key: &'a str,
    pub message_id: &'a str,
    pub message_type: &'a str,
    pub body: &'a [u8],
    /// Extra headers (the retry count, a dead-letter reason).
    pub headers: Vec<(&'static str, AMQPValue)>,
}

/// Publishes through the supervisor's current link.
#[derive(Clone)]
pub struct Publisher {
    supervisor: Supervisor,
}

impl Publisher {
    pub fn new(supervisor: Supervisor) -> Publisher {
        Publisher { supervisor }
    }

    pub fn supervisor(&self) -> &Supervisor {
        &self.supervisor
    }

    /// Publishes and waits for the broker's confirm.
    pub async fn publish(&self, message: &Outgoing<'_>) -> Result<(), PublishError> {
        let timeout = Duration::from_millis(self.supervisor.settings().publish_timeout_ms);
        tokio::time::timeout(timeout, self.publish_confirmed(message))
            .await
            .unwrap_or(Err(PublishError::Timeout(timeout)))
    }

    async fn publish_confirmed(&self, message: &Outgoing<'_>) -> Result<(), PublishError> {
        let link = self.supervisor.link().ok_or(PublishError::NotConnected)?;
        let mut headers = FieldTable::default();
        for (key, value) in &message.headers {
            headers.insert(ShortString::from(*key), value.clone());
        }
        let properties = BasicProperties::default()
            .with_delivery_mode(PERSISTENT)
            .with_content_type("application/json".into())
            .with_message_id(message.message_id.into())
            .with_type(message.message_type.into())
            .with_timestamp(chrono::Utc::now().timestamp().max(0) as u64)
            .with_headers(headers);
        let options = BasicPublishOptions {
            mandatory: true,
            ..Default::default()
        };
        let confirmation = link
            .publish_channel
            .basic_publish(
                message.exchange.into(),
                message.routing_key.into(),
                options,
                message.body,
                properties,
            )
            .await?
            .await?;
        match confirmation {
            Confirmation::Ack(None) => Ok(()),
            Confirmation::Ack(Some(returned)) => Err(PublishError::Unroutable {
                exchange: message.exchange.to_owned(),
                routing_key: message.routing_key.to_owned(),
                reason: returned.reply_text.to_string(),
            }),
            Confirmation::Nack(_) => Err(PublishError::Nacked),
            // Only an explicit broker ack is a success: a channel that lost confirm mode (reset by
            // a failure) proves nothing.
            Confirmation::NotRequested => Err(PublishError::NotConfirmed),
        }
    }
}

/// Reads an integer header (the retry count), whatever integer width the sender used.
pub fn header_integer(headers: Option<&FieldTable>, key: &str) -> Option<i64> {
    let value = headers?.inner().get(key)?;
    match value {
        AMQPValue::ShortShortInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortShortUInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortUInt(v) => Some(i64::from(*v)),
        AMQPValue::LongInt(v) => Some(i64::from(*v)),
        AMQPValue::LongUInt(v) => Some(i64::from(*v)),
        AMQPValue::LongLongInt(v) => Some(*v),
        _ => None,
    }
}

/// Reads a string header.
pub fn header_text(headers: Option<&FieldTable>, key: &str) -> Option<String> {
    match headers?.inner().get(key)? {
        AMQPValue::LongString(value) => Some(value.to_string()),
        AMQPValue::ShortString(value) => Some(value.to_string()),
        _ => None,
    }
}
