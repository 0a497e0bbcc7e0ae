//! The email-service's queues, added to the platform's topology (see README.md):
//!
//! - `email.send.v2`: a quorum queue bound to `commands` with `email.send`; dead letters to
//!   `dead-letters`, with an `x-delivery-limit`.
//! - `email.send.v2.retry.<ms>`: a quorum queue per retry delay, with `x-message-ttl` = the delay;
//!   expired messages go back to `commands` with `email.send`.
//! - `email.send.dead`: a quorum queue bound to `dead-letters` with `email.send`, where rejected and
//!   exhausted commands wait for an operator.
//!
//! Dead-lettering (expiry from a retry queue, the delivery limit of the work queue) is
//! `at-least-once`: the broker keeps a message until the queue it leads to has taken it, where the
//! default strategy drops it when that queue is missing or refuses it. RabbitMQ allows that strategy
//! only on quorum queues with `x-overflow: reject-publish`. The arguments of a queue cannot change,
//! hence the `v2` in the names of the queues whose arguments changed (README: upgrading).

use lapin::types::AMQPValue;
use shared::messaging::contracts::{Exchange, Message, SendEmail};
use shared::messaging::topology::{QueueSpec, Topology, string};

use crate::configuration::ConsumerSettings;

/// The version of the work and retry queues' arguments: part of their names, so that queues
/// declared by an earlier version (whose arguments the broker would refuse to change) stay apart.
const QUEUE_VERSION: &str = "v2";

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
            work: topology.name(&format!("{}.{QUEUE_VERSION}", SendEmail::TYPE)),
            dead: topology.name(&format!("{}.dead", SendEmail::TYPE)),
            retries: consumer
                .retry_delays_ms
                .iter()
                .map(|delay| {
                    (
                        *delay,
                        topology.name(&format!("{}.{QUEUE_VERSION}.retry.{delay}", SendEmail::TYPE)),
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
            arguments: [
                vec![
                    ("x-dead-letter-exchange", string(&queues.dead_letter_exchange)),
                    (
                        "x-delivery-limit",
                        AMQPValue::LongLongInt(consumer.delivery_limit),
                    ),
                ],
                at_least_once_dead_lettering(),
            ]
            .concat(),
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
            arguments: [
                vec![
                    ("x-message-ttl", AMQPValue::LongLongInt(*delay as i64)),
                    ("x-dead-letter-exchange", string(&queues.commands_exchange)),
                    ("x-dead-letter-routing-key", string(SendEmail::TYPE)),
                ],
                at_least_once_dead_lettering(),
            ]
            .concat(),
            bindings: Vec::new(),
        });
    }
    topology
}

/// A quorum queue that dead-letters at least once: a message stays until the queue it is
/// dead-lettered to confirms it (RabbitMQ requires `reject-publish` overflow for that).
fn at_least_once_dead_lettering() -> Vec<(&'static str, AMQPValue)> {
    vec![
        ("x-queue-type", string("quorum")),
        ("x-dead-letter-strategy", string("at-least-once")),
        ("x-overflow", string("reject-publish")),
    ]
}
