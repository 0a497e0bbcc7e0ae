//! Consuming `email.send` from the in-process bus of the one-process platform: the outbox relay
//! hands each command over and waits for the verdict, which it carries out on the outbox row (a
//! retry waits there for its delay, a dead letter is settled with its reason). The attempt count is
//! the row's, so the retry schedule is the same as through RabbitMQ.

use std::sync::Arc;

use shared::messaging::bus::{Handled, InProcessBus, Inbound};
use shared::messaging::contracts::{Exchange, Message, SendEmail};

use crate::consumer::{EmailConsumer, Verdict};

/// Registers the consumer on `bus`, `concurrency` messages at a time.
pub fn subscribe(bus: &InProcessBus, consumer: Arc<EmailConsumer>, concurrency: usize) {
    bus.subscribe(
        Exchange::Commands,
        SendEmail::TYPE,
        concurrency,
        move |inbound: Inbound| {
            let consumer = consumer.clone();
            async move {
                let started = std::time::Instant::now();
                let verdict = consumer
                    .process(&inbound.body, &inbound.message_id, inbound.attempts as usize)
                    .await;
                metrics::histogram!("email_handling_duration_seconds")
                    .record(started.elapsed().as_secs_f64());
                match verdict {
                    Verdict::Done => Handled::Done,
                    Verdict::Retry { delay, error, .. } => Handled::RetryAfter(delay, error),
                    // The outbox row carries no header: a message sent but not recorded is handed
                    // over again and its claim decides (sent again only once the claim ran out).
                    Verdict::Postpone { delay } => {
                        Handled::RetryAfter(delay, "another attempt is sending it".to_owned())
                    }
                    Verdict::RecordLater { delay } => {
                        Handled::RetryAfter(delay, "sent; its record could not be written".to_owned())
                    }
                    Verdict::Dead { reason } => {
                        metrics::counter!("email_dead_lettered_total").increment(1);
                        Handled::DeadLettered(reason)
                    }
                }
            }
        },
    );
}
