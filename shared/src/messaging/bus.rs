//! Where the outbox relay hands its messages: RabbitMQ, or the consumers of this very process.
//!
//! Separate processes always talk through RabbitMQ ([`Bus::RabbitMq`]). The one-process platform
//! uses [`Bus::InProcess`], with the same at-least-once contract: the relay marks an outbox row
//! published only once the consumer has finished with it (sent the email, or given up on it), so a
//! process killed mid-message finds the row pending again at the next start. A consumer's answer
//! plays the broker's part: [`Handled::RetryAfter`] is the retry queue (the row waits in the outbox),
//! [`Handled::DeadLettered`] the dead-letter queue (the row is settled with the reason).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::Semaphore;

use super::contracts::Exchange;
use super::publisher::{Outgoing, PublishError, Publisher};

/// The relay's way out.
#[derive(Clone)]
pub enum Bus {
    /// Publish to RabbitMQ with confirms; the broker takes responsibility.
    RabbitMq(Publisher),
    /// Hand to a consumer in this process and wait for it.
    InProcess(InProcessBus),
}

/// One outbox row on its way out.
#[derive(Debug, Clone)]
pub struct Relayed<'a> {
    pub exchange: Exchange,
    pub routing_key: &'a str,
    pub message_id: &'a str,
    pub message_type: &'a str,
    pub body: &'a [u8],
    /// Earlier hand-overs of this row that did not settle it (a consumer's retry count).
    pub attempts: u32,
}

/// What became of a hand-over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// Published (RabbitMQ) or consumed (in process): the row is settled.
    Done,
    /// Hand it over again after the delay; the error is kept on the row.
    RetryAfter(Duration, String),
    /// The consumer gave up on it for good; the row is settled with the reason.
    DeadLettered(String),
}

impl Bus {
    /// Whether a hand-over can work now (the relay waits while it cannot).
    pub fn is_up(&self) -> bool {
        match self {
            Bus::RabbitMq(publisher) => publisher.supervisor().is_connected(),
            Bus::InProcess(_) => true,
        }
    }

    /// Hands one message over. An `Err` is a failure of the transport, which the relay retries with
    /// its own back-off; a consumer's own verdicts come back as [`Handled`].
    pub async fn hand_over(&self, message: &Relayed<'_>) -> Result<Handled, PublishError> {
        match self {
            Bus::RabbitMq(publisher) => {
                let exchange = publisher.supervisor().topology().exchange(message.exchange);
                let outgoing = Outgoing {
                    exchange: &exchange,
                    routing_key: message.routing_key,
                    message_id: message.message_id,
                    message_type: message.message_type,
                    body: message.body,
                    headers: Vec::new(),
                };
                publisher.publish(&outgoing).await.map(|()| Handled::Done)
            }
            Bus::InProcess(bus) => bus.deliver(message).await,
        }
    }
}

/// One message as an in-process consumer receives it.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub message_id: String,
    pub message_type: String,
    pub body: Vec<u8>,
    /// Earlier deliveries of this message that ended in [`Handled::RetryAfter`] or were cut short.
    pub attempts: u32,
}

/// An in-process consumer.
pub type Handler = Arc<dyn Fn(Inbound) -> BoxFuture<'static, Handled> + Send + Sync>;

/// The consumers of this process, by exchange and routing key.
#[derive(Clone, Default)]
pub struct InProcessBus {
    subscriptions: Arc<RwLock<Vec<Subscription>>>,
}

#[derive(Clone)]
struct Subscription {
    exchange: Exchange,
    /// A routing key, or a topic pattern on the events exchange (`*` one word, `#` any words).
    pattern: String,
    handler: Handler,
    /// At most this many messages in hand at once (a consumer's prefetch).
    slots: Arc<Semaphore>,
}

impl InProcessBus {
    pub fn new() -> InProcessBus {
        InProcessBus::default()
    }

