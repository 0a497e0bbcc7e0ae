//! Exchanges, queues and bindings, declared (idempotently) by the connection supervisor after every
//! connect. Every name carries the settings' namespace prefix. The platform's layout:
//!
//! | name | kind | what for |
//! | --- | --- | --- |
//! | `commands` | direct exchange | commands for exactly one service (`email.send`) |
//! | `events` | topic exchange | facts any service may follow (`jobs.cleanup.completed`) |
//! | `events.recent` | classic queue, bound `#`, last 10,000 | keeps events routable when nobody listens |
//! | `dead-letters` | direct exchange | where rejected and exhausted messages go, by their routing key |
//!
//! Each consuming service adds its own queues (see the email-service README).

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, ExchangeKind};

use super::contracts::Exchange;

/// How many events `events.recent` keeps (the oldest are dropped).
const RECENT_EVENTS: i64 = 10_000;

/// One queue to declare, with its arguments and bindings.
#[derive(Debug, Clone)]
pub struct QueueSpec {
    pub name: String,
    pub arguments: Vec<(&'static str, AMQPValue)>,
    /// (exchange, routing key) pairs.
    pub bindings: Vec<(String, String)>,
}

/// The names of one namespace, and the queues to declare in it.
#[derive(Debug, Clone)]
pub struct Topology {
    namespace: String,
    queues: Vec<QueueSpec>,
}

impl Topology {
    /// The platform's exchanges and the `events.recent` queue.
    pub fn new(namespace: &str) -> Topology {
        let mut topology = Topology {
            namespace: namespace.to_owned(),
            queues: Vec::new(),
        };
        let recent = QueueSpec {
            name: topology.name("events.recent"),
            arguments: vec![
                ("x-queue-type", string("classic")),
                ("x-max-length", AMQPValue::LongLongInt(RECENT_EVENTS)),
            ],
            bindings: vec![(topology.exchange(Exchange::Events), "#".to_owned())],
        };
        topology.queues.push(recent);
        topology
    }

    /// Adds a queue that this service consumes or needs.
    pub fn with_queue(mut self, queue: QueueSpec) -> Topology {
        self.queues.push(queue);
        self
    }

    /// `name` in this namespace.
    pub fn name(&self, name: &str) -> String {
        format!("{}{name}", self.namespace)
    }

    /// The real name of a logical exchange.
    pub fn exchange(&self, exchange: Exchange) -> String {
        self.name(exchange.as_str())
    }

    pub fn dead_letter_exchange(&self) -> String {
        self.name("dead-letters")
    }

    /// Every exchange name (for tests that clean up their namespace).
    pub fn exchanges(&self) -> Vec<String> {
        vec![
            self.exchange(Exchange::Commands),
            self.exchange(Exchange::Events),
            self.dead_letter_exchange(),
        ]
    }

    pub fn queues(&self) -> impl Iterator<Item = &QueueSpec> {
        self.queues.iter()
    }

    /// Declares everything; safe to repeat (same names, same arguments).
    pub async fn declare(&self, channel: &Channel) -> lapin::Result<()> {
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        let exchanges = [
            (self.exchange(Exchange::Commands), ExchangeKind::Direct),
            (self.exchange(Exchange::Events), ExchangeKind::Topic),
            (self.dead_letter_exchange(), ExchangeKind::Direct),
        ];
        for (name, kind) in exchanges {
            channel
                .exchange_declare(name.into(), kind, durable, FieldTable::default())
                .await?;
        }
        for queue in &self.queues {
            let mut arguments = FieldTable::default();
            for (key, value) in &queue.arguments {
                arguments.insert(ShortString::from(*key), value.clone());
            }
            channel
                .queue_declare(
                    queue.name.as_str().into(),
                    QueueDeclareOptions::durable(),
                    arguments,
                )
                .await?;
            for (exchange, key) in &queue.bindings {
                channel
                    .queue_bind(
                        queue.name.as_str().into(),
                        exchange.as_str().into(),
                        key.as_str().into(),
                        QueueBindOptions::default(),
                        FieldTable::default(),
                    )
                    .await?;
            }
        }
        Ok(())
    }
}

/// An AMQP long string (a queue argument or a header value).
pub fn string(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}
