//! Consuming `email.send`: decode, skip what was already sent, render, send, record, then ack.
//!
//! - Sent: the record says `sent`, then the delivery is acked. A crash between the SMTP server's
//!   250 and the record is the only window in which the email can go out twice; the duplicate
//!   carries the same `Message-ID`.
//! - Transient failure (SMTP 4xx, connection, timeout, our database): the message is republished to
//!   the retry queue of its attempt (a growing delay), then acked. After the last delay it is
//!   dead-lettered.
//! - Permanent failure (SMTP 5xx, a bad address, a template that cannot render) and undecodable
//!   messages: dead-lettered at once with the reason in `x-dead-letter-reason`.
//! - A message that crashes the consumer is redelivered by the broker; after `delivery_limit`
//!   deliveries the quorum queue dead-letters it by itself, and the others keep flowing.

use std::sync::Arc;

use chrono::Utc;
use futures_util::StreamExt;
use lapin::Channel;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable};
use shared::db::{DbPool, StoreError};
use shared::messaging::contracts::{Envelope, Message, SendEmail, decode};
use shared::messaging::publisher::{Outgoing, PublishError, Publisher, header_integer};
use shared::messaging::topology::string;
use tokio_util::sync::CancellationToken;

use crate::db;
use crate::smtp::{Mailer, SendError};
use crate::templates::Templates;
use crate::topology::EmailQueues;

/// The header that counts how many delayed retries a message has had.
pub const RETRY_HEADER: &str = "x-retry-count";
/// The header that says why a message was dead-lettered by the email-service.
pub const REASON_HEADER: &str = "x-dead-letter-reason";

/// Everything a consumer needs; shared by the consumer channels.
pub struct EmailConsumer {
    pub pool: DbPool,
    pub templates: Templates,
    pub mailer: Mailer,
    pub publisher: Publisher,
    pub queues: EmailQueues,
}

/// What became of one delivery.
enum Outcome {
    Sent,
    AlreadySent,
    Retry { error: String },
    Dead { reason: String },
}

impl EmailConsumer {
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
        let settled = match decode::<SendEmail>(&delivery.data) {
            Err(error) => {
                let message_id = delivery
                    .properties
                    .message_id()
                    .as_ref()
                    .map(|id| id.to_string())
                    .unwrap_or_default();
                tracing::warn!(%message_id, %error, "undecodable email command: dead-lettered");
                self.dead_letter(&delivery, &message_id, &format!("undecodable: {error}"))
                    .await
            }
            Ok(envelope) => {
                let outcome = self.deliver(&envelope).await;
                self.settle(&delivery, &envelope, retries, outcome).await
            }
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

    /// Sends the email unless its record says it was sent already, and records the outcome.
    async fn deliver(&self, envelope: &Envelope<SendEmail>) -> Outcome {
        let message_id = envelope.message_id.clone();
        let now = Utc::now().naive_utc();
        let fresh = db::Delivery {
            message_id: message_id.clone(),
            template: envelope.payload.template.name().to_owned(),
            recipient_hint: db::mask_address(&envelope.payload.to),
            status: db::SENDING.to_owned(),
            attempts: 1,
            last_error: None,
            smtp_message_id: self.mailer.smtp_message_id(&message_id),
            created_at: now,
            updated_at: now,
            sent_at: None,
        };
        let begun = shared::db::run(&self.pool, move |conn| {
            conn.build_transaction()
                .run(|conn| match db::find(conn, &fresh.message_id)? {
                    Some(record) if record.status == db::SENT => Ok::<_, StoreError>(None),
                    _ => Ok(Some(db::begin_attempt(conn, &fresh)?)),
                })
        })
        .await;
        let record = match begun {
            Ok(None) => return Outcome::AlreadySent,
            Ok(Some(record)) => record,
            Err(error) => {
                return Outcome::Retry {
                    error: format!("delivery records unavailable: {error}"),
                };
            }
        };
        tracing::debug!(%message_id, attempt = record.attempts, "sending");

        let rendered = match self
            .templates
            .render(envelope.payload.template, &envelope.payload.variables)
        {
            Ok(rendered) => rendered,
            Err(error) => {
                return Outcome::Dead {
                    reason: error.to_string(),
                };
            }
        };
        match self
            .mailer
            .send(&envelope.payload.to, &message_id, &rendered)
            .await
        {
            Ok(()) => Outcome::Sent,
            Err(SendError::Permanent(reason)) => Outcome::Dead { reason },
            Err(SendError::Transient(error)) => Outcome::Retry { error },
        }
    }

    /// Records the outcome and moves the message where it belongs (nowhere, retry, dead letters).
    async fn settle(
        &self,
        delivery: &Delivery,
        envelope: &Envelope<SendEmail>,
        retries: usize,
        outcome: Outcome,
    ) -> Result<(), PublishError> {
        let message_id = envelope.message_id.as_str();
        let template = envelope.payload.template.name();
        match outcome {
            Outcome::AlreadySent => {
                tracing::info!(%message_id, template, "already sent: acknowledged without sending");
                metrics::counter!("email_duplicates_total").increment(1);
                Ok(())
            }
            Outcome::Sent => {
                self.record(message_id, db::SENT, None).await;
                tracing::info!(%message_id, template, "email sent");
                metrics::counter!("emails_sent_total", "template" => template).increment(1);
                Ok(())
            }
            Outcome::Dead { reason } => {
                self.record(message_id, db::DEAD, Some(reason.clone())).await;
                tracing::warn!(%message_id, template, %reason, "email dead-lettered");
                self.dead_letter(delivery, message_id, &reason).await
            }
            Outcome::Retry { error } => match self.queues.retries.get(retries) {
                Some((delay_ms, queue)) => {
                    self.record(message_id, db::RETRYING, Some(error.clone())).await;
                    tracing::warn!(%message_id, template, %error, retry = retries + 1, delay_ms, "email failed; will retry");
                    metrics::counter!("email_retries_total").increment(1);
                    self.republish(delivery, message_id, "", queue, retries + 1, None)
                        .await
                }
                None => {
                    let reason = format!("gave up after {} attempts: {error}", retries + 1);
                    self.record(message_id, db::DEAD, Some(reason.clone())).await;
                    tracing::warn!(%message_id, template, %reason, "email dead-lettered");
                    self.dead_letter(delivery, message_id, &reason).await
                }
            },
        }
    }

    async fn record(&self, message_id: &str, status: &'static str, error: Option<String>) {
        let message_id = message_id.to_owned();
        let recorded = shared::db::run(&self.pool, move |conn| {
            Ok::<_, StoreError>(db::finish(
                conn,
                &message_id,
                status,
                error.as_deref(),
                Utc::now().naive_utc(),
            )?)
        })
        .await;
        if let Err(error) = recorded {
            // The broker still holds the truth (ack or reroute); the record catches up next time.
            tracing::warn!(%error, "cannot record the delivery outcome");
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
