//! Consuming `email.send` from RabbitMQ: each delivery is carried out (`consumer`), then its verdict
//! is carried out on the broker and the delivery acked.
//!
//! - Done: acked.
//! - Retry: republished (with confirms) to the retry queue of its attempt, then acked; it comes back
//!   to `email.send` after that queue's delay.
//! - Postpone (another attempt holds the message) and record later (sent, its record still to be
//!   written, marked `x-smtp-accepted` so that it is never sent again): republished to the first
//!   retry queue with the retry count unchanged, then acked.
//! - Dead: republished to the dead-letter exchange with the reason in `x-dead-letter-reason`, then
//!   acked.
//! - If that republish fails, the delivery goes back to the queue (`nack` with requeue) after the
//!   first retry delay: each return counts towards the delivery limit, so a tight loop would spend
//!   it in milliseconds while publishing is impaired. A message that crashes the consumer is
//!   redelivered by the broker and, once the crashed attempt's claim has run out, tried again; at
//!   `delivery_limit` unfinished attempts the consumer dead-letters it (`consumer`), and the others
//!   keep flowing. The quorum queue's own delivery limit catches a message returned that often
//!   before it is even claimed.

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
/// The header of a message the SMTP server accepted but whose `sent` record is still to be written.
pub const ACCEPTED_HEADER: &str = "x-smtp-accepted";

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
        let verdict = match header_integer(headers, ACCEPTED_HEADER) {
            Some(_) => self.consumer.record_accepted(&delivery.data, &message_id).await,
            None => self.consumer.process(&delivery.data, &message_id, retries).await,
        };
        let settled = self.carry_out(&delivery, &message_id, retries, verdict).await;
        let acked = match settled {
            Ok(()) => delivery.ack(BasicAckOptions::default()).await,
            Err(error) => {
                // The retry or dead-letter publish failed: give the message back to the broker,
                // which counts the delivery towards the limit; after a pause, so that a broker that
                // refuses publishes for a while does not see the limit spent in a tight loop.
                tracing::warn!(%error, "cannot reroute the message; returning it to the queue");
                // Without a link the nack cannot go out: the broker takes the message back when
                // it notices the lost channel, and the supervisor is waiting for this consumer.
                if self.publisher.supervisor().is_connected() {
                    tokio::time::sleep(self.consumer.postpone_delay()).await;
                }
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

    /// Carries out a verdict on the broker: nothing (ack), or a republish.
    async fn carry_out(
        &self,
        delivery: &Delivery,
        message_id: &str,
        retries: usize,
        verdict: Verdict,
    ) -> Result<(), PublishError> {
        let first_retry_queue = self.queues.retries.first().map(|(_, queue)| queue.as_str());
        match verdict {
            Verdict::Done => Ok(()),
            Verdict::Retry { retry, .. } => match self.queues.retries.get(retry) {
                Some((_, queue)) => {
                    let headers = vec![retry_count(retry + 1)];
                    self.republish(delivery, message_id, "", queue, headers).await
                }
                None => {
                    self.dead_letter(delivery, message_id, "no retry queue for this attempt")
                        .await
                }
            },
            // The retry count stays: waiting for another attempt, or for the database, is no retry.
            Verdict::Postpone { .. } => {
                let queue = first_retry_queue.ok_or_else(no_retry_queue)?;
                let headers = vec![retry_count(retries)];
                self.republish(delivery, message_id, "", queue, headers).await
            }
            Verdict::RecordLater { .. } => {
                let queue = first_retry_queue.ok_or_else(no_retry_queue)?;
                let headers = vec![retry_count(retries), (ACCEPTED_HEADER, AMQPValue::LongLongInt(1))];
                self.republish(delivery, message_id, "", queue, headers).await
            }
            Verdict::Dead { reason } => self.dead_letter(delivery, message_id, &reason).await,
        }
    }

    async fn dead_letter(
        &self,
        delivery: &Delivery,
        message_id: &str,
        reason: &str,
    ) -> Result<(), PublishError> {
        metrics::counter!("email_dead_lettered_total").increment(1);
        let exchange = self.queues.dead_letter_exchange.clone();
        // Bounded: an AMQP header is not a place for a whole SMTP transcript.
        let reason: String = reason.chars().take(500).collect();
        let headers = vec![retry_count(0), (REASON_HEADER, string(&reason))];
        self.republish(delivery, message_id, &exchange, SendEmail::TYPE, headers)
            .await
    }

    /// Publishes a copy of the delivery (with confirms) to `exchange`/`routing_key`.
    async fn republish(
        &self,
        delivery: &Delivery,
        message_id: &str,
        exchange: &str,
        routing_key: &str,
        headers: Vec<(&'static str, AMQPValue)>,
    ) -> Result<(), PublishError> {
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

/// The retry-count header.
fn retry_count(retries: usize) -> (&'static str, AMQPValue) {
    (RETRY_HEADER, AMQPValue::LongLongInt(retries as i64))
}

/// Postponing needs a retry queue; with no retry delay configured there is none.
fn no_retry_queue() -> PublishError {
    PublishError::Unroutable {
        exchange: String::new(),
        routing_key: "(a retry queue)".to_owned(),
        reason: "consumer.retry_delays_ms is empty: nowhere to postpone it".to_owned(),
    }
}