    /// Registers a consumer of `pattern` on `exchange`, handling at most `concurrency` messages at a
    /// time. A command (the commands exchange) goes to its first consumer; an event to every one.
    pub fn subscribe<F, Fut>(&self, exchange: Exchange, pattern: &str, concurrency: usize, handler: F)
    where
        F: Fn(Inbound) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Handled> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |inbound| Box::pin(handler(inbound)));
        self.subscriptions
            .write()
            .unwrap_or_else(|poison| poison.into_inner())
            .push(Subscription {
                exchange,
                pattern: pattern.to_owned(),
                handler,
                slots: Arc::new(Semaphore::new(concurrency.max(1))),
            });
    }

    async fn deliver(&self, message: &Relayed<'_>) -> Result<Handled, PublishError> {
        let matching: Vec<Subscription> = self
            .subscriptions
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
            .iter()
            .filter(|subscription| {
                subscription.exchange == message.exchange
                    && topic_matches(&subscription.pattern, message.routing_key)
            })
            .cloned()
            .collect();
        let inbound = Inbound {
            message_id: message.message_id.to_owned(),
            message_type: message.message_type.to_owned(),
            body: message.body.to_vec(),
            attempts: message.attempts,
        };
        match message.exchange {
            // Like an unbound routing key on RabbitMQ with `mandatory`: not delivered, so retried.
            Exchange::Commands => match matching.first() {
                Some(consumer) => Ok(consume(consumer, inbound).await),
                None => Err(PublishError::Unroutable {
                    exchange: message.exchange.as_str().to_owned(),
                    routing_key: message.routing_key.to_owned(),
                    reason: "no consumer in this process".to_owned(),
                }),
            },
            // Events are facts anyone may follow; with no follower they are simply done (RabbitMQ's
            // `events.recent` keeps them routable the same way). Each follower gets its copy.
            Exchange::Events => {
                for consumer in &matching {
                    let handled = consume(consumer, inbound.clone()).await;
                    if handled != Handled::Done {
                        return Ok(handled);
                    }
                }
                Ok(Handled::Done)
            }
        }
    }
}

async fn consume(subscription: &Subscription, inbound: Inbound) -> Handled {
    // The semaphore is never closed, so a permit always comes.
    let _slot = subscription.slots.acquire().await;
    (subscription.handler)(inbound).await
}

/// AMQP topic matching: words separated by `.`, `*` stands for one word and `#` for any number.
fn topic_matches(pattern: &str, key: &str) -> bool {
    fn matches(pattern: &[&str], key: &[&str]) -> bool {
        match (pattern.split_first(), key.split_first()) {
            (None, None) => true,
            (Some((&"#", rest)), _) => matches(rest, key) || (!key.is_empty() && matches(pattern, &key[1..])),
            (Some((&"*", rest)), Some((_, key_rest))) => matches(rest, key_rest),
            (Some((word, rest)), Some((key_word, key_rest))) => word == key_word && matches(rest, key_rest),
            _ => false,
        }
    }
    let pattern: Vec<&str> = pattern.split('.').collect();
    let key: Vec<&str> = key.split('.').collect();
    matches(&pattern, &key)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn relayed(exchange: Exchange, routing_key: &str) -> Relayed<'_> {
        Relayed {
            exchange,
            routing_key,
            message_id: "m-1",
            message_type: routing_key,
            body: b"{}",
            attempts: 2,
        }
    }

    #[test]
    fn topics_match_like_amqp() {
        assert!(topic_matches("email.send", "email.send"));
        assert!(!topic_matches("email.send", "email.sent"));
        assert!(topic_matches("#", "jobs.cleanup.completed"));
        assert!(topic_matches("jobs.#", "jobs.cleanup.completed"));
        assert!(topic_matches("jobs.*.completed", "jobs.cleanup.completed"));
        assert!(!topic_matches("jobs.*", "jobs.cleanup.completed"));
        assert!(topic_matches("auth.#.revoked", "auth.revoked"));
    }

    #[tokio::test]
    async fn a_command_goes_to_its_consumer_with_the_attempt_count_and_its_verdict_comes_back() {
        let bus = InProcessBus::new();
        bus.subscribe(
            Exchange::Commands,
            "email.send",
            1,
            |inbound: Inbound| async move {
                assert_eq!(inbound.attempts, 2);
                Handled::RetryAfter(Duration::from_secs(5), "SMTP 451".to_owned())
            },
        );

        let handled = bus
            .deliver(&relayed(Exchange::Commands, "email.send"))
            .await
            .unwrap();

        assert_eq!(
            handled,
            Handled::RetryAfter(Duration::from_secs(5), "SMTP 451".to_owned())
        );
    }

    #[tokio::test]
    async fn a_command_nobody_consumes_is_an_error_and_an_event_nobody_follows_is_done() {
        let bus = InProcessBus::new();

        let command = bus.deliver(&relayed(Exchange::Commands, "email.send")).await;
        let event = bus
            .deliver(&relayed(Exchange::Events, "jobs.cleanup.completed"))
            .await;

        assert!(matches!(command, Err(PublishError::Unroutable { .. })));
        assert_eq!(event.unwrap(), Handled::Done);
    }

    #[tokio::test]
    async fn every_follower_of_an_event_gets_it() {
        let bus = InProcessBus::new();
        let seen = Arc::new(AtomicUsize::new(0));
        for pattern in ["jobs.#", "jobs.cleanup.completed", "auth.#"] {
            let seen = seen.clone();
            bus.subscribe(Exchange::Events, pattern, 1, move |_| {
                seen.fetch_add(1, Ordering::SeqCst);
                async { Handled::Done }
            });
        }

        let handled = bus
            .deliver(&relayed(Exchange::Events, "jobs.cleanup.completed"))
            .await;

        assert_eq!(handled.unwrap(), Handled::Done);
        assert_eq!(seen.load(Ordering::SeqCst), 2);
    }
}
