//! Carrying out one `email.send` command, whichever bus brought it: decode, skip what was already
//! sent, render, send, record, and decide what becomes of the message.
//!
//! - Sent: the record says `sent`; the message is done. A crash between the SMTP server's 250 and
//!   the record is the only window in which the email can go out twice; the duplicate carries the
//!   same `Message-ID`.
//! - Transient failure (SMTP 4xx, connection, timeout, our database): retried after the delay of its
//!   attempt (`consumer.retry_delays_ms`, growing); after the last delay it is dead-lettered.
//! - Permanent failure (SMTP 5xx, a bad address, a template that cannot render) and undecodable
//!   messages: dead-lettered at once with the reason.
//!
//! How a verdict is carried out is the bus's business: `amqp_consumer` republishes to retry queues
//! and the dead-letter exchange, `in_process` answers the outbox relay.

use std::time::Duration;

use chrono::Utc;
use shared::db::{DbPool, StoreError};
use shared::messaging::contracts::{Envelope, SendEmail, decode};

use crate::db;
use crate::smtp::SendError;
use crate::templates::Templates;
use crate::transport::Transport;

/// Everything needed to carry out a command; shared by every consumer of the process.
pub struct EmailConsumer {
    pub pool: DbPool,
    pub templates: Templates,
    pub transport: Transport,
    /// The right-hand side of the `Message-ID` header.
    pub message_id_domain: String,
    /// The delay before each retry of a transient failure; after the last one, dead letters.
    pub retry_delays_ms: Vec<u64>,
}

/// What becomes of a message after one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Sent now, or before (a duplicate): acknowledge.
    Done,
    /// Try again after `delay` (`retry` is the index of the delay, 0 for the first retry).
    Retry {
        retry: usize,
        delay: Duration,
        error: String,
    },
    /// Give up: dead letters, with the reason.
    Dead { reason: String },
}

/// What one delivery attempt found.
enum Outcome {
    Sent,
    AlreadySent,
    Transient(String),
    Permanent(String),
}

impl EmailConsumer {
    /// Carries out the command in `body`, which has had `retries` delayed retries before.
    /// `message_id` names an undecodable body in the log (the envelope names a decodable one).
    pub async fn process(&self, body: &[u8], message_id: &str, retries: usize) -> Verdict {
        let envelope = match decode::<SendEmail>(body) {
            Ok(envelope) => envelope,
            Err(error) => {
                tracing::warn!(%message_id, %error, "undecodable email command: dead-lettered");
                return Verdict::Dead {
                    reason: format!("undecodable: {error}"),
                };
            }
        };
        let outcome = self.deliver(&envelope).await;
        self.judge(&envelope, retries, outcome).await
    }

    /// The `Message-ID` header for a message id: a duplicate sent in the crash window carries the
    /// same one, so mail clients and the sink can recognise it.
    pub fn smtp_message_id(&self, message_id: &str) -> String {
        format!("<{message_id}@{}>", self.message_id_domain)
    }

    /// Sends the email unless its record says it was sent already.
    async fn deliver(&self, envelope: &Envelope<SendEmail>) -> Outcome {
        let message_id = envelope.message_id.clone();
        let now = Utc::now().naive_utc();
        let fresh = db::Delivery {
            message_id: message_id.clone(),
            template: envelope.payload.template.name().to_owned(),
            recipient_hint: db::mask_address(&envelope.payload.to),
            status: db::DeliveryStatus::Sending,
            attempts: 1,
            last_error: None,
            smtp_message_id: self.smtp_message_id(&message_id),
            created_at: now,
            updated_at: now,
            sent_at: None,
        };
        let begun = shared::db::run(&self.pool, move |conn| {
            shared::db::transaction(conn, |conn| match db::find(conn, &fresh.message_id)? {
                Some(record) if record.status == db::DeliveryStatus::Sent => Ok::<_, StoreError>(None),
                _ => Ok(Some(db::begin_attempt(conn, &fresh)?)),
            })
        })
        .await;
        let record = match begun {
            Ok(None) => return Outcome::AlreadySent,
            Ok(Some(record)) => record,
            Err(error) => return Outcome::Transient(format!("delivery records unavailable: {error}")),
        };
        tracing::debug!(%message_id, attempt = record.attempts, "sending");

        let rendered = match self
            .templates
            .render(envelope.payload.template, &envelope.payload.variables)
        {
            Ok(rendered) => rendered,
            Err(error) => return Outcome::Permanent(error.to_string()),
        };
        let smtp_message_id = self.smtp_message_id(&message_id);
        match self
            .transport
            .send(&envelope.payload.to, &message_id, &smtp_message_id, &rendered)
            .await
        {
            Ok(()) => Outcome::Sent,
            Err(SendError::Permanent(reason)) => Outcome::Permanent(reason),
            Err(SendError::Transient(error)) => Outcome::Transient(error),
        }
    }

    /// Records the outcome and decides where the message goes (nowhere, a retry, dead letters).
    async fn judge(&self, envelope: &Envelope<SendEmail>, retries: usize, outcome: Outcome) -> Verdict {
        let message_id = envelope.message_id.as_str();
        let template = envelope.payload.template.name();
        match outcome {
            Outcome::AlreadySent => {
                tracing::info!(%message_id, template, "already sent: acknowledged without sending");
                metrics::counter!("email_duplicates_total").increment(1);
                Verdict::Done
            }
            Outcome::Sent => {
                self.record(message_id, db::DeliveryStatus::Sent, None).await;
                tracing::info!(%message_id, template, "email sent");
                metrics::counter!("emails_sent_total", "template" => template).increment(1);
                Verdict::Done
            }
            Outcome::Permanent(reason) => self.dead(message_id, template, reason).await,
            Outcome::Transient(error) => match self.retry_delays_ms.get(retries) {
                Some(delay_ms) => {
                    self.record(message_id, db::DeliveryStatus::Retrying, Some(error.clone()))
                        .await;
                    tracing::warn!(
                        %message_id,
                        template,
                        %error,
                        retry = retries + 1,
                        delay_ms,
                        "email failed; will retry",
                    );
                    metrics::counter!("email_retries_total").increment(1);
                    Verdict::Retry {
                        retry: retries,
                        delay: Duration::from_millis(*delay_ms),
                        error,
                    }
                }
                None => {
                    let reason = format!("gave up after {} attempts: {error}", retries + 1);
                    self.dead(message_id, template, reason).await
                }
            },
        }
    }

    async fn dead(&self, message_id: &str, template: &str, reason: String) -> Verdict {
        self.record(message_id, db::DeliveryStatus::Dead, Some(reason.clone()))
            .await;
        tracing::warn!(%message_id, template, %reason, "email dead-lettered");
        Verdict::Dead { reason }
    }

    async fn record(&self, message_id: &str, status: db::DeliveryStatus, error: Option<String>) {
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
            // The bus still holds the truth (ack or reroute); the record catches up next time.
            tracing::warn!(%error, "cannot record the delivery outcome");
        }
    }
}
