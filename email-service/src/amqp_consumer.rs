//! Consuming `email.send` from RabbitMQ: each delivery is carried out (`consumer`), then its verdict
//! is carried out on the broker and the delivery acked.
//!
//! - Done: acked.
//! - Retry: republished (with confirms) to the retry queue of its attempt, then acked; it comes back
//!   to `email.send` after that queue's delay.
//! - Dead: republished to the dead-letter exchange with the reason in `x-dead-letter-reason`, then
//!   acked.
//! - If that republish fails, the delivery goes back to the queue (`nack` with requeue), which
//!   counts towards the delivery limit. A message that crashes the consumer is redelivered by the
//!   broker; after `delivery_limit` deliveries the quorum queue dead-letters it by itself, and the
//!   others keep flowing.

use std::sync::Arc;

use futures_util::StreamExt;
use lapin::Channel;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable};
use shared::messaging::contracts::{Message, SendEmail};
use shared::messaging::publisher::{Outgoing, PublishError, Publisher, header_integer};
use shared::messaging::topology::string;
use tokio_util::sync::CancellationToken;

use crate::consumer::{EmailConsumer, Verdict};
use crate::topology::EmailQueues;

/// The header that counts how many delayed retries a message has had.
pub const RETRY_HEADER: &str = "x-retry-count";
/// The header that says why a message was dead-lettered by the email-service.
pub const REASON_HEADER: &str = "x-dead-letter-reason";

/// A consumer of the `email.send` queue; shared by the consumer channels.
pub struct AmqpConsumer {
    pub consumer: Arc<EmailConsumer>,
    pub publisher: Publisher,
    pub queues: EmailQueues,
}

impl AmqpConsumer {
    /// Consumes on `channel` until it fails or `stop` is cancelled; the message in hand is always
    /// finished and acked first.
    pub async fn consume(self: Arc<Self>, channel: Channel, stop: CancellationToken) {
        if let Err(error) = channel.basic_qos(1, BasicQosOptions::default()).await {
            tracing::warn!(%error, "cannot set the prefetch");
            return;
        }
        let consumer = channel
            .basic_consume(
                self.queues.work.as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await;
        let mut consumer = match consumer {
            Ok(consumer) => consumer,
            Err(error) => {
                tracing::warn!(%error, queue = %self.queues.work, "cannot consume");
                return;
            }
        };
        loop {
            let next = tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                next = consumer.next() => next,
            };
            let delivery = match next {
                Some(Ok(delivery)) => delivery,
                Some(Err(error)) => {
                    tracing::warn!(%error, "the consumer channel failed");
                    return;
                }
                None => return,
            };
            self.handle(delivery).await;
        }
        // Stopping: nothing is in hand; closing the channel returns any prefetched message.
        let _ = channel.close(200, "stopping".into()).await;
    }

    async fn handle(&self, delivery: Delivery) {
        let started = std::time::Instant::now();
        let headers = delivery.properties.headers().as_ref();
        let retries = header_integer(headers, RETRY_HEADER).unwrap_or(0).max(0) as usize;
        let message_id = delivery
            .properties
            .message_id()
            .as_ref()
            .map(|id| id.to_string())
            .unwrap_or_default();
        let verdict = self.consumer.process(&delivery.data, &message_id, retries).await;
        let settled = match verdict {
            Verdict::Done => Ok(()),
            Verdict::Retry { retry, .. } => match self.queues.retries.get(retry) {
                Some((_, queue)) => {
                    self.republish(&delivery, &message_id, "", queue, retry + 1, None)
                        .await
                }
                None => {
                    self.dead_letter(&delivery, &message_id, "no retry queue for this attempt")
                        .await
                }
            },
            Verdict::Dead { reason } => self.dead_letter(&delivery, &message_id, &reason).await,
        };
        let acked = match settled {
            Ok(()) => delivery.ack(BasicAckOptions::default()).await,
            Err(error) => {
                // The retry or dead-letter publish failed: give the message back to the broker,
                // which counts the delivery towards the limit.
                tracing::warn!(%error, "cannot reroute the message; returning it to the queue");
                delivery
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..Default::default()
                    })
                    .await
            }
        };
        if let Err(error) = acked {
            tracing::warn!(%error, "cannot settle the delivery; the broker will redeliver it");
        }
        metrics::histogram!("email_handling_duration_seconds").record(started.elapsed().as_secs_f64());
    }

    async fn dead_letter(
        &self,
        delivery: &Delivery,
        message_id: &str,
        reason: &str,
    ) -> Result<(), PublishError> {
        metrics::counter!("email_dead_lettered_total").increment(1);
        let exchange = self.queues.dead_letter_exchange.clone();
        self.republish(delivery, message_id, &exchange, SendEmail::TYPE, 0, Some(reason))
            .await
    }

    /// Publishes a copy of the delivery (with confirms) to `exchange`/`routing_key`.
    async fn republish(
        &self,
        delivery: &Delivery,
        message_id: &str,
        exchange: &str,
        routing_key: &str,
        retries: usize,
        reason: Option<&str>,
    ) -> Result<(), PublishError> {
        let mut headers: Vec<(&'static str, AMQPValue)> =
            vec![(RETRY_HEADER, AMQPValue::LongLongInt(retries as i64))];
        if let Some(reason) = reason {
            // Bounded: an AMQP header is not a place for a whole SMTP transcript.
            let reason: String = reason.chars().take(500).collect();
            headers.push((REASON_HEADER, string(&reason)));
        }
        let message_type = delivery
            .properties
            .kind()
            .as_ref()
            .map(|kind| kind.to_string())
            .unwrap_or_else(|| SendEmail::TYPE.to_owned());
        self.publisher
            .publish(&Outgoing {
                exchange,
                routing_key,
                message_id,
                message_type: &message_type,
                body: &delivery.data,
                headers,
            })
            .await
    }
}
