//! Carrying out one `email.send` command, whichever bus brought it: decode, claim, render, send,
//! record, and decide what becomes of the message.
//!
//! - Claim: one statement (`db::claim`) creates or takes over the delivery record for this attempt
//!   with a lease (`consumer.claim_lease_ms`, the database's clock), unless it says `sent` (a
//!   duplicate: done) or another attempt's claim has not run out (that copy is being sent now: this
//!   one is postponed, and sends nothing unless the other attempt dies). The send is cut a tenth of
//!   the claim before its end, so no two attempts ever send at once.
//! - Sent: the record says `sent`; the message is done. The write is retried while the claim lasts;
//!   if the database stays away, the message comes back later to write it, and is not sent again.
//!   A crash (or a timeout) between the server having the whole message and the record is the only
//!   window in which the email can go out twice (once the claim has run out); the duplicate carries
//!   the same `Message-ID`.
//! - Attempts that never finished (their claim ran out, `sending`): at `consumer.delivery_limit` of
//!   them the message is dead-lettered, as one that keeps killing the consumer.
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
use shared::resilience::BackoffSettings;
use tokio::time::Instant;

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
    /// How long an attempt holds a message (`consumer.claim_lease_ms`); the send is cut at its end.
    pub claim_lease: Duration,
    /// Unfinished attempts after which a message is dead-lettered (`consumer.delivery_limit`).
    pub unfinished_limit: i32,
}

/// The pauses between two writes of a `sent` record: 100 ms, doubling up to 2 s.
const RECORD_BACKOFF: BackoffSettings = BackoffSettings {
    base_ms: 100,
    max_ms: 2000,
    jitter: false,
};

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
    /// Try again after `delay`, counting no retry: another attempt holds the message's claim.
    Postpone { delay: Duration },
    /// Sent, but the `sent` record could not be written: write it after `delay`, never send again.
    RecordLater { delay: Duration },
    /// Give up: dead letters, with the reason.
    Dead { reason: String },
}

/// What one delivery attempt found.
enum Outcome {
    /// Accepted by the SMTP server; this attempt's claim ends at `claim_ends`.
    Sent {
        claim_ends: Instant,
    },
    AlreadySent,
    HeldElsewhere,
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

    /// The message came back to have its `sent` record written (the SMTP server accepted it, the
    /// database was away): write it, send nothing.
    pub async fn record_accepted(&self, body: &[u8], message_id: &str) -> Verdict {
        if let Err(error) = decode::<SendEmail>(body) {
            return Verdict::Dead {
                reason: format!("undecodable: {error}"),
            };
        }
        match self
            .record_sent(message_id, Instant::now() + self.claim_lease)
            .await
        {
            true => Verdict::Done,
            false => Verdict::RecordLater {
                delay: self.postpone_delay(),
            },
        }
    }

    /// The wait before a message whose claim is held elsewhere, or that the bus could not reroute,
    /// is tried again: the first retry delay.
    pub fn postpone_delay(&self) -> Duration {
        Duration::from_millis(self.retry_delays_ms.first().copied().unwrap_or(1000))
    }

