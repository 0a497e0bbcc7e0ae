//! The email-service's queues, added to the platform's topology (see README.md):
//!
//! - `email.send`: a quorum queue bound to `commands` with `email.send`; dead letters to
//!   `dead-letters`, with an `x-delivery-limit`.
//! - `email.send.retry.<ms>`: a classic queue per retry delay, with `x-message-ttl` = the delay;
//!   expired messages go back to `commands` with `email.send`.
//! - `email.send.dead`: a quorum queue bound to `dead-letters` with `email.send`, where rejected and
//!   exhausted commands wait for an operator.

use lapin::types::AMQPValue;
use shared::messaging::contracts::{Exchange, Message, SendEmail};
use shared::messaging::topology::{QueueSpec, Topology, string};

use crate::configuration::ConsumerSettings;

/// The names of the email queues in a namespace.
#[derive(Debug, Clone)]
pub struct EmailQueues {
    pub work: String,
    pub dead: String,
    /// (delay in ms, queue), in order of use.
    pub retries: Vec<(u64, String)>,
    pub commands_exchange: String,
    pub dead_letter_exchange: String,
}

impl EmailQueues {
    pub fn new(topology: &Topology, consumer: &ConsumerSettings) -> EmailQueues {
        EmailQueues {
            work: topology.name(SendEmail::TYPE),
            dead: topology.name(&format!("{}.dead", SendEmail::TYPE)),
            retries: consumer
                .retry_delays_ms
                .iter()
                .map(|delay| {
                    (
                        *delay,
                        topology.name(&format!("{}.retry.{delay}", SendEmail::TYPE)),
                    )
                })
                .collect(),
            commands_exchange: topology.exchange(Exchange::Commands),
            dead_letter_exchange: topology.dead_letter_exchange(),
        }
    }
}

/// The platform topology plus the email queues.
pub fn topology(namespace: &str, consumer: &ConsumerSettings) -> Topology {
    let base = Topology::new(namespace);
    let queues = EmailQueues::new(&base, consumer);
    let mut topology = base
        .with_queue(QueueSpec {
            name: queues.work.clone(),
            arguments: vec![
                ("x-queue-type", string("quorum")),
                ("x-dead-letter-exchange", string(&queues.dead_letter_exchange)),
                (
                    "x-delivery-limit",
                    AMQPValue::LongLongInt(consumer.delivery_limit),
                ),
            ],
            bindings: vec![(queues.commands_exchange.clone(), SendEmail::TYPE.to_owned())],
        })
        .with_queue(QueueSpec {
            name: queues.dead.clone(),
            arguments: vec![("x-queue-type", string("quorum"))],
            bindings: vec![(queues.dead_letter_exchange.clone(), SendEmail::TYPE.to_owned())],
        });
    for (delay, name) in &queues.retries {
        topology = topology.with_queue(QueueSpec {
            name: name.clone(),
            arguments: vec![
                ("x-queue-type", string("classic")),
                ("x-message-ttl", AMQPValue::LongLongInt(*delay as i64)),
                ("x-dead-letter-exchange", string(&queues.commands_exchange)),
                ("x-dead-letter-routing-key", string(SendEmail::TYPE)),
            ],
            bindings: Vec::new(),
        });
    }
    topology
}