    /// Claims the message, then sends it (within the claim) unless another attempt holds it or it
    /// was sent already.
    async fn deliver(&self, envelope: &Envelope<SendEmail>) -> Outcome {
        let message_id = envelope.message_id.clone();
        // Taken before the claim, so it never ends later than the claim in the database.
        let claim_ends = Instant::now() + self.claim_lease;
        let record = match self.claim(envelope).await {
            Ok(db::Claim::Granted(record)) => record,
            Ok(db::Claim::AlreadySent) => return Outcome::AlreadySent,
            Ok(db::Claim::HeldElsewhere) => return Outcome::HeldElsewhere,
            Err(error) => return Outcome::Transient(format!("delivery records unavailable: {error}")),
        };
        if record.unfinished_attempts >= self.unfinished_limit {
            return Outcome::Permanent(format!(
                "{} attempts never finished: the message may be killing the consumer",
                record.unfinished_attempts
            ));
        }
        tracing::debug!(%message_id, attempt = record.attempts, "sending");

        let rendered = match self
            .templates
            .render(envelope.payload.template, &envelope.payload.variables)
        {
            Ok(rendered) => rendered,
            Err(error) => return Outcome::Permanent(error.to_string()),
        };
        let smtp_message_id = self.smtp_message_id(&message_id);
        let sending = self
            .transport
            .send(&envelope.payload.to, &message_id, &smtp_message_id, &rendered);
        // Past the claim another copy may be sent: this send must be over by then, with a tenth of
        // the claim left to write the record.
        let send_ends = claim_ends - self.claim_lease / 10;
        match tokio::time::timeout_at(send_ends, sending).await {
            Ok(Ok(())) => Outcome::Sent { claim_ends },
            Ok(Err(SendError::Permanent(reason))) => Outcome::Permanent(reason),
            Ok(Err(SendError::Transient(error))) => Outcome::Transient(error),
            Err(_) => Outcome::Transient("the send outlived its claim (consumer.claim_lease_ms)".into()),
        }
    }

    async fn claim(&self, envelope: &Envelope<SendEmail>) -> Result<db::Claim, StoreError> {
        let attempt = db::NewAttempt {
            message_id: envelope.message_id.clone(),
            template: envelope.payload.template.name().to_owned(),
            recipient_hint: db::mask_address(&envelope.payload.to),
            smtp_message_id: self.smtp_message_id(&envelope.message_id),
        };
        let lease = self.claim_lease;
        shared::db::run(&self.pool, move |conn| Ok(db::claim(conn, &attempt, lease)?)).await
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
            Outcome::HeldElsewhere => {
                tracing::info!(%message_id, template, "another attempt is sending it: postponed");
                metrics::counter!("email_postponed_total").increment(1);
                Verdict::Postpone {
                    delay: self.postpone_delay(),
                }
            }
            Outcome::Sent { claim_ends } => {
                tracing::info!(%message_id, template, "email sent");
                metrics::counter!("emails_sent_total", "template" => template).increment(1);
                match self.record_sent(message_id, claim_ends).await {
                    true => Verdict::Done,
                    false => Verdict::RecordLater {
                        delay: self.postpone_delay(),
                    },
                }
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

    /// Writes `sent`, again and again while the claim lasts (no other copy is sent meanwhile).
    /// False when the database stayed away until the claim's end.
    async fn record_sent(&self, message_id: &str, claim_ends: Instant) -> bool {
        let mut retry = 0;
        loop {
            let error = match self.write(message_id, db::DeliveryStatus::Sent, None).await {
                Ok(()) => return true,
                Err(error) => error,
            };
            let pause = RECORD_BACKOFF.delay(retry);
            if Instant::now() + pause >= claim_ends {
                tracing::warn!(%message_id, %error, "sent, but the 'sent' record cannot be written now");
                return false;
            }
            metrics::counter!("email_record_retries_total").increment(1);
            tracing::warn!(%message_id, %error, "sent; writing its 'sent' record again");
            tokio::time::sleep(pause).await;
            retry += 1;
        }
    }

    /// Records a retry or a dead letter. A failure is logged only: the bus holds the truth (the
    /// retry queue or the dead letters), and the next attempt's claim does not depend on it.
    async fn record(&self, message_id: &str, status: db::DeliveryStatus, error: Option<String>) {
        if let Err(error) = self.write(message_id, status, error).await {
            tracing::warn!(%error, "cannot record the delivery outcome");
        }
    }

    async fn write(
        &self,
        message_id: &str,
        status: db::DeliveryStatus,
        error: Option<String>,
    ) -> Result<(), StoreError> {
        let message_id = message_id.to_owned();
        shared::db::run(&self.pool, move |conn| {
            let now = Utc::now().naive_utc();
            db::finish(conn, &message_id, status, error.as_deref(), now)?;
            Ok(())
        })
        .await
    }
}
